"""Leases: whether the worker holding a run is alive.

A worker renews its lease by touching its heartbeat file
(STATE/workers/WORKER) every few seconds (heartbeat_every). On the machine
it runs on (same boot and pid namespace) a worker is alive while its process
or its guard is there: no waiting. Elsewhere it is alive while it renewed its
heartbeat within its lease, measured on the shared filesystem's clock (see
`clock`). A worker found dead on this machine may have left processes of its
runs behind, if its guard was killed with it: `dead` kills them first (every
process whose environment names that worker, and the process groups
recorded for its runs).
"""

import os
import signal
import time

from cooperate.queue import host

# one silent for its lease looks dead (generous: a loaded disk or CPU must not
# make a live worker look dead)
LEASE = 120.0
# how long a worker waits for a dead worker's leftover processes to die
# before it takes that worker's entries back
LEFTOVERS_WAIT = 5.0


def heartbeat_every(lease):
    return min(10.0, lease / 4)


class Leases:
    """The leases of a queue's workers, from its folded state (`state`, set
    by the queue whenever it folds afresh) and its state folder."""

    def __init__(self, state_dir):
        self.dir = state_dir
        self.state = None

    def heartbeat_path(self, worker):
        return os.path.join(self.dir, "workers", worker)

    def worker_alive(self, worker, now=None):
        """Does this worker look alive? On this machine (same boot and pid
        namespace): its process or its guard is there (no waiting).
        Elsewhere: it renewed its heartbeat within its lease."""
        info = self.state.workers.get(worker)
        if info is None or worker in self.state.quit:
            return False
        alive = host.owner_alive(info)
        if alive is not None:
            return alive
        try:
            beat = os.stat(self.heartbeat_path(worker)).st_mtime
        except OSError:
            return False
        return (now or time.time()) - beat <= info.get("lease", LEASE)

    def live_workers_here(self):
        """Workers of this queue alive on this machine (from the records)."""
        return [w for w, info in self.state.workers.items()
                if host.same_machine(info) and self.worker_alive(w)]

    def is_stale(self, attempt, now=None):
        """Does the worker holding this running attempt look dead?"""
        return not self.worker_alive(attempt.worker, now)

    def heartbeat(self, worker):
        """Renew the worker's lease; False if that failed."""
        try:
            os.utime(self.heartbeat_path(worker), follow_symlinks=False)
        except OSError:
            return False
        return True

    def clock(self, worker):
        """Now, by the shared filesystem's clock: touch our heartbeat and read
        its time back (on NFS the server stamps it), so that leases never
        compare two machines' clocks."""
        path = self.heartbeat_path(worker)
        try:
            os.utime(path, follow_symlinks=False)
            return os.lstat(path).st_mtime
        except OSError:
            return time.time()

    def dead(self, holder, now=None, verdicts=None):
        """Is this worker dead, with nothing of its runs left on this
        machine? (Leftovers of a dead worker here are killed first; see the
        module's docstring.) `verdicts` keeps the answers of one transaction."""
        if verdicts is not None:
            if holder not in verdicts:
                verdicts[holder] = self.dead(holder, now)
            return verdicts[holder]
        if self.worker_alive(holder, now):
            return False
        state = self.state
        if not host.same_machine(state.workers.get(holder, {})):
            return True
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
