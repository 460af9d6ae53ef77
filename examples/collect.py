"""Collect a finished sweep into one CSV: one row per run with its
varied parameters and the metrics its results.json holds (empty cells for
runs that wrote none). Usage: python3 collect.py EXPERIMENT > sweep.csv"""

import csv
import json
import os
import sys


def flat(prefix, value, out):
    if isinstance(value, dict):
        for key, item in value.items():
            flat("%s.%s" % (prefix, key) if prefix else key, item, out)
    else:
        out[prefix] = value
    return out


def main(exp):
    with open(os.path.join(exp, "queue.json")) as f:
        runs = json.load(f)
    rows, columns = [], ["run"]
    for entry in runs:
        row = {"run": entry["run"]}
        row.update(flat("", entry.get("cfg", {}), {}))
        try:
            with open(os.path.join(exp, entry["run"], "results.json")) as f:
                row.update(flat("result", json.load(f), {}))
        except (OSError, ValueError):
            pass
        columns += [c for c in row if c not in columns]
        rows.append(row)
    writer = csv.DictWriter(sys.stdout, columns)
    writer.writeheader()
    writer.writerows(rows)


if __name__ == "__main__":
    main(sys.argv[1])
