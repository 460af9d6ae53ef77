"""cooperate-doe: write a list of commands from a template and values."""

import json
import os
import sys

from cooperate.queue import listfile
from cooperate.cli.args import Parser, positive_int
from cooperate import fmt
from cooperate.fmt import quote_command
from cooperate.grid.design import (count_entries, expand, merge, parse_answer, parse_values,
                                   placeholders)
from cooperate.errors import UserError
from cooperate.queue.files import atomic_write
from cooperate.cli.targets import parse_mixed

DESCRIPTION = """\
Write OUT, a JSON list of commands, one per combination of the values of the
template's {placeholders}. Without a template it asks for one, then for the
values of each placeholder (? at a prompt explains it; a bad answer is asked
again), shows the entries as they will be run, and asks before writing.
Ctrl-C writes nothing (exit status 130), nor does the end of input before
the last answer (exit status 2).

Values are a comma list (0.1,0.2,0.5), an inclusive range with an optional
step (1..5, 0..1..0.25), or both (1..3,10). The template is split into words
like a shell would split it; each entry is an argv list, never run through a
shell. Entries are shown quoted as a shell would need them: 'a b' is one
argument."""

EPILOG = """\
examples:
  cooperate-doe exps.json 'python main.py --lr {lr} --bs {bs}' lr=0.1,0.2 bs=32,64
  cooperate-doe exps.json --append 'python main.py --lr {lr} --bs {bs}' lr=0.3 bs=32,64
  cooperate-doe exps.json          (asks)"""

# a longer list shows its first HEAD and last TAIL entries
PREVIEW, HEAD, TAIL = 10, 7, 2

TEMPLATE_PROMPT = "Command template, with {name} placeholders (? for help): "
VALUES_PROMPT = "Values of %s (like 0.1,0.2 or 1..5; ? for help): "


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
    p.add_argument("--samples", type=positive_int, metavar="N",
                   help="random search: draw N values of each distribution (lr=loguniform:1e-5:"
                        "1e-1, x=uniform:0:1, n=int:1:10); each draw multiplies the lists")
    p.add_argument("--seed", type=int, metavar="S",
                   help="with --samples: the seed, so that the same list is drawn every time "
                        "(default: a new one, printed)")
    # options may come between the template and the values (also on 3.6)
    args = parse_mixed(p, argv)

    existing = None
    if os.path.exists(args.out) and not args.force:
        if not args.append:
            raise UserError("%s exists: --append adds the entries it does not have yet, "
                            "--force replaces it" % args.out)
        existing = listfile.parse(args.out, listfile.read_text(args.out))

    if args.template is None:
        return interactive(args, prog, existing)
    words, names = placeholders(args.template)
    values = {}
    from cooperate.grid import space

    distributions = []
    for item in args.values:
        name, sep, text = item.partition("=")
        if not sep:
            raise UserError("%r: write NAME=VALUES, like lr=0.1,0.2" % item)
        distribution = space.parse(name.strip(), text)
        if distribution is not None:
            distributions.append((name.strip(), distribution))
        else:
            values[name.strip()] = parse_values(name.strip(), text)
    entries = draw(words, names, values, distributions, args)
    added = merge(existing or [], entries)
    if args.dry_run:
        print_entries(added)
        return 0
    preview(added, len(entries) - len(added), args.out)
    return write(args.out, existing, added)


def draw(words, names, values, distributions, args):
    """The entries: every combination of the lists, once per sample of the
    distributions (random search), or the lists alone."""
    from cooperate.grid import space

    if not distributions:
        if args.samples or args.seed is not None:
            raise UserError("--samples and --seed draw the values of distributions "
                            "(lr=loguniform:1e-5:1e-1): give one")
        return expand(words, names, values)
    if not args.samples:
        raise UserError("%s is a distribution: say how many configurations to draw with "
                        "--samples N" % distributions[0][0])
    seed = args.seed
    if seed is None:
        seed = space.new_seed()
        say("drawn with --seed %d (give it again to draw the same list)" % seed)
    entries = []
    for drawn in space.sample(distributions, args.samples, seed):
        fixed = dict(values, **{name: [repr(value)] for name, value in drawn.items()})
        entries += expand(words, names, fixed)
    return entries


def interactive(args, prog, existing):
    """Ask for the template and the values, show the entries, ask before
    writing. A bad answer is explained and asked again (on a terminal; from
    a pipe it ends the session, as the next line answers another question).
    Ctrl-C: nothing written, status 130, as any command interrupted; end of
    input before the last answer: nothing written, status 2, as any
    incomplete input."""
    try:
        words, names = ask(TEMPLATE_PROMPT, placeholders, template_help())
        if not names:
            say("(no {name} placeholder: the list gets this one command)")
        values = {}
        for i, name in enumerate(names):
            values[name] = ask(VALUES_PROMPT % name, values_check(names[:i + 1], values, name),
                               values_help(name))
        entries = expand(words, names, values)
        added = merge(existing or [], entries)
        if args.dry_run:
            print_entries(added)
            return 0
        preview(added, len(entries) - len(added), args.out)
        if added and not args.yes and not ask(
                "Write them to %s? [Y/n] " % args.out, yes_or_no,
                "y (or just Enter) writes the %d entries to %s; n writes nothing"
                % (len(added), args.out)):
            say("nothing written")
            return 0
    except KeyboardInterrupt:
        # the terminal echoed ^C after the prompt: end that line first
        sys.stderr.write("\n")
        say("%s: interrupted: nothing written to %s" % (prog, args.out))
        return 130
    except EndOfInput:
        sys.stderr.write("\n")
        raise UserError("no answer (end of input): nothing written to %s" % args.out)
    return write(args.out, existing, added)


def write(out, existing, added):
    from cooperate.run.launcher import shell_words

    words = sorted({w for entry in added[:1] for w in shell_words(entry)})
    if words:
        say("note: no shell runs these entries: %s reach%s the program as argument%s (for "
            "pipes and redirections, write entries {\"cmd\": \"...\", \"shell\": true})" % (
                ", ".join("`%s`" % w for w in words), "es" if len(words) == 1 else "",
                "" if len(words) == 1 else "s"))
    if added or existing is None:
        atomic_write(out, format_list((existing or []) + added))
    tell("%s: %s (%d new)" % (out, fmt.count(len(existing or []) + len(added), "entry", "entries"),
                              len(added)))
    return 0


def print_entries(entries):
    for entry in entries:
        print(json.dumps(entry))


def preview(added, skipped, out):
    """The entries, each as the exact argv it will be run with (quoted where
    a shell would need it); the first and last few of a long list."""
    tell("%d %s%s%s" % (len(added), "entry" if len(added) == 1 else "entries",
                       " (%d already in %s)" % (skipped, out) if skipped else "",
                       ":" if added else ""))
    shown = added if len(added) <= PREVIEW else added[:HEAD] + [None] + added[-TAIL:]
    for entry in shown:
        if entry is None:
            tell("  ... (%d more)" % (len(added) - HEAD - TAIL))
        else:
            tell("  " + quote_command(entry))


def template_help():
    return "\n".join([
        "  The command to run, once per combination of values, with {name} where a value",
        "  goes:  python train.py --lr {lr} --seed {seed}",
        "  It is split into words as a shell splits it ('a b' is one word) but never run",
        "  by a shell. Write {{ and }} for braces. Ctrl-C quits and writes nothing.",
    ])


def values_help(name):
    return "\n".join([
        "  The values of {%s}: a comma list (0.1,0.2,0.5), a range (1..5, or with a" % name,
        "  step: 0..1..0.25) or both (1..3,10). Each value fills {%s} as one argument," % name,
        "  spaces included (a b). Quote a value to keep a comma or a quote in it, or to",
        "  have it taken as it is (\"a,b\", \"it's\", '1..5', \"help\").",
    ])


def values_check(names, values, name):
    """Parse the values of `name`, refusing too many entries with those
    given so far."""
    def check(answer):
        parsed = parse_answer(name, answer)
        so_far = dict(values)
        so_far[name] = parsed
        count_entries(names, so_far)
        return parsed
    return check


def yes_or_no(answer):
    answer = answer.lower()
    if answer[:1] in ("", "y", "n"):
        return answer[:1] != "n"
    raise UserError("answer y (or just Enter) to write, n to write nothing")


class EndOfInput(Exception):
    pass


def ask(prompt, check, help_text):
    """Ask until `check(answer)` accepts the answer, and return what it
    returns; ? or help shows `help_text`. Off a terminal a bad answer is an
    error, and each answer is echoed so that the transcript reads well."""
    terminal = sys.stdin is not None and sys.stdin.isatty()
    while True:
        try:
            answer = read_answer(prompt, terminal)
            if answer.lower() in ("?", "help"):
                say(help_text)
                continue
            return check(answer)
        except UserError as error:
            if not terminal:
                raise
            say(str(error))


def read_answer(prompt, terminal):
    """One line from stdin, without the spaces at its ends."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    stream = getattr(sys.stdin, "buffer", None)
    line = stream.readline() if stream is not None else b""
    if not line:
        raise EndOfInput()
    encoding = getattr(sys.stdin, "encoding", None) or "utf-8"
    text = line.decode(encoding, "replace")
    if not terminal:
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
    try:
        line.decode(encoding)
    except UnicodeDecodeError:
        raise UserError("the answer is not %s text: type it again" % encoding)
    answer = text.strip()
    if any(c < " " and c != "\t" or "\x7f" <= c <= "\x9f" for c in answer):
        raise UserError("the answer holds a control character (arrow keys do not work "
                        "here): type it again")
    return answer


def say(line):
    """The dialog (questions, help, what went wrong) goes to stderr."""
    print(line, file=sys.stderr)
    sys.stderr.flush()


def tell(line):
    """What doe made (the entries, the summary) goes to stdout."""
    print(line)
    sys.stdout.flush()


def format_list(entries):
    """One entry per line: readable, and diffs well."""
    if not entries:
        return b"[]\n"
    return ("[\n" + ",\n".join("  " + json.dumps(e) for e in entries) + "\n]\n").encode()
