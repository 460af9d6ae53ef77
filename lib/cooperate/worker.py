"""A worker: claims entries of one queue, runs them in its slots, records
each outcome, and repeats until nothing is pending and nothing runs (or,
with `wait`, until it is stopped).

It reacts to a run's end at once: SIGCHLD wakes it through a self-pipe
(signal.set_wakeup_fd), no fixed sleep. While runs are active it also looks
for entries appended meanwhile and for abort requests every `poll` seconds;
SIGUSR1 makes it look at once (a local `abort` sends it). SIGINT / SIGTERM
stop its runs as process groups, record them as interrupted (pending again)
and end it.
"""

import os
import re
import select
import signal
import time

from . import host, launcher
from .errors import UserError
from .queue import ABORTED, DONE, FAILED, INTERRUPTED, LEASE, LOST, RUNNING, heartbeat_every


def new_worker_id():
    name = re.sub(r"[^-.\w]", "_", host.hostname()) or "host"
    return "%s-%d-%s" % (name, os.getpid(), os.urandom(2).hex())


class Limits:
    """When a worker stops claiming: after `max_runs` runs, after a failure
    (`stop_on_error`), `start_by` seconds after it began, or once
    `stop_file` exists. With `end_by`, each run gets ENDBY, the seconds left
    of that budget, and nothing starts after it."""

    def __init__(self, max_runs=None, stop_on_error=False, start_by=None, end_by=None,
                 stop_file=None):
        self.max_runs = max_runs
        self.stop_on_error = stop_on_error
        self.stop_file = stop_file
        now = time.monotonic()
        self.end_by = None if end_by is None else now + end_by
        budgets = [b for b in (start_by, end_by) if b is not None]
        self.start_until = now + min(budgets) if budgets else None

    def reached(self, claimed):
        if self.max_runs is not None and claimed >= self.max_runs:
            return True
        if self.start_until is not None and time.monotonic() >= self.start_until:
            return True
        return self.stop_file is not None and os.path.exists(self.stop_file)


class Worker:
    def __init__(self, queue, slots, report, limits=None, wait=False, poll=2.0, detach=True,
                 grace=10.0, accept=None, script=None, comment=None, retries=0, lease=LEASE):
        self.queue = queue
        self.slots = slots
        self.report = report
        self.limits = limits or Limits()
        self.wait = wait
        self.poll = poll
        self.detach = detach
        self.grace = grace
        self.accept = accept
        self.script = script
        self.comment = comment
        self.retries = retries
        self.lease = lease
        self.id = new_worker_id()
        self.running = []
        self.ends = []
        self.failed = False
        self.signum = None
        self.claimed = 0
        self.no_more = False
        self.base_env = dict(os.environ)
        if queue.experiment is not None:
            # liftoff scripts import `liftoff` (and yaml) from this toolkit
            self.base_env["PYTHONPATH"] = os.pathsep.join(
                launcher.toolkit_path() + [p for p in [os.environ.get("PYTHONPATH")] if p])

    def info(self):
        pid = os.getpid()
        info = {"host": host.hostname(), "pid": pid, "boot": host.boot_id(),
                "start": host.process_start(pid), "since": time.time(), "cwd": os.getcwd(),
                "lease": self.lease, "slots": self.slots.capacity, "gpus": self.slots.gpus}
        if self.comment:
            info["comment"] = self.comment
        for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
            if name in os.environ:
                info[name.lower()] = os.environ[name]
        return info

    # -- signals -----------------------------------------------------------
    def _on_signal(self, signum, frame):
        if self.signum is not None:
            # a second Ctrl-C: no more grace
            self.grace = 0
        self.signum = signum

    def _on_look(self, signum, frame):
        self.look_now = True

    def _install(self):
        self._pipe = os.pipe()
        for fd in self._pipe:
            os.set_blocking(fd, False)
        signals = (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
        self._saved = {s: signal.getsignal(s) for s in signals}
        self._saved_wakeup = signal.set_wakeup_fd(self._pipe[1])
        signal.signal(signal.SIGCHLD, lambda *a: None)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGUSR1, self._on_look)

    def _uninstall(self):
        signal.set_wakeup_fd(self._saved_wakeup)
        for s, handler in self._saved.items():
            signal.signal(s, handler)
        for fd in self._pipe:
            os.close(fd)

    def _sleep(self, timeout):
        """Until a signal (a run ended, a stop, a look) or the timeout."""
        if timeout > 0 and self.signum is None and not self.look_now:
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
        if self.limits.end_by is not None:
            extra["ENDBY"] = str(max(0, int(self.limits.end_by - time.monotonic())))
        if self.queue.experiment is not None:
            launcher.link_logs(self.queue.experiment, claim)
        try:
            run = launcher.start(claim, slot, self.base_env, extra, self.detach,
                                 self.queue.experiment, self.script)
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
        again = False
        if outcome == FAILED:
            retries = claim.entry.get("retries", self.retries) if isinstance(
                claim.entry, dict) else self.retries
            again = claim.attempt <= retries
            if not again:
                self.failed = True
                self.no_more = self.no_more or self.limits.stop_on_error
        if outcome != LOST:
            # a run whose claim was taken back is already recorded, as lost
            self.ends.append((claim.id, claim.attempt, outcome, code, again))
        self.report("end", claim=claim, outcome=outcome, code=code, seconds=seconds,
                    message=message, again=again)

    def _collect(self):
        """Record the runs that ended; True if any did."""
        ended = [r for r in self.running if r.process.poll() is not None]
        for run in ended:
            self.running.remove(run)
            self.slots.release(run.slot)
            code = run.process.returncode
            # a run that ends by a signal while this worker is being stopped
            # got it with the worker (scancel signals the whole job): interrupted
            stopping = self.signum is not None and code != 0
            outcome = run.stopped_as or (DONE if code == 0 else INTERRUPTED if stopping else FAILED)
            self._ended(run.claim, outcome, code, time.monotonic() - run.started)
        return bool(ended)

    def _check_claims(self):
        """Carry out abort requests for runs this worker holds, and stop runs
        whose claim another worker took back (this worker was suspended or
        cut off past its lease): TERM now, KILL after the grace period."""
        now = time.monotonic()
        state = self.queue.state
        for run in self.running:
            claim = run.claim
            if run.stopped_as is None:
                if state.codes.get(claim.id) != claim.attempt << 3 | state.code_of(RUNNING):
                    run.stopped_as = LOST
                elif claim.id in state.aborting:
                    run.stopped_as = ABORTED
                else:
                    continue
                run.kill_at = now + self.grace
                launcher.signal_group(run, signal.SIGTERM)
                self.report("abort" if run.stopped_as == ABORTED else "lost", claim=claim)
            elif now >= run.kill_at:
                launcher.signal_group(run, signal.SIGKILL)

    def _stop_all(self):
        runs = list(self.running)
        launcher.stop(runs, self.grace)
        for run in runs:
            self.running.remove(run)
            self.slots.release(run.slot)
            self._ended(run.claim, run.stopped_as or INTERRUPTED, run.process.returncode,
                        time.monotonic() - run.started)

    # -- the loop ----------------------------------------------------------
    def _fill(self):
        """Claim and start entries while slots are free. Returns False when
        the queue had nothing pending (for this worker)."""
        while len(self.running) < self.slots.capacity and not self.no_more:
            if self.limits.reached(self.claimed):
                self.no_more = True
                break
            slot = self.slots.acquire()
            if slot is None:
                break
            claim = self.queue.take(self.id, self.ends, accept=self.accept, retries=self.retries)
            self.ends = []
            if claim is None:
                self.slots.release(slot)
                self.no_more = host.hostname() in self.queue.state.drained
                return False
            self.claimed += 1
            self._start(claim, slot)
        return True

    def run(self):
        """Work until done; returns the exit status (0 all runs succeeded,
        1 one failed, 128+N when stopped by signal N)."""
        queue = self.queue
        queue.join(self.id, self.info())
        queue.flush_every = 1.0
        self.look_now = False
        self._install()
        nothing_pending = False
        beat = heartbeat_every(self.lease)
        next_beat = time.monotonic() + beat
        clean = False
        try:
            while self.signum is None:
                if not nothing_pending:
                    nothing_pending = not self._fill()
                if self.ends:
                    queue.take(self.id, self.ends, claim=False)
                    self.ends = []
                if not self.running and (self.no_more or (nothing_pending and not self.wait)):
                    break
                now = time.monotonic()
                if now >= next_beat:
                    queue.heartbeat(self.id)
                    next_beat = now + beat
                # wake on a run's end or a signal; look at the queue every
                # `poll` seconds for new entries and abort requests
                self._sleep(min(next_beat - now, self.poll))
                ended = self._collect()
                if self.running or self.look_now:
                    self.look_now = False
                    queue.read()
                    self._check_claims()
                if ended or not self.running or len(self.running) < self.slots.capacity:
                    nothing_pending = False
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
