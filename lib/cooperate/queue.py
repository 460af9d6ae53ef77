"""The queue: a list of entries plus the journal of what happened to them.

The list belongs to the user and is never written. Everything the workers
record lives in a state folder beside it (``LIST.cooperate/`` by default):

  lock              flock'd for every change, never renamed or deleted
  journal           append-only records (see journal.py)
  workers/WORKER    one per worker; its mtime is the worker's heartbeat
  logs/ID.ATTEMPT.out, .err   each attempt's output

Every command reads the state without the lock; changes (claims, ends,
retries) are transactions under the lock that first catch up with what
others appended, then append their own records in one write. A claim costs
the same with 100 and with 100,000 entries: the worker keeps the folded
state in memory and only reads the journal's new tail and, when the list
file changed, the list.
"""

import os
import time

from . import host, journal
from .errors import UserError
from .listfile import CommandList
from .lock import QueueLock

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
# outcomes of an attempt: done, failed, and interrupted (stopped by its
# worker, the entry is pending again)
INTERRUPTED = "interrupted"

DEFAULT_LOCK_TIMEOUT = 60.0
# a worker refreshes its heartbeat every HEARTBEAT seconds; one silent for
# LEASE seconds looks dead (generous: a loaded disk or CPU must not look dead)
HEARTBEAT = 10.0
LEASE = 120.0


def default_state_dir(path):
    return path.rstrip("/") + ".cooperate"


class Attempt:
    __slots__ = ("number", "worker", "start", "end", "outcome", "code")

    def __init__(self, number, worker, start):
        self.number, self.worker, self.start = number, worker, start
        self.end = self.outcome = self.code = None


class Entry:
    """The folded state of one entry: its status and its attempts."""

    __slots__ = ("status", "attempts")

    def __init__(self):
        self.status = PENDING
        self.attempts = []


class State:
    """The journal folded into per-entry states."""

    def __init__(self):
        self.entries = {}
        self.workers = {}
        self.quit = {}
        self.requeued = []

    def apply(self, records):
        entries = self.entries
        for r in records:
            kind = r[0]
            if kind == "c":
                e = entries.get(r[1])
                if e is None:
                    e = entries[r[1]] = Entry()
                e.attempts.append(Attempt(r[2], r[3], r[4]))
                e.status = RUNNING
            elif kind == "e":
                e = entries.get(r[1])
                # fencing: only the entry's current attempt may end it; a late
                # record of an older attempt stays in the journal as history
                if e is None or not e.attempts or e.attempts[-1].number != r[2]:
                    continue
                a = e.attempts[-1]
                if a.end is not None:
                    continue
                a.end, a.outcome, a.code = r[4], r[5], r[6]
                if r[5] == INTERRUPTED:
                    e.status = PENDING
                    self.requeued.append(r[1])
                else:
                    e.status = r[5]
            elif kind == "r":
                e = entries.get(r[1])
                if e is not None and e.status != RUNNING:
                    e.status = PENDING
                    self.requeued.append(r[1])
            elif kind == "w":
                self.workers[r[1]] = r[2]
            elif kind == "q":
                self.quit[r[1]] = r[2]


class Claim:
    """An entry this worker holds: what to run and which attempt it is."""

    def __init__(self, queue, id_, attempt):
        self.id = id_
        self.attempt = attempt
        self.entry = queue.list.entry(id_)
        self.label = queue.list.describe(id_)
        self.out, self.err = queue.log_paths(id_, attempt)


class Queue:
    def __init__(self, path, state_dir=None, lock_timeout=DEFAULT_LOCK_TIMEOUT):
        self.list = CommandList(path)
        self.dir = state_dir or default_state_dir(path)
        self.journal_path = os.path.join(self.dir, "journal")
        self.lock_timeout = lock_timeout
        self.state = State()
        self.offset = 0
        self.unreadable = 0
        self.cursor = 0

    # -- reading (no lock) ------------------------------------------------
    def read(self):
        """Catch up with the journal without the lock (readers, and workers
        looking for stop requests between claims)."""
        records, self.offset, bad = journal.read(self.journal_path, self.offset)
        self.unreadable += bad
        self._apply(records)

    def _apply(self, records):
        self.state.apply(records)
        if self.state.requeued:
            position = self.list.position
            for id_ in self.state.requeued:
                self.cursor = min(self.cursor, position.get(id_, self.cursor))
            self.state.requeued = []

    def status_of(self, id_):
        if id_ in self.list.executed:
            return DONE
        e = self.state.entries.get(id_)
        return PENDING if e is None else e.status

    def log_paths(self, id_, attempt):
        base = os.path.join(self.dir, "logs", "%s.%d" % (id_, attempt))
        return base + ".out", base + ".err"

    def heartbeat_path(self, worker):
        return os.path.join(self.dir, "workers", worker)

    def is_stale(self, attempt, now=None):
        """Does the worker holding this running attempt look dead?"""
        info = self.state.workers.get(attempt.worker)
        if info is None or attempt.worker in self.state.quit:
            return True
        alive = host.owner_alive(info)
        if alive is not None:
            return not alive
        try:
            beat = os.stat(self.heartbeat_path(attempt.worker)).st_mtime
        except OSError:
            return True
        lease = info.get("lease", LEASE)
        return (now or time.time()) - beat > lease

    # -- changing (under the lock) -----------------------------------------
    def create_state_dir(self):
        for sub in ("logs", "workers"):
            path = os.path.join(self.dir, sub)
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as error:
                raise UserError(
                    "cannot create the state folder %s: %s (workers record their state "
                    "beside the list; give a writable folder on the shared filesystem "
                    "with --state DIR)" % (path, error.strerror))
        if not os.access(self.dir, os.W_OK):
            raise UserError("the state folder %s is not writable (use --state DIR)" % self.dir)

    def transaction(self, make):
        """Run `make()` under the lock after catching up with the journal and
        the list; append the records it returns (it applies them itself)."""
        def payload(records):
            self._apply(records)
            if self.list.refresh():
                self.cursor = 0
            return make()

        with QueueLock(os.path.join(self.dir, "lock"), self.lock_timeout):
            _, written, self.offset = journal.sync(self.journal_path, self.offset, payload)
        return written

    def _record(self, out, record):
        out.append(record)
        self._apply([record])

    def next_pending(self):
        ids, entries, executed = self.list.ids, self.state.entries, self.list.executed
        while self.cursor < len(ids):
            id_ = ids[self.cursor]
            e = entries.get(id_)
            if (e is None or e.status == PENDING) and id_ not in executed:
                return id_
            self.cursor += 1
        return None

    def join(self, worker, info):
        self.create_state_dir()
        path = self.heartbeat_path(worker)
        try:
            with open(path, "w"):
                pass
        except OSError as error:
            raise UserError("cannot write %s: %s" % (path, error.strerror))
        self.transaction(lambda: [["w", worker, info]])

    def heartbeat(self, worker):
        try:
            os.utime(self.heartbeat_path(worker))
        except OSError:
            pass

    def take(self, worker, ends=(), claim=True):
        """Record the ends of finished attempts and, if `claim`, claim the
        next pending entry, in one transaction. Returns a Claim or None."""
        taken = []

        def make():
            out = []
            now = time.time()
            for id_, attempt, outcome, code in ends:
                self._record(out, ["e", id_, attempt, worker, now, outcome, code])
            if claim:
                id_ = self.next_pending()
                if id_ is not None:
                    attempt = len(self.state.entries[id_].attempts) + 1 if id_ in self.state.entries else 1
                    self._record(out, ["c", id_, attempt, worker, now])
                    taken.append(Claim(self, id_, attempt))
            return out

        self.transaction(make)
        return taken[0] if taken else None

    def leave(self, worker, code):
        self.transaction(lambda: [["q", worker, time.time(), code]])

    def retry(self, ids):
        """Make these entries pending again; returns the ids that changed."""
        changed = []

        def make():
            out = []
            now = time.time()
            for id_ in ids:
                if self.status_of(id_) not in (PENDING, RUNNING) and id_ not in self.list.executed:
                    self._record(out, ["r", id_, now])
                    changed.append(id_)
            return out

        self.transaction(make)
        return changed
