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
- The worker tells the guard (SIGUSR2) each time it renews its lease. If
  half the lease passes without that (the worker is frozen, or stuck on an
  unreachable NFS server), the guard suspends the runs (SIGSTOP to their
  groups) before any other machine may take them back; the next renewal
  resumes them. A worker that renews after such a gap first checks, under
  the queue lock, which of its claims are still its own, and kills the runs
  of the others.
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
import sys
import time

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
_PASSED_ON = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1)
# the stop signals, as the guard passes them on: {real-time signal: signal}
FORWARDED = {signal.SIGRTMIN + 1 + i: s
             for i, s in enumerate((signal.SIGINT, signal.SIGTERM, signal.SIGHUP))}
_FORWARD_AS = {s: rt for rt, s in FORWARDED.items()}
_WATCHED = {signal.SIGCHLD, signal.SIGTSTP, signal.SIGUSR2} | set(_PASSED_ON)


def _prctl():
    """libc's prctl, or None where there is none (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None


class Guard:
    """The worker's handle on its guard."""

    def __init__(self, pid, start):
        self.pid = pid
        self.start = start

    def alive(self):
        return os.getppid() == self.pid

    def renewed(self):
        """The lease was renewed (and, after a gap, the claims checked)."""
        if self.alive():
            os.kill(self.pid, signal.SIGUSR2)


def run(work, lease):
    """Call work(guard) in a worker process under a guard (this process), or
    work(None) in this process where there is no guard. Returns work's
    result in the worker, the worker's exit status in the guard."""
    prctl = _prctl()
    if prctl is None or prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        return work(None)
    from cooperate.queue.host import process_start

    sys.stdout.flush()
    sys.stderr.flush()
    ignored_hup = signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    guard = os.getpid()
    pid = os.fork()
    if pid == 0:
        prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        os.setpgid(0, 0)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if os.getppid() != guard:
            # the guard died before the death signal was asked for
            os.kill(os.getpid(), signal.SIGTERM)
        return work(Guard(guard, process_start(guard)))
    return _watch(pid, lease / 2, ignored_hup)


def _watch(worker, suspend_after, ignored_hup):
    """The guard's loop, until the worker has ended and nothing it left
    runs. Returns the worker's exit status (128+N if killed by signal N)."""
    renewed = time.monotonic()
    suspended = None
    status = None
    while status is None:
        if suspended is None:
            timeout = renewed + suspend_after - time.monotonic()
            info = signal.sigtimedwait(_WATCHED, timeout) if timeout > 0 else None
            if info is None:
                suspended = _suspend(worker)
                continue
        else:
            info = signal.sigwaitinfo(_WATCHED)
        signum = info.si_signo
        if signum == signal.SIGCHLD:
            status = _reap(worker)
        elif signum == signal.SIGUSR2:
            if info.si_pid == worker:
                renewed = time.monotonic()
                if suspended is not None:
                    _resume(suspended)
                    suspended = None
        elif signum == signal.SIGTSTP:
            # Ctrl-Z: the runs and the worker stop with the guard; the runs
            # go on once the worker has renewed its lease
            if suspended is None:
                suspended = _suspend(worker)
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


def _suspend(worker):
    """SIGSTOP the process groups of the worker's runs; returns them."""
    from cooperate.queue.host import children, signal_groups

    groups = {group for _, group in children(worker) if group != worker}
    signal_groups(groups, signal.SIGSTOP)
    return groups


def _resume(groups):
    from cooperate.queue.host import signal_groups

    signal_groups(groups, signal.SIGCONT)


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
