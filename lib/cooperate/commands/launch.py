"""liftoff: run a script on an experiment, or on one yaml config."""

import os
import sys
import time

from . import _worker as common
from ..args import Parser, positive_int, seconds
from ..errors import UserError
from ..launcher import Slots
from ..queue import DONE, FAILED, Queue
from ..worker import Limits, Worker

DESCRIPTION = """\
Run SCRIPT on CONFIG_PATH, liftoff's way:
  - a prepared experiment (liftoff-prepare ... --do): run its pending runs;
  - one yaml file: make an experiment of that one config (--runs-no runs of
    it) and run it;
  - nothing: configs/default.yaml, or with -c NAME configs/NAME.yaml over it.
Each run is `<this python> SCRIPT <run folder>/cfg.yaml`, in its own process
group; `from liftoff import parse_opts` works in the script even where
nothing is installed. A script that defines run(opts), given one yaml file,
is called in this process, as liftoff does.

The experiment is a queue: `cooperate-run EXP` (or this command) on any
other machine that shares the folder takes runs from it too, none twice;
`liftoff-status`, `liftoff-abort` see and stop all of them. The script is
recorded in the experiment the first time, so other machines need not name
it. A `.STOP` file in the experiment folder stops launching."""

EPILOG = """\
examples:
  liftoff train.py results/2026Nov22-101500_sweep --procs-no 4 --gpus 0,1 --per-gpu 2
  liftoff train.py configs/default.yaml --runs-no 3
  liftoff train.py -c diff
  liftoff train.py results/2026Nov22-101500_sweep --end-by 3600 --filters optim.lr=0.1"""


def main(argv, prog):
    p = Parser(prog, DESCRIPTION, EPILOG)
    p.add_argument("script", metavar="SCRIPT", help="the script each run executes")
    p.add_argument("config_path", nargs="?", metavar="CONFIG_PATH",
                   help="a prepared experiment folder or one yaml config")
    p.add_argument("-c", "--config", metavar="NAME",
                   help="without CONFIG_PATH: configs/NAME.yaml over configs/default.yaml")
    p.add_argument("--runs-no", type=positive_int, default=1, metavar="N",
                   help="with one yaml config: how many runs of it (default 1)")
    p.add_argument("--name", help="with one yaml config: the experiment's name")
    p.add_argument("--results-path", default="results", metavar="DIR",
                   help="where experiments are made (default ./results)")
    common.add_options(p)
    p.add_argument("--start-by", type=seconds, metavar="S",
                   help="start nothing new S seconds after launching")
    p.add_argument("--end-by", type=seconds, metavar="S",
                   help="like --start-by, and each run gets ENDBY: the seconds left of S")
    p.add_argument("--filters", nargs="+", default=[], metavar="KEY.PATH=VALUE",
                   help="only runs whose config has these values (parsed like YAML)")
    p.add_argument("--shuffle", action="store_true", help="take runs in a random order")
    p.add_argument("--comment", help="a note kept with this launch, shown by liftoff-status")
    args = p.parse_args(argv)

    script = os.path.abspath(args.script)
    if not os.path.isfile(script):
        raise UserError("%s: no such script" % args.script)
    # every option is checked before anything is written
    slots = common.slots(args)
    accept = config_filter(args.filters) if args.filters else None
    exp, single = experiment_for(args, script)
    queue = Queue(exp, args.state, args.lock_timeout, history=False, trusted=args.trust_writable)
    if not args.trust_writable:
        from ..trust import check_paths

        check_paths([script])
    from ..experiment import load_meta, set_script

    recorded = load_meta(exp).get("script")
    if recorded and os.path.realpath(recorded) != os.path.realpath(script):
        raise UserError("%s runs %s, not %s (start workers with `cooperate-run %s` to run "
                        "the recorded script)" % (exp, recorded, script, exp))
    if not recorded:
        set_script(exp, script)
    report = common.Reporter(args.quiet)
    print("experiment: %s" % exp, file=sys.stderr)
    if single and defines_run(script) and not (args.gpus or args.procs_no > 1 or args.runs_no > 1):
        return run_in_process(queue, script, report, args.comment)
    if args.shuffle:
        queue.shuffle()
    limits = Limits(max_runs=args.max_runs, start_by=args.start_by, end_by=args.end_by,
                    stop_file=os.path.join(exp, ".STOP"))
    worker = Worker(queue, slots, report, limits, poll=args.poll,
                    detach=not args.no_detach, grace=args.grace, accept=accept, script=script,
                    comment=args.comment, retries=args.retries, lease=args.lease)
    return worker.run()


def config_filter(texts):
    """Accept the runs whose config has these values (`key.path=value`)."""
    from ..grid import matches, parse_filters

    wanted = parse_filters(texts)
    return lambda entry: matches(entry.get("cfg", {}), wanted)


def experiment_for(args, script):
    """The experiment to run, made first from one yaml config if needed.
    Returns (folder, made from one config)."""
    from ..experiment import is_experiment, single

    path = args.config_path
    if path is not None and args.config:
        raise UserError("give CONFIG_PATH or -c NAME, not both")
    if path is not None and is_experiment(path):
        return path, False
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
            return single(path, args.results_path, name=args.name or args.config,
                          runs_no=args.runs_no, script=script, default=default), True
        path = default
    elif not os.path.isfile(path):
        raise UserError("%s: no such experiment or yaml config" % path)
    return single(path, args.results_path, name=args.name, runs_no=args.runs_no,
                  script=script), True


def defines_run(script):
    """Does the script define a top-level run(opts)? (read, not imported)"""
    import ast

    try:
        with open(script, "rb") as f:
            tree = ast.parse(f.read(), script)
    except (OSError, SyntaxError, ValueError):
        return False
    return any(isinstance(node, ast.FunctionDef) and node.name == "run" for node in tree.body)


def run_in_process(queue, script, report, comment):
    """liftoff's single-config mode: import the script and call run(opts) in
    this process, output on this terminal; recorded in the queue like any run."""
    import importlib.util
    import traceback

    from liftoff import parse_opts

    worker = Worker(queue, Slots(1), report, comment=comment)
    queue.join(worker.id, worker.info())
    claim = queue.take(worker.id)
    if claim is None:
        queue.leave(worker.id, 0)
        print("nothing pending", file=sys.stderr)
        return 0
    report("start", claim=claim, gpu=None)
    cfg = os.path.join(queue.experiment, claim.entry["run"], "cfg.yaml")
    outcome, code = DONE, 0
    started = time.monotonic()
    sys.path.insert(0, os.path.dirname(script))
    try:
        spec = importlib.util.spec_from_file_location("liftoff_script", script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.run(parse_opts([cfg]))
    except KeyboardInterrupt:
        outcome, code = "interrupted", 130
    except BaseException:
        traceback.print_exc()
        outcome, code = FAILED, 1
    report("end", claim=claim, outcome=outcome, code=code, seconds=time.monotonic() - started,
           message=None)
    queue.take(worker.id, [(claim.id, claim.attempt, outcome, code, False)], claim=False)
    queue.leave(worker.id, code)
    return 0 if outcome == DONE else code
