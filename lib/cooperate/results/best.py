"""Which runs are best: the measure of a run, which way is better, and rows
sorted best first (collect --sort and the report's "best runs first").

The measure is a name: a column of collect's table (a result, loss.best,
duration...), else a metric the runs report, whose column is NAME.last
(the value a run reported last: where it ended, or where it was stopped).
In a table per variation (collect.aggregate) it is that column's mean.

Which way is better (the mode, min or max) is said by the user, else by
the queue's early-stopping decisions when NAME is the rule's metric, else
min. Without a name, the rule's metric is the measure, when the queue has
decisions; else there is none.

Rows whose measure is empty, NaN or not a number come last, in their
order; ties keep theirs. Reads the queue's folded state only.
"""

import math

from cooperate.errors import UserError

MODES = ("min", "max")


def rule(queue):
    """(metric, mode) of the early-stopping rule whose decisions the journal
    holds (the latest recorded), or None."""
    for record in reversed(queue.state.scores):
        data = record[6]
        if isinstance(data, dict) and data.get("metric") and data.get("mode") in MODES:
            return data["metric"], data["mode"]
    return None


def base_name(name):
    """The metric a metric column belongs to: loss for loss.best, loss.last
    and loss.best.mean; the name itself otherwise."""
    for end in (".mean", ".std", ".n"):
        if name.endswith(end):
            name = name[:-len(end)]
            break
    for end in (".last", ".best"):
        if name.endswith(end):
            return name[:-len(end)]
    return name


def choose(queue, metric=None, mode=None):
    """(measure, mode) from the user's choice and the queue's decisions, or
    (None, None) when there is no measure."""
    if mode is not None and mode not in MODES:
        raise UserError("--mode %s: expected min or max" % mode)
    found = rule(queue)
    if metric is None:
        if found is None:
            return None, None
        return found[0], mode or found[1]
    if mode is None:
        mode = found[1] if found is not None and base_name(metric) == found[0] else "min"
    return metric, mode


def column(columns, name, aggregated=False):
    """The column of `columns` that holds the measure `name`, or None."""
    tried = [name, name + ".last"]
    if aggregated:
        tried = [c + ".mean" for c in tried] + ["result.%s.mean" % c for c in tried]
    for c in tried:
        if c in columns:
            return c
    return None


def need_column(table, name, aggregated=False, option="--sort"):
    """column(), or a UserError naming the columns there are."""
    found = column(table.columns, name, aggregated)
    if found is None:
        numeric = [c for c in table.columns
                   if any(number(row.get(c)) for row in table.rows[:1000])]
        raise UserError("%s %s: no such result, metric or column (numeric columns: %s)"
                        % (option, name, ", ".join(numeric) or "none"))
    return found


def number(value):
    """Is `value` a number that can be compared (not a bool, not NaN)?"""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and not (isinstance(value, float) and math.isnan(value)))


def order(rows, key, mode, get=None, behind=None):
    """The rows (dicts, or anything `get(row, key)` reads) sorted best first
    by `key`; rows without a number there last, in their order. Rows for
    which `behind(row)` is true (pruned runs, whose values are from earlier
    steps) come after the other rows with a number."""
    get = get or (lambda row, k: row.get(k))
    scored, later, rest = [], [], []
    for row in rows:
        value = get(row, key)
        if not number(value):
            rest.append(row)
        else:
            (later if behind is not None and behind(row) else scored).append((value, row))
    for part in (scored, later):
        part.sort(key=lambda pair: pair[0], reverse=mode == "max")
    return [row for _, row in scored] + [row for _, row in later] + rest


def pruned(row):
    """Was the run of this row of collect's stopped early (a `behind` for
    order())?"""
    return row.get("outcome") == "pruned"


def better(a, b, mode):
    """Is the value `a` better than `b` (None: no value yet)?"""
    return b is None or (a < b if mode == "min" else a > b)
