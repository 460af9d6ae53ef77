"""An experiment's side of its runs: what liftoff's launcher did in the run
folders, done by the worker through its hooks (cooperate.run.hooks).

A run of an experiment runs the experiment's script on the run's cfg.yaml,
as liftoff ran it (`python -u [-OO] SCRIPT CFG --session-id SESSION`), with
this toolkit's `liftoff` importable; its folder gets liftoff's marks
(.__lock, .__start, .__end or .__crash), and `out` and `err` links to the
attempt's logs; the experiment gets the launcher's .__SESSION mark.
"""

import os
import sys

from cooperate.grid import experiment as exp
from cooperate.queue import files


def script_command(script, session, optimize=False):
    """How a run of an experiment runs its script on its cfg.yaml: (argv
    before the cfg's path, argv after it). A Python script as liftoff ran
    it, with this Python: `python -u [-OO] SCRIPT CFG --session-id SESSION`;
    any other program: `SCRIPT CFG`."""
    if script.endswith(".py"):
        return ([sys.executable, "-u"] + (["-OO"] if optimize else []) + [script],
                ["--session-id", session])
    return [script], []


def toolkit_path():
    """The import roots of this toolkit's `liftoff` and `yaml`: the archive
    itself, or lib/ and build/vendor/ in a checkout."""
    import importlib.util

    roots = []
    for name in ("liftoff", "yaml"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            root = os.path.dirname(os.path.dirname(spec.origin))
            if root not in roots:
                roots.append(root)
    return roots


def put(path, target):
    """A symbolic link to `target` at `path`, or with None an empty file,
    in one rename (best effort)."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        if target is None:
            os.close(files.open_own(tmp))
        else:
            os.symlink(target, tmp)
        os.replace(tmp, path)
    except OSError:
        pass


class ExperimentHooks:
    """The hooks (cooperate.run.hooks) of the experiment in `folder`, whose
    runs run `script`
    (None: not known yet; a run then fails with a line saying how to give
    it)."""

    def __init__(self, folder, script=None, optimize=False):
        self.folder = folder
        self.script = script
        self.optimize = optimize

    def _run_folder(self, claim):
        return os.path.join(self.folder, claim.entry["run"])

    def command(self, entry, worker):
        if not (isinstance(entry, dict) and "run" in entry) or not self.script:
            return None
        before, after = script_command(self.script, worker, self.optimize)
        argv = before + [os.path.join(self.folder, entry["run"], exp.CFG_FILE)] + after
        return argv, entry.get("cwd"), entry.get("env", {})

    def environment(self, env):
        # liftoff scripts import `liftoff` (and yaml) from this toolkit
        env["PYTHONPATH"] = os.pathsep.join(
            toolkit_path() + [p for p in [os.environ.get("PYTHONPATH")] if p])

    def launched(self, worker, pid):
        exp.mark_launcher(self.folder, worker, pid)

    def started(self, claim, worker):
        exp.mark_started(self.folder, claim.entry["run"], worker)

    def logs(self, claim, written):
        """The run folder gets `out` and `err` links to its current attempt's
        logs, where liftoff kept them; for a log not `written` (none was, or
        it was unlinked empty), an empty file instead: liftoff's run folders
        always have both, and a link must not dangle (best effort)."""
        folder = self._run_folder(claim)
        for name, log in (("out", claim.out), ("err", claim.err)):
            put(os.path.join(folder, name), os.path.relpath(log, folder) if log in written else None)

    def log_dropped(self, claim, path):
        """The run folder's link to a log left empty becomes an empty file,
        unless the run replaced it."""
        folder = self._run_folder(claim)
        link = os.path.join(folder, "out" if path == claim.out else "err")
        try:
            ours = os.readlink(link) == os.path.relpath(path, folder)
        except OSError:
            ours = False  # the run put a file of its own there
        if ours:
            put(link, None)

    def ended(self, claim, outcome):
        exp.mark_ended(self.folder, claim.entry["run"], outcome)
