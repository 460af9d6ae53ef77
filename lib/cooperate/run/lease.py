"""Keeping a worker's lease: its heartbeat renewed in time, and its guard
told, so that the guard can suspend the runs of a worker that stopped
renewing it (see guard.py).

After a gap of half the lease or more (the worker was stopped, its disk
hung, or the machine slept: the gap is measured on a clock that counts
sleep), other workers may have taken its runs back: before anything else,
and before the guard resumes the runs it suspended meanwhile, the keeper
catches up with the journal under the lock and has the runs checked.
"""

import time

from cooperate.queue.lease import heartbeat_every, steady


class LeaseKeeper:
    def __init__(self, queue, worker, lease, guard, check_runs):
        self.queue = queue
        self.worker = worker
        self.lease = lease
        self.guard = guard
        self.check_runs = check_runs
        # when the lease was last renewed (lease.steady: time asleep counts)
        self.renewed = steady()
        self.next_beat = 0.0

    def renew_now(self):
        """Renew at the next look (resumed after SIGSTOP or Ctrl-Z, or told
        by the guard that it suspended the runs)."""
        self.next_beat = 0.0

    def keep(self):
        """Renew the lease if it is due (or overdue by the clock that counts
        time asleep, which the loop's waits do not see)."""
        if time.monotonic() < self.next_beat and steady() - self.renewed < self.lease / 2:
            return
        before = steady()
        renewed = self.queue.leases.heartbeat(self.worker)
        self.next_beat = time.monotonic() + heartbeat_every(self.lease)
        if not renewed:
            return
        if steady() - self.renewed >= self.lease / 2:
            self.queue.sync()
            self.check_runs()
        self.renewed = before
        if self.guard is not None:
            self.guard.renewed(before)
