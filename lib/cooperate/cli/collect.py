"""cooperate-collect: one table of every run's parameters and results."""

import sys

from cooperate.cli.args import Parser
from cooperate.cli.targets import add_target, target

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

--aggregate gives one row per variation instead: the runs whose
parameters are equal but for the --over ones (default: seed and run_id;
`seed` also names train.seed) are one group. For an experiment that is each
variation folder (NNNN_title: its runs differ only in run_id), and the
variations that differ only in an --over grid variable (seed: [1, 2, 3])
join theirs. For a plain list the parameters are read from the commands
(--NAME VALUE, --NAME=VALUE, NAME=VALUE), and the entries whose commands
are the same but for the --over values are one group (the command shows
them as {seed}). Columns: variation (experiment) or command (list), the
parameters that vary but for the --over ones, runs, status (counts), then
for duration and each numeric result NAME.mean, NAME.std (sample standard
deviation) and NAME.n (how many numbers). --where picks the runs first.

--metric NAME says which measure tells the best runs (default: the
metric of the early-stopping rule, when the runs were judged by one), and
--mode min|max which way is better (default: the rule's mode for its
metric, else min); with --mode max, NAME.best is the highest value.
--sort NAME gives the rows best first by NAME in that direction: a column
(a result, loss.best, duration) or a metric the runs reported (then its
NAME.last, the value a run ended with, or was stopped at); with
--aggregate, its mean. Pruned runs come after the others (their values
are from the step they were stopped at), and rows without a number there
last.

Numbers are written as they were read (the shortest text that reads back
as the same float); means and deviations that are not exact are rounded to
15 significant digits (0.15, not 0.15000000000000002).

From Python: `from cooperate.collect import rows` (or `from liftoff import
collect_results`); rows(target, results_file="results.json", where=None,
aggregate=False, over=("seed", "run_id")) gives the rows as dicts."""

EPILOG = """\
examples:
  cooperate collect results/2026Nov22-101500_sweep > sweep.csv
  cooperate collect sweep --where optim.lr=0.1 --where status=done
  cooperate collect sweep --format jsonl -o sweep.jsonl
  cooperate collect jobs.json --results-dir 'out/{id}/metrics.json'
  cooperate collect sweep --aggregate -o per-variation.csv
  cooperate collect sweep --sort loss
  cooperate collect sweep --metric acc --mode max --sort acc.best --aggregate
  cooperate collect jobs.json --results-dir 'out/{id}.json' --aggregate --over seed,fold"""


def main(argv, prog):
    from cooperate.results import collect

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
    p.add_argument("--aggregate", action="store_true",
                   help="one row per variation: mean, std and count of each numeric column "
                        "over the runs that differ only in the --over parameters")
    p.add_argument("--over", action="append", metavar="NAME[,NAME]",
                   help="with --aggregate: the parameters that tell apart the runs of one "
                        "variation (default seed and run_id); repeatable, or a comma list")
    p.add_argument("--metric", metavar="NAME",
                   help="the metric (or result) that tells the best runs (default: the "
                        "early-stopping rule's)")
    p.add_argument("--mode", choices=("min", "max"),
                   help="lower (min) or higher (max) is better for --metric (and --sort by it) "
                        "(default: the early-stopping rule's mode for its metric, else min)")
    p.add_argument("--sort", metavar="NAME",
                   help="rows best first by NAME: a column, or a metric the runs reported "
                        "(its NAME.last); with --aggregate its mean")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write to FILE (atomically) instead of stdout")
    args = p.parse_args(argv)
    over = collect.DEFAULT_OVER
    if args.over is not None:
        if not args.aggregate:
            p.error("--over goes with --aggregate")
        over = [name.strip() for text in args.over for name in text.split(",") if name.strip()]
    from cooperate.grid.source import open_queue
    from cooperate.results import best

    queue = open_queue(target(args), args.state, reader=True, trusted=args.trust_writable,
                       packed=True)
    queue.read()
    # --sort NAME alone: NAME is the measure whose mode --mode gives
    metric, mode = best.choose(queue, args.metric or args.sort, args.mode)
    maximise = [best.base_name(metric), metric] if mode == "max" else ()
    lines = collect.csv_lines if args.format == "csv" else collect.jsonl_lines
    # the rows a row at a time (the columns are known first): a million
    # entries' rows are never held
    made = collect.Rows(queue, args.results_file, args.where, args.results_dir,
                        maximise=maximise)
    if args.sort and best.base_name(args.sort) != best.base_name(metric):
        # not the --metric: its own way (the rule's for its metric, else min)
        mode = best.choose(queue, args.sort)[1]
    if args.aggregate:
        # only each variation's sums are held
        table = collect.aggregate(made, over)
        if args.sort:
            table.rows = best.order(table.rows, best.need_column(table, args.sort, True), mode)
        columns, warnings = table.columns, table.warnings
        text = lines(columns, table.rows)
    elif args.sort:
        from itertools import chain, islice

        key = best.column(made.columns, args.sort) or best.need_column(
            collect.Table(made.columns, [row for row, _ in islice(made, 1000)], []), args.sort)
        columns, warnings = made.columns, made.warnings
        line = collect.csv_line if args.format == "csv" else collect.jsonl_line
        # the header (csv), then the rows as sorted_lines gives them
        text = chain(lines(columns, ()), collect.sorted_lines(
            columns, (row for row, _ in made), key, mode, line, behind=best.pruned))
    else:
        columns, warnings = made.columns, made.warnings
        text = lines(columns, (row for row, _ in made))
    for warning in warnings:
        print("%s: warning: %s" % (prog, warning), file=sys.stderr)
    if args.output:
        from cooperate.queue.files import atomic_write

        atomic_write(args.output, _pieces(text), durable=False)
    else:
        for piece in text:
            sys.stdout.write(piece)
    return 0


def _pieces(lines, size=1 << 16):
    """Lines of text as bytes, about `size` at a time."""
    piece, length = [], 0
    for line in lines:
        piece.append(line)
        length += len(line)
        if length >= size:
            yield "".join(piece).encode()
            piece, length = [], 0
    yield "".join(piece).encode()
