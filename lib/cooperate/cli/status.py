"""cooperate-status / liftoff-status: how far lists and experiments are,
read from their shared state."""

import os
import sys
import time

from cooperate import fmt
from cooperate.queue.core import ABORTED, DONE, FAILED, HELD, PENDING, RUNNING, TIMEOUT
from cooperate.grid.source import open_queue
from cooperate.results.summary import BLOCKED, CLAIMED, COLUMNS, summarise
from cooperate.cli.options import Options
from cooperate.cli.targets import add_timestamp_fmt, add_trust, called_as, is_path, parse_mixed

DESCRIPTION = """\
Show how far a list or a liftoff experiment is: how many entries are
pending, running, claimed (while runs are short a worker claims a batch and
runs it one after another: those not running now), done (of which pruned:
stopped early by --early-stop, a success), failed, aborted, held, and stale
(running on a worker that looks dead: it and its guard are gone, its
machine rebooted, or --watch saw its heartbeat unchanged for its lease; run
once, status cannot judge a worker on another machine: it never compares
two machines' clocks), and in a list whose entries have "after", blocked
(pending, but waiting for an entry that failed or was aborted: it never
starts unless that one is retried and succeeds). For one list or
experiment, also per running entry its host, the worker's and the run's
pids and elapsed time, per failed entry its exit code and log, per blocked
entry what it waits for. Without TARGET: the latest experiment under
./results (-a: all of them); a TARGET that is not a path picks experiments
by name.

It reads only the shared state, so it shows every machine's work, and it
takes no lock: it is safe to run under `watch`."""

LIFTOFF_DESCRIPTION = """\
Show how far liftoff experiments are, as liftoff-status does: one row per
experiment (the latest under ./results; -a: all of them; EXPERIMENT: those
whose name contains it, or an experiment folder) with liftoff's columns:
  Total     runs
  Locked    running, claimed (a worker's batch), and held (liftoff-lock)
  Done      ended well (pruned runs too: stopped early by --early-stop)
  Dead      failed or aborted (liftoff-clean makes them pending again)
  Lost      stale: running on a worker that looks dead (only when some are)
  Progress  the share of runs that ended
  ETL       the time left (H:MM:SS) at the pace of the runs that ended, on as
            many slots as are busy; - before the first one ends
--details shows cooperate-status's view instead (per running run its host,
pid and time, per failed run its exit code and log), --json the same for
scripts. It reads only the shared state, so it shows every machine's work,
and it takes no lock: it is safe to run under `watch`."""

# blocked entries shown one per line at most (--json has them all)
SHOW_BLOCKED = 20
# how often --wait looks
WAIT_EVERY = 2.0


def main(argv, prog):
    liftoff = called_as(prog, "liftoff-status")
    p = Options(prog, LIFTOFF_DESCRIPTION if liftoff else DESCRIPTION)
    p.add_argument("target", nargs="?", metavar="EXPERIMENT" if liftoff else "TARGET",
                   help="a list file, an experiment folder, or part of experiments' names")
    p.add_argument("-a", "--all", action="store_true", help="every matching experiment")
    p.add_argument("--results-path", default="results", metavar="DIR",
                   help="where experiments are (default ./results)")
    p.add_argument("--state", metavar="DIR",
                   help="the state folder (default LIST.cooperate beside the list)")
    p.add_argument("--json", action="store_true", help="print JSON, for scripts")
    if liftoff:
        p.add_argument("--details", action="store_true",
                       help="cooperate-status's view: per running run its host, pid and time, "
                            "per failed run its exit code and log")
    add_timestamp_fmt(p, "accepted: the latest experiment is the one made last, whatever its "
                         "name")
    add_trust(p)
    p.add_argument("--entries", action="store_true",
                   help="also list every pending, held and blocked entry with its id (--all "
                        "does too, given one list or experiment)")
    p.add_argument("--watch", type="interval", nargs="?", const=2.0, metavar="S",
                   help="show it again every S seconds (default 2) until the list is finished "
                        "(nothing pending or running), then exit as --wait does")
    p.add_argument("--wait", action="store_true",
                   help="wait until nothing is pending or running (on any machine), then show "
                        "the status and exit 0 if every entry is done, 1 if not (failed, "
                        "aborted, held or blocked ones)")
    args = p.plain(argv) or parse_mixed(p.parser(), argv)
    args.liftoff_table = liftoff and not args.details
    args.list_entries = args.entries or (
        args.all and args.target is not None and is_path(args.target, args.results_path))
    if args.watch is None and not args.wait:
        show(args)
        return 0
    terminal = sys.stdout.isatty()
    try:
        while True:
            if args.watch is not None:
                if terminal:
                    # home and clear: the report replaces the last one
                    sys.stdout.write("\033[H\033[2J")
                else:
                    sys.stdout.write("--- %s\n" % fmt.clock())
                reports = show(args)
                sys.stdout.flush()
            else:
                reports = [summarise(q) for q in queues(args)]
            if all(finished(r) for r in reports):
                if args.watch is None:
                    show(args, reports)
                return 0 if all(r["counts"][DONE] == r["total"] for r in reports) else 1
            time.sleep(args.watch or WAIT_EVERY)
    except KeyboardInterrupt:
        # Ctrl-C is how a watch ends; a wait it cuts short did not see the end
        return 130 if args.wait else 0


def _silent(run):
    """Why a stale run's worker looks dead, if it is elsewhere."""
    return ": silent for at least %s" % fmt.duration(run["silent"]) if run.get("silent") else ""


def finished(report):
    """Nothing pending (but what can never start: blocked) and nothing
    running (stale runs wait for a worker to take them back)."""
    c = report["counts"]
    return not (c[PENDING] + c[RUNNING] + c[CLAIMED] + c["stale"])


def targets_of(args):
    """The lists and experiments to show: TARGET, or the experiments whose
    names hold it, or without TARGET the latest experiment under the
    results folder (-a: all of them), else the lists in this folder that
    workers joined (a LIST.cooperate beside them)."""
    from cooperate.errors import UserError

    if args.target is not None and is_path(args.target, args.results_path):
        return [args.target]
    from cooperate.grid.experiment import list_experiments

    targets = [e for e in list_experiments(args.results_path)
               if args.target is None or args.target in os.path.basename(e)]
    if not targets and args.target is None:
        targets = lists_here()
    if not targets:
        if args.target is not None:
            raise UserError("no experiment matching %r under %s, and no file or folder %s"
                            % (args.target, args.results_path, args.target))
        raise UserError("no list here that a worker joined (LIST.cooperate beside it) and no "
                        "experiment under %s: name one (cooperate-status exps.json)"
                        % args.results_path)
    return targets if args.all else targets[-1:]


def lists_here():
    """The list files in this folder that have a state folder beside them,
    the latest changed last."""
    found = []
    for name in os.listdir("."):
        if name.endswith(".cooperate") and os.path.isfile(name[:-len(".cooperate")]):
            try:
                found.append((os.stat(name).st_mtime, name[:-len(".cooperate")]))
            except OSError:
                pass
    return [name for _, name in sorted(found)]


def queues(args):
    for target in targets_of(args):
        queue = open_queue(target, args.state, reader=True, trusted=args.trust_writable)
        queue.read()
        yield queue


def show(args, reports=None):
    """Print the status; its reports (one per list or experiment)."""
    entries = None
    if reports is None:
        reports, entries = [], []
        for queue in queues(args):
            reports.append(summarise(queue))
            if args.list_entries:
                entries.append(waiting_entries(queue))
    if args.json:
        import json

        json.dump(reports[0] if len(reports) == 1 else reports, sys.stdout, indent=1)
        sys.stdout.write("\n")
    elif args.liftoff_table:
        from cooperate.grid.hello import hello_line

        # liftoff's first line, then its table
        sys.stdout.write(hello_line() + "\n" + liftoff_table(reports))
    elif len(reports) == 1:
        sys.stdout.write(render(reports[0], sys.stdout.isatty(), args.list_entries))
        if entries:
            sys.stdout.write(entries[0])
    else:
        sys.stdout.write(table(reports))
    return reports


def waiting_entries(queue):
    """Every pending and held entry with its id, as --entries lists them
    (one pass over the list; render lists the blocked ones)."""
    blocked = {queue.list.ids[i] for i in queue.blocked()} if queue.list.after else set()
    groups = {PENDING: [], HELD: []}
    for index, id_ in enumerate(queue.list.ids):
        status = queue.status_of(id_)
        if status in groups and id_ not in blocked:
            groups[status].append("  %s  %s" % (id_, fmt.shorten(queue.list.describe(index), 70)))
    return "".join("%s:\n%s\n" % (status, "\n".join(lines))
                   for status, lines in groups.items() if lines)


def _name(report):
    return os.path.basename(report["experiment"].rstrip("/")) if report["experiment"] else report["list"]


def render(report, terminal, every=False):
    """The status of one list or experiment as text (`every`: all its
    blocked entries, else the first SHOW_BLOCKED)."""
    counts, total = report["counts"], report["total"]
    shown = ", ".join("%d %s%s" % (counts[k], k, " (%d pruned)" % report["pruned"]
                                   if k == DONE and report.get("pruned") else "")
                      for k in COLUMNS + (BLOCKED,)
                      if counts.get(k) or k in (PENDING, RUNNING, DONE, FAILED))
    lines = ["%s: %s: %s" % (_name(report), fmt.count(total, "entry", "entries"), shown)]
    extra = []
    if report["left"] is not None and counts[PENDING] + counts[RUNNING] + counts[CLAIMED]:
        extra.append("about %s left" % fmt.duration(report["left"]))
    if report["hosts"]:
        extra.append("working: %s" % ", ".join(report["hosts"]))
    if report["drained"]:
        extra.append("drained (taking nothing new): %s" % ", ".join(report["drained"]))
    if counts[PENDING] and not counts[RUNNING] + counts[CLAIMED]:
        extra.append("nothing running: start a worker (cooperate-run %s)"
                     % (report["experiment"] or report["list"]))
    if counts.get(BLOCKED):
        extra.append("the blocked ones start once what they wait for is retried and succeeds "
                     "(cooperate-retry %s ID)" % (report["experiment"] or report["list"]))
    if report["comment"]:
        extra.append("comment: %s" % report["comment"])
    if extra:
        lines.append("  " + "; ".join(extra))
    if terminal and total:
        width = 40
        filled = int(width * report["progress"])
        lines.append("[%s%s] %d%%" % ("#" * filled, "-" * (width - filled), 100 * report["progress"]))
    if report["running"]:
        lines.append("running:")
        for r in report["running"]:
            lines.append("  %s#%d  %s worker pid %s%s%s  %s%s  %s" % (
                r["id"], r["attempt"], r["host"], r["pid"],
                ", run pid %s" % r["run_pid"] if r["run_pid"] else "",
                "  slurm %s" % r["slurm"] if r["slurm"] else "", fmt.duration(r["elapsed"]),
                "  STALE (worker looks dead%s)" % _silent(r) if r["stale"] else
                "  (silent for at least %s)" % fmt.duration(r["silent"])
                if r.get("silent") else "",
                fmt.shorten(r["command"], 60)))
    if report["claimed"]:
        holders = {r["worker"] for r in report["claimed"]}
        lines.append("claimed: %s in batches by %s, not running now (waiting their turn, "
                     "or ended and not recorded yet)" % (
                         fmt.count(len(report["claimed"]), "entry", "entries"),
                         fmt.count(len(holders), "worker")))
    if report["failed"]:
        lines.append("failed:")
        for r in report["failed"]:
            lines.append("  %s#%d  %s  %s  %s" % (r["id"], r["attempt"], _ending(r),
                                                  _log(r), fmt.shorten(r["command"], 50)))
            said = last_line(r["err"])
            if said:
                lines.append("      stderr: %s" % fmt.shorten(said, 100))
            for t in r["attempts"][:-1]:
                lines.append("      attempt %d: %s  %s" % (t["attempt"], _ending(t),
                                                          _log(t)))
    if report["blocked"]:
        lines.append("blocked:")
        for r in report["blocked"] if every else report["blocked"][:SHOW_BLOCKED]:
            lines.append("  %s  waits for %s (%s)" % (r["id"], fmt.shorten(r["name"], 60),
                                                     r["status"]))
        if len(report["blocked"]) > SHOW_BLOCKED and not every:
            lines.append("  ... and %d more (--entries or --json lists them all)"
                         % (len(report["blocked"]) - SHOW_BLOCKED))
    if 0 < len(report["workers"]) <= 10:
        lines.append("by worker (latest attempts):")
        for w in report["workers"]:
            lines.append("  %s  %s%s  %s" % (w["worker"], w["host"],
                                            "  slurm %s" % w["slurm"] if w["slurm"] else "",
                                            ", ".join("%d %s" % (n, s) for s, n in
                                                      sorted(w["entries"].items()))))
    if report.get("trouble"):
        lines.append("warning: %s" % report["trouble"])
    if report.get("unreadable_records"):
        lines.append("warning: %d unreadable records in %s/journal were skipped"
                     % (report["unreadable_records"], report["state"]))
    return "\n".join(lines) + "\n"


def last_line(path):
    """The last line with words of a log (its tail only), or None."""
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            tail = f.read()
    except OSError:
        return None
    for line in reversed(tail.decode("utf-8", "replace").splitlines()):
        if line.strip():
            return fmt.printable(line.strip())
    return None


def _log(attempt):
    """Where an attempt's output is: its stderr log, else its stdout log."""
    if attempt["err"] or attempt["out"]:
        return attempt["err"] or attempt["out"]
    if attempt["detached"]:
        return "no output"
    return "no log (--no-detach: output went to the worker's terminal)"


def _ending(attempt):
    if attempt.get("outcome") == TIMEOUT:
        return "timed out after %g s" % attempt["limit"] if attempt["limit"] else "timed out"
    return "lost (its worker died)" if attempt.get("outcome") == "lost" else fmt.exit_text(attempt["code"])


def table(reports):
    """One row per experiment."""
    header = ("experiment", "total") + COLUMNS + ("progress", "left", "hosts", "comment")
    rows = [header]
    for r in reports:
        c = r["counts"]
        rows.append((_name(r), str(r["total"])) + tuple(str(c[k]) for k in COLUMNS) + (
            "%d%%" % (100 * r["progress"]),
            "-" if r["left"] is None else fmt.duration(r["left"]),
            ",".join(r["hosts"]) or "-", r["comment"] or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n"
                   for row in rows)


def liftoff_table(reports):
    """liftoff-status's table: its columns, rows sorted by name, numbers
    right-aligned, as tabulate aligns them."""
    lost = any(r["counts"]["stale"] for r in reports)
    header = ["Experiment", "Total", "Locked", "Done", "Dead"] + (["Lost"] if lost else []) + [
        "Progress", "ETL"]
    numeric = [False, True, True, True, True] + ([True] if lost else []) + [False, False]
    rows = []
    for r in sorted(reports, key=_name):
        c = r["counts"]
        row = [_name(r), r["total"], c[RUNNING] + c[CLAIMED] + c[HELD], c[DONE],
               c[FAILED] + c[ABORTED]]
        row += [c["stale"]] if lost else []
        rows.append([str(v) for v in row] + ["%.3f%%" % (100.0 * r["progress"]), _left(r)])
    # tabulate's "simple" format: a column is 2 wider than its header at least
    widths = [max([len(h) + 2] + [len(row[i]) for row in rows]) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(cell.rjust(w) if right else cell.ljust(w)
                         for cell, w, right in zip(cells, widths, numeric)).rstrip() + "\n"

    return line(header) + line(["-" * w for w in widths]) + "".join(line(row) for row in rows)


def _left(report):
    """ETL as liftoff shows it (H:MM:SS), or - when it cannot be told yet."""
    from datetime import timedelta

    c = report["counts"]
    if not c[PENDING] + c[RUNNING] + c[CLAIMED] + c["stale"]:
        return str(timedelta(0))
    if report["left"] is None:
        return "-"
    return str(timedelta(seconds=int(round(report["left"]))))
