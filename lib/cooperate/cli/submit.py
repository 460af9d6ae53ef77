"""cooperate-submit: start workers as a Slurm job array."""

import os
import sys
import time

from cooperate.cli.args import Parser, positive_int
from cooperate.errors import UserError
from cooperate.cli import workeropts as common
from cooperate.queue.files import open_own
from cooperate.grid.source import open_queue
from cooperate.cli import targets

DESCRIPTION = """\
Start N workers on TARGET (a list or a liftoff experiment) as a Slurm job
array: writes an sbatch script (one array task = one worker running this
toolkit with this Python), submits it, and prints the job id and where the
workers' logs go. The workers share the queue with any other worker, on any
machine: status, abort, retry and leases work as everywhere. Under Slurm a
worker uses the GPUs Slurm gives it (CUDA_VISIBLE_DEVICES) unless --gpus
says otherwise. `scancel` stops the workers, and their runs become pending
again; a task Slurm kills outright is taken back through the lease."""

EPILOG = """\
examples:
  cooperate-submit exps.json --workers 8 --partition gpu --gres gpu:1 --time 4:00:00
  cooperate-submit results/2026Nov22-101500_sweep --workers 20 --throttle 5
  cooperate-submit exps.json --workers 4 --dry-run        (print the script)
  cooperate-submit exps.json --workers 4 -- --procs-no 2 --retries 1
                                     (after --: options for each worker, as for `run`)"""


def main(argv, prog):
    p = Parser(prog, DESCRIPTION, EPILOG)
    targets.add_target(p)
    p.add_argument("--slurm", action="store_true",
                   help="submit to Slurm (the default: the only scheduler for now)")
    p.add_argument("--python", default="python3", metavar="PYTHON",
                   help="the Python that runs the workers on the nodes: a name on their PATH "
                        "or a path there (default python3)")
    p.add_argument("--workers", type=positive_int, required=True, metavar="N",
                   help="how many workers: the array's size")
    p.add_argument("--partition", help="sbatch --partition")
    p.add_argument("--time", help="sbatch --time, e.g. 4:00:00")
    p.add_argument("--gres", help="sbatch --gres, e.g. gpu:1")
    p.add_argument("--throttle", type=positive_int, metavar="K",
                   help="at most K tasks at once (the array's %%K)")
    p.add_argument("--sbatch", action="append", default=[], metavar="LINE",
                   help="an extra sbatch option, e.g. --sbatch mem=16G (repeatable)")
    p.add_argument("--name", help="the job's name (default cooperate-<list>)")
    p.add_argument("--dry-run", action="store_true", help="print the script, submit nothing")
    if "--" in argv:
        argv, worker_args = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    else:
        worker_args = []
    args = p.parse_args(argv)

    from cooperate.remote.slurm import script, submit

    target = targets.target(args)
    queue = open_queue(target, args.state, history=False, trusted=args.trust_writable, change=True)
    common.experiment_hooks(queue)
    if args.state:
        worker_args = ["--state", os.path.abspath(args.state)] + worker_args
    log_dir = os.path.join(os.path.abspath(queue.dir), "slurm")
    name = args.name or "cooperate-" + os.path.basename(os.path.normpath(target))
    text = script(target, args.workers, log_dir, worker_args, name=name,
                  partition=args.partition, time=args.time, gres=args.gres,
                  throttle=args.throttle, extra=args.sbatch, python=args.python)
    if args.dry_run:
        sys.stdout.write(text)
        return 0
    queue.create_state_dir(("logs", "workers", "slurm"))
    try:
        path = os.path.join(log_dir, "submit-%s.sh" % time.strftime("%Y%m%d-%H%M%S"))
        with os.fdopen(open_own(path, queue.file_mode), "w") as f:
            f.write(text)
    except OSError as error:
        raise UserError("cannot write the sbatch script in %s: %s" % (log_dir, error.strerror))
    job = submit(path)
    print("submitted job %s: %d workers on %s" % (job, args.workers, target))
    print("script: %s" % path)
    print("worker logs: %s" % os.path.join(log_dir, "%s_<task>.out" % job))
    print("stop them: scancel %s   (their runs become pending again)" % job)
    return 0
