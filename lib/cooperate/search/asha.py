"""Asynchronous successive halving (ASHA) on the shared queue.

Rungs are at steps R, R*K, R*K^2, ... (R: --min-step, K: --eta). When a
run's metrics reach a rung (its first point at or past the rung's step that
holds the metric gives the value), its worker records, under the queue's
lock, ["s", id, attempt, worker, time, "asha:MODE:METRIC:RUNG", data], data
holding the value and the decision: the run goes on if its value is in the
top floor(n/K) of the n values recorded at that rung so far (its own
included), or, while n < K, if it is the best so far (ties go on); else it
is stopped and recorded as pruned. This is the decision Optuna's
SuccessiveHalvingPruner makes (min_early_stopping_rate 0, no bootstrap)
on the same values in the same order. A NaN value is pruned and not
compared. Nobody waits for a rung to fill: the first runs at a rung are
judged against few values.

Every decision is recorded once per run and rung and never made again: a
retried attempt of a run decided before gets the recorded decision (one
pruned before is not started again), and replay() recomputes every
decision from the records before it, as a fresh process would.
"""

import math
import time
import zlib

from cooperate.queue.state import RUNNING, State

PREFIX = "asha"
HYPERBAND = "hyperband"
# rungs looked at, at most (R * K**64 is past any run's steps)
MAX_RUNGS = 64


def show(number):
    """A number as the reasons and keys write it: 9, 0.5, 0.412346."""
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e15:
        number = int(number)
    return "%.6g" % number if isinstance(number, float) else str(number)


def decide(values, value, eta, mode):
    """(keep?, rank of value among the values (1 = best), how many, the
    cut-off) for `value` against `values`, those recorded at the rung before
    it (NaN ones left out); `value` is counted among them."""
    competing = sorted(values + [value], reverse=mode == "max")
    n = len(competing)
    cutoff = competing[max(n // eta - 1, 0)]
    keep = value <= cutoff if mode == "min" else value >= cutoff
    better = sum(1 for v in competing if (v < value if mode == "min" else v > value))
    return keep, better + 1, n, cutoff


class Asha:
    """The rule, for the worker (cooperate.run.metrics.EarlyStop)."""

    def __init__(self, metric, mode="min", min_step=1, eta=3):
        self.metric, self.mode, self.min_step, self.eta = metric, mode, min_step, eta
        self.rungs = []
        rung = min_step
        for _ in range(MAX_RUNGS):
            self.rungs.append(rung)
            rung *= eta

    def key(self, rung):
        return "%s:%s:%s:%s" % (PREFIX, self.mode, self.metric, show(rung))

    def bracket(self, id_):
        """The entry's bracket (Hyperband's), None for ASHA's one."""
        return None

    def ladder(self, id_):
        """(rung, key) of the entry's rungs, lowest first."""
        return [(rung, self.key(rung)) for rung in self.rungs]

    def pruned(self, state, claim):
        """Why the entry was pruned by an earlier attempt, or None."""
        for _, key in self.ladder(claim.id):
            record = state.scored.get((claim.id, key))
            if record is None:
                return None
            if not record[6]["keep"]:
                return "%s (pruned before)" % record[6]["reason"]
        return None

    def due(self, state, id_, points):
        """(rung, key, step, value) of each rung the points reached that
        has no record for this entry, lowest first; none past a rung that
        pruned it (what a pruned run reports as it stops is not judged)."""
        out = []
        for rung, key in self.ladder(id_):
            record = state.scored.get((id_, key))
            if record is not None:
                if not record[6]["keep"]:
                    break
                continue
            found = next(((p["step"], p[self.metric]) for p in points
                          if p["step"] >= rung and number(p.get(self.metric))), None)
            if found is None:
                break
            out.append((rung, key) + found)
        return out

    def judge(self, queue, worker, claim, points):
        """Record the rungs the run reached, deciding each under the lock
        from the journal (a decision recorded before is kept); why it must
        stop, or None."""
        if not self.due(queue.state, claim.id, points):
            return None
        why = []
        running = State.code_of(RUNNING)

        def make():
            state, out = queue.state, []
            if state.codes.get(claim.id) != claim.attempt << 3 | running:
                return out  # taken back meanwhile: the worker kills it
            for rung, key, step, value in self.due(state, claim.id, points):
                record = state.scored.get((claim.id, key))
                if record is None:
                    data = self.decision(state.by_key.get(key, ()), rung, step, value,
                                         self.bracket(claim.id))
                    record = ["s", claim.id, claim.attempt, worker, time.time(), key, data]
                    state.apply([record])
                    out.append(record)
                if not record[6]["keep"]:
                    why.append(record[6]["reason"])
                    break
            return out

        queue.transaction(make)
        return why[0] if why else None

    def decision(self, records, rung, step, value, bracket=None):
        """The data of a new record: the value at `rung` (reached at `step`)
        judged against the `records` made at that rung (of that bracket)
        before it."""
        data = {"metric": self.metric, "mode": self.mode, "eta": self.eta, "rung": rung,
                "step": step}
        where = "rung %s" % show(rung)
        if bracket is not None:
            data["bracket"] = bracket
            where = "bracket %d, %s" % (bracket, where)
        if math.isnan(value):
            data.update(value=None, keep=False, rank=None, of=None, cutoff=None,
                        reason="%s: %s is NaN" % (where, self.metric))
            return data
        values = [r[6]["value"] for r in records if r[6]["value"] is not None]
        keep, rank, n, cutoff = decide(values, value, self.eta, self.mode)
        data.update(value=value, keep=keep, rank=rank, of=n, cutoff=cutoff,
                    reason="%s: %s %s, rank %d of %d, cut-off %s" % (
                        where, self.metric, show(value), rank, n, show(cutoff)))
        return data


class Hyperband(Asha):
    """Asynchronous Hyperband: ASHA in brackets (see the module's doc)."""

    def __init__(self, metric, mode="min", min_step=1, eta=3, max_step=None):
        Asha.__init__(self, metric, mode, min_step, eta)
        self.max_step = max_step
        # the brackets' first rungs: those at or below the last step
        count = max(sum(1 for rung in self.rungs if rung <= max_step), 1)
        top = count - 1
        self.weights = [-(-count * eta ** (top - s) // (count - s)) for s in range(count)]

    def key_in(self, bracket, rung):
        return "%s:%s:%s:%d:%s" % (HYPERBAND, self.mode, self.metric, bracket, show(rung))

    def bracket(self, id_):
        # crc32: the same number for an id in every process and Python
        draw = zlib.crc32(id_.encode("utf-8")) % sum(self.weights)
        for bracket, weight in enumerate(self.weights):
            if draw < weight:
                return bracket
            draw -= weight
        raise AssertionError("a draw past the weights")

    def ladder(self, id_):
        bracket = self.bracket(id_)
        return [(rung, self.key_in(bracket, rung)) for rung in self.rungs[bracket:]
                if rung < self.max_step]




def number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def ours(key):
    """Is a record's key an ASHA or Hyperband decision's?"""
    return key.startswith(PREFIX + ":") or key.startswith(HYPERBAND + ":")


def replay(scores):
    """Recompute every ASHA and Hyperband decision of a journal's records
    (state.scores, in journal order) from those before it with the same
    key (bracket and rung): the records whose recorded decision differs
    ([] when every one is the same)."""
    seen, wrong = {}, []
    for record in scores:
        key, data = record[5], record[6]
        if not ours(key):
            continue
        rule = Asha(data["metric"], data["mode"], 1, data["eta"])
        before = seen.setdefault(key, [])
        value = float("nan") if data["value"] is None else data["value"]
        again = rule.decision(before, data["rung"], data["step"], value, data.get("bracket"))
        if again["keep"] != data["keep"] or again["cutoff"] != data["cutoff"]:
            wrong.append(record)
        before.append(record)
    return wrong


def decisions(scores):
    """The ASHA and Hyperband records of a journal (state.scores), as dicts:
    id, attempt, worker, time, and the data (rung, step, value, keep, rank,
    of, cutoff, reason, and Hyperband's bracket), in journal order (the
    decision log)."""
    return [dict(record[6], id=record[1], attempt=record[2], worker=record[3], time=record[4])
            for record in scores if ours(record[5])]
