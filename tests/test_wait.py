"""`status --wait` (issue 22): blocks until nothing is pending or running on
any worker, then shows the status and exits 0 when every entry is done, 1
when some are not (failed, held, blocked); `--watch` ends likewise once the
list is finished. `status` without a target shows the lists of this folder.

Real workers from this checkout; a run waits for a gate file the test
creates, so the order of events does not depend on timing."""

import subprocess

from util import command, run, start, status, wait_for, write_list


def gated(gate, code=0):
    return ["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.05; done; exit %d' % code, "sh",
            str(gate)]


def waiter(lst, *extra):
    return subprocess.Popen(command("status", lst, *extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)


def running(lst):
    return status(str(lst))["counts"]["running"] == 1


def check_waits_for_the_gate(tmp_path, code, expected, *extra):
    lst = tmp_path / "q.json"
    gate = tmp_path / "gate"
    write_list(str(lst), [gated(gate, code), ["true"]])
    worker = start("run", lst, cwd=str(tmp_path), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: running(lst), timeout=60, what="the gated run")
        w = waiter(lst, *extra)
        # the gated entry runs until the gate opens: the waiter cannot be done
        assert running(lst) and w.poll() is None
        gate.write_text("")
        out, err = w.communicate(timeout=120)
        assert w.returncode == expected, err
        assert worker.wait(timeout=60) == (0 if code == 0 else 1)
        return out
    finally:
        gate.write_text("")
        if worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=60)


def test_wait_exits_0_when_every_entry_is_done(tmp_path):
    out = check_waits_for_the_gate(tmp_path, 0, 0, "--wait")
    assert "2 entries: 0 pending, 0 running, 2 done, 0 failed" in out
    assert out.count("q.json: ") == 1  # shown once, at the end


def test_wait_exits_1_when_one_failed(tmp_path):
    out = check_waits_for_the_gate(tmp_path, 3, 1, "--wait")
    assert "1 done, 1 failed" in out


def test_watch_ends_when_the_list_is_finished(tmp_path):
    out = check_waits_for_the_gate(tmp_path, 0, 0, "--watch", "0.2")
    assert "2 entries: 0 pending, 0 running, 2 done, 0 failed" in out
    assert "--- " in out  # off a terminal: a time stamp line per refresh


def test_wait_on_a_finished_or_held_list_returns_at_once(tmp_path):
    lst = tmp_path / "q.json"
    write_list(str(lst), [["true"], {"cmd": ["true"], "name": "kept"}])
    from cooperate.queue.listfile import CommandList

    kept = CommandList(str(lst)).ids[1]
    assert run("hold", lst, kept).returncode == 0
    assert run("run", lst, cwd=str(tmp_path)).returncode == 0
    # nothing pending or running: the held entry is not done
    result = run("status", lst, "--wait", timeout=60)
    assert result.returncode == 1 and "1 held" in result.stdout
    assert run("release", lst, kept).returncode == 0
    assert run("run", lst, cwd=str(tmp_path)).returncode == 0
    assert run("status", lst, "--wait", timeout=60).returncode == 0


def test_status_without_target_shows_the_lists_here(tmp_path):
    result = run("status", cwd=str(tmp_path))
    assert result.returncode == 2
    assert "no list here" in result.stderr and "cooperate-status exps.json" in result.stderr
    write_list(str(tmp_path / "a.json"), [["true"]])
    write_list(str(tmp_path / "b.json"), [["false"]])
    assert run("run", "a.json", cwd=str(tmp_path)).returncode == 0
    # b.json has no state folder yet: not a list a worker joined
    result = run("status", cwd=str(tmp_path))
    assert result.returncode == 0 and result.stdout.startswith("a.json: 1 entry: ")
    assert run("run", "b.json", cwd=str(tmp_path)).returncode == 1
    result = run("status", "-a", cwd=str(tmp_path))
    names = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert sorted(names) == ["a.json", "b.json"]
