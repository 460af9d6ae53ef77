"""The queue lock: a whole-file portalocker (flock) lock with a bounded wait.

The lock file is never renamed or deleted (locking a file that is then
replaced loses the lock), and it is opened for appending because NFS needs a
descriptor open for writing to take an exclusive lock. It is reopened for
every hold, so a state folder removed under a worker is noticed. Waiting is
bounded: a holder that froze, or an NFS server that stopped answering, makes
the others fail with a message naming the lock file instead of hanging.
Nobody else can hold it: it is created 0600 (a team queue's: 0660) in a
folder only its user (or team) may enter, since a shared flock taken by
anyone who can read it would stop every worker.
"""

import errno
import os
import time

from cooperate.errors import UserError
from cooperate.queue.journal import TRANSIENT, fs_error

# First retries come quickly (claims hold the lock for well under a
# millisecond); later ones back off so many waiters do not spin.
FIRST_POLL = 0.0002
LAST_POLL = 0.05
# How long this process last waited for each lock (seconds). With many
# workers on few cores a holder is often preempted and the lock stays busy
# for tens of milliseconds: polling from a quarter of the last wait spares
# the wake-ups that would find it busy again (a third of them, for 32
# workers on 2 cores). A lock taken at once starts it afresh.
_LAST_WAIT = {}


def _busy(error):
    """Does portalocker's LockException mean that another process holds the
    lock? portalocker 2.7 (the last for Python 3.6) raises it with flock's
    OSError; later versions raise its subclass AlreadyLocked."""
    import portalocker

    cause = error.args[0] if error.args else None
    return (isinstance(error, portalocker.AlreadyLocked)
            or getattr(cause, "errno", None) in (errno.EAGAIN, errno.EACCES))


class QueueLock:
    def __init__(self, path, timeout, mode=0o600):
        self.path = path
        self.timeout = timeout
        self.mode = mode
        self.fd = None

    def __enter__(self):
        import portalocker

        try:
            # never through a symbolic link; a bare descriptor: a file object
            # would cost a stat (a round trip on NFS) for a file only locked
            self.fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                              | os.O_CLOEXEC, self.mode)
        except OSError as error:
            raise fs_error("cannot open the lock file %s" % self.path, error)
        began = time.monotonic()
        deadline = began + self.timeout
        poll = min(max(FIRST_POLL, _LAST_WAIT.get(self.path, 0) / 4), LAST_POLL)
        while True:
            try:
                portalocker.lock(self.fd, portalocker.LOCK_EX | portalocker.LOCK_NB)
                _LAST_WAIT[self.path] = time.monotonic() - began
                return self
            except portalocker.LockException as error:
                if not _busy(error):
                    os.close(self.fd)
                    cause = error.args[0] if error.args else None
                    if getattr(cause, "errno", None) in TRANSIENT:
                        # a lock server restarting: the caller tries again
                        raise fs_error("cannot lock %s" % self.path, cause)
                    raise UserError("cannot lock %s: %s (is the filesystem mounted with "
                                    "locking enabled?)" % (self.path, error))
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    raise UserError(
                        "waited %g s for the lock %s: another worker holds it and does not "
                        "let go (a frozen machine or an unreachable NFS server?). Nothing "
                        "was changed. Once that machine is back or rebooted, or its NFS "
                        "lock expired, run again; raise --lock-timeout to wait longer"
                        % (self.timeout, self.path))
                # at random within the backoff: waiters do not wake together
                # (imported here: only a lock that is busy needs it)
                import random

                time.sleep(poll * (0.5 + random.random()))
                poll = min(poll * 2, LAST_POLL)

    def __exit__(self, *exc):
        # closing the descriptor releases the flock
        os.close(self.fd)
        self.fd = None

