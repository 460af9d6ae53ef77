"""liftoff-procs: the workers and their runs, from the toolkit's records."""

import sys
import time

from .. import fmt, host
from ..args import Parser
from ..queue import RUNNING, Queue
from ._select import add_trust

DESCRIPTION = """\
List the live workers on this machine (-a: on every machine) and the runs
each holds, for the experiments under ./results or the TARGETs given (list
files or experiment folders). It reads the shared records the workers keep
(never `ps`), so it also sees workers on other machines."""


def main(argv, prog):
    p = Parser(prog, DESCRIPTION)
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="list files or experiment folders (default: every experiment)")
    p.add_argument("-a", "--all", action="store_true", help="workers on every machine")
    p.add_argument("--results-path", default="results", metavar="DIR",
                   help="where experiments are (default ./results)")
    add_trust(p)
    args = p.parse_args(argv)

    targets = args.targets
    if not targets:
        from ..experiment import list_experiments

        targets = list_experiments(args.results_path)
    here = host.hostname()
    now = time.time()
    lines = []
    for target in targets:
        queue = Queue(target, reader=True, trusted=args.trust_writable)
        queue.read()
        held = {}
        for index, id_ in enumerate(queue.list.ids):
            if queue.status_of(id_) == RUNNING:
                a = queue.state.last(id_)
                held.setdefault(a.worker, []).append((index, id_, a))
        for worker, info in sorted(queue.state.workers.items(), key=lambda w: w[1].get("since", 0)):
            if (not args.all and info.get("host") != here) or not queue.worker_alive(worker, now):
                continue
            # the pid the user started: the worker's guard, if it has one
            lines.append("%s  %s  pid %s  since %s  %d slots  %s%s" % (
                worker, info.get("host"), info.get("guard") or info.get("pid"),
                fmt.clock(info.get("since")),
                info.get("slots", 1), queue.experiment or queue.list.path,
                "  (%s)" % info["comment"] if info.get("comment") else ""))
            for index, id_, a in held.get(worker, []):
                lines.append("    %s#%d  %s  %s" % (id_, a.number, fmt.duration(now - a.start),
                                                    fmt.shorten(queue.list.describe(index), 60)))
    if not lines:
        lines.append("no live workers%s" % ("" if args.all else " on this machine (-a: all machines)"))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
