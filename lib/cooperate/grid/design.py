"""A list of commands from a template with named placeholders and their
values: `python main.py --lr {lr}` with lr=0.1,0.2 gives two argv entries.

The template is split into words like a shell would split it, then each
word is filled in, so a value with spaces stays one argument and nothing is
ever run through a shell.
"""

import itertools
import re
import shlex
import string
from decimal import Decimal

from cooperate.errors import UserError
from cooperate.queue.listfile import entry_key

MAX_RANGE = 100000
MAX_ENTRIES = 1000000

SYNTAX = "write a comma list like 0.1,0.2 or a range like 1..5"
TEMPLATE_HELP = ("a template is the command to run, with {name} where each value goes, "
                 "like: python train.py --lr {lr}")

# a finite decimal number, as a bound or step of a range
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")


def placeholders(template):
    """The words of the template and its placeholder names, in order of
    first appearance."""
    try:
        words = shlex.split(template)
    except ValueError as error:
        raise UserError("cannot split the template %r: %s" % (template, error))
    if not words:
        raise UserError("the template is empty: %s" % TEMPLATE_HELP)
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
    """`0.1,0.2,0.5` (a comma list), `1..5` / `0..1..0.25` (an inclusive
    range with an optional step, like the shell's {1..5}) or both
    (`1..3,10`). Values are taken as written (NAME=VALUES on a command line
    has been through the shell already)."""
    return _values(name, text, [(item.strip(), False) for item in text.split(",")])


def parse_answer(name, text):
    """The values typed at a prompt: as `parse_values`, but quotes work as
    in a shell: `"a,b"` is one value, `'1..5'` is not a range, `""` is an
    empty value. Spaces inside a value stay; backslashes are kept as typed."""
    items = []
    chars, quoted, quote = [], False, None
    for char in text:
        if quote:
            if char == quote:
                quote = None
            else:
                chars.append((char, True))
        elif char in "'\"":
            quote, quoted = char, True
        elif char == ",":
            items.append((_strip(chars), quoted))
            chars, quoted = [], False
        else:
            chars.append((char, False))
    if quote:
        raise UserError("values of %s: the %s quote in %r does not close (write it inside "
                        "the other quotes: \"it's\")" % (name, quote, text.strip()))
    items.append((_strip(chars), quoted))
    return _values(name, text, items)


def _strip(chars):
    """The text of (char, quoted) pairs, without the unquoted spaces at its
    ends."""
    while chars and not chars[0][1] and chars[0][0].isspace():
        chars = chars[1:]
    while chars and not chars[-1][1] and chars[-1][0].isspace():
        chars = chars[:-1]
    return "".join(char for char, _ in chars)


def _values(name, text, items):
    """Values from (item, quoted) pairs: an unquoted item may be a range."""
    if len(items) == 1 and not items[0][0] and not items[0][1]:
        raise UserError("values of %s: none given (%s)" % (name, SYNTAX))
    values = []
    for item, quoted in items:
        if not item and not quoted:
            raise UserError("values of %s: %r has an empty value (%s)"
                            % (name, text.strip(), SYNTAX))
        numbers = None if quoted else parse_range(name, item)
        values += [item] if numbers is None else numbers
        if len(values) > MAX_RANGE:
            raise UserError("values of %s: %r gives more than %d values"
                            % (name, text.strip(), MAX_RANGE))
    return values


def parse_range(name, text):
    """The values of `1..5`, `0..1..0.25` (a step added) or `1e-4..1e-2..x10`
    (each value 10 times the last: log-spaced); None for text that is no
    range at all (`../data`, `v1..v2`: no number beside the `..`). Without
    a step only whole bounds make a range (`1e-4..1e-2` would be one value:
    refused, saying how to write it), and a range never silently gives one
    value for two different bounds."""
    if ".." not in text:
        return None
    parts = [part.strip() for part in text.split("..")]
    numeric = [bool(NUMBER.match(part)) for part in parts]
    if not any(numeric):
        return None
    times = len(parts) == 3 and parts[2][:1] in "xX" and bool(NUMBER.match(parts[2][1:]))
    if times:
        numeric[2] = True
    if len(parts) not in (2, 3) or not all(numeric):
        raise UserError("values of %s: %r is not a range like 1..5, 0..1..0.25 or "
                        "1e-4..1e-2..x10" % (name, text))
    start, stop = Decimal(parts[0]), Decimal(parts[1])
    if len(parts) == 2 and start != stop and not (start == start.to_integral_value()
                                                  and stop == stop.to_integral_value()):
        raise UserError("values of %s: %r needs a step: %s..%s..x10 multiplies by 10 "
                        "(log-spaced), %s..%s..STEP adds STEP each time"
                        % (name, text, parts[0], parts[1], parts[0], parts[1]))
    try:
        values = (_times(start, stop, Decimal(parts[2][1:]), name, text) if times
                  else _steps(start, stop, Decimal(parts[2]) if len(parts) == 3 else Decimal(1),
                              name, text))
        if len(values) == 1 and start != stop:
            raise UserError("values of %s: %r gives one value (%s): the step is larger than "
                            "the range" % (name, text, format(values[0].normalize(), "f")))
        return [format(v.normalize(), "f") for v in values]
    except ArithmeticError:
        raise UserError("values of %s: the numbers of %r are too large" % (name, text))


def _steps(start, stop, step, name, text):
    if step <= 0:
        raise UserError("values of %s: the step of %r must be > 0" % (name, text))
    try:
        span = abs(stop - start) // step
    except ArithmeticError:
        span = None
    if span is None or span >= MAX_RANGE:
        raise UserError("values of %s: %r gives more than %d values" % (name, text, MAX_RANGE))
    sign = 1 if stop >= start else -1
    return [start + sign * i * step for i in range(int(span) + 1)]


def _times(start, stop, factor, name, text):
    """start, start * factor, ... up to stop (down to it, dividing, when
    stop < start): decimal arithmetic, so 1e-4 times 10 is exactly 0.001."""
    if factor <= 1:
        raise UserError("values of %s: the factor of %r must be > 1" % (name, text))
    if start <= 0 or stop <= 0:
        raise UserError("values of %s: %r multiplies: its bounds must be > 0" % (name, text))
    values, value = [], start
    while (value <= stop) if stop >= start else (value >= stop):
        values.append(value)
        if len(values) > MAX_RANGE:
            raise UserError("values of %s: %r gives more than %d values"
                            % (name, text, MAX_RANGE))
        value = value * factor if stop >= start else value / factor
    return values


def count_entries(names, values):
    """How many entries the values of `names` give, or a UserError past
    MAX_ENTRIES."""
    count = 1
    for name in names:
        count *= len(values[name])
        if count > MAX_ENTRIES:
            raise UserError("the values of %s give more than %d entries"
                            % (", ".join("{%s}" % n for n in names), MAX_ENTRIES))
    return count


def expand(words, names, values):
    """Every combination of the values, the last name varying fastest."""
    missing = [n for n in names if n not in values]
    if missing:
        raise UserError("no values for {%s}: add %s=VALUES" % (missing[0], missing[0]))
    unused = [n for n in values if n not in names]
    if unused:
        raise UserError("%s=... is not a placeholder of the template (it has: %s)"
                        % (unused[0], ", ".join("{%s}" % n for n in names) or "none"))
    count_entries(names, values)
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
