"""A worker's side of its runs' metrics (see cooperate.metrics): each
attempt gets COOPERATE_METRICS, and with an early-stopping rule the worker
reads each running run's new lines at every look and lets the rule judge
them.

The rule (EarlyStop, given by a layer above: cooperate.search.asha's ASHA
or Hyperband) records its values and decisions in the journal itself,
under the lock, only when a run reaches one of its points (a rung of its
bracket), never for each step; the worker stops the runs it says to stop
(TERM, the grace period, KILL), and the run ends with the outcome pruned:
a success, never retried. An attempt of an entry the rule pruned before
(its end was lost with its worker) is not started at all.
"""

import os
import time

from cooperate import metrics
from cooperate.errors import UserError
from cooperate.queue import logs
from cooperate.queue.journal import TRANSIENT


class EarlyStop:
    """What the worker asks an early-stopping rule. The default never stops."""

    def pruned(self, state, claim):
        """Why a claimed entry is pruned already (a decision recorded for an
        earlier attempt), or None."""
        return None

    def judge(self, queue, worker, claim, points):
        """The run of `claim` reported these points (all of them, oldest
        first): decide what it reached, recording in the journal; why it
        must stop, or None."""
        return None


class Watch:
    """The metrics files of one worker's runs, and the rule that judges them."""

    def __init__(self, queue, rule=None):
        self.queue = queue
        self.rule = rule
        # (id, attempt) -> (metrics.Reader, Claim) of the runs started and
        # not yet judged after their end
        self.readers = {}
        # the shard folders made or checked
        self.shards = set()

    def prepare(self, claim):
        """The attempt's metrics file's path, for COOPERATE_METRICS, with its
        shard folder made (with the queue's modes, and checked, as the
        logs' are). The file itself is the run's to create: a run that
        reports nothing leaves none (at a million entries every file
        counts)."""
        queue = self.queue
        # absolute: a run may start in another folder (an entry's "cwd")
        path = os.path.abspath(metrics.path(queue.dir, claim.id, claim.attempt))
        shard = os.path.dirname(path)
        pause, deadline = 0.05, time.monotonic() + queue.lock_timeout
        while shard not in self.shards:
            try:
                logs.make_shard(shard, queue.folder_mode, queue.trusted)
                self.shards.add(shard)
            except OSError as error:
                # a file server restarting: waited for as long as for the lock
                if error.errno not in TRANSIENT or time.monotonic() >= deadline:
                    raise UserError("cannot create the metrics folder %s: %s" % (
                        shard, error.strerror))
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
        if self.rule is not None:
            self.readers[claim.id, claim.attempt] = metrics.Reader(path), claim
        return path

    def pruned(self, claim):
        return None if self.rule is None else self.rule.pruned(self.queue.state, claim)

    def look(self, runs, worker):
        """(run, why) for each running run that the rule says to stop now.
        The runs that ended since the last look (their ends not recorded
        yet) are judged a last time, so that the rungs they reached count
        for the runs after them."""
        if self.rule is None:
            return []
        stop = []
        live = {(run.claim.id, run.claim.attempt): run for run in runs}
        for key, (reader, claim) in list(self.readers.items()):
            run = live.get(key)
            if run is None:
                del self.readers[key]
            elif run.stopped_as is not None:
                continue
            if reader.read():
                why = self.rule.judge(self.queue, worker, claim, reader.points)
                if why is not None and run is not None:
                    stop.append((run, why))
        return stop
