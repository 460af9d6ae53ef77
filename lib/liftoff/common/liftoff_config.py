"""``liftoff.common.liftoff_config``: LiftoffConfig, where OptionParser
takes the values of options left unset. liftoff 0.3.3's read no file, so it
has no values, and neither has this one."""

__all__ = ["LiftoffConfig"]


class LiftoffConfig(object):
    """Option values from liftoff's settings: ``.cfg``, a flat dict of
    option name to value (empty), and ``.get(name)``."""

    def __init__(self):
        self.cfg = {}

    def get(self, name):
        """The value set for option ``name``, or None."""
        return self.cfg.get(name)
