"""Writing files so that a crash leaves the old or the new one, never half."""

import os

from .errors import UserError


def atomic_write(path, data):
    """Write `data` (bytes) to `path` through a temporary file in the same
    folder, fsync, rename over, and fsync the folder."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UserError("cannot write %s: %s" % (path, error.strerror))
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
