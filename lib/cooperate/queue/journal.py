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
  ["g", generation, time]                        the first record of a journal
                                   begun by compaction (see snapshot.py)

Writers append under the queue lock, all records of one transaction in one
write(); other processes see it at once, and on NFS it reaches the server
when the file is closed, after every transaction. Workers fsync at most once
a second (an fsync per claim would cost more than starting the command);
commands run by hand fsync every change. Appending costs the same whatever the journal's length.
A crash can leave a torn last line (no newline): readers ignore it, and the
next writer, holding the lock, cuts it off before appending. Arrays rather
than objects because they parse twice as fast and `status` reads them all.
"""

import errno
import json
import os
import time

from cooperate.queue import files
from cooperate.errors import UserError


class Rotated(Exception):
    """The journal is of another generation than the one being read: it
    was compacted meanwhile (see snapshot.py)."""


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
    Returns the new journal's size and inode."""
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
        raise UserError("cannot write %s: %s" % (new, error.strerror))
    files.sync_dir(os.path.dirname(path))
    return len(data), inode


def encode(records):
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()


def decode(data):
    """Records from complete lines of `data` (bytes that end with a newline).
    Returns (records, number of unreadable lines)."""
    if not data:
        return [], 0
    try:
        return json.loads(b"[" + data[:-1].replace(b"\n", b",") + b"]"), 0
    except (ValueError, RecursionError):
        pass
    # a damaged line somewhere (a disk that lied, a hand edit): keep the rest
    records, bad = [], 0
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            bad += 1
            continue
        if isinstance(record, list) and record:
            records.append(record)
        else:
            bad += 1
    return records, bad


def read(path, offset=0, generation=None, chunk=1 << 18):
    """Records after byte `offset`, without the lock, in batches of about
    `chunk` bytes (a long journal is never all in memory as records).
    Yields (records, new offset, unreadable lines); a torn last line is
    left for later. Raises Rotated, before yielding anything, if the
    journal is not of `generation` (when given)."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    except OSError as error:
        raise UserError("cannot read %s: %s" % (path, error.strerror))
    with f:
        if generation is not None and generation_of(f.fileno()) != generation:
            raise Rotated()
        f.seek(offset)
        rest = b""
        while True:
            try:
                data = f.read(chunk)
            except OSError as error:
                raise UserError("cannot read %s: %s" % (path, error.strerror))
            if not data:
                return
            data = rest + data
            end = data.rfind(b"\n") + 1
            rest = data[end:]
            if end:
                records, bad = decode(data[:end])
                offset += end
                yield records, offset, bad


def sync(path, offset, payload_fn, durable=True, mode=0o644, generation=0):
    """Under the lock: read what others appended since `offset`, let
    `payload_fn(records)` decide what to append, append it in one write,
    and if `durable` fsync it. Returns (records read, records written, new
    offset). Raises Rotated if the journal is not of `generation`. The
    journal is created with `mode` if missing; a symbolic link in its place
    is an error."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                     mode)
    except OSError as error:
        raise UserError("cannot open %s: %s" % (path, error.strerror))
    try:
        if generation_of(fd) != generation:
            raise Rotated()
        size = os.fstat(fd).st_size
        if size < offset:
            raise UserError("%s is shorter than when it was last read: it was replaced or "
                            "truncated under this worker; stop the workers and check it" % path)
        data = os.pread(fd, size - offset, offset) if size > offset else b""
        end = data.rfind(b"\n") + 1
        if end < len(data):
            # a writer died mid-record: we hold the lock, so nobody is writing
            os.ftruncate(fd, offset + end)
        records, _ = decode(data[:end])
        written = payload_fn(records)
        new_offset = offset + end
        if written:
            payload = encode(written)
            try:
                if os.write(fd, payload) != len(payload):
                    # a short write: the disk is full (the next write would say so)
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                if durable:
                    os.fsync(fd)
            except OSError as error:
                # cut off whatever part of the write landed: no half record stays
                try:
                    os.ftruncate(fd, new_offset)
                except OSError:
                    pass
                raise UserError("cannot write %s: %s" % (path, error.strerror))
            new_offset += len(payload)
        return records, written, new_offset
    finally:
        os.close(fd)
