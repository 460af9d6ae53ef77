"""liftoff-lock: keep pending entries from being started."""

from cooperate.cli.targets import hold_or_release


def main(argv, prog):
    return hold_or_release(argv, prog, release=False)
