"""cooperate-retry / liftoff-clean: make entries pending again."""

import os
import shutil
import stat

from cooperate import fmt
from cooperate.cli.args import Parser, seconds
from cooperate.queue.core import ABORTED, DEFAULT_LOCK_TIMEOUT, FAILED, HELD, PENDING, RUNNING
from cooperate.grid.source import open_queue
from cooperate.cli import targets

DESCRIPTION = """\
Make entries of LIST (a list file or a liftoff experiment) pending again, so
the next free worker runs them as a new attempt; earlier attempts and their
logs are kept. Without ids or flags it takes every failed, aborted and
stale entry (liftoff-clean). A stale entry (running on a worker that looks
dead) is first recorded as lost. Running entries are left alone: a run on
a live worker is never made pending, whatever the options. A worker on this
machine is dead once its process and its guard are gone; one on another
machine is never judged by clocks, so this command, run once, cannot tell it
dead: its runs are left to the workers, which take a run back once they
have watched its worker silent for its lease.

In an experiment, liftoff's marks of the runs made pending (.__lock,
.__start, .__end, .__crash) are removed, and with --clean-all also what
the runs that had started and not ended wrote in their folders (all but
liftoff's files: .__leaf .__seal .__lock .__start .__end .__crash
.__journal cfg.yaml, and the out and err links to the logs).

As liftoff-clean, nothing changes without --do: it shows what would change.
`cooperate-retry` acts at once."""

EPILOG = """\
examples:
  cooperate-retry exps.json                 failed, aborted and stale entries
  cooperate-retry exps.json --failed        only the failed ones
  cooperate-retry exps.json 3fa9c2          one entry, by id or unique prefix
  liftoff-clean results/2026Nov22-101500_sweep                what would be cleaned
  liftoff-clean results/2026Nov22-101500_sweep --do --crashed-only
  liftoff-clean results/2026Nov22-101500_sweep --do --filters optim.lr=0.1"""

MARKS = (".__lock", ".__start", ".__end", ".__crash")
# what --clean-all keeps in a run folder: liftoff's files (liftoff.common's
# LIFTOFF_FILES) and the links to the logs (or the empty files in their
# place: see grid/hooks.py: ExperimentHooks.logs)
KEEP = frozenset((".__leaf", ".__seal", ".__lock", ".__start", ".__end", ".__crash",
                  ".__journal", "cfg.yaml"))
LINKS = ("out", "err")


def main(argv, prog):
    liftoff = targets.called_as(prog, "liftoff-clean")
    p = Parser(prog, DESCRIPTION, EPILOG)
    targets.add_target(p)
    p.add_argument("names", nargs="*", metavar="ID",
                   help="entry ids (or unique prefixes), or an experiment's run folders")
    p.add_argument("--failed", action="store_true", help="failed entries")
    p.add_argument("--aborted", action="store_true", help="aborted entries")
    p.add_argument("--stale", action="store_true",
                   help="entries running on a worker that looks dead")
    p.add_argument("--crashed-only", action="store_true",
                   help="only failed and aborted entries (liftoff's crashed runs: their "
                        "folders have a .__crash), not stale ones")
    p.add_argument("--safe", action="store_true",
                   help="leave stale entries alone (liftoff's locked runs)")
    p.add_argument("--clean-all", action="store_true",
                   help="also remove what the runs made pending wrote in their folders, if "
                        "they had started and not ended")
    p.add_argument("--do", action="store_true",
                   help="change things (liftoff-clean without --do only shows what would "
                        "change; cooperate-retry acts at once)")
    p.add_argument("-v", dest="verbose", action="count", default=0,
                   help="name every run made pending and every file removed")
    targets.add_timestamp_fmt(p, "time stamps of the lines written to each run's .__journal")
    targets.add_filters(p)
    p.add_argument("--lock-timeout", type=seconds, default=DEFAULT_LOCK_TIMEOUT, metavar="S",
                   help="give up after waiting S seconds for the queue lock")
    args = targets.parse_mixed(p, argv)
    dry = liftoff and not args.do

    statuses = {s for s, on in ((FAILED, args.failed), (ABORTED, args.aborted),
                                ("stale", args.stale)) if on}
    if not statuses:
        statuses = {FAILED, ABORTED, "stale"}
    if args.crashed_only:
        statuses -= {"stale"}
    queue = open_queue(targets.target(args), args.state, args.lock_timeout,
                       trusted=args.trust_writable, change=True, packed=True)
    queue.read()
    plan = Plan(queue, args, statuses)
    if not dry:
        plan.carry_out(args)
    plan.show(liftoff, dry, args)
    return 0


class Plan:
    """What a retry (a clean) changes: the entries made pending again, the
    marks and files removed. Made without changing anything."""

    def __init__(self, queue, args, statuses):
        self.queue = queue
        self.experiment = queue.experiment
        self.names = args.names
        # running entries are chosen too, to be counted (and left alone)
        chosen = queue.select(args.names, (statuses | {RUNNING}) if not args.names else ())
        wanted = targets.filters(args)
        self.entries = queue.list.entries() if (wanted or self.experiment) else None
        index = {id_: i for i, id_ in enumerate(queue.list.ids)} if self.entries else {}
        if wanted:
            accept = targets.run_matcher(self.experiment, wanted)
            chosen = [i for i in chosen if accept(self.entries[index[i]])]
        stale_too = ("stale" in statuses or args.names) and not args.crashed_only
        self.again = []  # (id, status): to make pending again
        self.running = []  # left alone: running on a live worker
        self.safe = []  # left alone: stale, with --safe
        self.skipped = []  # left alone: not of the statuses asked for
        self.pending = []  # left alone: pending already (or marked executed)
        for id_ in chosen:
            status = queue.status_of(id_)
            if status == RUNNING:
                if not queue.leases.is_stale(queue.state.last(id_)):
                    self.running.append(id_)
                elif args.safe:
                    self.safe.append(id_)
                elif stale_too:
                    self.again.append((id_, "stale"))
                else:
                    self.skipped.append(id_)
            elif status == PENDING or id_ in queue.list.executed:
                self.pending.append(id_)
            elif args.crashed_only and status not in (FAILED, ABORTED):
                self.skipped.append(id_)
            else:
                self.again.append((id_, status))
        self.held = sum(1 for i in queue.list.ids if queue.status_of(i) == HELD)
        # per run folder: (id, run, folder, marks there, files --clean-all removes)
        self.folders = []
        for id_, _ in self.again:
            entry = self.entries[index[id_]] if self.entries else None
            run = entry.get("run") if isinstance(entry, dict) else None
            if self.experiment is None or not isinstance(run, str):
                continue
            try:
                folder = targets.run_dir(self.experiment, run)
                names = set(os.listdir(folder))
            except OSError:
                continue
            marks = [m for m in MARKS if m in names]
            products = []
            if args.clean_all and ".__start" in names and ".__end" not in names:
                products = sorted(n for n in names if n not in KEEP and not (
                    n in LINKS and _log_link(os.path.join(folder, n))))
            self.folders.append((id_, run, folder, marks, products))
        self.lost = []
        self.changed = []
        self.alive = []  # stale when looked at, alive when it came to it

    def carry_out(self, args):
        """Remove the marks and files of the runs first (nothing can claim
        them before they are pending), then make them pending. A stale
        entry whose worker turns out to be alive is left alone."""
        queue, by = self.queue, targets.by()
        verdicts = {}
        for id_, status in self.again:
            if status == "stale" and not queue.leases.dead(queue.state.last(id_).worker, verdicts):
                self.alive.append(id_)
        if self.alive:
            self.again = [(i, s) for i, s in self.again if i not in self.alive]
            self.folders = [f for f in self.folders if f[0] not in self.alive]
        journal = targets.Journal(args.timestamp_fmt)
        from cooperate.grid.experiment import mark_pending

        for _, run, folder, marks, products in self.folders:
            lines = ["Deleted %s" % os.path.join(folder, m) for m in marks]
            for name in products:
                if remove(os.path.join(folder, name)):
                    lines.append("Deleted %s" % os.path.join(folder, name))
            try:
                mark_pending(self.experiment, run)
            except OSError:
                pass
            journal.write(folder, lines)
        stale = [i for i, s in self.again if s == "stale"]
        others = [i for i, s in self.again if s != "stale"]
        self.lost = queue.take_back(stale, by) if stale else []
        self.changed = queue.retry(others) if others else []

    def show(self, liftoff, dry, args):
        again = self.again
        by_status = {}
        for _, status in again:
            by_status[status] = by_status.get(status, 0) + 1
        detail = ", ".join("%d %s" % (n, s) for s, n in sorted(by_status.items()))
        if liftoff:
            verb = "would be removed" if dry else "removed"
            marks = {}
            products = {}
            for _, _, _, found, made in self.folders:
                for m in found:
                    marks[m] = marks.get(m, 0) + 1
                for name in made:
                    products[name] = products.get(name, 0) + 1
            print("%d runs were skipped (SAFE)." % len(self.safe))
            print("%d runs are sealed." % self.held)
            print("%d runs are running: left alone." % len(self.running))
            for mark in MARKS:
                print("%d %s files %s" % (marks.get(mark, 0), mark, verb))
            if args.clean_all:
                print("\nFiles produced by the runs:")
                for name, n in sorted(products.items()):
                    print("%d %s files %s." % (n, name, verb))
            print("%d runs %s pending again%s" % (
                len(again), "would be made" if dry else "made", " (%s)" % detail if detail else ""))
        elif not again and not self.names:
            print("nothing to make pending again")
        else:
            total = len(self.changed) + len(self.lost)
            print("%s pending again%s%s" % (
                fmt.count(total, "entry", "entries"), " (%d recorded as lost first)" % len(self.lost) if self.lost else "",
                ": " + " ".join(self.changed + self.lost) if 0 < total <= 20 else ""))
            # the entries named that stay as they are
            left = self.running + self.pending + self.skipped + self.safe if self.names else []
            if left:
                print("left alone (pending or running): %s" % " ".join(left))
        if self.alive:
            print("%d stale entries came back to life meanwhile: left alone" % len(self.alive))
        if args.verbose:
            for _, run, _, marks, made in self.folders:
                print("  %s%s%s" % (run,
                                    ": " + " ".join(marks) if marks else "",
                                    "; files: " + " ".join(made) if made else ""))
        if dry:
            print(targets.SIMULATION % "clean the experiment")


def _log_link(path):
    """Is `path` a link to a log, or the empty file in place of one?"""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISLNK(st.st_mode) or stat.S_ISREG(st.st_mode) and not st.st_size


def remove(path):
    """A file, link or folder a run wrote (links are not followed)."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError:
        return False
    return True
