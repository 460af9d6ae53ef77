"""cooperate-log (issue 22): a run's output by entry id, prefix or name,
its latest attempt or --attempt N, stdout or --err, and -f following a run
while it goes on, whichever worker runs it; status's last stderr line of a
failed entry and its --entries listing of pending, held and blocked
entries with their ids.

Real workers from this checkout on real lists; each run's output is what
the test reads back."""

import os
import subprocess

from util import command, run, start, status, wait_for, write_list


def test_log_by_id_prefix_and_name_stdout_and_err(tmp_path):
    lst = tmp_path / "q.json"
    write_list(str(lst), [
        {"cmd": ["sh", "-c", "echo out-a; echo err-a >&2"], "name": "first one"},
        ["sh", "-c", "echo out-b; echo 'Traceback: boom' >&2; exit 3"],
        ["true"],
    ])
    result = run("run", lst, "-j", "2", cwd=str(tmp_path))
    assert result.returncode == 1, result.stderr
    report = status(str(lst))
    failed = report["failed"][0]["id"]

    result = run("log", lst, "first one", cwd=str(tmp_path))
    assert (result.returncode, result.stdout) == (0, "out-a\n"), result.stderr
    assert run("log", lst, "first one", "--err").stdout == "err-a\n"
    # by a unique prefix of its id, as status shows it
    result = run("log", lst, failed[:6], "--err")
    assert result.stdout == "Traceback: boom\n"
    assert run("log", str(lst), failed).stdout == "out-b\n"

    # status shows the failed entry's last stderr line
    assert "stderr: Traceback: boom" in run("status", lst).stdout

    # an entry that printed nothing: said on stderr, exit 0
    from cooperate.queue.listfile import CommandList

    true_id = CommandList(str(lst)).ids[2]
    result = run("log", lst, true_id)
    assert result.returncode == 0 and result.stdout == ""
    assert "printed nothing to stdout" in result.stderr


def test_errors_are_one_line(tmp_path):
    lst = tmp_path / "q.json"
    write_list(str(lst), [["true"], {"cmd": ["true"], "name": "twin"},
                          {"cmd": ["false"], "name": "twin"}])
    for args, words in [
            (("nope",), "no entry 'nope'"),
            (("twin",), "names 2 entries"),
    ]:
        result = run("log", lst, *args)
        assert result.returncode == 2 and words in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    from cooperate.queue.listfile import CommandList

    first = CommandList(str(lst)).ids[0]
    result = run("log", lst, first)
    assert result.returncode == 2 and "has not run yet (pending)" in result.stderr
    assert not os.path.exists(str(lst) + ".cooperate")  # reading wrote nothing


def test_attempt_n_after_a_retry(tmp_path):
    lst = tmp_path / "q.json"
    # prints its attempt: 1 fails, 2 succeeds
    write_list(str(lst), [{"cmd": ["sh", "-c", 'echo "attempt $COOPERATE_ATTEMPT"; '
                                   '[ "$COOPERATE_ATTEMPT" = 2 ]'], "name": "flaky"}])
    assert run("run", lst, "--retries", "1", cwd=str(tmp_path)).returncode == 0
    assert run("log", lst, "flaky").stdout == "attempt 2\n"
    assert run("log", lst, "flaky", "--attempt", "1").stdout == "attempt 1\n"
    result = run("log", lst, "flaky", "--attempt", "3")
    assert result.returncode == 2 and "no attempt 3 (its attempts: 1 to 2)" in result.stderr


def test_follow_prints_until_the_run_ends(tmp_path):
    lst = tmp_path / "q.json"
    gate = tmp_path / "gate"
    # prints a line, waits for the gate, prints another and ends
    write_list(str(lst), [{"cmd": ["sh", "-c", 'echo before; while [ ! -e "$1" ]; do sleep 0.05; '
                                   'done; echo after', "sh", str(gate)], "name": "gated"}])
    worker = start("run", lst, cwd=str(tmp_path), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: run("log", lst, "gated").stdout == "before\n", timeout=60,
                 what="the run's first line")
        follower = subprocess.Popen(command("log", lst, "gated", "-f"), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, universal_newlines=True)
        assert follower.stdout.readline() == "before\n"
        # the run still waits for the gate: the follower cannot have ended
        assert follower.poll() is None
        gate.write_text("")
        out, err = follower.communicate(timeout=60)
        assert (follower.returncode, out) == (0, "after\n"), err
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=60)


def test_status_lists_pending_held_and_blocked_entries_with_ids(tmp_path):
    lst = tmp_path / "q.json"
    write_list(str(lst), [
        {"cmd": ["false"], "name": "data"},
        {"cmd": ["true"], "name": "train", "after": ["data"]},
        {"cmd": ["true"], "name": "keep"},
        {"cmd": ["true"], "name": "later"},
    ])
    from cooperate.queue.listfile import CommandList

    data, train, keep, later = CommandList(str(lst)).ids
    assert run("hold", lst, keep).returncode == 0
    assert run("run", lst, "--max-runs", "1", cwd=str(tmp_path)).returncode == 1
    text = run("status", lst, "--entries").stdout
    sections = {}
    for line in text.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            current = sections.setdefault(line[:-1], [])
        elif line.startswith("  ") and sections:
            current.append(line.split()[0])
    assert sections["pending"] == [later]
    assert sections["held"] == [keep]
    assert sections["blocked"] == [train]
    assert data.startswith(sections["failed"][0].split("#")[0])
    assert run("status", lst, "--all").stdout == text
    assert "pending:" not in run("status", lst).stdout
