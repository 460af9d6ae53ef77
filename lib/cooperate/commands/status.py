"""cooperate-status: what happened to a list, read from its shared state."""

import json
import sys
import time

from .. import fmt
from ..args import Parser
from ..queue import DONE, FAILED, PENDING, RUNNING, Queue

DESCRIPTION = """\
Show how far LIST is: how many entries are pending, running, done, failed,
and stale (running on a worker that looks dead: its process is gone, its
machine rebooted, or it has not been heard from for its lease). Then, per
running entry, its host, pid and elapsed time; per failed entry, its exit
code and log. It reads only the shared state, so it shows every machine's
work, and it takes no lock: it is safe to run under `watch`."""


def main(argv, prog):
    p = Parser(prog, DESCRIPTION)
    p.add_argument("list", metavar="LIST", help="the JSON list of commands")
    p.add_argument("--state", metavar="DIR",
                   help="the state folder (default LIST.cooperate beside the list)")
    p.add_argument("--json", action="store_true", help="print one JSON object, for scripts")
    args = p.parse_args(argv)

    queue = Queue(args.list, args.state, reader=True)
    queue.read()
    report = summarise(queue)
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(report, sys.stdout.isatty()))
    return 0


def summarise(queue):
    now = time.time()
    counts = {PENDING: 0, RUNNING: 0, DONE: 0, FAILED: 0, "stale": 0}
    running, failed = [], []
    state, workers = queue.state, queue.state.workers
    for index, id_ in enumerate(queue.list.ids):
        status = queue.status_of(id_)
        if status == RUNNING:
            a = state.last(id_)
            info = workers.get(a.worker, {})
            stale = queue.is_stale(a, now)
            status = "stale" if stale else RUNNING
            running.append({"id": id_, "attempt": a.number, "worker": a.worker,
                            "host": info.get("host"), "pid": info.get("pid"),
                            "started": a.start, "elapsed": now - a.start, "stale": stale,
                            "command": queue.list.describe(index)})
        elif status == FAILED:
            a = state.last(id_)
            out, err = queue.log_paths(id_, a.number)
            failed.append({"id": id_, "attempt": a.number, "code": a.code,
                           "host": workers.get(a.worker, {}).get("host"),
                           "ended": a.end, "out": out, "err": err,
                           "command": queue.list.describe(index)})
        counts[status] += 1
    report = {"list": queue.list.path, "state": queue.dir, "total": len(queue.list.ids),
              "counts": counts, "running": running, "failed": failed}
    if queue.unreadable:
        report["unreadable_records"] = queue.unreadable
    return report


def render(report, terminal):
    counts, total = report["counts"], report["total"]
    finished = counts[DONE] + counts[FAILED]
    lines = ["%s: %d entries: %s" % (
        report["list"], total,
        ", ".join("%d %s" % (counts[k], k) for k in (PENDING, RUNNING, DONE, FAILED, "stale")))]
    if terminal and total:
        width = 40
        filled = width * finished // total
        lines.append("[%s%s] %d%%" % ("#" * filled, "-" * (width - filled), 100 * finished // total))
    if report["running"]:
        lines.append("running:")
        for r in report["running"]:
            lines.append("  %s#%d  %s pid %s  %s%s  %s" % (
                r["id"], r["attempt"], r["host"], r["pid"], fmt.duration(r["elapsed"]),
                "  STALE (worker looks dead)" if r["stale"] else "",
                fmt.shorten(r["command"], 60)))
    if report["failed"]:
        lines.append("failed:")
        for r in report["failed"]:
            lines.append("  %s#%d  %s  %s  %s" % (r["id"], r["attempt"], fmt.exit_text(r["code"]),
                                                  r["err"], fmt.shorten(r["command"], 50)))
    if report.get("unreadable_records"):
        lines.append("warning: %d unreadable records in %s/journal were skipped"
                     % (report["unreadable_records"], report["state"]))
    return "\n".join(lines) + "\n"
