"""A list of commands from a template with named placeholders and their
values: `python main.py --lr {lr}` with lr=0.1,0.2 gives two argv entries.

The template is split into words like a shell would split it, then each
word is filled in, so a value with spaces stays one argument and nothing is
ever run through a shell.
"""

import itertools
import shlex
import string
from decimal import Decimal, InvalidOperation

from .errors import UserError
from .listfile import entry_key

MAX_RANGE = 100000


def placeholders(template):
    """The words of the template and its placeholder names, in order of
    first appearance."""
    try:
        words = shlex.split(template)
    except ValueError as error:
        raise UserError("cannot split the template %r: %s" % (template, error))
    if not words:
        raise UserError("the template is empty")
    names = []
    for word in words:
        try:
            fields = list(string.Formatter().parse(word))
        except ValueError as error:
            raise UserError("bad placeholder in %r: %s (write {{ and }} for braces)" % (word, error))
        for _, name, spec, conversion in fields:
            if name is None:
                continue
            if not name.isidentifier() or spec or conversion:
                raise UserError("bad placeholder {%s} in %r: use {name} with a plain name"
                                % (name, word))
            if name not in names:
                names.append(name)
    return words, names


def parse_values(name, text):
    """`0.1,0.2,0.5` (a comma list) or `1..5` / `0..1..0.25` (an inclusive
    range with an optional step, like the shell's {1..5})."""
    text = text.strip()
    if ".." in text and "," not in text:
        parts = text.split("..")
        try:
            numbers = [Decimal(p) for p in parts]
        except InvalidOperation:
            numbers = None
        if numbers is None or len(parts) not in (2, 3):
            raise UserError("values of %s: %r is not a range like 1..5 or 0..1..0.25"
                            % (name, text))
        start, stop = numbers[0], numbers[1]
        step = numbers[2] if len(numbers) == 3 else Decimal(1)
        if step <= 0:
            raise UserError("values of %s: the step of %r must be > 0" % (name, text))
        count = int((abs(stop - start)) // step) + 1
        if count > MAX_RANGE:
            raise UserError("values of %s: %r gives %d values (at most %d)"
                            % (name, text, count, MAX_RANGE))
        sign = 1 if stop >= start else -1
        return [format((start + sign * i * step).normalize(), "f") for i in range(count)]
    values = [v.strip() for v in text.split(",")]
    if not text or not all(values):
        raise UserError("values of %s: %r has an empty value (write a comma list like 0.1,0.2 "
                        "or a range like 1..5)" % (name, text))
    return values


def expand(words, names, values):
    """Every combination of the values, the last name varying fastest."""
    missing = [n for n in names if n not in values]
    if missing:
        raise UserError("no values for {%s}: add %s=VALUES" % (missing[0], missing[0]))
    unused = [n for n in values if n not in names]
    if unused:
        raise UserError("%s=... is not a placeholder of the template (it has: %s)"
                        % (unused[0], ", ".join("{%s}" % n for n in names) or "none"))
    entries = []
    for combination in itertools.product(*(values[n] for n in names)):
        fill = dict(zip(names, combination))
        entries.append([word.format(**fill) for word in words])
    return entries


def merge(existing, new):
    """`new` entries not already in `existing` (by content), in order."""
    seen = {entry_key(e) for e in existing}
    added = []
    for entry in new:
        key = entry_key(entry)
        if key not in seen:
            seen.add(key)
            added.append(entry)
    return added
