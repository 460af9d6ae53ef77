"""The examples a user starts from work on a fresh checkout after `make`."""

import csv
import shutil
import subprocess
import sys

from util import TOP


def test_examples_makefile_runs_a_whole_sweep(tmp_path):
    examples = tmp_path / "examples"
    shutil.copytree(TOP + "/examples",
                    str(examples), ignore=shutil.ignore_patterns("results", "demo", "*.csv",
                                                                "__pycache__"))
    toolkit = "%s %s/dist/cooperate.pyz" % (sys.executable, TOP)
    result = subprocess.run(["make", "-C", str(examples), "sweep", "PYTHON=" + sys.executable,
                             "COOPERATE=" + toolkit], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 done" in result.stdout
    with open(examples / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    assert all(row["sum"] and row["status"] == "done" for row in rows), "every run wrote its results"
    assert {row["optim_.name"] for row in rows} == {"sgd", "adam"}
    workers = subprocess.run(["make", "-s", "-C", str(examples), "workers",
                              "COOPERATE=" + toolkit], capture_output=True, text=True)
    assert "run %s/liftoff/results/" % examples in workers.stdout
