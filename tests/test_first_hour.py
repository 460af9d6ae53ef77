"""What a new user trips on in the first hour (issue 12): a worker that says
why it stops taking entries, a second Ctrl-C that is obeyed, a live line on
a terminal, an experiment without a script refused before anything is
recorded, and status and procs that tell the truth. Each test runs the real
commands and checks what ran as well as what they print."""

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

from test_liftoff_launch import (APPEND_BODY, clean_env, lines, one_line_error, prepare,
                                 write_grid, write_script)
from util import command, documentation, journal, run, start, status, tree_digest, wait_for, write_list


def appender(tag):
    """An entry that appends `tag` to ran.txt (what ran, not what was recorded)."""
    return ["sh", "-c", 'echo "$0" >> ran.txt', str(tag)]


def note(result):
    """The worker's last line on stderr, without its time stamp."""
    assert result.returncode == 0, result.stderr
    return result.stderr.splitlines()[-1].split(" ", 1)[1]


# ---------------------------------------------------------------- why a worker stops


def test_an_empty_list_says_so(tmp_path):
    write_list(tmp_path / "l.json", [])
    assert note(run("run", "l.json", cwd=tmp_path)) == "nothing more to start: l.json is empty"


def test_a_finished_list_says_so(tmp_path):
    write_list(tmp_path / "l.json", [appender(1), appender(2)])
    assert run("run", "l.json", cwd=tmp_path).returncode == 0
    assert note(run("run", "l.json", cwd=tmp_path)) == "nothing more to start: l.json has 2 done"
    assert lines(tmp_path / "ran.txt") == ["1", "2"]


def test_held_entries_say_how_to_release_them(tmp_path):
    write_list(tmp_path / "l.json", [appender(1), appender(2)])
    assert run("hold", "l.json", "--all", cwd=tmp_path).returncode == 0
    text = note(run("run", "l.json", cwd=tmp_path))
    assert text == ("nothing more to start: l.json has 2 held (`cooperate-release l.json --all` "
                    "lets the held ones start)")
    assert not (tmp_path / "ran.txt").exists()
    assert run("release", "l.json", "--all", cwd=tmp_path).returncode == 0
    assert run("run", "l.json", cwd=tmp_path).returncode == 0
    assert lines(tmp_path / "ran.txt") == ["1", "2"]


def test_failed_entries_say_how_to_retry_them(tmp_path):
    write_list(tmp_path / "l.json", [["false"], appender(1)])
    assert run("run", "l.json", cwd=tmp_path).returncode == 1
    text = note(run("run", "l.json", cwd=tmp_path))
    assert text == ("nothing more to start: l.json has 1 done, 1 failed (`cooperate-retry l.json "
                    "--failed` runs the failed ones again)")


def test_a_drained_host_says_so_and_status_shows_it(tmp_path):
    write_list(tmp_path / "l.json", [appender(1)])
    assert run("drain", "l.json", cwd=tmp_path).returncode == 0
    text = note(run("run", "l.json", cwd=tmp_path))
    assert text.startswith("nothing more to start: this host (") and \
        text.endswith(") is drained: it takes nothing new (`cooperate-drain l.json --undo` lets it)")
    assert not (tmp_path / "ran.txt").exists()
    shown = run("status", "l.json", cwd=tmp_path).stdout
    assert "drained (taking nothing new): " in shown
    assert "left" not in shown, "nothing runs: no time left to tell"
    assert run("drain", "l.json", "--undo", cwd=tmp_path).returncode == 0
    assert run("run", "l.json", cwd=tmp_path).returncode == 0
    assert lines(tmp_path / "ran.txt") == ["1"]


def test_no_time_left_is_told_while_nothing_runs(tmp_path):
    """Finished runs give a pace, but with nothing running there is no time
    left to tell: status says nothing runs instead."""
    write_list(tmp_path / "l.json", [appender(i) for i in range(3)])
    assert run("run", "l.json", "--max-runs", "1", cwd=tmp_path).returncode == 0
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["done"] == 1 and report["left"] is None
    shown = run("status", "l.json", cwd=tmp_path).stdout
    assert "left" not in shown and "nothing running: start a worker (cooperate-run l.json)" in shown


def test_max_runs_says_so(tmp_path):
    write_list(tmp_path / "l.json", [appender(i) for i in range(3)])
    text = note(run("run", "l.json", "--max-runs", "2", cwd=tmp_path))
    assert text == "nothing more to start: it started the 2 runs --max-runs allows"
    assert lines(tmp_path / "ran.txt") == ["0", "1"]


def experiment(tmp_path, n=2):
    write_grid(tmp_path / "configs", {"x": 0}, {"x": list(range(n))})
    script = write_script(tmp_path / "append.py", APPEND_BODY, log=tmp_path / "ran.txt")
    return prepare(tmp_path, "configs", script=script)


def test_a_stop_file_says_so(tmp_path):
    exp = experiment(tmp_path)
    open(os.path.join(exp, ".STOP"), "w").close()
    text = note(run("run", exp, cwd=tmp_path, env=clean_env()))
    assert text == "nothing more to start: %s exists (remove it to start runs again)" % (
        os.path.join(exp, ".STOP"))
    assert lines(tmp_path / "ran.txt") == []


def test_an_end_by_that_has_passed_says_so(tmp_path):
    """--end-by 1: the first run is made to last past it; then nothing
    more starts, and the worker says why."""
    write_grid(tmp_path / "configs", {"x": 0}, {"x": [0, 1]})
    script = write_script(tmp_path / "wait.py", """
open(STARTED, "w").close()
while not os.path.exists(GO):
    time.sleep(0.02)
""" + APPEND_BODY, log=tmp_path / "ran.txt", started=tmp_path / "started", go=tmp_path / "go")
    exp = prepare(tmp_path, "configs", script=script)
    launcher = start("launch", "wait.py", exp, "--end-by", "1", cwd=str(tmp_path),
                     env=clean_env(), stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (tmp_path / "started").exists(), what="the first run")
        t0 = time.monotonic()
        wait_for(lambda: time.monotonic() > t0 + 1, what="--end-by to pass")
    finally:
        (tmp_path / "go").touch()
    assert launcher.wait(timeout=120) == 0
    last = launcher.stderr.read().splitlines()[-1].split(" ", 1)[1]
    assert last == "nothing more to start: the time of --start-by / --end-by is up"
    assert len(lines(tmp_path / "ran.txt")) == 1


def test_a_worker_waiting_for_a_gpu_slot_says_so(tmp_path):
    """The slot of GPU 0 is held by another worker's run: the second worker
    says it waits, and runs its entry once the slot is free."""
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path / "runtime"))
    write_list(tmp_path / "a.json", [["sh", "-c", "touch started; while [ ! -e go ]; do "
                                      "sleep 0.05; done"]])
    write_list(tmp_path / "b.json", [appender("b")])
    first = start("run", "a.json", "--gpus", "0", cwd=str(tmp_path), env=env)
    second = None
    try:
        wait_for(lambda: (tmp_path / "started").exists(), what="the first run")
        second = start("run", "b.json", "--gpus", "0", cwd=str(tmp_path), env=env,
                       stderr=subprocess.PIPE, text=True)
        line = second.stderr.readline()
        assert line.split(" ", 1)[1].startswith(
            "waiting for a GPU slot: all 1 slots of GPUs 0 are held by other runs on this host")
        assert not (tmp_path / "ran.txt").exists()
        (tmp_path / "go").touch()
        assert first.wait(timeout=60) == 0
        assert second.wait(timeout=60) == 0
        assert lines(tmp_path / "ran.txt") == ["b"]
    finally:
        (tmp_path / "go").touch()
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


# ---------------------------------------------------------------- an experiment without a script


def test_an_experiment_without_a_script_is_refused_before_anything_is_recorded(tmp_path):
    """Following prepare's hint must not burn the sweep: without a recorded
    script a worker refuses the experiment (exit 2, one line, nothing
    changed), and `liftoff SCRIPT EXP` then simply runs it."""
    write_grid(tmp_path / "configs", {"x": 0}, {"x": [0, 1, 2]})
    write_script(tmp_path / "append.py", APPEND_BODY, log=tmp_path / "ran.txt")
    result = run("prepare", "configs", "--do", cwd=tmp_path, env=clean_env())
    assert result.returncode == 0, result.stderr
    hints = result.stdout.split("next:\n")[1].splitlines()
    assert hints[0].split()[:2] == ["liftoff", "SCRIPT"]
    (name,) = os.listdir(tmp_path / "results")
    exp = str(tmp_path / "results" / name)
    before = tree_digest(exp)
    error = one_line_error(run("run", exp, cwd=tmp_path, env=clean_env()))
    assert "no script recorded" in error and "liftoff SCRIPT" in error
    assert tree_digest(exp) == before, "nothing recorded"
    result = run("launch", "append.py", exp, cwd=tmp_path, env=clean_env())
    assert result.returncode == 0, result.stderr
    ran = [line.split()[0] for line in lines(tmp_path / "ran.txt")]
    assert len(ran) == 3 and len(set(ran)) == 3
    assert status(exp)["counts"]["done"] == 3


# ---------------------------------------------------------------- Ctrl-C

IGNORES_TERM = ("import os, signal, time\n"
                "signal.signal(signal.SIGTERM, lambda *a: open('term', 'a').write('t'))\n"
                "open('started', 'w').close()\n"
                "time.sleep(3600)\n")


def stop_line(worker):
    """Read the worker's stderr up to its `stopping` line."""
    while True:
        line = worker.stderr.readline()
        assert line, "the worker ended without saying it is stopping"
        if " stopping (" in line:
            return line


def test_a_second_ctrl_c_kills_at_once(tmp_path):
    """A run that ignores SIGTERM, a grace of 10 minutes: the first Ctrl-C
    says what will happen, the second, sent as soon as that line is read,
    kills the run without waiting for the grace."""
    grace = 600
    (tmp_path / "slow.py").write_text(IGNORES_TERM)
    write_list(tmp_path / "l.json", [[sys.executable, "slow.py"]])
    worker = start("run", "l.json", "--grace", str(grace), cwd=str(tmp_path),
                   stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: (tmp_path / "started").exists(), what="the run")
        t0 = time.monotonic()
        # Ctrl-C: SIGINT to the terminal's foreground process group
        os.killpg(worker.pid, signal.SIGINT)
        line = stop_line(worker)
        assert "1 run gets SIGTERM, SIGKILL after 10m00s; a second Ctrl-C kills it now" in line
        # the run has taken its SIGTERM (its handler wrote it down): now the second
        wait_for(lambda: (tmp_path / "term").exists(), what="the run's SIGTERM")
        os.killpg(worker.pid, signal.SIGINT)
        assert worker.wait(timeout=grace / 2) == 128 + signal.SIGINT
        took = time.monotonic() - t0
        rest = worker.stderr.read()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    assert took < grace / 2, took
    assert "stopping now: SIGKILL to 1 run" in rest
    assert (tmp_path / "term").read_text() == "t", "the run got SIGTERM once, then SIGKILL"
    (end,) = [r for r in journal(tmp_path / "l.json.cooperate") if r[0] == "e"]
    assert end[5] == "interrupted"
    assert status("l.json", cwd=tmp_path)["counts"]["pending"] == 1


def test_a_signal_to_the_whole_job_is_one_request(tmp_path):
    """Slurm and systemd signal every process of a job: the worker gets
    SIGTERM directly and from its guard, which is one request, so the run
    keeps its grace: it is killed no sooner than `grace` after its SIGTERM."""
    grace = 3.0
    (tmp_path / "slow.py").write_text(IGNORES_TERM)
    write_list(tmp_path / "l.json", [[sys.executable, "slow.py"]])
    guard = start("run", "l.json", "--grace", str(grace), cwd=str(tmp_path),
                  stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: (tmp_path / "started").exists(), what="the run")
        (worker,) = [int(p) for p in open("/proc/%d/task/%d/children" % (guard.pid, guard.pid))
                     .read().split()]
        t0 = time.monotonic()
        os.kill(worker, signal.SIGTERM)
        os.kill(guard.pid, signal.SIGTERM)
        stop_line(guard)
        assert guard.wait(timeout=120) == 128 + signal.SIGTERM
        took = time.monotonic() - t0
    finally:
        if guard.poll() is None:
            os.killpg(guard.pid, signal.SIGKILL)
            guard.wait()
    assert took >= grace, "killed after %.1fs, before its grace of %gs" % (took, grace)
    assert (tmp_path / "term").read_text() == "t"


# ---------------------------------------------------------------- a worker on a terminal


def run_on_terminal(argv, cwd, when=None, then=None, timeout=120):
    """Run argv with stdout and stderr on a new pseudo-terminal, calling
    then() once what it wrote matches the regular expression `when`; (exit
    status, everything it wrote)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave)
    os.close(slave)
    out = ""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the other side is closed
                    chunk = b""
                if not chunk:
                    break
                out += chunk.decode(errors="replace")
                if when is not None and re.search(when, out):
                    then()
                    when = None
        code = proc.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, out


def test_a_worker_on_a_terminal_keeps_a_live_line_and_sums_up(tmp_path):
    """The first run waits until the live line shows it running; at the
    end, the live line gives way to the summary."""
    waits = ["sh", "-c", "while [ ! -e go ]; do sleep 0.05; done; echo first >> ran.txt"]
    write_list(tmp_path / "l.json", [waits] + [appender(i) for i in range(2)] + [["false"]])
    code, out = run_on_terminal(command("run", "l.json", "--poll", "0.2"), tmp_path,
                                when=r"\r\x1b\[K0/4 done, 1 running \(1 here\), 3 pending",
                                then=(tmp_path / "go").touch)
    assert code == 1, out
    assert (tmp_path / "go").exists(), "the live line never showed the first run: " + out
    last = out.rsplit("\r\x1b[K", 1)[1]
    assert last.strip() == ("this worker ran 4 runs (3 done, 1 failed); the list: 4 entries: "
                            "3 done, 1 failed")
    assert lines(tmp_path / "ran.txt") == ["first", "0", "1"]


def test_the_live_line_tells_a_batch_s_run_from_the_entries_only_claimed(tmp_path):
    """Runs this short are claimed in batches; while the gated one holds
    the worker's only slot, the live line counts one running and the rest
    of its batch as claimed (the batch holds more than the gated run)."""
    waits = ["sh", "-c", "while [ ! -e go ]; do sleep 0.05; done; echo gated >> ran.txt"]
    write_list(tmp_path / "l.json", [appender(i) for i in range(20)] + [waits] +
               [appender(i) for i in range(21, 60)])
    code, out = run_on_terminal(command("run", "l.json", "--poll", "0.2"), tmp_path,
                                when=r"\r\x1b\[K20/60 done, 1 running \(1 here\), [1-9]\d* claimed",
                                then=(tmp_path / "go").touch)
    assert code == 0, out
    assert (tmp_path / "go").exists(), "the live line never showed the batch: " + out
    assert sorted(lines(tmp_path / "ran.txt")) == sorted(
        [str(i) for i in range(20)] + ["gated"] + [str(i) for i in range(21, 60)])


def test_a_worker_off_a_terminal_prints_plain_lines(tmp_path):
    write_list(tmp_path / "l.json", [appender(i) for i in range(3)])
    result = run("run", "l.json", cwd=tmp_path)
    assert result.returncode == 0
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    assert "this worker ran" not in result.stderr
    assert len(result.stderr.splitlines()) == 7  # start and done per run, and why it stopped


# ---------------------------------------------------------------- status and procs


def test_status_of_a_run_started_with_no_detach_has_no_log(tmp_path):
    write_list(tmp_path / "l.json", [["sh", "-c", "echo oops >&2; exit 3"]])
    result = run("run", "l.json", "--no-detach", cwd=tmp_path)
    assert result.returncode == 1 and "oops" in result.stderr
    report = status("l.json", cwd=tmp_path)
    assert report["failed"][0]["err"] is None
    shown = run("status", "l.json", cwd=tmp_path).stdout
    assert "no log (--no-detach: output went to the worker's terminal)" in shown
    assert ".err" not in shown


def test_status_shows_the_worker_s_and_the_run_s_pid(tmp_path):
    write_list(tmp_path / "l.json", [["sh", "-c", "echo $$ > pid; while [ ! -e go ]; do "
                                      "sleep 0.05; done"]])
    guard = start("run", "l.json", cwd=str(tmp_path))
    try:
        # the run's process is recorded within a second or so
        running = wait_for(lambda: [r for r in status("l.json", cwd=tmp_path)["running"]
                                    if r["run_pid"]], what="the run's pid recorded")
        run_pid = int((tmp_path / "pid").read_text())
        assert running[0]["run_pid"] == run_pid
        shown = run("status", "l.json", cwd=tmp_path).stdout
        assert "worker pid %d, run pid %d" % (running[0]["pid"], run_pid) in shown
    finally:
        (tmp_path / "go").touch()
        assert guard.wait(timeout=60) == 0


def test_procs_finds_a_worker_of_a_list_outside_results(tmp_path):
    """A worker's list anywhere (not under ./results): procs run from
    another folder still lists it, with -a and without."""
    (tmp_path / "lists").mkdir()
    (tmp_path / "elsewhere").mkdir()
    write_list(tmp_path / "lists" / "l.json", [["sh", "-c", "touch started; while [ ! -e go ]; "
                                                "do sleep 0.05; done"]])
    guard = start("run", "l.json", cwd=str(tmp_path / "lists"))
    try:
        wait_for(lambda: (tmp_path / "lists" / "started").exists(), what="the run")
        for extra in ([], ["-a"]):
            shown = run("procs", *extra, cwd=tmp_path / "elsewhere").stdout
            assert str(tmp_path / "lists" / "l.json") in shown, shown
            assert "pid %d" % guard.pid in shown
    finally:
        (tmp_path / "lists" / "go").touch()
        assert guard.wait(timeout=60) == 0
    # gone once it ended (workers of other tests' simulated hosts, which a
    # command run once cannot judge, may still be listed)
    shown = run("procs", "-a", cwd=tmp_path / "elsewhere").stdout
    assert str(tmp_path / "lists" / "l.json") not in shown, shown


def test_procs_skips_remembered_lists_that_went_bad(tmp_path):
    write_list(tmp_path / "l.json", [appender(1)])
    assert run("run", "l.json", cwd=tmp_path).returncode == 0
    (tmp_path / "l.json").write_text("[not json")
    result = run("procs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("no live workers")
    with open(os.path.join(os.environ["XDG_STATE_HOME"], "cooperate", "recent")) as f:
        assert str(tmp_path / "l.json") in f.read().split("\n")


def test_an_unknown_key_names_only_documented_keys(tmp_path):
    write_list(tmp_path / "l.json", [{"cmd": ["true"], "cdw": "x"}])
    error = one_line_error(run("run", "l.json", cwd=tmp_path))
    keys = error.rsplit("(an entry's keys: ", 1)[1].rstrip(")\n").split(", ")
    readme = documentation()
    for key in keys:
        assert "`%s`" % key in readme or '"%s"' % key in readme, key
    assert json.loads((tmp_path / "l.json").read_text())  # untouched
