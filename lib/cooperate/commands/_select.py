"""What the commands that act on chosen entries share: the target (a list,
an experiment folder, or an experiment's name under the results folder) and
--filters."""

import os

from .. import host


def add_target(p, optional=False):
    p.add_argument("target", nargs="?" if optional else None, metavar="TARGET",
                   help="a list file, an experiment folder, or (part of) an experiment's name")
    p.add_argument("--results-path", default="results", metavar="DIR",
                   help="where experiments are (default ./results)")
    p.add_argument("--state", metavar="DIR",
                   help="the state folder (default LIST.cooperate beside the list)")
    add_trust(p)


def add_trust(p):
    p.add_argument("--trust-writable", action="store_true",
                   help="use a list or state that other users can change (whoever can change "
                        "them can make your workers run any command as you)")


def add_filters(p):
    p.add_argument("--filters", nargs="+", default=[], metavar="KEY.PATH=VALUE",
                   help="only experiment runs whose config has these values "
                        "(parsed like YAML: False, 0.1, abc)")


def is_path(target):
    """A target that exists, or looks like a path (not a name to look up)."""
    return os.path.exists(target) or os.sep in target or target.endswith(".json")


def target(args):
    """The list file or experiment folder the arguments name."""
    if args.target is not None and is_path(args.target):
        return args.target
    from ..experiment import find

    return find(args.target or "", args.results_path)


def filters(args):
    if not args.filters:
        return None
    from ..grid import parse_filters

    return parse_filters(args.filters)


def by():
    """Who writes a record on the user's behalf."""
    return "%s-%d-user" % (host.hostname(), os.getpid())


HOLD_HELP = """\
Keep pending entries of TARGET from being started (liftoff-lock): no
worker claims a held entry until it is released (liftoff-unlock). Running
entries are not affected. Name entries by id or run folder, choose them
with --filters, or take every pending one with --all."""

RELEASE_HELP = """\
Let held entries of TARGET be started again (liftoff-unlock). Name them
by id or run folder, choose them with --filters, or take every held one
with --all."""


def hold_or_release(argv, prog, release):
    """The `hold` and `release` commands, which differ only in direction."""
    from ..args import Parser
    from ..errors import UserError
    from ..queue import DEFAULT_LOCK_TIMEOUT, HELD, PENDING, Queue

    p = Parser(prog, RELEASE_HELP if release else HOLD_HELP)
    add_target(p)
    p.add_argument("names", nargs="*", metavar="ID",
                   help="entry ids (or unique prefixes), or an experiment's run folders")
    p.add_argument("--all", action="store_true",
                   help="every %s entry" % ("held" if release else "pending"))
    add_filters(p)
    p.add_argument("--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT, metavar="S",
                   help="give up after waiting S seconds for the queue lock")
    args = p.parse_args(argv)
    if not (args.names or args.all or args.filters):
        raise UserError("name entries, or choose them with --filters, or --all")
    queue = Queue(target(args), args.state, args.lock_timeout, history=False,
                  trusted=args.trust_writable)
    queue.read()
    status = HELD if release else PENDING
    chosen = queue.select(args.names, (status,) if not args.names else (), filters(args))
    changed = queue.release(chosen) if release else queue.hold(chosen)
    print("%d entries %s" % (len(changed), "released" if release else "held"))
    return 0
