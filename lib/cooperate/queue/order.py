"""Which entry a worker claims next.

A cursor walks the list once (in list order, or in a shuffled order of its
own): a claim costs the same with 100 and with 100,000 entries. An entry
made pending again (retried, interrupted, lost) moves the cursor back to it;
an entry that waits for others ("after") is passed over and put in `ready`
(a heap of indexes: the first in the list first) once they are all done, so
that waiting entries are not looked at again on every claim. Reads the list
and the folded state; records nothing.
"""

import heapq

from cooperate.queue.state import CODE_DONE, CODE_PENDING, FAILED, ABORTED, PENDING, DONE


class ClaimOrder:
    def __init__(self, commands):
        self.list = commands
        self.state = None
        self.cursor = 0
        # None (list order) or a shuffled permutation of indexes
        self.order = None
        self.shuffled = False
        # entries whose dependencies got done after the cursor passed them
        self.ready = []
        # entries of `ready` a worker left for later (see skip)
        self.deferred = []

    def restart(self, state):
        """From the top, over a state folded afresh."""
        self.state = state
        self.cursor = 0

    def list_changed(self):
        self.cursor = 0
        if self.shuffled:
            self.shuffle()

    def shuffle(self):
        """Claim in a random order (different in every worker)."""
        import random

        from array import array

        order = array("q", range(len(self.list.ids)))
        random.shuffle(order)
        self.order = order
        self.shuffled = True
        self.cursor = 0

    def applied(self, records):
        """Follow records just folded into the state: an entry done frees
        those waiting for it; an entry pending again is looked at again."""
        dependents = self.list.dependents
        if dependents:
            # a late record of an older attempt changes nothing: next_pending checks them
            for r in records:
                if r[0] == "e" and r[5] == DONE:
                    for index in dependents.get(r[1], ()):
                        if self.order is not None or index < self.cursor:
                            heapq.heappush(self.ready, index)
        requeued = self.state.requeued
        if requeued:
            if self.order is not None:
                self.cursor = 0
            else:
                for id_ in requeued:
                    index = self.list.ids.index(id_)
                    if index is not None:
                        self.cursor = min(self.cursor, index)
            self.state.requeued = []

    def _claimable(self, index, id_):
        code = self.state.codes.get(id_)
        after = self.list.after
        return ((code is None or code & 7 == CODE_PENDING) and id_ not in self.list.executed
                and (index not in after or self.all_done(after[index])))

    def next_pending(self):
        """The index of the next pending entry whose dependencies are done
        (the cursor stays on it, or it stays first in `ready`), or None."""
        ids, order, ready = self.list.ids, self.order, self.ready
        while ready:
            index = ready[0]
            if index < len(ids) and self._claimable(index, ids[index]):
                return index
            heapq.heappop(ready)
        if order is None:
            for index, id_ in enumerate(ids.iter_from(self.cursor), self.cursor):
                if self._claimable(index, id_):
                    self.cursor = index
                    return index
            self.cursor = len(ids)
            return None
        while self.cursor < len(ids):
            index = order[self.cursor]
            if self._claimable(index, ids[index]):
                return index
            self.cursor += 1
        return None

    def all_done(self, indexes):
        ids, get, executed = self.list.ids, self.state.getter(), self.list.executed
        for i in indexes:
            id_ = ids[i]
            code = get(id_)
            if (CODE_PENDING if code is None else code) & 7 != CODE_DONE and id_ not in executed:
                return False
        return True

    def skip(self, index, later=False):
        """Pass over the entry next_pending gave: this worker does not take
        it (`later`: not now; it is in `ready` again for the next claim)."""
        if self.ready and self.ready[0] == index:
            heapq.heappop(self.ready)
            if later:
                self.deferred.append(index)
        else:
            self.cursor += 1

    def undefer(self):
        """The entries left for later are candidates again (a new claim)."""
        for index in self.deferred:
            heapq.heappush(self.ready, index)
        self.deferred = []

    def waiting(self, status_of):
        """How many pending entries wait for others not done (blocked ones too)."""
        ids = self.list.ids
        return sum(1 for index, deps in self.list.after.items()
                   if status_of(ids[index]) == PENDING and not self.all_done(deps))

    def blocked(self, status_of):
        """{index: (index of the entry it waits for, that entry's status)} of
        the pending entries that wait for one failed or aborted, or blocked
        itself: they never start unless that one is retried and succeeds.
        Derived, not recorded: one pass over the entries with "after"."""
        ids, blocked = self.list.ids, {}
        # an entry comes after those it waits for (see listfile.resolve_after)
        for index, deps in self.list.after.items():
            if status_of(ids[index]) != PENDING:
                continue
            for d in deps:
                status = "blocked" if d in blocked else status_of(ids[d])
                if status in ("blocked", FAILED, ABORTED):
                    blocked[index] = (d, status)
                    break
        return blocked
