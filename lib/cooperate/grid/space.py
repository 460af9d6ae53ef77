"""Random search: values drawn from distributions, the same every time for a
seed.

A distribution is written KIND:LOW:HIGH:
  uniform:0:1          a float between LOW and HIGH
  loguniform:1e-5:1e-1 a float whose logarithm is uniform (both bounds > 0)
  int:1:10             a whole number from LOW to HIGH, both included
Floats are rounded to 6 significant digits (what a hyperparameter needs;
titles and folder names stay short). sample() draws N configurations with
Python's Mersenne Twister seeded by the seed, from random() alone, so the
same seed gives the same values on every Python from 3.6 on.
"""

import math
import random

from cooperate.errors import UserError

KINDS = ("uniform", "loguniform", "int")
SYNTAX = "write KIND:LOW:HIGH with KIND uniform, loguniform or int, like loguniform:1e-5:1e-1"


class Distribution:
    def __init__(self, kind, low, high):
        self.kind, self.low, self.high = kind, low, high

    def draw(self, rng):
        u = rng.random()
        if self.kind == "int":
            return min(self.low + int(u * (self.high - self.low + 1)), self.high)
        if self.kind == "loguniform":
            log_low = math.log(self.low)
            value = math.exp(log_low + u * (math.log(self.high) - log_low))
        else:
            value = self.low + u * (self.high - self.low)
        return float("%.6g" % value)

    def __repr__(self):
        return "%s:%s:%s" % (self.kind, self.low, self.high)


def parse(name, text):
    """The Distribution that `text` writes, or None for text that is none
    (no known KIND before the first colon)."""
    if not isinstance(text, str):
        return None
    kind, colon, rest = text.strip().partition(":")
    if not colon or kind not in KINDS:
        return None
    bounds = rest.split(":")
    try:
        if len(bounds) != 2:
            raise ValueError()
        low, high = (int(b) if kind == "int" else float(b) for b in bounds)
    except ValueError:
        raise UserError("%s: %r is not a distribution (%s)" % (name, text, SYNTAX))
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise UserError("%s: %r: LOW must be at most HIGH" % (name, text))
    if kind == "loguniform" and low <= 0:
        raise UserError("%s: %r: a loguniform's bounds must be above 0" % (name, text))
    return Distribution(kind, low, high)


def sample(distributions, samples, seed):
    """`samples` dicts {name: value}, the names in the order given."""
    rng = random.Random(seed)
    return [{name: d.draw(rng) for name, d in distributions} for _ in range(samples)]


def new_seed():
    """A seed for a search given none (printed, so that it can be given again)."""
    return random.SystemRandom().randrange(1, 1 << 31)
