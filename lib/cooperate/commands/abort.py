"""liftoff-abort: stop the runs of an experiment or list on every machine."""

import os
import signal
import sys
import time

from .. import host
from ..args import Parser, seconds
from ..errors import UserError
from ..queue import DEFAULT_LOCK_TIMEOUT, HELD, PENDING, RUNNING, Queue
from . import _select

DESCRIPTION = """\
Stop TARGET (an experiment, by default the latest under ./results, or a
list file), or only the runs named: runs not started yet are aborted at
once; running ones through a request in the shared state that the worker
holding them carries out within a few seconds, on whatever machine it is
(workers on this machine are told at once). A run whose worker looks dead
is recorded as aborted directly. Aborted runs are not failures: `retry`
(liftoff-clean) makes them pending again."""


def main(argv, prog):
    p = Parser(prog, DESCRIPTION)
    _select.add_target(p, optional=True)
    p.add_argument("names", nargs="*", metavar="RUN",
                   help="only these runs (entry ids or an experiment's run folders)")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")
    p.add_argument("--wait", type=seconds, metavar="S", nargs="?", const=60.0,
                   help="wait (up to S seconds, default 60) until the running ones have stopped")
    p.add_argument("--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT, metavar="S",
                   help="give up after waiting S seconds for the queue lock")
    args = p.parse_args(argv)

    queue = Queue(_select.target(args), args.state, args.lock_timeout, trusted=args.trust_writable)
    queue.read()
    chosen = queue.select(args.names, (PENDING, HELD, RUNNING) if not args.names else ())
    running = [i for i in chosen if queue.status_of(i) == RUNNING]
    waiting = [i for i in chosen if queue.status_of(i) in (PENDING, HELD)]
    if not running and not waiting:
        print("nothing to abort in %s" % (queue.experiment or queue.list.path))
        return 0
    what = "%s: abort %d running and %d not started" % (
        queue.experiment or queue.list.path, len(running), len(waiting))
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError("%s? answer with -y (stdin is not a terminal)" % what)
        sys.stderr.write(what + "? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("nothing aborted")
            return 0
    queue.abort(chosen, _select.by())
    told = tell_local_workers(queue, running)
    hosts = sorted({queue.state.workers.get(queue.state.last(i).worker, {}).get("host", "?")
                    for i in running})
    print("%d not started: aborted" % len(waiting))
    if running:
        print("%d running on %s: their workers stop them within a few seconds%s" % (
            len(running), ", ".join(hosts), " (%d on this host told now)" % told if told else ""))
    if args.wait is not None and running:
        return wait_stopped(queue, running, args.wait)
    return 0


def tell_local_workers(queue, ids):
    """SIGUSR1 makes a worker on this host look at its abort requests now."""
    told = set()
    for id_ in ids:
        info = queue.state.workers.get(queue.state.last(id_).worker, {})
        if (host.same_machine(info) and info["pid"] not in told
                and host.process_start(info["pid"]) == info.get("start")):
            try:
                os.kill(info["pid"], signal.SIGUSR1)
                told.add(info["pid"])
            except OSError:
                pass
    return len(told)


def wait_stopped(queue, ids, timeout):
    deadline = time.monotonic() + timeout
    while True:
        queue.read()
        left = [i for i in ids if queue.status_of(i) == RUNNING]
        if not left:
            print("all stopped")
            return 0
        if time.monotonic() > deadline:
            print("%d still running after %g s" % (len(left), timeout))
            return 1
        time.sleep(0.2)
