"""How long `report` takes on a 10,000-run list (goal: <= 3 s).

The list (10,000 x `true`) is drained by two `dist/cooperate.pyz run`
workers in bench/out/report (not /tmp), then the report is built in this
process (gather, render and write)."""

import json
import os
import subprocess
import sys
import time

from common import print_table

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PYZ = os.path.join(TOP, "dist", "cooperate.pyz")
sys.path[:0] = [os.path.join(TOP, "lib"), os.path.join(TOP, "build", "vendor")]


def measure(rows, n=10000):
    import shutil

    from cooperate.results import report

    cwd = os.path.join(HERE, "out", "report")
    shutil.rmtree(cwd, ignore_errors=True)
    os.makedirs(cwd)
    with open(os.path.join(cwd, "l.json"), "w") as f:
        json.dump([["true"]] * n, f)
    workers = [subprocess.Popen([sys.executable, PYZ, "run", "l.json", "-q"], cwd=cwd)
               for _ in range(2)]
    for w in workers:
        assert w.wait() == 0, w.args
    start = time.perf_counter()
    report.write(os.path.join(cwd, "l.json"), os.path.join(cwd, "report.html"))
    took = time.perf_counter() - start
    rows.append(("report, 10,000 runs (s)", "%.2f" % took, "", "<= 3 s"))
    return took


if __name__ == "__main__":
    rows = []
    measure(rows)
    print_table(rows)
