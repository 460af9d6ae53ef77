"""Keeping a worker's lease: its heartbeat renewed in time, and its guard
told, so that the guard can suspend the runs of a worker that stopped
renewing it (see guard.py).

After a gap of half the lease or more (the worker was stopped, or its disk
hung), other workers may have taken its runs back: before anything else,
and before the guard resumes the runs it suspended meanwhile, the keeper
catches up with the journal under the lock and has the runs checked.
"""

import time

from cooperate.queue.lease import heartbeat_every


class LeaseKeeper:
    def __init__(self, queue, worker, lease, guard, check_runs):
        self.queue = queue
        self.worker = worker
        self.lease = lease
        self.guard = guard
        self.check_runs = check_runs
        self.renewed = time.monotonic()
        self.next_beat = 0.0

    def renew_now(self):
        """Renew at the next look (resumed after SIGSTOP or Ctrl-Z)."""
        self.next_beat = 0.0

    def keep(self):
        """Renew the lease if it is due."""
        if time.monotonic() < self.next_beat:
            return
        before = time.monotonic()
        renewed = self.queue.leases.heartbeat(self.worker)
        now = time.monotonic()
        self.next_beat = now + heartbeat_every(self.lease)
        if not renewed:
            return
        if now - self.renewed >= self.lease / 2:
            self.queue.sync()
            self.check_runs()
        self.renewed = before
        if self.guard is not None:
            self.guard.renewed()
