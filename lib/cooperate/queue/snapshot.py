"""Compaction: the journal folded into a snapshot, so that what a newly
started reader reads grows with the number of entries, not with their history.

A state folder holds the journal of generation G (its first record is
["g", G, time]; a journal without one is generation 0) and, for G > 0, the
file snapshot.G: everything the journals before generation G recorded,
folded per entry. A reader reads the journal's generation, snapshot.G, then
the journal's records.

compact(), run under the queue lock once the journal has grown past the
snapshot's size, folds snapshot.G and journal G into snapshot.G+1 and starts
journal G+1:
  1. write snapshot.G+1 in full and fsync it;
  2. write ["g", G+1, time] to journal.new, fsync it, rename it over the
     journal: this rename is the commit;
  3. remove snapshot.G.

What holds wherever the compactor dies (tests kill it at each step):
  - before the rename, the journal and snapshot.G are as they were: the
    queue goes on with generation G; the next compaction writes snapshot.G+1
    and journal.new again from scratch.
  - after it, generation G+1 is complete; a snapshot.G left behind is
    removed by the next compaction.
  - Nothing recorded is lost or counted twice: the lock keeps every writer
    out from step 1 to the rename, so journal G holds nothing that
    snapshot.G+1 lacks, and journal G+1 starts empty.
Readers and writers elsewhere, at that moment: a writer checks the journal's
generation under the lock before it appends (one read of the journal's first
bytes); one that finds a newer generation than it has read (a worker that
had folded part of journal G) reads snapshot.G+1 and the new journal afresh
before it decides anything. A reader without the lock that finds its
snapshot gone, or a journal of another generation than the snapshot it
read (compactions between its reads), starts again. The snapshot is closed
before the rename that names it, so on NFS (close-to-open consistency) a
client that sees the new journal sees the whole snapshot.

The snapshot file: one JSON line (the generation, workers, drained hosts,
running entries' holders and processes, names of workers and outcomes,
sizes, the CRC-32 of each section below) and, after a tab, its own CRC-32;
then machine arrays: the ids of every entry with a history, sorted and
padded to one width (found by bisection, no index to build); per entry its
code (attempt * 8 + status) and number of attempts; per attempt its number,
worker, start, end, outcome and exit code. A reader that keeps no history
(a worker) skips the attempts. About 40 bytes an entry, against about 150
for the journal records it replaces. A damaged byte anywhere that is read
fails a checksum: load says so in one line naming the file (UserError),
and nothing is changed (a compactor that meets it leaves the queue as it
is); never a wrong state.
"""

import bisect
import json
import os
import sys
import time
from array import array
from itertools import accumulate, chain

from cooperate.queue import files
from cooperate.queue import journal
from cooperate.queue import trust
from cooperate.errors import UserError

# 2: checksums (version 1, without them, is still read)
VERSION = 2
# a journal is compacted once it is larger than this and than the snapshot
# (so that compaction costs at most what the journal records cost to write)
COMPACT_AT = 4 << 20
NO_CODE = -(1 << 63)
NO_NAME = -1
# per attempt: (column, array type)
COLUMNS = (("number", "i"), ("worker", "i"), ("start", "d"), ("end", "d"), ("outcome", "i"),
           ("code", "q"))
# the bytes read at a time of a section not kept as read (ids, a worker's
# attempts)
PIECE = 1 << 16
# records that name an entry (their second item)
_ENTRY_RECORDS = frozenset("cephuas")


def path(folder, generation):
    return os.path.join(folder, "snapshot.%d" % generation)


class Snapshot:
    """A snapshot as read: `ids` (sorted), `codes` and `counts` per entry;
    with history, the attempts' `columns` and each entry's `first` attempt;
    `by_id`: each id's code, a dict, if load made it (see load)."""

    by_id = None

    def __init__(self, head, ids, codes, counts, columns):
        self.head = head
        self.ids, self.codes, self.counts, self.columns = ids, codes, counts, columns
        self.names = head["names"]
        # where each entry's attempts start in the columns
        self.first = None if columns is None else array("q", chain([0], accumulate(counts)))

    @classmethod
    def empty(cls):
        head = {"generation": 0, "names": [], "workers": {}, "quit": {}, "drained": [],
                "aborting": [], "holders": {}, "processes": {}, "unreadable": 0,
                "done": {"rows": 0, "busy": 0.0, "by_worker": {}}}
        return cls(head, [], array("i"), array("i"), {name: array(kind) for name, kind in COLUMNS})

    def row(self, id_):
        """The entry's row, or None."""
        i = bisect.bisect_left(self.ids, id_)
        return i if i < len(self.ids) and self.ids[i] == id_ else None

    def latest(self, id_):
        """(worker, start, end) of the entry's latest attempt, or None."""
        row = self.row(id_)
        if row is None or not self.counts[row]:
            return None
        k, c = self.first[row + 1] - 1, self.columns
        end = c["end"][k]
        return self.names[c["worker"][k]], c["start"][k], None if end != end else end

    def attempts(self, row):
        """The entry's attempts, oldest first, as (number, worker, start, end,
        outcome, code); ends, outcomes and codes not recorded are None."""
        c, names = self.columns, self.names
        out = []
        for k in range(self.first[row], self.first[row + 1]):
            end, outcome, code = c["end"][k], c["outcome"][k], c["code"][k]
            out.append((c["number"][k], names[c["worker"][k]], c["start"][k],
                        None if end != end else end, None if outcome == NO_NAME else names[outcome],
                        None if code == NO_CODE else code))
        return out


def _read_ids(f, n, width, sums):
    """The ids section, read and split a few thousand rows at a time: the
    whole section as bytes and as text beside its split (two copies of a
    million entries' ids) would raise a reader's peak for nothing."""
    import zlib

    # made at its size: a list grown by appends leaves its old blocks behind
    ids, at, crc, left = [None] * n, 0, 0, n * width
    step = max(width, PIECE // max(width, 1) * width)
    while left:
        data = f.read(min(step, left))
        if not data:
            raise ValueError("it ends early, in its ids")
        left -= len(data)
        crc = zlib.crc32(data, crc)
        part = data.decode("ascii").split()
        ids[at:at + len(part)] = part
        at += len(part)
    expected = next(sums, None)
    if expected is not None and crc != expected:
        raise ValueError("the checksum of its ids does not match")
    if at != n:
        raise ValueError("ids")
    return ids


def _check(f, size, sums, what):
    """Read the next `size` bytes a piece at a time, only to check them."""
    import zlib

    crc, left = 0, size
    while left:
        data = f.read(min(left, PIECE))
        if not data:
            raise ValueError("it ends early, in its %s" % what)
        left -= len(data)
        crc = zlib.crc32(data, crc)
    expected = next(sums, None)
    if expected is not None and crc != expected:
        raise ValueError("the checksum of its %s does not match" % what)


def _read_array(f, kind, count, swap, sums, what):
    """The next `count` values of type `kind`, read straight into their
    array: no copy of them as bytes is made and dropped (a dropped large
    block makes the C library keep later ones in its heap, where freed
    memory is seldom given back: see bench/RESULTS.md)."""
    import zlib

    values = array(kind, [0]) * count if count else array(kind)
    data = memoryview(values).cast("B")
    if f.readinto(data) != len(data):
        raise ValueError("it ends early, in its %s" % what)
    expected = next(sums, None)
    if expected is not None and zlib.crc32(data) != expected:
        raise ValueError("the checksum of its %s does not match" % what)
    data.release()
    if swap:
        values.byteswap()
    return values


def load(folder, generation, history=True, trusted=False, by_id=True):
    """Snapshot `generation` of the state in `folder`. FileNotFoundError if
    it is gone (compacted again since the journal was read). With `by_id`,
    the dict of each id's code that a State starts from is made as soon as
    the codes are read: the blocks the dict leaves behind as it grows are
    then filled by the arrays read after it, where once they stayed empty
    (a million entries' reader peaked 12 MB higher)."""
    import zlib

    name = path(folder, generation)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise UserError("cannot read %s: %s" % (name, error.strerror))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not trusted:
            trust.check_stat(name, st)
        try:
            text, tab, crc = f.readline().rstrip(b"\n").rpartition(b"\t")
            if not tab:
                text = crc  # version 1: no checksums
            elif crc != b"%08x" % zlib.crc32(text):
                raise ValueError("the checksum of its first line does not match")
            head = json.loads(text.decode())
            if head.get("version") not in (1, VERSION) or head["generation"] != generation:
                raise ValueError("not a snapshot of version %d or 1, generation %d"
                                 % (VERSION, generation))
            if head["version"] > 1 and not tab:
                raise ValueError("its first line has no checksum")
            sums = iter(head.get("crc") or ())
            n, m, width = head["rows"], head["attempts"], head["width"]
            if not all(type(v) is int and v >= 0 for v in (n, m, width)):
                raise ValueError("its sizes")
            # nothing is made larger than what the file holds (a version 1
            # head has no checksum)
            if n * (width + 8) + m * sum(array(kind).itemsize for _, kind in COLUMNS) > \
                    st.st_size - f.tell():
                raise ValueError("it ends early")
            ids = _read_ids(f, n, width, sums)
            swap = head["byteorder"] != sys.byteorder
            codes = _read_array(f, "i", n, swap, sums, "codes")
            table = dict(zip(ids, codes)) if by_id else None
            counts = _read_array(f, "i", n, swap, sums, "counts")
            columns = {} if history else None
            for key, kind in COLUMNS:
                if history:
                    columns[key] = _read_array(f, kind, m, swap, sums, key)
                else:
                    # checked even when not kept: damage anywhere is said
                    _check(f, m * array(kind).itemsize, sums, key)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError,
                UnicodeDecodeError, RecursionError) as error:
            raise UserError("%s is damaged (%s): the queue's history before generation %d is "
                            "in it; restore it from a backup, or remove the state folder to "
                            "start the queue afresh" % (name, error, generation))
    snap = Snapshot(head, ids, codes, counts, columns)
    snap.by_id = table
    snap.size = st.st_size
    return snap


def write(folder, snap_head, ids, codes, counts, columns, mode):
    """Write a snapshot file in full and fsync it (not yet named by the
    journal: see the module's docstring)."""
    import zlib

    width = max((len(i) for i in ids), default=0) + 1

    def padded():
        # the ids a few thousand at a time, twice (their checksum goes in
        # the head, before them): never all of them padded at once
        step = max(1, PIECE // width)
        for k in range(0, len(ids), step):
            yield "".join(i.ljust(width) for i in ids[k:k + step]).encode("ascii")

    # the arrays as they are in memory: no copy of them as bytes
    arrays = [memoryview(values).cast("B") for values in
              [codes, counts] + [columns[key] for key, _ in COLUMNS]]
    # each section's checksum, and the head's, so that damage is found
    crc = 0
    for piece in padded():
        crc = zlib.crc32(piece, crc)
    sums = [crc] + [zlib.crc32(values) for values in arrays]
    head = dict(snap_head, version=VERSION, rows=len(ids), attempts=len(columns["number"]),
                width=width, byteorder=sys.byteorder, crc=sums)
    name = path(folder, head["generation"])
    try:
        fd = files.open_own(name, mode)
        try:
            text = json.dumps(head, separators=(",", ":")).encode()
            files.write_all(fd, text + b"\t%08x\n" % zlib.crc32(text))
            for piece in padded():
                files.write_all(fd, piece)
            for values in arrays:
                files.write_all(fd, values)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        raise UserError("cannot write %s: %s" % (name, error.strerror))


class Builder:
    """The columns of a new snapshot, filled row by row or by slices of an
    old one (most rows of a large queue do not change between two)."""

    def __init__(self, old):
        self.old = old
        self.names = list(old.names)
        self._index = {n: i for i, n in enumerate(self.names)}
        self.ids, self.codes, self.counts = [], array("i"), array("i")
        self.columns = {key: array(kind) for key, kind in COLUMNS}

    def copy(self, start, stop):
        """The old snapshot's rows start..stop-1, unchanged."""
        if start >= stop:
            return
        old = self.old
        self.ids += old.ids[start:stop]
        self.codes += old.codes[start:stop]
        self.counts += old.counts[start:stop]
        a, b = old.first[start], old.first[stop]
        for key, _ in COLUMNS:
            self.columns[key] += old.columns[key][a:b]

    def _name(self, name):
        if name is None:
            return NO_NAME
        if name not in self._index:
            self._index[name] = len(self.names)
            self.names.append(name)
        return self._index[name]

    def add(self, id_, code, chain):
        """A row from its code and its attempts (oldest first)."""
        self.ids.append(id_)
        self.codes.append(code)
        self.counts.append(len(chain))
        c = self.columns
        for a in chain:
            c["number"].append(a.number)
            c["worker"].append(self._name(a.worker))
            c["start"].append(a.start)
            c["end"].append(float("nan") if a.end is None else a.end)
            c["outcome"].append(self._name(a.outcome))
            c["code"].append(NO_CODE if a.code is None else a.code)


def _done_totals(old, state, touched):
    """The done entries' totals (how many, run time, per worker), kept so
    that summaries need no pass over every row: the old snapshot's, less
    the entries the journal touched as they were, plus them as they are."""
    done = old.head["done"]
    rows, busy, by_worker = done["rows"], done["busy"], dict(done["by_worker"])
    code = state.code_of("done")
    for id_ in touched:
        row = old.row(id_)
        before = old.latest(id_) if row is not None and old.codes[row] & 7 == code else None
        now = state.codes.get(id_)
        after = state.ended(id_) if now is not None and now & 7 == code else None
        for sign, last in ((-1, before), (1, after)):
            if last is not None:
                worker, start, end = last
                rows, busy = rows + sign, busy + sign * (end - start)
                by_worker[worker] = by_worker.get(worker, 0) + sign
    return {"rows": rows, "busy": busy, "by_worker": {w: n for w, n in by_worker.items() if n}}


def compact(folder, generation, state_class, mode, trusted=False):
    """Fold snapshot `generation` and the journal into the next generation
    (the caller holds the lock and has checked the journal's generation).
    Returns (the new generation, the new journal's bytes, its inode)."""
    journal_path = os.path.join(folder, "journal")
    old = load(folder, generation, history=True, trusted=trusted, by_id=False) if generation \
        else Snapshot.empty()
    # two passes over the journal (the lock keeps it as it is), so that its
    # records are never all in memory: the entries they touch, then the records
    touched, unreadable = set(), 0
    for batch, bad in journal.read(journal_path, journal.Cursor(), generation):
        touched.update(r[1] for r in batch if r[0] in _ENTRY_RECORDS)
        unreadable += bad
    state = state_class(history=True)
    state.load(old, only=touched)
    for batch, _ in journal.read(journal_path, journal.Cursor(), generation):
        state.apply(batch)
    rows = {}
    new = []
    for id_ in touched:
        row = old.row(id_)
        if row is None:
            new.append(id_)
        else:
            rows[row] = id_
    # rows to rewrite, in id order: an entry new to the snapshot goes before
    # the old row it sorts before
    events = sorted([(row, 1, id_) for row, id_ in rows.items()] +
                    [(bisect.bisect_left(old.ids, id_), 0, id_) for id_ in new])
    out = Builder(old)
    done = 0
    for position, replaces, id_ in events:
        out.copy(done, position)
        done = position
        code = state.codes.get(id_)
        if code is not None:
            last = state.last(id_)
            out.add(id_, code, last.chain() if last is not None else [])
            done += replaces
    out.copy(done, len(old.ids))
    head = {"done": _done_totals(old, state, touched),"generation": generation + 1, "time": time.time(), "names": out.names,
            "workers": state.workers, "quit": state.quit, "drained": sorted(state.drained),
            "aborting": sorted(state.aborting), "holders": state.holders,
            "processes": state.processes, "notified": state.notified, "scores": state.scores,
            "unreadable": old.head.get("unreadable", 0) + unreadable}
    write(folder, head, out.ids, out.codes, out.counts, out.columns, mode)
    first, inode = journal.start(journal_path, generation + 1, mode)
    for name in os.listdir(folder):
        if name.startswith("snapshot.") and name != "snapshot.%d" % (generation + 1):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass
    return generation + 1, first, inode
