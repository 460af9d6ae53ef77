"""--notify CMD: run once when the list is finished, by the one worker, on
whatever machine, that records the last end. Counted by what ran: the
notification and the entries append to one file (O_APPEND keeps the order in
which they happened)."""

import json
import os

import pytest

from effects import effect, executions
from util import Host, needs_unshare, run, status, write_list

NOTIFY = ("sh -c 'echo notified $COOPERATE_TOTAL $COOPERATE_DONE $COOPERATE_FAILED "
          "$COOPERATE_LIST $COOPERATE_WORKER >> ran.txt'")


def notifications(folder):
    with open(os.path.join(str(folder), "ran.txt")) as f:
        return [(n, line.split()) for n, line in enumerate(f) if line.startswith("notified")]


def last_end(folder):
    """The line number of the last run's last line."""
    with open(os.path.join(str(folder), "ran.txt")) as f:
        return max(n for n, line in enumerate(f) if line.startswith(("start ", "tick ", "end ")))


@needs_unshare
def test_two_hosts_of_two_workers_notify_once_after_the_last_end(tmp_path):
    keys = [str(i) for i in range(40)]
    write_list(tmp_path / "l.json", [effect(k, ticks=1) for k in keys] + [["false"]])
    hosts = [Host(name, tmp_path, "run", "l.json", "-q", "--procs-no", "2", "--notify", NOTIFY)
             for name in ("hosta", "hostb")]
    try:
        for h in hosts:
            assert h.process.wait(timeout=300) in (0, 1)
    finally:
        for h in hosts:
            h.stop()
    sent = notifications(tmp_path)
    assert len(sent) == 1, sent
    line, words = sent[0]
    assert words[1:5] == ["41", "40", "1", str(tmp_path / "l.json")]
    # after every run's end, and not by a run (no worker in its environment)
    assert line > last_end(tmp_path) and len(words) == 5
    assert status("l.json", cwd=tmp_path)["counts"]["done"] == 40


def test_held_entries_keep_it_unfinished_and_a_retry_finishes_it_again(tmp_path):
    write_list(tmp_path / "l.json", [effect(str(i)) for i in range(5)])
    first = run("run", "l.json", "--max-runs", "3", "--notify", NOTIFY, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert notifications(tmp_path) == []
    # the two left, one held: the list is not finished while it is held
    pending = [i for i in _ids(tmp_path) if i not in _ran(tmp_path)]
    assert run("hold", "l.json", pending[0], cwd=tmp_path).returncode == 0
    assert run("run", "l.json", "--notify", NOTIFY, cwd=tmp_path).returncode == 0
    assert notifications(tmp_path) == []
    assert run("release", "l.json", pending[0], cwd=tmp_path).returncode == 0
    assert run("run", "l.json", "--notify", NOTIFY, cwd=tmp_path).returncode == 0
    assert [w[1:4] for _, w in notifications(tmp_path)] == [["5", "5", "0"]]
    # a worker with nothing to end announces nothing again
    assert run("run", "l.json", "--notify", NOTIFY, cwd=tmp_path).returncode == 0
    assert len(notifications(tmp_path)) == 1
    # work again, finished again: announced again, once
    assert run("retry", "l.json", _ids(tmp_path)[0], cwd=tmp_path).returncode == 0
    assert run("run", "l.json", "--notify", NOTIFY, cwd=tmp_path).returncode == 0
    assert len(notifications(tmp_path)) == 2


@pytest.mark.parametrize("value,message", [("nosuchprogram --x", "no program 'nosuchprogram'"),
                                           ("sh -c 'unclosed", "cannot split")])
def test_a_bad_notify_command_is_refused_before_anything_runs(tmp_path, value, message):
    write_list(tmp_path / "l.json", [effect("0")])
    result = run("run", "l.json", "--notify", value, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "ran.txt").exists() and not (tmp_path / "l.json.cooperate").exists()


def _ids(folder):
    from cooperate.queue.listfile import entry_id

    with open(os.path.join(str(folder), "l.json")) as f:
        return [entry_id(e) for e in json.load(f)]


def _ran(folder):
    return {e.id for e in executions(os.path.join(str(folder), "ran.txt"))}


def test_entries_left_to_other_workers_keep_it_unfinished(tmp_path):
    """A worker that may not take an entry (it needs 2 GPUs, the worker has
    none) finishes its own without announcing the end; the worker that runs
    the last one announces it."""
    write_list(tmp_path / "l.json", [effect("0"), {"cmd": effect("1"), "gpus": 2}])
    assert run("run", "l.json", "--notify", NOTIFY, cwd=tmp_path).returncode == 0
    assert _ran(tmp_path) and notifications(tmp_path) == []
    assert run("run", "l.json", "--gpus", "0,1", "--notify", NOTIFY, cwd=tmp_path).returncode == 0
    assert [w[1:4] for _, w in notifications(tmp_path)] == [["2", "2", "0"]]
