"""The Python API, for notebooks and driver scripts: open a list or an
experiment, append entries, wait for them, read the results as rows.

    from cooperate.api import open_sweep
    sweep = open_sweep("exps.json")
    sweep.append(["python", "train.py", "--lr", "0.1"])
    sweep.wait()                      # workers (cooperate-run, anywhere) do the work
    for row in sweep.rows():          # collect's table: dicts, metric columns included
        print(row["id"], row["outcome"], row.get("loss.best"))

Promises: it does what the commands do, through the same library, so a
sweep driven from Python and one driven from the shell are the same queue,
and workers on other machines see what it appends. Opening and reading
write nothing; append() rewrites the list in one rename (workers see the
old list or the new one, never half of one) and adds only the entries the
list does not have yet. Nothing here starts workers: start them as usual.
The archive on sys.path (``sys.path.insert(0, "cooperate.pyz")``) is
enough; nothing needs installing. Bad input raises
cooperate.errors.UserError, whose message says what to do.

Imports: the queue, run, grid, results and search (the library's parts);
never the commands.
"""

from cooperate.api.sweep import Sweep, open_sweep

__all__ = ["Sweep", "open_sweep"]
