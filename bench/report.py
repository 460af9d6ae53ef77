"""How long `report` takes on a 10,000-run list (goal: <= 3 s).

The list (10,000 x `true`) is drained by two `dist/cooperate.pyz run`
workers in bench/out/report (not /tmp), then the report is built in this
process (gather, render and write)."""

import os
import sys
import time

from common import drained, print_table

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PYZ = os.path.join(TOP, "dist", "cooperate.pyz")
sys.path[:0] = [os.path.join(TOP, "lib"), os.path.join(TOP, "build", "vendor")]


def measure(rows, n=10000):
    from cooperate.results import report

    cwd = os.path.join(HERE, "out", "report")
    drained(cwd, n, PYZ)
    start = time.perf_counter()
    report.write(os.path.join(cwd, "l.json"), os.path.join(cwd, "report.html"))
    took = time.perf_counter() - start
    rows.append(("report, 10,000 runs (s)", "%.2f" % took, "", "<= 3 s"))
    return took


if __name__ == "__main__":
    rows = []
    measure(rows)
    print_table(rows)
