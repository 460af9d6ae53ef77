"""Metrics a run reports, with no server: JSON lines in a file of its own.

Each attempt gets COOPERATE_METRICS, the path of its metrics file in the
queue's state folder, beside its logs: metrics/PRE/ID.ATTEMPT.jsonl (PRE
the id's first three hex digits). The state folder is on the filesystem
the machines share, so collect and report read every run's curve from
anywhere; the worker that started the run reads it on its own machine,
where the run writes it. A run appends one JSON object per line,
``{"step": N, "NAME": value, ...}``, from any language; ``report(step=N,
loss=...)`` does it from Python (``from cooperate import report``, or
liftoff's). Nothing here takes the queue's lock: only an early-stopping
rule's decisions go to the journal, never each step.

Promises: report() writes each line with one write() on a file opened for
appending, so lines of one run never mix; outside a worker (no
COOPERATE_METRICS) it does nothing, and the script runs as it would by
hand. Readers (Reader, read) take the lines complete so far: a line not
ended yet is left for the next read, a line that is not an object with a
number "step" is skipped (a run's own output is never an error of the
queue's). NaN is written as JSON's NaN (Python reads it back).

Imports nothing but the standard library: scripts import it.
"""

import json
import math
import os

ENV = "COOPERATE_METRICS"
FOLDER = "metrics"

_open = {}
_steps = {}


def path(state_dir, id_, attempt):
    """Where the metrics of attempt `attempt` of entry `id_` go."""
    return os.path.join(state_dir, FOLDER, id_[:3], "%s.%d.jsonl" % (id_, attempt))


def _plain(value):
    """A number from what scripts report (numpy and torch scalars)."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return float(value)


def report(step=None, **values):
    """Append {"step": step, NAME: value, ...} to this run's metrics file
    (COOPERATE_METRICS). Without `step`, the step after the last one this
    process reported (1 first). Returns False outside a worker (nothing is
    written), else True."""
    target = os.environ.get(ENV)
    if not target:
        return False
    if step is None:
        step = _steps.get(target, 0) + 1
    _steps[target] = step
    record = {"step": step}
    record.update(values)
    line = (json.dumps(record, default=_plain, separators=(",", ":")) + "\n").encode()
    fd = _open.get(target)
    if fd is None:
        fd = _open[target] = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                                     | os.O_CLOEXEC, 0o644)
    os.write(fd, line)
    return True


def parse(data):
    """The points of complete lines of `data` (bytes ending at a newline)."""
    points = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            point = json.loads(line.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            continue
        if isinstance(point, dict) and number(point.get("step")):
            points.append(point)
    return points


def number(value):
    """Is `value` a number a metric may be (not a bool)?"""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Reader:
    """A metrics file read as it grows: each read() gives the points of
    the lines completed since the last one."""

    def __init__(self, path_):
        self.path = path_
        self.offset = 0
        self.points = []

    def read(self):
        """The new points (also appended to `points`)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1
        if not end:
            return []
        self.offset += end
        new = parse(data[:end])
        self.points += new
        return new


def read(path_):
    """Every complete point of a metrics file ([] without one)."""
    reader = Reader(path_)
    reader.read()
    return reader.points


def summary(points, maximise=()):
    """{"step": the last step reached, NAME: (last value, best value)} over
    the points, for every NAME holding numbers; the best is the lowest, or
    the highest for the names in `maximise`. NaN counts as no value."""
    out, last, best = {}, {}, {}
    reached = None
    for point in points:
        step = point["step"]
        reached = step if reached is None or step > reached else reached
        for name, value in point.items():
            if name == "step" or not number(value) or math.isnan(value):
                continue
            last[name] = value
            if name not in best or (value > best[name] if name in maximise else value < best[name]):
                best[name] = value
    if reached is not None:
        out["step"] = reached
    for name in last:
        out[name] = (last[name], best[name])
    return out
