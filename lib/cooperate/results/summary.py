"""The summary of a queue, as status and the report show it: counts per
status, progress, the time left at the pace of the runs that ended, and the
details of running, failed and blocked entries. Reads the queue; writes
nothing.

Of the entries the journal has running, those a worker claimed in a batch
and is not running now (see not_running) are counted apart, as claimed:
while runs are short a worker holds up to 16 of them, one running.
"""

import time

from cooperate.queue import logs
from cooperate.queue.state import (ABORTED, CLAIMED, DONE, FAILED, HELD, PENDING, PRUNED, RUNNING,
                                   STATUSES, TIMEOUT)

COLUMNS = (PENDING, RUNNING, CLAIMED, DONE, FAILED, "stale", ABORTED, HELD)
# a count only lists with dependencies have ("after")
BLOCKED = "blocked"


def totals(queue, counts, busy, ended):
    """The summary's head from the counts: `ended` runs done took `busy`
    seconds in all (the pace that tells the time left)."""
    total = len(queue.list.ids)
    left = None
    if ended and counts[RUNNING]:
        # mean duration of finished runs, over as many slots as are busy now
        # (nothing running: no pace to tell the time left by)
        left = busy / ended * (counts[PENDING] + counts[RUNNING] + counts[CLAIMED]) / \
            counts[RUNNING]
    finished = counts[DONE] + counts[FAILED] + counts[ABORTED]
    return {"list": queue.list.path, "experiment": queue.experiment, "state": queue.dir,
            "total": total, "counts": counts, "left": left,
            "progress": finished / total if total else 1.0}


def not_running(queue, held):
    """The ids of the entries in `held`, [(worker, id, attempt, claimed
    at)] of live workers in list order, that are not running now. A worker
    runs at most its slots at once; while runs are short it claims a batch
    and runs its entries one after another, in claim order, noting each
    end in its heartbeat file until its next transaction records them
    (run/worker.py). So of a worker's entries, those noted ended are not
    running, nor any after the first `slots` of the rest."""
    by_worker = {}
    for item in held:
        by_worker.setdefault(item[0], []).append(item)
    found = set()
    for worker, items in by_worker.items():
        slots = queue.state.workers.get(worker, {}).get("slots")
        if slots is None or len(items) <= slots:
            continue
        noted = queue.leases.noted(worker)
        # stable: in list order within one claim, as next_pending takes them
        items.sort(key=lambda item: item[3])
        rest = [item for item in items if (item[1], item[2]) not in noted]
        found.update(item[1] for item in items if (item[1], item[2]) in noted)
        found.update(item[1] for item in rest[slots:])
    return found


def silent_for(queue, worker):
    """How long this process has watched the worker's heartbeat unchanged,
    if it missed two renewals by then; else None."""
    from cooperate.queue.lease import LEASE, heartbeat_every

    silent = queue.leases.watched(worker)
    lease = queue.state.workers.get(worker, {}).get("lease", LEASE)
    return silent if silent is not None and silent >= 2 * heartbeat_every(lease) else None


def summarise(queue):
    """What status shows of a queue: counts per status (COLUMNS, and
    BLOCKED for lists with dependencies), how many of the done entries were
    pruned (stopped early by a rule), progress, the time left, and per
    running, failed and blocked entry, per worker, the details (a dict, as
    `status --json` prints it). One pass over the list."""
    now = time.time()
    counts = dict.fromkeys(COLUMNS, 0)
    running, failed, hosts, by_worker = [], [], set(), {}
    # the done entries' run time, summed, and how many; done entries as the
    # snapshot has them (summed from its totals, see State.base_done)
    busy, ended, from_base = 0.0, 0, 0
    state, workers = queue.state, queue.state.workers
    executed, history = queue.list.executed, state.history
    # only entries an early-stopping rule judged (its "s" records) can be pruned
    judged = {record[1] for record in state.scores}
    pruned = 0

    def add_done(last):
        nonlocal busy, ended
        if last is not None:
            made = by_worker.setdefault(last[0], {})
            made[DONE] = made.get(DONE, 0) + 1
            busy += last[2] - last[1]
            ended += 1

    # entries never claimed, the common case in a large list, cost a lookup
    # each: counted from what is left once the claimed ones are counted
    claimed, done, get, based = 0, 0, state.getter(), state.base is not None
    done_code = state.code_of(DONE)
    for index, id_ in enumerate(queue.list.ids):
        code = get(id_)
        if code is None or id_ in executed:
            continue
        claimed += 1
        if code & 7 == done_code:
            # the common case in a large history: no Attempt objects
            if based and id_ not in history:
                from_base += 1
            else:
                add_done(state.ended(id_))
            if judged and id_ in judged:
                last = state.last(id_)
                pruned += last is not None and last.outcome == PRUNED
            done += 1
            continue
        status = STATUSES[code & 7]
        a = state.last(id_)
        if a is not None:
            made = by_worker.setdefault(a.worker, {})
            made[status] = made.get(status, 0) + 1
        if status == RUNNING:
            info = workers.get(a.worker, {})
            stale = queue.leases.is_stale(a)
            if not stale:
                hosts.add(info.get("host"))
            status = "stale" if stale else RUNNING
            running.append({"id": id_, "attempt": a.number, "worker": a.worker,
                            "host": info.get("host"), "pid": info.get("pid"),
                            "run_pid": a.process[0] if a.process else None,
                            "slurm": slurm_job(info),
                            "started": a.start, "elapsed": now - a.start, "stale": stale,
                            # seconds this process watched its heartbeat unchanged, past
                            # two of its renewals (or None): see queue/lease.py
                            "silent": silent_for(queue, a.worker),
                            "command": queue.list.describe(index)})
        elif status == FAILED:
            failed.append({"id": id_, "attempt": a.number, "code": a.code,
                           "outcome": a.outcome, "limit": time_limit(queue, index, a),
                           "host": workers.get(a.worker, {}).get("host"),
                           "ended": a.end, **log_files(queue, id_, a),
                           "slurm": slurm_job(workers.get(a.worker, {})),
                           "attempts": [{"attempt": t.number, "outcome": t.outcome,
                                         "code": t.code, "limit": time_limit(queue, index, t),
                                         **log_files(queue, id_, t),
                                         "host": workers.get(t.worker, {}).get("host")}
                                        for t in a.chain()],
                           "command": queue.list.describe(index)})
        counts[status] += 1
    counts[DONE] += done + len(executed)
    counts[PENDING] += len(queue.list.ids) - claimed - len(executed)
    waiting = not_running(queue, [(r["worker"], r["id"], r["attempt"], r["started"])
                                  for r in running if not r["stale"]])
    if waiting:
        batched = [r for r in running if r["id"] in waiting]
        running = [r for r in running if r["id"] not in waiting]
        counts[RUNNING] -= len(batched)
        counts[CLAIMED] += len(batched)
        for r in batched:
            made = by_worker[r["worker"]]
            made[RUNNING] -= 1
            made[CLAIMED] = made.get(CLAIMED, 0) + 1
    else:
        batched = []
    if from_base:
        rows, base_busy, base_by_worker = state.base_done()
        if rows == from_base:
            busy, ended = busy + base_busy, ended + rows
            for worker, n in base_by_worker.items():
                made = by_worker.setdefault(worker, {})
                made[DONE] = made.get(DONE, 0) + n
        else:
            # some of the snapshot's done entries are no longer in the list
            for id_ in queue.list.ids:
                code = get(id_)
                if (code is not None and STATUSES[code & 7] == DONE and id_ not in history
                        and id_ not in executed):
                    add_done(state.ended(id_))
    blocked = []
    if queue.list.after:
        # pending entries that cannot start: counted apart from the pending ones
        names = {}
        for index, (d, status) in queue.blocked().items():
            if d not in names:
                names[d] = queue.list.describe(d)
            blocked.append({"id": queue.list.ids[index], "waits_for": queue.list.ids[d],
                            "name": names[d], "status": status})
        counts[PENDING] -= len(blocked)
        counts[BLOCKED] = len(blocked)
    comments = sorted((w.get("since", 0), w["comment"]) for w in workers.values() if w.get("comment"))
    report = totals(queue, counts, busy, ended)
    report.update({
        # done entries whose latest attempt a rule stopped early (counted as done)
        "pruned": pruned,
        "hosts": sorted(h for h in hosts if h), "drained": sorted(state.drained),
        "comment": comments[-1][1] if comments else None,
        "running": running, "claimed": batched, "failed": failed, "blocked": blocked,
        "workers": [{"worker": w, "host": workers.get(w, {}).get("host"),
                     "slurm": slurm_job(workers.get(w, {})), "entries": made}
                    for w, made in sorted(by_worker.items())]})
    if queue.unreadable:
        report["unreadable_records"] = queue.unreadable
    trouble = queue.trouble()
    if trouble:
        report["trouble"] = trouble
    return report


def log_files(queue, id_, attempt):
    """An attempt's logs, None for those not there, and whether its worker
    detached its runs (see logs.of_attempt)."""
    out, err, detached = logs.of_attempt(queue, id_, attempt)
    return {"out": out, "err": err, "detached": detached}


def slurm_job(info):
    """`JOB_TASK` of a worker started by Slurm, else None."""
    if "slurm_job_id" not in info:
        return None
    if "slurm_array_job_id" in info:
        return "%s_%s" % (info["slurm_array_job_id"], info.get("slurm_array_task_id", "?"))
    return info["slurm_job_id"]


def time_limit(queue, index, attempt):
    """The time limit a timed-out attempt had (the entry's own "timeout",
    else its worker's --timeout), or None."""
    if attempt.outcome != TIMEOUT:
        return None
    entry = queue.list.entry(index)
    if isinstance(entry, dict) and "timeout" in entry:
        return entry["timeout"]
    return queue.state.workers.get(attempt.worker, {}).get("timeout")
