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
