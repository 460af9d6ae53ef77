"""A worker: claims entries of one queue, runs them in its slots, records
each outcome, and repeats until nothing is pending and nothing runs (or,
with `wait`, until it is stopped).

This module is the event loop; its parts live beside it: runs.py starts,
stops and collects the runs, lease.py keeps the lease, admission.py says
whether another run may start (slots, GPUs, host resources), notices.py
tells the user, hooks.py lets an experiment keep its run folders.

It runs under a guard process (guard.py) that kills its runs if it dies and
suspends them if it stops renewing its lease. It reacts to a run's end at
once: SIGCHLD wakes it through a self-pipe (signal.set_wakeup_fd), no fixed
sleep. While runs are active it also looks for entries appended meanwhile
and for abort requests every `poll` seconds; SIGUSR1 makes it look at once
(a local `abort` sends it). SIGINT, SIGTERM and SIGHUP stop its runs as
process groups (TERM, the grace period, KILL; a second signal cuts the grace
period short), record them as interrupted (pending again) and end it. The
worker wakes at the next time limit of a run, it does not poll for it.
"""

import os
import re
import select
import signal
import time

from cooperate import fmt, metrics
from cooperate.errors import UserError
from cooperate.queue import host
from cooperate.queue.core import ABORTED, INTERRUPTED, LEASE, PRUNED, RUNNING
from cooperate.run import guard, recent
from cooperate.run import resources as res
from cooperate.run.admission import Admission
from cooperate.run.hooks import Hooks
from cooperate.run.lease import LeaseKeeper
from cooperate.run.metrics import Watch
from cooperate.run.notices import Notices
from cooperate.run.runs import SIGNAL_LAG, Runs

# a run's process is recorded in the journal with the worker's next
# transaction, or after this many seconds at the latest (a short run that
# has ended by then costs no transaction of its own)
RECORD_PROCESS_AFTER = 1.0
# While runs are short, a claim takes a batch: what the next of them will
# run, without a transaction (a lock and a journal write) each. A batch
# holds about HOLD seconds of runs beyond the free slots, at most
# MAX_BATCH entries: at the queue's end, others wait no longer than that for
# what one worker holds.
HOLD = 0.5
MAX_BATCH = 16
# how often a worker with nothing left looks at the workers elsewhere that
# it watches before exiting (see _watching): they are seen alive, or gone,
# within this, not a --poll later
WATCH_EVERY = 0.2


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
        """Why nothing more may start (a sentence), or None."""
        if self.max_runs is not None and claimed >= self.max_runs:
            return "it started the %d run%s --max-runs allows" % (
                self.max_runs, "" if self.max_runs == 1 else "s")
        if self.start_until is not None and time.monotonic() >= self.start_until:
            return "the time of --start-by / --end-by is up"
        if self.stop_file is not None and os.path.exists(self.stop_file):
            return "%s exists (remove it to start runs again)" % self.stop_file
        return None


class Worker:
    def __init__(self, queue, slots, report, limits=None, wait=False, poll=2.0, detach=True,
                 grace=10.0, accept=None, hooks=None, comment=None, retries=0, lease=LEASE,
                 timeout=None, resources=None, notify=None, early_stop=None,
                 finish_on_interrupt=False, stop_hint=None):
        self.queue = queue
        self.slots = slots
        self.report = report
        self.limits = limits or Limits()
        self.wait = wait
        self.poll = poll
        self.detach = detach
        self.comment = comment
        self.lease = lease
        self.timeout = timeout
        self.hooks = hooks or Hooks()
        self.runs = Runs(queue, slots, report, self.hooks, detach, grace, retries, timeout,
                         self.limits.stop_on_error)
        self.admission = Admission(queue, slots, report, resources, accept)
        self.notices = Notices(queue, report, notify)
        # the runs' metrics files, and the rule that may stop runs early
        self.metrics = Watch(queue, early_stop)
        self.keeper = None
        self.id = new_worker_id()
        self.guard = None
        self.signum = None
        # how many stop signals came, {forwarded by the guard?: count}
        self.stops = {False: 0, True: 0}
        self.stop_again = False
        # liftoff's launcher: a first Ctrl-C only stops launching (the signal
        # number once it came); the runs go on to their end, watched
        self.finish_on_interrupt = finish_on_interrupt
        self.interrupted = None
        # how the user stops this worker and its runs (a command), for notes
        self.stop_hint = stop_hint
        # a hangup moves this worker's lines from its terminal to its log
        self.terminal = os.isatty(2)
        self.hung_up = False
        self.claimed = 0
        # said that it watches other workers before exiting (see _watching);
        # it watched some at its last look
        self.told_watching = False
        self.watching = False
        # why this worker starts nothing more (a sentence), or None
        self.no_more = None
        # entries claimed in a batch and not started yet (Claims, in order)
        self.batched = []

    def info(self):
        pid = os.getpid()
        boot, namespace = host.identity()
        info = {"host": host.hostname(), "pid": pid, "boot": boot, "pidns": namespace,
                "start": host.process_start(pid), "since": time.time(), "cwd": os.getcwd(),
                "lease": self.lease, "slots": self.slots.capacity, "gpus": self.slots.gpus,
                # for status: an attempt without logs printed nothing (or, with
                # --no-detach, printed to this worker's terminal)
                "detach": self.detach}
        if self.guard is not None:
            info["guard"], info["guard_start"] = self.guard.pid, self.guard.start
        if self.comment:
            info["comment"] = self.comment
        if self.timeout is not None:
            # for status: the limit its timed-out runs had
            info["timeout"] = self.timeout
        for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
            if name in os.environ:
                info[name.lower()] = os.environ[name]
        return info

    # -- signals -----------------------------------------------------------
    def _on_stop(self, signum, frame):
        forwarded = signum in guard.FORWARDED
        signum = guard.FORWARDED.get(signum, signum)
        if signum == signal.SIGHUP:
            self._on_hangup()
            return
        self.stops[forwarded] += 1
        requests = max(self.stops.values())
        if self.signum is None and self.finish_on_interrupt and signum == signal.SIGINT and (
                self.interrupted is None):
            self.interrupted = signum
        elif self.signum is None:
            self.signum = signum
            self.stopped_at = requests
        elif requests > self.stopped_at:
            # a second request (not the same one reaching this worker both
            # directly and through the guard): no more grace
            self.runs.kill_now()
            self.stop_again = True

    def _on_hangup(self):
        """The terminal went away (SIGHUP): nothing stops, this worker goes
        on in the background, its lines going to its log from now on."""
        if self.hung_up or not self.terminal:
            return
        self.hung_up = True
        path = self.log_path()
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
        except OSError:
            fd = os.open(os.devnull, os.O_WRONLY)
        for target in (1, 2):
            os.dup2(fd, target)
        os.close(fd)
        self.notices.live = False
        self.report("detached")
        self.report("note", text="the terminal is gone (SIGHUP): this worker (pid %d) carries "
                                 "on in the background with its %s; to stop %s: %s" % (
                                     self._pid(), fmt.count(len(self.runs), "run"),
                                     "them" if len(self.runs) != 1 else "it", self._hint()))

    def log_path(self):
        """Where this worker's lines go once its terminal is gone."""
        return os.path.join(self.queue.dir, "logs", "workers", "%s.log" % self.id)

    def _pid(self):
        """The pid the user started (the guard's, if any)."""
        return self.guard.pid if self.guard is not None else os.getpid()

    def _hint(self):
        return self.stop_hint or "kill %d" % self._pid()

    def _stop_launching(self):
        """After a launch's first Ctrl-C: start nothing more, say so."""
        self.no_more = "Ctrl-C stopped the launching"
        if self.runs.running:
            self.report("note", text=(
                "Ctrl-C: starting nothing more; %s go%s on to %s end, watched by this launcher "
                "(if this terminal closes, it goes on in the background and writes to %s). To "
                "stop %s: %s, or Ctrl-C again" % (
                    fmt.count(len(self.runs), "run"), "es" if len(self.runs) == 1 else "",
                    "its" if len(self.runs) == 1 else "their", self.log_path(),
                    "it" if len(self.runs) == 1 else "them", self._hint())))

    def _on_look(self, signum, frame):
        self.look_now = True

    def _on_continue(self, signum, frame):
        # resumed after a stop (SIGSTOP, Ctrl-Z): renew the lease now
        if self.keeper is not None:
            self.keeper.renew_now()

    def _install(self):
        self._pipe = os.pipe()
        for fd in self._pipe:
            os.set_blocking(fd, False)
        handlers = {signal.SIGCHLD: lambda *a: None, signal.SIGINT: self._on_stop,
                    signal.SIGTERM: self._on_stop, signal.SIGUSR1: self._on_look,
                    **dict.fromkeys(guard.FORWARDED, self._on_stop),
                    signal.SIGCONT: self._on_continue,
                    # the terminal belongs to the guard's process group: writing to it
                    # from ours must not stop this worker (stty tostop)
                    signal.SIGTTOU: signal.SIG_IGN}
        if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
            # never a stop: see _on_hangup
            handlers[signal.SIGHUP] = self._on_stop
        self._saved = {s: signal.getsignal(s) for s in handlers}
        self._saved_wakeup = signal.set_wakeup_fd(self._pipe[1])
        for s, handler in handlers.items():
            signal.signal(s, handler)

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

    def _stopped_with_run(self, code):
        """Did a run that failed end because this worker is being stopped?
        Slurm and systemd signal every process of a job, the runs may get it
        first: one killed by a signal waits up to SIGNAL_LAG for this worker's."""
        deadline = time.monotonic() + SIGNAL_LAG
        while code < 0 and self.signum is None and time.monotonic() < deadline:
            self._sleep(deadline - time.monotonic())
        return self.signum is not None

    # -- claiming ----------------------------------------------------------
    def _fill(self):
        """Claim and start entries while slots are free. Returns False when
        the queue had nothing pending (for this worker)."""
        admission = self.admission
        while len(self.runs) < self.slots.capacity and not self._no_more():
            slot, waiting = admission.slot(len(self.runs))
            if slot is None:
                return waiting
            if self.batched:
                # what ended is safe (noted, else recorded) before more starts
                self._record()
            claim = self._batched()
            if claim is None:
                claim = self.queue.take(self.id, self.runs.take_ends(),
                                        accept=admission.accepting(slot),
                                        retries=self.runs.retries, procs=self.runs.processes(),
                                        notify=self.notices.notify is not None,
                                        batch=self._batch())
                self.batched = self.queue.batched
                self.notices.took_back()
                self.notices.announce(self.runs.base_env)
            if claim is None:
                self.slots.release(slot)
                here = host.hostname()
                if here in self.queue.state.drained:
                    self.no_more = ("this host (%s) is drained: it takes nothing new "
                                    "(`cooperate-drain %s --undo` lets it)" % (
                                        here, self.queue.source.name))
                return admission.nothing_claimed(self.no_more)
            admission.claimed(slot)
            self.claimed += 1
            extra = {"COOPERATE_ENTRY": claim.id, "COOPERATE_ATTEMPT": str(claim.attempt),
                     "COOPERATE_WORKER": self.id}
            if self.limits.end_by is not None:
                extra["ENDBY"] = str(max(0, int(self.limits.end_by - time.monotonic())))
            extra[metrics.ENV] = self.metrics.prepare(claim)
            pruned = self.metrics.pruned(claim)
            if pruned is not None:
                # pruned by an earlier attempt whose end was lost: not run again
                self.slots.release(slot)
                self.runs.ended(claim, PRUNED, None, 0.0, pruned)
                continue
            self.runs.start(claim, slot, extra)
        return True

    def _no_more(self):
        """Why nothing more may start (and remember it), or None."""
        self.no_more = self.no_more or self.runs.no_more or self.limits.reached(self.claimed)
        if self.no_more:
            self._give_back()
        return self.no_more

    def _batch(self):
        """How many entries the next claim takes: one, or while runs are
        short, a batch (see HOLD), never past --max-runs. Not with GPUs or
        host limits: whether an entry may start depends on them then."""
        typical = self.runs.typical
        if (typical is None or typical * 2 >= HOLD or self.slots.gpus
                or self.admission.resources is not None):
            return 1
        batch = min(MAX_BATCH, int(HOLD / max(typical, HOLD / MAX_BATCH)))
        if self.limits.max_runs is not None:
            batch = min(batch, self.limits.max_runs - self.claimed)
        return max(batch, 1)

    def _batched(self):
        """The next entry claimed in a batch that is still this worker's
        to start, or None. One taken back meanwhile is dropped (the worker
        looked dead: keep() has caught up with the journal since); one
        aborted meanwhile ends without running."""
        state, running = self.queue.state, self.queue.state.code_of(RUNNING)
        if host.hostname() in state.drained:
            self._give_back()
        while self.batched:
            claim = self.batched.pop(0)
            if state.codes.get(claim.id) != claim.attempt << 3 | running:
                continue
            if claim.id in state.aborting:
                self.runs.ended(claim, ABORTED, None, 0.0, "aborted before it started")
                continue
            return claim
        return None

    def _give_back(self):
        """The entries claimed in a batch and not started are pending again
        (recorded with the next transaction: an attempt that was interrupted
        before it started)."""
        for claim in self.batched:
            self.runs.ends.append((claim.id, claim.attempt, INTERRUPTED, None, True, time.time(),
                                   None))
        self.batched = []

    def _watching(self):
        """Before a worker with nothing to do exits: do workers on other
        machines hold runs that this one has neither seen renew their lease
        nor watched silent for it? (Then it watches them, at most one lease:
        it takes back the runs of those that stay silent.)"""
        undecided = self.queue.leases.undecided(self.id)
        self.watching = bool(undecided)
        if undecided and not self.told_watching:
            self.told_watching = True
            self.report("note", text="watching %d worker%s elsewhere that hold%s runs before "
                        "exiting (runs of one silent for its lease are taken back)" % (
                            len(undecided), "" if len(undecided) == 1 else "s",
                            "s" if len(undecided) == 1 else ""))
        return bool(undecided)

    def _record(self, procs=()):
        if not (self.runs.ends or procs):
            return
        if not procs and self._note():
            return  # with the next claim's transaction
        self.queue.take(self.id, self.runs.take_ends(), claim=False, procs=procs,
                        notify=self.notices.notify is not None)
        self.notices.announce(self.runs.base_env)

    def _note(self):
        """While a batch lasts (see _in_batch), the ends of its runs wait
        for the next claim's transaction: each is noted at once in the
        heartbeat file instead (one write), so that a worker that finds this
        one dead records them as they ended (see queue/lease.py). True if
        the ends may wait."""
        runs = self.runs
        if self.notices.notify is not None or not self._in_batch():
            return False
        if runs.noted < len(runs.ends):
            if not self.queue.note_ends(runs.ends[runs.noted:]):
                return False
            runs.noted = len(runs.ends)
        return True

    def _in_batch(self):
        """Do entries of a batch wait to start, or does the last of them
        run? Then the ends before it wait for the next claim, or, if that
        run lasts, for its process's record (at the worker's first wake
        RECORD_PROCESS_AFTER after its start)."""
        return bool(self.batched) or any(r.claim.batched for r in self.runs.running)

    # -- the loop ----------------------------------------------------------
    def run(self):
        """Work until done; returns the exit status (0 all runs succeeded,
        1 one failed, 128+N when stopped by signal N)."""
        return guard.run(self._work, self.lease)

    def _work(self, guard_process):
        queue, runs = self.queue, self.runs
        self.guard = guard_process
        if guard_process is not None:
            # this is a new process
            self.id = new_worker_id()
        runs.worker = self.id
        runs.guard = guard_process
        self.keeper = LeaseKeeper(queue, self.id, self.lease, guard_process, runs.check)
        queue.join(self.id, self.info())
        recent.remember(queue.source.name)
        # liftoff's launcher mark: the pid the user started, by session
        runs.hook("launched", self.id,
                   guard_process.pid if guard_process is not None else os.getpid())
        queue.flush_every = 1.0
        self.look_now = False
        self._install()
        nothing_pending = False
        clean = False
        try:
            while True:
                self.keeper.keep()
                if self.signum is not None:
                    if self.stop_again and runs.running:
                        self.report("note", text="stopping now: SIGKILL to %d run%s" % (
                            len(runs), "" if len(runs) == 1 else "s"))
                    self.stop_again = False
                    self._give_back()
                    stopping = runs.stop_all(INTERRUPTED)
                    if stopping:
                        self.report("stopping", signum=self.signum, runs=stopping,
                                    grace=runs.grace)
                    if not runs.running:
                        break
                else:
                    if self.interrupted is not None and self.no_more is None:
                        self._stop_launching()
                    if not nothing_pending:
                        nothing_pending = not self._fill()
                    self._record(runs.processes(RECORD_PROCESS_AFTER))
                    self.notices.watch_list()
                    self.watching = False
                    if not runs.running and (self._no_more() or (
                            nothing_pending and not self.wait and not queue.list.unreadable
                            and not self._watching())):
                        if not self.notices.quiet:
                            self.report("note", text="nothing more to start: %s" % (
                                self.no_more or self.notices.nothing_pending()))
                        break
                # wake on a run's end or a signal; look at the queue every
                # `poll` seconds for new entries and abort requests
                now = time.monotonic()
                wake = [self.keeper.next_beat, now + self.poll] + runs.deadlines()
                if self.watching:
                    wake.append(now + WATCH_EVERY)
                if self.admission.waiting() and len(runs) < self.slots.capacity:
                    wake.append(now + res.CHECK_EVERY)
                if self.notices.wake_at() is not None:
                    wake.append(self.notices.wake_at())
                self._sleep(min(wake) - now)
                ended = runs.collect(self._stopped_with_run)
                if runs.running or self.look_now:
                    self.look_now = False
                    queue.read()
                    runs.check()
                # before their ends are recorded: the rungs the ended runs reached count too
                for run, why in self.metrics.look(runs.running, self.id):
                    runs.prune(run, why)
                self.notices.progress(len(runs))
                if ended or not runs.running or len(runs) < self.slots.capacity:
                    nothing_pending = False
            clean = True
        finally:
            if runs.running:
                runs.wind_down(self._sleep)
            if self.signum is not None:
                self.report("stop", signum=self.signum)
            stopped = self.signum or self.interrupted
            code = 128 + stopped if stopped else (1 if runs.failed else 0)
            try:
                self._give_back()
                # with the handlers still in place: the same stop signal, sent
                # to the whole job, may reach this worker twice
                self._record()
                queue.leave(self.id, code)
                runs.hook("launched", self.id, None)
                if self.notices.live:
                    self.report("summary", counts=queue.counts(), mine=runs.outcomes)
            except UserError:
                if clean:
                    raise
                # already failing: the first error is the one to report
            finally:
                self._uninstall()
        return code
