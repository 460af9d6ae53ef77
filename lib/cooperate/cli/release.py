"""liftoff-unlock: let held entries be started again."""

from cooperate.cli.targets import hold_or_release


def main(argv, prog):
    return hold_or_release(argv, prog, release=True)
