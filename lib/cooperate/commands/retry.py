"""cooperate-retry: make failed or chosen entries pending again."""

import sys

from ..args import Parser
from ..errors import UserError
from ..queue import DEFAULT_LOCK_TIMEOUT, FAILED, Queue

DESCRIPTION = """\
Make entries of LIST pending again, so the next free worker runs them (a new
attempt: earlier attempts and their logs are kept). Name them by id (a
unique prefix is enough; `status` shows ids) or take every failed entry with
--failed. Running entries are left alone."""


def main(argv, prog):
    p = Parser(prog, DESCRIPTION)
    p.add_argument("list", metavar="LIST", help="the JSON list of commands")
    p.add_argument("ids", nargs="*", metavar="ID", help="entry ids or unique prefixes")
    p.add_argument("--failed", action="store_true", help="every failed entry")
    p.add_argument("--state", metavar="DIR",
                   help="the state folder (default LIST.cooperate beside the list)")
    p.add_argument("--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT, metavar="S",
                   help="give up after waiting S seconds for the queue lock")
    args = p.parse_args(argv)
    if not args.ids and not args.failed:
        raise UserError("name entry ids, or --failed")

    queue = Queue(args.list, args.state, args.lock_timeout, history=False)
    queue.read()
    chosen = [resolve(queue.list.ids, prefix) for prefix in args.ids]
    if args.failed:
        chosen += [i for i in queue.list.ids if queue.status_of(i) == FAILED]
    changed = queue.retry(chosen) if chosen else []
    left = [i for i in chosen if i not in changed]
    print("%d entries pending again%s" % (len(changed), ": " + " ".join(changed) if changed else ""))
    if left:
        print("left alone (pending or running): %s" % " ".join(left), file=sys.stderr)
    return 0


def resolve(ids, prefix):
    if prefix in ids:
        return prefix
    matches = [i for i in ids if i.startswith(prefix)]
    if not matches:
        raise UserError("no entry with id %r in this list" % prefix)
    if len(matches) > 1:
        raise UserError("id %r is ambiguous: %s" % (prefix, " ".join(matches[:5])))
    return matches[0]
