"""A self-contained HTML report of a list or an experiment: a timeline of
every attempt (one lane per host and worker slot), the summary (a progress
bar split by outcome) and throughput (runs finished per minute or hour, with
a labelled axis), failures grouped by the tail of their stderr (with links
to the logs, relative to where the page is written), and a sortable table of
the runs (with their parameters, for an experiment) beside the same table
aggregated per variation (collect.aggregate).

The page needs nothing from the network: inline CSS, inline SVG and a
little inline JS (column sorting; any script error is written into the
page, in #js-errors); switching between the two tables is CSS only. It fits
a 1,000 px wide window: tables scroll in their own box and long cells are
cut with an ellipsis (the whole text on hover), other long words wrap.
Floats show at most 6 significant digits (the whole value on hover, and
sorting uses it). With many attempts the timeline draws one bar per lane
and time bucket (coloured by the majority outcome) instead of one per
attempt, so that it stays readable and small at 10,000 runs.

A list of a million entries takes a few seconds: the list is gone over once
(survey), entries done at their first attempt are read without Attempt
objects, attempts past MAX_BARS are binned as the page draws them (a few
thousand stand for all), and the tables show the first MAX_TABLE_ROWS
entries (and their variations), saying that collect gives the rest.
"""

import json
import math
import os
import re
import time
from array import array
from itertools import islice, repeat

from cooperate.results import best, collect, learned
from cooperate.queue import logs
from cooperate.errors import UserError
from cooperate.queue.files import atomic_write
from cooperate.queue.listfile import label
from cooperate.grid.source import open_queue
from cooperate.results import summary
from cooperate.results.summary import CLAIMED, COLUMNS
from cooperate.queue.state import (DONE, FAILED, INTERRUPTED, LOST, PENDING, PRUNED, RUNNING,
                                   STATUSES, TIMEOUT, State)

OUTCOMES = ("done", "pruned", "failed", "timeout", "lost", "aborted", "interrupted", "running")
COLOURS = {"done": "#2e9d4a", "pruned": "#8fc9a0", "failed": "#d23c3c", "timeout": "#d6409f", "lost": "#8a4fd0",
           "aborted": "#e8871e", "interrupted": "#c9b400", "running": "#2f7fe0",
           "claimed": "#9cc3f0", "stale": "#c3a6ea", "held": "#8c8c8c", "pending": "#d9d9d9"}
# the parts of the progress bar, in order: an entry's status, told apart by
# its latest attempt (a done entry that was pruned; a failed entry whose
# attempt timed out or was lost; a pending one whose attempt was interrupted
# or lost, waiting to run again)
PROGRESS = ("done", "pruned", "failed", "timeout", "aborted", "lost", "interrupted", "running",
            CLAIMED, "stale", "held", "pending")
# above this many attempts the timeline aggregates them per time bucket
MAX_BARS = 600
# aggregated timeline: at most this many bars in all (lanes x buckets)
MAX_CELLS = 800
TAIL_LINES = 5
# the tables show the first this many entries (collect gives them all)
MAX_TABLE_ROWS = 10000
MAX_RUNS_PER_GROUP = 50


# -- gathering ---------------------------------------------------------------

def pack(intervals):
    """Greedy interval packing: for (start, end) pairs, a slot number (0, 1,
    ...) each, such that intervals in one slot never overlap; as few slots as
    the largest number of intervals overlapping at once."""
    return pack_spans([start for start, _ in intervals], [end for _, end in intervals])


def pack_spans(starts, ends):
    """pack() of the intervals (starts[i], ends[i]), from two sequences
    (arrays: a worker of a large list has hundreds of thousands of
    intervals, which as pairs would take five times the memory)."""
    # by start, then end, then place in the sequences: mostly the order they
    # came in (a worker's attempts, in the list's order), else two stable sorts
    order = range(len(starts))
    if not in_order(zip(starts, ends)):
        order = sorted(order, key=ends.__getitem__)
        order.sort(key=starts.__getitem__)
    slots = [0] * len(starts)
    for i, slot in zip(order, first_free((starts[i], ends[i]) for i in order)):
        slots[i] = slot
    return slots


def in_order(intervals):
    """Whether these (start, end) pairs come in order (of start, then end)."""
    last = None
    for pair in intervals:
        if last is not None and pair < last:
            return False
        last = pair
    return True


def first_free(intervals):
    """The slot of each (start, end) pair, taken in order of start: the
    first one free at its start."""
    free = []
    for start, end in intervals:
        for k, free_at in enumerate(free):
            if free_at <= start:
                free[k] = end
                yield k
                break
        else:
            yield len(free)
            free.append(end)


# an entry done at its first attempt: most of a large history, read from the
# state without Attempt objects
_DONE_FIRST = 1 << 3 | State.code_of(DONE)


# DONE's place in OUTCOMES (an outcome in survey's spans)
DONE_KIND = OUTCOMES.index(DONE)


def survey(queue, now):
    """One pass over the list, the only one (a million entries take about a
    second): the summary as status gives it (counts, progress, time left),
    the progress bar's parts (PROGRESS), the failed entries (index, id,
    latest Attempt), every attempt's start, end and outcome per worker
    (spans: worker -> Spans, an outcome as its place in the list
    `outcomes`) and how many there are, and while there are at most
    MAX_BARS of them the (index, id) of the entries that had one (`few`,
    else None: too many to draw one by one)."""
    state, executed = queue.state, queue.list.executed
    get, ended, last = state.getter(), state.ended, state.last
    # (status, part) -> entries, but for those done at their first attempt
    # and those never claimed
    tally, failed, few, spans, held = {}, [], [], {}, []
    count, quick, marked, busy, finished = 0, 0, 0, 0.0, 0
    # entries an early-stopping rule judged: they may have been pruned
    judged = {record[1] for record in state.scores}
    # the outcomes' names, and each one's place among them
    names = list(OUTCOMES)
    kind = {outcome: i for i, outcome in enumerate(names)}
    for index, id_ in enumerate(queue.list.ids):
        code = get(id_)
        if code is None:
            if executed and id_ in executed:
                marked += 1
            continue
        if code == _DONE_FIRST and not (executed and id_ in executed) and not (
                judged and id_ in judged):
            worker, start, end = ended(id_)
            span = spans.get(worker)
            if span is None:
                span = spans[worker] = Spans()
            span.add(start, end, DONE_KIND)
            busy += end - start
            quick += 1
            count += 1
            if few is not None:
                if count <= MAX_BARS:
                    few.append((index, id_))
                else:
                    few = None
            continue
        done = executed and id_ in executed
        status = DONE if done else STATUSES[code & 7]
        a = last(id_)
        part = status
        if status == RUNNING:
            part = status = "stale" if queue.leases.is_stale(a) else RUNNING
            if status == RUNNING:
                held.append((a.worker, id_, a.number, a.start))
        elif status == DONE and a is not None and a.outcome == PRUNED:
            part = PRUNED
        elif status in (FAILED, PENDING) and a is not None and a.end is not None and (
                a.outcome == LOST or status == FAILED and a.outcome == TIMEOUT
                or status == PENDING and a.outcome == INTERRUPTED):
            part = a.outcome
        tally[status, part] = tally.get((status, part), 0) + 1
        if a is None:
            continue
        if status == FAILED:
            failed.append((index, id_, a))
        elif status == DONE and not done:
            busy += a.end - a.start
            finished += 1
        chain = a.chain()
        for t in chain:
            if t is a and status == RUNNING:
                continue  # drawn below if it is running now
            span = spans.get(t.worker)
            if span is None:
                span = spans[t.worker] = Spans()
            outcome = t.outcome or ("running" if t.end is None else "failed")
            if outcome not in kind:
                kind[outcome] = len(names)
                names.append(outcome)
            span.add(t.start, t.end if t.end is not None else max(now, t.start), kind[outcome])
        count += len(chain)
        if few is not None:
            if count <= MAX_BARS:
                few.append((index, id_))
            else:
                few = None
    total = len(queue.list.ids)
    counts, parts = dict.fromkeys(COLUMNS, 0), dict.fromkeys(PROGRESS, 0)
    counts[DONE] = parts[DONE] = quick + marked
    counts[PENDING] = parts[PENDING] = total - quick - marked - sum(tally.values())
    for (status, part), k in tally.items():
        counts[status] += k
        parts[part] += k
    # running in the journal, not now: claimed in a batch (see summary)
    waiting = summary.not_running(queue, held)
    counts[RUNNING] -= len(waiting)
    parts[RUNNING] -= len(waiting)
    counts[CLAIMED] = parts[CLAIMED] = len(waiting)
    for worker, id_, _, start in held:
        if id_ not in waiting:
            span = spans.get(worker)
            if span is None:
                span = spans[worker] = Spans()
            span.add(start, max(now, start), kind[RUNNING])
    return {"summary": summary.totals(queue, counts, busy, finished + quick), "parts": parts,
            "failed": failed, "spans": spans, "outcomes": names, "attempts": count, "few": few,
            "claimed": waiting}


class Spans:
    """A worker's attempts as survey finds them: start, end and outcome,
    kept in arrays of CHUNK values. Such small arrays are in Python's own
    allocator, which gives their memory back to the system when they go;
    large ones would stay in the C library's heap (once a large state is
    read, its dict's growth has raised the size that the heap maps apart
    and gives back), where the objects made afterwards cannot use it: 7 MB
    of a report's peak at a million entries. A chunk of done attempts only
    has no outcomes (None)."""

    __slots__ = ("chunks", "starts", "ends", "kinds", "filled")
    # 64 doubles: 512 bytes, the most that allocator takes
    CHUNK = 64

    def __init__(self):
        # the full chunks' starts, ends and outcomes, one after the other
        self.chunks = []
        self._next()

    def _next(self):
        # made at their size (an array grown by appends has room to spare)
        self.starts = array("d", [0.0]) * self.CHUNK
        self.ends = array("d", [0.0]) * self.CHUNK
        self.kinds, self.filled = None, 0

    def add(self, start, end, kind):
        i = self.filled
        self.starts[i] = start
        self.ends[i] = end
        if self.kinds is not None:
            self.kinds[i] = kind
        elif kind != DONE_KIND:
            self.kinds = array("H", [DONE_KIND]) * self.CHUNK
            self.kinds[i] = kind
        self.filled = i + 1
        if i + 1 == self.CHUNK:
            self.chunks += (self.starts, self.ends, self.kinds)
            self._next()

    def parts(self):
        """(starts, ends, outcomes or None) of each chunk, in order."""
        chunks = self.chunks
        for k in range(0, len(chunks), 3):
            yield chunks[k], chunks[k + 1], chunks[k + 2]
        n = self.filled
        if n:
            yield self.starts[:n], self.ends[:n], None if self.kinds is None else self.kinds[:n]

    def pairs(self):
        """(start, end) of each attempt, in order."""
        for starts, ends, _ in self.parts():
            yield from zip(starts, ends)

    def slots(self):
        """pack() of the attempts, an array: made from the chunks as they
        are when the attempts came in order (mostly), else from a copy of
        their starts and ends (as pack_spans sorts them)."""
        if in_order(self.pairs()):
            slots = array("i", first_free(self.pairs()))
        else:
            slots = array("i", pack_spans(array("d", (start for start, _ in self.pairs())),
                                          array("d", (end for _, end in self.pairs()))))
        # every worker's slots are kept until the lanes are known: as bytes
        return array("B", slots) if max(slots) < 256 else slots

    def bounds(self):
        """(the earliest start, the latest end)."""
        parts = list(self.parts())
        return (min(min(starts) for starts, _, _ in parts),
                max(max(ends) for _, ends, _ in parts))


def attempts(queue, now, entries, claimed=()):
    """Every attempt of these entries ((index, id) pairs), as dicts, but
    the running attempts of the `claimed` ids (not running now)."""
    state, out = queue.state, []
    for index, id_ in entries:
        last = state.last(id_)
        if last is None:
            continue
        for a in last.chain():
            if a is last and a.end is None and id_ in claimed:
                continue
            outcome = a.outcome or ("running" if a.end is None else "failed")
            end = a.end if a.end is not None else max(now, a.start)
            out.append({"id": id_, "index": index, "attempt": a.number, "worker": a.worker,
                        "start": a.start, "end": end, "outcome": outcome, "code": a.code})
    return out


def lanes(queue, runs):
    """Assign each attempt a lane: (host, worker, slot). Returns the lanes,
    sorted, and sets run["lane"] to the lane's index."""
    by_worker = {}
    for r in runs:
        by_worker.setdefault(r["worker"], []).append(r)
    keys = []
    for worker, mine in by_worker.items():
        host = queue.state.workers.get(worker, {}).get("host") or "?"
        for r, slot in zip(mine, pack([(r["start"], r["end"]) for r in mine])):
            r["lane_key"] = (host, worker, slot)
        keys += sorted({r["lane_key"] for r in mine})
    keys.sort()
    index = {k: i for i, k in enumerate(keys)}
    for r in runs:
        r["lane"] = index[r.pop("lane_key")]
    return keys


def timeline_buckets(lanes):
    """How many time buckets each lane of an aggregated timeline has."""
    return max(10, min(150, MAX_CELLS // max(1, lanes)))


def cells(start, end, t0, width, buckets):
    """The first and the last time bucket (of `width` seconds from t0) an
    attempt spans on an aggregated timeline."""
    return (min(buckets - 1, int((start - t0) / width)),
            min(buckets - 1, int((end - t0) / width)))


def throughput_buckets(t0, t1):
    """(bucket length, how many buckets) of the throughput chart."""
    step = bucket_size(t1 - t0, 60)
    return step, int((t1 - t0) // step) + 1


def finished_in(end, t0, step, n):
    """The throughput chart's bucket of an attempt that ended at `end`."""
    return min(n - 1, int((end - t0) // step))


def binned(queue, spans, outcomes, t0, t1):
    """The lanes (sorted) of too many attempts to draw one by one (spans and
    outcomes as survey gives them), and per lane, outcome, timeline buckets
    and throughput bucket one of its attempts, with "lane" and "count" (how
    many it stands for): all the aggregated timeline and the throughput
    chart need, without a dict per attempt."""
    workers = queue.state.workers
    keys, slots = [], {}
    for worker, span in spans.items():
        host = workers.get(worker, {}).get("host") or "?"
        slots[worker] = span.slots()
        keys += [(host, worker, slot) for slot in range(max(slots[worker]) + 1)]
    keys.sort()
    index = {key: i for i, key in enumerate(keys)}
    # worker -> the lane of each of its slots
    lane_of = {}
    for host, worker, slot in keys:
        lane_of.setdefault(worker, []).append(index[host, worker, slot])
    buckets = timeline_buckets(len(keys))
    width = (t1 - t0) / buckets
    step, n = throughput_buckets(t0, t1)
    groups = {}
    running = outcomes.index(RUNNING)
    done = repeat(DONE_KIND)
    for worker, span in spans.items():
        mine, slot_of = lane_of[worker], iter(slots[worker])
        # an outcome as its place in `outcomes` (its name once per group)
        for starts, ends, kinds in span.parts():
            for start, end, kind, slot in zip(starts, ends, done if kinds is None else kinds,
                                              slot_of):
                lane = mine[slot]
                key = (lane, kind, cells(start, end, t0, width, buckets),
                       None if kind == running else finished_in(end, t0, step, n))
                group = groups.get(key)
                if group is None:
                    groups[key] = {"lane": lane, "outcome": outcomes[kind], "start": start,
                                   "end": end, "count": 1}
                else:
                    group["count"] += 1
    return keys, list(groups.values())


_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{8,}\b")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:~|\.{0,2})?/[^\s:'\",()\[\]]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def normalise(line):
    """A stderr line with what differs between runs of one failure (hex
    addresses, paths, numbers) replaced by placeholders."""
    line = _HEX.sub("<hex>", line)
    line = _PATH.sub("<path>", line)
    return _NUMBER.sub("<n>", line).strip()


def tail(path, lines=TAIL_LINES, limit=65536):
    """The last non-empty lines of a log (None when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
    except OSError:
        return None
    text = data.decode("utf-8", "replace")
    return [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]


def failure_groups(queue, failed, describe):
    """The failed entries ((index, id, latest Attempt), as survey gives
    them) grouped by the normalised tail of their latest attempt's stderr,
    largest group first; `describe(index)`: an entry's label."""
    groups = {}
    workers = queue.state.workers
    for index, id_, a in failed:
        out, err, detached = logs.of_attempt(queue, id_, a)
        lines = tail(err) if err else None
        if a.outcome == "lost":
            lines = lines or ["(lost: its worker died)"]
        elif a.outcome == TIMEOUT:
            lines = lines or ["(timed out: stopped at its time limit)"]
        elif err is None:
            lines = [("(nothing on stderr)" if out else "(no output)") if detached else
                     "(no log: --no-detach, its output went to the worker's terminal)"]
        elif lines is None:
            lines = ["(cannot read %s)" % err]
        elif not lines:
            lines = ["(stderr is empty)"]
        key = "\n".join(normalise(line) for line in lines)
        group = groups.setdefault(key, {"key": key, "tail": lines, "err": err, "runs": []})
        group["runs"].append({"id": id_, "attempt": a.number, "code": a.code,
                              "outcome": a.outcome, "err": err, "out": out, "detached": detached,
                              "host": workers.get(a.worker, {}).get("host"),
                              "label": describe(index)})
    return sorted(groups.values(), key=lambda g: (-len(g["runs"]), g["key"]))


def _flatten(cfg, prefix=""):
    out = {}
    for key, value in cfg.items():
        name = prefix + str(key)
        if isinstance(value, dict) and value:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value if isinstance(value, (int, float, str, bool)) or value is None \
                else json.dumps(value)
    return out


def _collected(queue, entries, results_file=collect.DEFAULT_RESULTS_FILE, results_dir=None,
               maximise=()):
    """(collect's Table of the list's first entries, `entries`, None) or
    (None, why not): the report still shows the rest when the results cannot
    be read (but a bad results_file or results_dir is a UserError)."""
    try:
        return collect.from_queue(queue, results_file, None, results_dir, entries,
                                  maximise), None
    except UserError:
        raise  # a bad results_file or results_dir: the user's to fix
    except Exception as error:  # noqa: BLE001 - the results table is optional here
        return None, "%s: %s" % (type(error).__name__, error)


def _more(queue, target, shown, option=""):
    """The note of a table of only the first `shown` entries ("" if that is
    all of them)."""
    import shlex

    total = len(queue.list.ids)
    if shown >= total:
        return ""
    return "the first %d of %d %s (%d more: cooperate-collect %s%s gives them all)" % (
        shown, total, "runs" if queue.experiment else "entries", total - shown,
        shlex.quote(target), option)


def runs_table(queue, collected, entries, now, target, labels=None):
    """(header, rows, note) of the runs table, the first MAX_TABLE_ROWS
    entries (`entries`, parsed; `labels`: theirs, if made already): for an
    experiment collect's table (status, attempts, host, duration,
    the parameters that vary between its runs and the results); for a list,
    and when collect could not read an experiment, each entry's status,
    attempts, host, duration and exit code of its latest attempt (and, for
    an experiment, the parameters that vary; for a list, the results
    collect read)."""
    ids = queue.list.ids
    more = _more(queue, target, len(entries))
    if queue.experiment and collected is not None:
        header = collected.columns
        rows = [[r.get(c) for c in header] for r in collected.rows]
        note = "results from collect" + ("; " + more if more else "")
        return header, rows, note
    state, workers = queue.state, queue.state.workers
    params, names = [], []
    if queue.experiment:
        flat = [_flatten(e.get("cfg") or {}) if isinstance(e, dict) else {} for e in entries]
        for f in flat:
            names += [k for k in f if k not in names]
        varying = [k for k in names if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]
        names = varying or names
        params = flat
    results, found = [], {}
    if collected is not None and not queue.experiment:
        # a list's parameters read from its commands, and its results (by
        # the convention, or collect's --results-dir): after the other columns
        results = [c for c in collected.params if c != "command"] + collected.results
        if results:
            found = {r["id"]: r for r in collected.rows}
    header = ["#", "run" if queue.experiment else "command", "status", "attempts", "host",
              "duration (s)", "exit"] + names + results
    rows = []
    for i, entry in enumerate(entries):
        id_ = ids[i]
        # made again, not kept from the survey: 10,000 Attempts held
        # meanwhile add to a report's peak
        a = state.last(id_)
        row = [i, label(entry) if labels is None else labels[i], queue.status_of(id_),
               a.number if a else 0,
               (workers.get(a.worker, {}).get("host") or "") if a else "",
               round((a.end if a.end is not None else max(now, a.start)) - a.start, 2) if a else "",
               "" if not a or a.code is None else a.code]
        if params:
            row += [params[i].get(k, "") for k in names]
        if results:
            mine = found.get(id_) or {}
            row += [mine.get(k) for k in results]
        rows.append(row)
    return header, rows, more


def variations_table(collected, table, more):
    """(header, rows, note) of collect's table (of the entries the runs
    table shows) aggregated per variation (`table`), or None without one;
    `more`: the note saying that those are only the first entries, if so."""
    if table is None:
        return None
    header = table.columns
    rows = [[r.get(c) for c in header] for r in table.rows]
    note = "; ".join(n for n in table.warnings[len(collected.warnings):] + [more] if n)
    return header, rows, note


def best_first(table, column, mode, behind=None):
    """A (header, rows, note) table with its rows sorted best first by
    `column` (a name of collect's: the header may call it so too), those
    for which `behind(row)` is true (pruned runs) after the others, and
    the note saying so; unchanged without that column."""
    if table is None or column is None or column not in table[0]:
        return table
    header, rows, note = table
    at = header.index(column)
    rows = best.order(rows, at, mode, lambda row, k: row[k], behind)
    said = "best first by %s (%s%s)" % (column, "highest" if mode == "max" else "lowest",
                                        ", pruned runs after the others" if behind else "")
    return header, rows, "; ".join(n for n in (said, note) if n)


_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
          43200, 86400, 172800, 604800)


def bucket_size(span, most):
    """A round bucket length (seconds) giving at most `most` buckets."""
    for step in _STEPS:
        if span / step <= most:
            return step
    return span / most


def gather(target, state_dir=None, now=None, trusted=True, over=collect.DEFAULT_OVER,
           results_file=collect.DEFAULT_RESULTS_FILE, results_dir=None, metric=None, mode=None):
    """Everything the report shows, as plain data (`trusted`: see
    collect.collect; `over`, `results_file`, `results_dir`: see
    collect.aggregate and collect.collect; `metric`, `mode`: the measure of
    the best runs, see best.choose). `runs`: the attempts drawn one by one
    (at most MAX_BARS), else per lane, outcome and time bucket one
    standing for `count` (binned); `learned`: learned.gather's."""
    # the snapshot's ids packed: the report holds every attempt
    queue = open_queue(target, state_dir, reader=True, trusted=trusted, packed=True)
    if not queue.source.in_memory and not os.path.exists(queue.list.path):
        raise UserError("%s: no such list" % queue.list.path)
    queue.read()
    now = time.time() if now is None else now
    seen = survey(queue, now)
    spans = seen.pop("spans")
    bounds = [span.bounds() for span in spans.values()]
    t0 = min((first for first, _ in bounds), default=now)
    t1 = max(max((last for _, last in bounds), default=now), t0 + 1e-3)
    if seen["few"] is not None:
        runs = attempts(queue, now, seen["few"], seen["claimed"])
        lane_keys = lanes(queue, runs)
    else:
        lane_keys, runs = binned(queue, spans, seen["outcomes"], t0, t1)
    # every attempt's span, gone before the tables are made (the state is
    # still held: what is made meanwhile adds to it)
    del spans
    entries = collect.first_entries(queue.list, min(len(queue.list.ids), MAX_TABLE_ROWS))
    chosen, chosen_mode = best.choose(queue, metric, mode)
    maximise = [best.base_name(chosen), chosen] if chosen_mode == "max" else ()
    collected, why = _collected(queue, entries, results_file, results_dir, maximise)
    # each shown entry's label and id, made once for the tables and the answers
    shown = [label(entry) for entry in entries]
    ids = queue.list.ids
    first = ([row["id"] for row in collected.rows] if collected is not None else
             list(islice(ids, len(entries))))
    header, rows, note = runs_table(queue, collected, entries, now, target, shown)
    if why:
        note = "; ".join(n for n in (note, "no results: " + why) if n)
    more = _more(queue, target, len(entries), " --aggregate")
    aggregated = (collect.aggregate(collected, over) if collected is not None and collected.rows
                  else None)
    labels = dict(zip(first, shown))
    found = learned.gather(queue, collected, aggregated, metric, mode, labels)
    column = found["column"]
    # the runs table's pruned rows: by its id column, or a list's index
    stopped = {r["id"] for r in collected.rows if best.pruned(r)} if collected else set()
    at = header.index("id") if "id" in header else None
    behind = ((lambda row: row[at] in stopped) if at is not None else
              (lambda row: ids[row[0]] in stopped)) if stopped else None
    if found["missing"] and metric is not None:
        columns = [c for c in (collected.results if collected else []) if c != "step"]
        raise UserError("--metric %s: no such result or metric in %s (there are: %s)"
                        % (metric, target, ", ".join(columns) or "none"))
    return {"target": target, "now": now, "summary": seen["summary"], "runs": runs,
            "attempts": seen["attempts"], "lanes": lane_keys, "t0": t0, "t1": t1,
            "failures": failure_groups(queue, seen["failed"], lambda i: shown[i] if
                                       i < len(shown) else queue.list.describe(i)),
            "labels": queue.list, "table": best_first((header, rows, note), column, found["mode"],
                                                      behind),
            "variations": best_first(variations_table(collected, aggregated, more),
                                     best.column(aggregated.columns, column, True)
                                     if aggregated is not None and column else None,
                                     found["mode"]),
            "over": list(over), "learned": found, "learned_labels": labels,
            "metric_given": metric, "params": collected.params if collected is not None else [],
            "progress": seen["parts"],
            "name": os.path.basename(queue.experiment.rstrip("/")) if queue.experiment
            else queue.list.path}


# -- rendering -----------------------------------------------------------------

_e = learned.escape


def _clock(t, seconds=True):
    return time.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%H:%M", time.localtime(t))


def _dur(seconds):
    from cooperate.fmt import duration

    return duration(max(0.0, seconds))


def _code(code):
    from cooperate.fmt import exit_text

    return exit_text(code)


def _timeline(model):
    runs, keys, t0, t1 = model["runs"], model["lanes"], model["t0"], model["t1"]
    span = t1 - t0
    aggregate = model["attempts"] > MAX_BARS
    out = ['<div class="timeline" data-lanes="%d" data-bars="%d" data-aggregated="%s">'
           % (len(keys), model["attempts"], "yes" if aggregate else "no")]
    out.append('<div class="axis"><span>%s</span><span>%s</span></div>'
               % (_clock(t0), _clock(t1)))
    by_lane = [[] for _ in keys]
    for r in runs:
        by_lane[r["lane"]].append(r)
    buckets = timeline_buckets(len(keys))
    labels = model["labels"]
    for lane, (host, worker, slot) in enumerate(keys):
        out.append('<div class="lane" data-host="%s" data-worker="%s" data-slot="%d">'
                   '<div class="lane-label" title="%s">%s / %s slot %d</div><div class="track">'
                   % (_e(host), _e(worker), slot + 1, _e(worker), _e(host), _e(worker), slot + 1))
        mine = by_lane[lane]
        if not aggregate:
            for r in mine:
                left = 100.0 * (r["start"] - t0) / span
                width = max(100.0 * (r["end"] - r["start"]) / span, 0.15)
                title = "%s\nattempt %d: %s%s\n%s, %s to %s" % (
                    labels.describe(r["index"]), r["attempt"], r["outcome"],
                    "" if r["outcome"] == "running" or r["code"] is None else " (%s)" % _code(r["code"]),
                    _dur(r["end"] - r["start"]), _clock(r["start"]),
                    "now" if r["outcome"] == "running" else _clock(r["end"]))
                out.append('<div class="bar outcome-%s" data-outcome="%s" data-id="%s" '
                           'data-attempt="%d" style="left:%.3f%%;width:%.3f%%" title="%s"></div>'
                           % (r["outcome"], r["outcome"], _e(r["id"]), r["attempt"], left,
                              min(width, 100.0 - left), _e(title)))
        else:
            width = span / buckets
            counted = {}
            for r in mine:
                first, last = cells(r["start"], r["end"], t0, width, buckets)
                for b in range(first, last + 1):
                    cell = counted.setdefault(b, {})
                    cell[r["outcome"]] = cell.get(r["outcome"], 0) + r.get("count", 1)
            for b in sorted(counted):
                cell = counted[b]
                major = max(cell, key=lambda o: (cell[o], -OUTCOMES.index(o)))
                n = sum(cell.values())
                title = "%d attempts, %s to %s: %s" % (
                    n, _clock(t0 + b * width), _clock(t0 + (b + 1) * width),
                    ", ".join("%d %s" % (cell[o], o) for o in OUTCOMES if o in cell))
                out.append('<div class="bar agg outcome-%s" data-outcome="%s" data-count="%d" '
                           'style="left:%.3f%%;width:%.3f%%" title="%s"></div>'
                           % (major, major, n, 100.0 * b / buckets, 100.0 / buckets, _e(title)))
        out.append("</div></div>")
    if not keys:
        out.append('<p class="empty">No attempt has started yet.</p>')
    out.append("</div>")
    return "".join(out)


def nice_ticks(peak, most=5):
    """Round tick values from 0 to at least `peak` (> 0): 0, step, 2 step,
    ... with step 1, 2, 2.5 or 5 times a power of ten, at most `most`
    intervals."""
    raw = peak / float(most)
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        step = m * power
        if step * most >= peak:
            break
    top = step * math.ceil(peak / step - 1e-9)
    count = int(round(top / step))
    # 0.1 * 3 is 0.30000000000000004: make each tick from its decimal text
    return [float("%.12g" % (step * k)) for k in range(count + 1)]


def _tick(value):
    if value == int(value):
        return "{:,}".format(int(value))
    return "%g" % value


def _throughput(model):
    """Runs finished per time bucket, as an inline SVG stacked bar chart with
    a y axis in runs per minute (or per hour, when fewer than one a minute
    is the most)."""
    ended = [r for r in model["runs"] if r["outcome"] != "running"]
    if not ended:
        return '<p class="empty">No run has finished yet.</p>'
    t0, t1 = model["t0"], model["t1"]
    step, n = throughput_buckets(t0, t1)
    counts = [{} for _ in range(n)]
    for r in ended:
        b = finished_in(r["end"], t0, step, n)
        # an attempt of a binned timeline stands for `count` of them
        counts[b][r["outcome"]] = counts[b].get(r["outcome"], 0) + r.get("count", 1)
    peak = max(sum(c.values()) for c in counts) or 1
    unit, per = 60.0, "minute"
    if peak * unit / step < 1:
        unit, per = 3600.0, "hour"
    rate = unit / step  # runs per unit for one run in a bucket
    ticks = nice_ticks(peak * rate)
    top = ticks[-1]
    w, h, bw = 800, 160, 800.0 / n
    parts = ['<svg class="throughput" viewBox="0 0 %d %d" width="100%%" height="%d" '
             'preserveAspectRatio="none" role="img" aria-label="runs finished per %s">'
             % (w, h, h, per)]
    for value in ticks[1:]:
        y = h - h * value / top
        parts.append('<line class="grid" x1="0" x2="%d" y1="%.2f" y2="%.2f" stroke="#e4e4e4" '
                     'vector-effect="non-scaling-stroke"/>' % (w, y, y))
    for b, c in enumerate(counts):
        y = h
        for o in OUTCOMES:
            k = c.get(o, 0)
            if not k:
                continue
            bh = h * k * rate / top
            y -= bh
            parts.append('<rect class="tp outcome-%s" x="%.2f" y="%.2f" width="%.2f" height="%.2f" '
                         'fill="%s" data-rate="%s"><title>%s: %d %s (%s per %s)</title></rect>'
                         % (o, b * bw + 0.5, y, max(bw - 1, 0.5), bh, COLOURS[o],
                            _short(k * rate), _e(_clock(t0 + b * step)), k, o,
                            _short(k * rate), per))
    parts.append('</svg><div class="axis flush"><span>%s</span><span>%s</span></div>'
                 % (_e(_clock(t0)), _e(_clock(t1))))
    axis = "".join('<span class="tick" data-value="%s" style="bottom:%.3f%%">%s</span>'
                   % (_short(v), 100.0 * v / top, _tick(v)) for v in ticks)
    return ('<p>Runs finished per %s, counted in buckets of %s (the busiest: %d run%s).</p>'
            '<div class="chart" data-unit="%s"><div class="ylabel">runs / %s</div>'
            '<div class="chart-body"><div class="yaxis">%s</div><div class="plot">%s</div></div>'
            '</div>' % (per, _dur(step), peak, "" if peak == 1 else "s", per, per, axis,
                        "".join(parts)))


def _summary(model):
    s = model["summary"]
    counts = s["counts"]
    items = "".join('<li class="count count-%s"><b>%d</b> %s</li>' % (_e(k), v, _e(k))
                    for k, v in counts.items())
    left = ""
    if s["left"] is not None and counts.get("pending", 0) + counts.get("running", 0) + \
            counts.get(CLAIMED, 0):
        left = '<p class="left">About <b>%s</b> left.</p>' % _e(_dur(s["left"]))
    hosts = ", ".join(sorted({h for h, _, _ in model["lanes"]}))
    parts = model["progress"]
    total = sum(parts.values())
    notes = {"pruned": "pruned (stopped early by a rule: a success)",
             "lost": "lost (their workers died)", "interrupted": "interrupted (pending again)",
             "timeout": "timed out (stopped at their time limit)",
             "stale": "stale (running on a worker that looks dead)",
             CLAIMED: "claimed (in a batch: waiting their turn)"}
    bar, legend = [], []
    for part in PROGRESS:
        k = parts.get(part, 0)
        if not k:
            continue
        share = 100.0 * k / total
        title = "%d %s (%.1f%%)" % (k, notes.get(part, part), share)
        bar.append('<div class="seg outcome-%s" data-part="%s" data-count="%d" '
                   'style="width:%.4f%%" title="%s"></div>' % (part, part, k, share, _e(title)))
        legend.append('<span data-part="%s"><i class="outcome-%s"></i>%d %s</span>'
                      % (part, part, k, _e(notes.get(part, part))))
    return ('<ul class="counts">%s</ul><div class="progress" role="img" aria-label="%s">%s</div>'
            '<div class="legend progress-legend">%s</div>'
            '<p><span class="progress-text">%.1f%%</span> of %d entries finished; '
            '%d attempts on %s.</p>%s'
            % (items, _e(", ".join(re.sub("<[^>]+>", "", x) for x in legend)), "".join(bar),
               "".join(legend), 100 * s["progress"], s["total"], model["attempts"],
               _e(hosts or "no host yet"), left))


def _href(path, base):
    """A link to a file, relative to the folder `base` (where the page is)."""
    from urllib.parse import quote

    rel = os.path.relpath(os.path.abspath(path), base)
    return _e(quote(rel.replace(os.sep, "/")))


def _failures(model, base):
    groups = model["failures"]
    if not groups:
        return '<p class="empty">No failed run.</p>'
    out = []
    for g in groups:
        runs = g["runs"]
        items = "".join('<li class="failure-run" data-id="%s">%s#%d %s on %s: %s '
                        '<span class="logs">(%s)</span></li>'
                        % (_e(r["id"]), _e(r["id"]), r["attempt"],
                           "lost" if r["outcome"] == "lost" else "timed out"
                           if r["outcome"] == TIMEOUT else _e(_code(r["code"])),
                           _e(r["host"] or "?"), _e(r["label"]), _log_links(r, base))
                        for r in runs[:MAX_RUNS_PER_GROUP])
        if len(runs) > MAX_RUNS_PER_GROUP:
            items += "<li>... and %d more</li>" % (len(runs) - MAX_RUNS_PER_GROUP)
        # no stderr log (the run printed nothing there): the summary says it all
        shown = ('<p>The tail of <a class="log" href="%s">%s</a>:</p><pre>%s</pre>'
                 % (_href(g["err"], base), _e(g["err"]), _e("\n".join(g["tail"])))
                 if g["err"] else "")
        out.append('<details class="failure-group" data-count="%d" open><summary><b>%d run%s</b>: '
                   '<code>%s</code></summary><ul>%s</ul>%s</details>'
                   % (len(runs), len(runs), "" if len(runs) == 1 else "s",
                      _e(g["tail"][-1] if g["tail"] else ""), items, shown))
    return "".join(out)


def _log_links(run, base):
    """Links to a failed run's logs, those that are there (a run that
    printed nothing left none)."""
    links = ['<a class="log-%s" href="%s">%s</a>' % (name, _href(run[name], base), name)
             for name in ("err", "out") if run[name]]
    if links:
        return ", ".join(links)
    return "no output" if run["detached"] else "no log: --no-detach"


def _short(value):
    """A float with at most 6 significant digits."""
    if not math.isfinite(value):
        return repr(value)
    return "%.6g" % value


# a cell's text longer than this has its whole text as a title (the cell
# may be cut with an ellipsis)
LONG_CELL = 40


def _td(value):
    cls = value.__class__
    if value is None or value == "":
        return "<td></td>"
    if cls is int:
        return "<td>%d</td>" % value
    if cls is float:
        text = _short(value)
        if math.isfinite(value) and float(text) != value:
            full = repr(value)
            return '<td title="%s" data-v="%s">%s</td>' % (full, full, text)
        return "<td>%s</td>" % text
    if cls is bool:
        return "<td>%s</td>" % ("true" if value else "false")
    if isinstance(value, (list, dict)):
        value = json.dumps(value, default=str)
    text = _e(value)
    if len(text) > LONG_CELL:
        return '<td title="%s">%s</td>' % (text, text)
    return "<td>%s</td>" % text


def _table(table, id_, empty):
    header, rows, note = table
    if not rows:
        return '<p class="empty">%s</p>' % empty
    head = "".join('<th data-col="%d">%s</th>' % (i, _e(h)) for i, h in enumerate(header))
    body = "".join("<tr>%s</tr>" % "".join([_td(c) for c in row]) for row in rows)
    return ('%s<div class="scroll"><table class="sortable" id="%s"><thead><tr>%s</tr></thead>'
            '<tbody>%s</tbody></table></div>'
            % ('<p class="note">%s</p>' % _e(note) if note else "", id_, head, body))


def _tables(model):
    """The runs table and, beside it, the same aggregated per variation (a
    CSS-only switch between the two)."""
    rows = model["table"][1]
    runs = _table(model["table"], "runs", "The list is empty.")
    variations = model["variations"]
    if not rows or variations is None:
        return ("<p>Click a column header to sort.</p>" if rows else "") + runs
    over = ", ".join(model["over"]) or "nothing"
    return ('<div class="views"><input type="radio" name="view" id="view-runs" checked>'
            '<label for="view-runs">one row per run (%d)</label>'
            '<input type="radio" name="view" id="view-variations">'
            '<label for="view-variations">one row per variation (%d): the runs that differ only '
            'in %s, with each number&#39;s mean, standard deviation and count</label>'
            '<p>Click a column header to sort.</p>'
            '<div class="view view-runs">%s</div><div class="view view-variations">%s</div></div>'
            % (len(rows), len(variations[1]), _e(over), runs,
               _table(variations, "variations", "No variation.")))


def _learned(model):
    """What was learned: the best runs, the parameter plots, the learning
    curves, the best so far against time and the decision log (each part
    only when there is something to show); "" when there is none."""
    found = model["learned"]
    parts = []
    column, mode = found["column"], found["mode"]
    way = "highest" if mode == "max" else "lowest"
    if found["best"]:
        params = model["params"]
        shown = ["id", "run"] if model["summary"]["experiment"] else ["id", "command"]
        extra = [c for c in params if c != "command"]
        head = ["rank"] + shown + [column, "outcome", "step"] + extra
        rows = [[i + 1] + [r.get(c) for c in head[1:]] for i, r in enumerate(found["best"])]
        keep = [k for k, h in enumerate(head) if h != "step" or any(r[k] is not None for r in rows)]
        head = [head[k] for k in keep]
        rows = [[r[k] for k in keep] for r in rows]
        rule = found["rule"]
        source = ("the early-stopping rule's metric" if rule and rule[0] == found["metric"]
                  and model["metric_given"] is None else "--metric %s" % found["metric"])
        parts.append('<h3>Best runs</h3><p class="best-note">By <b>%s</b>, %s first (%s%s; '
                     '--metric NAME --mode min|max to choose); pruned runs are left out (their '
                     'values are from the step they were stopped at). The tables below are '
                     'sorted by it too.</p>%s'
                     % (_e(column), way, _e(source), "" if column == found["metric"] else
                        ": the value each run reported last", _table((head, rows, ""), "best",
                                                                      "")))
    elif found["metric"] is None and (model["params"] or found["slices"]):
        parts.append('<p class="best-note">Give --metric NAME (and --mode max if higher is '
                     'better) to see the best runs first.</p>')
    if found["slices"]:
        plots = []
        for plot in found["slices"]:
            binned = (" (each point a bin of %d variations)" % plot["variations"]
                      if plot["binned"] else "")
            plots.append('<figure class="slice-plot" data-x="%s" data-y="%s" data-kind="%s">%s'
                         '<figcaption>%s against %s%s</figcaption></figure>'
                         % (_e(plot["x"]), _e(plot["y"]), plot["kind"], learned.slice_svg(plot),
                            _e(plot["y"]), _e(plot["x"]), _e(binned)))
        parts.append('<h3>Results against parameters</h3><p>One point per variation (the runs '
                     'that differ only in %s): the mean, with a bar over one standard deviation '
                     'either way; the best variation%s is the larger point. Many variations are '
                     'binned along the parameter (a bin: the mean of its variations, a bar from '
                     'the lowest to the highest).</p><div class="slices">%s</div>'
                     % (_e(", ".join(model["over"]) or "nothing"),
                        " by %s" % _e(column) if column else "", "".join(plots)))
    if found["curves"]:
        legend = "".join('<span><i style="background:%s"></i>%s</span>' % (c, k)
                         for k, c in learned.CURVE_COLOURS.items())
        charts = []
        for chart in found["curves"]:
            rungs = ("; dashed lines: the rungs, with their cut-off as it stands now (hover "
                     "for the counts)" if chart["rungs"] else "")
            charts.append('<figure class="curves-plot" data-metric="%s" data-curves="%d" '
                          'data-of="%d">%s<figcaption>%s against step: %d of %d runs%s%s'
                          '</figcaption></figure>'
                          % (_e(chart["metric"]), len(chart["curves"]), chart["of"],
                             learned.curves_svg(chart), _e(chart["metric"]),
                             len(chart["curves"]), chart["of"],
                             " (the best %d, then an even sample of the others)"
                             % chart["highlighted"] if len(chart["curves"]) < chart["of"] else "",
                             rungs))
        parts.append('<h3>Learning curves</h3><div class="legend">%s</div>%s'
                     % (legend, "".join(charts)))
    if found["progress"]:
        chart = found["progress"]
        shown = len(chart["dots"])
        parts.append('<h3>Best so far</h3><p>The best %s among the runs that had ended by then '
                     '(%s is better; pruned runs left out); a dot per run%s.</p><div class="progress-chart">%s</div>'
                     % (_e(column), way,
                        "" if shown == chart["runs"] else " (%d of %d: every improvement, "
                        "then a sample)" % (shown, chart["runs"]),
                        learned.progress_svg(chart, model["t0"], _clock, column)))
    if found["decisions"]:
        made = found["decisions"]
        labels = model["learned_labels"]
        # Hyperband's: judged within a bracket
        bracketed = any(d.get("bracket") is not None for d in made)
        head = ["time", "run", "attempt", "metric"] + ["bracket"] * bracketed + [
            "rung", "step", "value", "rank", "of", "cut-off", "decision"]
        rows = [[_clock(d["time"]), labels.get(d["id"], d["id"]), d["attempt"], d.get("metric")]
                + [d.get("bracket")] * bracketed + [
                    d["rung"], d.get("step"), d.get("value"), d.get("rank"), d.get("of"),
                    d.get("cutoff"), "kept" if d["keep"] else "pruned"] for d in made]
        total = found["decisions_total"]
        note = ("the latest %d of %d decisions" % (len(made), total) if total > len(made)
                else "")
        kept = sum(1 for d in made if d["keep"])
        parts.append('<h3>Early-stopping decisions</h3><p class="decisions-note">%d decision%s '
                     '(%d kept, %d pruned): each run, at each rung it reached, against the '
                     'values recorded at that rung%s before it.</p>%s'
                     % (total, "" if total == 1 else "s", kept, len(made) - kept,
                        " (and bracket)" if bracketed else "",
                        _table((head, rows, note), "decisions", "")))
    return "".join(parts)


CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#222;
overflow-wrap:anywhere;word-break:break-word}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
.counts{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1em}
.progress{display:flex;height:12px;background:#eee;border-radius:5px;max-width:600px;
overflow:hidden}
.progress .seg{flex:0 1 auto;min-width:3px;height:12px;box-sizing:border-box;
border-right:1px solid rgba(255,255,255,.7)}
.progress .seg:last-child{border-right:0}
.progress-legend{margin-top:.3em}
.timeline{border:1px solid #ddd;padding:4px;overflow:hidden}
.axis{display:flex;justify-content:space-between;margin-left:260px;color:#666;font-size:12px}
.axis.flush{margin-left:0}
.lane{display:flex;align-items:center;height:18px;border-top:1px solid #f2f2f2}
.lane-label{width:256px;flex:none;font-size:12px;white-space:nowrap;overflow:hidden;
text-overflow:ellipsis;padding-right:4px}
.track{position:relative;flex:1;min-width:0;height:14px;background:#fafafa}
.bar{position:absolute;top:1px;height:12px;min-width:2px;box-sizing:border-box;
border-right:1px solid rgba(255,255,255,.6)}
.legend span{display:inline-block;margin-right:1em}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
.chart .ylabel{font-size:12px;color:#444;margin-bottom:2px}
.chart-body{display:flex}
.yaxis{position:relative;flex:none;width:4.5em;height:160px;border-right:1px solid #888;
margin-right:3px;font-size:11px;color:#555}
.yaxis .tick{position:absolute;right:5px;transform:translateY(50%);white-space:nowrap}
.yaxis .tick::after{content:"";position:absolute;right:-8px;top:50%;width:5px;
border-top:1px solid #888}
.plot{flex:1;min-width:0}.plot svg{display:block}
.failure-group{margin:.6em 0;border-left:4px solid #d23c3c;padding-left:.6em}
pre{background:#f6f6f6;padding:.5em;overflow:auto;max-height:12em}
.scroll{overflow:auto;max-width:100%;max-height:80vh;border:1px solid #eee}
table.sortable{border-collapse:collapse;font-size:12px;overflow-wrap:normal;word-break:normal}
table.sortable th,table.sortable td{border:1px solid #ddd;padding:2px 6px;text-align:left;
white-space:nowrap;max-width:24em;overflow:hidden;text-overflow:ellipsis}
table.sortable th{background:#f0f0f0;cursor:pointer;user-select:none;position:sticky;top:0}
th[data-sort=asc]::after{content:" \\25B2"}th[data-sort=desc]::after{content:" \\25BC"}
.views>input{margin-left:0}.views>label{margin-right:1.5em}
.view-variations,#view-variations:checked~.view-runs{display:none}
#view-variations:checked~.view-variations{display:block}
.empty,.note{color:#666}#js-errors:empty{display:none}#js-errors{color:#b00}
.slices{display:flex;flex-wrap:wrap;gap:10px}.slices figure,figure.curves-plot{margin:0}
figcaption{font-size:12px;color:#444;max-width:300px}figure.curves-plot figcaption{max-width:720px}
svg .tick{font-size:10px;fill:#555}svg .label{font-size:11px;fill:#333}
svg circle.pt{fill:#2f7fe0}svg circle.pt.best{fill:#d9822b;stroke:#000}
h3{font-size:1.05em;margin:1.2em 0 .4em}
"""

JS = """
(function(){
var errors=document.getElementById('js-errors');
window.onerror=function(msg,src,line){errors.textContent+=msg+' (line '+line+')\\n';};
function key(text){var n=parseFloat(text);return (text!==''&&!isNaN(n)&&isFinite(text))?n:null;}
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th,col){
    th.addEventListener('click',function(){
      var asc=th.getAttribute('data-sort')!=='asc';
      table.querySelectorAll('th').forEach(function(h){h.removeAttribute('data-sort');});
      th.setAttribute('data-sort',asc?'asc':'desc');
      var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
      var keyed=rows.map(function(r){var c=r.cells[col],t=c?(c.getAttribute('data-v')||c.textContent):'';
        return {r:r,t:t,n:key(t)};});
      keyed.sort(function(a,b){var c;
        if(a.n!==null&&b.n!==null)c=a.n-b.n;else if(a.n!==null)c=-1;else if(b.n!==null)c=1;
        else c=a.t<b.t?-1:a.t>b.t?1:0;return asc?c:-c;});
      var frag=document.createDocumentFragment();
      keyed.forEach(function(k){frag.appendChild(k.r);});body.appendChild(frag);
    });
  });
});
var seen={},check=document.getElementById('self-check');
document.querySelectorAll('.timeline .bar').forEach(function(b){
  var o=b.getAttribute('data-outcome');
  if(!(o in seen)){seen[o]=getComputedStyle(b).backgroundColor;}});
Object.keys(seen).forEach(function(o){check.setAttribute('data-colour-'+o,seen[o]);});
check.setAttribute('data-ready','yes');
})();
"""


def render(model, base=None):
    """The page's HTML; links to logs are relative to the folder `base`
    (where the page will be; default: the current folder)."""
    s = model["summary"]
    base = os.path.abspath(base if base is not None else os.curdir)
    outcome_css = "".join(".outcome-%s{background:%s}" % (o, c) for o, c in COLOURS.items())
    legend = "".join('<span><i class="outcome-%s"></i>%s</span>' % (o, o) for o in OUTCOMES)
    aggregated = model["attempts"] > MAX_BARS
    answers = _learned(model)
    return "".join((
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>cooperate report: %s</title>" % _e(model["name"]),
        "<style>%s%s</style></head><body>" % (CSS, outcome_css),
        '<pre id="js-errors"></pre><div id="self-check" hidden></div>',
        "<h1>%s</h1>" % _e(model["name"]),
        "<p>Report made %s from %s.</p>" % (_e(_clock(model["now"])), _e(s["state"])),
        "<h2>Summary</h2>", _summary(model),
        ("<h2>What was learned</h2>" + answers) if answers else "",
        "<h2>Timeline</h2>",
        "<p>One lane per host and worker slot; %s.</p>" % (
            "too many attempts to draw one by one: each bar is a time bucket of a lane, "
            "coloured by the outcome of most of its attempts (hover for the counts)"
            if aggregated else "each bar is one attempt (hover for details)"),
        '<div class="legend">%s</div>' % legend, _timeline(model),
        "<h2>Throughput</h2>", _throughput(model),
        "<h2>Failures</h2>", _failures(model, base),
        "<h2>%s</h2>" % ("Runs" if s["experiment"] else "Entries"),
        _tables(model),
        "<script>%s</script></body></html>\n" % JS))


def build(target, state_dir=None, now=None, base=None, **options):
    """The report's HTML for a list file or an experiment folder (links
    relative to `base`, default the current folder; `options`: gather's)."""
    return render(gather(target, state_dir, now, **options), base)


def write(target, out, state_dir=None, now=None, trusted=True, **options):
    """Write the report to `out` (its links to logs relative to the folder
    of `out`); returns the model's summary (counts). `options`: gather's
    over, results_file, results_dir, metric, mode."""
    model = gather(target, state_dir, now, trusted, **options)
    base = os.path.dirname(os.path.abspath(out))
    atomic_write(out, render(model, base).encode("utf-8"), durable=False)
    return {"attempts": model["attempts"], "lanes": len(model["lanes"]),
            "failure_groups": len(model["failures"]), "summary": model["summary"],
            "variations": len(model["variations"][1]) if model["variations"] else 0}
