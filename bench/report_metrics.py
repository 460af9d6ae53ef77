"""How long `report` takes, and how much memory, on 10,000 runs that each
reported 100 metric points (goal: <= 3 s).

The list (10,000 x `true`) is drained by two `dist/cooperate.pyz run`
workers in bench/out/report-metrics (not /tmp); then each run's metrics
file is written as its run would have written it (100 lines of
{"step", "loss", "acc"}, noisy learning curves), and the report of the
sources in lib/ is built by a fresh Python (imports included), three
times: the median wall time and processor time, and the peak memory (its
maximum resident size)."""

import json
import os
import random
import subprocess
import sys
import time

from common import drained, print_table

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PYZ = os.path.join(TOP, "dist", "cooperate.pyz")
PATH = [os.path.join(TOP, "lib"), os.path.join(TOP, "build", "vendor")]

# the report, built by a fresh Python that says its peak memory (kB) and
# the processor time it took (s): on a busy machine the wall time says less
BUILD = """\
import resource, sys
sys.path[:0] = %r
from cooperate.results import report
report.write(sys.argv[1], sys.argv[2])
usage = resource.getrusage(resource.RUSAGE_SELF)
print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
""" % (PATH,)


def write_metrics(cwd, points, seed=1):
    """Each entry's metrics file, for its first attempt."""
    sys.path[:0] = [p for p in PATH if p not in sys.path]
    from cooperate import metrics
    from cooperate.queue.core import Queue

    queue = Queue(os.path.join(cwd, "l.json"), reader=True)
    queue.read()
    rng = random.Random(seed)
    for id_ in queue.list.ids:
        path = metrics.path(queue.dir, id_, 1)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        final, speed = rng.uniform(0.1, 1.0), rng.uniform(0.3, 1.0)
        lines = []
        for step in range(1, points + 1):
            loss = final + 1.0 / step ** speed + rng.gauss(0, 0.02)
            acc = 1.0 - loss / 2 + rng.gauss(0, 0.01)
            lines.append(json.dumps({"step": step, "loss": loss, "acc": acc},
                                    separators=(",", ":")))
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")


def measure(rows, n=10000, points=100, times=3):
    cwd = os.path.join(HERE, "out", "report-metrics")
    drained(cwd, n, PYZ)
    write_metrics(cwd, points)
    walls, peaks, cpus = [], [], []
    for _ in range(times):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", BUILD, os.path.join(cwd, "l.json"),
                                 os.path.join(cwd, "report.html")],
                                stdout=subprocess.PIPE, universal_newlines=True, check=True)
        walls.append(time.perf_counter() - start)
        peak, cpu = result.stdout.split()[-2:]
        peaks.append(int(peak) / 1024.0)
        cpus.append(float(cpu))
    walls.sort()
    cpus.sort()
    rows.append(("report, %s runs x %d metric points (wall s; peak MB)"
                 % ("{:,}".format(n), points),
                 "%.2f; %.0f" % (walls[len(walls) // 2], max(peaks)),
                 "wall %s; processor %.2f s" % (", ".join("%.2f" % w for w in walls),
                                                cpus[len(cpus) // 2]), "<= 3 s"))
    return walls[len(walls) // 2]


if __name__ == "__main__":
    rows = []
    measure(rows)
    print_table(rows)
