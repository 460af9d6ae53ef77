"""What a worker tells its user beyond each run's start and end: the live
progress line, why it found nothing to start, a list that does not read,
and --notify's command once the queue is finished.
"""

import os
import subprocess
import time

from cooperate import fmt
from cooperate.queue.core import CLAIMED, RUNNING

# a list that does not read (being rewritten in place) is reported once it
# has not read for this long
SAY_UNREADABLE_AFTER = 5.0
# --notify's command is stopped after this long (a hung mail server must not
# keep the worker)
NOTIFY_TIMEOUT = 60.0


class Notices:
    def __init__(self, queue, report, notify=None):
        self.queue = queue
        self.report = report
        # argv run once the queue is finished, if this worker records its end
        self.notify = notify
        # the reporter keeps a live progress line (on a terminal)
        self.live = getattr(report, "live", False)
        # the reporter prints no notes (-q): none is worth counting the list
        # for (a second for a million entries, at every worker's exit)
        self.quiet = getattr(report, "quiet", False)
        self.next_progress = 0.0
        self.told_unreadable = False

    def progress(self, here):
        """Keep the reporter's live line up to date, at most every second."""
        now = time.monotonic()
        if self.live and now >= self.next_progress:
            self.next_progress = now + 1.0
            counts = self.queue.counts()
            # a batch's entries not running now are told apart (see CLAIMED)
            counts[CLAIMED] = self.queue.beyond_slots()
            counts[RUNNING] -= counts[CLAIMED]
            self.report("progress", counts=counts, here=here)

    def wake_at(self):
        """When the live line is due, or None."""
        return self.next_progress if self.live else None

    def nothing_pending(self):
        """Why nothing was pending, for the user."""
        queue = self.queue
        counts = queue.counts()
        path = queue.source.name
        if not sum(counts.values()):
            return "%s is empty" % path
        parts = ", ".join("%d %s" % (n, status) for status, n in counts.items() if n)
        waiting = queue.waiting() if counts["pending"] and queue.list.after else 0
        if waiting:
            blocked = len(queue.blocked())
            why = ["%d for entries not done yet" % (waiting - blocked)] if waiting > blocked else []
            if blocked:
                why.append("%d blocked by a failed or aborted one" % blocked)
            parts += "; the rest waits for dependencies: " + ", ".join(why)
        if counts["held"]:
            return "%s has %s (`cooperate-release %s --all` lets the held ones start)" % (
                path, parts, path)
        if counts["failed"]:
            return "%s has %s (`cooperate-retry %s --failed` runs the failed ones again)" % (
                path, parts, path)
        return "%s has %s" % (path, parts)

    def watch_list(self):
        """Say when the list has not read for a while, and when it reads again."""
        problem = self.queue.list.unreadable
        if problem is None:
            if self.told_unreadable:
                self.told_unreadable = False
                self.report("list", path=self.queue.list.path, problem=None)
        elif not self.told_unreadable and time.monotonic() - problem[1] >= SAY_UNREADABLE_AFTER:
            self.told_unreadable = True
            self.report("list", path=self.queue.list.path, problem=problem[0],
                        seconds=time.monotonic() - problem[1])

    def took_back(self):
        """Say which runs the last claim took back from dead workers, whose
        and why (one line each)."""
        for id_, attempt, holder, why, again in self.queue.taken_back:
            self.report("note", text="took back %s#%d from worker %s: %s; %s" % (
                id_, attempt, holder, why, "it is pending again" if again else
                "it had its retries: failed for good"))

    def announce(self, base_env):
        """Run --notify if the last transaction recorded the queue's end,
        with the counts and the list in its environment; it gets
        NOTIFY_TIMEOUT seconds."""
        counts = self.queue.finished
        if counts is None:
            return
        env = dict(base_env, COOPERATE_LIST=os.path.abspath(self.queue.list.path),
                   COOPERATE_TOTAL=str(sum(counts.values())))
        # set for an experiment only: for a plain list there is none to name
        env.pop("COOPERATE_EXPERIMENT", None)
        if self.queue.experiment:
            env["COOPERATE_EXPERIMENT"] = os.path.abspath(self.queue.experiment)
        env.update(("COOPERATE_%s" % status.upper(), str(n)) for status, n in counts.items())
        try:
            code = subprocess.run(self.notify, env=env, stdin=subprocess.DEVNULL,
                                  timeout=NOTIFY_TIMEOUT).returncode
            outcome = fmt.exit_text(code)
        except subprocess.TimeoutExpired:
            outcome = "killed after %g s" % NOTIFY_TIMEOUT
        except OSError as error:
            outcome = "could not start: %s" % error.strerror
        self.report("note", text="the queue is finished (%s): --notify %s" % (
            ", ".join("%d %s" % (n, status) for status, n in counts.items() if n), outcome))
