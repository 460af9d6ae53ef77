"""The lists and experiments this user's workers joined lately, so that
`procs` finds workers wherever their lists are (not only under ./results):
one absolute path per line in $XDG_STATE_HOME/cooperate/recent
(~/.local/state/cooperate/recent), shared by every machine that shares the
home folder. It is only a hint: a path in it is looked at only while it
(and every folder on the way, and its state) is this user's alone
(trust.alone), never trusted for more than reading, and losing a line to a
race costs nothing worse than `procs` not finding that list without being
named."""

import os

from cooperate.queue.files import atomic_write, make_folder, open_own, write_all

# paths kept; the file is trimmed to these when it has twice as many lines
KEEP = 100


def path():
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "cooperate", "recent")


def paths():
    """The paths, oldest first, each once."""
    try:
        with open(path(), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    return list(reversed(list(dict.fromkeys(
        line for line in reversed(lines) if line.startswith("/")))))


def remember(target):
    """Add `target` (a list file or an experiment folder) unless it is among
    the latest paths. Best effort: a home folder that cannot be written must
    not stop a worker."""
    target = os.path.abspath(target)
    try:
        known = paths()
        if target in known[-10:]:
            return
        make_folder(os.path.dirname(path()), 0o700)
        if len(known) >= 2 * KEEP:
            keep = [p for p in known if p != target][-KEEP:] + [target]
            atomic_write(path(), "".join(p + "\n" for p in keep).encode(), durable=False)
            return
        fd = open_own(path(), append=True)
        try:
            write_all(fd, (target + "\n").encode())
        finally:
            os.close(fd)
    except (OSError, ValueError):
        pass
