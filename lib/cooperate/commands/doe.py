"""cooperate-doe: write a list of commands from a template and values."""

import json
import os
import sys

from .. import listfile
from ..args import Parser
from ..design import expand, merge, parse_values, placeholders
from ..errors import UserError
from ..files import atomic_write

DESCRIPTION = """\
Write OUT, a JSON list of commands, one per combination of the values of the
template's {placeholders}. Without a template it asks for one, then for the
values of each placeholder, shows how many entries it will write, and asks
before writing.

Values are a comma list (0.1,0.2,0.5) or an inclusive range with an optional
step (1..5, 0..1..0.25). The template is split into words like a shell would
split it; each entry is an argv list, never run through a shell."""

EPILOG = """\
examples:
  cooperate-doe exps.json 'python main.py --lr {lr} --bs {bs}' lr=0.1,0.2 bs=32,64
  cooperate-doe exps.json --append 'python main.py --lr {lr} --bs {bs}' lr=0.3 bs=32,64
  cooperate-doe exps.json          (asks)"""


def main(argv, prog):
    p = Parser(prog, DESCRIPTION, EPILOG)
    p.add_argument("out", metavar="OUT", help="the list file to write")
    p.add_argument("template", nargs="?", metavar="TEMPLATE",
                   help="the command, with {name} placeholders")
    p.add_argument("values", nargs="*", metavar="NAME=VALUES",
                   help="the values of a placeholder")
    p.add_argument("--append", action="store_true",
                   help="add the entries that OUT does not have yet")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--dry-run", action="store_true", help="print the entries, write nothing")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask before writing")
    # options may come between the template and the values
    args = p.parse_intermixed_args(argv)

    existing = None
    if os.path.exists(args.out) and not args.force:
        if not args.append:
            raise UserError("%s exists: --append adds the entries it does not have yet, "
                            "--force replaces it" % args.out)
        existing = listfile.parse(args.out, listfile.read_text(args.out))

    interactive = args.template is None
    if interactive:
        template = ask("Command template, with {name} placeholders: ")
    else:
        template = args.template
    words, names = placeholders(template)
    values = {}
    for item in args.values:
        name, sep, text = item.partition("=")
        if not sep:
            raise UserError("%r: write NAME=VALUES, like lr=0.1,0.2" % item)
        values[name.strip()] = parse_values(name.strip(), text)
    if interactive:
        for name in names:
            values[name] = parse_values(name, ask(
                "Values of %s (a comma list like 0.1,0.2 or a range like 1..5): " % name))
    entries = expand(words, names, values)
    added = merge(existing or [], entries)

    if args.dry_run:
        for entry in added:
            print(json.dumps(entry))
        return 0
    skipped = len(entries) - len(added)
    summary = "%d entries%s, for example: %s" % (
        len(added), " (%d already in %s)" % (skipped, args.out) if skipped else "",
        " ".join(added[0]) if added else "-")
    print(summary, file=sys.stderr)
    if interactive and not args.yes:
        answer = ask("Write them to %s? [Y/n] " % args.out).lower()
        if answer not in ("", "y", "yes"):
            print("nothing written", file=sys.stderr)
            return 0
    if added or existing is None:
        atomic_write(args.out, format_list((existing or []) + added))
    print("%s: %d entries (%d new)" % (args.out, len(existing or []) + len(added), len(added)),
          file=sys.stderr)
    return 0


def ask(prompt):
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise UserError("no answer (end of input)")
    return line.strip()


def format_list(entries):
    """One entry per line: readable, and diffs well."""
    if not entries:
        return b"[]\n"
    return ("[\n" + ",\n".join("  " + json.dumps(e) for e in entries) + "\n]\n").encode()
