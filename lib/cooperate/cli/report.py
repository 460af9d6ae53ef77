"""cooperate-report: one self-contained HTML page about a list or an
experiment."""

from cooperate import fmt
from cooperate.cli.args import Parser
from cooperate.cli import targets

DESCRIPTION = """\
Write a self-contained HTML report of TARGET (a list file or an experiment;
by default the latest experiment under ./results): the summary (a progress
bar split by outcome) and the time left, a timeline of every attempt (one
lane per host and worker slot, coloured by outcome), the runs finished per
minute (or hour) over time, the failures grouped by the last lines of their
stderr (with links to the logs, relative to where the page is written), and
a table of the runs to sort by any column (of a longer list, its first
10,000: collect gives them all), which also shows one row per variation:
the runs that differ only in the --over parameters (default seed and
run_id), with each numeric column's mean, standard deviation and count, as
`collect --aggregate` gives them. Floats show at most 6 significant
digits (the whole value on hover).

What was learned, when the runs wrote results or reported metrics: the
best runs first by --metric NAME (a result, a column such as loss.best,
or a metric the runs reported: the value each reported last; default:
the early-stopping rule's metric) and --mode min|max (default: the
rule's mode for its metric, else min), the tables sorted so too; each
result and metric against each parameter that varies (a point per
variation: the mean over its --over group, a bar over one standard
deviation); learning curves (step against each metric) coloured kept,
pruned or running, with the early-stopping rule's rungs and cut-offs;
the best value so far against time; and the rule's decision log (each
run and rung: value, rank, cut-off, kept or pruned). Big sweeps are drawn
bounded: the best curves and a sample, many variations binned.

The page needs no network (no external
scripts, fonts or images): open it from the shared folder or send it by
email. It reads only the shared state and takes no lock."""


def main(argv, prog):
    from cooperate.results.collect import DEFAULT_OVER, DEFAULT_RESULTS_FILE
    from cooperate.results.report import write

    p = Parser(prog, DESCRIPTION)
    targets.add_target(p, optional=True)
    p.add_argument("-o", "--output", default="report.html", metavar="FILE",
                   help="where to write the page (default ./report.html)")
    p.add_argument("--over", action="append", metavar="NAME[,NAME]",
                   help="the parameters that tell apart the runs of one variation in the "
                        "per-variation table (default seed and run_id); repeatable, or a comma list")
    p.add_argument("--results-file", default=DEFAULT_RESULTS_FILE, metavar="NAME",
                   help="the results file in each run folder (default results.json), as collect")
    p.add_argument("--results-dir", metavar="PATTERN",
                   help="where each entry's results are, with {id} (and {run}) in it, as collect")
    p.add_argument("--metric", metavar="NAME",
                   help="the result or metric that tells the best runs (default: the "
                        "early-stopping rule's)")
    p.add_argument("--mode", choices=("min", "max"),
                   help="lower (min) or higher (max) is better for --metric (default: the "
                        "early-stopping rule's mode for its metric, else min)")
    args = p.parse_args(argv)
    over = DEFAULT_OVER
    if args.over is not None:
        over = [name.strip() for text in args.over for name in text.split(",") if name.strip()]
    made = write(targets.target(args), args.output, args.state, trusted=args.trust_writable,
                 over=over, results_file=args.results_file, results_dir=args.results_dir,
                 metric=args.metric, mode=args.mode)
    print("%s: %s on %s, %s, %s" % (
        args.output, fmt.count(made["attempts"], "attempt"), fmt.count(made["lanes"], "lane"),
        fmt.count(made["failure_groups"], "failure group"),
        fmt.count(made["variations"], "variation")))
    return 0
