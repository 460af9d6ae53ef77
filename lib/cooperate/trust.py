"""Whose commands a worker would run.

A worker runs whatever the list says, as you, on every machine. A list, or
a state folder, that another user can write (or that another user owns)
lets that user run commands as you. Workers refuse such files unless told
to trust them. Mode bits are what is checked: on AFS, rights come from the
folder's ACL (`fs listacl`) instead, which this cannot see.
"""

import os
import stat

from .errors import UserError


def _problem(path, st):
    uid, gid = os.getuid(), os.getgid()
    if st.st_uid != uid:
        return "%s belongs to another user (uid %d)" % (path, st.st_uid)
    if st.st_mode & stat.S_IWOTH and not (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
        return "%s can be written by every user" % path
    if st.st_mode & stat.S_IWGRP and st.st_gid != gid:
        return "%s can be written by the members of group %d" % (path, st.st_gid)
    return None


def check(paths):
    """Refuse paths (and the folders holding them) that others can change."""
    seen = set()
    for path in paths:
        for p in (path, os.path.dirname(os.path.abspath(path))):
            if p in seen:
                continue
            seen.add(p)
            try:
                st = os.stat(p)
            except OSError:
                continue
            problem = _problem(p, st)
            if problem:
                raise UserError(
                    "%s: whoever can change it can make this worker run any command as you; "
                    "fix its permissions, or pass --trust-writable if you trust them" % problem)
