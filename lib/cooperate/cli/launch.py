"""liftoff: run a script on an experiment, or on one yaml config."""

import argparse
import os
import re
import shlex
import sys
import time

from cooperate.cli import workeropts as common
from cooperate.cli.targets import parse_mixed, run_matcher
from cooperate.cli.args import Formatter, Parser, add_version, int_list, limit_seconds, positive_int
from cooperate.errors import UserError
from cooperate.run.launcher import Slots
from cooperate.queue.core import DONE, FAILED, HELD, INTERRUPTED, PENDING, RUNNING
from cooperate.grid.hooks import ExperimentHooks
from cooperate.grid.source import open_queue
from cooperate.run.worker import Limits, Worker

DESCRIPTION = """\
Run SCRIPT on CONFIG_PATH, liftoff's way:
  - a prepared experiment (liftoff-prepare ... --do): run its pending runs;
  - one yaml file: make an experiment of that one config (--runs-no runs of
    it; --args changes the config first) and run it;
  - the cfg.yaml of a run of an experiment (its out_dir is that run's
    folder): run that run again, in its folder;
  - nothing: configs/default.yaml, or with -c NAME configs/NAME.yaml over it.
Each run is `<this python> -u SCRIPT <run folder>/cfg.yaml --session-id ID`
(-O adds -OO), in its own process group; `from liftoff import parse_opts`
works in the script even where nothing is installed. A script that defines
run(opts), given one yaml file, is called in this process, as liftoff does;
so is a module path instead of a file: `pkg.sub.train.py` calls run(opts)
of the module pkg.sub.train, `train.main` calls train.main(opts) (modules
are looked for in the current folder). Runs called in this process get
liftoff's marks in their folder (.__lock, .__start, then .__end or
.__crash) and print to this terminal. With --gpus, --timeout, --early-stop,
--memfree, --load or --gpu-memfree (a script's also with --procs-no or
--runs-no above 1), runs are processes of their own, which can be stopped,
held back and given a GPU: a module path's run is a Python that imports the
module from the current folder and calls the function, its output in the
run's logs.

Options come before, between or after SCRIPT and CONFIG_PATH.

The experiment is a queue: `cooperate-run EXP` (or this command) on any
other machine that shares the folder takes runs from it too, none twice;
`liftoff-status`, `liftoff-abort` see and stop all of them. The script is
recorded in the experiment the first time, so other machines need not name
it. A `.STOP` file in the experiment folder stops launching.

Ctrl-C stops launching: the running runs go on to their end, watched by
this launcher (their ends are recorded), as liftoff's runs went on; a
second Ctrl-C stops them (TERM, --grace, KILL: pending again), and so do
SIGTERM and `liftoff-abort EXP`. A closed terminal (SIGHUP) stops nothing:
the launcher goes on in the background, its lines going to its log (it
says where). Launching again starts only what is pending."""

EPILOG = """\
examples:
  liftoff train.py results/2026Nov22-101500_sweep --procs-no 4 --gpus 0 1 --per-gpu 2
  liftoff train.py configs/default.yaml --runs-no 3 --args optim.lr=0.1
  liftoff train.py -c diff
  liftoff pkg.train.py configs/default.yaml
  liftoff train.py --end-by 3600 --filters optim.lr=0.1 results/2026Nov22-101500_sweep
  liftoff train.py results/2026Nov22-101500_sweep --gpus 0 1 --timeout 7200 --gpu-memfree 10G"""

# a module path, given one yaml config: pkg.sub.train.py, train.main
MODULE_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


class LaunchParser(Parser):
    """A Parser on which an option added again replaces the first one: the
    worker's --gpus, --per-gpu and --max-runs get liftoff's forms."""

    def __init__(self, prog, description, epilog=None):
        argparse.ArgumentParser.__init__(self, prog=prog, description=description, epilog=epilog,
                                         formatter_class=Formatter, conflict_handler="resolve")
        add_version(self)


def main(argv, prog):
    p = LaunchParser(prog, DESCRIPTION, EPILOG)
    p.add_argument("script", metavar="SCRIPT",
                   help="the script each run executes (with one yaml config, also a module "
                        "path: pkg.train.py or train.main)")
    p.add_argument("config_path", nargs="?", metavar="CONFIG_PATH",
                   help="a prepared experiment folder, one yaml config, or a run's cfg.yaml")
    p.add_argument("-c", "--config", metavar="NAME",
                   help="without CONFIG_PATH: configs/NAME.yaml over configs/default.yaml")
    p.add_argument("--runs-no", type=positive_int, default=1, metavar="N",
                   help="with one yaml config: how many runs of it (default 1)")
    p.add_argument("--name", help="with one yaml config: the experiment's name")
    p.add_argument("--results-path", default="results", metavar="DIR",
                   help="where experiments are made (default ./results)")
    common.add_options(p)
    add_liftoff_options(p)
    p.add_argument("--start-by", type=limit_seconds, metavar="S",
                   help="start nothing new S seconds after launching (0 or less: no limit)")
    p.add_argument("--end-by", type=limit_seconds, metavar="S",
                   help="like --start-by, and each run gets ENDBY: the seconds left of S")
    p.add_argument("--filters", nargs="*", default=[], metavar="KEY.PATH=VALUE",
                   help="only runs whose config (cfg.yaml) has these values, read as liftoff "
                        "reads them: None or null for null, 1e-3 for 0.001, False for false")
    p.add_argument("--args", nargs="*", default=[], metavar="KEY.PATH=VALUE",
                   help="with one yaml config: set these values in it before the experiment "
                        "is made (parsed like YAML; new keys are added)")
    p.add_argument("--shuffle", action="store_true", help="take runs in a random order")
    p.add_argument("--comment", help="a note kept with this launch, shown by liftoff-status")
    args = parse_mixed(p, argv)
    normalise(args)

    # every option is checked before anything is written
    slots = common.slots(args)
    host_limits = common.host_limits(args)
    early_stop = common.early_stop(args)
    from cooperate.grid.config import parse_filters, parse_setting

    wanted = parse_filters(args.filters) if args.filters else None
    settings = [parse_setting(text) for text in args.args] if args.args else None
    kind, where = config_target(args)
    if kind == "experiment" and settings:
        raise UserError("--args changes one yaml config before it is prepared; %s is an "
                        "experiment (liftoff-prepare made it)" % args.config_path)
    script, module = script_for(args.script, modules=kind != "experiment",
                                trusted=args.trust_writable)
    # a run called in this process cannot be stopped (a time limit, early
    # stopping), held back for resources or given a GPU: these need runs as
    # processes, a module path's too
    own_process = args.gpus or any(value is not None for value in (
        args.timeout, args.memfree, args.load, args.gpu_memfree, args.early_stop))
    if script is not None and not args.trust_writable:
        from cooperate.queue.trust import check_script

        check_script(script)
    if kind == "yaml":
        exp, run = make_single(args, where, settings, script), None
    elif kind == "run":
        exp, run = where
    else:
        exp, run = where, None
    queue = open_queue(exp, args.state, args.lock_timeout, history=False,
                       trusted=args.trust_writable, change=True)
    if module is not None:
        in_process = not own_process
    else:
        in_process = kind != "experiment" and defines_run(script) and not (
            own_process or args.procs_no > 1 or (kind == "yaml" and args.runs_no > 1))
    if not in_process and module is None:
        from cooperate.grid.experiment import load_meta, set_script

        recorded = load_meta(exp).get("script")
        if recorded and os.path.realpath(recorded) != os.path.realpath(script):
            raise UserError("%s runs %s, not %s (start workers with `cooperate-run %s` to run "
                            "the recorded script)" % (exp, recorded, script, exp))
        if not recorded:
            set_script(exp, script)
    report = common.Reporter(args.quiet)
    from cooperate.grid.hello import hello_line

    # liftoff's first line, on stdout as liftoff printed it; ours after it
    print(hello_line(), flush=True)
    print("experiment: %s" % exp, file=sys.stderr)
    if args.copy_to_clipboard:
        # liftoff copies the path to the clipboard: it is printed instead
        print(exp)
        sys.stdout.flush()
    # liftoff filters the runs of an experiment; given one config, it runs it
    accept = run_matcher(queue.experiment, wanted) if wanted and kind == "experiment" else None
    if run is not None:
        accept = only_run(queue, run, accept)
    if in_process:
        return run_in_process(queue, script, module, report, args.comment, accept,
                              args.max_runs)
    if args.shuffle:
        queue.shuffle()
    limits = Limits(max_runs=args.max_runs, start_by=args.start_by, end_by=args.end_by,
                    stop_file=os.path.join(exp, ".STOP"))
    # the runs start here, and get the script as it was given, as liftoff's
    # did (the experiment records its absolute path, for other machines); a
    # module path's runs import it from here, as the runs in this process do
    if module is not None:
        hooks = ExperimentHooks(exp, optimize=args.optimize, module=(os.getcwd(),) + module)
    else:
        hooks = ExperimentHooks(exp, args.script if os.path.isfile(args.script) else script,
                                args.optimize)
    worker = Worker(queue, slots, report, limits, poll=args.poll,
                    detach=not args.no_detach, grace=args.grace, accept=accept,
                    hooks=hooks,
                    comment=args.comment, retries=args.retries, lease=args.lease,
                    timeout=args.timeout, resources=host_limits, notify=args.notify,
                    early_stop=early_stop, finish_on_interrupt=True,
                    stop_hint="liftoff-abort %s" % shlex.quote(exp))
    return worker.run()


def add_liftoff_options(p):
    """liftoff's forms of --gpus, --per-gpu and --max-runs (space-separated
    lists; 0 runs meaning no limit) replace the worker's, and its other
    options."""
    p.add_argument("--gpus", nargs="*", type=int_list, default=[], metavar="GPU",
                   help="give each run one of these GPUs in CUDA_VISIBLE_DEVICES "
                        "(--gpus 0 1 2, or --gpus 0,1,2)")
    p.add_argument("--per-gpu", nargs="*", type=int_list, default=[], metavar="K",
                   help="at most K runs per GPU on this host, across all its workers: one count "
                        "for every GPU, or one per GPU (--per-gpu 2 1, or 2,1; default 1)")
    p.add_argument("--max-runs", type=int, metavar="N",
                   help="start at most N runs, then finish them and exit (0 or less: no "
                        "limit)")
    p.add_argument("-O", dest="optimize", action="store_true",
                   help="run the script with python -OO (liftoff's -O)")
    p.add_argument("-v", dest="verbose", action="count", default=0,
                   help="accepted, for liftoff's command lines (each run's start and end are "
                        "always shown, unless -q)")
    p.add_argument("--cc", dest="copy_to_clipboard", action="store_true",
                   help="liftoff copies the experiment's path to the clipboard: it is printed "
                        "on stdout instead")
    p.add_argument("--time-limit", type=int, metavar="MINUTES",
                   help="accepted and ignored, as liftoff 0.3.3 ignores it: use --start-by or "
                        "--end-by (for the whole launch), --timeout (for each run)")


def normalise(args):
    """liftoff's values: lists given as several arguments or comma lists; 0
    for "no limit"; --per-gpu without GPUs ignored."""
    args.gpus = [g for item in args.gpus for g in item] or None
    args.per_gpu = [k for item in args.per_gpu for k in item] or None
    for name in ("start_by", "end_by", "max_runs"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            setattr(args, name, None)
    slurm_gpus = os.environ.get("SLURM_JOB_ID") and os.environ.get("CUDA_VISIBLE_DEVICES")
    if args.per_gpu and not args.gpus and not slurm_gpus:
        print("--per-gpu without --gpus: ignored, as liftoff does", file=sys.stderr)
        args.per_gpu = None


def config_target(args):
    """What CONFIG_PATH names: ("experiment", folder), ("run", (experiment,
    run)) for the cfg.yaml of a run, or ("yaml", (path, default path or
    None, name)) for a config to make an experiment of."""
    from cooperate.grid.experiment import is_experiment

    path = args.config_path
    if path is not None and args.config:
        raise UserError("give CONFIG_PATH or -c NAME, not both")
    if path is not None and is_experiment(path):
        return "experiment", path
    if path is not None and os.path.isdir(path):
        raise UserError("%s is a config folder: prepare it first (liftoff-prepare %s --do), "
                        "then run the experiment it makes" % (path, path))
    default = os.path.join("configs", "default.yaml")
    if path is None:
        if not os.path.isfile(default):
            raise UserError("no CONFIG_PATH and no %s here" % default)
        if args.config:
            path = os.path.join("configs", args.config + ".yaml")
            if not os.path.isfile(path):
                raise UserError("%s: no such config (-c %s)" % (path, args.config))
            return "yaml", (path, default, args.name or args.config)
        path = default
    elif not os.path.isfile(path):
        raise UserError("%s: no such experiment or yaml config" % path)
    run = run_of_config(path)
    if run is not None:
        return "run", run
    return "yaml", (path, None, args.name)


def run_of_config(path):
    """(experiment, run) when the yaml file is a run's config (its out_dir
    is a run folder of an experiment, as liftoff checks), else None."""
    from cooperate.grid.experiment import LEAF_FILE, is_experiment
    from cooperate.grid.config import read_yaml

    try:
        data = read_yaml(path)
    except UserError:
        return None
    out_dir = data.get("out_dir") if isinstance(data, dict) else None
    if not isinstance(out_dir, str) or not out_dir or not os.path.isdir(out_dir):
        return None
    folder = os.path.abspath(out_dir)
    exp = os.path.dirname(os.path.dirname(folder))
    if not os.path.isfile(os.path.join(folder, LEAF_FILE)) or not is_experiment(exp):
        return None
    return exp, os.path.relpath(folder, exp).replace(os.sep, "/")


def script_for(name, modules, trusted=False):
    """(absolute path of the script file, None), or (None, (module, function))
    for a module path, if `modules` allows them (given one yaml config: its
    runs are called in this process, or run as processes that import it
    from the current folder). Unless `trusted`, a module
    path is refused before anything is imported if others can write the
    current folder it is imported from."""
    if os.path.isfile(name):
        return os.path.abspath(name), None
    if modules and MODULE_PATH.match(name):
        if name.endswith(".py"):
            module, function = name[:-3], "run"
        else:
            module, function = name.rsplit(".", 1)
        import importlib.util

        if not trusted:
            from cooperate.queue.trust import check_import_folder

            check_import_folder(os.getcwd(), "the current folder, where the module path %s "
                                "is imported from" % name)
        _import_path()
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        except Exception as err:  # the module's packages ran, and failed
            raise UserError("%s: cannot import %s: %s: %s" % (name, module,
                                                             type(err).__name__, err))
        if found:
            return None, (module, function)
        raise UserError("%s: no such script, and no module %s in %s"
                        % (name, module, os.getcwd()))
    raise UserError("%s: no such script" % name)


def _import_path():
    """Modules are found in the current folder, as liftoff finds them."""
    here = os.getcwd()
    if here not in sys.path:
        sys.path.append(here)


def make_single(args, where, settings, script):
    """The experiment of one yaml config (over a default, with --args)."""
    from cooperate.grid import config as grid
    from cooperate.grid.experiment import create

    path, default, name = where
    g = grid.load_single(path, default)
    if settings:
        (variation,) = g.variations
        config = grid.apply_settings(variation.config, settings)
        g.variations = [grid.Variation(config, variation.assignment, variation.title,
                                       variation.source, variation.arguments,
                                       grid.cfg_hash(config))]
    return create(g, args.results_path, name=name, runs_no=args.runs_no, script=script)


def only_run(queue, run, accept):
    """Launching a run's cfg.yaml runs that run again: make it pending if it
    ended; refuse if it runs or is held. The accept test for it."""
    entries = queue.list.entries()
    ids = [queue.list.ids[i] for i, e in enumerate(entries)
           if isinstance(e, dict) and e.get("run") == run]
    if not ids:
        raise UserError("%s: no run %s in its queue" % (queue.experiment, run))
    queue.read()
    status = queue.status_of(ids[0])
    if status == RUNNING:
        raise UserError("%s/%s is running (liftoff-status shows where; liftoff-clean makes a "
                        "stale run pending again)" % (queue.experiment, run))
    if status == HELD:
        raise UserError("%s/%s is held: liftoff-unlock it first" % (queue.experiment, run))
    if status != PENDING:
        queue.retry(ids)
    return lambda entry: entry.get("run") == run and (accept is None or accept(entry))


def defines_run(script):
    """Does the script define a top-level run(opts)? (read, not imported)"""
    import ast

    try:
        with open(script, "rb") as f:
            tree = ast.parse(f.read(), script)
    except (OSError, SyntaxError, ValueError):
        return False
    return any(isinstance(node, ast.FunctionDef) and node.name == "run" for node in tree.body)


class Function:
    """The function a run calls in this process, imported on first use."""

    def __init__(self, script, module):
        self.script, self.module = script, module
        self.function = None

    def __call__(self, opts):
        if self.function is None:
            self.function = self._load()
        return self.function(opts)

    def _load(self):
        import importlib

        if self.module is not None:
            name, attribute = self.module
            _import_path()
            module = importlib.import_module(name)
        else:
            import importlib.util

            attribute = "run"
            sys.path.insert(0, os.path.dirname(self.script))
            spec = importlib.util.spec_from_file_location("liftoff_script", self.script)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        function = getattr(module, attribute, None)
        if not callable(function):
            raise UserError("%s has no function %s(opts)" % (
                self.module[0] if self.module else self.script, attribute))
        return function


def run_in_process(queue, script, module, report, comment, accept=None, max_runs=None):
    """liftoff's single-config mode: call the script's function in this
    process, one run after the other, output on this terminal; each run is
    recorded in the queue like any run, and marked in its folder as
    liftoff's wrapper marks it."""
    import traceback

    from liftoff import parse_opts

    from cooperate.grid.experiment import mark_ended, mark_started

    function = Function(script, module)
    worker = Worker(queue, Slots(1), report, comment=comment)
    info = worker.info()
    # no guard, and its runs die with it
    info["in_process"] = True
    queue.join(worker.id, info)
    ends, ran, code = [], 0, 0
    while True:
        more = max_runs is None or ran < max_runs
        claim = queue.take(worker.id, ends, claim=more, accept=accept)
        ends = []
        if claim is None:
            break
        ran += 1
        report("start", claim=claim, gpu=None)
        run = claim.entry["run"]
        _mark(mark_started, queue.experiment, run, "")
        cfg = os.path.join(queue.experiment, run, "cfg.yaml")
        outcome, status = DONE, 0
        started = time.monotonic()
        try:
            function(parse_opts([cfg]))
        except KeyboardInterrupt:
            outcome, status = INTERRUPTED, 130
        except UserError as err:  # no such function in the module
            print("error: %s" % err, file=sys.stderr)
            outcome, status = FAILED, 1
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
            if status:
                outcome = FAILED
        except BaseException:
            traceback.print_exc()
            outcome, status = FAILED, 1
        sys.stdout.flush()
        _mark(mark_ended, queue.experiment, run, outcome)
        report("end", claim=claim, outcome=outcome, code=status,
               seconds=time.monotonic() - started, message=None)
        ends = [(claim.id, claim.attempt, outcome, status, False)]
        if outcome != DONE:
            code = status
        if outcome == INTERRUPTED:
            queue.take(worker.id, ends, claim=False)
            break
    if not ran:
        print("nothing pending", file=sys.stderr)
    queue.leave(worker.id, code)
    return code


def _mark(mark, *args):
    try:
        mark(*args)
    except OSError:
        pass
