"""``liftoff.version``: the liftoff API level this package offers, as
liftoff 0.3.3's module of that name gave it."""

from . import __version__

__all__ = ["__version__"]
