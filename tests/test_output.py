"""Output that goes away, option values out of range, and cron (issue 19,
items 7, 9 and 10): a reader that leaves (`| head -1`), standard output and
error closed at start, stderr on /dev/full and a terminal that closes never
lose records: runs go on and are recorded, or are recorded as interrupted.
Counted by what ran."""

import os
import pty
import signal
import subprocess

import pytest

import effects
import util
from util import command, run, status, wait_for

KEYS = ["k%d" % i for i in range(6)]


def entries(ticks=0):
    return [effects.effect(k, ticks=ticks, tick=0.05) for k in KEYS]


def all_done_once(tmp_path):
    counts = status(tmp_path / "l.json")["counts"]
    assert counts["done"] == len(KEYS) and not counts["running"] and not counts["stale"], counts
    util.check_ran_once(str(tmp_path / "ran.txt"), tmp_path / "l.json.cooperate", KEYS)


def test_a_reader_that_leaves_ends_the_printing_not_the_worker(tmp_path):
    util.write_list(tmp_path / "l.json", entries(ticks=2))
    line = " ".join("'%s'" % a for a in command("run", "l.json", "-j", "2"))
    result = subprocess.run(["bash", "-c", "set -o pipefail; %s 2>&1 | head -1" % line],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    all_done_once(tmp_path)


@pytest.mark.parametrize("redirect", ["1>&- 2>&-", "2>&-", "1>&-", "2>/dev/full"])
def test_closed_or_full_standard_streams_lose_nothing(tmp_path, redirect):
    util.write_list(tmp_path / "l.json", entries())
    line = " ".join("'%s'" % a for a in command("run", "l.json", "-j", "2"))
    result = subprocess.run(["bash", "-c", "%s %s" % (line, redirect)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    all_done_once(tmp_path)
    # nothing printed landed in the state folder's files
    with open(tmp_path / "l.json.cooperate" / "journal") as f:
        assert all(line.startswith("[") for line in f)


def test_a_terminal_that_closes_loses_no_record(tmp_path):
    util.write_list(tmp_path / "l.json", entries(ticks=40))
    master, slave = pty.openpty()
    worker = subprocess.Popen(command("run", "l.json", "-j", "2"), cwd=tmp_path, stdin=slave,
                              stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        wait_for(lambda: len(effects.executions(str(tmp_path / "ran.txt"))) >= 2, 60,
                 what="two runs to start")
        # the terminal goes away: its session gets SIGHUP, writes to it fail;
        # the worker goes on without it (or stops its runs as interrupted)
        os.close(master)
        os.killpg(worker.pid, signal.SIGHUP)
        code = worker.wait(timeout=300)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    counts = status(tmp_path / "l.json")["counts"]
    assert not counts["running"] and not counts["stale"], counts
    if code == 0:
        all_done_once(tmp_path)
    else:
        assert code == 128 + signal.SIGHUP
        records = util.journal(tmp_path / "l.json.cooperate")
        assert {r[5] for r in records if r[0] == "e"} <= {"done", "interrupted"}
    assert not util.leftovers(tmp_path)


BAD = [("run", "--grace", "inf"), ("run", "--grace", "nan"), ("run", "--lease", "1e308"),
       ("run", "--lease", "0"), ("run", "--lease", "nan"), ("run", "--poll", "nan"),
       ("run", "--timeout", "inf"), ("run", "--lock-timeout", "nan"),
       ("status", "--watch", "nan"), ("status", "--watch", "1e308"),
       ("retry", "--lock-timeout", "inf"), ("abort", "-y", "--wait", "nan")]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a) for a in BAD])
def test_numeric_options_out_of_range_are_one_line_and_change_nothing(tmp_path, args):
    util.write_list(tmp_path / "l.json", ["true"])
    result = run(args[0], "l.json", *args[1:], cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert "expected" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["l.json"]


@pytest.mark.parametrize("when", ["inf", "nan", "-inf", "1e308"])
def test_liftoff_end_by_out_of_range_is_one_line(tmp_path, when):
    (tmp_path / "train.py").write_text("print(1)\n")
    result = run("launch", "train.py", "--end-by", when, cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["train.py"]


def test_cron_with_gpus_and_exit_if_busy_never_stacks_idle_workers(tmp_path):
    util.write_list(tmp_path / "l.json", ["true"])
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop("XDG_RUNTIME_DIR", None)
    args = ("run", "l.json", "--gpus", "0", "--exit-if-busy", "--wait", "--poll", "0.1")
    first = util.start(*args, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: status(tmp_path / "l.json")["counts"]["done"] == 1, 60,
                 what="the first worker to drain the list")
        for _ in range(3):
            fired = run(*args, cwd=tmp_path, env=env, timeout=60)
            assert fired.returncode == 0 and "busy on this host" in fired.stderr, fired.stderr
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
