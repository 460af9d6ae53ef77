"""What happened to each entry: the journal's records folded into a compact
state (statuses, attempts, workers, holders), and the words for it.

An entry's status and latest attempt number live in one small int (attempt
* 8 + status), so a worker keeps 100,000 entries in a few MB. Folding is
pure: the same records give the same state in every process, on every
machine. Imports nothing but the standard library.
"""


PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
# stopped by a user's abort (retry makes it pending again); held: not to be
# claimed until released
ABORTED, HELD = "aborted", "held"
# outcomes of an attempt besides done, failed and aborted: interrupted (its
# worker was stopped) and lost (its worker died): the entry is pending again
INTERRUPTED, LOST = "interrupted", "lost"
# stopped at its time limit (an entry's "timeout", the worker's --timeout):
# a failure, which --retries runs again as it runs failed attempts again
TIMEOUT = "timeout"
# stopped early by a rule (ASHA: its metric was not in the top of a rung):
# a success, never retried; the rule's "s" record says why
PRUNED = "pruned"
# of the running entries, those a worker claimed in a batch and is not
# running now (waiting their turn, or ended and not recorded yet): a count
# split off RUNNING for display (see Queue.beyond_slots), never recorded
CLAIMED = "claimed"
# what take's `accept` says of an entry it cannot take yet but may take
# later (its GPUs are busy): skipped by this claim, looked at by the next
LATER = "later"


class Attempt:
    """One attempt at an entry; `previous` links to the one before it;
    `process`: (pid, start time) of its first process, once recorded (its
    process group has the same number)."""

    __slots__ = ("number", "worker", "start", "end", "outcome", "code", "previous", "process")

    def __init__(self, number, worker, start, previous):
        self.number, self.worker, self.start, self.previous = number, worker, start, previous
        self.end = self.outcome = self.code = self.process = None

    def chain(self):
        """This attempt and the ones before it, oldest first."""
        attempts = []
        a = self
        while a is not None:
            attempts.append(a)
            a = a.previous
        return attempts[::-1]


# the kinds of records whose second item is an entry's id
ENTRY_RECORDS = frozenset("cephuas")
STATUSES = (PENDING, RUNNING, DONE, FAILED, ABORTED, HELD)
_CODE = {status: i for i, status in enumerate(STATUSES)}
CODE_PENDING, CODE_RUNNING, CODE_DONE, CODE_ABORTED, CODE_HELD = (
    _CODE[s] for s in (PENDING, RUNNING, DONE, ABORTED, HELD))
# an attempt's outcome -> the entry's status
_AFTER = {DONE: DONE, FAILED: FAILED, ABORTED: ABORTED, INTERRUPTED: PENDING, LOST: PENDING,
          PRUNED: DONE}


class State:
    """The journal folded per entry.

    An entry's status and latest attempt number live in one small int
    (attempt * 8 + status), so a worker keeps 100,000 entries in a few MB.
    With `history` (status, retry) each attempt's details are kept too.
    Without it, a `ledger` (if given) is told of each attempt as the records
    make it (ledger.claimed(id, number, worker, start)) and end it
    (ledger.ended(id, end, outcome, code, start if not at its claim, else
    None)): a fold that keeps attempts its own way (a compaction's: no
    object per attempt) by the rules of this one.
    """

    def __init__(self, history=True, ledger=None):
        self.codes = {}
        self.history = {} if history else None
        self.ledger = None if history else ledger
        # the snapshot the state started from (for the attempts before it)
        self.base = None
        self.workers = {}
        self.quit = {}
        self.requeued = []
        self.aborting = set()
        # running entries -> the worker holding them
        self.holders = {}
        # running entries -> (pid, start time) of their first process, if recorded
        self.processes = {}
        # hosts whose workers finish what they run and take nothing new
        self.drained = set()
        # the queue's end was announced (--notify) and nothing was claimed since
        self.notified = False
        # what rules recorded of running attempts (["s", id, attempt, worker,
        # time, key, data] records, journal order, the first per entry and key)
        self.scores = []
        # (id, key) -> that record; key -> its records
        self.scored, self.by_key = {}, {}
        self._names = {}

    @staticmethod
    def code_of(status):
        return _CODE[status]

    def code(self, id_):
        """The entry's code (attempt * 8 + status), or None if it never ran.
        `codes` holds them all but when the state started from a packed
        snapshot: then only those the journal changed, the rest are found
        in the snapshot."""
        code = self.codes.get(id_)
        if code is None and self.base is not None and self.base.packed:
            row = self.base.row(id_)
            if row is not None:
                return self.base.codes[row]
        return code

    def getter(self):
        """The fastest function id -> code or None (a pass over every entry)."""
        if self.base is None or not self.base.packed:
            return self.codes.get
        return self.base.ids.getter(self.base.codes, self.codes.get)

    def status(self, id_):
        code = self.code(id_)
        return PENDING if code is None else STATUSES[code & 7]

    def attempts(self, id_):
        """How many attempts the entry has had."""
        return (self.code(id_) or 0) >> 3

    def last(self, id_):
        """The entry's latest Attempt (with history), or None."""
        a = self.history.get(id_)
        if a is None and self.base is not None:
            row = self.base.row(id_)
            if row is not None:
                for number, worker, start, end, outcome, code in self.base.attempts(row):
                    a = Attempt(number, worker, start, a)
                    a.end, a.outcome, a.code = end, outcome, code
                process = self.processes.get(id_)
                if a is not None and process is not None:
                    a.process = tuple(process)
        return a

    def ended(self, id_):
        """(worker, start, end) of the entry's latest attempt, without making
        Attempt objects (summaries over many finished entries), or None."""
        a = self.history.get(id_)
        if a is not None:
            return a.worker, a.start, a.end
        if self.base is not None:
            return self.base.latest(id_)
        return None

    def base_done(self):
        """(how many, their run time summed, {worker: how many}) of the
        entries done in the snapshot and not changed since, from the
        snapshot's totals (a summary without a pass over its rows)."""
        done = self.base.head["done"]
        rows, busy, by_worker = done["rows"], done["busy"], dict(done["by_worker"])
        for id_ in self.history:
            row = self.base.row(id_)
            if row is not None and self.base.codes[row] & 7 == CODE_DONE:
                worker, start, end = self.base.latest(id_)
                rows, busy = rows - 1, busy - (end - start)
                by_worker[worker] -= 1
        return rows, busy, by_worker

    def _latest(self, id_):
        """The entry's latest attempt, kept in the history to be changed."""
        a = self.history.get(id_)
        if a is None:
            a = self.history[id_] = self.last(id_)
        return a

    def load(self, snap, only=None):
        """Start from a snapshot: every entry of it, or those in `only`."""
        head = snap.head
        if snap.packed and only is None:
            # codes come from the snapshot until the journal changes them
            self.codes = {}
        elif only is None:
            # the snapshot's own dict, if it made one (see snapshot.load): the
            # state changes it, so the snapshot lets go of it
            self.codes, snap.by_id = snap.by_id, None
            if self.codes is None:
                self.codes = dict(zip(snap.ids, snap.codes))
        else:
            rows = ((id_, snap.row(id_)) for id_ in only)
            self.codes = {id_: snap.codes[row] for id_, row in rows if row is not None}
        if self.history is not None or snap.packed:
            self.base = snap
        self.workers, self.quit = head["workers"], head["quit"]
        self.drained, self.aborting = set(head["drained"]), set(head["aborting"])
        self.holders = head["holders"]
        self.processes = {id_: tuple(p) for id_, p in head["processes"].items()}
        self.notified = head.get("notified", False)
        self.scores, self.scored, self.by_key = [], {}, {}
        self._score(head.get("scores", ()))

    def _score(self, records):
        for r in records:
            if (r[1], r[5]) not in self.scored:
                self.scores.append(r)
                self.scored[r[1], r[5]] = r
                self.by_key.setdefault(r[5], []).append(r)

    def _seed(self, records):
        """Over a packed snapshot: the codes of the entries these records
        name, from it, so that they are changed by the rules below."""
        codes, base = self.codes, self.base
        for r in records:
            if r[0] in ENTRY_RECORDS and len(r) > 1 and type(r[1]) is str and r[1] not in codes:
                row = base.row(r[1])
                if row is not None:
                    codes[r[1]] = base.codes[row]

    def apply(self, records):
        if self.base is not None and self.base.packed:
            self._seed(records)
        codes, history, ledger = self.codes, self.history, self.ledger
        for r in records:
            kind = r[0]
            if kind == "c":
                id_, number = r[1], r[2]
                codes[id_] = number << 3 | CODE_RUNNING
                self.holders[id_] = r[3]
                self.notified = False
                if history is not None:
                    worker = self._names.setdefault(r[3], r[3])
                    previous = history.get(id_)
                    if previous is None and self.base is not None:
                        previous = self.last(id_)
                    history[id_] = Attempt(number, worker, r[4], previous)
                elif ledger is not None:
                    ledger.claimed(id_, number, r[3], r[4])
            elif kind == "e":
                id_, number, outcome = r[1], r[2], r[5]
                code = codes.get(id_)
                # fencing: only the entry's current, running attempt may end
                # it; a late record of an older attempt stays as history only
                if code is None or code != number << 3 | CODE_RUNNING:
                    continue
                status = _AFTER.get(outcome, FAILED)
                if len(r) > 7 and outcome in (FAILED, TIMEOUT, LOST):
                    # the recorder decided, by its retry policy, whether a
                    # failed, timed-out or lost attempt gets another one
                    status = PENDING if r[7] else FAILED
                codes[id_] = number << 3 | _CODE[status]
                self.aborting.discard(id_)
                self.holders.pop(id_, None)
                self.processes.pop(id_, None)
                if status == PENDING:
                    self.requeued.append(id_)
                if history is not None:
                    a = self._latest(id_)
                    a.end, a.outcome, a.code = r[4], self._names.setdefault(outcome, outcome), r[6]
                    if len(r) > 8:
                        # claimed in a batch, it started later
                        a.start = r[8]
                elif ledger is not None:
                    ledger.ended(id_, r[4], outcome, r[6], r[8] if len(r) > 8 else None)
            elif kind == "r" or kind == "u":
                # retry (anything not running) or release (held only)
                code = codes.get(r[1])
                if code is not None and (
                        code & 7 == CODE_HELD or kind == "r" and code & 7 != CODE_RUNNING):
                    codes[r[1]] = code >> 3 << 3 | CODE_PENDING
                    self.requeued.append(r[1])
            elif kind == "h":
                code = codes.get(r[1], CODE_PENDING)
                if code & 7 == CODE_PENDING:
                    codes[r[1]] = code >> 3 << 3 | CODE_HELD
            elif kind == "a":
                # abort: a running attempt is stopped by its worker, which
                # records it as aborted; anything not started is aborted now
                code = codes.get(r[1], CODE_PENDING)
                if code & 7 == CODE_RUNNING:
                    self.aborting.add(r[1])
                elif code & 7 in (CODE_PENDING, CODE_HELD):
                    codes[r[1]] = code >> 3 << 3 | CODE_ABORTED
            elif kind == "p":
                id_, number = r[1], r[2]
                if codes.get(id_) == number << 3 | CODE_RUNNING:
                    self.processes[id_] = (r[3], r[4])
                    if history is not None:
                        self._latest(id_).process = (r[3], r[4])
            elif kind == "d":
                (self.drained.add if r[3] else self.drained.discard)(r[1])
            elif kind == "w":
                self.workers[r[1]] = r[2]
            elif kind == "q":
                self.quit[r[1]] = r[2]
            elif kind == "n":
                self.notified = True
            elif kind == "s":
                # a rule's value and decision (early stopping): kept once per
                # entry and key, and only from the entry's running attempt
                if codes.get(r[1]) == r[2] << 3 | CODE_RUNNING:
                    self._score([r])
