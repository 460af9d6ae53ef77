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
sizes, the CRC-32 of each section below; it may end in spaces) and, after a
tab, its own CRC-32; then machine arrays: the ids of every entry with a history, sorted and
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
import errno
import json
import os
import sys
import time
from array import array
from itertools import accumulate, chain

from cooperate.queue import files
from cooperate.queue import journal
from cooperate.queue.state import CODE_DONE, ENTRY_RECORDS
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
# the sections after the head line, in file order: per entry its id, code and
# number of attempts, then per attempt each column (array types; None: text)
SECTIONS = (("ids", None), ("codes", "i"), ("counts", "i")) + COLUMNS
# the bytes read at a time of a section not kept as read (ids, a worker's
# attempts)
PIECE = 1 << 16


def path(folder, generation):
    return os.path.join(folder, "snapshot.%d" % generation)


class PackedIds:
    """A snapshot's sorted ids as read, packed: one block of ASCII bytes,
    each id padded to `width`, and a table of their hashes (open
    addressing: per slot its row + 1, or 0; at most half full). 400,000 ids
    take 12 MB so, against 45 MB as strings in a list and a dict; finding
    one costs about three times a dict's lookup. For the commands that
    read a large queue (report, log, retry, ...), not for `status`, which
    looks up every entry of the list within its second."""

    __slots__ = ("data", "width", "table", "mask", "last")

    def __init__(self, data, width):
        self.data, self.width = data, width
        n = len(data) // width if width else 0
        table = array("i", [0]) * (1 << max(3, (2 * n).bit_length()))
        mask, row = len(table) - 1, 0
        # split a few thousand rows at a time: no string per id is kept
        step = max(width, PIECE // max(width, 1) * width)
        for at in range(0, len(data), step):
            for id_ in data[at:at + step].decode("ascii").split():
                row += 1
                h = hash(id_) & mask
                while table[h]:
                    h = (h + 1) & mask
                table[h] = row
        if row != n:
            raise ValueError("ids")
        self.table, self.mask = table, mask
        # the last id found, and its row: a reader asks for an entry's code,
        # then for its latest attempt
        self.last = (None, None)

    def __len__(self):
        return len(self.data) // self.width if self.width else 0

    def __getitem__(self, row):
        if not 0 <= row < len(self):
            raise IndexError(row)
        return self.data[row * self.width:(row + 1) * self.width].rstrip().decode("ascii")

    def getter(self, values, before):
        """A function: an id -> before(id) unless that is None, else
        values[its row], or None (a pass over a whole list: most ids are
        told absent by one slot of the table, without a call)."""
        table, mask, find = self.table, self.mask, self.find

        def get(id_):
            value = before(id_)
            if value is None and table[hash(id_) & mask]:
                row = find(id_)
                if row is not None:
                    return values[row]
            return value
        return get

    def find(self, id_):
        """The id's row, or None."""
        if self.last[0] is id_:
            return self.last[1]
        table, mask = self.table, self.mask
        h = hash(id_) & mask
        r = table[h]
        while r:
            at = (r - 1) * self.width
            if self.data[at:at + self.width].rstrip() == id_.encode("utf-8", "surrogatepass"):
                self.last = (id_, r - 1)
                return r - 1
            h = (h + 1) & mask
            r = table[h]
        return None


class Snapshot:
    """A snapshot as read: `ids` (sorted; a list, or PackedIds if `packed`),
    `codes` and `counts` per entry; with history, the attempts' `columns`
    and each entry's `first` attempt; `by_id`: each id's code, a dict, if
    load made it (see load)."""

    by_id = None
    packed = False

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
        if self.packed:
            return self.ids.find(id_)
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


def _read_packed(f, n, width, sums):
    """The ids section as PackedIds: read whole and kept (a block dropped
    after its copy would raise the reader's peak, see _read_array)."""
    import zlib

    data = f.read(n * width)
    if len(data) != n * width:
        raise ValueError("it ends early, in its ids")
    expected = next(sums, None)
    if expected is not None and zlib.crc32(data) != expected:
        raise ValueError("the checksum of its ids does not match")
    # (what version 1 has no checksum for: ids that are not ASCII, or too
    # few, fail as they are hashed)
    return PackedIds(data, width)


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


def _open(folder, generation, trusted):
    """(name, file, stat) of snapshot `generation`, open for reading and
    checked (trust.py) unless `trusted`. FileNotFoundError if it is gone."""
    name = path(folder, generation)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise UserError("cannot read %s: %s" % (name, error.strerror))
    f = os.fdopen(fd, "rb")
    try:
        st = os.fstat(fd)
        if not trusted:
            trust.check_stat(name, st)
    except BaseException:
        f.close()
        raise
    return name, f, st


def _read_head(f, st, generation):
    """The head line of an open snapshot, checked, and its sections'
    checksums (an iterator, empty for version 1). ValueError (or another of
    DAMAGE) if it is damaged."""
    import zlib

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
    n, m, width = head["rows"], head["attempts"], head["width"]
    if not all(type(v) is int and v >= 0 for v in (n, m, width)):
        raise ValueError("its sizes")
    # nothing is made larger than what the file holds (a version 1 head has
    # no checksum)
    if sum(size for _, _, size in _layout(head)) > st.st_size - f.tell():
        raise ValueError("it ends early")
    return head, iter(head.get("crc") or ())


def _layout(head):
    """(section, array type or None for the ids, size in bytes) of each
    section after the head line, in file order."""
    n, m = head["rows"], head["attempts"]
    return [("ids", None, n * head["width"]), ("codes", "i", 4 * n), ("counts", "i", 4 * n)] + [
        (key, kind, m * array(kind).itemsize) for key, kind in COLUMNS]


# what reading a damaged snapshot can raise
DAMAGE = (ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError,
          UnicodeDecodeError, RecursionError)


def _damaged(name, error, generation):
    return UserError("%s is damaged (%s): the queue's history before generation %d is in it; "
                     "restore it from a backup, or remove the state folder to start the queue "
                     "afresh" % (name, error, generation))


def load(folder, generation, history=True, trusted=False, by_id=True, packed=False):
    """Snapshot `generation` of the state in `folder`. FileNotFoundError if
    it is gone (compacted again since the journal was read). With `by_id`,
    the dict of each id's code that a State starts from is made as soon as
    the codes are read: the blocks the dict leaves behind as it grows are
    then filled by the arrays read after it, where once they stayed empty
    (a million entries' reader peaked 12 MB higher). With `packed`, the ids
    are PackedIds and no dict is made (a State then looks codes up here)."""
    name, f, st = _open(folder, generation, trusted)
    with f:
        try:
            head, sums = _read_head(f, st, generation)
            n, m, width = head["rows"], head["attempts"], head["width"]
            ids = (_read_packed if packed else _read_ids)(f, n, width, sums)
            swap = head["byteorder"] != sys.byteorder
            codes = _read_array(f, "i", n, swap, sums, "codes")
            table = dict(zip(ids, codes)) if by_id and not packed else None
            counts = _read_array(f, "i", n, swap, sums, "counts")
            columns = {} if history else None
            for key, kind in COLUMNS:
                if history:
                    columns[key] = _read_array(f, kind, m, swap, sums, key)
                else:
                    # checked even when not kept: damage anywhere is said
                    _check(f, m * array(kind).itemsize, sums, key)
        except DAMAGE as error:
            raise _damaged(name, error, generation)
    snap = Snapshot(head, ids, codes, counts, columns)
    snap.by_id, snap.packed = table, packed
    snap.size = st.st_size
    return snap


class _Old:
    """The snapshot a compaction starts from, read a section at a time and
    never kept whole, so that a compaction's memory grows with the entries
    its journal touched, not with the queue (see compact)."""

    def __init__(self, folder, generation, trusted):
        self.name, self.f, self.swap = None, None, False
        head = dict(Snapshot.empty().head, rows=0, attempts=0, width=1)
        if generation:
            self.name, self.f, st = _open(folder, generation, trusted)
            try:
                head, sums = _read_head(self.f, st, generation)
                self.swap = head["byteorder"] != sys.byteorder
            except DAMAGE as error:
                self.f.close()
                raise _damaged(self.name, error, generation)
        self.head = head
        # section -> (array type, offset, size, checksum or None)
        self.sections, at = {}, self.f.tell() if self.f else 0
        sums = list(head.get("crc") or ())
        for k, (key, kind, size) in enumerate(_layout(head)):
            self.sections[key] = (kind, at, size, sums[k] if k < len(sums) else None)
            at += size

    def close(self):
        if self.f is not None:
            self.f.close()

    def read(self, offset, size):
        data = os.pread(self.f.fileno(), size, offset)
        if len(data) != size:
            raise ValueError("it ends early")
        return data

    def section(self, key, step):
        """A section's bytes, `step` at a time; its checksum is checked
        after the last (the caller reads them all)."""
        import zlib

        _, at, size, expected = self.sections[key]
        crc, end = 0, at + size
        while at < end:
            data = self.read(at, min(step, end - at))
            at += len(data)
            crc = zlib.crc32(data, crc)
            yield data
        if expected is not None and crc != expected:
            raise ValueError("the checksum of its %s does not match" % key)

    def arrays(self, key):
        """An array section, a piece at a time, as arrays."""
        kind = self.sections[key][0]
        size = array(kind).itemsize
        for data in self.section(key, PIECE // size * size):
            values = array(kind)
            values.frombytes(data)
            if self.swap:
                values.byteswap()
            yield values


def _extract(pieces, firsts, counts, out):
    """Append to `out` items firsts[i] to firsts[i] + counts[i] - 1 (1 if
    no counts), for each i in order (ascending, apart), of the array whose
    pieces are given; every piece is read (its checksum is checked)."""
    i, base = 0, 0
    for piece in pieces:
        end = base + len(piece)
        while i < len(firsts):
            first = firsts[i]
            stop = first + (counts[i] if counts is not None else 1)
            if first >= end and stop > first:
                break
            out += piece[max(first, base) - base:min(stop, end) - base]
            if stop > end:
                break
            i += 1
        base = end
    if (len(firsts) - i if counts is None else sum(counts[i:])):
        raise ValueError("it ends early")


def _gather(old, touched):
    """One pass over each section of the old snapshot, checking its
    checksum: where each touched id goes among the old rows (position * 2,
    + 1 if a row of it is there), where the old attempts at that position
    begin and end, the longest old id, and the old rows of the touched ids
    that have one (a Snapshot of them alone)."""
    head = old.head
    n, width = head["rows"], head["width"]
    positions, there = array("q"), []
    j, base, longest = 0, 0, 0
    for data in old.section("ids", max(width, PIECE // max(width, 1) * width)):
        part = data.decode("ascii").split()
        longest = max(longest, max(map(len, part)))
        k = 0
        while j < len(touched) and touched[j] <= part[-1]:
            k = bisect.bisect_left(part, touched[j], k)
            found = part[k] == touched[j]
            positions.append((base + k) << 1 | found)
            if found:
                there.append(touched[j])
            j += 1
        base += len(part)
    if base != n:
        raise ValueError("ids")
    positions += array("q", [n << 1]) * (len(touched) - j)
    rows = array("q", (p >> 1 for p in positions if p & 1))
    codes = array("i")
    _extract(old.arrays("codes"), rows, None, codes)
    # the attempts before each position (a running sum of the counts)
    starts, stops, counts = array("q"), array("q"), array("i")
    j, base, total = 0, 0, 0
    for piece in old.arrays("counts"):
        sums = array("q", accumulate(chain([0], piece)))
        end = base + len(piece)
        while j < len(positions) and positions[j] >> 1 < end:
            p = positions[j] >> 1
            starts.append(total + sums[p - base])
            stops.append(total + sums[p - base + (positions[j] & 1)])
            if positions[j] & 1:
                counts.append(piece[p - base])
            j += 1
        total += sums[-1]
        base = end
    if total != head["attempts"]:
        raise ValueError("counts")
    starts += array("q", [total]) * (len(positions) - j)
    stops += array("q", [total]) * (len(positions) - j)
    firsts = array("q", (starts[i] for i, p in enumerate(positions) if p & 1))
    columns = {}
    for key, kind in COLUMNS:
        columns[key] = array(kind)
        _extract(old.arrays(key), firsts, counts, columns[key])
    return Snapshot(head, there, codes, counts, columns), positions, starts, stops, longest


class _Rows:
    """An old section read once, in order, a piece at a time (its checksum
    checked at the end, see finish), its items asked for in increasing
    order and given as the new snapshot has them (this machine's byte
    order, ids padded to the new width)."""

    def __init__(self, old, key, width):
        self.kind, _, size, _ = old.sections[key]
        # an item's bytes, in the old snapshot and in the new one
        self.size = array(self.kind).itemsize if self.kind else old.head["width"]
        self.item = self.size if self.kind else width
        self.count = size // self.size if self.size else 0
        self.pieces = old.arrays(key) if self.kind else old.section(
            key, max(self.size, PIECE // max(self.size, 1) * self.size))
        # the items of the piece in `view`
        self.first = self.stop = 0
        self.view = memoryview(b"")

    def copy(self, first, stop, out):
        """Append items first..stop-1 to `out`."""
        while first < stop:
            while first >= self.stop:
                self._next()
            end = min(stop, self.stop)
            out += self.view[(first - self.first) * self.item:(end - self.first) * self.item]
            first = end

    def finish(self, first, out):
        """Append the items from `first` on, and read the rest of the
        section (rows the new snapshot replaces), so that it is checked."""
        self.copy(first, self.count, out)
        while self.stop < self.count:
            self._next()
        # past the last piece: where the section's checksum is checked
        if next(self.pieces, None) is not None:
            raise ValueError("it has more rows than it says")

    def _next(self):
        piece = next(self.pieces, None)
        if piece is None:
            raise ValueError("it ends early")
        if self.kind:
            view, count = memoryview(piece).cast("B"), len(piece)
        else:
            count = len(piece) // self.size
            if self.item != self.size:
                piece = "".join(i.ljust(self.item) for i in piece.decode("ascii").split()
                                ).encode("ascii")
            view = memoryview(piece)
        self.first, self.stop, self.view = self.stop, self.stop + count, view


def compact(folder, generation, state_class, mode, trusted=False):
    """Fold snapshot `generation` and the journal into the next generation
    (the caller holds the lock and has checked the journal's generation).
    Returns (the new generation, the new journal's bytes, its inode).

    What is in memory grows with the entries the journal touched, never
    with the queue: the old snapshot is read a section at a time (its rows
    of touched entries kept), the journal a batch at a time, and the new
    snapshot written a piece at a time."""
    import zlib

    journal_path = os.path.join(folder, "journal")
    # two passes over the journal (the lock keeps it as it is), so that its
    # records are never all in memory: the entries they touch, then the records
    touched, unreadable = set(), 0
    for batch, bad in journal.read(journal_path, journal.Cursor(), generation, PIECE):
        touched.update(r[1] for r in batch if r[0] in ENTRY_RECORDS)
        unreadable += bad
    touched = sorted(touched)
    old = _Old(folder, generation, trusted)
    try:
        try:
            base, positions, starts, stops, longest = _gather(old, touched)
        except DAMAGE as error:
            raise _damaged(old.name, error, generation)
        # the journal folded by the State's rules, its attempts kept in
        # columns (an object per attempt would take three times the room)
        ledger = _Ledger(touched)
        state = state_class(history=False, ledger=ledger)
        state.load(base)
        for batch, _ in journal.read(journal_path, journal.Cursor(), generation, PIECE):
            for r in batch:
                if r[0] in ENTRY_RECORDS:
                    # one string per id (the sorted list's), not one per record
                    r[1] = touched[bisect.bisect_left(touched, r[1])]
            state.apply(batch)
        new = _Touched(base, ledger, touched, positions, state.codes)
        del ledger
        head = {"done": new.done, "generation": generation + 1,
                "time": time.time(), "names": new.names, "workers": state.workers,
                "quit": state.quit, "drained": sorted(state.drained),
                "aborting": sorted(state.aborting), "holders": state.holders,
                "processes": state.processes, "notified": state.notified,
                "scores": state.scores,
                "unreadable": old.head.get("unreadable", 0) + unreadable}
        # the new rows are all that is kept of the fold
        del state, base
        width = max([longest] + [len(id_) for id_ in new.ids]) + 1
        plan = [array("q", (values[i] for i in new.index)) for values in (positions, starts, stops)]
        del touched, positions, starts, stops
        rows = old.head["rows"] + sum(1 for p in plan[0] if not p & 1)
        replaced = sum(stop - start for start, stop in zip(plan[1], plan[2]))
        attempts = old.head["attempts"] - replaced + len(new.columns["number"])
        head.update(version=VERSION, rows=rows, attempts=attempts, width=width,
                    byteorder=sys.byteorder)
        # the sections are written first, after room for the head whatever
        # their checksums, then the head (JSON allows the spaces it leaves)
        room = len(_head_line(head, [0xFFFFFFFF] * len(SECTIONS))) - 10
        name = path(folder, generation + 1)
        try:
            fd = files.open_own(name, mode)
            try:
                os.lseek(fd, room + 10, os.SEEK_SET)
                sums = [0] * len(SECTIONS)
                try:
                    for k, piece in _body(old, width, plan, new):
                        files.write_all(fd, piece)
                        sums[k] = zlib.crc32(piece, sums[k])
                except ValueError as error:
                    # the old snapshot is read again, and checked again
                    raise _damaged(old.name, error, generation)
                line = _head_line(head, sums, room)
                if os.pwrite(fd, line, 0) != len(line):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as error:
            raise UserError("cannot write %s: %s" % (name, error.strerror))
    finally:
        old.close()
    first, inode = journal.start(journal_path, generation + 1, mode)
    for name in os.listdir(folder):
        if name.startswith("snapshot.") and name != "snapshot.%d" % (generation + 1):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass
    return generation + 1, first, inode


class _Ledger:
    """The attempts a journal makes and ends (told by State.apply, see
    State), in columns: per attempt in journal order, its columns and the
    attempt before it of the same entry (`previous`, -1 if none); per
    touched id (by its place in the sorted list), its latest attempt
    (`latest`, -1 if the journal made none) or, if the journal only ended
    the old snapshot's last attempt of it, that end (`amended`)."""

    def __init__(self, touched):
        self.touched = touched
        self.latest = array("q", [-1]) * len(touched)
        self.previous = array("q")
        self.columns = {key: array(kind) for key, kind in COLUMNS}
        # the workers' and outcomes' names, as the columns number them
        self.names = _Names()
        self.amended = {}

    def claimed(self, id_, number, worker, start):
        i = bisect.bisect_left(self.touched, id_)
        self.previous.append(self.latest[i])
        self.latest[i] = len(self.previous) - 1
        c = self.columns
        c["number"].append(number)
        c["worker"].append(self.names.number(worker))
        c["start"].append(start)
        c["end"].append(float("nan"))
        c["outcome"].append(NO_NAME)
        c["code"].append(NO_CODE)

    def ended(self, id_, end, outcome, code, start):
        i = bisect.bisect_left(self.touched, id_)
        k = self.latest[i]
        if k < 0:
            self.amended[i] = (end, outcome, code, start)
            return
        c = self.columns
        c["end"][k], c["outcome"][k] = end, self.names.number(outcome)
        c["code"][k] = NO_CODE if code is None else code
        if start is not None:
            c["start"][k] = start

    def chain(self, i):
        """The journal's attempts of touched id i, oldest first."""
        attempts, k = [], self.latest[i]
        while k >= 0:
            attempts.append(k)
            k = self.previous[k]
        return attempts[::-1]


class _Touched:
    """The new snapshot's rows of the entries the journal touched, in id
    order: `index` (their place in the sorted touched ids), `ids`, `codes`,
    `counts`, the attempts' `columns`, `first` (where each row's attempts
    begin in them, and their end), `names` (the old snapshot's and the new
    ones, numbered as the columns number them), and `done`: the done
    entries' totals (how many, run time, per worker), kept so that
    summaries need no pass over every row: the old snapshot's, less the
    touched entries as they were, plus them as they are."""

    def __init__(self, base, ledger, touched, positions, codes):
        names = _Names(base.names)
        self.names = names.names
        self.index, self.ids = array("q"), []
        self.codes, self.counts, self.first = array("i"), array("i"), array("q", [0])
        self.columns = c = {key: array(kind) for key, kind in COLUMNS}
        done = base.head["done"]
        rows, busy, by_worker = done["rows"], done["busy"], dict(done["by_worker"])
        row = 0
        for i, id_ in enumerate(touched):
            code = codes.get(id_)
            # the old snapshot's attempts of it, as the journal left them
            a = b = 0
            if positions[i] & 1:
                a, b = base.first[row], base.first[row + 1]
                last = base.latest(id_)
                if last is not None and base.codes[row] & 7 == CODE_DONE:
                    worker, start, end = last
                    rows, busy = rows - 1, busy - (end - start)
                    by_worker[worker] = by_worker.get(worker, 0) - 1
                row += 1
            if code is None:
                continue
            self.index.append(i)
            self.ids.append(id_)
            self.codes.append(code)
            for key, _ in COLUMNS:
                c[key] += base.columns[key][a:b]
            if i in ledger.amended and b > a:
                end, outcome, exit_code, start = ledger.amended[i]
                c["end"][-1], c["outcome"][-1] = end, names.number(outcome)
                c["code"][-1] = NO_CODE if exit_code is None else exit_code
                if start is not None:
                    c["start"][-1] = start
            for k in ledger.chain(i):
                for key in ("number", "start", "end", "code"):
                    c[key].append(ledger.columns[key][k])
                for key in ("worker", "outcome"):
                    n = ledger.columns[key][k]
                    c[key].append(NO_NAME if n == NO_NAME else names.number(ledger.names.names[n]))
            self.counts.append(len(c["number"]) - self.first[-1])
            self.first.append(len(c["number"]))
            if code & 7 == CODE_DONE and self.counts[-1]:
                worker, start, end = self.names[c["worker"][-1]], c["start"][-1], c["end"][-1]
                rows, busy = rows + 1, busy + (end - start)
                by_worker[worker] = by_worker.get(worker, 0) + 1
        self.done = {"rows": rows, "busy": busy,
                     "by_worker": {w: n for w, n in by_worker.items() if n}}


class _Names:
    """Names of workers and outcomes, numbered in the order first met."""

    def __init__(self, names=()):
        self.names = list(names)
        self._numbers = {name: i for i, name in enumerate(self.names)}

    def number(self, name):
        if name is None:
            return NO_NAME
        if name not in self._numbers:
            self._numbers[name] = len(self.names)
            self.names.append(name)
        return self._numbers[name]


def _body(old, width, plan, new):
    """The new snapshot after its head, as (section number, bytes): each
    section the old one's, with the touched entries' rows put in their
    places. `plan`: three arrays, per row of `new`: its position among the
    old rows * 2, + 1 if it replaces the row there; where the old attempts
    at that position begin; where they end."""
    positions, starts, stops = plan
    for k, (key, kind) in enumerate(SECTIONS):
        rows, out, done = _Rows(old, key, width), bytearray(), 0
        if kind is None:
            for i, position in enumerate(positions):
                rows.copy(done, position >> 1, out)
                done = (position >> 1) + (position & 1)
                out += new.ids[i].ljust(width).encode("ascii")
                if len(out) >= PIECE:
                    yield k, out
                    out = bytearray()
        elif key in ("codes", "counts"):
            values = memoryview(getattr(new, key)).cast("B")
            size = getattr(new, key).itemsize
            for i, position in enumerate(positions):
                rows.copy(done, position >> 1, out)
                done = (position >> 1) + (position & 1)
                out += values[i * size:i * size + size]
                if len(out) >= PIECE:
                    yield k, out
                    out = bytearray()
        else:
            values, first = memoryview(new.columns[key]).cast("B"), new.first
            size = array(kind).itemsize
            for i, start in enumerate(starts):
                rows.copy(done, start, out)
                done = stops[i]
                out += values[first[i] * size:first[i + 1] * size]
                if len(out) >= PIECE:
                    yield k, out
                    out = bytearray()
        rows.finish(done, out)
        if out:
            yield k, out


def _head_line(head, sums, room=0):
    """The head line: the head with the sections' checksums, as JSON padded
    with spaces to `room` bytes if shorter, a tab and its own checksum."""
    import zlib

    text = json.dumps(dict(head, crc=sums), separators=(",", ":")).encode()
    text += b" " * (room - len(text))
    return text + b"\t%08x\n" % zlib.crc32(text)
