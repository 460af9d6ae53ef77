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
