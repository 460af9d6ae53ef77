"""liftoff-abort: stop the runs of an experiment or list on every machine."""

import os
import signal
import sys
import time

from cooperate.queue import host
from cooperate.cli.args import Parser, seconds
from cooperate.errors import UserError
from cooperate.queue.core import ABORTED, DEFAULT_LOCK_TIMEOUT, HELD, PENDING, RUNNING
from cooperate.grid.source import open_queue
from cooperate.cli import targets

DESCRIPTION = """\
Stop TARGET (an experiment, by default the latest under ./results, or a
list file), or only the runs named: runs not started yet are aborted at
once; running ones through a request in the shared state that the worker
holding them carries out within a few seconds, on whatever machine it is
(workers on this machine are told at once). A run whose worker looks dead
is recorded as aborted directly. Aborted runs are not failures: `retry`
(liftoff-clean) makes them pending again.

liftoff-abort PID [TARGET ...] stops one launcher of this machine, as
liftoff does: PID is the pid of a `liftoff` (or `cooperate-run`) process
that liftoff-procs lists (the process started, or the worker under it),
found in the experiments under --results-path and the TARGETs given. It
is stopped (SIGTERM: it starts nothing more and stops its runs), then the
runs it held are recorded as aborted; the other runs are left as they are.
A TARGET made only of digits that is not a path is a PID."""


def main(argv, prog):
    p = Parser(prog, DESCRIPTION)
    targets.add_target(p, optional=True)
    p.add_argument("names", nargs="*", metavar="RUN",
                   help="only these runs (entry ids or an experiment's run folders)")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")
    p.add_argument("--wait", type=seconds, metavar="S", nargs="?", const=60.0,
                   help="wait (up to S seconds, default 60) until the running ones have stopped "
                        "(with a PID: how long to wait for the launcher to exit; default 60)")
    p.add_argument("--lock-timeout", type=seconds, default=DEFAULT_LOCK_TIMEOUT, metavar="S",
                   help="give up after waiting S seconds for the queue lock")
    args = targets.parse_mixed(p, argv)
    if args.target is not None and args.target.isdigit() and not os.path.exists(args.target):
        return abort_launcher(args, int(args.target))

    queue = open_queue(targets.target(args), args.state, args.lock_timeout,
                       trusted=args.trust_writable, change=True, packed=True)
    queue.read()
    chosen = queue.select(args.names, (PENDING, HELD, RUNNING) if not args.names else ())
    running = [i for i in chosen if queue.status_of(i) == RUNNING]
    waiting = [i for i in chosen if queue.status_of(i) in (PENDING, HELD)]
    if not running and not waiting:
        print("nothing to abort in %s" % (queue.experiment or queue.list.path))
        return 0
    what = "%s: abort %d running and %d not started" % (
        queue.experiment or queue.list.path, len(running), len(waiting))
    if not args.yes and not ask(what + "?"):
        print("nothing aborted")
        return 0
    queue.abort(chosen, targets.by())
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


def ask(question):
    """liftoff's y/n question, asked again until the answer starts with y or
    n; end of input is no. Off a terminal: an error that says to add -y."""
    if not sys.stdin.isatty():
        raise UserError("%s? answer with -y (stdin is not a terminal)"
                        % question.rstrip("?").rstrip())
    while True:
        sys.stderr.write("%s (y/n) " % question)
        sys.stderr.flush()
        answer = sys.stdin.readline()
        if not answer:
            sys.stderr.write("\n")
            return False
        answer = answer.strip().lower()
        if answer[:1] in ("y", "n"):
            return answer[0] == "y"


def find_launcher(args, pid):
    """(target, worker, info) of the live worker on this machine whose pid,
    or whose guard's pid, is `pid`, among the experiments under
    --results-path and the targets given."""
    from cooperate.grid.experiment import list_experiments

    candidates = []
    for name in args.names:
        if targets.is_path(name, args.results_path):
            candidates.append(name)
        else:
            candidates += [e for e in list_experiments(args.results_path)
                           if name in os.path.basename(e)]
    candidates += [e for e in list_experiments(args.results_path)
                   if args.state or targets.worked_on(e)]
    seen = set()
    for target in candidates:
        key = os.path.realpath(target)
        if key in seen:
            continue
        seen.add(key)
        queue = open_queue(target, args.state, reader=True, history=False,
                           trusted=args.trust_writable)
        queue.read()
        for worker, info in queue.state.workers.items():
            if pid in (info.get("pid"), info.get("guard")) and host.same_machine(info) \
                    and queue.leases.worker_alive(worker):
                return target, worker, info
    raise UserError("no launcher with pid %d works on an experiment under %s on this machine "
                    "(liftoff-procs lists them)" % (pid, args.results_path))


def abort_launcher(args, pid):
    """liftoff-abort PID: abort the runs that launcher holds, then stop it."""
    target, worker, info = find_launcher(args, pid)
    queue = open_queue(target, args.state, args.lock_timeout, trusted=args.trust_writable,
                       change=True, packed=True)
    queue.read()
    held = [i for i in queue.list.ids if queue.status_of(i) == RUNNING
            and queue.state.last(i).worker == worker]
    name = queue.experiment or queue.list.path
    print("launcher %d (worker %s, %s) holds %d running run%s of %s%s" % (
        pid, worker, info.get("host"), len(held), "" if len(held) == 1 else "s", name,
        "".join("\n  %s" % queue.list.describe(queue.list.ids.index(i)) for i in held)))
    if not args.yes and not ask("Abort %s and stop the launcher?" % (
            "them" if held else "nothing")):
        print("nothing aborted")
        return 0
    # The launcher is stopped first: told to abort, it would claim new runs
    # as soon as the aborted ones ended. Stopped, it claims nothing more and
    # leaves its runs interrupted (pending); they are aborted then.
    if host.process_start(info["pid"]) == info.get("start"):
        try:
            os.kill(info["pid"], signal.SIGTERM)
        except OSError:
            pass
    gone = wait_gone(queue, worker, args.wait or 60.0)
    aborted = abort_left(queue, held, targets.by()) if held else []
    queue.read()
    elsewhere = [i for i in held if queue.status_of(i) == RUNNING]
    print("%d run%s aborted%s; launcher %d %s" % (
        len(aborted), "" if len(aborted) == 1 else "s",
        " (%d taken meanwhile by other workers: they stop them)" % len(elsewhere)
        if elsewhere and gone else "",
        pid, "stopped" if gone else "told to stop (SIGTERM); it has not exited yet, its runs "
                                    "stay as it leaves them"))
    return 0 if gone else 1


def abort_left(queue, ids, by):
    """Abort what a stopped launcher left of its runs: pending ones (it
    interrupted them) and ones still recorded as running on it (it died
    with them: liftoff's single-config mode) at once, with the marks its
    end would have left; any another worker took meanwhile by a request."""
    from cooperate.grid.experiment import mark_ended

    queue.read()
    now = {i: queue.status_of(i) for i in ids}
    changed = queue.abort([i for i in ids if now[i] in (PENDING, HELD, RUNNING)], by)
    queue.read()
    direct = [i for i in changed if queue.status_of(i) == ABORTED]
    for id_ in direct:
        entry = queue.list.entry(queue.list.ids.index(id_))
        if queue.experiment is not None and isinstance(entry, dict) and "run" in entry:
            try:
                mark_ended(queue.experiment, entry["run"], ABORTED)
            except OSError:
                pass
    tell_local_workers(queue, [i for i in changed if queue.status_of(i) == RUNNING])
    return direct


def wait_gone(queue, worker, timeout):
    deadline = time.monotonic() + timeout
    while True:
        queue.read()
        if not queue.leases.worker_alive(worker):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
