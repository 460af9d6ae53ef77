"""Writing files so that a crash leaves the old or the new one, never half."""

import os

from .errors import UserError


def unique():
    """A suffix no other process writing the same folder uses at once, even
    on another machine with the same pid (containers)."""
    return "%d-%s" % (os.getpid(), os.urandom(6).hex())


def write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def sync_dir(path):
    """fsync a folder, so that a rename in it survives a crash (best effort:
    not every filesystem allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def atomic_write(path, data, durable=True):
    """Write `data` (bytes) to `path` through a temporary file with a unique
    name in the same folder, renamed over it; with `durable`, fsync'd, and
    the folder too."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, ".%s.%s.tmp" % (os.path.basename(path), unique()))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as error:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UserError("cannot write %s: %s" % (path, error.strerror or error))
    if durable:
        sync_dir(folder)
