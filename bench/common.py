"""What the benchmark scripts share: writing a config folder and printing
the table of figures."""

import os
import sys


def write_configs(folder, default, config):
    """A liftoff config folder: default.yaml and config.yaml with these texts."""
    os.makedirs(folder)
    for name, text in (("default.yaml", default), ("config.yaml", config)):
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)


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
