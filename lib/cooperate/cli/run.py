"""cooperate-run: be a worker on a list."""

import os
import sys

from cooperate import fmt

from cooperate.cli import workeropts as common
from cooperate.cli.args import Parser
from cooperate.grid.source import open_queue
from cooperate.run.worker import Limits, Worker

DESCRIPTION = """\
Be a worker on LIST: take the next pending entry, run it, record how it
ended, and go on until nothing is pending. LIST may also be a liftoff
experiment folder (made by liftoff-prepare): its runs execute its script. Start one in every place (machine,
folder) where you would run the commands by hand; they share the work through
the state folder beside the list (LIST.cooperate/), which every machine sees.

Each run starts in the folder the worker was started from (or the entry's
own "cwd"), without a shell, with COOPERATE_ENTRY, COOPERATE_ATTEMPT and
COOPERATE_WORKER in its environment. Its output goes to
LIST.cooperate/logs/PRE/ID.ATTEMPT.out and .err (PRE: the id's first three
hex digits); a run that printed nothing leaves no file. A failed run is
recorded and the worker goes on.

Ctrl-C or SIGTERM stops the running commands (TERM to each process group,
--grace seconds, then KILL) and records them as interrupted: they are
pending again for the next worker. A run past its time limit (--timeout, or
the entry's "timeout") is stopped the same way and recorded as timed out.
A closed terminal (SIGHUP) stops nothing: the worker and its runs go on in
the background, its lines going to LIST.cooperate/logs/workers/WORKER.log.

With --memfree, --load or --gpu-memfree, a run starts only while this host
has that much memory, a load under N, or a GPU with that much free memory;
the worker waits meanwhile (one line says why) and looks again every second."""

EPILOG = """\
exit status: 0 every run succeeded, 1 a run failed, 2 bad input or usage,
128+N stopped by signal N.

examples:
  cooperate-run exps.json                    one run at a time
  cooperate-run exps.json --procs-no 4       four at once
  cooperate-run exps.json --gpus 0,1 --per-gpu 2   at most 2 runs per GPU on this host
  cooperate-run exps.json --wait             keep waiting for appended entries
  cooperate-run exps.json --timeout 3600 --retries 1   stop runs after an hour, retry once
  cooperate-run exps.json --procs-no 8 --memfree 4G --load 16   start runs while there is room
  cooperate-run exps.json --gpus 0,1,2,3 --gpu-memfree 20G   only on GPUs with 20 GB free"""


def busy_here(queue, slots):
    """Is a worker of this queue already on this host for what `slots`
    asks? Without GPUs: any live one. With GPUs: live ones of this queue
    that have, between them, every GPU asked for (an idle one counts: it
    takes the slot when an entry comes), or every slot asked for is taken
    now (by any worker of this user)."""
    here = queue.leases.live_workers_here()
    if not slots.gpus:
        return bool(here)
    covered = set()
    for worker in here:
        covered.update(queue.state.workers[worker].get("gpus") or ())
    return covered >= set(slots.gpus) or not slots.any_free()


def main(argv, prog):
    p = Parser(prog, DESCRIPTION, EPILOG)
    p.add_argument("list", metavar="LIST",
                   help="the JSON list of commands, or a liftoff experiment folder")
    common.add_options(p)
    p.add_argument("--stop-on-error", action="store_true",
                   help="after a failed run, start nothing new (cooperate's old behaviour)")
    p.add_argument("--wait", action="store_true",
                   help="when nothing is pending, wait for entries appended later "
                        "instead of exiting (for cron and daemons)")
    p.add_argument("--exit-if-busy", action="store_true",
                   help="exit at once (status 0) if a live worker on this host already "
                        "works on LIST (with --gpus: live workers of LIST here have every GPU "
                        "asked for, idle or not, or other workers hold every GPU slot asked "
                        "for): a cron line that starts workers never stacks them up")
    args = p.parse_args(argv)

    queue = open_queue(args.list, args.state, args.lock_timeout, history=False,
                       trusted=args.trust_writable, change=True)
    slots = common.slots(args)
    host_limits = common.host_limits(args)
    if args.exit_if_busy:
        queue.read()
        if busy_here(queue, slots):
            print("%s %s busy on this host: not starting another worker" % (
                fmt.clock(), "GPU slots %s" % ",".join(slots.gpus) if slots.gpus else args.list),
                file=sys.stderr)
            return 0
    stop_file = None if queue.experiment is None else os.path.join(queue.experiment, ".STOP")
    limits = Limits(max_runs=args.max_runs, stop_on_error=args.stop_on_error, stop_file=stop_file)
    worker = Worker(queue, slots, common.Reporter(args.quiet), limits, wait=args.wait,
                    poll=args.poll, detach=not args.no_detach, grace=args.grace,
                    hooks=common.experiment_hooks(queue), retries=args.retries, lease=args.lease,
                    timeout=args.timeout, resources=host_limits, notify=args.notify,
                    early_stop=common.early_stop(args))
    return worker.run()
