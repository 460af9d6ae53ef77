"""A worker: claims entries of one queue, runs them in its slots, records
each outcome, and repeats until nothing is pending and nothing runs (or,
with `wait`, until it is stopped).

It runs under a guard process (guard.py) that kills its runs if it dies and
suspends them if it stops renewing its lease. It reacts to a run's end at
once: SIGCHLD wakes it through a self-pipe (signal.set_wakeup_fd), no fixed
sleep. While runs are active it also looks for entries appended meanwhile
and for abort requests every `poll` seconds; SIGUSR1 makes it look at once
(a local `abort` sends it). SIGINT, SIGTERM and SIGHUP stop its runs as
process groups (TERM, the grace period, KILL; a second signal cuts the grace
period short), record them as interrupted (pending again) and end it.

A run whose claim another worker took back (this worker was frozen or cut
off past its lease) is killed at once and never reported or recorded as
done. A run past its time limit (the entry's "timeout", else `timeout`) is
stopped as an abort is (TERM, the grace period, KILL) and recorded as timed
out: the worker wakes at the next limit, it does not poll for it. With
`resources` (--memfree, --load) or GPU slots with gpu_memfree, nothing new
starts while the host lacks them; the worker looks again every
resources.CHECK_EVERY seconds.
"""

import os
import re
import select
import signal
import subprocess
import time

from cooperate.grid import experiment as exp
from cooperate import fmt
from cooperate.run import guard
from cooperate.queue import host
from cooperate.run import launcher
from cooperate.queue import logs
from cooperate.run import recent
from cooperate.run import resources as res
from cooperate.errors import UserError
from cooperate.queue.core import (ABORTED, DONE, FAILED, INTERRUPTED, LATER, LEASE, LOST, RUNNING, TIMEOUT,
                    heartbeat_every)

# a run's process is recorded in the journal with the worker's next
# transaction, or after this many seconds at the latest (a short run that
# has ended by then costs no transaction of its own)
RECORD_PROCESS_AFTER = 1.0
# a list that does not read (being rewritten in place) is reported once it
# has not read for this long
SAY_UNREADABLE_AFTER = 5.0
# --notify's command is stopped after this long (a hung mail server must not
# keep the worker)
NOTIFY_TIMEOUT = 60.0
# a run killed by a signal, while none reached this worker, may have been
# signalled with its whole job: this worker's own signal is awaited this long
SIGNAL_LAG = 0.5


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
                 grace=10.0, accept=None, script=None, comment=None, retries=0, lease=LEASE,
                 optimize=False, timeout=None, resources=None, notify=None):
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
        self.optimize = optimize
        self.runner = None
        self.comment = comment
        self.retries = retries
        self.lease = lease
        self.timeout = timeout
        self.resources = resources
        # argv run once the queue is finished, if this worker records its end
        self.notify = notify
        # what the host lacks that this worker waits for (see _wait_for), or None
        self.waiting_for = None
        self.id = new_worker_id()
        self.guard = None
        self.running = []
        self.ends = []
        self.failed = False
        self.signum = None
        # how many stop signals came, {forwarded by the guard?: count}
        self.stops = {False: 0, True: 0}
        self.stop_again = False
        self.claimed = 0
        # why this worker starts nothing more (a sentence), or None
        self.no_more = None
        self.waiting_for_slot = False
        # the "gpus" of entries left to other workers (more GPUs than this one
        # has), and those said so
        self.too_big, self.told_too_big = set(), set()
        # the fewest GPUs an entry the last claim left for later needs (see
        # _accepting), and the number said in the last waiting line
        self.later = None
        self.waiting_gpus = None
        # the outcomes of the runs this worker ended
        self.outcomes = {}
        # the reporter keeps a live progress line (on a terminal)
        self.live = getattr(report, "live", False)
        self.next_progress = 0.0
        self.told_unreadable = False
        self.base_env = dict(os.environ)
        if queue.experiment is not None:
            # liftoff scripts import `liftoff` (and yaml) from this toolkit
            self.base_env["PYTHONPATH"] = os.pathsep.join(
                launcher.toolkit_path() + [p for p in [os.environ.get("PYTHONPATH")] if p])

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
        self.stops[forwarded] += 1
        if self.signum is None:
            self.signum = signum
        elif max(self.stops.values()) >= 2:
            # a second request (not the same one reaching this worker both
            # directly and through the guard): no more grace
            self.grace = 0
            now = time.monotonic()
            for run in self.running:
                run.kill_at = now
            self.stop_again = True

    def _on_look(self, signum, frame):
        self.look_now = True

    def _on_continue(self, signum, frame):
        # resumed after a stop (SIGSTOP, Ctrl-Z): renew the lease now
        self.next_beat = 0.0

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

    # -- the lease ---------------------------------------------------------
    def _keep_lease(self):
        """Renew the lease when due and tell the guard. After a gap of half
        the lease or more, other workers may have taken runs back: look,
        under the lock, before anything else (and before the guard resumes
        the runs it suspended meanwhile)."""
        if time.monotonic() < self.next_beat:
            return
        before = time.monotonic()
        renewed = self.queue.heartbeat(self.id)
        now = time.monotonic()
        self.next_beat = now + heartbeat_every(self.lease)
        if not renewed:
            return
        if now - self.renewed >= self.lease / 2:
            self.queue.sync()
            self._check_claims()
        self.renewed = before
        if self.guard is not None:
            self.guard.renewed()

    # -- runs --------------------------------------------------------------
    def _start(self, claim, slot):
        extra = {"COOPERATE_ENTRY": claim.id, "COOPERATE_ATTEMPT": str(claim.attempt),
                 "COOPERATE_WORKER": self.id}
        if self.limits.end_by is not None:
            extra["ENDBY"] = str(max(0, int(self.limits.end_by - time.monotonic())))
        experiment = self.queue.experiment
        try:
            if claim.problem:
                raise UserError(claim.problem)
            if experiment is not None:
                self._mark(exp.mark_started, claim.entry["run"], self.id)
            run = launcher.start(claim, slot, self.base_env, extra,
                                 self._open_log if self.detach else None, experiment, self.runner)
            if experiment is not None:
                launcher.link_logs(experiment, claim, [p for _, p in run.logs])
        except (OSError, UserError) as error:
            # the program cannot be started: a failed run, not a failed worker
            code = 126 if isinstance(error, PermissionError) else 127
            message = "cannot start: %s" % (
                error if isinstance(error, UserError) else
                "%s: %s" % (error.filename or "", error.strerror))
            written = []
            if self.detach:
                try:
                    with os.fdopen(self._open_log(claim.err), "w") as f:
                        f.write("cooperate: %s\n" % message)
                    written.append(claim.err)
                except (OSError, UserError):
                    pass  # the reason is in the worker's output too
            if experiment is not None and not claim.problem:
                launcher.link_logs(experiment, claim, written)
            self.slots.release(slot)
            self.report("start", claim=claim, gpu=slot.gpu)
            self._ended(claim, FAILED, code, 0.0, message)
            return
        run.limit = claim.entry.get("timeout", self.timeout) if isinstance(
            claim.entry, dict) else self.timeout
        self.running.append(run)
        self.report("start", claim=claim, gpu=slot.gpu)

    def _open_log(self, path):
        queue = self.queue
        return logs.open_log(path, queue.file_mode, queue.folder_mode, queue.trusted)

    def _ended(self, claim, outcome, code, seconds, message=None):
        again = False
        if outcome in (FAILED, TIMEOUT):
            retries = claim.entry.get("retries", self.retries) if isinstance(
                claim.entry, dict) else self.retries
            again = claim.attempt <= retries
            if not again:
                self.failed = True
                if self.limits.stop_on_error and not self.no_more:
                    self.no_more = "a run failed, and --stop-on-error"
        self.ends.append((claim.id, claim.attempt, outcome, code, again))
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if self.queue.experiment is not None and not claim.problem:
            self._mark(exp.mark_ended, claim.entry["run"], outcome)
        self.report("end", claim=claim, outcome=outcome, code=code, seconds=seconds,
                    message=message, again=again)

    def _mark(self, mark, *args):
        """liftoff's marks in the experiment's folders (experiment.py): for
        liftoff's tools and analysis code, so a failure to write them is not
        the run's."""
        try:
            mark(self.queue.experiment, *args)
        except OSError:
            pass

    def _collect(self):
        """Record the runs that ended (those that end meanwhile too); True if
        any did."""
        collected = False
        while True:
            run = next((r for r in self.running if launcher.finished(r)), None)
            if run is None:
                return collected
            collected = True
            self.running.remove(run)
            code = launcher.reap(run)
            launcher.close_logs(run, self.queue.experiment)
            self.slots.release(run.slot)
            if run.stopped_as == LOST:
                # taken back by another worker: said when it was stopped, never recorded
                continue
            outcome = run.stopped_as or (DONE if code == 0 else INTERRUPTED
                                         if self._stopped_with_run(code) else FAILED)
            self._ended(run.claim, outcome, code, time.monotonic() - run.started,
                        "stopped at its time limit of %g s" % run.limit
                        if outcome == TIMEOUT else None)

    def _stopped_with_run(self, code):
        """Did a run that failed end because this worker is being stopped?
        Slurm and systemd signal every process of a job, the runs may get it
        first: one killed by a signal waits up to SIGNAL_LAG for this worker's."""
        deadline = time.monotonic() + SIGNAL_LAG
        while code < 0 and self.signum is None and time.monotonic() < deadline:
            self._sleep(deadline - time.monotonic())
        return self.signum is not None

    def _stop(self, run, outcome, grace):
        run.stopped_as = outcome
        run.kill_at = time.monotonic() + grace
        launcher.signal_group(run, signal.SIGKILL if grace <= 0 else signal.SIGTERM)

    def _check_claims(self):
        """Carry out abort requests for runs this worker holds; kill at once
        the runs whose claim another worker took back; stop the runs past
        their time limit; KILL the groups of runs being stopped once their
        grace period is over."""
        now = time.monotonic()
        state = self.queue.state
        running = state.code_of(RUNNING)
        for run in self.running:
            claim = run.claim
            if run.stopped_as in (None, ABORTED, TIMEOUT, INTERRUPTED) and \
                    state.codes.get(claim.id) != claim.attempt << 3 | running:
                self._stop(run, LOST, 0)
                self.report("lost", claim=claim)
            elif run.stopped_as is None and claim.id in state.aborting:
                self._stop(run, ABORTED, self.grace)
                self.report("abort", claim=claim)
            elif run.stopped_as is None and run.limit is not None and \
                    now >= run.started + run.limit:
                self._stop(run, TIMEOUT, self.grace)
                self.report("timeout", claim=claim, limit=run.limit, grace=self.grace)
            elif run.stopped_as is not None and now >= run.kill_at:
                launcher.signal_group(run, signal.SIGKILL)

    def _processes(self, now):
        """Process records of runs started since the last transaction that
        still run, if one of them started RECORD_PROCESS_AFTER ago or more
        (None otherwise)."""
        new = [r for r in self.running if not r.recorded]
        if not new or now - new[0].started < RECORD_PROCESS_AFTER:
            return []
        return self._all_processes()

    def _all_processes(self):
        procs = []
        for run in self.running:
            if not run.recorded:
                run.recorded = True
                start = host.process_start(run.process.pid)
                if start is not None:
                    procs.append((run.claim.id, run.claim.attempt, run.process.pid, start))
        return procs

    # -- the loop ----------------------------------------------------------
    def _fill(self):
        """Claim and start entries while slots are free. Returns False when
        the queue had nothing pending (for this worker)."""
        while len(self.running) < self.slots.capacity and not self.no_more:
            self.no_more = self.limits.reached(self.claimed)
            if self.no_more:
                break
            short = self.resources.short() if self.resources is not None else None
            if short is not None:
                return self._wait_for(*short)
            slot = self.slots.acquire()
            if slot is None:
                if self.slots.short is not None:
                    return self._wait_for("gpu memory", self.slots.short)
                if not self.running and not self.waiting_for_slot:
                    self.waiting_for_slot = True
                    self.report("note", text="waiting for a GPU slot: all %d slots of GPUs %s "
                                "are held by other runs on this host" % (
                                    self.slots.capacity, ",".join(self.slots.gpus)))
                break
            self.waiting_for_slot = False
            if self.waiting_for != "gpu memory" or self.slots.short is None:
                # what was lacking is there again: the next shortage is said again
                self.waiting_for = None
            claim = self.queue.take(self.id, self.ends, accept=self._accepting(slot),
                                    retries=self.retries, procs=self._all_processes(),
                                    notify=self.notify is not None)
            self.ends = []
            self._announce()
            if claim is None:
                self.slots.release(slot)
                here = host.hostname()
                if here in self.queue.state.drained:
                    self.no_more = ("this host (%s) is drained: it takes nothing new "
                                    "(`cooperate-drain %s --undo` lets it)" % (
                                        here, self.queue.experiment or self.queue.list.path))
                self._say_too_big()
                if self.later is None or self.no_more:
                    return False
                if self.waiting_gpus != self.later:
                    self.waiting_gpus = self.later
                    self.report("note", text="waiting for %d GPUs at once: an entry needs them, "
                                "and fewer of GPUs %s are free now (%s)" % (
                                    self.later, ",".join(self.slots.gpus), self.slots.short or
                                    "their slots are held by other runs on this host"))
                break
            if len(slot.gpus) > 1:
                # an entry that waited for several GPUs got them: the next wait is said
                self.waiting_gpus = None
            self.claimed += 1
            self._start(claim, slot)
        return True

    def _accepting(self, slot):
        """Queue.take's accept test for the claim `slot` (one GPU, or none
        without --gpus) was acquired for: the worker's own filter, then the
        entry's "gpus". An entry needing more GPUs than this worker has is
        never its: it stays pending for other workers. One needing N GPUs
        is claimed only if `slot` can be widened to N GPUs now, so that no
        entry is held while its GPUs are awaited; else it is LATER, and
        `later` is the fewest GPUs such an entry needed."""
        self.later = None
        have = len(set(self.slots.gpus))

        def accept(entry):
            if self.accept is not None and not self.accept(entry):
                return False
            need = entry.get("gpus") if isinstance(entry, dict) else None
            if need is None:
                return True
            if need > have:
                self.too_big.add(need)
                return False
            if need == 1:
                return True
            if self.later is not None and need >= self.later:
                # as many GPUs were not free a moment ago: spare the locks
                return LATER
            if self.slots.widen(slot, need):
                return True
            self.later = need
            return LATER

        return accept

    def _say_too_big(self):
        """Say once which entries this worker leaves to others for their
        "gpus" (when it found nothing else to claim)."""
        if self.too_big - self.told_too_big:
            self.told_too_big |= self.too_big
            have = len(set(self.slots.gpus))
            self.report("note", text="left to other workers: the entries that need %s GPU%s; "
                        "this worker has %s" % (
                            " or ".join(str(n) for n in sorted(self.too_big)),
                            "" if self.too_big == {1} else "s",
                            "%d (--gpus %s)" % (have, ",".join(self.slots.gpus)) if have else
                            "none (no --gpus)"))

    def _wait_for(self, what, text):
        """Start nothing while the host lacks `what` (memory, load, GPU
        memory; `text` tells how much): said once per wait. Returns False
        when nothing is pending anyway (nothing to wait for)."""
        if self.queue.next_pending() is None:
            self.waiting_for = None
            return False
        if self.waiting_for != what:
            self.waiting_for = what
            self.report("note", text="waiting: %s" % text)
        return True

    def _progress(self):
        """Keep the reporter's live line up to date, at most every second."""
        now = time.monotonic()
        if self.live and now >= self.next_progress:
            self.next_progress = now + 1.0
            self.report("progress", counts=self.queue.counts(), here=len(self.running))

    def _nothing_pending(self):
        """Why nothing was pending, for the user."""
        counts = self.queue.counts()
        path = self.queue.experiment or self.queue.list.path
        if not sum(counts.values()):
            return "%s is empty" % path
        parts = ", ".join("%d %s" % (n, status) for status, n in counts.items() if n)
        waiting = self.queue.waiting() if counts["pending"] and self.queue.list.after else 0
        if waiting:
            blocked = len(self.queue.blocked())
            why = ["%d for entries not done yet" % (waiting - blocked)] if waiting > blocked else []
            if blocked:
                why.append("%d blocked by a failed or aborted one" % blocked)
            parts += "; the rest waits for dependencies: " + ", ".join(why)
        if counts["held"]:
            return "%s has %s (`cooperate-release %s --all` lets the held ones start)" % (
                path, parts, path)
        if counts["failed"]:
            return "%s has %s (`cooperate-retry %s --failed` runs the failed ones again)" % (
                path, parts, path)
        return "%s has %s" % (path, parts)

    def _watch_list(self):
        """Say when the list has not read for a while, and when it reads again."""
        problem = self.queue.list.unreadable
        if problem is None:
            if self.told_unreadable:
                self.told_unreadable = False
                self.report("list", path=self.queue.list.path, problem=None)
        elif not self.told_unreadable and time.monotonic() - problem[1] >= SAY_UNREADABLE_AFTER:
            self.told_unreadable = True
            self.report("list", path=self.queue.list.path, problem=problem[0],
                        seconds=time.monotonic() - problem[1])

    def _record(self, procs=()):
        if self.ends or procs:
            self.queue.take(self.id, self.ends, claim=False, procs=procs,
                            notify=self.notify is not None)
            self.ends = []
            self._announce()

    def _announce(self):
        """Run --notify if the last transaction recorded the queue's end,
        with the counts and the list in its environment; it gets
        NOTIFY_TIMEOUT seconds."""
        counts = self.queue.finished
        if counts is None:
            return
        env = dict(self.base_env, COOPERATE_LIST=os.path.abspath(self.queue.list.path),
                   COOPERATE_EXPERIMENT=os.path.abspath(self.queue.experiment or ""),
                   COOPERATE_TOTAL=str(sum(counts.values())))
        env.update(("COOPERATE_%s" % status.upper(), str(n)) for status, n in counts.items())
        try:
            code = subprocess.run(self.notify, env=env, stdin=subprocess.DEVNULL,
                                  timeout=NOTIFY_TIMEOUT).returncode
            outcome = fmt.exit_text(code)
        except subprocess.TimeoutExpired:
            outcome = "killed after %g s" % NOTIFY_TIMEOUT
        except OSError as error:
            outcome = "could not start: %s" % error.strerror
        self.report("note", text="the queue is finished (%s): --notify %s" % (
            ", ".join("%d %s" % (n, status) for status, n in counts.items() if n), outcome))

    def run(self):
        """Work until done; returns the exit status (0 all runs succeeded,
        1 one failed, 128+N when stopped by signal N)."""
        return guard.run(self._work, self.lease)

    def _work(self, keeper):
        queue = self.queue
        self.guard = keeper
        if keeper is not None:
            # this is a new process
            self.id = new_worker_id()
        if self.script:
            self.runner = launcher.script_command(self.script, self.id, self.optimize)
        self.renewed = time.monotonic()
        queue.join(self.id, self.info())
        recent.remember(queue.experiment or queue.list.path)
        if queue.experiment is not None:
            # liftoff's launcher mark: the pid the user started, by session
            self._mark(exp.mark_launcher, self.id,
                       keeper.pid if keeper is not None else os.getpid())
        self.next_beat = 0.0
        queue.flush_every = 1.0
        self.look_now = False
        self._install()
        nothing_pending = False
        clean = False
        try:
            while True:
                self._keep_lease()
                if self.signum is not None:
                    if self.stop_again and self.running:
                        self.report("note", text="stopping now: SIGKILL to %d run%s" % (
                            len(self.running), "" if len(self.running) == 1 else "s"))
                    self.stop_again = False
                    stopping = [r for r in self.running if r.stopped_as is None]
                    if stopping:
                        self.report("stopping", signum=self.signum, runs=len(stopping),
                                    grace=self.grace)
                    for run in stopping:
                        self._stop(run, INTERRUPTED, self.grace)
                    if not self.running:
                        break
                else:
                    if not nothing_pending:
                        nothing_pending = not self._fill()
                    self._record(self._processes(time.monotonic()))
                    self._watch_list()
                    if not self.running and (self.no_more or (
                            nothing_pending and not self.wait and not queue.list.unreadable)):
                        self.report("note", text="nothing more to start: %s" % (
                            self.no_more or self._nothing_pending()))
                        break
                # wake on a run's end or a signal; look at the queue every
                # `poll` seconds for new entries and abort requests
                now = time.monotonic()
                wake = [self.next_beat, now + self.poll]
                wake += [r.kill_at for r in self.running if r.stopped_as is not None]
                wake += [r.started + r.limit for r in self.running
                         if r.stopped_as is None and r.limit is not None]
                if self.waiting_for and len(self.running) < self.slots.capacity:
                    wake.append(now + res.CHECK_EVERY)
                if self.live:
                    wake.append(self.next_progress)
                self._sleep(min(wake) - now)
                ended = self._collect()
                if self.running or self.look_now:
                    self.look_now = False
                    queue.read()
                    self._check_claims()
                self._progress()
                if ended or not self.running or len(self.running) < self.slots.capacity:
                    nothing_pending = False
            clean = True
        finally:
            if self.running:
                self._wind_down()
            if self.signum is not None:
                self.report("stop", signum=self.signum)
            code = 128 + self.signum if self.signum else (1 if self.failed else 0)
            try:
                # with the handlers still in place: the same stop signal, sent
                # to the whole job, may reach this worker twice
                self._record()
                queue.leave(self.id, code)
                if queue.experiment is not None:
                    self._mark(exp.mark_launcher, self.id, None)
                if self.live:
                    self.report("summary", counts=queue.counts(), mine=self.outcomes)
            except UserError:
                if clean:
                    raise
                # already failing: the first error is the one to report
            finally:
                self._uninstall()
        return code

    def _wind_down(self):
        """Stop every run (TERM, the grace period, KILL) and collect them,
        without recording anything (the queue failed)."""
        for run in self.running:
            if run.stopped_as is None:
                self._stop(run, INTERRUPTED, self.grace)
        while self.running:
            now = time.monotonic()
            self._sleep(min(r.kill_at for r in self.running) - now)
            self._collect()
            for run in self.running:
                if time.monotonic() >= run.kill_at:
                    launcher.signal_group(run, signal.SIGKILL)
