"""A worker's copier of its runs' output into their logs.

A run writes its stdout and stderr to pipes; a thread of the worker copies
what comes through into the run's log files (logs.open_log: shard folder
made or checked, never through a symbolic link), making each file with the
first byte to it. A run that prints nothing costs the shared folder no file
operation at all (no shard folder, no create, no unlink of an empty log),
and a log that is there is followed live, from any machine (`log -f`), as
the run writes it.

Promises: a run's output reaches its log in the order it was written, each
stream on its own; the worker waits for what its runs wrote before it
records their ends (finish), so a log read after an end holds everything
the run printed; a process a run left behind that still writes goes on
being copied, to the same file, until it ends. A log that cannot be written
(a full disk, its folder gone) does not stop the run: what it prints is
read and dropped, and the worker says why once (finish's answer). If the
worker dies, the runs' next writes fail (EPIPE); its guard kills them
anyway (guard.py).
"""

import os
import select
import signal
import threading
import time

# how long finish() waits for the last bytes of an ended run's pipes (its
# processes are gone: only what is still in the pipe, and the writes of a
# process it left that no one could kill)
PATIENCE = 2.0


class Pipe:
    def __init__(self, path):
        self.path = path
        # the log's descriptor once the first byte came, else None
        self.fd = None
        # why the log could not be written (a sentence), or None
        self.failed = None
        # every writer closed it
        self.ended = False


class Copier:
    """`open_log(path)`: a descriptor to write a log to (or OSError,
    UserError)."""

    def __init__(self, open_log):
        self.open_log = open_log
        self.lock = threading.Condition()
        # read end -> Pipe, those the thread copies from
        self.pipes = {}
        # log path -> Pipe, until finish() is done with it
        self.logs = {}
        self.wake = None
        self.thread = None

    def pipe(self, path):
        """The write end of a new pipe whose output goes to the log `path`
        (the caller gives it to the run and closes it)."""
        if self.thread is None:
            self.wake = os.pipe()
            self.thread = threading.Thread(target=self._copy, name="output", daemon=True)
            self.thread.start()
        read_end, write_end = os.pipe()
        with self.lock:
            self.pipes[read_end] = self.logs[path] = Pipe(path)
        os.write(self.wake[1], b".")
        return write_end

    def finish(self, paths, patience=PATIENCE):
        """Wait (up to `patience` seconds) until the pipes to these logs
        have ended; why a log could not be written, for each that failed."""
        deadline = time.monotonic() + patience
        with self.lock:
            mine = [self.logs.pop(path) for path in paths if path in self.logs]
            while not all(p.ended for p in mine):
                now = time.monotonic()
                if now >= deadline:
                    break
                self.lock.wait(deadline - now)
        return [p.failed for p in mine if p.failed]

    def _copy(self):
        # stop signals are the worker's, in its main thread
        signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals))
        poller = select.poll()
        poller.register(self.wake[0], select.POLLIN)
        watched = set()
        while True:
            with self.lock:
                for fd in self.pipes:
                    if fd not in watched:
                        poller.register(fd, select.POLLIN)
                        watched.add(fd)
            for fd, _ in poller.poll():
                if fd == self.wake[0]:
                    os.read(fd, 512)
                    continue
                with self.lock:
                    pipe = self.pipes[fd]
                try:
                    data = os.read(fd, 1 << 16)
                except OSError:
                    data = b""
                if data:
                    self._write(pipe, data)
                    continue
                with self.lock:
                    # before the number can be another pipe's (closed below)
                    del self.pipes[fd]
                poller.unregister(fd)
                watched.discard(fd)
                os.close(fd)
                if pipe.fd is not None:
                    os.close(pipe.fd)
                with self.lock:
                    pipe.ended = True
                    self.lock.notify_all()

    def _write(self, pipe, data):
        if pipe.failed:
            return
        try:
            if pipe.fd is None:
                pipe.fd = self.open_log(pipe.path)
            view = memoryview(data)
            while view:
                view = view[os.write(pipe.fd, view):]
        except Exception as error:
            # UserError or OSError: the run goes on, its output is dropped
            pipe.failed = "%s: %s" % (pipe.path, getattr(error, "strerror", None) or error)
