"""cooperate-drain: let a host's workers finish what they run, then stop."""

from cooperate.queue import host
from cooperate.cli.args import Parser, seconds
from cooperate.queue.core import DEFAULT_LOCK_TIMEOUT
from cooperate.grid.source import open_queue
from cooperate.cli import targets

DESCRIPTION = """\
Drain a host: its workers on TARGET finish the runs they hold and take
nothing new (they notice within a few seconds, on any machine), e.g. before
the machine is taken away. --undo lets that host take work again."""


def main(argv, prog):
    p = Parser(prog, DESCRIPTION)
    targets.add_target(p)
    p.add_argument("--host", default=host.hostname(), help="the host (default this one)")
    p.add_argument("--undo", action="store_true", help="let the host take work again")
    p.add_argument("--lock-timeout", type=seconds, default=DEFAULT_LOCK_TIMEOUT, metavar="S",
                   help="give up after waiting S seconds for the queue lock")
    args = p.parse_args(argv)
    queue = open_queue(targets.target(args), args.state, args.lock_timeout, history=False,
                       trusted=args.trust_writable, change=True, packed=True)
    queue.drain(args.host, on=not args.undo)
    print("%s %s" % (args.host, "takes work again" if args.undo else
                     "is draining: its workers finish their runs and take nothing new"))
    return 0
