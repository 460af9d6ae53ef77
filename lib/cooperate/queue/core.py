"""The queue: a list of entries plus the journal of what happened to them.

The list belongs to the user and is never written. Everything the workers
record lives in a state folder beside the list file itself, symbolic links
resolved (``LIST.cooperate/`` by default), so that every path to one file
leads to one queue:

  lock              flock'd for every change, never renamed or deleted
  journal           append-only records (see journal.py)
  snapshot.G        the records before the journal's generation G, folded
                    (see snapshot.py: compaction)
  workers/WORKER    one per worker; its mtime is the worker's heartbeat
  ids.cache         the list's entry ids and offsets (a cache: see listfile.py)
  logs/PRE/ID.ATTEMPT.out, .err   each attempt's output (PRE: the id's first
                    three hex digits; none when it printed nothing: logs.py)

Every command reads the state without the lock; changes (claims, ends,
retries) are transactions under the lock that first catch up with what
others appended, then append their own records in one write. A claim costs
the same with 100 and with 100,000 entries: the worker keeps the folded
state in memory and only reads the journal's new tail and, when the list
file changed, the list.

A worker found dead on this machine (its process and its guard are gone:
see host.owner_alive) may have left processes of its runs behind, if its
guard was killed with it: before its entries are taken back, every process
whose environment names that worker (COOPERATE_WORKER) is killed, and the
process groups recorded for its runs.
"""

import heapq
import os
import signal
import time

from cooperate.queue import files
from cooperate.queue import host
from cooperate.queue import journal
from cooperate.queue import snapshot
from cooperate.queue import trust
from cooperate.errors import UserError
from cooperate.queue.listfile import CommandList, label
from cooperate.queue.lock import QueueLock

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
# stopped by a user's abort (retry makes it pending again); held: not to be
# claimed until released
ABORTED, HELD = "aborted", "held"
# outcomes of an attempt besides done, failed and aborted: interrupted (its
# worker was stopped) and lost (its worker died): the entry is pending again
INTERRUPTED, LOST = "interrupted", "lost"
# stopped at its time limit (an entry's "timeout", the worker's --timeout):
# a failure, which --retries runs again as it runs failed attempts again
TIMEOUT = "timeout"
# what take's `accept` says of an entry it cannot take yet but may take
# later (its GPUs are busy): skipped by this claim, looked at by the next
LATER = "later"

DEFAULT_LOCK_TIMEOUT = 60.0
# a worker refreshes its heartbeat every few seconds (heartbeat_every); one
# silent for its lease looks dead (generous: a loaded disk or CPU must not
# make a live worker look dead)
LEASE = 120.0
# a lost attempt (its worker died) runs again at least this many times, even
# without --retries; after that the entry is failed for good
LOST_RETRIES = 3
# how long a worker waits for a dead worker's leftover processes to die
# before it takes that worker's entries back
LEFTOVERS_WAIT = 5.0


def _compact_at():
    """The journal's size that starts a compaction: COOPERATE_COMPACT_AT
    (bytes) if set, for tests and for queues on slow filesystems."""
    try:
        return max(1, int(os.environ.get("COOPERATE_COMPACT_AT", snapshot.COMPACT_AT)))
    except ValueError:
        return snapshot.COMPACT_AT


def heartbeat_every(lease):
    return min(10.0, lease / 4)


def default_state_dir(path):
    """LIST.cooperate beside the list file itself: through symbolic links
    (as given when there are none, so that messages show the user's path)."""
    real = os.path.realpath(path)
    return (path.rstrip("/") if real == os.path.abspath(path) else real) + ".cooperate"


def locate(target):
    """(list path, experiment folder or None) for a list file or a liftoff
    experiment folder (whose queue is its .cooperate/queue.json; a folder
    that liftoff made is adopted first)."""
    if os.path.isdir(target):
        from cooperate.grid import experiment

        if not experiment.is_experiment(target):
            raise UserError("%s: is a folder, not a list file or an experiment (no %s in it)"
                            % (target, experiment.MARKER))
        path = os.path.join(target, experiment.QUEUE_FILE)
        if not os.path.exists(path):
            experiment.load_meta(target)
        return path, target
    folder = os.path.dirname(os.path.abspath(target))
    if os.path.basename(target) == "queue.json" and os.path.basename(folder) == ".cooperate":
        from cooperate.grid import experiment

        exp_dir = os.path.dirname(folder)
        if experiment.is_experiment(exp_dir):
            return target, exp_dir
    return target, None


class Attempt:
    """One attempt at an entry; `previous` links to the one before it;
    `process`: (pid, start time) of its first process, once recorded (its
    process group has the same number)."""

    __slots__ = ("number", "worker", "start", "end", "outcome", "code", "previous", "process")

    def __init__(self, number, worker, start, previous):
        self.number, self.worker, self.start, self.previous = number, worker, start, previous
        self.end = self.outcome = self.code = self.process = None

    def chain(self):
        """This attempt and the ones before it, oldest first."""
        attempts = []
        a = self
        while a is not None:
            attempts.append(a)
            a = a.previous
        return attempts[::-1]


STATUSES = (PENDING, RUNNING, DONE, FAILED, ABORTED, HELD)
_CODE = {status: i for i, status in enumerate(STATUSES)}
_PENDING, _RUNNING, _DONE, _ABORTED, _HELD = (_CODE[s] for s in (PENDING, RUNNING, DONE, ABORTED, HELD))
# an attempt's outcome -> the entry's status
_AFTER = {DONE: DONE, FAILED: FAILED, ABORTED: ABORTED, INTERRUPTED: PENDING, LOST: PENDING}


class State:
    """The journal folded per entry.

    An entry's status and latest attempt number live in one small int
    (attempt * 8 + status), so a worker keeps 100,000 entries in a few MB.
    With `history` (status, retry) each attempt's details are kept too.
    """

    def __init__(self, history=True):
        self.codes = {}
        self.history = {} if history else None
        # the snapshot the state started from (for the attempts before it)
        self.base = None
        self.workers = {}
        self.quit = {}
        self.requeued = []
        self.aborting = set()
        # running entries -> the worker holding them
        self.holders = {}
        # running entries -> (pid, start time) of their first process, if recorded
        self.processes = {}
        # hosts whose workers finish what they run and take nothing new
        self.drained = set()
        # the queue's end was announced (--notify) and nothing was claimed since
        self.notified = False
        self._names = {}

    @staticmethod
    def code_of(status):
        return _CODE[status]

    def status(self, id_):
        code = self.codes.get(id_)
        return PENDING if code is None else STATUSES[code & 7]

    def attempts(self, id_):
        """How many attempts the entry has had."""
        return self.codes.get(id_, 0) >> 3

    def last(self, id_):
        """The entry's latest Attempt (with history), or None."""
        a = self.history.get(id_)
        if a is None and self.base is not None:
            row = self.base.row(id_)
            if row is not None:
                for number, worker, start, end, outcome, code in self.base.attempts(row):
                    a = Attempt(number, worker, start, a)
                    a.end, a.outcome, a.code = end, outcome, code
                process = self.processes.get(id_)
                if a is not None and process is not None:
                    a.process = tuple(process)
        return a

    def ended(self, id_):
        """(worker, start, end) of the entry's latest attempt, without making
        Attempt objects (summaries over many finished entries), or None."""
        a = self.history.get(id_)
        if a is not None:
            return a.worker, a.start, a.end
        if self.base is not None:
            return self.base.latest(id_)
        return None

    def base_done(self):
        """(how many, their run time summed, {worker: how many}) of the
        entries done in the snapshot and not changed since, from the
        snapshot's totals (a summary without a pass over its rows)."""
        done = self.base.head["done"]
        rows, busy, by_worker = done["rows"], done["busy"], dict(done["by_worker"])
        for id_ in self.history:
            row = self.base.row(id_)
            if row is not None and self.base.codes[row] & 7 == _DONE:
                worker, start, end = self.base.latest(id_)
                rows, busy = rows - 1, busy - (end - start)
                by_worker[worker] -= 1
        return rows, busy, by_worker

    def _latest(self, id_):
        """The entry's latest attempt, kept in the history to be changed."""
        a = self.history.get(id_)
        if a is None:
            a = self.history[id_] = self.last(id_)
        return a

    def load(self, snap, only=None):
        """Start from a snapshot: every entry of it, or those in `only`."""
        head = snap.head
        if only is None:
            self.codes = dict(zip(snap.ids, snap.codes))
        else:
            rows = ((id_, snap.row(id_)) for id_ in only)
            self.codes = {id_: snap.codes[row] for id_, row in rows if row is not None}
        if self.history is not None:
            self.base = snap
        self.workers, self.quit = head["workers"], head["quit"]
        self.drained, self.aborting = set(head["drained"]), set(head["aborting"])
        self.holders = head["holders"]
        self.processes = {id_: tuple(p) for id_, p in head["processes"].items()}
        self.notified = head.get("notified", False)

    def apply(self, records):
        codes, history = self.codes, self.history
        for r in records:
            kind = r[0]
            if kind == "c":
                id_, number = r[1], r[2]
                codes[id_] = number << 3 | _RUNNING
                self.holders[id_] = r[3]
                self.notified = False
                if history is not None:
                    worker = self._names.setdefault(r[3], r[3])
                    previous = history.get(id_)
                    if previous is None and self.base is not None:
                        previous = self.last(id_)
                    history[id_] = Attempt(number, worker, r[4], previous)
            elif kind == "e":
                id_, number, outcome = r[1], r[2], r[5]
                code = codes.get(id_)
                # fencing: only the entry's current, running attempt may end
                # it; a late record of an older attempt stays as history only
                if code is None or code != number << 3 | _RUNNING:
                    continue
                status = _AFTER.get(outcome, FAILED)
                if len(r) > 7 and outcome in (FAILED, TIMEOUT, LOST):
                    # the recorder decided, by its retry policy, whether a
                    # failed, timed-out or lost attempt gets another one
                    status = PENDING if r[7] else FAILED
                codes[id_] = number << 3 | _CODE[status]
                self.aborting.discard(id_)
                self.holders.pop(id_, None)
                self.processes.pop(id_, None)
                if status == PENDING:
                    self.requeued.append(id_)
                if history is not None:
                    a = self._latest(id_)
                    a.end, a.outcome, a.code = r[4], self._names.setdefault(outcome, outcome), r[6]
            elif kind == "r" or kind == "u":
                # retry (anything not running) or release (held only)
                code = codes.get(r[1])
                if code is not None and (code & 7 == _HELD or kind == "r" and code & 7 != _RUNNING):
                    codes[r[1]] = code >> 3 << 3 | _PENDING
                    self.requeued.append(r[1])
            elif kind == "h":
                code = codes.get(r[1], _PENDING)
                if code & 7 == _PENDING:
                    codes[r[1]] = code >> 3 << 3 | _HELD
            elif kind == "a":
                # abort: a running attempt is stopped by its worker, which
                # records it as aborted; anything not started is aborted now
                code = codes.get(r[1], _PENDING)
                if code & 7 == _RUNNING:
                    self.aborting.add(r[1])
                elif code & 7 in (_PENDING, _HELD):
                    codes[r[1]] = code >> 3 << 3 | _ABORTED
            elif kind == "p":
                id_, number = r[1], r[2]
                if codes.get(id_) == number << 3 | _RUNNING:
                    self.processes[id_] = (r[3], r[4])
                    if history is not None:
                        self._latest(id_).process = (r[3], r[4])
            elif kind == "d":
                (self.drained.add if r[3] else self.drained.discard)(r[1])
            elif kind == "w":
                self.workers[r[1]] = r[2]
            elif kind == "q":
                self.quit[r[1]] = r[2]
            elif kind == "n":
                self.notified = True


class Claim:
    """An entry this worker holds: what to run and which attempt it is;
    `problem`: why it cannot be started (a bad entry appended to the list)."""

    def __init__(self, queue, id_, attempt, entry, problem=None):
        self.id = id_
        self.attempt = attempt
        self.entry = entry
        self.problem = problem
        self.label = label(entry)
        self.out, self.err = queue.log_paths(self.id, attempt)


# what may be in a state folder
STATE_NAMES = ("journal", "lock", "ids.cache", "logs", "workers", "slurm", "spawn")


class Queue:
    """A list and its state. `reader`s (status) may take the list's ids from
    the cache that workers keep in the state folder; workers keep no
    `history` of attempts.

    Unless `trusted`, the list (and an experiment's experiment.json), the
    state folder and what is in it are refused if another user could change
    them (see trust.py), before they are used and whenever the list or the
    journal is read again. `trusted` (--trust-writable) also lets what this
    creates in a group-writable folder be written by that group (a queue a
    team shares)."""

    def __init__(self, target, state_dir=None, lock_timeout=DEFAULT_LOCK_TIMEOUT, reader=False,
                 history=True, trusted=False):
        path, self.experiment = locate(target)
        self.dir = state_dir or default_state_dir(path)
        self.trusted = trusted
        self.file_mode, self.folder_mode = (
            files.shared_modes(os.path.dirname(os.path.abspath(self.dir))) if trusted
            else (files.FILE_MODE, files.FOLDER_MODE))
        if not trusted:
            trust.check_state(self.dir, STATE_NAMES)
        self.list = CommandList(path, os.path.join(self.dir, "ids.cache"), reader=reader,
                                check=None if trusted else self._check_list)
        self.journal_path = os.path.join(self.dir, "journal")
        self.lock_timeout = lock_timeout
        self.history = history
        self.state = State(history)
        # where this has read the journal to: its generation, inode, offset
        self.generation, self.journal_inode, self.offset = 0, None, 0
        self.unreadable = 0
        self.snapshot_size = 0
        self.compact_at = _compact_at()
        self.cursor = 0
        # fsync the journal at most every `flush_every` seconds (None: always)
        self.flush_every = None
        self.flushed = 0.0
        # the counts, when this worker's last transaction recorded the
        # queue's end (see take's `notify`), else None
        self.finished = None
        # claim order: None (list order) or a shuffled permutation of indexes
        self.order = None
        self.shuffled = False
        # entries whose dependencies got done after the cursor passed them
        # (a heap of indexes: the first in the list is claimed first)
        self.ready = []
        # entries of `ready` a worker left for later (see skip)
        self.deferred = []

    def _check_list(self, path):
        paths = [path]
        if self.experiment:
            # imported only here: a plain list's commands start faster
            from cooperate.grid.experiment import META_FILE

            paths.append(os.path.join(self.experiment, META_FILE))
        trust.check_paths(paths)

    # -- reading (no lock) ------------------------------------------------
    def read(self):
        """Catch up with the journal without the lock (readers; workers before
        each transaction, so that the lock is held only for the last few
        records)."""
        try:
            st = os.lstat(self.journal_path)
        except OSError:
            st = None
        if st is not None:
            if not self.trusted:
                trust.check_stat(self.journal_path, st)
            if st.st_size == self.offset and st.st_ino == self.journal_inode:
                return
        if self.journal_inode is None:
            return self._load()
        try:
            self._read_journal()
        except journal.Rotated:
            return self._load()
        if st is not None:
            self.journal_inode = st.st_ino

    def _read_journal(self):
        for records, self.offset, bad in journal.read(self.journal_path, self.offset,
                                                      self.generation):
            self.unreadable += bad
            self._apply(records)

    def _load(self):
        """Fold the state afresh: the snapshot the journal names, then the
        journal (again if a compaction came in between: see snapshot.py)."""
        # the old state goes first: never two in memory at once
        self.state = None
        for _ in range(100):
            try:
                fd = os.open(self.journal_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                generation, inode = 0, None
            except OSError as error:
                raise UserError("cannot read %s: %s" % (self.journal_path, error.strerror))
            else:
                try:
                    generation, inode = journal.generation_of(fd), os.fstat(fd).st_ino
                finally:
                    os.close(fd)
            state = State(self.history)
            self.unreadable, self.snapshot_size = 0, 0
            if generation:
                try:
                    snap = snapshot.load(self.dir, generation, self.history, self.trusted)
                except FileNotFoundError:
                    continue
                state.load(snap)
                self.unreadable, self.snapshot_size = snap.head["unreadable"], snap.size
            self.state, self.generation, self.journal_inode, self.offset = (
                state, generation, inode, 0)
            self.cursor = 0
            try:
                self._read_journal()
            except journal.Rotated:
                continue
            return
        raise UserError("%s keeps being compacted while it is read: try again" % self.journal_path)

    def _apply(self, records):
        self.state.apply(records)
        dependents = self.list.dependents
        if dependents:
            # an entry done: those waiting for it may start (a late record of
            # an older attempt changes nothing: next_pending checks them)
            for r in records:
                if r[0] == "e" and r[5] == DONE:
                    for index in dependents.get(r[1], ()):
                        if self.order is not None or index < self.cursor:
                            heapq.heappush(self.ready, index)
        if self.state.requeued:
            if self.order is not None:
                self.cursor = 0
            else:
                for id_ in self.state.requeued:
                    index = self.list.ids.index(id_)
                    if index is not None:
                        self.cursor = min(self.cursor, index)
            self.state.requeued = []

    def select(self, names=(), statuses=(), filters=None):
        """Ids of the entries named (ids, unique id prefixes, or run folders
        of an experiment: `0003_lr_0.1/0`, or `0003_lr_0.1` for all its runs),
        plus those in one of `statuses` ("stale": running on a worker that
        looks dead, needs history), restricted to those whose experiment
        config matches `filters` ([(dotted path, value)]). Unknown names are
        an error."""
        ids = self.list.ids
        entries = self.list.entries() if names or filters else None
        chosen = []
        for name in names:
            found = [i for i, e in enumerate(entries)
                     if isinstance(e, dict) and e.get("run") and (
                         e["run"] == name.rstrip("/") or e["run"].startswith(name.rstrip("/") + "/"))]
            if not found:
                found = [i for i in range(len(ids)) if ids[i].startswith(name)]
                if len(found) > 1 and name not in (ids[i] for i in found):
                    raise UserError("%r matches %d entries: give more of the id" % (name, len(found)))
                found = [i for i in found if ids[i] == name] or found
            if not found:
                raise UserError("no entry %r in %s" % (name, self.list.path))
            chosen += found
        if statuses:
            now = time.time()
            for i, id_ in enumerate(ids):
                status = self.status_of(id_)
                if status in statuses or (status == RUNNING and "stale" in statuses
                                          and self.is_stale(self.state.last(id_), now)):
                    chosen.append(i)
        if filters:
            from cooperate.grid.config import matches

            chosen = [i for i in (chosen if names or statuses else range(len(ids)))
                      if isinstance(entries[i], dict) and matches(entries[i].get("cfg", {}), filters)]
        return [ids[i] for i in sorted(set(chosen))]

    def shuffle(self):
        """Claim in a random order (different in every worker)."""
        import random

        from array import array

        order = array("q", range(len(self.list.ids)))
        random.shuffle(order)
        self.order = order
        self.shuffled = True
        self.cursor = 0

    def status_of(self, id_):
        if id_ in self.list.executed:
            return DONE
        return self.state.status(id_)

    def counts(self):
        """{status: how many entries of the list have it} (a pass over the
        list: for summaries, not for every claim)."""
        counts = dict.fromkeys(STATUSES, 0)
        codes, executed = self.state.codes, self.list.executed
        for id_ in self.list.ids:
            code = codes.get(id_)
            if id_ in executed:
                counts[DONE] += 1
            else:
                counts[PENDING if code is None else STATUSES[code & 7]] += 1
        return counts

    def log_paths(self, id_, attempt):
        """Where an attempt's output goes: logs/PRE/ID.ATTEMPT.out and .err,
        PRE the id's first three hex digits, so that no folder holds more
        than a few thousand logs (see logs.py; logs.find also looks where
        older state folders kept them)."""
        base = os.path.join(self.dir, "logs", id_[:3], "%s.%d" % (id_, attempt))
        return base + ".out", base + ".err"

    def heartbeat_path(self, worker):
        return os.path.join(self.dir, "workers", worker)

    def worker_alive(self, worker, now=None):
        """Does this worker look alive? On this machine (same boot and pid
        namespace): its process or its guard is there (no waiting).
        Elsewhere: it renewed its heartbeat within its lease."""
        info = self.state.workers.get(worker)
        if info is None or worker in self.state.quit:
            return False
        alive = host.owner_alive(info)
        if alive is not None:
            return alive
        try:
            beat = os.stat(self.heartbeat_path(worker)).st_mtime
        except OSError:
            return False
        return (now or time.time()) - beat <= info.get("lease", LEASE)

    def live_workers_here(self):
        """Workers of this queue alive on this machine (from the records)."""
        return [w for w, info in self.state.workers.items()
                if host.same_machine(info) and self.worker_alive(w)]

    def is_stale(self, attempt, now=None):
        """Does the worker holding this running attempt look dead?"""
        return not self.worker_alive(attempt.worker, now)

    # -- changing (under the lock) -----------------------------------------
    def create_state_dir(self, subs=("logs", "workers")):
        """The state folder, these folders in it, the journal and the lock."""
        path = self.dir
        try:
            for sub in subs:
                path = os.path.join(self.dir, sub)
                files.make_folder(path, self.folder_mode)
            for name in ("journal", "lock"):
                path = os.path.join(self.dir, name)
                files.create(path, self.file_mode)
        except OSError as error:
            raise UserError(
                "cannot create the state folder %s: %s (workers record their state "
                "beside the list; give a writable folder on the shared filesystem "
                "with --state DIR)" % (path, error.strerror))
        if not os.access(self.dir, os.W_OK):
            read_only = os.statvfs(self.dir).f_flag & os.ST_RDONLY
            raise UserError("the state folder %s is not writable%s (use --state DIR)" % (
                self.dir, ": it is on a read-only file system" if read_only else ""))
        if not self.trusted:
            # it may have been there before, made by someone else
            trust.check_state(self.dir, STATE_NAMES)

    def transaction(self, make):
        """Run `make()` under the lock after catching up with the journal and
        the list; append the records it returns (it applies them itself).
        The list is re-read before the lock is taken: a list that changed and
        does not read is left at its last version (list.unreadable says why)."""
        def payload(records):
            self._apply(records)
            return make()

        if not os.path.isdir(self.dir):
            if self.offset:
                raise UserError("the state folder %s is gone (No such file or directory): it was "
                                "removed under this worker, so what it ran cannot be recorded"
                                % self.dir)
            self.create_state_dir()
        if self.list.refresh():
            self.cursor = 0
            if self.shuffled:
                self.shuffle()
        while True:
            self.read()
            now = time.monotonic()
            durable = self.flush_every is None or now - self.flushed >= self.flush_every
            try:
                with QueueLock(os.path.join(self.dir, "lock"), self.lock_timeout, self.file_mode):
                    _, written, self.offset = journal.sync(
                        self.journal_path, self.offset, payload, durable, self.file_mode,
                        self.generation)
                    if self.offset >= max(self.compact_at, self.snapshot_size):
                        self._compact()
            except journal.Rotated:
                # compacted since this read it: read it afresh, then decide
                self._load()
                continue
            if durable and written:
                self.flushed = now
            return written

    def _compact(self):
        """Fold the journal into a new snapshot (under the lock). A failure
        (a full disk) leaves the queue as it was: it is only tried again
        once the journal has grown as much again."""
        try:
            self.generation, self.offset, self.journal_inode = snapshot.compact(
                self.dir, self.generation, State, self.file_mode, self.trusted)
            self.snapshot_size = os.stat(snapshot.path(self.dir, self.generation)).st_size
        except (UserError, OSError):
            self.compact_at = self.offset * 2

    def _record(self, out, record):
        out.append(record)
        self._apply([record])

    def next_pending(self):
        """The index of the next pending entry whose dependencies are done
        (the cursor stays on it, or it stays first in `ready`), or None. An
        entry that waits for others is passed over; `_apply` puts it in
        `ready` once they are done, so that waiting entries are not looked
        at again on every claim."""
        ids, codes, executed, order = self.list.ids, self.state.codes, self.list.executed, self.order
        after, ready = self.list.after, self.ready
        while ready:
            index = ready[0]
            if index < len(ids):
                id_ = ids[index]
                code = codes.get(id_)
                if ((code is None or code & 7 == _PENDING) and id_ not in executed
                        and self._all_done(after.get(index, ()))):
                    return index
            heapq.heappop(ready)
        if order is None:
            for index, id_ in enumerate(ids.iter_from(self.cursor), self.cursor):
                code = codes.get(id_)
                if (code is None or code & 7 == _PENDING) and id_ not in executed and (
                        index not in after or self._all_done(after[index])):
                    self.cursor = index
                    return index
            self.cursor = len(ids)
            return None
        while self.cursor < len(ids):
            index = order[self.cursor]
            id_ = ids[index]
            code = codes.get(id_)
            if (code is None or code & 7 == _PENDING) and id_ not in executed and (
                    index not in after or self._all_done(after[index])):
                return index
            self.cursor += 1
        return None

    def _all_done(self, indexes):
        ids, codes, executed = self.list.ids, self.state.codes, self.list.executed
        for i in indexes:
            id_ = ids[i]
            if codes.get(id_, _PENDING) & 7 != _DONE and id_ not in executed:
                return False
        return True

    def skip(self, index, later=False):
        """Pass over the entry next_pending gave: this worker does not take
        it (`later`: not now; it is in `ready` again for the next claim)."""
        if self.ready and self.ready[0] == index:
            heapq.heappop(self.ready)
            if later:
                self.deferred.append(index)
        else:
            self.cursor += 1

    def waiting(self):
        """How many pending entries wait for others not done (blocked ones too)."""
        ids = self.list.ids
        return sum(1 for index, deps in self.list.after.items()
                   if self.status_of(ids[index]) == PENDING and not self._all_done(deps))

    def blocked(self):
        """{index: (index of the entry it waits for, that entry's status)} of
        the pending entries that wait for one failed or aborted, or blocked
        itself: they never start unless that one is retried and succeeds.
        Derived, not recorded: one pass over the entries with "after"."""
        ids, blocked = self.list.ids, {}
        # an entry comes after those it waits for (see listfile.resolve_after)
        for index, deps in self.list.after.items():
            if self.status_of(ids[index]) != PENDING:
                continue
            for d in deps:
                status = "blocked" if d in blocked else self.status_of(ids[d])
                if status in ("blocked", FAILED, ABORTED):
                    blocked[index] = (d, status)
                    break
        return blocked

    def join(self, worker, info):
        self.create_state_dir()
        self.list.save_cache()
        path = self.heartbeat_path(worker)
        try:
            os.close(files.open_own(path, self.file_mode))
        except OSError as error:
            raise UserError("cannot write %s: %s" % (path, error.strerror))
        self.transaction(lambda: [["w", worker, info]])

    def heartbeat(self, worker):
        """Renew the worker's lease; False if that failed."""
        try:
            os.utime(self.heartbeat_path(worker), follow_symlinks=False)
        except OSError:
            return False
        return True

    def sync(self):
        """Catch up with the journal under the lock: after it, no other
        worker can have recorded something this one has not read."""
        self.transaction(lambda: [])

    def clock(self, worker):
        """Now, by the shared filesystem's clock: touch our heartbeat and read
        its time back (on NFS the server stamps it), so that leases never
        compare two machines' clocks."""
        path = self.heartbeat_path(worker)
        try:
            os.utime(path, follow_symlinks=False)
            return os.lstat(path).st_mtime
        except OSError:
            return time.time()

    def retries_of(self, id_, default):
        """An entry's own "retries", else the worker's."""
        index = self.list.ids.index(id_)
        entry = self.list.entry(index) if index is not None else None
        return entry.get("retries", default) if isinstance(entry, dict) else default

    def dead(self, holder, now=None, verdicts=None):
        """Is this worker dead, with nothing of its runs left on this
        machine? (Leftovers of a dead worker here are killed first; see the
        module's docstring.) `verdicts` keeps the answers of one transaction."""
        if verdicts is not None:
            if holder not in verdicts:
                verdicts[holder] = self.dead(holder, now)
            return verdicts[holder]
        if self.worker_alive(holder, now):
            return False
        info = self.state.workers.get(holder, {})
        if not host.same_machine(info):
            return True
        groups = [process for id_, process in self.state.processes.items()
                  if self.state.holders.get(id_) == holder]
        # a recorded group whose first process now has another start time
        # is someone else's
        host.signal_groups([pid for pid, start in groups
                            if host.process_start(pid) in (None, start)], signal.SIGKILL)
        deadline = time.monotonic() + LEFTOVERS_WAIT
        while host.kill_tagged("COOPERATE_WORKER", holder):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _take_back_lost(self, worker, out, now, retries):
        """Record as lost the running entries whose worker is dead (on this
        machine: its process and its guard are gone; elsewhere: silent for
        its lease). Returns True if one of them is pending again."""
        clock, verdicts, again_any = None, {}, False
        for id_, holder in list(self.state.holders.items()):
            if holder == worker:
                continue
            if clock is None:
                clock = self.clock(worker)
            if not self.dead(holder, clock, verdicts):
                continue
            number = self.state.attempts(id_)
            again = number <= max(self.retries_of(id_, retries), LOST_RETRIES)
            self._record(out, ["e", id_, number, worker, now, LOST, None, again])
            again_any = again_any or again
        return again_any

    def take(self, worker, ends=(), claim=True, accept=None, retries=0, procs=(), notify=False):
        """Record the processes of running attempts, (id, attempt, pid, start
        time), the ends of finished attempts, (id, attempt, outcome, code,
        again), and if `claim` claim the next pending entry that
        `accept(entry)` (if given) accepts (True; False: never, LATER: not
        now), in one transaction; when nothing is pending, first take back
        entries held by dead workers. Nothing is claimed while the list
        does not read. Returns a Claim or None.
        With `notify`, an end that leaves nothing pending, held or running
        is recorded as the queue's end (["n", worker, time]) unless it was
        already, and `finished` gets the counts: the lock makes this worker
        the only one to see it, on whatever machine."""
        taken = []
        self.finished = None

        def make():
            out = []
            now = time.time()
            for id_, attempt, pid, start in procs:
                self._record(out, ["p", id_, attempt, pid, start])
            for id_, attempt, outcome, code, again in ends:
                self._record(out, ["e", id_, attempt, worker, now, outcome, code, again])
            later = None
            for index in self.deferred:
                heapq.heappush(self.ready, index)
            self.deferred = []
            # a drained host takes nothing new (checked after catching up)
            while claim and host.hostname() not in self.state.drained and not self.list.unreadable:
                index = self.next_pending()
                if index is None:
                    if self._take_back_lost(worker, out, now, retries):
                        continue
                    break
                entry = self.list.entry(index)
                if entry is None:
                    # the list changed after it was checked: look again
                    self.cursor = 0
                    continue
                problem = self.list.problems.get(index)
                verdict = accept(entry) if accept is not None and not problem else True
                if verdict is LATER and later is None:
                    later = self.cursor
                if verdict is LATER or not verdict:
                    self.skip(index, later=verdict is LATER)
                    continue
                id_ = self.list.ids[index]
                attempt = self.state.attempts(id_) + 1
                self._record(out, ["c", id_, attempt, worker, now])
                taken.append(Claim(self, id_, attempt, entry, problem))
                break
            if later is not None:
                # back to the first entry left for later: still pending
                self.cursor = min(self.cursor, later)
            if notify and ends and not taken and self._finished():
                self._record(out, ["n", worker, now])
                self.finished = self.counts()
            return out

        self.transaction(make)
        return taken[0] if taken else None

    def _finished(self):
        """Nothing pending (but entries blocked for good), held or running,
        and not yet announced. A pass over the list only once nothing runs
        and this worker's cursor is at the end: entries it may not take
        (filters, too many GPUs) may still be pending for others."""
        state = self.state
        if (state.notified or state.holders or self.list.unreadable
                or self.next_pending() is not None):
            return False
        counts = self.counts()
        blocked = len(self.blocked()) if self.list.after else 0
        return not counts[HELD] and counts[PENDING] == blocked

    def leave(self, worker, code):
        self.flush_every = None
        self.transaction(lambda: [["q", worker, time.time(), code]])

    def _change(self, ids, decide):
        """One transaction appending `decide(id_, status, now)`'s record (or
        None) for each id; returns the ids that got a record."""
        changed = []

        def make():
            out = []
            now = time.time()
            for id_ in ids:
                record = decide(id_, self.status_of(id_), now)
                if record is not None:
                    self._record(out, record)
                    changed.append(id_)
            return out

        self.transaction(make)
        return changed

    def retry(self, ids):
        """Make these entries pending again (a new attempt); running ones and
        ones marked executed in the list are left alone."""
        return self._change(ids, lambda id_, status, now: ["r", id_, now] if status not in (
            PENDING, RUNNING) and id_ not in self.list.executed else None)

    def hold(self, ids):
        """Keep pending entries from being claimed until released."""
        return self._change(ids, lambda id_, status, now: ["h", id_, now] if status == PENDING else None)

    def release(self, ids):
        return self._change(ids, lambda id_, status, now: ["u", id_, now] if status == HELD else None)

    def abort(self, ids, by):
        """Stop these entries: a running one by a request its worker carries
        out (or at once if that worker looks dead), one not started now.
        Needs `history`. Returns the ids that changed."""
        verdicts = {}

        def decide(id_, status, now):
            if status == RUNNING:
                a = self.state.last(id_)
                if self.dead(a.worker, now, verdicts):
                    return ["e", id_, a.number, by, now, ABORTED, None]
            elif status not in (PENDING, HELD):
                return None
            return ["a", id_, now]

        return self._change(ids, decide)

    def drain(self, hostname, on=True):
        """Workers on this host finish what they run and take nothing new
        (until undone)."""
        self.transaction(lambda: [["d", hostname, time.time(), on]])

    def take_back(self, ids, by):
        """Record running entries whose worker is dead as lost, which makes
        them pending again. Needs `history`."""
        verdicts = {}

        def decide(id_, status, now):
            if status == RUNNING:
                a = self.state.last(id_)
                if self.dead(a.worker, now, verdicts):
                    return ["e", id_, a.number, by, now, LOST, None, True]
            return None

        return self._change(ids, decide)
