"""cooperate-report: one self-contained HTML page about a list or an
experiment."""

from ..args import Parser
from . import _select

DESCRIPTION = """\
Write a self-contained HTML report of TARGET (a list file or an experiment;
by default the latest experiment under ./results): the summary and the time
left, a timeline of every attempt (one lane per host and worker slot,
coloured by outcome), the runs finished over time, the failures grouped by
the last lines of their stderr, and a table of the runs to sort by any
column. The page needs no network (no external scripts, fonts or images):
open it from the shared folder or send it by email. It reads only the shared
state and takes no lock."""


def main(argv, prog):
    from ..report import write

    p = Parser(prog, DESCRIPTION)
    _select.add_target(p, optional=True)
    p.add_argument("-o", "--output", default="report.html", metavar="FILE",
                   help="where to write the page (default ./report.html)")
    args = p.parse_args(argv)
    made = write(_select.target(args), args.output, args.state, trusted=args.trust_writable)
    print("%s: %d attempts on %d lanes, %d failure groups" % (
        args.output, made["attempts"], made["lanes"], made["failure_groups"]))
    return 0
