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
one lookup. Each file is read once and only its summary is kept, never
its points (10,000 runs of 100 points each are a million of them).

summarise() gives what metrics.summary gives of metrics.read's points,
with less work for the usual file, whose lines all have the form of its
first line: the same names in the same order, the same spacing, numbers
for values (as report() writes them, from a loop). Such a file is matched
by one pattern made of its first line, each name's values are decoded
together (one JSON array: the same numbers, of the same types, as the
lines give), and the last and best are taken from them. Any other file (a
line of another form, a blank or broken line, a NaN step) is read line by
line, as the worker reads it.
"""

import json
import os
import re

from cooperate import metrics

# a metric's name in a line the fast way takes, and the characters of its
# value (JSON checks them: a number, NaN or Infinity)
_NAME = r"[A-Za-z_][A-Za-z0-9_.\-/]*"
_VALUE = r"[-+.0-9eEINafinty]+"
_PAIR = re.compile(r'"(%s)"[ \t]*:[ \t]*(%s)' % (_NAME, _VALUE))
_OPEN = re.compile(r'[ \t]*\{[ \t]*"%s"[ \t]*:[ \t]*' % _NAME)
_NEXT = re.compile(r'[ \t]*,[ \t]*"%s"[ \t]*:[ \t]*' % _NAME)
_CLOSE = re.compile(r"[ \t]*\}[ \t\r]*\n")
# the patterns of the forms of first lines seen: (literal parts) -> pattern
_FORMS = {}


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


def summarise(path, maximise=()):
    """metrics.summary(metrics.read(path), maximise), read once ({} for a
    file that is missing or holds no point)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return {}
    # complete lines only, as metrics.Reader takes them
    data = data[:data.rfind(b"\n") + 1]
    found = _uniform(data, maximise)
    if found is None:
        found = metrics.summary(metrics.parse(data), maximise)
    return found


def _form(first):
    """(the pattern that matches a line of the form of `first`, the length
    of the line but for its values, the names in order), or None unless
    `first` is a flat object of numbers with "step" and no name twice."""
    pairs = list(_PAIR.finditer(first))
    names = [m.group(1) for m in pairs]
    if "step" not in names or len(set(names)) != len(names):
        return None
    parts, at = [], 0
    for m in pairs:
        parts.append(first[at:m.start(2)])
        at = m.end(2)
    parts = tuple(parts + [first[at:]])
    found = _FORMS.get(parts)
    if found is None:
        # what is between the values: the names, and nothing else of JSON's
        if not (_OPEN.fullmatch(parts[0]) and _CLOSE.fullmatch(parts[-1])
                and all(_NEXT.fullmatch(part) for part in parts[1:-1])):
            return None
        if len(_FORMS) >= 100:
            _FORMS.clear()
        pattern = ("(%s)" % _VALUE).join(re.escape(part) for part in parts)
        found = _FORMS[parts] = (re.compile(pattern), sum(map(len, parts)))
    return found + (names,)


def _uniform(data, maximise):
    """The summary of a file whose lines all have its first line's form,
    else None."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not text:
        return {}
    form = _form(text[:text.index("\n") + 1])
    if form is None:
        return None
    pattern, fixed, names = form
    rows = pattern.findall(text)
    if not rows:
        return None
    if len(names) == 1:
        rows = [(value,) for value in rows]
    columns = [",".join(column) for column in zip(*rows)]
    # the lines matched cover the text: every line is of the form
    commas = len(names) * (len(rows) - 1)
    if fixed * len(rows) + sum(map(len, columns)) - commas != len(text):
        return None
    try:
        decoded = [json.loads("[%s]" % column) for column in columns]
    except ValueError:  # not a number
        return None
    found = []
    for position, (name, column, values) in enumerate(zip(names, columns, decoded)):
        first = 0
        if "N" in column:  # NaN counts as no value
            if name == "step":
                return None
            first = next((i for i, v in enumerate(values) if v == v), None)
            values = [v for v in values if v == v]
            if not values:
                continue
        if name == "step":
            found.append((-1, 0, name, max(values)))
        else:
            best = max(values) if name in maximise else min(values)
            found.append((first, position, name, (values[-1], best)))
    found.sort()
    return {name: value for _, _, name, value in found}


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
    """(the metric columns, a function: an id of `ids` -> the dict of its
    cells); no columns and None when no run reported metrics."""
    present_ = present(queue)
    summaries = {}
    if present_:
        high = maximised(queue, maximise)
        for id_ in ids:
            attempt = latest_attempt(queue.state, id_)
            if attempt and "%s.%d.jsonl" % (id_, attempt) in present_:
                summary = summarise(metrics.path(queue.dir, id_, attempt), high)
                if summary:
                    summaries[id_] = summary
    if not summaries:
        return [], None
    names = []
    for summary in summaries.values():
        for name in summary:
            if name != "step" and name not in names:
                names.append(name)
    step = "metrics.step" if "step" in taken else "step"
    out_columns = [step] + ["%s.%s" % (name, kind) for name in names for kind in ("last", "best")]

    def cells(id_):
        summary = summaries.get(id_, {})
        row = {step: summary.get("step")}
        for name in names:
            last, best = summary.get(name, (None, None))
            row[name + ".last"], row[name + ".best"] = last, best
        return row
    return out_columns, cells
