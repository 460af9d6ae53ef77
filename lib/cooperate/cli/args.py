"""argparse, with usage errors as one line and shared option types."""

import argparse
import os

from cooperate.errors import UserError


class Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter asks shutil for the terminal width, and importing
    shutil costs more than the rest of a `status` call: ask os directly."""

    def __init__(self, prog):
        try:
            width = os.get_terminal_size().columns
        except OSError:
            width = 80
        super().__init__(prog, width=max(width - 2, 40))


class Inspected(Exception):
    """Raised instead of parsing while Parser.inspecting: carries the parser
    a command built (for completion scripts and the man page)."""

    def __init__(self, parser):
        super().__init__(parser.prog)
        self.parser = parser


class Parser(argparse.ArgumentParser):
    # set by `cooperate completion`: a command's first parse raises Inspected
    inspecting = False

    def __init__(self, prog, description, epilog=None):
        super().__init__(prog=prog, description=description, epilog=epilog,
                         formatter_class=Formatter)
        # the shared types by name too (type="interval"): options.Options
        # declares options without importing this module
        for name in NAMED_TYPES:
            self.register("type", name, globals()[name])
        add_version(self)

    def parse_known_args(self, args=None, namespace=None):
        if Parser.inspecting:
            raise Inspected(self)
        return super().parse_known_args(args, namespace)

    def error(self, message):
        raise UserError("%s (see --help)" % message)


def add_version(p):
    """-V and --version, on every command."""
    from cooperate import __version__

    p.add_argument("-V", "--version", action="version", version="cooperate %s" % __version__,
                   help="print the toolkit's version and exit")


# the longest duration any option takes: about 31 years (larger values, and
# infinity, would overflow the clocks' arithmetic and the waits built on it)
MAX_SECONDS = 1e9


def _within(convert, low, high, what, above=False):
    """An argparse type: `convert(text)`, refused unless low <= value <= high
    (low < value with `above`); NaN and infinity are refused."""
    def parse(text):
        try:
            value = convert(text)
        except (ValueError, OverflowError):
            value = None
        if value is None or not (low < value if above else low <= value) or not value <= high:
            raise argparse.ArgumentTypeError("expected %s %s %g and <= %g, got %r" % (
                what, ">" if above else ">=", low, high, text))
        return value
    return parse


# a count of things above this is a typo, not a request
MAX_COUNT = 10 ** 9
positive_int = _within(int, 1, MAX_COUNT, "a whole number")
non_negative_int = _within(int, 0, MAX_COUNT, "a whole number")
seconds = _within(float, 0, MAX_SECONDS, "seconds")
positive_seconds = _within(float, 0, MAX_SECONDS, "seconds", above=True)
positive_number = _within(float, 0, 1e15, "a number", above=True)
# --poll and --watch: how often to look (0 would spin)
interval = _within(float, 0.01, MAX_SECONDS, "seconds")
# --lease: renewed every lease/4 at most (a shorter one would make every
# short stall look like a death)
lease_seconds = _within(float, 1, MAX_SECONDS, "seconds")

NAMED_TYPES = ("interval",)


def limit_seconds(text):
    """Seconds as liftoff reads them (--start-by, --end-by): 0 or less is no
    limit; NaN, infinity and more than MAX_SECONDS are refused."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not -MAX_SECONDS <= value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError("expected seconds <= %g (0 or less: no limit), got %r"
                                         % (MAX_SECONDS, text))
    return value


def size(text):
    """An argparse type: bytes, with GNU parallel's suffixes (resources.Size)."""
    from cooperate.run.resources import Size

    try:
        return Size(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a size like 2G, 500M or 1.5T (K, M, G, T: "
                                         "powers of 1024; k, m, g, t: of 1000), got %r" % text)


def int_list(text):
    """`0,1,3` -> ['0', '1', '3'] (GPU ids stay strings: they go to
    CUDA_VISIBLE_DEVICES as given)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items or not all(t.isdigit() for t in items):
        raise argparse.ArgumentTypeError("expected a comma list of numbers like 0,1, got %r" % text)
    return items


def command_line(text):
    """An argparse type: a command line split into words as a shell would
    (never run by one), whose program can be found."""
    import shlex
    import shutil

    try:
        words = shlex.split(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError("cannot split %r into words: %s" % (text, error))
    if not words:
        raise argparse.ArgumentTypeError("expected a command, got nothing")
    if shutil.which(words[0]) is None:
        raise argparse.ArgumentTypeError("no program %r (not a file, not on PATH)" % words[0])
    return words
