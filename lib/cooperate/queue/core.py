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

The parts, each readable alone: state.py folds the records, order.py
chooses the next entry to claim, lease.py tells live workers from dead
ones, journal.py, snapshot.py and lock.py keep the records, listfile.py
reads the list, trust.py refuses files others could change. A Queue opens
a Source (source.py): a list file, or what a layer above made of an
experiment folder. Opening reads; only a transaction writes.
"""

import errno
import os
import time

from cooperate import fmt
from cooperate.errors import UserError
from cooperate.queue import files, host, journal, snapshot, trust
from cooperate.queue.lease import LEASE, Leases, heartbeat_every
from cooperate.queue.listfile import CommandList, label
from cooperate.queue.order import ClaimOrder
from cooperate.queue.source import Source, default_state_dir
from cooperate.queue.state import (ABORTED, CLAIMED, DONE, FAILED, HELD, INTERRUPTED, LATER, LOST,
                                   PENDING, PRUNED, RUNNING, STATUSES, TIMEOUT, State)

__all__ = ["ABORTED", "CLAIMED", "DEFAULT_LOCK_TIMEOUT", "DONE", "FAILED", "HELD", "INTERRUPTED",
           "LATER", "LEASE", "LOST", "LOST_RETRIES", "PENDING", "PRUNED", "RUNNING", "STATUSES",
           "TIMEOUT", "Claim", "Queue", "Source", "heartbeat_every"]

DEFAULT_LOCK_TIMEOUT = 60.0
# a lost attempt (its worker died) runs again at least this many times, even
# without --retries; after that the entry is failed for good
LOST_RETRIES = 3
# A worker catches up with the journal before taking the lock only when its
# last transaction found more than this many records of others' under it
# (many workers): otherwise reading them under the lock, from the journal it
# opens there anyway, spares the round trips of a second open (see
# _transaction).
READ_AHEAD = 16


def give_back():
    """Give the memory the C library keeps free back to the system (glibc's
    malloc_trim; nothing elsewhere), after the burst of a compaction: it
    keeps freed blocks in its heap, where a worker's later growth seldom
    fits them, and a draining worker's size grew by what each compaction
    had used (see bench/RESULTS.md)."""
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (ImportError, OSError, AttributeError):
        pass


def compact_at():
    """The journal's size that starts a compaction: COOPERATE_COMPACT_AT
    (bytes) if set, for tests and for queues on slow filesystems."""
    try:
        return max(1, int(os.environ.get("COOPERATE_COMPACT_AT", snapshot.COMPACT_AT)))
    except ValueError:
        return snapshot.COMPACT_AT


class Claim:
    """An entry this worker holds: what to run and which attempt it is;
    `problem`: why it cannot be started (a bad entry appended to the list)."""

    # claimed in a batch (see Queue.take), to be started later
    batched = False

    def __init__(self, queue, id_, attempt, entry, problem=None):
        self.id = id_
        self.attempt = attempt
        self.entry = entry
        self.problem = problem
        self.label = label(entry)
        self.out, self.err = queue.log_paths(self.id, attempt)


# what may be in a state folder
STATE_NAMES = ("journal", "lock", "broken", "ids.cache", "logs", "metrics", "workers", "slurm", "spawn")


def untrusted(what, mark):
    """The one line said when the shared filesystem does not keep the
    queue's records safe: what was seen, what to check, how to go on."""
    return ("the shared filesystem does not keep this queue's records safe: %s. Its locks or "
            "appends do not work across machines: check that every machine mounts it with "
            "locking (no `nolock`, no `local_lock=`; `mount` shows the options) and shares the "
            "queue through it rather than through a FUSE filesystem such as sshfs. Workers "
            "stop; once fixed, remove %s and start them again" % (what, mark))


class Queue:
    """A list and its state. `source`: a list file's path, or a Source.
    `reader`s (status) may take the list's ids from the cache that workers
    keep in the state folder; workers keep no `history` of attempts. A
    `packed` queue keeps the snapshot's ids packed (snapshot.PackedIds): a
    third of the memory, codes found more slowly (for the commands that
    read a large queue but do not look up every entry within a second).
    Opening a queue writes nothing: the state folder is made by the first
    transaction (an in-memory Source has none, and refuses transactions).

    Unless `trusted`, the list (and an experiment's experiment.json), the
    state folder and what is in it are refused if another user could change
    them (see trust.py), before they are used and whenever the list or the
    journal is read again. `trusted` (--trust-writable) also lets what this
    creates in a group-writable folder be written by that group (a queue a
    team shares)."""

    def __init__(self, source, state_dir=None, lock_timeout=DEFAULT_LOCK_TIMEOUT, reader=False,
                 history=True, trusted=False, packed=False):
        self.source = source if isinstance(source, Source) else Source(source)
        path = self.source.path
        self.dir = state_dir or default_state_dir(path)
        self.trusted = trusted
        self.file_mode, self.folder_mode = (
            files.shared_modes(os.path.dirname(os.path.abspath(self.dir))) if trusted
            else (files.STATE_FILE_MODE, files.STATE_FOLDER_MODE))
        if not trusted:
            trust.check_state(self.dir, STATE_NAMES)
        check = None if trusted or self.source.in_memory else self._check_list
        self.list = CommandList(path, os.path.join(self.dir, "ids.cache"), reader=reader,
                                check=check, text=self.source.text)
        self.order = ClaimOrder(self.list)
        self.leases = Leases(self.dir)
        self.journal_path = os.path.join(self.dir, "journal")
        self.lock_timeout = lock_timeout
        self.history, self.packed = history, packed
        self.state = State(history)
        # where this has read the journal to: its generation, inode, and its
        # journal cursor (not the claim order's cursor: order.py)
        self.generation, self.journal_inode, self.journal_cursor = 0, None, journal.Cursor()
        # (inode, owner, group, mode) of the journal when it was last found
        # changeable by this user alone (see _check_journal)
        self.journal_checked = None
        # how many records of others' the last transaction read under the lock
        self.read_under_lock = READ_AHEAD + 1
        # the worker this queue records for, once it joined; how many "x"
        # records it had read then, and the last one's words (see _watch)
        self.worker, self.marks, self.marked = None, 0, None
        # why this worker stops (the filesystem failed a check), or None
        self.broken = None
        # say(text): tells the user of a transient filesystem error, once
        self.say = None
        # a transient error was said and no step has succeeded since
        self.troubled = False
        self.unreadable = 0
        self.snapshot_size = 0
        self.compact_at = compact_at()
        # fsync the journal at most every `flush_every` seconds (None: always)
        self.flush_every = None
        self.flushed = 0.0
        # the counts, when this worker's last transaction recorded the
        # queue's end (see take's `notify`), else None
        self.finished = None
        # what the last take took back from dead workers: (id, attempt,
        # worker, why it looked dead, pending again?), for the user
        self.taken_back = []
        # the claims the last take made beyond its first (see take's `batch`)
        self.batched = []
        # ends noted in the heartbeat file and not recorded yet (note_ends)
        self.noted = False
        self._fold(self.state)

    @property
    def experiment(self):
        """The experiment folder whose queue this is, or None (a list)."""
        return self.source.experiment

    def _check_list(self, path):
        trust.check_paths([path] + self.source.checked)

    @property
    def offset(self):
        """Where this has read the journal to."""
        return self.journal_cursor.offset

    def _fold(self, state):
        """Start over from `state` (folded afresh)."""
        self.state = self.order.state = self.leases.state = state
        self.order.restart(state)

    # -- reading (no lock) ------------------------------------------------
    def read(self):
        """Catch up with the journal without the lock (readers; workers before
        each transaction, so that the lock is held only for the last few
        records). Transient filesystem errors are tried again (see
        _patiently); a worker stops if the records show that the filesystem
        does not keep them safe (see _watch)."""
        self._patiently(self._read)
        self._watch()

    def _read(self):
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
        for records, bad in journal.read(self.journal_path, self.journal_cursor, self.generation):
            self.unreadable += bad
            self._apply(records)

    def _load(self):
        """Fold the state afresh: the snapshot the journal names, then the
        journal (again if a compaction came in between: see snapshot.py)."""
        # the old state goes first: never two in memory at once
        self.state = self.order.state = self.leases.state = None
        for _ in range(100):
            try:
                fd = os.open(self.journal_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                generation, inode = 0, None
            except OSError as error:
                raise journal.fs_error("cannot read %s" % self.journal_path, error)
            else:
                try:
                    generation, inode = journal.generation_of(fd), os.fstat(fd).st_ino
                except OSError as error:
                    raise journal.fs_error("cannot read %s" % self.journal_path, error)
                finally:
                    os.close(fd)
            state = State(self.history)
            self.unreadable, self.snapshot_size = 0, 0
            if generation:
                try:
                    snap = snapshot.load(self.dir, generation, self.history, self.trusted,
                                         packed=self.packed)
                except FileNotFoundError:
                    if self._journal_is(generation, inode):
                        raise UserError(
                            "%s is missing: the journal beside it (generation %d) needs it, "
                            "since it holds the queue's history before that; restore it from "
                            "a backup, or remove the state folder %s to start the queue afresh"
                            % (snapshot.path(self.dir, generation), generation, self.dir))
                    continue  # compacted again meanwhile
                state.load(snap)
                self.unreadable, self.snapshot_size = snap.head["unreadable"], snap.size
            self.generation, self.journal_inode = generation, inode
            # x records before this read are not news (see _watch)
            self.journal_cursor, self.marks = journal.Cursor(), 0
            self._fold(state)
            if self.source.records:
                self._apply(self.source.records)
            try:
                self._read_journal()
            except journal.Rotated:
                continue
            return
        raise UserError("%s keeps being compacted while it is read: try again" % self.journal_path)

    def _journal_is(self, generation, inode):
        """Is the journal still of this generation and inode?"""
        try:
            fd = os.open(self.journal_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            return journal.generation_of(fd) == generation and os.fstat(fd).st_ino == inode
        except OSError:
            return False
        finally:
            os.close(fd)

    def _apply(self, records):
        self.state.apply(records)
        self.order.applied(records)
        if self.journal_cursor.marks != self.marks and self.marked is None:
            # another worker found the filesystem failing (see _watch): its words
            self.marked = next((r[3] for r in reversed(records)
                                if r[0] == "x" and len(r) > 3), None)

    # -- trusting the filesystem -------------------------------------------
    def _watch(self):
        """A worker stops (UserError) once the records show that the shared
        filesystem does not keep them safe: two writers were inside the lock
        at once, or a write landed over records (journal.py: the cursor's
        anomaly), or a record was lost (a running entry's worker never
        recorded its start), or another worker recorded that it found so
        (an "x" record read since this one joined). The first to find it
        leaves the mark file STATE/broken and an "x" record for the others;
        while the mark is there no worker starts (see join). Readers
        (status) only show it (trouble)."""
        if self.worker is None or self.broken is not None:
            return
        cursor = self.journal_cursor
        if cursor.anomaly is None and cursor.marks == self.marks:
            return
        what = cursor.anomaly
        if what is None:
            what = "another worker found that: %s" % (self.marked or "see %s" % self.mark_path)
        self.broken = untrusted(what, self.mark_path)
        if cursor.anomaly is not None:
            cursor.anomaly = None
            try:
                if not os.path.exists(self.mark_path):
                    files.atomic_write(self.mark_path, (self.broken + "\n").encode(),
                                       mode=self.file_mode)
                self.transaction(lambda: [["x", self.worker, time.time(), what]])
            except UserError:
                pass  # the message below is what matters
        raise UserError(self.broken)

    @property
    def mark_path(self):
        return os.path.join(self.dir, "broken")

    def trouble(self):
        """Why workers stopped or must stop (one line), for status: the mark
        file's words, or what this reading of the journal found, or None."""
        try:
            with open(self.mark_path, "rb") as f:
                return f.read(4096).decode("utf-8", "replace").strip() or self.mark_path
        except OSError:
            pass
        what = self.journal_cursor.anomaly or self.lost_record()
        return untrusted(what, self.mark_path) if what else None

    def lost_record(self):
        """A running entry held by a worker that never recorded its start
        (its "w" record was written over), as a sentence, or None."""
        for id_, holder in self.state.holders.items():
            if holder not in self.state.workers:
                return ("entry %s is held by worker %s, whose start is not in %s: the record "
                        "was lost" % (id_, holder, self.journal_path))
        return None

    def _patiently(self, step):
        """step(), tried again while the filesystem gives a transient error
        (journal.TRANSIENT: a server restarting, a stale handle, a disk full
        for a while), with a growing pause, for up to lock_timeout seconds;
        said once (say) until a step succeeds again, however many steps fail
        meanwhile (a worker's last records after a failure, say). Other
        errors, or one that lasts, are raised."""
        deadline, pause = None, 0.05
        while True:
            try:
                result = step()
                self.troubled = False
                return result
            except (OSError, UserError) as error:
                if getattr(error, "errno", None) not in journal.TRANSIENT:
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.lock_timeout
                    if self.say is not None and not self.troubled:
                        self.troubled = True
                        self.say("%s; trying again for up to %g s" % (
                            error if isinstance(error, UserError) else
                            "%s: %s" % (error.filename or self.dir, error.strerror),
                            self.lock_timeout))
                if now >= deadline:
                    if isinstance(error, UserError):
                        raise
                    raise journal.fs_error(error.filename or self.dir, error)
                import random

                time.sleep(pause * (0.5 + random.random()))
                pause = min(pause * 2, 2.0)

    def select(self, names=(), statuses=(), where=None):
        """Ids of the entries named (ids, unique id prefixes, or run folders
        of an experiment: `0003_lr_0.1/0`, or `0003_lr_0.1` for all its runs),
        plus those in one of `statuses` ("stale": running on a worker that
        looks dead, needs history), restricted to the entries for which
        `where(entry)` is true, if given. Unknown names are an error."""
        ids = self.list.ids
        entries = self.list.entries() if where else None
        chosen = []
        for name in names:
            found = [i for i, e in enumerate(entries or self.list.each_entry())
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
            for i, id_ in enumerate(ids):
                status = self.status_of(id_)
                if status in statuses or (status == RUNNING and "stale" in statuses
                                          and self.leases.is_stale(self.state.last(id_))):
                    chosen.append(i)
        if where:
            chosen = [i for i in (chosen if names or statuses else range(len(ids)))
                      if where(entries[i])]
        return [ids[i] for i in sorted(set(chosen))]

    def shuffle(self):
        """Claim in a random order (different in every worker)."""
        self.order.shuffle()

    def status_of(self, id_):
        if id_ in self.list.executed:
            return DONE
        return self.state.status(id_)

    def counts(self):
        """{status: how many entries of the list have it} (a pass over the
        list: for summaries, not for every claim)."""
        counts = dict.fromkeys(STATUSES, 0)
        get, executed = self.state.getter(), self.list.executed
        for id_ in self.list.ids:
            code = get(id_)
            if id_ in executed:
                counts[DONE] += 1
            else:
                counts[PENDING if code is None else STATUSES[code & 7]] += 1
        return counts

    def beyond_slots(self):
        """How many running entries their workers hold beyond their slots:
        claimed in a batch, not running now (see CLAIMED; summaries also
        leave out the ends a worker noted: results/summary.py)."""
        held = {}
        for worker in self.state.holders.values():
            held[worker] = held.get(worker, 0) + 1
        workers = self.state.workers
        return sum(max(0, n - workers.get(w, {}).get("slots", n)) for w, n in held.items())

    def log_paths(self, id_, attempt):
        """Where an attempt's output goes: logs/PRE/ID.ATTEMPT.out and .err,
        PRE the id's first three hex digits, so that no folder holds more
        than a few thousand logs (see logs.py; logs.find also looks where
        older state folders kept them)."""
        base = os.path.join(self.dir, "logs", id_[:3], "%s.%d" % (id_, attempt))
        return base + ".out", base + ".err"

    # -- changing (under the lock) -----------------------------------------
    def create_state_dir(self, subs=("logs", "workers")):
        """The state folder, these folders in it, the journal and the lock;
        a transient error (a server restarting) is tried again (_patiently)."""
        self._patiently(lambda: self._create_state_dir(subs))

    def _create_state_dir(self, subs):
        try:
            # nothing made before the trust checks passed on where it goes
            files.make_state_folder(self.dir, subs, ("journal", "lock"), self.file_mode,
                                    self.folder_mode, None if self.trusted else trust.check_path)
        except OSError as error:
            failure = UserError(
                "cannot create the state folder %s: %s (workers record their state "
                "beside the list; give a writable folder on the shared filesystem "
                "with --state DIR)" % (error.filename or self.dir, error.strerror))
            failure.errno = error.errno
            raise failure
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
        does not read is left at its last version (list.unreadable says why).
        A transient filesystem error is tried again (see _patiently), from
        the state as recorded: `make` may be called again, and must start
        afresh each time. A worker stops (UserError) once the records show
        that the filesystem does not keep them safe (see _watch)."""
        made = []

        def payload(records):
            self._apply(records)
            self.read_under_lock = len(records)
            made.append(True)
            return make()

        def attempt():
            if made:
                # what the failed attempt applied in memory was not recorded
                del made[:]
                self._load()
            return self._transaction(payload)

        if self.source.in_memory:
            raise UserError("%s is read as it is, in memory: a command that changes it must "
                            "adopt it first" % self.source.name)
        # a worker that has read the journal knows the folder is there (one
        # lookup less per claim); if it was removed since, the lock says so
        if not self.offset and not os.path.isdir(self.dir):
            self.create_state_dir()
        if self.list.refresh():
            self.order.list_changed()
        written = self._patiently(attempt)
        self._watch()
        return written

    def _transaction(self, payload):
        # here, not at the top: readers (status) take no lock
        from cooperate.queue.lock import QueueLock

        while True:
            # Catching up before the lock keeps it short when many others
            # wrote; with few, what they wrote is read under the lock, where
            # the journal is open anyway (and checked: _check_journal)
            if self.journal_inode is None or self.read_under_lock > READ_AHEAD:
                self._read()
            now = time.monotonic()
            durable = self.flush_every is None or now - self.flushed >= self.flush_every
            try:
                with QueueLock(os.path.join(self.dir, "lock"), self.lock_timeout, self.file_mode):
                    _, written = journal.sync(self.journal_path, self.journal_cursor, payload,
                                              durable, self.file_mode, self.generation,
                                              None if self.trusted else self._check_journal)
                    if self.offset >= max(self.compact_at, self.snapshot_size) and \
                            self.journal_cursor.anomaly is None:
                        self._compact()
            except journal.Rotated:
                # compacted since this read it: read it afresh, then decide
                self._load()
                continue
            except UserError as error:
                if getattr(error, "errno", None) == errno.ENOENT and not os.path.isdir(self.dir):
                    raise UserError("the state folder %s is gone (No such file or directory): it "
                                    "was removed under this worker, so what it ran cannot be "
                                    "recorded" % self.dir)
                raise
            if durable and written:
                self.flushed = now
            return written

    def _check_journal(self, inode, uid, gid, mode):
        """Under the lock, the open journal's (inode, owner, group, mode):
        refused (trust.check_stat, its access lists included) if others
        could change it, checked afresh whenever one of them changed. Only
        its owner (this user, or root) can change its access lists without
        changing these: one round trip less per claim, no check less."""
        seen = (inode, uid, gid, mode)
        if seen != self.journal_checked:
            trust.check_stat(self.journal_path, os.lstat(self.journal_path))
            self.journal_checked = seen
        self.journal_inode = inode

    def _compact(self):
        """Fold the journal into a new snapshot (under the lock). A failure
        (a full disk) leaves the queue as it was: it is only tried again
        once the journal has grown as much again."""
        try:
            self.generation, first, self.journal_inode = snapshot.compact(
                self.dir, self.generation, State, self.file_mode, self.trusted)
            self.journal_cursor = journal.Cursor(len(first), first)
            self.marks = 0
            self.snapshot_size = os.stat(snapshot.path(self.dir, self.generation)).st_size
        except (UserError, OSError):
            self.compact_at = self.offset * 2
        finally:
            give_back()

    def _record(self, out, record):
        out.append(record)
        self._apply([record])

    def waiting(self):
        """How many pending entries wait for others not done (blocked ones too)."""
        return self.order.waiting(self.status_of)

    def blocked(self):
        """See ClaimOrder.blocked."""
        return self.order.blocked(self.status_of)

    def join(self, worker, info):
        """Record a worker's start; from then on this queue records for it
        (see _watch). Refused while the mark of a failing filesystem is there.
        The state is read first: a damaged one is said before anything is
        written."""
        if os.path.isdir(self.dir):
            self.read()
        self.create_state_dir()
        try:
            with open(self.mark_path, "rb") as f:
                said = f.read(4096).decode("utf-8", "replace").strip()
        except FileNotFoundError:
            pass
        except OSError as error:
            raise journal.fs_error("cannot read %s" % self.mark_path, error)
        else:
            raise UserError("%s (found earlier, by a worker)%s" % (
                said or self.mark_path, "" if said else ": workers stopped; once the cause is "
                "fixed, remove it"))
        self.list.save_cache()
        path = self.leases.heartbeat_path(worker)
        try:
            os.close(files.open_own(path, self.file_mode))
        except OSError as error:
            raise UserError("cannot write %s: %s" % (path, error.strerror))

        def record():
            # its own record is in its state too, as after any fresh read
            out = []
            self._record(out, ["w", worker, info])
            return out

        self.transaction(record)
        self.worker, self.marks, self.marked = worker, self.journal_cursor.marks, None
        self._watch()

    def sync(self):
        """Catch up with the journal under the lock: after it, no other
        worker can have recorded something this one has not read."""
        self.transaction(lambda: [])

    def retries_of(self, id_, default):
        """An entry's own "retries", else the worker's."""
        index = self.list.ids.index(id_)
        entry = self.list.entry(index) if index is not None else None
        return entry.get("retries", default) if isinstance(entry, dict) else default

    def _take_back_lost(self, worker, out, now, retries, here=False):
        """Record as lost the running entries whose worker is dead (on this
        machine: its process and its guard are gone; elsewhere: this process
        watched it silent for its lease); `here`: only those of workers of
        this machine, known dead at once. Returns True if one of them is
        pending again."""
        verdicts, noted, again_any = {}, {}, False
        for id_, holder in list(self.state.holders.items()):
            if holder == worker:
                continue
            if here:
                if holder not in verdicts:
                    verdicts[holder] = host.owner_alive(self.state.workers.get(holder, {})) \
                        is False and self.leases.dead(holder)
                if not verdicts[holder]:
                    continue
            elif holder not in self.state.workers:
                # its start record was lost: never judged dead for that
                self.journal_cursor.notice(self.lost_record())
                continue
            if not self.leases.dead(holder, verdicts):
                continue
            number = self.state.attempts(id_)
            end = self._noted_end(holder, id_, number, noted)
            if end is not None:
                self._record(out, end)
                continue
            again = number <= max(self.retries_of(id_, retries), LOST_RETRIES)
            self._record(out, ["e", id_, number, worker, now, LOST, None, again])
            self.taken_back.append((id_, number, holder, self._why_dead(holder), again))
            again_any = again_any or again
        return again_any

    def note_ends(self, ends):
        """Note the ends of this worker's runs (as take has them) in its
        heartbeat file, to be recorded with its next transaction (see
        lease.py); False if that failed."""
        now = time.time()
        self.noted = self.leases.note(self.worker, [
            tuple(end) if len(end) > 5 else tuple(end) + (now, None) for end in ends])
        return self.noted

    def _noted_end(self, holder, id_, number, noted):
        """The end record of attempt `number` of a dead holder's running
        entry if the holder noted it (see note_ends), else None. `noted`
        keeps each holder's notes for one transaction."""
        if holder not in noted:
            noted[holder] = self.leases.noted(holder)
        end = noted[holder].get((id_, number))
        if end is None:
            return None
        outcome, code, again, when, began = end
        record = ["e", id_, number, holder, when, outcome, code, again] + (
            [began] if began is not None else [])
        # a damaged note is no note: readers would skip its record
        return record if journal.well_formed(record) else None

    def _why_dead(self, holder):
        """Why a worker whose runs are taken back looks dead, in words."""
        if host.same_machine(self.state.workers.get(holder, {})):
            return "its process and its guard are gone from this machine"
        watched = self.leases.watched(holder)
        return "its heartbeat did not change for %s, its lease, as this worker watched it" % (
            fmt.duration(watched) if watched else "its lease")

    def take(self, worker, ends=(), claim=True, accept=None, retries=0, procs=(), notify=False,
             batch=1):
        """Record the processes of running attempts, (id, attempt, pid, start
        time), the ends of finished attempts, (id, attempt, outcome, code,
        again[, when it ended, when it started if not at its claim, else
        None]), and if `claim` claim the next pending entry that
        `accept(entry)` (if given) accepts (True; False: never, LATER: not
        now), in one transaction; first take back the entries of dead
        workers of this machine, and when nothing is pending those of dead
        workers elsewhere. Nothing is claimed while the list does not read.
        Returns a Claim or None; with `batch` > 1, up to
        batch - 1 more entries are claimed with it, in `batched` (Claims,
        in order: the worker starts them later, without a transaction).
        With `notify`, an end that leaves nothing pending, held or running
        is recorded as the queue's end (["n", worker, time]) unless it was
        already, and `finished` gets the counts: the lock makes this worker
        the only one to see it, on whatever machine."""
        taken = []
        self.finished = None
        self.batched = []
        order = self.order

        def make():
            out = []
            del taken[:]
            self.taken_back = []
            now = time.time()
            for id_, attempt, pid, start in procs:
                self._record(out, ["p", id_, attempt, pid, start])
            for end in ends:
                id_, attempt, outcome, code, again = end[:5]
                # a run started later than its claim (a batch's) says when
                when, began = end[5:7] if len(end) > 5 else (now, None)
                self._record(out, ["e", id_, attempt, worker, when, outcome, code, again] + (
                    [began] if began is not None else []))
            later = None
            order.undefer()
            if claim:
                # a dead worker of this machine is known at once: its runs
                # come back before anything else is claimed
                self._take_back_lost(worker, out, now, retries, here=True)
            # a drained host takes nothing new (checked after catching up)
            while claim and host.hostname() not in self.state.drained and not self.list.unreadable:
                index = order.next_pending()
                if index is None:
                    if self._take_back_lost(worker, out, now, retries):
                        continue
                    break
                entry = self.list.entry(index)
                if entry is None:
                    # the list changed after it was checked: look again
                    order.cursor = 0
                    continue
                problem = self.list.problems.get(index)
                verdict = accept(entry) if accept is not None and not problem else True
                if verdict is LATER and later is None:
                    later = order.cursor
                if verdict is LATER or not verdict:
                    order.skip(index, later=verdict is LATER)
                    continue
                id_ = self.list.ids[index]
                attempt = self.state.attempts(id_) + 1
                self._record(out, ["c", id_, attempt, worker, now])
                taken.append(Claim(self, id_, attempt, entry, problem))
                if len(taken) >= batch:
                    break
            if later is not None:
                # back to the first entry left for later: still pending
                order.cursor = min(order.cursor, later)
            if notify and ends and not taken and self._finished():
                self._record(out, ["n", worker, now])
                self.finished = self.counts()
            return out

        self.transaction(make)
        self.batched = taken[1:]
        for extra in self.batched:
            extra.batched = True
        if self.noted and ends:
            self.leases.forget()
            self.noted = False
        return taken[0] if taken else None

    def _finished(self):
        """Nothing pending (but entries blocked for good), held or running,
        and not yet announced. A pass over the list only once nothing runs
        and this worker's cursor is at the end: entries it may not take
        (filters, too many GPUs) may still be pending for others."""
        state = self.state
        if (state.notified or state.holders or self.list.unreadable
                or self.order.next_pending() is not None):
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
            del changed[:]
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
        out (or at once if that worker looks dead: as it ended, if it noted
        that), one not started now. Needs `history`. Returns the ids that
        changed."""
        verdicts, noted = {}, {}

        def decide(id_, status, now):
            if status == RUNNING:
                a = self.state.last(id_)
                if self.leases.dead(a.worker, verdicts):
                    return self._noted_end(a.worker, id_, a.number, noted) or [
                        "e", id_, a.number, by, now, ABORTED, None]
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
        them pending again (or as they ended, if their worker noted that).
        Needs `history`."""
        verdicts, noted = {}, {}

        def decide(id_, status, now):
            if status == RUNNING:
                a = self.state.last(id_)
                if self.leases.dead(a.worker, verdicts):
                    return self._noted_end(a.worker, id_, a.number, noted) or [
                        "e", id_, a.number, by, now, LOST, None, True]
            return None

        return self._change(ids, decide)
