"""An experiment's side of its runs: what liftoff's launcher did in the run
folders, done by the worker through its hooks (cooperate.run.hooks).

A run of an experiment runs the experiment's script on the run's cfg.yaml,
as liftoff ran it (`python -u [-OO] SCRIPT CFG --session-id SESSION`, SESSION
a uuid4 per worker), with `liftoff` importable after the user's own
PYTHONPATH (see run_pythonpath); or, for a module path that runs as
processes, a Python that calls the module's function (module_command); its
folder gets liftoff's marks
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


# What a run of a module path runs (`python -c`), given the folder the module
# is imported from, the module and the function, then the cfg.yaml and
# liftoff's options: the function called as the launcher calls it in its own
# process (cooperate.cli.launch), on parse_opts of the cfg.yaml, with the
# folder at the end of sys.path (not -c's current folder at the start); the
# function sees sys.argv as a script's run has it: [module, cfg, options].
# Self-contained: `liftoff` may be the user's own, without the toolkit.
MODULE_PROGRAM = """\
import importlib, sys
folder, name, attribute = sys.argv[1:4]
if sys.path and sys.path[0] == "":
    del sys.path[0]
sys.path.append(folder)
sys.argv[:4] = [name]
from liftoff import parse_opts
function = getattr(importlib.import_module(name), attribute, None)
if not callable(function):
    sys.exit("%s has no function %s(opts)" % (name, attribute))
function(parse_opts(sys.argv[1:2]))
"""


def module_command(module, session, optimize=False):
    """How a run of an experiment calls a module path's function in a
    process of its own: (argv before the cfg's path, argv after it), as
    script_command gives them. `module`: (the folder it is imported from,
    the module's name, the function's name)."""
    folder, name, function = module
    return ([sys.executable, "-u"] + (["-OO"] if optimize else [])
            + ["-c", MODULE_PROGRAM, folder, name, function], ["--session-id", session])


# the folder that holds only a `liftoff` package for the runs (see
# runpath/liftoff: it gives the user's own liftoff if installed, else the
# toolkit's); a subfolder of the archive works too
RUN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runpath")


def run_pythonpath(pythonpath):
    """A run's PYTHONPATH: the user's (as it is, in its order), then the
    folder where the runs find `liftoff`; nothing of the toolkit's ahead of
    the user's packages, installed ones included."""
    return pythonpath + os.pathsep + RUN_PATH if pythonpath else RUN_PATH


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
    runs run `script`, or call the function of `module` (module_command)
    (neither: not known yet; a run then fails with a line saying how to give
    it)."""

    # liftoff's run folders have `out` and `err` from the start: links to the logs
    logs_at_start = True

    def __init__(self, folder, script=None, optimize=False, module=None):
        self.folder = folder
        self.script = script
        self.module = module
        self.optimize = optimize
        self.sessions = {}

    def session(self, worker):
        """The worker's session id, a uuid4 as liftoff's launcher made one:
        passed to its runs (--session-id), written in their .__lock and in
        the experiment's .__SESSION mark."""
        found = self.sessions.get(worker)
        if found is None:
            import uuid

            found = self.sessions[worker] = str(uuid.uuid4())
        return found

    def _run_folder(self, claim):
        return os.path.join(self.folder, claim.entry["run"])

    def command(self, entry, worker):
        if not (isinstance(entry, dict) and "run" in entry) or not (self.script or self.module):
            return None
        if self.module:
            before, after = module_command(self.module, self.session(worker), self.optimize)
        else:
            before, after = script_command(self.script, self.session(worker), self.optimize)
        argv = before + [os.path.join(self.folder, entry["run"], exp.CFG_FILE)] + after
        return argv, entry.get("cwd"), entry.get("env", {})

    def environment(self, env):
        env["PYTHONPATH"] = run_pythonpath(env.get("PYTHONPATH"))

    def launched(self, worker, pid):
        exp.mark_launcher(self.folder, self.session(worker), pid)

    def started(self, claim, worker):
        exp.mark_started(self.folder, claim.entry["run"], self.session(worker))

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
