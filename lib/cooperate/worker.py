"""A worker: claims entries of one queue, runs them in its slots, records
each outcome, and repeats until nothing is pending (or, with `wait`, until
it is stopped).

It reacts to a run's end at once: SIGCHLD wakes it through a self-pipe
(signal.set_wakeup_fd), no fixed sleep. SIGINT / SIGTERM stop its runs as
process groups, record them as interrupted (pending again) and end it.
"""

import os
import re
import select
import signal
import time

from . import host, launcher
from .errors import UserError
from .queue import DONE, FAILED, HEARTBEAT, INTERRUPTED, LEASE


def new_worker_id():
    name = re.sub(r"[^-.\w]", "_", host.hostname()) or "host"
    return "%s-%d-%s" % (name, os.getpid(), os.urandom(2).hex())


class Worker:
    def __init__(self, queue, slots, report, max_runs=None, stop_on_error=False,
                 wait=False, poll=2.0, detach=True, grace=10.0):
        self.queue = queue
        self.slots = slots
        self.report = report
        self.max_runs = max_runs
        self.stop_on_error = stop_on_error
        self.wait = wait
        self.poll = poll
        self.detach = detach
        self.grace = grace
        self.id = new_worker_id()
        self.running = []
        self.ends = []
        self.failed = False
        self.signum = None
        self.claimed = 0
        self.no_more = False
        self.base_env = dict(os.environ)

    def info(self):
        pid = os.getpid()
        return {"host": host.hostname(), "pid": pid, "boot": host.boot_id(),
                "start": host.process_start(pid), "since": time.time(), "cwd": os.getcwd(),
                "lease": LEASE, "slots": self.slots.capacity, "gpus": self.slots.gpus}

    # -- signals -----------------------------------------------------------
    def _on_signal(self, signum, frame):
        if self.signum is not None:
            # a second Ctrl-C: no more grace
            self.grace = 0
        self.signum = signum

    def _install(self):
        self._pipe = os.pipe()
        for fd in self._pipe:
            os.set_blocking(fd, False)
        self._saved = {s: signal.getsignal(s) for s in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM)}
        self._saved_wakeup = signal.set_wakeup_fd(self._pipe[1])
        signal.signal(signal.SIGCHLD, lambda *a: None)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _uninstall(self):
        signal.set_wakeup_fd(self._saved_wakeup)
        for s, handler in self._saved.items():
            signal.signal(s, handler)
        for fd in self._pipe:
            os.close(fd)

    def _sleep(self, timeout):
        """Until a signal (a run ended, a stop) or the timeout."""
        if timeout > 0 and self.signum is None:
            select.select([self._pipe[0]], [], [], timeout)
        try:
            while os.read(self._pipe[0], 512):
                pass
        except BlockingIOError:
            pass

    # -- runs --------------------------------------------------------------
    def _start(self, claim, slot):
        extra = {"COOPERATE_ENTRY": claim.id, "COOPERATE_ATTEMPT": str(claim.attempt),
                 "COOPERATE_WORKER": self.id}
        try:
            run = launcher.start(claim, slot, self.base_env, extra, self.detach)
        except (OSError, UserError) as error:
            # the program cannot be started: a failed run, not a failed worker
            code = 126 if isinstance(error, PermissionError) else 127
            message = "cannot start: %s" % (
                error if isinstance(error, UserError) else
                "%s: %s" % (error.filename or "", error.strerror))
            if self.detach:
                with open(claim.err, "w") as f:
                    f.write("cooperate: %s\n" % message)
            self.slots.release(slot)
            self.report("start", claim=claim, gpu=slot.gpu)
            self._ended(claim, FAILED, code, 0.0, message)
            return
        self.running.append(run)
        self.report("start", claim=claim, gpu=slot.gpu)

    def _ended(self, claim, outcome, code, seconds, message=None):
        if outcome == FAILED:
            self.failed = True
            self.no_more = self.no_more or self.stop_on_error
        self.ends.append((claim.id, claim.attempt, outcome, code))
        self.report("end", claim=claim, outcome=outcome, code=code, seconds=seconds,
                    message=message)

    def _collect(self):
        """Record the runs that ended; True if any did."""
        ended = [r for r in self.running if r.process.poll() is not None]
        for run in ended:
            self.running.remove(run)
            self.slots.release(run.slot)
            code = run.process.returncode
            self._ended(run.claim, DONE if code == 0 else FAILED, code,
                        time.monotonic() - run.started)
        return bool(ended)

    def _stop_all(self):
        runs = list(self.running)
        launcher.stop(runs, self.grace)
        for run in runs:
            self.running.remove(run)
            self.slots.release(run.slot)
            self._ended(run.claim, INTERRUPTED, run.process.returncode,
                        time.monotonic() - run.started)

    # -- the loop ----------------------------------------------------------
    def _fill(self):
        """Claim and start entries while slots are free. Returns False when
        the queue had nothing pending."""
        while len(self.running) < self.slots.capacity and not self.no_more:
            if self.max_runs is not None and self.claimed >= self.max_runs:
                self.no_more = True
                break
            slot = self.slots.acquire()
            if slot is None:
                break
            claim = self.queue.take(self.id, self.ends)
            self.ends = []
            if claim is None:
                self.slots.release(slot)
                return False
            self.claimed += 1
            self._start(claim, slot)
        return True

    def run(self):
        """Work until done; returns the exit status (0 all runs succeeded,
        1 one failed, 128+N when stopped by signal N)."""
        queue = self.queue
        queue.join(self.id, self.info())
        self._install()
        drained = False
        next_beat = time.monotonic() + HEARTBEAT
        clean = False
        try:
            while self.signum is None:
                if not drained:
                    drained = not self._fill()
                if self.ends:
                    queue.take(self.id, self.ends, claim=False)
                    self.ends = []
                if not self.running and (self.no_more or (drained and not self.wait)):
                    break
                now = time.monotonic()
                if now >= next_beat:
                    queue.heartbeat(self.id)
                    next_beat = now + HEARTBEAT
                # with a free slot (nothing pending, or every GPU slot taken by
                # other workers) look again after `poll`; else wake on a run's end
                idle = len(self.running) < self.slots.capacity
                self._sleep(min(next_beat - now, self.poll) if idle else next_beat - now)
                if self._collect() or (idle and self.wait):
                    drained = False
            clean = True
        finally:
            if self.running:
                self._stop_all()
            if self.signum is not None:
                self.report("stop", signum=self.signum)
            self._uninstall()
            code = 128 + self.signum if self.signum else (1 if self.failed else 0)
            try:
                if self.ends:
                    queue.take(self.id, self.ends, claim=False)
                queue.leave(self.id, code)
            except UserError:
                if clean:
                    raise
                # already failing: the first error is the one to report
        return code
