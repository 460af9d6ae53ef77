"""A sweep (a list file or an experiment folder) seen from Python."""

import json
import os
import time

from cooperate.errors import UserError


def open_sweep(target, state_dir=None):
    """The Sweep of a list file (made empty if it does not exist yet) or an
    experiment folder."""
    if not os.path.exists(target):
        if target.endswith(os.sep) or not target.endswith(".json"):
            raise UserError("%s: no such list file or experiment (a new list's name ends in "
                            ".json)" % target)
        from cooperate.queue.files import atomic_write

        atomic_write(target, b"[]\n")
    return Sweep(target, state_dir)


class Sweep:
    """One queue: `target` is its list file or experiment folder."""

    def __init__(self, target, state_dir=None):
        self.target = target
        self.state_dir = state_dir

    def _queue(self, history=True):
        from cooperate.grid.source import open_queue

        queue = open_queue(self.target, self.state_dir, reader=True, history=history,
                           trusted=True)
        queue.read()
        return queue

    @property
    def experiment(self):
        """The experiment's folder, or None for a list."""
        return self._queue(history=False).experiment

    def append(self, *entries):
        """Add entries (an argv list, a command string, or an object with
        "cmd": see docs/usage.md, The list) that the list does not have yet;
        returns how many were added. Workers running on the list take them
        up. Experiments grow by liftoff-prepare --append-to instead."""
        from cooperate.grid.design import merge
        from cooperate.queue import listfile
        from cooperate.queue.files import atomic_write

        if os.path.isdir(self.target):
            raise UserError("%s is an experiment: add variations with `liftoff-prepare CONFIGS "
                            "--append-to %s --do`" % (self.target, self.target))
        existing = listfile.parse(self.target, listfile.read_text(self.target))
        added = merge(existing, list(entries))
        if added:
            lines = [json.dumps(e) for e in existing + added]
            text = "[\n" + ",\n".join("  " + line for line in lines) + "\n]\n"
            # checked as workers will read it: a bad entry is refused, nothing written
            listfile.parse(self.target, text)
            atomic_write(self.target, text.encode())
        return len(added)

    def counts(self):
        """{status: how many entries have it} (pending, running, done,
        failed, aborted, held; and blocked: pending entries that wait for a
        failed one)."""
        queue = self._queue(history=False)
        counts = queue.counts()
        counts["blocked"] = len(queue.blocked()) if queue.list.after else 0
        return counts

    def wait(self, timeout=None, every=1.0):
        """Wait until nothing is pending (but blocked entries) or running;
        returns counts(). TimeoutError after `timeout` seconds. It only
        reads: workers, started as usual, do the work."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            counts = self.counts()
            if not counts["running"] and counts["pending"] <= counts["blocked"]:
                return counts
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("%s: %d pending, %d running after %g s" % (
                    self.target, counts["pending"], counts["running"], timeout))
            time.sleep(every)

    def rows(self, aggregate=False, **options):
        """collect's table as dicts, one per entry (or per variation with
        `aggregate`); `options` as cooperate.results.collect.rows takes
        them (where, results_file, results_dir, over, maximise...)."""
        from cooperate.results import collect

        return collect.rows(self.target, state_dir=self.state_dir, aggregate=aggregate,
                            **options)

    def metrics(self, id_, attempt=None):
        """The points an entry's attempt (default: its latest) reported,
        oldest first ([] for none)."""
        from cooperate import metrics

        queue = self._queue()
        if attempt is None:
            last = queue.state.last(id_)
            if last is None:
                return []
            attempt = last.number
        return metrics.read(metrics.path(queue.dir, id_, attempt))

    def decisions(self):
        """The early-stopping decisions in the order they were made: dicts
        with id, attempt, worker, time, rung, step, value, keep, rank, of,
        cutoff and reason."""
        from cooperate.search import asha

        return asha.decisions(self._queue(history=False).state.scores)
