"""cooperate-run: be a worker on a list."""

import os
import sys

from .. import fmt
from ..args import Parser, int_list, positive_int, seconds
from ..errors import UserError
from ..launcher import Slots
from ..queue import DEFAULT_LOCK_TIMEOUT, Queue
from ..worker import Worker

DESCRIPTION = """\
Be a worker on LIST: take the next pending entry, run it, record how it
ended, and go on until nothing is pending. Start one in every place (machine,
folder) where you would run the commands by hand; they share the work through
the state folder beside the list (LIST.cooperate/), which every machine sees.

Each run starts in the folder the worker was started from (or the entry's
own "cwd"), without a shell, with COOPERATE_ENTRY, COOPERATE_ATTEMPT and
COOPERATE_WORKER in its environment. Its output goes to
LIST.cooperate/logs/ID.ATTEMPT.out and .err. A failed run is recorded and
the worker goes on.

Ctrl-C or SIGTERM stops the running commands (TERM to each process group,
--grace seconds, then KILL) and records them as interrupted: they are
pending again for the next worker."""

EPILOG = """\
exit status: 0 every run succeeded, 1 a run failed, 2 bad input or usage,
128+N stopped by signal N.

examples:
  cooperate-run exps.json                    one run at a time
  cooperate-run exps.json --procs-no 4       four at once
  cooperate-run exps.json --gpus 0,1 --per-gpu 2   at most 2 runs per GPU on this host
  cooperate-run exps.json --wait             keep waiting for appended entries"""


def main(argv, prog):
    p = Parser(prog, DESCRIPTION, EPILOG)
    p.add_argument("list", metavar="LIST", help="the JSON list of commands")
    p.add_argument("--procs-no", type=positive_int, default=1, metavar="N",
                   help="run up to N entries at once (default 1)")
    p.add_argument("--gpus", type=int_list, metavar="0,1",
                   help="give each run one of these GPUs in CUDA_VISIBLE_DEVICES")
    p.add_argument("--per-gpu", type=int_list, metavar="K",
                   help="at most K runs per GPU on this host, across all its workers "
                        "(one value, or one per GPU; default 1)")
    p.add_argument("--max-runs", type=positive_int, metavar="N",
                   help="start at most N runs, then finish them and exit")
    p.add_argument("--stop-on-error", action="store_true",
                   help="after a failed run, start nothing new (cooperate's old behaviour)")
    p.add_argument("--wait", action="store_true",
                   help="when nothing is pending, wait for entries appended later "
                        "instead of exiting (for cron and daemons)")
    p.add_argument("--poll", type=seconds, default=2.0, metavar="S",
                   help="with --wait, or when all GPU slots are taken, look again every S "
                        "seconds (default 2)")
    p.add_argument("--no-detach", action="store_true",
                   help="runs print to this terminal instead of their log files")
    p.add_argument("--grace", type=seconds, default=10.0, metavar="S",
                   help="when stopping, seconds between TERM and KILL (default 10)")
    p.add_argument("--state", metavar="DIR",
                   help="the state folder (default LIST.cooperate beside the list)")
    p.add_argument("--lock-timeout", type=seconds, default=DEFAULT_LOCK_TIMEOUT, metavar="S",
                   help="give up after waiting S seconds for the queue lock (default %g)"
                        % DEFAULT_LOCK_TIMEOUT)
    p.add_argument("-q", "--quiet", action="store_true", help="print only failures")
    args = p.parse_args(argv)

    per_gpu = None
    if args.per_gpu:
        if not args.gpus:
            raise UserError("--per-gpu needs --gpus")
        per_gpu = [int(k) for k in args.per_gpu]
        if len(per_gpu) == 1:
            per_gpu *= len(args.gpus)
        if len(per_gpu) != len(args.gpus) or min(per_gpu) < 1:
            raise UserError("--per-gpu takes one count >= 1, or one per GPU (%d GPUs in --gpus, "
                            "%d counts given)" % (len(args.gpus), len(per_gpu)))

    queue = Queue(args.list, args.state, args.lock_timeout, history=False)
    slots = Slots(args.procs_no, args.gpus, per_gpu)
    worker = Worker(queue, slots, Reporter(args.quiet), max_runs=args.max_runs,
                    stop_on_error=args.stop_on_error, wait=args.wait, poll=args.poll,
                    detach=not args.no_detach, grace=args.grace)
    return worker.run()


class Reporter:
    """One line per event on stderr, with a time stamp."""

    def __init__(self, quiet):
        self.quiet = quiet

    def __call__(self, event, **info):
        claim = info.get("claim")
        if event == "start":
            if self.quiet:
                return
            where = "" if info["gpu"] is None else " on GPU %s" % info["gpu"]
            line = "start %s#%d%s: %s" % (claim.id, claim.attempt, where, fmt.shorten(claim.label, 100))
        elif event == "end":
            if info["outcome"] == "done":
                if self.quiet:
                    return
                line = "done  %s#%d in %s" % (claim.id, claim.attempt, fmt.duration(info["seconds"]))
            elif info["outcome"] == "failed":
                line = "FAILED %s#%d: %s" % (claim.id, claim.attempt,
                                             info["message"] or fmt.exit_text(info["code"]))
                if os.path.exists(claim.err):
                    line += ", log %s" % claim.err
            else:
                line = "%s %s#%d after %s (pending again)" % (
                    info["outcome"], claim.id, claim.attempt, fmt.duration(info["seconds"]))
        else:
            line = "stopped by signal %d: runs interrupted, they are pending again" % info["signum"]
        sys.stderr.write("%s %s\n" % (fmt.clock(), line))
        sys.stderr.flush()
