"""cooperate-retry / liftoff-clean: make entries pending again."""

from ..args import Parser
from ..queue import ABORTED, DEFAULT_LOCK_TIMEOUT, FAILED, Queue
from . import _select

DESCRIPTION = """\
Make entries of LIST (a list file or a liftoff experiment) pending again, so
the next free worker runs them as a new attempt; earlier attempts and their
logs are kept. Without ids or flags it takes every failed, aborted and
stale entry (liftoff-clean). A stale entry (running on a worker that looks
dead) is first recorded as lost. Running entries are left alone."""

EPILOG = """\
examples:
  cooperate-retry exps.json                 failed, aborted and stale entries
  cooperate-retry exps.json --failed        only the failed ones
  cooperate-retry exps.json 3fa9c2          one entry, by id or unique prefix
  liftoff-clean results/2026Nov22-101500_sweep --filters optim.lr=0.1"""


def main(argv, prog):
    p = Parser(prog, DESCRIPTION, EPILOG)
    _select.add_target(p)
    p.add_argument("names", nargs="*", metavar="ID",
                   help="entry ids (or unique prefixes), or an experiment's run folders")
    p.add_argument("--failed", action="store_true", help="failed entries")
    p.add_argument("--aborted", action="store_true", help="aborted entries")
    p.add_argument("--stale", action="store_true",
                   help="entries running on a worker that looks dead")
    _select.add_filters(p)
    p.add_argument("--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT, metavar="S",
                   help="give up after waiting S seconds for the queue lock")
    args = p.parse_args(argv)

    statuses = {s for s, on in ((FAILED, args.failed), (ABORTED, args.aborted),
                                ("stale", args.stale)) if on}
    if not args.names and not statuses:
        statuses = {FAILED, ABORTED, "stale"}
    queue = Queue(_select.target(args), args.state, args.lock_timeout, trusted=args.trust_writable)
    queue.read()
    chosen = queue.select(args.names, statuses if not args.names else (), _select.filters(args))
    if not chosen:
        print("nothing to make pending again")
        return 0
    lost = queue.take_back(chosen, _select.by())
    changed = queue.retry(chosen)
    left = [i for i in chosen if i not in changed]
    print("%d entries pending again%s%s" % (
        len(changed), " (%d recorded as lost first)" % len(lost) if lost else "",
        ": " + " ".join(changed) if 0 < len(changed) <= 20 else ""))
    if left:
        print("left alone (pending or running): %s" % " ".join(left))
    return 0
