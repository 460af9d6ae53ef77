"""Whose commands a worker would run.

A worker runs whatever its list, its experiment and its state say, as the
user who started it, on every machine. So everything that decides what it
runs or where it writes must be changeable by that user alone: the list
file (symbolic links followed) and every folder on the way to it, an
experiment's experiment.json and queue.json and the script it records, the
state folder and what is in it. These are checked before use, and the list
and the journal whenever they are read again.

Refused, with one line naming the file, who can change it and how to fix it:
- a file or folder that belongs to another user (root is trusted: it can
  change anything anyway);
- one that every user can write, or the members of a group that has a
  member besides this user (as its primary or a supplementary group; a
  group that is this user's alone is fine);
- a folder on the way that such users can write is fine only when it is
  sticky (like /tmp: they cannot replace what is not theirs) and what the
  path takes from it belongs to this user or to root;
- on AFS, where rights come from access lists and not from mode bits, a
  folder whose list (`fs listacl`) gives the write, insert, delete, lock or
  administer right to anyone but this user and system:administrators.

`--trust-writable` turns all of this off: whoever can change these files can
then make the workers run any command as you.
"""

import os
import stat

from cooperate.errors import UserError

TRUSTED_UIDS = (0,)
_ADVICE = ("whoever can change it can make your workers run any command as you: %s, or pass "
           "--trust-writable if you trust them")
# AFS rights that change what is in a folder: write, insert, delete, lock, administer
_AFS_CHANGE = set("widka")
_AFS_TRUSTED = ("system:administrators",)
_shared = {}


def _user(uid):
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid


def shared_group(gid):
    """The name of group gid and another user in it, or None if no user but
    this one is in it (as far as the user database tells)."""
    if gid not in _shared:
        import grp
        import pwd

        me = _user(os.getuid())
        try:
            group = grp.getgrgid(gid)
        except KeyError:
            _shared[gid] = ("gid %d" % gid, "unknown users")
            return _shared[gid]
        others = [m for m in group.gr_mem if m != me]
        if not others and group.gr_name != me:
            others = [p.pw_name for p in pwd.getpwall() if p.pw_gid == gid and p.pw_name != me][:1]
        _shared[gid] = (group.gr_name, others[0]) if others else None
    return _shared[gid]


def _changers(path, st):
    """Who besides this user (and root) can change `path`: a phrase, or None."""
    if st.st_uid != os.getuid() and st.st_uid not in TRUSTED_UIDS:
        return "it belongs to user %s" % _user(st.st_uid), "chown it or move it to a folder of yours"
    if st.st_mode & stat.S_IWOTH:
        return "every user can write it", "chmod o-w %s" % _show(path)
    if st.st_mode & stat.S_IWGRP:
        group = shared_group(st.st_gid)
        if group is not None:
            return ("the members of group %s (%s, ...) can write it" % group,
                    "chmod g-w %s, or give it a group only you are in" % _show(path))
    return None


def _show(path):
    """A path as short as it can be said: from here, if it is below here."""
    here = os.path.relpath(path)
    return path if here.startswith("..") or here == "." else here


def _refuse(path, why):
    changers, fix = why
    raise UserError("%s: %s; %s" % (_show(path), changers, _ADVICE % fix))


def check_stat(path, st):
    """Refuse a file (or folder), given its lstat, that someone else could change."""
    if stat.S_ISLNK(st.st_mode):
        raise UserError("%s is a symbolic link where the toolkit keeps a file of its own: "
                        "remove it" % path)
    why = _changers(path, st)
    if why:
        _refuse(path, why)


def _check_folder(folder, child, child_st):
    st = os.stat(folder)
    why = _changers(folder, st)
    if why is None:
        return
    if st.st_uid in TRUSTED_UIDS + (os.getuid(),) and st.st_mode & stat.S_ISVTX and (
            child_st is None or child_st.st_uid in TRUSTED_UIDS + (os.getuid(),)):
        # a sticky folder (/tmp): others cannot replace what is not theirs
        return
    if st.st_mode & stat.S_ISVTX and child_st is not None:
        why = ("%s, and %s belongs to user %s" % (why[0], child, _user(child_st.st_uid)), why[1])
    _refuse(folder, why)


def check_path(path):
    """Refuse `path` if another user could change what it leads to: the file
    itself, a folder on the way, or a symbolic link on the way (followed as
    the kernel follows it). Returns the folders on the way (for AFS)."""
    try:
        return _walk(path)
    except OSError as error:
        raise UserError("%s: cannot tell who can change it: %s" % (
            error.filename or path, error.strerror or error))


def _walk(path):
    parts = [p for p in os.path.abspath(path).split("/") if p]
    current, folders, hops = "/", [], 0
    while parts:
        name = parts.pop(0)
        if name == ".":
            continue
        if name == "..":
            current = os.path.dirname(current)
            continue
        here = os.path.join(current, name)
        try:
            st = os.lstat(here)
        except OSError:
            # not there (yet): whoever can write the folder decides what it will be
            _check_folder(current, here, None)
            folders.append(current)
            return folders
        _check_folder(current, here, st)
        folders.append(current)
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > 40:
                raise UserError("%s: too many levels of symbolic links" % path)
            target = os.readlink(here)
            parts[:0] = [p for p in target.split("/") if p]
            if target.startswith("/"):
                current = "/"
            continue
        current = here
    why = _changers(current, os.stat(current))
    if why:
        _refuse(current, why)
    return folders


def check_paths(paths):
    """check_path for each path, then their folders' AFS access lists."""
    folders = []
    for path in paths:
        folders += [f for f in check_path(path) if f not in folders]
    check_afs(folders)


def check_state(folder, names):
    """Refuse a state folder (and the folders on the way to it) or one of
    its `names` (files and folders in it) that someone else could change."""
    check_paths([folder])
    for name in names:
        path = os.path.join(folder, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue  # not there (or the state "folder" is not one: said when used)
        check_stat(path, st)


# ---------------------------------------------------------------- AFS


def on_afs(path):
    """Is `path` on AFS? (Under /afs, or on a mount of type afs.)"""
    real = os.path.realpath(path)
    if real == "/afs" or real.startswith("/afs/"):
        return True
    best, kind = "", None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                point = fields[4]
                rest = fields[fields.index("-") + 1:]
                if (real == point or real.startswith(point.rstrip("/") + "/")) and \
                        len(point) >= len(best):
                    best, kind = point, rest[0] if rest else None
    except (OSError, ValueError, IndexError):
        return False
    return kind in ("afs", "openafs", "auristorfs")


def parse_acls(text):
    """{folder: {name: set of rights}} from `fs listacl` output (negative
    rights taken away)."""
    acls, folder, sign = {}, None, 1
    for line in text.splitlines():
        if line.startswith("Access list for ") and line.rstrip().endswith(" is"):
            folder = line[len("Access list for "):].rstrip()[:-len(" is")]
            acls[folder], sign = {}, 1
        elif line.strip() == "Normal rights:":
            sign = 1
        elif line.strip() == "Negative rights:":
            sign = -1
        elif folder is not None and line.startswith("  ") and len(line.split()) == 2:
            name, rights = line.split()
            entry = acls[folder].setdefault(name, set())
            if sign > 0:
                entry |= set(rights)
            else:
                entry -= set(rights)
    return acls


def check_afs(folders):
    """Refuse folders on AFS whose access list lets anyone but this user (and
    system:administrators) change what is in them. Needs the `fs` command;
    without it there is nothing to read the lists with."""
    folders = [f for f in folders if on_afs(f)]
    if not folders:
        return
    import shutil

    fs = shutil.which("fs")
    if fs is None:
        return
    import subprocess

    try:
        out = subprocess.run([fs, "listacl"] + folders, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, universal_newlines=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return
    me = _user(os.getuid())
    for folder, acl in parse_acls(out).items():
        for name, rights in sorted(acl.items()):
            change = rights & _AFS_CHANGE
            if change and name != me and name not in _AFS_TRUSTED:
                raise UserError("%s: its AFS access list gives %s the rights %s; %s" % (
                    folder, name, "".join(r for r in "widka" if r in change),
                    _ADVICE % ("fs setacl %s %s rl" % (folder, name))))
