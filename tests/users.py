"""Real users and groups for the tests that try what another user could do
(coopalice runs the workers; coopmallory and coopbob are other users; bob
shares alice's primary group; coopcarolbot has coopcarol's own group as its
primary group), and a Python every one of them may run.
PY is None (REASON says why) where they cannot be made: not root, no
setpriv or useradd."""

import os
import pwd
import shutil
import subprocess
import sys

USERS = {"coopalice": "coopusers", "coopbob": "coopusers", "coopmallory": "coopmallory",
         # carol's own group (named like her) is the primary group of a bot account
         "coopcarol": "coopcarol", "coopcarolbot": "coopcarol"}
GROUPS = {"coopteam": ["coopalice", "coopbob"], "coopalone": ["coopalice"]}


def python_for_everyone():
    """An interpreter other users can run (this one may be in root's home)."""
    for python in (sys.executable, "/usr/bin/python3"):
        if os.path.exists(python) and subprocess.run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c", ""],
                capture_output=True).returncode == 0:
            return python
    return None


def make_users():
    """The test users and groups (kept: another test run may use them)."""
    def ok(argv):
        # 9: it exists already (another test run made it meanwhile)
        assert subprocess.run(argv, capture_output=True).returncode in (0, 9), argv
    for group in ("coopusers", *GROUPS):
        ok(["groupadd", "-f", group])
    for user, group in USERS.items():
        try:
            pwd.getpwnam(user)
        except KeyError:
            ok(["useradd", "-M", "-s", "/usr/sbin/nologin"]
               + (["-U"] if user == group else ["-N", "-g", group]) + [user])
    for group, members in GROUPS.items():
        for member in members:
            ok(["usermod", "-aG", group, member])


PY = None
if os.getuid() != 0 or not shutil.which("setpriv") or not shutil.which("useradd"):
    REASON = "needs root, setpriv and useradd to make users"
else:
    PY = python_for_everyone()
    REASON = "no Python here that other users may run"


def chown(path, user, group=None):
    entry = pwd.getpwnam(user)
    gid = entry.pw_gid if group is None else __import__("grp").getgrnam(group).gr_gid
    os.chown(path, entry.pw_uid, gid, follow_symlinks=False)
