"""prepare --do of a 4 x 10-value grid (10,000 variations), timed through
dist/cooperate.pyz with this interpreter, in bench/out/ (not /tmp: file
creation there can be far slower than on the project's disk).

bench/run.py calls measure(rows); `python3 bench/prepare.py` prints the rows.
"""

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
PYZ = os.path.join(TOP, "dist", "cooperate.pyz")
PY = sys.executable

LIFTOFF_SECONDS = 15.2  # liftoff-prepare --do of the same grid on this machine
GOAL_SECONDS = 1.5

DEFAULT = """\
model:
  name: mlp
  hidden: 64
  layers: [1, 2]
optim:
  name: sgd
  lr: 0.1
  momentum: 0.9
seed: 0
batch_size: 32
"""

CONFIG = """\
model:
  hidden: [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
optim:
  lr: [0.1, 0.05, 0.01, 0.005, 0.001, 0.0005, 0.0001, 0.00005, 0.00001, 0.000005]
  momentum: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
"""


def _setup():
    cwd = os.path.join(OUT, "prepare")
    shutil.rmtree(cwd, ignore_errors=True)
    write_configs(os.path.join(cwd, "grid"), DEFAULT, CONFIG)
    return cwd


def _count(path):
    folders = files = 0
    for _, dirs, names in os.walk(path):
        folders += len(dirs)
        files += len(names)
    return folders, files


def time_prepare(repeat=3):
    """Seconds of each of `repeat` runs of `prepare grid --do`, and the
    folders and files the last one made."""
    cwd = _setup()
    times = []
    made = None
    for i in range(repeat):
        results = os.path.join(cwd, "results%d" % i)
        # let the previous run's writes reach the disk first, so that one
        # run does not pay for the last one's writeback
        os.sync()
        start = time.perf_counter()
        subprocess.run([PY, PYZ, "prepare", "grid", "--do", "--results-path", results],
                       cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
        made = _count(results)
    shutil.rmtree(cwd, ignore_errors=True)
    return times, made


def measure(rows):
    times, (folders, files) = time_prepare()
    median = statistics.median(times)
    rows.append(("prepare --do, 4 x 10 grid (10,000 variations) (s)", "%.2f" % median,
                 "liftoff %.1f (%.0fx faster)" % (LIFTOFF_SECONDS, LIFTOFF_SECONDS / median),
                 "<= %.1f s" % GOAL_SECONDS))
    rows.append(("", "median of %s; %d folders, %d files"
                 % (", ".join("%.2f" % t for t in times), folders, files), "", ""))


if __name__ == "__main__":
    if not os.path.exists(PYZ):
        sys.exit("build the archive first: make")
    print("python: %s %s" % (PY, sys.version.split()[0]), flush=True)
    table = []
    measure(table)
    print_table(table)
