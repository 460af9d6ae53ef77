"""`collect` of a 10,000-run experiment (a 100 x 100 grid), each run with a
small results.json, timed through dist/cooperate.pyz with this interpreter
(wall time of the whole command, start-up included, writing CSV to a file),
in bench/out/ (not /tmp: file creation there can be far slower than on the
project's disk).

The experiment is made with `prepare --do` (--script /bin/true), drained by
two `run EXP -q` workers, and each run's results.json is written here
directly (no training script needed). COOPERATE_PYZ names another archive
to time (one built with `build.py -o`). bench/run.py calls measure(rows);
`python3 bench/collect.py` prints the row.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from common import print_table, write_configs

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
PYZ = os.environ.get("COOPERATE_PYZ") or os.path.join(TOP, "dist", "cooperate.pyz")
PY = sys.executable

GOAL_SECONDS = 2.0
SIDE = 100

DEFAULT = "optim:\n  lr: 0.1\n  momentum: 0.9\nseed: 0\nmodel: mlp\n"
CONFIG = "optim:\n  lr: [%s]\nseed: [%s]\n" % (
    ", ".join("%g" % (0.001 * (i + 1)) for i in range(SIDE)), ", ".join(str(i) for i in range(SIDE)))


def experiment():
    """A drained 100 x 100 experiment with a results.json in every run
    folder, made anew; its folder."""
    cwd = os.path.join(OUT, "collect")
    shutil.rmtree(cwd, ignore_errors=True)
    write_configs(os.path.join(cwd, "grid"), DEFAULT, CONFIG)
    results = os.path.join(cwd, "results")
    subprocess.run([PY, PYZ, "prepare", "grid", "--do", "--name", "sweep", "--results-path",
                    results, "--script", "/bin/true"], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL)
    (name,) = os.listdir(results)
    exp = os.path.join(results, name)
    workers = [subprocess.Popen([PY, PYZ, "run", exp, "-q"], cwd=cwd) for _ in range(2)]
    for w in workers:
        assert w.wait() == 0, "a worker failed"
    with open(os.path.join(exp, ".cooperate", "queue.json")) as f:
        runs = [entry["run"] for entry in json.load(f)]
    for i, run in enumerate(runs):
        with open(os.path.join(exp, run, "results.json"), "w") as f:
            json.dump({"acc": (i % 97) / 97, "loss": {"train": i / 1e4, "val": i / 2e4},
                       "epochs": 10}, f)
    return exp


def time_collect(exp, repeat=3):
    """Seconds of each of `repeat` runs of `collect EXP -o out.csv`, and the
    number of rows of the last one."""
    out = os.path.join(os.path.dirname(os.path.dirname(exp)), "out.csv")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([PY, PYZ, "collect", exp, "-o", out], check=True)
        times.append(time.perf_counter() - start)
    with open(out) as f:
        lines = sum(1 for _ in f) - 1
    return times, lines


def measure(rows):
    exp = experiment()
    times, lines = time_collect(exp)
    assert lines == SIDE * SIDE, lines
    median = statistics.median(times)
    rows.append(("collect, 10,000 runs (s)", "%.2f" % median, "",
                 "<= %.0f s" % GOAL_SECONDS))
    shutil.rmtree(os.path.join(OUT, "collect"), ignore_errors=True)
    return times


if __name__ == "__main__":
    if not os.path.exists(PYZ):
        sys.exit("build the archive first: make")
    print("python: %s %s" % (PY, sys.version.split()[0]), flush=True)
    table = []
    times = measure(table)
    print("runs: %s s" % ", ".join("%.2f" % t for t in times))
    print_table(table)
