"""Leases: whether the worker holding a run is alive.

A worker renews its lease by touching its heartbeat file
(STATE/workers/WORKER) every few seconds (heartbeat_every). On the machine
it runs on (same boot and pid namespace) a worker is alive while its process
or its guard is there: no waiting. Elsewhere it is alive until this process
has watched its heartbeat stay unchanged for its lease: the heartbeat's
time stamps are compared with each other only (did it change?), never with
a clock, and the silence is measured on this process's own monotonic clock.
Two machines' clocks are never compared, so a machine whose clock is ahead,
behind or jumping, or a file system that stamps times with any clock, can
neither make a live worker look dead nor delay a dead one's verdict.

A process that has not watched long enough (a command run once, a worker
that just started) holds no verdict: the worker stays alive to it. Gaps in
the watching (this process was stopped, or looked too seldom) start the
watch over. Observations belong to the process (every queue it opens shares
them), so `status --watch` and workers accumulate them.

A worker found dead on this machine may have left processes of its runs
behind, if its guard was killed with it: `dead` kills them first (every
process whose environment names that worker, and the process groups
recorded for its runs).

While its runs are short, a worker records their ends in the journal a
batch at a time (with its next claims): until then each end is noted in its
heartbeat file, one line per end, written as the run is collected. Whoever
finds the worker dead records the ends noted there (`noted`) rather than
taking those runs back as lost: they ran once, and do not run again.
"""

import os
import time

from cooperate.queue import host

# one silent for its lease looks dead (generous: a loaded disk or CPU must not
# make a live worker look dead)
LEASE = 120.0
# how long a worker waits for a dead worker's leftover processes to die
# before it takes that worker's entries back
LEFTOVERS_WAIT = 5.0

# heartbeat path -> Watch, for this whole process
_WATCHES = {}


def heartbeat_every(lease):
    return min(10.0, lease / 4)


def steady():
    """Seconds on this machine's clock that never goes back and also counts
    the time the machine slept (CLOCK_BOOTTIME where there is one): what a
    holder measures its own lease with, so that a suspend counts."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):
        return time.monotonic()


class Watch:
    """What this process saw of one heartbeat: its `token` (inode, time
    stamps, size: compared for equality only), since when (monotonic) it
    has not changed, when it looked last, and whether it ever saw it
    change."""

    def __init__(self, token, now):
        self.token = token
        self.since = self.last = now
        self.changed = False


class Leases:
    """The leases of a queue's workers, from its folded state (`state`, set
    by the queue whenever it folds afresh) and its state folder."""

    def __init__(self, state_dir):
        self.dir = state_dir
        self.state = None
        # this worker's heartbeat file, open to note ends in (see note)
        self.noting = None

    def heartbeat_path(self, worker):
        return os.path.join(self.dir, "workers", worker)

    def _token(self, path):
        """The heartbeat's identity and time stamps, None if it is gone, or
        False if it cannot be read now. Opened, not just looked up: on NFS
        an open revalidates what another client wrote (close-to-open)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError:
            return False
        try:
            st = os.fstat(fd)
        except OSError:
            return False
        finally:
            os.close(fd)
        return st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size

    def silence(self, worker, lease):
        """Look at the worker's heartbeat: for how many seconds has this
        process watched it unchanged? 0 the first time, after a change, or
        after a gap of more than lease/2 between two looks (this process was
        not watching); None if the heartbeat is gone."""
        path = self.heartbeat_path(worker)
        token = self._token(path)
        if token is None:
            return None
        now = time.monotonic()
        watch = _WATCHES.get(path)
        if token is False:
            # unreadable now: no news, and not watched
            if watch is not None:
                watch.since = watch.last = now
            return 0.0
        if watch is None:
            _WATCHES[path] = Watch(token, now)
            return 0.0
        if watch.token != token or now - watch.last > lease / 2:
            watch.changed = watch.changed or watch.token != token
            watch.token, watch.since = token, now
        watch.last = now
        return now - watch.since

    def watched(self, worker):
        """Seconds this process has watched the heartbeat unchanged, as of
        its last look (None if it never looked): for display."""
        watch = _WATCHES.get(self.heartbeat_path(worker))
        return None if watch is None else watch.last - watch.since

    def worker_alive(self, worker):
        """Does this worker look alive? On this machine (same boot and pid
        namespace): its process or its guard is there (no waiting).
        Elsewhere: this process has not watched its heartbeat unchanged
        for its lease."""
        info = self.state.workers.get(worker)
        if info is None or worker in self.state.quit:
            return False
        alive = host.owner_alive(info)
        if alive is not None:
            return alive
        lease = info.get("lease", LEASE)
        silent = self.silence(worker, lease)
        return silent is not None and silent < lease

    def undecided(self, worker):
        """Workers holding running entries (not `worker`) that this process
        could not judge yet: on another machine, never seen to renew their
        lease, and not silent for it either. (A worker with nothing left to
        do watches them before it exits.)"""
        found = []
        for holder in set(self.state.holders.values()):
            if holder == worker:
                continue
            info = self.state.workers.get(holder)
            if info is None or holder in self.state.quit or host.owner_alive(info) is not None:
                continue
            if self.worker_alive(holder):
                watch = _WATCHES.get(self.heartbeat_path(holder))
                if watch is None or not watch.changed:
                    found.append(holder)
        return found

    def live_workers_here(self):
        """Workers of this queue alive on this machine (from the records)."""
        return [w for w, info in self.state.workers.items()
                if host.same_machine(info) and self.worker_alive(w)]

    def is_stale(self, attempt):
        """Does the worker holding this running attempt look dead?"""
        return not self.worker_alive(attempt.worker)

    def note(self, worker, ends):
        """Note these ends of the worker's runs, (id, attempt, outcome, code,
        again, time, when it started or None), in its heartbeat file, in one
        write; False if that failed (then they must be recorded now)."""
        import json

        lines = "".join(json.dumps(list(end)) + "\n" for end in ends).encode()
        try:
            if self.noting is None:
                self.noting = os.open(self.heartbeat_path(worker),
                                      os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
            return os.write(self.noting, lines) == len(lines)
        except OSError:
            return False

    def forget(self):
        """The noted ends are in the journal now: the file is emptied."""
        try:
            os.ftruncate(self.noting, 0)
        except OSError:
            pass  # what is noted there is recorded already: taken as such by readers

    def noted(self, worker):
        """{(id, attempt): (outcome, code, again, time, when it started or
        None)} of the ends the worker noted and may not have recorded."""
        import json

        found = {}
        try:
            fd = os.open(self.heartbeat_path(worker),
                         os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as f:
                data = f.read()
        except OSError:
            return found
        for line in data.splitlines():
            try:
                id_, attempt, outcome, code, again, when, began = json.loads(line.decode())
            except (ValueError, TypeError, UnicodeDecodeError):
                continue  # a line cut short as the worker died
            found[id_, attempt] = outcome, code, again, when, began
        return found

    def heartbeat(self, worker):
        """Renew the worker's lease; False if that failed."""
        try:
            os.utime(self.heartbeat_path(worker), follow_symlinks=False)
        except OSError:
            return False
        return True

    def dead(self, holder, verdicts=None):
        """Is this worker dead, with nothing of its runs left on this
        machine? (Leftovers of a dead worker here are killed first; see the
        module's docstring.) `verdicts` keeps the answers of one transaction."""
        if verdicts is not None:
            if holder not in verdicts:
                verdicts[holder] = self.dead(holder)
            return verdicts[holder]
        if self.worker_alive(holder):
            return False
        state = self.state
        if not host.same_machine(state.workers.get(holder, {})):
            return True
        import signal

        groups = [process for id_, process in state.processes.items()
                  if state.holders.get(id_) == holder]
        # a recorded group whose first process now has another start time
        # is someone else's
        host.signal_groups([pid for pid, start in groups
                            if host.process_start(pid) in (None, start)], signal.SIGKILL)
        deadline = time.monotonic() + LEFTOVERS_WAIT
        while host.kill_tagged("COOPERATE_WORKER", holder):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True
