"""Work that leaves its run's process group or session, or clears its
environment, ends with its attempt (issue 19, item 6): after a time limit
with retries, an abort then a retry, or a plain end, nothing of the earlier
attempt runs while the next one does. Counted by what the escaped work
wrote, not by our records."""

import json
import os
import signal

import pytest

import util
from util import run, start, status, wait_for

# each variant starts a loop that writes "tick ATTEMPT" every 20 ms and
# leaves the run's group: while its parent lives (setsid &), after its
# parent ended (a subshell that exits: a daemon's double fork), and with an
# empty environment (env -i), then the run itself waits
LOOP = 'while :; do echo "tick $A" >> escaped.txt; sleep 0.02; done'
VARIANTS = {
    "setsid": 'A=$COOPERATE_ATTEMPT setsid sh -c \'%s\' & sleep 60' % LOOP,
    "daemon": '(A=$COOPERATE_ATTEMPT setsid sh -c \'%s\' &); sleep 60' % LOOP,
    "env-i": '(env -i A=$COOPERATE_ATTEMPT PATH="$PATH" setsid sh -c \'%s\' &); sleep 60' % LOOP,
}
ENDS = {
    # the run ends by itself a moment after its escaped work started
    "setsid-end": 'A=$COOPERATE_ATTEMPT setsid sh -c \'%s\' & sleep 0.3; exit 1' % LOOP,
    "env-i-end": '(env -i A=$COOPERATE_ATTEMPT PATH="$PATH" setsid sh -c \'%s\' &); '
                 'sleep 0.3; exit 1' % LOOP,
}


def ticks(tmp_path):
    try:
        return (tmp_path / "escaped.txt").read_text().split("\n")[:-1]
    except FileNotFoundError:
        return []


def assert_no_overlap(lines):
    """Once a tick of attempt N+1 is written, no tick of attempt N follows."""
    seen = 0
    for line in lines:
        attempt = int(line.split()[1])
        assert attempt >= seen, "attempt %d ticked after attempt %d had started: %s" % (
            attempt, seen, lines)
        seen = max(seen, attempt)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_escaped_work_ends_with_its_timed_out_attempt(tmp_path, variant):
    util.write_list(tmp_path / "l.json", [{"cmd": VARIANTS[variant], "shell": True,
                                           "timeout": 1, "retries": 1}])
    result = run("run", "l.json", "--grace", "0.5", "--poll", "0.1", cwd=tmp_path, timeout=120)
    assert result.returncode == 1, result.stderr
    lines = ticks(tmp_path)
    assert {line.split()[1] for line in lines} == {"1", "2"}, lines
    assert_no_overlap(lines)
    assert not util.leftovers(tmp_path)


@pytest.mark.parametrize("variant", sorted(ENDS))
def test_escaped_work_ends_with_its_run(tmp_path, variant):
    util.write_list(tmp_path / "l.json", [{"cmd": ENDS[variant], "shell": True, "retries": 1}])
    result = run("run", "l.json", "--poll", "0.1", cwd=tmp_path, timeout=120)
    assert result.returncode == 1, result.stderr
    lines = ticks(tmp_path)
    assert {line.split()[1] for line in lines} == {"1", "2"}, lines
    assert_no_overlap(lines)
    assert not util.leftovers(tmp_path)


def test_abort_then_retry_leaves_no_copy_of_escaped_work(tmp_path):
    util.write_list(tmp_path / "l.json", [{"cmd": VARIANTS["daemon"], "shell": True}])
    worker = start("run", "l.json", "--wait", "--poll", "0.1", "--grace", "0.5", cwd=tmp_path)
    try:
        wait_for(lambda: len(ticks(tmp_path)) > 5, 60, what="the escaped work to tick")
        assert run("abort", "l.json", "-y", cwd=tmp_path).returncode == 0
        wait_for(lambda: status(tmp_path / "l.json")["counts"]["aborted"] == 1, 60,
                 what="the abort")
        assert run("retry", "l.json", cwd=tmp_path).returncode == 0
        wait_for(lambda: any(t.split()[1] == "2" for t in ticks(tmp_path)), 60,
                 what="the second attempt's escaped work")
        assert_no_overlap(ticks(tmp_path))
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert not util.leftovers(tmp_path)
    assert json.loads(run("status", "l.json", "--json", cwd=tmp_path).stdout)["counts"][
        "running"] == 0
    assert os.path.exists(tmp_path / "escaped.txt")
