"""Faults injected into real workers: killed hosts and workers, frozen lock
holders and frozen workers, a full disk, a state folder removed, a list
others can write, commands that always fail.

Simulated machines are process trees started under
`unshare --uts --pid --fork --mount-proc` with their own host names: they
share only the filesystem, as machines sharing NFS do."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from effects import effect
from util import (BIN, Host, can_unshare, check_ran_once, freeze_holding_lock, journal,
                  needs_unshare, run, start, status, wait_for, worker_pid, write_list)


@needs_unshare
def test_a_dead_host_s_entries_run_again_elsewhere_after_the_lease(tmp_path):
    keys = [str(i) for i in range(12)]
    write_list(tmp_path / "l.json", [effect(k, ticks=30) for k in keys])
    args = ("run", "l.json", "-q", "--procs-no", "2", "--lease", "2", "--poll", "0.2")
    a = Host("host-a", tmp_path, *args)
    b = Host("host-b", tmp_path, *args, "--wait")
    try:
        def a_runs_two():
            report = status("l.json", cwd=tmp_path)
            return sum(1 for r in report["running"] if r["host"] == "host-a") == 2
        wait_for(a_runs_two, what="host-a to run two entries")
        a.kill()
        wait_for(lambda: status("l.json", cwd=tmp_path)["counts"]["done"] == len(keys),
                 timeout=60, what="every entry done")
    finally:
        a.stop()
        b.stop()
    check_ran_once(tmp_path / "ran.txt", tmp_path / "l.json.cooperate", keys)
    lost = [r for r in journal(tmp_path / "l.json.cooperate") if r[0] == "e" and r[5] == "lost"]
    assert len(lost) >= 2, "the dead host's attempts are in the history as lost"


def test_a_frozen_lock_holder_makes_others_wait_a_bounded_time(tmp_path):
    write_list(tmp_path / "l.json", [["true", str(i)] for i in range(20000)])
    frozen = start("run", "l.json", "-q", cwd=tmp_path)
    worker = worker_pid(frozen.pid)
    lock = tmp_path / "l.json.cooperate" / "lock"
    try:
        freeze_holding_lock(worker, lock)
        before = (tmp_path / "l.json.cooperate" / "journal").read_bytes()
        waiting = run("run", "l.json", "--lock-timeout", "1", cwd=tmp_path)
        assert waiting.returncode == 2
        assert "waited 1 s for the lock %s" % os.path.join("l.json.cooperate", "lock") in waiting.stderr
        assert (tmp_path / "l.json.cooperate" / "journal").read_bytes() == before
        os.kill(worker, signal.SIGCONT)
        os.kill(frozen.pid, signal.SIGTERM)
        frozen.wait(timeout=60)
    finally:
        if frozen.poll() is None:
            os.kill(worker, signal.SIGCONT)
            frozen.kill()
    result = run("run", "l.json", "-q", "--procs-no", "4", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert status("l.json", cwd=tmp_path)["counts"]["done"] == 20000


def test_retries_stop_after_n_plus_1_attempts(tmp_path):
    write_list(tmp_path / "l.json", [["sh", "-c", "echo try >> tries; exit 3"],
                                     {"cmd": ["sh", "-c", "echo t >> own; exit 4"], "retries": 0}])
    result = run("run", "l.json", "--retries", "2", cwd=tmp_path)
    assert result.returncode == 1
    assert (tmp_path / "tries").read_text().split() == ["try"] * 3
    assert (tmp_path / "own").read_text().split() == ["t"], "the entry's own retries win"
    failed = {f["command"]: f for f in status("l.json", cwd=tmp_path)["failed"]}
    attempts = failed["sh -c 'echo try >> tries; exit 3'"]["attempts"]
    assert [(t["attempt"], t["code"]) for t in attempts] == [(1, 3), (2, 3), (3, 3)]
    # they printed nothing: no logs
    assert all(t["err"] is None and t["out"] is None for t in attempts)
    text = run("status", "l.json", cwd=tmp_path).stdout
    assert "attempt 1: exit 3" in text and "attempt 2: exit 3" in text


def test_only_entries_that_ask_for_a_shell_get_one(tmp_path):
    write_list(tmp_path / "l.json", [{"cmd": "echo $((1+2)) > x", "shell": True},
                                     "echo $((1+2))"])
    assert run("run", "l.json", cwd=tmp_path).returncode == 0
    assert (tmp_path / "x").read_text() == "3\n"
    outs = [p.read_text() for p in (tmp_path / "l.json.cooperate" / "logs").glob("*/*.out")]
    assert "$((1+2))\n" in outs


def test_a_list_others_can_write_is_refused_unless_trusted(tmp_path):
    write_list(tmp_path / "l.json", [["true"]])
    os.chmod(tmp_path / "l.json", 0o666)
    refused = run("run", "l.json", cwd=tmp_path)
    assert refused.returncode == 2
    assert "l.json: every user can write it" in refused.stderr
    assert "--trust-writable" in refused.stderr
    assert not (tmp_path / "l.json.cooperate").exists()
    assert run("run", "l.json", "--trust-writable", cwd=tmp_path).returncode == 0


def test_a_state_folder_removed_under_a_worker_is_a_clear_error(tmp_path):
    write_list(tmp_path / "l.json", [["sh", "-c", "while [ ! -e go ]; do sleep 0.01; done"]])
    worker = start("run", "l.json", cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: status("l.json", cwd=tmp_path)["counts"]["running"] == 1, what="the run")
        shutil.rmtree(tmp_path / "l.json.cooperate")
        (tmp_path / "go").touch()
        _, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 2
    last = err.strip().splitlines()[-1]
    assert "l.json.cooperate" in last and "No such file or directory" in last
    assert "Traceback" not in err


@pytest.mark.skipif(os.getuid() != 0 or not can_unshare(), reason="mounting a small tmpfs "
                    "needs root and a mount namespace")
def test_a_full_disk_is_a_clear_error_and_nothing_is_recorded_as_done_by_mistake(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    script = """
set -e
mount -t tmpfs -o size=64k tmpfs "$1"
cd "$1"
printf '[["sh","-c","head -c 100000 /dev/zero > fill"]' > l.json
i=0; while [ $i -lt 60 ]; do printf ',["true","%d"]' $i >> l.json; i=$((i+1)); done
echo ']' >> l.json
"$2" "$3" run l.json --lock-timeout 5 > "$4/run.out" 2> "$4/run.err" && echo "exit 0" > "$4/code" || echo "exit $?" > "$4/code"
"$2" "$3" status l.json --json > "$4/status.json" 2> "$4/status.err"
"""
    result = subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", str(disk),
                             sys.executable, BIN, str(tmp_path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "code").read_text().strip() == "exit 2"
    err = (tmp_path / "run.err").read_text()
    assert "No space left on device" in err.strip().splitlines()[-1]
    assert "Traceback" not in err
    # tried again first (a disk may be full for a moment), said once
    assert err.count("trying again for up to 5 s") == 1, err
    report = json.loads((tmp_path / "status.json").read_text())
    # what was recorded stays readable; the run whose end could not be
    # recorded is not shown as done
    assert "unreadable_records" not in report
    counts = report["counts"]
    assert counts["failed"] == 1, "the command that filled the disk"
    assert counts["done"] < 60 and counts["pending"] > 0
    assert sum(counts.values()) == 61


def test_a_drained_host_finishes_its_runs_and_takes_nothing_new(tmp_path):
    write_list(tmp_path / "l.json", [["sh", "-c", "while [ ! -e go ]; do sleep 0.01; done"]]
               + [["true", str(i)] for i in range(5)])
    worker = start("run", "l.json", "--wait", "--poll", "0.1", cwd=tmp_path)
    try:
        wait_for(lambda: status("l.json", cwd=tmp_path)["counts"]["running"] == 1, what="the run")
        result = run("drain", "l.json", cwd=tmp_path)
        assert result.returncode == 0 and "is draining" in result.stdout
        (tmp_path / "go").touch()
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    counts = status("l.json", cwd=tmp_path)["counts"]
    assert counts["done"] == 1 and counts["pending"] == 5
    assert run("drain", "l.json", "--undo", cwd=tmp_path).returncode == 0
    assert run("run", "l.json", "-q", cwd=tmp_path).returncode == 0
    assert status("l.json", cwd=tmp_path)["counts"]["done"] == 6


@pytest.mark.skipif(os.getuid() != 0 or not can_unshare(), reason="a read-only bind mount "
                    "needs root and a mount namespace")
def test_a_read_only_state_folder_is_a_clear_error_and_stays_readable(tmp_path):
    write_list(tmp_path / "l.json", [["true", str(i)] for i in range(3)])
    assert run("run", "l.json", "--max-runs", "1", cwd=tmp_path).returncode == 0
    before = (tmp_path / "l.json.cooperate" / "journal").read_bytes()
    script = """
mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 99
cd "$2"
"$3" "$4" run l.json > "$5/run.out" 2> "$5/run.err"; echo "exit $?" > "$5/code"
"$3" "$4" status l.json --json > "$5/status.json"
"""
    result = subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh",
                             str(tmp_path / "l.json.cooperate"), str(tmp_path), sys.executable,
                             BIN, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "code").read_text().strip() == "exit 2"
    err = (tmp_path / "run.err").read_text()
    assert "l.json.cooperate is not writable: it is on a read-only file system" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert json.loads((tmp_path / "status.json").read_text())["counts"]["done"] == 1
    assert (tmp_path / "l.json.cooperate" / "journal").read_bytes() == before


def test_a_take_back_says_whose_runs_and_why(tmp_path):
    """A worker and its guard SIGKILLed together: the next worker takes the
    run back at once (same machine) and says whose it was and why."""
    write_list(tmp_path / "l.json", [
        ["sh", "-c", "if [ -e started ]; then exit 0; fi; echo > started; exec sleep 600"]])
    guard = start("run", "l.json", cwd=tmp_path, stderr=subprocess.DEVNULL)
    try:
        worker = worker_pid(guard.pid)
        wait_for(lambda: (tmp_path / "started").exists(), what="the first attempt")
        (dead,) = status("l.json", cwd=tmp_path)["running"]
        os.kill(guard.pid, signal.SIGKILL)
        os.kill(worker, signal.SIGKILL)
        guard.wait(timeout=30)
    finally:
        if guard.poll() is None:
            guard.kill()
    result = run("run", "l.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if " took back " in line]
    assert len(said) == 1, result.stderr
    assert "took back %s#1 from worker %s: its process and its guard are gone from this " \
           "machine; it is pending again" % (dead["id"], dead["worker"]) in said[0]
