"""The Python API (cooperate.api): a driver script opens a list, appends
entries, waits while real workers run them, and reads the results as rows,
metric columns and early-stopping decisions included."""

import json
import os
import subprocess
import sys
import threading

import pytest

from util import TOP, command

sys.path.insert(0, os.path.join(TOP, "lib"))
from cooperate.api import open_sweep  # noqa: E402
from cooperate.errors import UserError  # noqa: E402

LIB = os.path.join(TOP, "lib")
TRAIN = ("import json, os, sys\n"
         "from cooperate import report\n"
         "q = float(sys.argv[1])\n"
         "for step in range(1, 5):\n"
         "    report(step=step, loss=q + 1.0 / step, acc=1 - q)\n"
         "json.dump({'final': q}, open('r%s.json' % os.environ['COOPERATE_ENTRY'], 'w'))\n")


def entry(q):
    return {"cmd": [sys.executable, "train.py", str(q)], "env": {"PYTHONPATH": LIB}}


def test_a_driver_appends_waits_and_reads_rows(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    path = str(tmp_path / "sweep.json")
    sweep = open_sweep(path)
    assert sweep.experiment is None
    assert sweep.counts()["pending"] == 0
    assert sweep.append(entry(0.3), entry(0.1)) == 2
    assert sweep.append(entry(0.1), entry(0.2)) == 1  # 0.1 is there already
    assert len(json.loads(open(path).read())) == 3
    assert sweep.counts()["pending"] == 3
    # a worker started as usual does the work while the driver waits
    worker = subprocess.Popen(command("run", path, "--procs-no", "2"), cwd=tmp_path,
                              stderr=subprocess.PIPE, text=True)
    counts = sweep.wait(timeout=300, every=0.1)
    assert worker.wait(timeout=300) == 0, worker.stderr.read()
    assert counts["done"] == 3 and counts["pending"] == counts["running"] == 0
    rows = sweep.rows()
    assert [r["outcome"] for r in rows] == ["done"] * 3
    by_q = {r["command"].split()[-1]: r for r in rows}
    assert by_q["0.1"]["step"] == 4
    assert by_q["0.1"]["loss.last"] == pytest.approx(0.35)
    assert by_q["0.1"]["loss.best"] == pytest.approx(0.35)
    assert by_q["0.3"]["acc.best"] == pytest.approx(0.7)
    # a metric maximised: its best is the highest
    assert sweep.rows(maximise=["loss"])[0]["loss.best"] == pytest.approx(1.3)
    assert [p["step"] for p in sweep.metrics(by_q["0.2"]["id"])] == [1, 2, 3, 4]
    assert sweep.decisions() == []


def test_decisions_and_results_files(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    path = str(tmp_path / "sweep.json")
    sweep = open_sweep(path)
    sweep.append(*[entry(q) for q in (0.2, 0.1, 0.9)])
    result = subprocess.run(command("run", path, "--early-stop", "asha", "--metric", "loss",
                                    "--min-step", "4"), cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    decisions = sweep.decisions()
    # each run reaches step 4 (the rung) and ends: its value counts for the next ones
    assert [(d["rung"], d["keep"], d["of"]) for d in decisions] == [
        (4, True, 1), (4, True, 2), (4, False, 3)]
    assert decisions[2]["reason"] == "rung 4: loss 1.15, rank 3 of 3, cut-off 0.35"
    rows = sweep.rows(results_dir=str(tmp_path / "r{id}.json"))
    assert [(r["outcome"], r["final"], r["step"]) for r in rows] == [
        ("done", 0.2, 4), ("done", 0.1, 4), ("done", 0.9, 4)]


def test_bad_input_says_what_to_do(tmp_path):
    path = str(tmp_path / "sweep.json")
    sweep = open_sweep(path)
    with pytest.raises(UserError, match="quotes|close|split"):
        sweep.append("python 'unclosed")
    assert json.loads(open(path).read()) == []
    with pytest.raises(UserError, match="no such list file"):
        open_sweep(str(tmp_path / "nothing"))
    with pytest.raises(TimeoutError):
        sweep.append(["true"])
        sweep.wait(timeout=0.2, every=0.05)


def test_wait_returns_when_workers_finish_in_another_thread(tmp_path):
    """wait() only reads: it sees the end recorded by a worker elsewhere."""
    path = str(tmp_path / "sweep.json")
    sweep = open_sweep(path)
    sweep.append(["true"], ["false"])
    done = {}
    waiter = threading.Thread(target=lambda: done.update(sweep.wait(timeout=300, every=0.05)))
    waiter.start()
    result = subprocess.run(command("run", path), cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    waiter.join(timeout=300)
    assert result.returncode == 1
    assert (done["done"], done["failed"]) == (1, 1)
