"""cooperate: one queue of commands on a shared filesystem, drained by workers
on every machine that can see it; liftoff-style YAML grids on the same queue."""

import sys

__version__ = "0.1.0"

# Imported before anything else of the toolkit, whichever way it is started
# (the archive, bin/cooperate, python -m cooperate): an older Python gets one
# line instead of a syntax error from a later module. Kept to what Python 2
# parses.
if sys.version_info < (3, 6):
    sys.stderr.write("cooperate needs Python 3.6 or later; %s is Python %d.%d: run it with "
                     "python3 (3.6 to 3.13)\n" % ((sys.executable or "this",)
                                                  + tuple(sys.version_info[:2])))
    sys.exit(2)


def report(step=None, **values):
    """Append a point of this run's metrics, {"step": step, NAME: value},
    to its metrics file (see cooperate.metrics, imported on first use so
    that importing cooperate stays cheap); outside a worker it does
    nothing and returns False."""
    from cooperate import metrics

    return metrics.report(step, **values)
