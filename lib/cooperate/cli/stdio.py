"""The process's standard streams, kept harmless.

- At start, a closed standard descriptor (0, 1 or 2) is opened on
  /dev/null: otherwise the first file a command opens (the lock, the
  journal) would take its number, and what it prints would land in it.
- Once writing to stdout or stderr fails (the reader of a pipe went away:
  `| head -1`; a terminal that closed: EIO; a full disk: `2>/dev/full`),
  that stream is silenced: its descriptor points to /dev/null from then on,
  so that nothing printed later (or flushed at exit) fails again. A worker
  goes on with its runs and records their ends; it only stops printing.
"""

import os
import sys


def ensure():
    """Open /dev/null on closed standard descriptors; give Python streams
    to the ones it started without."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)


def silence(stream):
    """Point `stream` (sys.stdout or sys.stderr) at /dev/null, with what it
    still holds to write: it failed, nothing more is printed there."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def write(stream, text):
    """Write and flush `text`; False (and the stream silenced) if that
    failed."""
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        silence(stream)
        return False
    return True
