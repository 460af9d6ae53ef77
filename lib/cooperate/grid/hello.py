"""The line liftoff 0.3.3's commands printed first, which scripts and logs
read: ``Liftoff 0.3.3 @ <folder>[:<branch>:<commit>]``, the current
folder's name and, in a git work tree on a branch, the branch and the last
seven hex digits of its commit (as liftoff took them).

The git part is read from the repository's files, never by running git;
where liftoff crashed (a detached HEAD, a branch without commits) or
anything does not read, the line has no git part.
"""

import os

# the liftoff API level this toolkit's commands and shim follow
LIFTOFF_VERSION = "0.3.3"


def hello_line(cwd=None):
    folder = os.path.abspath(cwd or os.curdir)
    return "Liftoff %s @ %s%s" % (LIFTOFF_VERSION, os.path.basename(folder),
                                  _git_part(folder))


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _git_dir(folder):
    """The .git folder of the work tree holding `folder`, or None."""
    while True:
        dot_git = os.path.join(folder, ".git")
        if os.path.isdir(dot_git):
            return dot_git
        text = _read(dot_git) if os.path.isfile(dot_git) else None
        if text is not None:
            # a linked work tree or a submodule: "gitdir: PATH"
            if text.startswith("gitdir:"):
                return os.path.join(folder, text[len("gitdir:"):].strip())
            return None
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _git_part(folder):
    git = _git_dir(folder)
    head = git and _read(os.path.join(git, "HEAD"))
    if not head or not head.startswith("ref: refs/heads/"):
        return ""
    ref = head[len("ref: "):]
    common = _read(os.path.join(git, "commondir"))
    places = [git] + ([os.path.join(git, common)] if common else [])
    for place in places:
        sha = _read(os.path.join(place, ref))
        if sha:
            break
        for line in (_read(os.path.join(place, "packed-refs")) or "").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == ref:
                sha = parts[0]
                break
        if sha:
            break
    if not sha or len(sha) < 7:
        return ""
    return ":%s:%s" % (ref[len("refs/heads/"):], sha[-7:])
