"""What the benchmark scripts share: writing a config folder and printing
the table of figures."""

import json
import os
import shutil
import subprocess
import sys


def write_configs(folder, default, config):
    """A liftoff config folder: default.yaml and config.yaml with these texts."""
    os.makedirs(folder)
    for name, text in (("default.yaml", default), ("config.yaml", config)):
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)


def drained(folder, n, pyz):
    """`folder`, made afresh, with l.json: n x `true`, drained by two
    workers of the archive `pyz`."""
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    with open(os.path.join(folder, "l.json"), "w") as f:
        json.dump([["true"]] * n, f)
    workers = [subprocess.Popen([sys.executable, pyz, "run", "l.json", "-q"], cwd=folder)
               for _ in range(2)]
    for w in workers:
        assert w.wait() == 0, w.args


def print_table(rows):
    print()
    print("| measure | cooperate | against | goal |")
    print("|---|---|---|---|")
    for row in rows:
        print("| %s |" % " | ".join(row))


def alone(measure, pyz):
    """Run one benchmark script's `measure(rows)` by itself and print its table."""
    if not os.path.exists(pyz):
        sys.exit("build the archive first: make")
    rows = []
    measure(rows)
    print_table(rows)
