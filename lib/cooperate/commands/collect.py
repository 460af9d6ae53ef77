"""cooperate-collect: one table of every run's parameters and results."""

import sys

from ..args import Parser
from ._select import add_target, target

DESCRIPTION = """\
Collect TARGET (a list file, an experiment folder, or part of an
experiment's name) into one table, one row per entry: id (and run, for an
experiment), status, attempts, host (of the latest attempt), duration
(seconds of the latest finished attempt), the parameters, and the results
the run wrote.

The parameters of an experiment are the config keys whose values differ
between its runs, as dotted columns (optim.lr); a plain list has its
command in a `command` column. The results are the keys of the mapping in
the run folder's results file (--results-file: JSON, or YAML for .yaml and
.yml, or the last row of a .csv whose header names the columns), nested
keys as dotted columns. A run without results has empty cells; a malformed
results file gives empty cells and a warning on stderr.

The entries of a plain list have no run folder: give --results-dir with
{id} in it to read theirs, relative to the current folder, e.g.
--results-dir 'results/{id}.json' (a file) or 'results/{id}' (a folder
holding --results-file). For an experiment, --results-dir replaces the run
folder and may use {run} (0003_lr_0.1/0) too.

From Python: `from cooperate.collect import rows` (or `from liftoff import
collect_results`); rows(target, results_file="results.json", where=None)
gives the rows as dicts."""

EPILOG = """\
examples:
  cooperate collect results/2026Nov22-101500_sweep > sweep.csv
  cooperate collect sweep --where optim.lr=0.1 --where status=done
  cooperate collect sweep --format jsonl -o sweep.jsonl
  cooperate collect jobs.json --results-dir 'out/{id}/metrics.json'"""


def main(argv, prog):
    from .. import collect

    p = Parser(prog, DESCRIPTION, EPILOG)
    add_target(p)
    p.add_argument("--results-file", default=collect.DEFAULT_RESULTS_FILE, metavar="NAME",
                   help="the results file in each run folder (default results.json)")
    p.add_argument("--results-dir", metavar="PATTERN",
                   help="where each entry's results are, with {id} (and {run}) in it")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="only rows with this value (parsed like YAML) in this column: "
                        "a parameter, a result, id, status, host; repeatable")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv",
                   help="CSV (default) or JSON lines")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write to FILE (atomically) instead of stdout")
    args = p.parse_args(argv)
    table = collect.collect(target(args), args.results_file, args.where, args.results_dir,
                            args.state, trusted=args.trust_writable)
    text = (collect.to_csv if args.format == "csv" else collect.to_jsonl)(table)
    for warning in table.warnings:
        print("%s: warning: %s" % (prog, warning), file=sys.stderr)
    if args.output:
        from ..files import atomic_write

        atomic_write(args.output, text.encode(), durable=False)
    else:
        sys.stdout.write(text)
    return 0
