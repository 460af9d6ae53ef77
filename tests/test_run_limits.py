"""Time limits and resources, tried for real: runs past their "timeout" (or
--timeout) stopped as a process group and recorded as timed out, retried as
failed runs are, shown by status, collect and the report; --memfree, --load
and --gpu-memfree holding runs back (a stand-in nvidia-smi on PATH prints
what the real one prints for the worker's query).

Runs record what they did in files (their pids, the GPU they were given);
the tests read those and the journal. Nothing here sleeps to order events:
the tests wait on conditions with deadlines (util.wait_for)."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest

import util
from util import run, wait_for, write_list

QUERY = "--query-gpu=index,memory.free --format=csv,noheader,nounits"
WAIT = 60  # seconds any one wait here may take


def entry_id(entry):
    from cooperate.queue.listfile import entry_id as id_of

    return id_of(entry)


def ends(tmp_path):
    """(id, attempt) -> (outcome, code, again) of every end record."""
    return {(r[1], r[2]): tuple(r[5:8])
            for r in util.journal(str(tmp_path / "l.json.cooperate")) if r[0] == "e"}


def gone(pid):
    """Has this process ended (gone, or a zombie not reaped yet)?"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def lines(path):
    return path.read_text().split("\n")[:-1] if path.exists() else []


def one_line_error(result):
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr


class Worker:
    """A worker started in the background, its output in a file."""

    def __init__(self, tmp_path, *args, env=None):
        self.err = tmp_path / ("worker%d.err" % len(list(tmp_path.glob("worker*.err"))))
        with open(str(self.err), "w") as f:
            self.process = util.start(*args, cwd=str(tmp_path), stdout=f, stderr=f, env=env)

    def output(self):
        return self.err.read_text()

    def wait_output(self, text):
        wait_for(lambda: text in self.output(), WAIT, what="%r from the worker" % text)

    def stop(self):
        """SIGTERM, as Slurm or systemd stop it; its exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=WAIT)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def workers():
    started = []
    yield lambda *args, **kwargs: started.append(Worker(*args, **kwargs)) or started[-1]
    for worker in started:
        worker.kill()


# ------------------------------------------------------------ time limits


def test_a_run_past_its_timeout_is_stopped_as_a_group_and_the_worker_goes_on(tmp_path):
    # the run and a child of its own; TERM ends both (no need for KILL: a
    # grace period longer than the test waits)
    slow = {"cmd": ["sh", "-c", "echo $$ >> pids; sleep 60 & echo $! >> pids; wait; "
                                "echo finished >> pids"], "timeout": 1}
    next_one = ["sh", "-c", "echo ran >> next"]
    write_list(tmp_path / "l.json", [slow, next_one])
    result = run("run", "l.json", "--grace", "300", cwd=str(tmp_path))
    assert result.returncode == 1, result.stderr
    pids = [int(p) for p in lines(tmp_path / "pids")]
    assert len(pids) == 2  # no "finished": it was stopped
    wait_for(lambda: all(gone(p) for p in pids), WAIT, what="the timed-out run's processes")
    assert ends(tmp_path) == {(entry_id(slow), 1): ("timeout", -signal.SIGTERM, False),
                              (entry_id(next_one), 1): ("done", 0, False)}
    assert lines(tmp_path / "next") == ["ran"]
    assert "%s#1 reached its time limit of 1 s: stopping it" % entry_id(slow) in result.stderr
    assert "TIMED OUT %s#1: stopped at its time limit of 1 s" % entry_id(slow) in result.stderr


def test_a_run_that_ignores_term_gets_kill_after_the_grace_period(tmp_path):
    # the shell traps TERM (and says so), its child ignores it: only KILL,
    # --grace seconds after TERM, ends them
    stubborn = {"cmd": ["sh", "-c", "trap 'echo TERM >> got' TERM; echo $$ >> pids; "
                                    "(trap '' TERM; exec sleep 60) & echo $! >> pids; "
                                    "while :; do wait; done"], "timeout": 1}
    next_one = ["sh", "-c", "echo ran >> next"]
    write_list(tmp_path / "l.json", [stubborn, next_one])
    result = run("run", "l.json", "--grace", "2", cwd=str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert lines(tmp_path / "got") == ["TERM"]
    pids = [int(p) for p in lines(tmp_path / "pids")]
    assert len(pids) == 2
    wait_for(lambda: all(gone(p) for p in pids), WAIT, what="the timed-out run's processes")
    assert ends(tmp_path)[entry_id(stubborn), 1] == ("timeout", -signal.SIGKILL, False)
    assert ends(tmp_path)[entry_id(next_one), 1] == ("done", 0, False)


def test_timeouts_are_retried_and_shown_by_status_collect_and_report(tmp_path):
    by_option = ["sh", "-c", "echo try >> tries; exec sleep 60"]
    # an entry's own limit beats --timeout: this one outlives --timeout 1
    own_longer = {"cmd": ["sh", "-c", "sleep 2; echo ok >> own"], "timeout": 300}
    # and its own "retries" beats --retries
    own_shorter = {"cmd": ["sh", "-c", "echo try >> own_tries; exec sleep 60"], "timeout": 1,
                   "retries": 0}
    write_list(tmp_path / "l.json", [by_option, own_longer, own_shorter])
    result = run("run", "l.json", "--timeout", "1", "--retries", "2", "--grace", "300",
                 cwd=str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert lines(tmp_path / "tries") == ["try"] * 3
    assert lines(tmp_path / "own") == ["ok"]
    assert lines(tmp_path / "own_tries") == ["try"]
    a, b, c = (entry_id(e) for e in (by_option, own_longer, own_shorter))
    term = -signal.SIGTERM
    assert ends(tmp_path) == {(a, 1): ("timeout", term, True), (a, 2): ("timeout", term, True),
                              (a, 3): ("timeout", term, False), (b, 1): ("done", 0, False),
                              (c, 1): ("timeout", term, False)}
    assert result.stderr.count("timed out %s#" % a) == 2  # retried
    assert "(it will be retried)" in result.stderr

    text = run("status", "l.json", cwd=str(tmp_path)).stdout
    assert "1 done, 2 failed" in text
    assert re.search(r"%s#3  timed out after 1 s  " % a, text), text
    assert "attempt 1: timed out after 1 s" in text and "attempt 2: timed out after 1 s" in text
    assert re.search(r"%s#1  timed out after 1 s  " % c, text), text
    failed = {f["id"]: f for f in util.status(str(tmp_path / "l.json"))["failed"]}
    assert (failed[a]["outcome"], failed[a]["limit"]) == ("timeout", 1)
    assert [t["outcome"] for t in failed[a]["attempts"]] == ["timeout"] * 3

    collected = run("collect", "l.json", "--format", "jsonl", cwd=str(tmp_path))
    assert collected.returncode == 0, collected.stderr
    rows = {r["id"]: r for r in map(json.loads, collected.stdout.splitlines())}
    assert [(rows[i]["status"], rows[i]["outcome"], rows[i]["attempts"]) for i in (a, b, c)] == [
        ("failed", "timeout", 3), ("done", "done", 1), ("failed", "timeout", 1)]

    made = run("report", "l.json", "-o", "r.html", cwd=str(tmp_path))
    assert made.returncode == 0, made.stderr
    page = (tmp_path / "r.html").read_text()
    from cooperate.results import report

    colour = report.COLOURS["timeout"]
    assert colour not in [c for o, c in report.COLOURS.items() if o != "timeout"]
    assert ".outcome-timeout{background:%s}" % colour in page
    assert '<span><i class="outcome-timeout"></i>timeout</span>' in page  # the timeline's legend
    assert len(re.findall(r'class="bar outcome-timeout" data-outcome="timeout"', page)) == 4
    assert re.search(r'<div class="seg outcome-timeout" data-part="timeout" data-count="2"', page)
    assert "timed out (stopped at their time limit)" in page


@pytest.mark.parametrize("value,message", [
    ("0", "not 0"), ("-1.5", "not -1.5"), ('"10"', "not a string"), ("true", "not true/false"),
    ("NaN", "not nan"), ("Infinity", "not inf"), ("null", "not null"),
])
def test_a_bad_timeout_is_one_line(tmp_path, value, message):
    (tmp_path / "l.json").write_text('[["true"], {"cmd": ["true"], "timeout": %s}]' % value)
    error = one_line_error(run("run", "l.json", cwd=str(tmp_path)))
    assert "l.json:1: entry 1: 'timeout' must be a number of seconds > 0, %s" % message in error
    assert not (tmp_path / "l.json.cooperate" / "journal").exists()


@pytest.mark.parametrize("option", [("--timeout", "0"), ("--timeout", "inf"), ("--load", "-1"),
                                    ("--memfree", "2X"), ("--gpu-memfree", "G")])
def test_a_bad_option_is_one_line(tmp_path, option):
    write_list(tmp_path / "l.json", [["true"]])
    assert "argument %s: expected" % option[0] in one_line_error(
        run("run", "l.json", *option, cwd=str(tmp_path)))


def test_sizes_read_as_gnu_parallel_reads_them():
    from cooperate.run.resources import Size

    assert [Size(t) for t in ("4096", "2G", "500M", "1.5k", "1T", "2g")] == [
        4096, 2 * 1024 ** 3, 500 * 1024 ** 2, 1500, 1024 ** 4, 2 * 10 ** 9]
    assert Size("2G").text == "2G"
    for bad in ("", "G", "2X", "-1G", "nan", "infG"):
        with pytest.raises(ValueError):
            Size(bad)


# ------------------------------------------------------------ resources


def test_memfree_more_than_the_machine_has_starts_nothing(tmp_path, workers):
    write_list(tmp_path / "l.json", [["sh", "-c", "echo ran >> ran"]])
    worker = workers(tmp_path, "run", "l.json", "--memfree", "1P")
    worker.wait_output("waiting: ")
    counts = util.status(str(tmp_path / "l.json"))["counts"]
    assert (counts["pending"], counts["running"]) == (1, 0)
    assert worker.stop() == 128 + signal.SIGTERM
    out = worker.output()
    assert re.search(r"^\S+ waiting: \d+\.\d [KMGT]B available, --memfree 1P$", out, re.M), out
    assert out.count("waiting") == 1
    assert not (tmp_path / "ran").exists()
    # enough memory asked for: it runs
    result = run("run", "l.json", "--memfree", "1K", cwd=str(tmp_path))
    assert result.returncode == 0 and "waiting" not in result.stderr, result.stderr
    assert lines(tmp_path / "ran") == ["ran"]


def load_above_zero():
    """Make sure the 1-minute load average is above 0 (it is exactly 0 on an
    idle machine): a busy child until the kernel's next sample counts it.
    Returns that child, or None."""
    if os.getloadavg()[0] > 1e-6:
        return None
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    wait_for(lambda: os.getloadavg()[0] > 1e-6, WAIT, what="a load average above 0")
    return spinner


def test_load_under_a_tiny_bound_starts_nothing_until_end_by(tmp_path):
    """liftoff's launcher with --load: it waits, then --end-by ends it."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "default.yaml").write_text("lr: 0.1\n")
    (tmp_path / "touch.py").write_text(
        "import os\nopen(os.path.join(%r, 'ran'), 'a').write('ran\\n')\n" % str(tmp_path))
    spinner = load_above_zero()
    try:
        result = run("launch", "touch.py", "configs/default.yaml", "--load", "1e-9",
                     "--end-by", "2", cwd=str(tmp_path))
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    assert result.returncode == 0, result.stderr
    assert re.search(r"waiting: load average \d+\.\d\d, --load 1e-09$", result.stderr, re.M), \
        result.stderr
    assert result.stderr.count("waiting") == 1
    assert "nothing more to start: the time of --start-by / --end-by is up" in result.stderr
    assert not (tmp_path / "ran").exists()
    # under a huge bound it runs
    result = run("launch", "touch.py", "configs/default.yaml", "--load", "1e9", cwd=str(tmp_path))
    assert result.returncode == 0 and "waiting" not in result.stderr, result.stderr
    assert lines(tmp_path / "ran") == ["ran"]


def gpu_env(tmp_path):
    """PATH with a stand-in nvidia-smi (GPU 0: 1 GB free, GPU 1: 24 GB) that
    answers only the worker's query, and GPU slots of this test's own."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text('#!/bin/sh\n[ "$*" = "%s" ] || { echo "unexpected: $*" >&2; exit 9; }\n'
                      "printf '0, 1024\\n1, 24000\\n'\n" % QUERY)
    script.chmod(0o755)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    return dict(os.environ, PATH="%s%s%s" % (folder, os.pathsep, os.environ["PATH"]),
                XDG_RUNTIME_DIR=str(runtime))


def test_gpu_memfree_skips_a_gpu_without_enough_free_memory(tmp_path, workers):
    env = gpu_env(tmp_path)
    write_list(tmp_path / "l.json", [["sh", "-c", "echo $CUDA_VISIBLE_DEVICES >> gpus", str(i)]
                                     for i in range(4)])
    result = run("run", "l.json", "--gpus", "0,1", "--procs-no", "2", "--gpu-memfree", "2G",
                 cwd=str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr
    assert lines(tmp_path / "gpus") == ["1"] * 4
    assert result.stderr.count("waiting: 1.0 GB free on GPU 0, --gpu-memfree 2G\n") == 1

    # no GPU has enough: nothing starts, one line says why
    write_list(tmp_path / "l.json", [["sh", "-c", "echo $CUDA_VISIBLE_DEVICES >> late"]])
    worker = workers(tmp_path, "run", "l.json", "--gpus", "0,1", "--gpu-memfree", "30G", env=env)
    worker.wait_output("waiting: ")
    assert worker.stop() == 128 + signal.SIGTERM
    out = worker.output()
    assert out.count("waiting") == 1
    assert "waiting: 1.0 GB free on GPU 0, 23.4 GB free on GPU 1, --gpu-memfree 30G\n" in out
    assert not (tmp_path / "late").exists()


def test_gpu_memfree_needs_nvidia_smi_and_gpus(tmp_path):
    write_list(tmp_path / "l.json", [["true"]])
    (tmp_path / "empty").mkdir()
    env = dict(os.environ, PATH=str(tmp_path / "empty"))
    error = one_line_error(run("run", "l.json", "--gpus", "0", "--gpu-memfree", "2G",
                               cwd=str(tmp_path), env=env))
    assert "--gpu-memfree: nvidia-smi" in error and "not on PATH" in error
    error = one_line_error(run("run", "l.json", "--gpu-memfree", "2G", cwd=str(tmp_path),
                               env=gpu_env(tmp_path)))
    assert "--gpu-memfree needs --gpus" in error
