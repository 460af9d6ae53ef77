"""The journal: the queue's state as an append-only file of JSON records.

One record per line, each a JSON array whose first item says what it is:

  ["w", worker, {host, pid, boot, since, ...}]   a worker started
  ["c", id, attempt, worker, time]               a worker claimed an entry
  ["p", id, attempt, pid, start]                 the attempt's first process (its
                                   process group has the same number)
  ["e", id, attempt, worker, time, outcome, code, again]  an attempt ended;
                                   `again`: a failed or lost one runs again
  ["r", id, time]                                make an entry pending again
  ["h", id, time] / ["u", id, time]              hold an entry / release it
  ["a", id, time]                                abort an entry
  ["d", host, time, on]                          drain a host (or undo it)
  ["q", worker, time, code]                      a worker quit
  ["n", worker, time]                            the queue is finished: that
                                   worker runs --notify (a claim undoes it)
  ["s", id, attempt, worker, time, key, data]    a rule's value and decision for
                                   a running attempt (early stopping: key
                                   "asha:MODE:METRIC:RUNG"), kept once per id and key
  ["g", generation, time]                        the first record of a journal
                                   begun by compaction (see snapshot.py)
  ["x", worker, time, what]                      the filesystem failed a check
                                   (below): workers running then stop
  ["o", offset, length]                          a batch header (below)

Writers append under the queue lock, all records of one transaction in one
write(); other processes see it at once, and on NFS it reaches the server
when the file is closed, after every transaction. Workers fsync at most once
a second (an fsync per claim would cost more than starting the command);
commands run by hand fsync every change. Appending costs the same whatever the journal's length.
A crash can leave a torn last batch: readers ignore it, and the next
writer, holding the lock, cuts it off before appending. Arrays rather than
objects because they parse twice as fast and `status` reads them all.

Each transaction's write begins with a header, ["o", offset, length]: where
its writer, holding the lock, found the journal's end, and how many bytes of
records follow. The writer asks the file server for the size first
(fresh_stat: some clients cache it), and checks where its O_APPEND write
landed. Every reader checks each header against where it finds it, that the
batches follow each other with nothing between them, and that the last
batch it read is still there when it reads on (it reads from that batch's
start: no extra round trip). So a lock that did not exclude (a `nolock`
mount, a FUSE filesystem) or an append that landed over records shows in
the records themselves; what was seen is the Cursor's `anomaly` (see
core.py for what workers then do). An ["x"] record marks it as seen.
"""

import errno
import itertools
import json
import os
import sys
import time

from cooperate.queue import files
from cooperate.errors import UserError


class Rotated(Exception):
    """The journal is of another generation than the one being read: it
    was compacted meanwhile (see snapshot.py)."""


# errors a network filesystem gives for a while (a server restarting, a
# stale handle, a disk that was full for a moment): tried again, not failed
# (EFAULT: what a FUSE NFS client answers for a handle gone stale by a rename)
TRANSIENT = frozenset((errno.EAGAIN, errno.EIO, errno.ESTALE, errno.ENOSPC, errno.EDQUOT,
                       errno.ETIMEDOUT, errno.ENOLCK, errno.EFAULT))
# the first line of every transaction's write: ["o", offset, length]
HEADER = b'["o",'


def fs_error(message, error):
    """A UserError for an OSError, keeping its errno (see TRANSIENT)."""
    failure = UserError("%s: %s" % (message, error.strerror or error))
    failure.errno = error.errno
    return failure


_STATX = []


def _load_statx():
    try:
        import ctypes

        call = ctypes.CDLL(None, use_errno=True).statx
    except (ImportError, OSError, AttributeError):
        return None
    call.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint,
                     ctypes.c_void_p)
    return call, ctypes.create_string_buffer(256)


# what fresh_stat asks statx for: STATX_TYPE, MODE, UID, GID, INO, SIZE
_FRESH = 0x31b


def fresh_stat(fd):
    """An open file's (size, inode, owner, group, mode) as its server has
    them now: statx with AT_STATX_FORCE_SYNC makes a network filesystem ask,
    even a client that caches sizes without close-to-open consistency (FUSE
    ones), so that an O_APPEND write lands at the true end; one round trip
    for all of them. fstat where there is no statx (glibc before 2.28,
    kernels before 4.11)."""
    if not _STATX:
        _STATX.append(_load_statx())
    if _STATX[0] is not None:
        call, buf = _STATX[0]
        # AT_EMPTY_PATH | AT_STATX_FORCE_SYNC; struct statx: stx_mask at byte
        # 0, stx_uid 20, stx_gid 24, stx_mode 28 (16 bits), stx_ino 32, stx_size 40
        if call(fd, b"", 0x3000, _FRESH, buf) == 0:
            raw, order = buf.raw, sys.byteorder
            if int.from_bytes(raw[0:4], order) & _FRESH == _FRESH:
                return (int.from_bytes(raw[40:48], order), int.from_bytes(raw[32:40], order),
                        int.from_bytes(raw[20:24], order), int.from_bytes(raw[24:28], order),
                        int.from_bytes(raw[28:30], order))
    st = os.fstat(fd)
    return st.st_size, st.st_ino, st.st_uid, st.st_gid, st.st_mode


def generation_of(fd):
    """The generation of an open journal: its first record's, or 0."""
    head = os.pread(fd, 64, 0)
    if head.startswith(b'["g",'):
        try:
            return int(head[5:head.index(b",", 5)])
        except ValueError:
            pass
    return 0


def start(path, generation, mode):
    """Replace the journal with a new one of `generation`: written under
    another name, fsync'd, renamed over it (the commit of a compaction).
    Returns the new journal's bytes and inode."""
    new = path + ".new"
    data = encode([["g", generation, time.time()]])
    try:
        try:
            os.unlink(new)
        except FileNotFoundError:
            pass
        fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     mode)
        try:
            files.write_all(fd, data)
            os.fsync(fd)
            inode = os.fstat(fd).st_ino
        finally:
            os.close(fd)
        os.rename(new, path)
    except OSError as error:
        raise fs_error("cannot write %s" % new, error)
    files.sync_dir(os.path.dirname(path))
    return data, inode


def encode(records):
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()


_STR, _INT, _BOOL, _NUMBER = (str,), (int,), (bool,), (int, float)
_CODE = (int, type(None))
_JSON = (str, int, float, bool, type(None), list, dict)
# the types of each kind's fields after the kind (see above), that readers
# use; then those of its optional fields
_SHAPES = {"c": (_STR, _INT, _STR, _NUMBER), "p": (_STR, _INT, _INT, _CODE),
           "e": (_STR, _INT, _STR, _NUMBER, _STR, _CODE),
           "s": (_STR, _INT, _STR, _NUMBER, _STR, _JSON),
           "r": (_STR, _NUMBER), "h": (_STR, _NUMBER), "u": (_STR, _NUMBER),
           "a": (_STR, _NUMBER), "d": (_STR, _NUMBER, _BOOL), "q": (_STR, _NUMBER, _CODE),
           "n": (_STR, _NUMBER), "g": (_INT, _NUMBER), "x": (_STR, _NUMBER, _STR),
           "w": (_STR, (dict,))}
_OPTIONAL = {"e": (_BOOL, _NUMBER)}
# a worker's record: the types of the fields it may have (run/worker.py)
_WORKER_INFO = {"host": _STR, "pid": _CODE, "boot": _STR, "pidns": _STR, "start": _CODE,
                "since": _NUMBER, "cwd": _STR, "lease": _NUMBER, "slots": _INT,
                "gpus": (list,), "detach": _BOOL, "guard": _CODE, "guard_start": _CODE,
                "comment": _STR, "timeout": _NUMBER, "slurm_job_id": _STR,
                "slurm_array_job_id": _STR, "slurm_array_task_id": _STR}


def _common():
    """Every tuple of types a claim or an end can have (kind first)."""
    found = set()
    for kind in "ce":
        shape, optional = ((str,),) + _SHAPES[kind], _OPTIONAL.get(kind, ())
        for more in range(len(optional) + 1):
            found.update(itertools.product(*shape + optional[:more]))
    return frozenset(found)


# claims and ends, nearly every record, are checked with one lookup each (a
# worker reads every record the others write)
_COMMON = _common()


def well_formed(r):
    """Has record `r` the fields, of the types, that its readers use? A
    record of a kind this version does not know is kept (readers skip it)."""
    if type(r) is not list or not r:
        return False
    shape = _SHAPES.get(r[0])
    if shape is None:
        return type(r[0]) is str
    n = len(shape) + 1
    if len(r) < n or not all(type(v) in t for v, t in zip(r[1:], shape)) or not all(
            type(v) in t for v, t in zip(r[n:], _OPTIONAL.get(r[0], ()))):
        return False
    return r[0] != "w" or all(type(value) in _WORKER_INFO[key] for key, value in r[2].items()
                              if key in _WORKER_INFO)


def _all_well_formed(records):
    common = _COMMON
    for r in records:
        if type(r) is not list or tuple(map(type, r)) not in common and not well_formed(r):
            return False
    return True


def decode(data):
    """Records from complete lines of `data` (bytes that end with a newline).
    Returns (records, number of unreadable lines). A line that is not a
    record of the shape its readers need (well_formed) is unreadable too:
    a hand edit, a disk that lied, or a writer of another version."""
    if not data:
        return [], 0
    try:
        records = json.loads(b"[" + data[:-1].replace(b"\n", b",") + b"]")
    except (ValueError, RecursionError):
        records = None
    if records is not None:
        if _all_well_formed(records):
            return records, 0
        good = list(filter(well_formed, records))
        return good, len(records) - len(good)
    # a damaged line somewhere: keep the rest
    records, bad = [], 0
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            bad += 1
            continue
        if well_formed(record):
            records.append(record)
        else:
            bad += 1
    return records, bad


class Cursor:
    """How far one reader has read one journal, and what it saw on the way.

    `offset`: the end of the complete batches read; `tail`: the bytes of the
    last of them (read again, at no extra cost, with whatever follows, to
    see that nobody wrote over them); `anomaly`: the first sign, since the
    last "x" record, that two writers were inside the lock at once or that
    a write landed over records (a sentence), else None; `marks`: how many
    "x" records it read."""

    __slots__ = ("offset", "tail", "anomaly", "marks")

    def __init__(self, offset=0, tail=b""):
        self.offset, self.tail = offset, tail
        self.anomaly, self.marks = None, 0

    def notice(self, what):
        if self.anomaly is None:
            self.anomaly = what


def _header(line):
    """(offset, length) of a batch header line, or None if it is damaged."""
    parts = line[len(HEADER):-2].split(b",")
    if len(parts) != 2 or not line.endswith(b"]\n"):
        return None
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        return None


def _scan(data, cursor, path):
    """The records of the complete batches at the start of `data` (the
    journal's bytes from cursor.offset), checked and added to `cursor`.
    Returns (records, unreadable lines); an incomplete last batch (being
    written, or torn by a crash) is left for later."""
    pieces = []
    pos, n = 0, len(data)
    base = cursor.offset
    headered = cursor.tail.startswith(HEADER)
    last = None
    while pos < n:
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        if data.startswith(HEADER, pos):
            found = _header(data[pos:nl + 1])
            end = None if found is None else nl + 1 + found[1]
            if found is not None and end > n and data.find(b'\n["o",', nl) < 0:
                break  # being written, or torn: only the last write can be
            body = data[nl + 1:end] if found is not None and end <= n else b""
            if (found is None or end > n or (body and not body.endswith(b"\n"))
                    or body.startswith(HEADER) or b'\n["o",' in body):
                # the length it states runs into other records: part of
                # it was written over
                cursor.notice("bytes %d to %d of %s are a batch header that other records "
                              "were written over" % (base + pos, base + nl + 1, path))
                last, pos, headered = pos, nl + 1, True
                continue
            if found[0] != base + pos:
                cursor.notice("records that their writer, holding the lock, appended at the "
                              "end of %s (byte %d) are at byte %d: another writer appended "
                              "meanwhile" % (path, found[0], base + pos))
            if body.startswith(b'["x",'):
                cursor.anomaly = None
                cursor.marks += 1
            pieces.append(body)
            last, pos, headered = pos, end, True
        elif headered:
            # where a batch should begin: what is left of one written over
            cursor.notice("bytes %d to %d of %s are what is left of records that another "
                          "write went over" % (base + pos, base + nl + 1, path))
            pieces.append(data[pos:nl + 1])
            last, pos = pos, nl + 1
        else:
            # records of a version without batch headers (and the
            # generation's first line): up to the first header
            stop = data.find(b'\n["o",', pos)
            stop = data.rfind(b"\n", pos, n if stop < 0 else stop + 1) + 1
            pieces.append(data[pos:stop])
            line = data.rfind(b"\n", pos, stop - 1)
            last, pos = pos if line < 0 else line + 1, stop
    if last is None:
        return [], 0
    cursor.tail = data[last:pos]
    cursor.offset = base + pos
    return decode(b"".join(pieces))


def _shorter(path):
    """The error of a journal found shorter than this process read it."""
    return UserError("%s is shorter than when it was last read: it was replaced or truncated "
                     "under this worker, or a machine writes it without working locks (a "
                     "`nolock` mount); stop the workers and check it" % path)


def _check_tail(data, cursor, path):
    """`data` was read from where cursor's tail begins: note it if those
    bytes changed since they were read, and return what follows them."""
    back = len(cursor.tail)
    if data[:back] != cursor.tail:
        if len(data) < back:
            raise _shorter(path)
        cursor.notice("bytes %d to %d of %s changed after they were read: another write "
                      "went over them" % (cursor.offset - back, cursor.offset, path))
    return data[back:]


def read(path, cursor, generation=None, chunk=1 << 18):
    """The records after `cursor` (which this advances), without the lock,
    in batches of about `chunk` bytes (a long journal is never all in memory
    as records). Yields (records, unreadable lines); an incomplete last
    batch is left for later. Raises Rotated, before yielding anything, if
    the journal is not of `generation` (when given)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    except OSError as error:
        raise fs_error("cannot read %s" % path, error)
    try:
        try:
            if generation is not None and generation_of(fd) != generation:
                raise Rotated()
        except OSError as error:
            raise fs_error("cannot read %s" % path, error)
        at = cursor.offset - len(cursor.tail)
        rest, first = b"", True
        while True:
            try:
                data = os.pread(fd, chunk, at)
            except OSError as error:
                raise fs_error("cannot read %s" % path, error)
            at += len(data)
            if first:
                data, first = _check_tail(data, cursor, path), False
            if not data:
                return
            data = rest + data
            before = cursor.offset
            records, bad = _scan(data, cursor, path)
            rest = data[cursor.offset - before:]
            if records or bad:
                yield records, bad
    finally:
        os.close(fd)


def sync(path, cursor, payload_fn, durable=True, mode=0o644, generation=0, check=None):
    """Under the lock: read what others appended since `cursor`, let
    `payload_fn(records)` decide what to append, append it in one write
    behind its batch header, and if `durable` fsync it. Returns (records
    read, records written); `cursor` is advanced past both. Raises Rotated
    if the journal is not of `generation`. The journal is created with
    `mode` if missing; a symbolic link in its place is an error. `check`
    gets the open journal's (inode, owner, group, mode) before anything is
    read or written (it raises to refuse it)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                     mode)
    except OSError as error:
        raise fs_error("cannot open %s" % path, error)
    try:
        if generation_of(fd) != generation:
            raise Rotated()
        size, inode, uid, gid, st_mode = fresh_stat(fd)
        if check is not None:
            check(inode, uid, gid, st_mode)
        if size < cursor.offset:
            raise _shorter(path)
        records, bad = [], 0
        if size > cursor.offset:
            back = len(cursor.tail)
            data = _check_tail(os.pread(fd, size - cursor.offset + back, cursor.offset - back),
                               cursor, path)
            records, bad = _scan(data, cursor, path)
            if cursor.offset < size:
                # a writer died mid-batch, as nobody else holds the lock; if
                # its size changes meanwhile, someone does (a machine whose
                # locks do not reach the others): what it writes is not cut off
                if fresh_stat(fd)[0] == size:
                    os.ftruncate(fd, cursor.offset)
                else:
                    cursor.notice("%s changed while this worker held the lock: another "
                                  "writer wrote it meanwhile" % path)
        written = payload_fn(records)
        if written:
            payload = encode(written)
            batch = b'["o",%d,%d]\n' % (cursor.offset, len(payload)) + payload
            try:
                if os.write(fd, batch) != len(batch):
                    # a short write: the disk is full (the next write would say so)
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                if durable:
                    os.fsync(fd)
            except OSError as error:
                # cut off whatever part of the write landed: no half record stays
                try:
                    os.ftruncate(fd, cursor.offset)
                except OSError:
                    pass
                raise fs_error("cannot write %s" % path, error)
            landed = os.lseek(fd, 0, os.SEEK_CUR) - len(batch)
            if landed == cursor.offset:
                cursor.offset, cursor.tail = landed + len(batch), batch
            else:
                # read again from where this believed the end was: the
                # records there, then these, are read as anyone reads them
                cursor.notice("records this worker appended at the end of %s, at byte %d "
                              "holding the lock, landed at byte %d: another writer appended "
                              "meanwhile" % (path, cursor.offset, landed))
        return records, written
    except OSError as error:
        raise fs_error("cannot use %s" % path, error)
    finally:
        os.close(fd)
