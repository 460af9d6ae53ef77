"""What ran, counted by its side effects rather than by our records.

Each run of an effect() entry appends "start", "tick" and "end" lines to a
file (O_APPEND: the file's order is the order in which they happened), each
with the entry's key (the caller's own name for it), the id, attempt and
worker the run was given, and its shell's pid. Used by the tests and by
`make soak` (so: no pytest here)."""

import collections
import json
import os


def effect(key, ticks=0, tick=0.01, out="ran.txt"):
    """An argv entry that records its execution in `out`: a start line, a
    tick every `tick` seconds `ticks` times, an end line."""
    script = ('e() { echo "$1 %s $COOPERATE_ENTRY $COOPERATE_ATTEMPT $COOPERATE_WORKER $$" >> %s; }; '
              'e start; i=0; while [ $i -lt %d ]; do sleep %s; e tick; i=$((i+1)); done; e end'
              % (key, out, ticks, tick))
    return ["sh", "-c", script, key]


def records(state_dir):
    """The queue's records, the attempts that compaction folded into a
    snapshot included (given back as the claim and end records they were
    folded from, before the journal's own records; a lost attempt is
    "again" if a later one exists). Needs the toolkit's lib/ on sys.path."""
    with open(os.path.join(state_dir, "journal")) as f:
        tail = [json.loads(line) for line in f if line.endswith("\n")]
    if not tail or tail[0][0] != "g":
        return tail
    from cooperate.queue import snapshot

    snap = snapshot.load(state_dir, tail[0][1], trusted=True)
    folded = [["w", worker, info] for worker, info in snap.head["workers"].items()]
    for row, id_ in enumerate(snap.ids):
        attempts = snap.attempts(row)
        for k, (number, worker, start, end, outcome, code) in enumerate(attempts):
            folded.append(["c", id_, number, worker, start])
            if end is not None:
                folded.append(["e", id_, number, worker, end, outcome, code,
                               k + 1 < len(attempts)])
    return folded + tail


Execution = collections.namedtuple("Execution", "key id attempt worker pid first last ended")


def executions(path):
    """The executions recorded in an effect() file, in the order they started."""
    found = {}
    try:
        with open(path) as f:
            # (other lines, such as a notification's, keep their place in
            # the order but are not executions)
            lines = [line.split() for line in f if line.endswith("\n")
                     and line.startswith(("start ", "tick ", "end "))]
    except FileNotFoundError:
        return []
    for n, (what, key, id_, attempt, worker, pid) in enumerate(lines):
        # pids repeat across simulated hosts (pid namespaces): one execution
        # is one pid of one attempt
        e = found.get((id_, attempt, pid))
        if e is None:
            e = Execution(key, id_, int(attempt), worker, int(pid), n, n, False)
        found[id_, attempt, pid] = e._replace(last=n, ended=e.ended or what == "end")
    return sorted(found.values(), key=lambda e: e.first)


def tally(path, records, keys):
    """What ran (the effect file at `path`) against the journal's records
    and the keys that should have run. The promise holds when every list
    here is empty:

      unknown      keys that ran but were not asked for
      missing      keys that never ran
      several_ids  keys that ran under more than one entry id
      unclaimed    executions whose attempt no record gave to their worker
      overlaps     two executions of one key at once: the later one started
                   before the earlier one's last line
      not_once     keys without exactly one execution that ran to its end
                   and is recorded done
      unexplained  executions that ran to their end, are not the done one,
                   and are not recorded lost or interrupted (their worker
                   died, or was stopped, as they ended)

    and `repeats` counts the executions that ran to their end again."""
    runs = executions(path)
    claimed = {(r[1], r[2]): r[3] for r in records if r[0] == "c"}
    outcome = {}
    for r in records:
        if r[0] == "e":
            # a later record of the same attempt is history only (fencing)
            outcome.setdefault((r[1], r[2]), r[5])
    by_key = collections.defaultdict(list)
    for e in runs:
        by_key[e.key].append(e)
    t = {"executions": runs, "repeats": 0,
         "unknown": sorted(set(by_key) - set(keys)), "missing": sorted(set(keys) - set(by_key)),
         "several_ids": [], "unclaimed": [], "overlaps": [], "not_once": [], "unexplained": []}
    for key, mine in by_key.items():
        t["overlaps"] += [(a, b) for a, b in zip(mine, mine[1:]) if a.last >= b.first]
        if len({e.id for e in mine}) > 1:
            t["several_ids"].append(mine)
        t["unclaimed"] += [e for e in mine if claimed.get((e.id, e.attempt)) != e.worker]
        ended = [(e, outcome.get((e.id, e.attempt))) for e in mine if e.ended]
        if [out for _, out in ended].count("done") != 1:
            t["not_once"].append(ended)
        t["unexplained"] += [(e, out) for e, out in ended
                             if out not in ("done", "lost", "interrupted")]
        t["repeats"] += max(0, len(ended) - 1)
    return t
