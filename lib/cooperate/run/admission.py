"""Whether a worker may start another run now, and which entries it takes.

Nothing new starts while the host lacks what --memfree, --load or
--gpu-memfree ask for, nor while every slot is taken; each wait is said once
(a line when it starts), and looked at again every resources.CHECK_EVERY
seconds. An entry needing more GPUs than the worker has is never its: it
stays pending for other workers (said once). One needing N GPUs is claimed
only if the slot can be widened to N GPUs now, so that no entry is held
while its GPUs are awaited.
"""

from cooperate.queue.core import LATER


class Admission:
    def __init__(self, queue, slots, report, resources=None, accept=None):
        self.queue = queue
        self.slots = slots
        self.report = report
        self.resources = resources
        # the worker's own filter of entries (or None)
        self.accept = accept
        # what the host lacks that this worker waits for, or None
        self.waiting_for = None
        self.waiting_for_slot = False
        # the "gpus" of entries left to other workers (more GPUs than this one
        # has), and those said so
        self.too_big, self.told_too_big = set(), set()
        # the fewest GPUs an entry the last claim left for later needs (see
        # accepting), and the number said in the last waiting line
        self.later = None
        self.waiting_gpus = None

    def slot(self, running):
        """(a slot for the next run, None) or (None, whether to go on
        waiting: False when nothing is pending anyway)."""
        short = self.resources.short() if self.resources is not None else None
        if short is not None:
            return None, self._wait_for(*short)
        slot = self.slots.acquire()
        if slot is None:
            if self.slots.short is not None:
                return None, self._wait_for("gpu memory", self.slots.short)
            if not running and not self.waiting_for_slot:
                self.waiting_for_slot = True
                self.report("note", text="waiting for a GPU slot: all %d slots of GPUs %s "
                            "are held by other runs on this host" % (
                                self.slots.capacity, ",".join(self.slots.gpus)))
            return None, True
        self.waiting_for_slot = False
        if self.waiting_for != "gpu memory" or self.slots.short is None:
            # what was lacking is there again: the next shortage is said again
            self.waiting_for = None
        return slot, None

    def waiting(self):
        """Is the worker waiting for the host (to be looked at again soon)?"""
        return self.waiting_for is not None

    def _wait_for(self, what, text):
        """Start nothing while the host lacks `what` (memory, load, GPU
        memory; `text` tells how much): said once per wait. False when
        nothing is pending anyway (nothing to wait for)."""
        if self.queue.order.next_pending() is None:
            self.waiting_for = None
            return False
        if self.waiting_for != what:
            self.waiting_for = what
            self.report("note", text="waiting: %s" % text)
        return True

    def accepting(self, slot):
        """Queue.take's accept test for the claim `slot` (one GPU, or none
        without --gpus) was acquired for: the worker's own filter, then the
        entry's "gpus". `later` becomes the fewest GPUs an entry left for
        LATER needed."""
        self.later = None
        have = len(set(self.slots.gpus))

        def accept(entry):
            if self.accept is not None and not self.accept(entry):
                return False
            need = entry.get("gpus") if isinstance(entry, dict) else None
            if need is None:
                return True
            if need > have:
                self.too_big.add(need)
                return False
            if need == 1:
                return True
            if self.later is not None and need >= self.later:
                # as many GPUs were not free a moment ago: spare the locks
                return LATER
            if self.slots.widen(slot, need):
                return True
            self.later = need
            return LATER

        return accept

    def claimed(self, slot):
        if len(slot.gpus) > 1:
            # an entry that waited for several GPUs got them: the next wait is said
            self.waiting_gpus = None

    def nothing_claimed(self, stopping):
        """After a claim that took nothing: True if entries wait for GPUs to
        be free (said once per number), False if nothing is pending for
        this worker (or it is `stopping` anyway)."""
        self._say_too_big()
        if self.later is None or stopping:
            return False
        if self.waiting_gpus != self.later:
            self.waiting_gpus = self.later
            self.report("note", text="waiting for %d GPUs at once: an entry needs them, "
                        "and fewer of GPUs %s are free now (%s)" % (
                            self.later, ",".join(self.slots.gpus), self.slots.short or
                            "their slots are held by other runs on this host"))
        return True

    def _say_too_big(self):
        """Say once which entries this worker leaves to others for their
        "gpus"."""
        if self.too_big - self.told_too_big:
            self.told_too_big |= self.too_big
            have = len(set(self.slots.gpus))
            self.report("note", text="left to other workers: the entries that need %s GPU%s; "
                        "this worker has %s" % (
                            " or ".join(str(n) for n in sorted(self.too_big)),
                            "" if self.too_big == {1} else "s",
                            "%d (--gpus %s)" % (have, ",".join(self.slots.gpus)) if have else
                            "none (no --gpus)"))
