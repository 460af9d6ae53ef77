"""What the runs reported (cooperate.metrics): per entry, the curve of its
latest attempt, and the columns collect adds for them.

Columns: `step` (the last step the latest attempt reported; `metrics.step`
if a parameter or result is called step), then for each metric NAME.last
(its last value) and NAME.best (the lowest, or the highest for a metric
that is maximised: named in `maximise`, or the metric of an early-stopping
rule with --mode max). Entries whose latest attempt reported nothing have
empty cells; a queue whose runs reported nothing has no such column.

Only the files that exist are opened: the metrics folder is listed once
(at a million entries most have none), so a queue without metrics costs
one lookup.
"""

import os

from cooperate import metrics


def present(queue):
    """The names of the metrics files in the queue's state folder."""
    top = os.path.join(queue.dir, metrics.FOLDER)
    try:
        shards = os.listdir(top)
    except OSError:
        return set()
    names = set()
    for shard in shards:
        try:
            names.update(os.listdir(os.path.join(top, shard)))
        except OSError:
            pass
    return names


def latest_attempt(state, id_):
    last = state.last(id_) if state.history is not None else None
    return last.number if last is not None else state.attempts(id_)


def curves(queue, ids):
    """{id: (attempt, points)} of the entries whose latest attempt reported."""
    names = present(queue)
    out = {}
    if not names:
        return out
    for id_ in ids:
        attempt = latest_attempt(queue.state, id_)
        if attempt and "%s.%d.jsonl" % (id_, attempt) in names:
            points = metrics.read(metrics.path(queue.dir, id_, attempt))
            if points:
                out[id_] = (attempt, points)
    return out


def maximised(queue, maximise=()):
    """The metrics whose best value is the highest: `maximise`, and those
    an early-stopping rule recorded with mode max."""
    names = set(maximise)
    for record in queue.state.scores:
        data = record[6]
        if isinstance(data, dict) and data.get("mode") == "max" and data.get("metric"):
            names.add(data["metric"])
    return names


def columns(queue, ids, taken, maximise=()):
    """(the metric columns, one dict of them per id, in `ids` order)."""
    found = curves(queue, ids)
    if not found:
        return [], [{} for _ in ids]
    high = maximised(queue, maximise)
    summaries = {id_: metrics.summary(points, high) for id_, (_, points) in found.items()}
    names = []
    for summary in summaries.values():
        for name in summary:
            if name != "step" and name not in names:
                names.append(name)
    step = "metrics.step" if "step" in taken else "step"
    out_columns = [step] + ["%s.%s" % (name, kind) for name in names for kind in ("last", "best")]
    rows = []
    for id_ in ids:
        summary = summaries.get(id_, {})
        row = {step: summary.get("step")}
        for name in names:
            last, best = summary.get(name, (None, None))
            row[name + ".last"], row[name + ".best"] = last, best
        rows.append(row)
    return out_columns, rows
