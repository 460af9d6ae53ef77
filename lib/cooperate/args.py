"""argparse, with usage errors as one line and shared option types."""

import argparse
import os

from .errors import UserError


class Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter asks shutil for the terminal width, and importing
    shutil costs more than the rest of a `status` call: ask os directly."""

    def __init__(self, prog):
        try:
            width = os.get_terminal_size().columns
        except OSError:
            width = 80
        super().__init__(prog, width=max(width - 2, 40))


class Parser(argparse.ArgumentParser):
    def __init__(self, prog, description, epilog=None):
        super().__init__(prog=prog, description=description, epilog=epilog,
                         formatter_class=Formatter)

    def error(self, message):
        raise UserError("%s (see --help)" % message)


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("expected a whole number >= 1, got %r" % text)
    return value


def non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError("expected a whole number >= 0, got %r" % text)
    return value


def seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError("expected seconds >= 0, got %r" % text)
    return value


def int_list(text):
    """`0,1,3` -> ['0', '1', '3'] (GPU ids stay strings: they go to
    CUDA_VISIBLE_DEVICES as given)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items or not all(t.isdigit() for t in items):
        raise argparse.ArgumentTypeError("expected a comma list of numbers like 0,1, got %r" % text)
    return items
