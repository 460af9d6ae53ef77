"""A worker's runs: starting claimed entries, stopping them, collecting
their ends and deciding what each end means.

A run that cannot be started (no such program, a bad entry appended to the
list) is a failed run, not a failed worker. A run whose claim another worker
took back (this worker was frozen or cut off past its lease) is killed at
once and never recorded. A run past its time limit (the entry's "timeout",
else the worker's) is stopped as an abort is (TERM, the grace period, KILL)
and recorded as timed out. Ends are kept in `ends` until the worker's next
transaction records them.
"""

import os
import signal
import time

from cooperate.errors import UserError
from cooperate.queue import host, logs
from cooperate.queue.journal import TRANSIENT
from cooperate.queue.core import (ABORTED, DONE, FAILED, INTERRUPTED, LOST, PRUNED, RUNNING,
                                  TIMEOUT)
from cooperate.run import launcher
from cooperate.run.output import Copier

# how long a start that fails with a transient error is tried again
START_PATIENCE = 10.0
# how long a worker waits for the leftovers it killed to end
LEFTOVERS_PATIENCE = 2.0
# a run killed by a signal, while none reached this worker, may have been
# signalled with its whole job: this worker's own signal is awaited this long
SIGNAL_LAG = 0.5


def _reason(error):
    return str(error) if isinstance(error, UserError) else "%s: %s" % (
        error.filename or "", error.strerror)


def _reap(pid):
    """Reap an adopted process that has ended (never one of the runs)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


class Runs:
    """The runs of one worker (`worker`: its id), in `slots`, on `queue`.
    `report(event, **details)` tells the user; `hooks` (run/hooks.py) hear
    of each step; `retries` and `timeout` are the worker's defaults for
    entries that have none."""

    def __init__(self, queue, slots, report, hooks, detach=True, grace=10.0, retries=0,
                 timeout=None, stop_on_error=False):
        self.queue = queue
        self.slots = slots
        self.report = report
        self.hooks = hooks
        self.detach = detach
        self.grace = grace
        self.retries = retries
        self.timeout = timeout
        self.stop_on_error = stop_on_error
        self.worker = None
        # the worker's guard (guard.Guard), told which runs there are, or None
        self.guard = None
        # processes this worker adopted, not ended yet: {pid: (start time,
        # pids of the runs it may come from)} (see end_leftovers)
        self.adopted = {}
        self.base_env = dict(os.environ)
        hooks.environment(self.base_env)
        self.running = []
        # ends not recorded yet: (id, attempt, outcome, code, again, when it
        # ended, when it started if not at its claim, else None); how many
        # of them the worker noted in its heartbeat file (see _note)
        self.ends = []
        self.noted = 0
        # how many of the runs this worker ended had each outcome
        self.outcomes = {}
        # how long its runs take, lately (seconds, a moving average; None
        # until one ended)
        self.typical = None
        # a run failed for good
        self.failed = False
        # why nothing more may start, once a failure stops the worker (or None)
        self.no_more = None
        # a transient error at a start was said (until a start succeeds)
        self.told_transient = False
        # entries whose shell-like words (a `|` run by no shell) were said
        self.told_shell = set()
        # the queue's own transient errors are said as notes too
        queue.say = lambda text: report("note", text=text)
        # runs write to pipes copied into their logs (see output.py), unless
        # the hooks want the logs there from the start
        self.output = None if hooks.logs_at_start or not detach else Copier(self.open_log)

    def __len__(self):
        return len(self.running)

    def hook(self, name, *args):
        """Call hooks.NAME(*args), ignoring an OSError (see hooks.py)."""
        try:
            getattr(self.hooks, name)(*args)
        except OSError:
            pass  # marks for other tools: a failure to write them is not the run's

    def start(self, claim, slot, extra):
        """Start a claimed entry in `slot`, with `extra` in its environment.
        A transient error (journal.TRANSIENT: a file server restarting, a
        full disk, no process left for a moment) is tried again for up to
        START_PATIENCE seconds, said once; if it lasts, the attempt is
        recorded as interrupted: the entry stays pending."""
        pause, deadline = 0.05, None
        while True:
            try:
                run = self._start(claim, slot, extra)
                self.told_transient = False
                break
            except (OSError, UserError) as error:
                if claim.problem or getattr(error, "errno", None) not in TRANSIENT:
                    return self._cannot_start(claim, slot, error)
                now = time.monotonic()
                if deadline is None:
                    deadline = now + START_PATIENCE
                    if not self.told_transient:
                        self.told_transient = True
                        self.report("note", text="cannot start %s now: %s; trying again for up "
                                    "to %g s, then it stays pending" % (
                                        claim.id, _reason(error), START_PATIENCE))
                if now >= deadline:
                    self.slots.release(slot)
                    self.report("start", claim=claim, gpu=slot.gpu)
                    self.ended(claim, INTERRUPTED, None, 0.0,
                               "not started: %s; it stays pending" % _reason(error))
                    return
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
        run.limit = claim.entry.get("timeout", self.timeout) if isinstance(
            claim.entry, dict) else self.timeout
        self.running.append(run)
        self.tell_guard()
        self.report("start", claim=claim, gpu=slot.gpu)

    def _start(self, claim, slot, extra):
        if claim.problem:
            raise UserError(claim.problem)
        words = launcher.shell_words(claim.entry)
        if words and claim.id not in self.told_shell:
            self.told_shell.add(claim.id)
            self.report("note", text="%s: no shell runs this entry: %s reach%s the program as "
                        "argument%s (for pipes and redirections: {\"cmd\": \"...\", "
                        "\"shell\": true})" % (
                            claim.id, ", ".join("`%s`" % w for w in words),
                            "es" if len(words) == 1 else "", "" if len(words) == 1 else "s"))
        self.hook("started", claim, self.worker)
        output = self.output
        run = launcher.start(claim, slot, self.base_env, extra,
                             output.pipe if output else self.open_log if self.detach else None,
                             self.hooks.command(claim.entry, self.worker))
        if output:
            # the run holds the pipes now
            for fd, _ in run.logs:
                os.close(fd)
            run.logs = [(None, path) for _, path in run.logs]
        else:
            self.hook("logs", claim, [p for _, p in run.logs])
        return run

    def _cannot_start(self, claim, slot, error):
        """The program cannot be started: a failed run, not a failed worker."""
        code = 126 if isinstance(error, PermissionError) else 127
        message = "cannot start: %s" % _reason(error)
        written = []
        if self.detach:
            try:
                with os.fdopen(self.open_log(claim.err), "w") as f:
                    f.write("cooperate: %s\n" % message)
                written.append(claim.err)
            except (OSError, UserError):
                pass  # the reason is in the worker's output too
        if not claim.problem:
            self.hook("logs", claim, written)
        self.slots.release(slot)
        self.report("start", claim=claim, gpu=slot.gpu)
        self.ended(claim, FAILED, code, 0.0, message)

    def open_log(self, path):
        queue = self.queue
        return logs.open_log(path, queue.file_mode, queue.folder_mode, queue.trusted)

    def ended(self, claim, outcome, code, seconds, message=None):
        """Keep an attempt's end for the next transaction, deciding (by the
        retry policy) whether a failure gets another attempt. A run of a
        batch's claim (claim.batched) started later than its claim: the
        end says when."""
        again = False
        if outcome in (FAILED, TIMEOUT):
            retries = claim.entry.get("retries", self.retries) if isinstance(
                claim.entry, dict) else self.retries
            again = claim.attempt <= retries
            if not again:
                self.failed = True
                if self.stop_on_error and not self.no_more:
                    self.no_more = "a run failed, and --stop-on-error"
        now = time.time()
        began = now - seconds if claim.batched and seconds else None
        self.ends.append((claim.id, claim.attempt, outcome, code, again, now, began))
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self.typical = seconds if self.typical is None else 0.75 * self.typical + 0.25 * seconds
        if not claim.problem:
            self.hook("ended", claim, outcome)
        self.report("end", claim=claim, outcome=outcome, code=code, seconds=seconds,
                    message=message, again=again)

    def take_ends(self):
        ends, self.ends, self.noted = self.ends, [], 0
        return ends

    def collect(self, stopping):
        """Keep the ends of the runs that ended (those that end meanwhile
        too); True if any did. `stopping(code)`: did a run that ended with
        this code end because the worker is being stopped?"""
        collected = False
        while True:
            run = next((r for r in self.running if launcher.finished(r)), None)
            if run is None:
                return collected
            collected = True
            self.running.remove(run)
            code = launcher.reap(run)
            # before its end is recorded (another attempt may start then)
            self.end_leftovers(run)
            self.tell_guard()
            dropped = self.close_logs(run)
            self.slots.release(run.slot)
            if run.stopped_as == LOST:
                # taken back by another worker: said when it was stopped, never recorded
                continue
            outcome = run.stopped_as or (DONE if code == 0 else INTERRUPTED
                                         if stopping(code) else FAILED)
            message = ("stopped at its time limit of %g s" % run.limit if outcome == TIMEOUT
                       else run.why if outcome == PRUNED else None)
            if dropped:
                # its output is part of what it gives: a run that lost it did not succeed
                message = "its output was dropped: cannot write %s" % "; ".join(dropped)
                outcome = FAILED if outcome == DONE else outcome
            self.ended(run.claim, outcome, code, time.monotonic() - run.started, message)

    def close_logs(self, run):
        """Before an end is recorded: the run's logs complete. Why each
        log its output was dropped from could not be written."""
        if self.output is None:
            launcher.close_logs(run, self.hooks)
            return []
        dropped = self.output.finish([path for _, path in run.logs])
        run.logs = []
        return dropped

    def tell_guard(self):
        """The guard stops the runs' groups first when it suspends them."""
        if self.guard is not None:
            self.guard.runs([r.process.pid for r in self.running])

    def end_leftovers(self, ended=None):
        """SIGKILL what runs left behind that no run still going may own.
        The worker is a subreaper (see guard.py): whatever a run started
        and left, in any group or session, is adopted by it once its parent
        has ended. An adopted process whose environment names its attempt
        belongs to that one; one with a cleared environment may belong to
        any run that was going when it was first seen (or to `ended`, the
        run just collected): it is killed once none of them is going.
        What a killed process leaves is adopted in turn, and killed too."""
        deadline = time.monotonic() + LEFTOVERS_PATIENCE
        while True:
            live = {r.process.pid: r for r in self.running}
            doomed = []
            for pid in host.child_pids(os.getpid()):
                if pid in live:
                    continue
                start = host.process_start(pid)
                if start is None:
                    _reap(pid)
                    continue
                known = self.adopted.get(pid)
                if known is None or known[0] != start:
                    known = self.adopted[pid] = (start, self._owners(pid, live, ended))
                if not known[1] & set(live):
                    doomed.append(pid)
            if not doomed or time.monotonic() > deadline:
                break
            for pid in doomed:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            for pid in doomed:
                while host.process_start(pid) is not None and time.monotonic() < deadline:
                    time.sleep(0.001)
                _reap(pid)
        self.adopted = {pid: known for pid, known in self.adopted.items()
                        if host.process_start(pid) == known[0]}

    def _owners(self, pid, live, ended):
        """The runs an adopted process may come from (pids of their first
        processes): by its COOPERATE_ENTRY and COOPERATE_ATTEMPT, else
        every run going now and the one just ended."""
        entry = host.environ_value(pid, "COOPERATE_ENTRY")
        attempt = host.environ_value(pid, "COOPERATE_ATTEMPT")
        if entry is not None and attempt is not None:
            return {p for p, r in live.items()
                    if r.claim.id == entry and str(r.claim.attempt) == attempt}
        return set(live) | ({ended.process.pid} if ended is not None else set())

    def stop(self, run, outcome, grace):
        run.stopped_as = outcome
        run.kill_at = time.monotonic() + grace
        launcher.signal_run(run, signal.SIGKILL if grace <= 0 else signal.SIGTERM)

    def prune(self, run, why):
        """Stop a run that an early-stopping rule pruned (`why`: its reason)."""
        run.why = why
        self.stop(run, PRUNED, self.grace)
        self.report("prune", claim=run.claim, why=why, grace=self.grace)

    def stop_all(self, outcome):
        """Stop the runs not being stopped yet; how many."""
        stopping = [r for r in self.running if r.stopped_as is None]
        for run in stopping:
            self.stop(run, outcome, self.grace)
        return len(stopping)

    def kill_now(self):
        """No more grace: every run is killed at the next look."""
        self.grace = 0
        now = time.monotonic()
        for run in self.running:
            run.kill_at = now

    def check(self):
        """Carry out abort requests for runs this worker holds; kill at once
        the runs whose claim another worker took back; stop the runs past
        their time limit; KILL the groups of runs being stopped once their
        grace period is over; kill what ended runs left (end_leftovers)."""
        now = time.monotonic()
        state = self.queue.state
        running = state.code_of(RUNNING)
        for run in self.running:
            claim = run.claim
            if run.stopped_as in (None, ABORTED, TIMEOUT, INTERRUPTED, PRUNED) and \
                    state.codes.get(claim.id) != claim.attempt << 3 | running:
                self.stop(run, LOST, 0)
                self.report("lost", claim=claim)
            elif run.stopped_as is None and claim.id in state.aborting:
                self.stop(run, ABORTED, self.grace)
                self.report("abort", claim=claim)
            elif run.stopped_as is None and run.limit is not None and \
                    now >= run.started + run.limit:
                self.stop(run, TIMEOUT, self.grace)
                self.report("timeout", claim=claim, limit=run.limit, grace=self.grace)
            elif run.stopped_as is not None and now >= run.kill_at:
                launcher.signal_run(run, signal.SIGKILL)
        # seen early, an adopted process is owed to fewer runs
        self.end_leftovers()

    def deadlines(self):
        """When the runs need looking at: kills due, time limits."""
        return ([r.kill_at for r in self.running if r.stopped_as is not None]
                + [r.started + r.limit for r in self.running
                   if r.stopped_as is None and r.limit is not None])

    def processes(self, due_after=None):
        """(id, attempt, pid, start time) of the runs started since the last
        transaction; with `due_after`, only once one of them started that
        many seconds ago or more (a short run that has ended by then costs
        no transaction of its own)."""
        new = [r for r in self.running if not r.recorded]
        if not new or (due_after is not None and time.monotonic() - new[0].started < due_after):
            return []
        procs = []
        for run in new:
            run.recorded = True
            start = host.process_start(run.process.pid)
            if start is not None:
                procs.append((run.claim.id, run.claim.attempt, run.process.pid, start))
        return procs

    def wind_down(self, sleep):
        """Stop every run (TERM, the grace period, KILL) and collect them,
        without recording anything (the queue failed)."""
        self.stop_all(INTERRUPTED)
        while self.running:
            sleep(min(r.kill_at for r in self.running) - time.monotonic())
            self.collect(lambda code: True)
            for run in self.running:
                if time.monotonic() >= run.kill_at:
                    launcher.signal_run(run, signal.SIGKILL)
