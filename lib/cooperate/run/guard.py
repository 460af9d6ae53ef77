"""The guard: a worker's parent process, so that no run outlives its claim.

On Linux the process a user starts for a worker forks: the child is the
worker, the parent stays as its guard, a child subreaper
(PR_SET_CHILD_SUBREAPER), and does this:

- When the worker dies, however it dies (SIGKILL, the OOM killer), the
  kernel hands its orphaned runs to the guard: the guard SIGKILLs their
  process groups at once, and everything that is orphaned after them, and
  exits only when none is left. The worker's record names the guard too, so
  until the guard is gone the worker counts as alive on this machine and no
  other worker here takes its entries back (see host.owner_alive).
- When the guard dies, the worker gets SIGTERM (PR_SET_PDEATHSIG) and stops
  its runs as if a user had stopped it.
- The worker tells the guard (SIGUSR2, and the time in a memory page they
  share) each time it renews its lease, and which runs it has. The guard
  measures on this machine's clock that counts time asleep (lease.steady):
  once half the lease has passed since the last renewal (the worker is
  frozen, or stuck on an unreachable NFS server, or the machine slept or
  was frozen whole), it suspends the runs (SIGSTOP to their groups first,
  then to every process under them), before any other machine may
  take them back (they need a whole lease of silence, watched), and tells
  the worker to look at once (SIGUSR1: it renews first if it is late). It looks at least every
  CHECK_EVERY seconds, so that a machine that wakes up is seen at once,
  and after any wait it looks at the time before anything else. A worker
  that renews after such a gap first checks, under the queue lock, which of
  its claims are still its own and kills the runs of the others; only a
  renewal stamped after that resumes the rest. What remains: after a thaw
  of the whole machine, the runs may go on until the guard is scheduled
  again (docs/usage.md: "A machine that sleeps").
- The worker is a child subreaper too: what a run leaves behind (a
  daemon, `setsid work &`) is adopted by the worker when its parent ends,
  and killed once the run it came from has ended (see runs.py).
- The worker has a process group of its own: the terminal's signals reach
  the guard only, which passes Ctrl-C, SIGTERM, SIGHUP, SIGQUIT and SIGUSR1
  on to the worker, the stop signals as FORWARDED ones (real-time signals
  that name the signal passed on). Ctrl-Z suspends the runs and the worker
  with the guard. A signal sent to every process of a job (Slurm, systemd)
  reaches the worker twice, directly and forwarded: a direct and a forwarded
  one are one request, however far apart a busy machine delivers them; two
  of the same kind are two (a second Ctrl-C, however quick).

What it cannot cover: a guard and a worker killed at the same instant (kill
-9 to both) leave the runs to init; the next worker on this machine that
takes their entries back kills them first (by the COOPERATE_WORKER variable
in their environment, see queue.py).
"""

import os
import signal
import struct
import sys

from cooperate.queue.lease import steady

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
_PASSED_ON = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1)
# the stop signals, as the guard passes them on: {real-time signal: signal}
FORWARDED = {signal.SIGRTMIN + 1 + i: s
             for i, s in enumerate((signal.SIGINT, signal.SIGTERM, signal.SIGHUP))}
_FORWARD_AS = {s: rt for rt, s in FORWARDED.items()}
_WATCHED = {signal.SIGCHLD, signal.SIGTSTP, signal.SIGUSR2} | set(_PASSED_ON)
# the guard looks at the time at least this often (seconds): a wait is
# measured on a clock that stands still while the machine sleeps
CHECK_EVERY = 0.25


def _prctl():
    """libc's prctl, or None where there is none (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None


class Shared:
    """A memory page the worker and its guard share (made before the fork):
    when the worker last renewed its lease (lease.steady), and the pids of
    its runs (their process groups), so that the guard can stop them first
    without looking them up."""

    HEAD = struct.Struct("dI")
    PID = struct.Struct("i")

    def __init__(self):
        import mmap

        self.page = mmap.mmap(-1, mmap.PAGESIZE)
        self.most = (mmap.PAGESIZE - self.HEAD.size) // self.PID.size
        self.HEAD.pack_into(self.page, 0, steady(), 0)

    def renewed(self, at):
        count = self.HEAD.unpack_from(self.page, 0)[1]
        self.HEAD.pack_into(self.page, 0, at, count)

    def at(self):
        return self.HEAD.unpack_from(self.page, 0)[0]

    def set_runs(self, pids):
        pids = pids[:self.most]
        for i, pid in enumerate(pids):
            self.PID.pack_into(self.page, self.HEAD.size + i * self.PID.size, pid)
        self.HEAD.pack_into(self.page, 0, self.at(), len(pids))

    def runs(self):
        count = min(self.HEAD.unpack_from(self.page, 0)[1], self.most)
        return [self.PID.unpack_from(self.page, self.HEAD.size + i * self.PID.size)[0]
                for i in range(count)]


class Guard:
    """The worker's handle on its guard."""

    def __init__(self, pid, start, shared):
        self.pid = pid
        self.start = start
        self.shared = shared

    def alive(self):
        return os.getppid() == self.pid

    def renewed(self, at):
        """The lease was renewed at `at` (lease.steady; after a gap, the
        claims were checked since)."""
        self.shared.renewed(at)
        if self.alive():
            os.kill(self.pid, signal.SIGUSR2)

    def runs(self, pids):
        """The worker's runs are these (pids of their first processes)."""
        self.shared.set_runs(pids)


def run(work, lease):
    """Call work(guard) in a worker process under a guard (this process), or
    work(None) in this process where there is no guard. Returns work's
    result in the worker, the worker's exit status in the guard."""
    prctl = _prctl()
    if prctl is None or prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        return work(None)
    from cooperate.queue.host import process_start

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass  # printing failed: the worker's report stops printing (cli/stdio.py)
    ignored_hup = signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    guard = os.getpid()
    shared = Shared()
    pid = os.fork()
    if pid == 0:
        # the worker adopts what its runs leave (see the docstring)
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        os.setpgid(0, 0)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if os.getppid() != guard:
            # the guard died before the death signal was asked for
            os.kill(os.getpid(), signal.SIGTERM)
        return work(Guard(guard, process_start(guard), shared))
    return _watch(pid, lease / 2, ignored_hup, shared)


def _watch(worker, suspend_after, ignored_hup, shared):
    """The guard's loop, until the worker has ended and nothing it left
    runs. Returns the worker's exit status (128+N if killed by signal N)."""
    suspended = None
    status = None
    while status is None:
        # the time first, whatever woke the guard (a thaw wakes it with the
        # runs, and a renewal may be waiting that predates the gap)
        late = steady() - shared.at() - suspend_after
        if suspended is None and late >= 0:
            suspended = _suspend(worker, shared)
            # look now: it may not know that the machine slept (not SIGCONT:
            # a worker stopped on purpose stays stopped)
            _send(worker, signal.SIGUSR1)
            continue
        if suspended is None:
            info = signal.sigtimedwait(_WATCHED, min(-late, CHECK_EVERY))
            if info is None:
                continue
        else:
            info = signal.sigwaitinfo(_WATCHED)
        signum = info.si_signo
        if signum == signal.SIGCHLD:
            status = _reap(worker)
        elif signum == signal.SIGUSR2:
            if info.si_pid == worker and suspended is not None and \
                    steady() < shared.at() + suspend_after:
                _resume(suspended)
                suspended = None
        elif signum == signal.SIGTSTP:
            # Ctrl-Z: the runs and the worker stop with the guard; the runs
            # go on once the worker has renewed its lease
            if suspended is None:
                suspended = _suspend(worker, shared)
            _send(worker, signal.SIGSTOP)
            os.kill(os.getpid(), signal.SIGSTOP)
            _send(worker, signal.SIGCONT)
        elif not (signum == signal.SIGHUP and ignored_hup):
            _send(worker, _FORWARD_AS.get(signum, signum))
    _end_orphans()
    return status


def _send(pid, signum):
    try:
        os.kill(pid, signum)
    except OSError:
        pass


def _reap(worker):
    """Reap ended children; the worker's exit status once it has ended."""
    status = None
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == worker:
            status = 128 + os.WTERMSIG(code) if os.WIFSIGNALED(code) else os.WEXITSTATUS(code)


def _suspend(worker, shared):
    """SIGSTOP the worker's runs: their groups at once, then every process
    under them (what left the groups). Returns (groups, pids) to resume."""
    from cooperate.queue.host import descendants, signal_groups

    groups = shared.runs()
    signal_groups(groups, signal.SIGSTOP)
    # not the worker's other children: it may be waiting for one (--notify)
    pids = [pid for group in groups for pid in descendants(group)]
    for pid in pids:
        _send(pid, signal.SIGSTOP)
    return groups, pids


def _resume(suspended):
    from cooperate.queue.host import signal_groups

    groups, pids = suspended
    signal_groups(groups, signal.SIGCONT)
    for pid in pids:
        _send(pid, signal.SIGCONT)


def _end_orphans():
    """SIGKILL whatever the worker left (runs it could not stop, what they
    started), with their process groups, until nothing is left."""
    from cooperate.queue.host import children, signal_groups

    own = os.getpgrp()
    while True:
        left = children(os.getpid())
        signal_groups({group for _, group in left if group != own}, signal.SIGKILL)
        for pid, _ in left:
            _send(pid, signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
