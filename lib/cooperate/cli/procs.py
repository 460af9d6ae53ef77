"""liftoff-procs: the workers and their runs, from the toolkit's records."""

import os
import sys
import time

from cooperate import fmt
from cooperate.queue import host
from cooperate.cli.args import Parser
from cooperate.errors import UserError
from cooperate.queue.core import RUNNING
from cooperate.grid.source import open_queue
from cooperate.cli.targets import add_timestamp_fmt, add_trust, is_path, parse_mixed, worked_on

DESCRIPTION = """\
List the live workers on this machine (-a: on every machine) and the runs
each holds, for the experiments under ./results and the lists and
experiments your workers joined lately (wherever they are; remembered in
~/.local/state/cooperate/recent), or for the TARGETs given: list files,
experiment folders, or a part of experiments' names (as liftoff-procs
EXPERIMENT). A worker's pid is the process that was started
(its guard, if it has one): liftoff-abort PID stops it. It reads the shared
records the workers keep (never `ps`), so it also sees workers on other
machines."""


def main(argv, prog):
    p = Parser(prog, DESCRIPTION)
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="list files, experiment folders, or parts of experiments' names "
                        "(default: every experiment)")
    p.add_argument("-a", "--all", action="store_true", help="workers on every machine")
    p.add_argument("--results-path", default="results", metavar="DIR",
                   help="where experiments are (default ./results)")
    add_timestamp_fmt(p, "accepted, as liftoff-procs accepts it")
    p.add_argument("--do", action="store_true", help="accepted and ignored, as liftoff-procs "
                                                     "ignores it")
    add_trust(p)
    args = parse_mixed(p, argv)

    targets, unmatched = [], []
    names = [t for t in args.targets if not is_path(t, args.results_path)]
    experiments = []
    if names or not args.targets:
        from cooperate.grid.experiment import list_experiments

        experiments = list_experiments(args.results_path)
    for t in args.targets:
        if is_path(t, args.results_path):
            targets.append(t)
        else:
            found = [e for e in experiments if t in os.path.basename(e)]
            targets += [e for e in found if e not in targets]
            if not found:
                unmatched.append(t)
    # lists remembered by workers may have gone or gone bad since: skipped,
    # as is one that is no longer this user's alone (a list once run in /tmp
    # and deleted can be made again there by anyone), --trust-writable or not
    remembered = set()
    if not args.targets:
        from cooperate.queue.trust import alone
        from cooperate.run import recent

        targets = [e for e in experiments if worked_on(e)]
        seen = {os.path.realpath(t) for t in targets}
        for path in recent.paths():
            if os.path.realpath(path) not in seen and os.path.exists(path) and alone(path):
                seen.add(os.path.realpath(path))
                targets.append(path)
                remembered.add(path)
    here = host.hostname()
    now = time.time()
    lines = []
    for target in targets:
        try:
            queue = open_queue(target, reader=True, packed=True,
                               trusted=args.trust_writable and target not in remembered)
            queue.read()
        except UserError:
            if target in remembered:
                continue
            raise
        held = {}
        for index, id_ in enumerate(queue.list.ids):
            if queue.status_of(id_) == RUNNING:
                a = queue.state.last(id_)
                held.setdefault(a.worker, []).append((index, id_, a))
        for worker, info in sorted(queue.state.workers.items(), key=lambda w: w[1].get("since", 0)):
            if (not args.all and info.get("host") != here) or not queue.leases.worker_alive(worker):
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
        lines.append("no live workers%s for %s" % (
            "" if args.all else " on this machine (-a: all machines)",
            ", ".join(args.targets) if args.targets else "the experiments under %s or the lists "
            "your workers joined lately (name a list: procs LIST)" % args.results_path))
    for name in unmatched:
        lines.append("(no experiment under %s matches %r)" % (args.results_path, name))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
