"""A liftoff launch interrupted, as liftoff users interrupt it: Ctrl-C typed
on its terminal, and the terminal closed (a real pseudo-terminal whose
master side is closed: the kernel hangs it up). Real liftoff 0.3.3 (its
runs under nohup) let its runs go on and end, each started once, and a
relaunch ran the rest (tests/golden/interrupt.json, recorded by
tests/golden/record.py): the same here, counted from what the runs
themselves wrote, and the launcher keeps watching its runs (their ends are
recorded) until they end. Also what the terminal shows and the log a
hung-up worker writes to, and cooperate-run: a hangup never stops it
either, Ctrl-C stops its runs (they are pending again).
"""

import collections
import errno
import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import termios
import textwrap

import pytest

import util
from util import TOP, wait_for

GOLDEN = os.path.join(TOP, "tests", "golden", "interrupt.json")
DEADLINE = 120

SCRIPT = """\
import os, sys, time
from liftoff import parse_opts

opts = parse_opts()
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "starts.txt"), "a") as f:
    f.write("%s %d\\n" % (opts.title, os.getpid()))
deadline = time.time() + 120
while not os.path.exists(os.path.join(here, "go")) and time.time() < deadline:
    time.sleep(0.05)
print("ran", opts.title)
"""


def experiment(tmp_path, runs=4):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "default.yaml").write_text("seed: 0\nlr: 0.1\n")
    (tmp_path / "cfg" / "config.yaml").write_text(
        "seed: [%s]\n" % ", ".join(str(i) for i in range(1, runs + 1)))
    (tmp_path / "train.py").write_text(SCRIPT)
    result = util.run("prepare", "cfg", "--do", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (exp,) = os.listdir(str(tmp_path / "results"))
    return os.path.join("results", exp)


def starts(tmp_path):
    """{title: how many times it started}, from the runs' own lines."""
    path = tmp_path / "starts.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return collections.Counter(line.rsplit(" ", 1)[0] for line in lines)


class Terminal:
    """A command on a pseudo-terminal of its own, as from a shell: its
    session's controlling terminal, its process group in the foreground."""

    def __init__(self, argv, cwd):
        self.master, slave = pty.openpty()

        def controlling():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            # as from a shell: the tests may run under nohup, whose ignored
            # SIGHUP the command would keep (a worker honours it)
            signal.signal(signal.SIGHUP, signal.SIG_DFL)

        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True, preexec_fn=controlling, env=env)
        os.close(slave)
        self.text = ""

    def read(self):
        """What it printed so far."""
        while self.master is not None and select.select([self.master], [], [], 0)[0]:
            try:
                data = os.read(self.master, 65536)
            except OSError as error:
                if error.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            self.text += data.decode("utf-8", "replace")
        return self.text

    def ctrl_c(self):
        os.write(self.master, b"\x03")

    def hang_up(self):
        self.read()
        os.close(self.master)
        self.master = None

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.master is not None:
            os.close(self.master)
            self.master = None


def launch_on_terminal(tmp_path, exp):
    return Terminal(util.command("launch", "train.py", exp, "--procs-no", "2"), str(tmp_path))


def golden():
    with open(GOLDEN) as f:
        return json.load(f)


def relaunch(tmp_path, exp):
    result = util.run("launch", "train.py", exp, "-q", cwd=tmp_path, timeout=DEADLINE)
    assert result.returncode == 0, result.stderr
    return result


def check_liftoff_did_the_same(kind, counts):
    """liftoff's runs, interrupted the same way, each started once too."""
    recorded = golden()[kind]
    assert sorted(recorded["starts"].values()) == [1] * len(recorded["starts"])
    assert sorted(counts.values()) == sorted(recorded["starts"].values())
    assert recorded["in_flight_went_on"]


def test_ctrl_c_stops_launching_and_the_runs_go_on_watched(tmp_path):
    exp = experiment(tmp_path)
    term = launch_on_terminal(tmp_path, exp)
    try:
        wait_for(lambda: sum(starts(tmp_path).values()) == 2, DEADLINE, "two runs started")
        term.ctrl_c()
        wait_for(lambda: "starting nothing more" in term.read(), DEADLINE, "the Ctrl-C note")
        said = term.read()
        assert "liftoff-abort %s" % exp in said and "Ctrl-C again" in said
        assert term.proc.poll() is None, "the launcher watches its runs"
        counts = util.status(str(tmp_path / exp))["counts"]
        assert counts["running"] == 2 and counts["pending"] == 2
        (tmp_path / "go").write_text("")
        assert term.proc.wait(DEADLINE) == 130
    finally:
        term.stop()
    # the runs ended and were recorded by the launcher that watched them
    counts = util.status(str(tmp_path / exp))["counts"]
    assert counts["done"] == 2 and counts["pending"] == 2
    relaunch(tmp_path, exp)
    ran = starts(tmp_path)
    assert len(ran) == 4 and set(ran.values()) == {1}, ran
    assert util.status(str(tmp_path / exp))["counts"]["done"] == 4
    check_liftoff_did_the_same("sigint", ran)


def test_a_second_ctrl_c_stops_the_runs(tmp_path):
    exp = experiment(tmp_path, runs=2)
    term = launch_on_terminal(tmp_path, exp)
    try:
        wait_for(lambda: sum(starts(tmp_path).values()) == 2, DEADLINE, "two runs started")
        term.ctrl_c()
        wait_for(lambda: "starting nothing more" in term.read(), DEADLINE, "the Ctrl-C note")
        term.ctrl_c()
        assert term.proc.wait(DEADLINE) == 130
        wait_for(lambda: "pending again" in term.read(), DEADLINE, "the interrupted runs")
    finally:
        term.stop()
    assert util.status(str(tmp_path / exp))["counts"]["pending"] == 2


def test_a_closed_terminal_stops_nothing(tmp_path):
    exp = experiment(tmp_path)
    term = launch_on_terminal(tmp_path, exp)
    try:
        wait_for(lambda: sum(starts(tmp_path).values()) == 2, DEADLINE, "two runs started")
        term.hang_up()
        state = tmp_path / exp / ".cooperate"
        logs = lambda: [os.path.join(root, name) for root, _, names in os.walk(str(state))  # noqa: E731
                        if root.endswith(os.path.join("logs", "workers")) for name in names]
        wait_for(logs, DEADLINE, "the worker's log")
        (log,) = logs()
        wait_for(lambda: "the terminal is gone" in open(log).read(), DEADLINE, "its note")
        assert "liftoff-abort %s" % exp in open(log).read()
        # another launch meanwhile takes what is pending, never a running run
        assert util.status(str(tmp_path / exp))["counts"]["running"] == 2
        (tmp_path / "go").write_text("")
        relaunch(tmp_path, exp)
        assert term.proc.wait(DEADLINE) == 0
    finally:
        term.stop()
    ran = starts(tmp_path)
    assert len(ran) == 4 and set(ran.values()) == {1}, ran
    assert util.status(str(tmp_path / exp))["counts"]["done"] == 4
    text = open(log).read()
    assert "done" in text and "\033[" not in text
    check_liftoff_did_the_same("sighup", ran)


def test_cooperate_run_goes_on_after_a_hangup_and_stops_on_ctrl_c(tmp_path):
    util.write_list(str(tmp_path / "exps.json"), [
        "sh -c 'echo $$ >> pids; while [ ! -e go ]; do sleep 0.05; done'",
        "sh -c 'echo $$ >> pids; while [ ! -e go ]; do sleep 0.05; done'"])
    term = Terminal(util.command("run", "exps.json", "--procs-no", "2"), str(tmp_path))
    pids = lambda: (tmp_path / "pids").exists() and len(  # noqa: E731
        (tmp_path / "pids").read_text().split()) == 2
    try:
        wait_for(pids, DEADLINE, "two runs started")
        term.ctrl_c()
        assert term.proc.wait(DEADLINE) == 130
    finally:
        term.stop()
    assert util.status(str(tmp_path / "exps.json"))["counts"]["pending"] == 2
    (tmp_path / "pids").unlink()
    term = Terminal(util.command("run", "exps.json", "--procs-no", "2"), str(tmp_path))
    try:
        wait_for(pids, DEADLINE, "two runs started again")
        term.hang_up()
        wait_for(lambda: any(
            "the terminal is gone" in open(os.path.join(root, name)).read()
            for root, _, names in os.walk(str(tmp_path / "exps.json.cooperate"))
            if root.endswith("workers") for name in names), DEADLINE, "the log's note")
        assert term.proc.poll() is None
        (tmp_path / "go").write_text("")
        assert term.proc.wait(DEADLINE) == 0
    finally:
        term.stop()
    assert util.status(str(tmp_path / "exps.json"))["counts"]["done"] == 2
