"""Compaction (snapshot.py): the journal folded into a snapshot while
workers run, counted by what ran (effects' file), not by our records; the
compactor killed at each step of its work; readers and workers that find
the journal replaced under them.

COOPERATE_COMPACT_AT makes the queue compact whenever its journal passes
that many bytes, so that these small queues compact many times."""

import collections
import json
import os
import shutil
import subprocess

import pytest

from effects import effect, executions
from util import (check_ran_once, command, run, start, status, wait_for, write_list)


def env(compact_at):
    return dict(os.environ, COOPERATE_COMPACT_AT=str(compact_at))


def generation(state):
    with open(os.path.join(state, "journal")) as f:
        first = json.loads(f.readline() or "[]")
    return first[1] if first and first[0] == "g" else 0


def snapshots(state):
    return sorted(n for n in os.listdir(state) if n.startswith("snapshot."))


def make_queue(folder, n):
    keys = [str(i) for i in range(n)]
    write_list(folder / "l.json", [effect(k) for k in keys])
    return keys


def test_workers_compacting_as_they_go_run_every_entry_once(tmp_path):
    keys = make_queue(tmp_path, 1500)
    state = str(tmp_path / "l.json.cooperate")
    workers = [start("run", "l.json", cwd=tmp_path, env=env(3000), stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE) for _ in range(6)]
    for w in workers:
        _, err = w.communicate(timeout=600)
        assert w.returncode == 0, err
    check_ran_once(tmp_path / "ran.txt", state, keys)
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["done"] == 1500 and report["total"] == 1500
    # per worker, as many done as their runs ended (the snapshot's totals)
    ran = collections.Counter(e.worker for e in executions(tmp_path / "ran.txt") if e.ended)
    assert {w["worker"]: w["entries"].get("done", 0) for w in report["workers"]} == dict(ran)
    assert generation(state) > 5
    assert snapshots(state) == ["snapshot.%d" % generation(state)]
    assert not os.path.exists(os.path.join(state, "journal.new"))


def test_status_while_compacting_never_goes_back_or_fails(tmp_path):
    make_queue(tmp_path, 600)
    workers = [start("run", "l.json", cwd=tmp_path, env=env(2000), stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL) for _ in range(3)]
    seen = []
    while any(w.poll() is None for w in workers):
        result = run("status", "l.json", "--json", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["total"] == 600
        seen.append(report["counts"]["done"])
    assert seen == sorted(seen), "done went back: %s" % seen
    assert status("l.json", cwd=tmp_path)["counts"]["done"] == 600
    assert generation(str(tmp_path / "l.json.cooperate")) > 3


def test_a_worker_idle_through_many_compactions_records_its_run(tmp_path):
    """A worker holds a long run while others replace the journal many
    times (a reused inode number must not fool it); its end is recorded
    once, and nothing runs twice."""
    gate = tmp_path / "gate"
    long_entry = ["sh", "-c", 'e() { echo "$1 long $COOPERATE_ENTRY $COOPERATE_ATTEMPT '
                  '$COOPERATE_WORKER $$" >> ran.txt; }; '
                  'e start; while [ ! -e gate ]; do sleep 0.02; done; e end']
    keys = [str(i) for i in range(400)]
    write_list(tmp_path / "l.json", [long_entry] + [effect(k) for k in keys])
    slow = start("run", "l.json", "--max-runs", "1", cwd=tmp_path, env=env(2000),
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (tmp_path / "ran.txt").exists(), 60, "the long run to start")
    state = str(tmp_path / "l.json.cooperate")
    fast = run("run", "l.json", cwd=tmp_path, env=env(2000), timeout=600)
    assert fast.returncode == 0, fast.stderr
    assert generation(state) > 5
    gate.touch()
    out, err = slow.communicate(timeout=120)
    assert slow.returncode == 0, err
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["done"] == 401
    with open(tmp_path / "ran.txt") as f:
        assert sum(1 for line in f if line.startswith("end long")) == 1
    check_ran_once(tmp_path / "ran.txt", state, keys + ["long"])


def test_history_before_a_compaction_stays_visible(tmp_path):
    write_list(tmp_path / "l.json", [["sh", "-c", "exit 3"]] + [["true"]] * 30)
    # a worker that saw a run fail for good exits 1
    assert run("run", "l.json", "--retries", "1", cwd=tmp_path, env=env(500)).returncode == 1
    assert run("retry", "l.json", "--failed", cwd=tmp_path, env=env(500)).returncode == 0
    assert run("run", "l.json", cwd=tmp_path, env=env(500)).returncode == 1
    state = str(tmp_path / "l.json.cooperate")
    assert generation(state) >= 2
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["failed"] == 1 and report["counts"]["done"] == 30
    failed, = report["failed"]
    assert [a["attempt"] for a in failed["attempts"]] == [1, 2, 3]
    assert {a["code"] for a in failed["attempts"]} == {3}


def test_a_damaged_snapshot_is_one_line_and_changes_nothing(tmp_path):
    write_list(tmp_path / "l.json", [["true"]] * 20)
    assert run("run", "l.json", cwd=tmp_path, env=env(300)).returncode == 0
    state = tmp_path / "l.json.cooperate"
    name, = snapshots(str(state))
    with open(state / name, "r+b") as f:
        f.write(b"{garbage")
    before = (state / "journal").read_bytes()
    for args in (("status", "l.json"), ("run", "l.json")):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and "damaged" in result.stderr
    assert (state / "journal").read_bytes() == before


# Where the compactor dies (see snapshot.py), as strace's fault injection
# kills it on entering a system call, before the call happens:
# (syscall, file it acts on, which call of those, what is then on disk)
CRASH_POINTS = [
    ("write", "snapshot.2", 2, "snapshot.2 half written"),
    ("fsync", "snapshot.2", 1, "snapshot.2 written, not synced"),
    ("openat", "journal.new", 1, "snapshot.2 complete, no new journal"),
    ("rename", "journal.new", 1, "the new journal written, not yet renamed"),
    ("unlink", "snapshot.1", 1, "committed, the old snapshot left behind"),
]


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (apt-get install strace)")
@pytest.mark.parametrize("syscall,target,when,what", CRASH_POINTS,
                         ids=[p[3] for p in CRASH_POINTS])
def test_the_compactor_killed_at_each_step_loses_nothing(tmp_path, syscall, target, when, what):
    keys = make_queue(tmp_path, 60)
    state = tmp_path / "l.json.cooperate"
    # generation 1 with some history, then more records in its journal
    assert run("run", "l.json", "--max-runs", "15", cwd=tmp_path, env=env(1)).returncode == 0
    assert generation(str(state)) >= 1
    assert run("run", "l.json", "--max-runs", "15", cwd=tmp_path).returncode == 0
    gen = generation(str(state))
    # rename the crash point's files to this generation
    target = target.replace("snapshot.2", "snapshot.%d" % (gen + 1)).replace(
        "snapshot.1", "snapshot.%d" % gen)
    before = status("l.json", cwd=tmp_path)
    pending = [i for i in ids(tmp_path) if i not in ran_ids(tmp_path)][0]
    # `hold` appends its record, then compacts (COOPERATE_COMPACT_AT=1)
    crash = subprocess.run(
        # the state folder's path as the toolkit names it (relative) and as
        # the kernel gives it for a descriptor (absolute)
        ["strace", "-qq", "-o", "/dev/null", "-P", str(state / target),
         "-P", os.path.join("l.json.cooperate", target), "-e", "trace=" + syscall,
         "-e", "inject=%s:signal=KILL:when=%d" % (syscall, when)]
        + command("hold", "l.json", pending),
        cwd=tmp_path, env=env(1), capture_output=True, text=True, timeout=120)
    assert crash.returncode == -9 or crash.returncode == 137, (what, crash.stderr)
    assert generation(str(state)) == (gen + 1 if syscall == "unlink" else gen), what
    after = status("l.json", cwd=tmp_path)
    # the hold was recorded before the compaction began: nothing else changed
    assert after["counts"]["done"] == before["counts"]["done"] == 30, what
    assert after["counts"]["held"] == 1 and after["counts"]["pending"] == 29, what
    assert run("release", "l.json", pending, cwd=tmp_path).returncode == 0
    result = run("run", "l.json", cwd=tmp_path, env=env(1))
    assert result.returncode == 0, (what, result.stderr)
    check_ran_once(tmp_path / "ran.txt", str(state), keys)
    assert status("l.json", cwd=tmp_path)["counts"]["done"] == 60
    assert snapshots(str(state)) == ["snapshot.%d" % generation(str(state))], what
    assert not (state / "journal.new").exists()


def ids(folder):
    from cooperate.queue.listfile import entry_id

    with open(folder / "l.json") as f:
        return [entry_id(e) for e in json.load(f)]


def ran_ids(folder):
    return {e.id for e in executions(folder / "ran.txt")}


def folded(list_path, state_dir, packed=False):
    """What a reader with history folds from a state folder: every entry's
    code and attempts, and the rest of the state (the snapshot's ids
    `packed`, or as a dict)."""
    from cooperate.queue.core import Queue

    queue = Queue(str(list_path), state_dir=str(state_dir), trusted=True, packed=packed)
    queue.read()
    state = queue.state
    entries = {}
    known = set(state.codes) | set(state.base.ids if state.base is not None else ())
    for id_ in list(queue.list.ids) + ["0" * 12, "0" * 12 + "-1", "x"]:
        assert (state.code(id_) is not None) == (id_ in known), id_
    for id_ in known:
        code = state.code(id_)
        assert state.getter()(id_) == code and state.attempts(id_) == code >> 3
        last = state.last(id_)
        entries[id_] = (code, [(a.number, a.worker, a.start, a.end, a.outcome, a.code)
                               for a in (last.chain() if last is not None else [])])
    return (entries, state.workers, state.quit, state.holders, state.processes,
            sorted(state.drained), sorted(state.aborting), state.scores, state.notified)


def done_totals(list_path, state_dir):
    """The done entries' count, run time and count per worker, summed."""
    from cooperate.queue.core import Queue
    from cooperate.queue.state import DONE, STATUSES

    queue = Queue(str(list_path), state_dir=str(state_dir), trusted=True)
    queue.read()
    state = queue.state
    rows, busy, by_worker = 0, 0.0, collections.Counter()
    for id_, code in state.codes.items():
        if STATUSES[code & 7] == DONE:
            worker, start, end = state.ended(id_)
            rows, busy = rows + 1, busy + end - start
            by_worker[worker] += 1
    return rows, busy, dict(by_worker)


def compact_here(state_dir):
    """Compact a state folder in this process (as a worker would, holding
    its lock); returns the new snapshot's path."""
    from cooperate.queue import snapshot
    from cooperate.queue.lock import QueueLock
    from cooperate.queue.state import State

    with QueueLock(os.path.join(str(state_dir), "lock"), 10, 0o600):
        new, _, _ = snapshot.compact(str(state_dir), generation(str(state_dir)), State, 0o600)
    return os.path.join(str(state_dir), "snapshot.%d" % new)


def test_a_compaction_keeps_what_the_journal_says(tmp_path):
    """The state read from a new snapshot is the state read from the old
    one and the journal: entries the old snapshot has that ran again, the
    end of an attempt the old snapshot has running, entries held or aborted
    (no attempt), new entries with longer ids (a list's copies), and the
    done entries' totals."""
    gate = tmp_path / "gate"
    long_entry = ["sh", "-c", "while [ ! -e gate ]; do sleep 0.02; done", "long"]
    entries = ([long_entry] + [["true", str(i)] for i in range(60)]
               + [["sh", "-c", "exit 3", str(i)] for i in range(4)])
    write_list(tmp_path / "l.json", entries)
    state = tmp_path / "l.json.cooperate"
    slow = start("run", "l.json", "--max-runs", "1", cwd=tmp_path, stdout=subprocess.DEVNULL,
                 stderr=subprocess.PIPE)
    wait_for(lambda: status("l.json", cwd=tmp_path)["counts"]["running"] == 1, 60,
             "the long run to start")
    # the others run, compacting as they go: the long run is in the snapshot
    assert run("run", "l.json", "--retries", "1", cwd=tmp_path, env=env(2000)).returncode == 1
    assert generation(str(state)) >= 2
    gate.touch()
    _, err = slow.communicate(timeout=120)
    assert slow.returncode == 0, err
    # then, in the journal: failed entries run again, copies appended
    # (ids with "-1"), an entry held and one aborted
    assert run("retry", "l.json", "--failed", cwd=tmp_path).returncode == 0
    write_list(tmp_path / "l.json", entries + entries[1:4] + [["true", "held"], ["true", "gone"]])
    assert run("run", "l.json", "--max-runs", "6", cwd=tmp_path).returncode == 1
    from cooperate.queue.listfile import entry_id

    assert run("hold", "l.json", entry_id(["true", "held"]), cwd=tmp_path).returncode == 0
    result = run("abort", "l.json", entry_id(["true", "gone"]), "-y", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    before = tmp_path / "before"
    shutil.copytree(str(state), str(before))
    from cooperate.queue import snapshot
    from cooperate.queue.state import CODE_RUNNING

    old = snapshot.load(str(state), generation(str(state)), trusted=True)
    assert old.codes[old.row(entry_id(long_entry))] & 7 == CODE_RUNNING
    expected, totals = folded(tmp_path / "l.json", before), done_totals(tmp_path / "l.json", before)
    # a reader of the snapshot's ids packed folds the same
    assert folded(tmp_path / "l.json", before, packed=True) == expected
    with open(compact_here(state), "rb") as f:
        head = json.loads(f.readline().rpartition(b"\t")[0])
    assert folded(tmp_path / "l.json", state) == expected
    assert len(expected[0]) == 69 and head["width"] > old.head["width"]
    failed = [attempts for code, attempts in expected[0].values() if len(attempts) == 3]
    assert len(failed) == 4 and all(a[-1][4] == "failed" for a in failed)
    assert (head["done"]["rows"], head["done"]["by_worker"]) == (totals[0], totals[2])
    assert head["done"]["busy"] == pytest.approx(totals[1])
    # the new snapshot holds everything: the journal is empty, the state the same
    assert [json.loads(line)[0] for line in open(state / "journal")] == ["g"]
    result = run("run", "l.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["held"] == 1 and report["counts"]["aborted"] == 1
    assert report["counts"]["done"] == 64 and report["counts"]["failed"] == 4


def rewrite(path, byteorder=True):
    """Rewrite a snapshot as a machine of the other byte order writes it
    (`byteorder`), or as version 1 did (no checksums)."""
    from array import array
    import zlib

    from cooperate.queue import snapshot

    with open(path, "rb") as f:
        head = json.loads(f.readline().rpartition(b"\t")[0])
        rest = f.read()
    n, m, width = head["rows"], head["attempts"], head["width"]
    parts, at = [rest[:n * width]], n * width
    for kind, count in [("i", n), ("i", n)] + [(kind, m) for _, kind in snapshot.COLUMNS]:
        values = array(kind)
        values.frombytes(rest[at:at + values.itemsize * count])
        at += values.itemsize * count
        if byteorder:
            values.byteswap()
        parts.append(values.tobytes())
    if byteorder:
        head["byteorder"] = "big" if head["byteorder"] == "little" else "little"
        head["crc"] = [zlib.crc32(part) for part in parts]
        text = json.dumps(head).encode()
        line = text + b"\t%08x\n" % zlib.crc32(text)
    else:
        del head["crc"]
        head["version"] = 1
        line = json.dumps(head).encode() + b"\n"
    with open(path, "wb") as f:
        f.write(line + b"".join(parts))


def test_a_snapshot_of_the_other_byte_order_or_of_version_1_compacts_the_same(tmp_path):
    write_list(tmp_path / "l.json", [["true", str(i)] for i in range(30)]
               + [["sh", "-c", "exit 3", str(i)] for i in range(3)])
    assert run("run", "l.json", "--retries", "1", cwd=tmp_path, env=env(1000)).returncode == 1
    assert run("retry", "l.json", "--failed", cwd=tmp_path).returncode == 0
    assert run("run", "l.json", cwd=tmp_path).returncode == 1
    state = tmp_path / "l.json.cooperate"
    made = []
    for name, how in (("native", None), ("swapped", True), ("version-1", False)):
        copy = tmp_path / name
        shutil.copytree(str(state), str(copy))
        if how is not None:
            rewrite(str(copy / snapshots(str(copy))[0]), byteorder=how)
        assert folded(tmp_path / "l.json", copy, packed=True) == folded(tmp_path / "l.json", copy)
        with open(compact_here(copy), "rb") as f:
            head = json.loads(f.readline().rpartition(b"\t")[0])
            del head["time"]
            made.append((head, f.read()))
    assert made[0][0]["rows"] == 33 and made[0][0]["attempts"] == 39
    assert made[1] == made[0] and made[2] == made[0]


def test_packed_ids_find_every_id_and_no_other():
    """snapshot.PackedIds (the readers' table of a snapshot's ids): every id
    at its row, however the hashes collide, and nothing for ids it lacks
    (a copy's id beside its entry's, a prefix, an id with padding, text
    that is not ASCII)."""
    import random

    from cooperate.queue import snapshot

    rng = random.Random(23)
    ids = sorted({"%012x" % rng.getrandbits(48) for _ in range(3000)})
    ids += ["%s-%d" % (ids[0], k) for k in range(1, 40)]
    ids.sort()
    width = max(map(len, ids)) + 1
    packed = snapshot.PackedIds("".join(i.ljust(width) for i in ids).encode(), width)
    assert len(packed) == len(ids) and list(packed) == ids
    assert [packed.find(i) for i in ids] == list(range(len(ids)))
    absent = ["%012x" % rng.getrandbits(48) for _ in range(3000)]
    absent += [ids[5][:-1], ids[5] + " ", ids[0] + "-40", ids[0] + "-0", "é" * 12, ""]
    known = set(ids)
    assert [i for i in absent if i not in known and packed.find(i) is not None] == []
