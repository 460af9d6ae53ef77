"""The eleven attacks of issue 20, each mounted as another real user would
(users made by tests/users.py: alice runs the workers; mallory, bob and
carol's bot are the others), each refused: counted by what ran (planted
commands leave a marker, entries one file per execution) and by listings
of the victim's folders before and after, not by messages alone. Skipped,
saying so, where users cannot be made."""

import os
import pwd
import shutil
import socket
import subprocess

import pytest

from test_read_only import snapshot
from test_trust import ACL, afs, as_user, box, counter, executions, marker, refused, \
    write_as  # noqa: F401 (fixtures)
from users import PY, REASON, USERS, chown
from util import TOP, run, write_list

pytestmark = pytest.mark.skipif(PY is None, reason=REASON)

MADE = os.path.join(TOP, "tests", "golden", "made_by_liftoff", "2023Mar04-120000_basic")


def as_other(user, *argv, check=True, input=None):
    """argv as `user` (with that user's groups), not through the toolkit."""
    return subprocess.run(["setpriv", "--reuid=%s" % user, "--regid=%s" % USERS[user],
                           "--init-groups"] + [str(a) for a in argv],
                          check=check, capture_output=True, input=input)


def mine(path, user="coopalice", mode=None):
    """Give path (and what is in it) to `user`."""
    for folder, dirs, names in os.walk(path):
        chown(folder, user)
        for name in names:
            chown(os.path.join(folder, name), user)
    if mode is not None:
        os.chmod(path, mode)
    return path


def folder_of(box, name, user="coopalice", mode=0o755):
    path = os.path.join(box, name)
    os.makedirs(path, exist_ok=True)
    return mine(path, user, mode)


def state_home(box):
    """alice's XDG_STATE_HOME (where workers remember the lists they join)."""
    return folder_of(box, "alice-state")


# ---------------------------------------------------------------- 1


READ_ONLY = [["status"], ["status", "--json"], ["liftoff-status"], ["collect"], ["procs", "-a"]]


def test_1_a_folder_another_user_made_is_read_without_writing_and_changed_never(box):
    alice = os.path.join(box, "alice")
    env = dict(os.environ, XDG_STATE_HOME=state_home(box))
    write_as("coopalice", os.path.join(alice, "l.json"), [counter(box, i) for i in range(3)])
    assert as_user("coopalice", box, "run", "l.json", "-q", cwd=alice, env=env).returncode == 0
    # mallory's folder liftoff made, with a link to alice's state where
    # adoption would write its journal
    mal = folder_of(box, "mal", "coopmallory")
    exp = os.path.join(mal, os.path.basename(MADE))
    shutil.copytree(MADE, exp)
    os.mkdir(os.path.join(exp, ".cooperate"))
    os.symlink(os.path.join(alice, "l.json.cooperate"),
               os.path.join(exp, ".cooperate", "queue.json.cooperate"))
    mine(exp, "coopmallory")
    chown(os.path.join(exp, ".cooperate", "queue.json.cooperate"), "coopmallory")
    before, theirs = snapshot(alice), snapshot(mal)
    for command in READ_ONLY:
        result = as_user("coopalice", box, command[0], exp, *command[1:], cwd=alice, env=env)
        assert "Traceback" not in result.stderr, result.stderr
    out = folder_of(box, "out")
    as_user("coopalice", box, "report", exp, "-o", os.path.join(out, "r.html"), cwd=alice,
            env=env)
    # a command that changes state: refused before anything is written
    refused(as_user("coopalice", box, "hold", exp, "--all", cwd=alice, env=env),
            "belongs to user coopmallory")
    refused(as_user("coopalice", box, "run", exp, cwd=alice, env=env), "coopmallory")
    assert snapshot(alice) == before and snapshot(mal) == theirs
    # alice's list is as drained as it was: nothing runs again
    assert as_user("coopalice", box, "run", "l.json", "-q", cwd=alice, env=env).returncode == 0
    assert len(executions(box)) == len(set(executions(box))) == 3


def test_1_procs_follows_no_remembered_path_that_is_no_longer_yours_alone(box):
    alice = os.path.join(box, "alice")
    env = dict(os.environ, XDG_STATE_HOME=state_home(box))
    write_as("coopalice", os.path.join(alice, "l.json"), [counter(box, 0)])
    assert as_user("coopalice", box, "run", "l.json", "-q", cwd=alice, env=env).returncode == 0
    tmp = folder_of(box, "tmp", "root", 0o1777)
    gone = os.path.join(tmp, "gone.json")
    write_as("coopalice", gone, [["true"]])
    assert as_user("coopalice", box, "run", gone, "-q", cwd=alice, env=env).returncode == 0
    with open(os.path.join(env["XDG_STATE_HOME"], "cooperate", "recent")) as f:
        assert gone + "\n" in f.read()
    shutil.rmtree(gone + ".cooperate")
    os.unlink(gone)
    # mallory makes the remembered path again: a folder liftoff made, with
    # a link to alice's state where adoption would write
    made = os.path.join(tmp, "made")
    shutil.copytree(MADE, made)
    os.mkdir(os.path.join(made, ".cooperate"))
    os.symlink(os.path.join(alice, "l.json.cooperate"),
               os.path.join(made, ".cooperate", "queue.json.cooperate"))
    mine(made, "coopmallory")
    chown(os.path.join(made, ".cooperate", "queue.json.cooperate"), "coopmallory")
    as_other("coopmallory", "mv", made, gone)
    before, theirs = snapshot(alice), snapshot(gone)
    for extra in ([], ["--trust-writable"]):
        result = as_user("coopalice", box, "procs", "-a", *extra, cwd=alice, env=env)
        assert result.returncode == 0, result.stderr
        assert gone not in result.stdout
    assert snapshot(alice) == before and snapshot(gone) == theirs


# ---------------------------------------------------------------- 2


@pytest.mark.skipif(not shutil.which("setfacl"), reason="needs setfacl (apt-get install acl)")
@pytest.mark.parametrize("how", ["default-group", "named-user", "private-group"])
def test_2_posix_access_lists_count(box, how):
    lab = folder_of(box, "lab")
    if how == "default-group":
        # the lab's folder: every new file in it writable by the lab
        subprocess.run(["setfacl", "-m", "g:coopteam:rwx", "-d", "-m", "g:coopteam:rwx", lab],
                       check=True)
    path = os.path.join(lab, "l.json")
    write_as("coopalice", path, [["true"]], 0o664 if how == "default-group" else 0o644)
    if how == "named-user":
        subprocess.run(["setfacl", "-m", "u:coopmallory:rw", path], check=True)
        writer = "coopmallory"
    elif how == "private-group":
        # a group of alice's alone: fine
        subprocess.run(["setfacl", "-m", "g:coopalone:rw", path], check=True)
        writer = None
    else:
        writer = "coopbob"
    if writer:
        as_other(writer, PY, "-c", "import json; json.dump([['touch', %r]], open(%r, 'w'))"
                 % (marker(box, 2), path))
    before = snapshot(lab)
    result = as_user("coopalice", box, "run", "l.json", cwd=lab)
    if writer is None:
        assert result.returncode == 0, result.stderr
        return
    refused(result, {"default-group": "its access list lets the members of group coopteam "
                                      "(coopbob",
                     "named-user": "its access list lets user coopmallory write"}[how],
            "setfacl")
    assert not os.path.exists(marker(box, 2))
    assert snapshot(lab) == before, "no state folder made"


@pytest.mark.skipif(not shutil.which("setfacl"), reason="needs setfacl (apt-get install acl)")
def test_2_a_script_in_a_folder_with_a_default_access_list(box):
    """The script liftoff runs, rewritten by a lab member through the
    folder's default access list."""
    lab = folder_of(box, "lab")
    subprocess.run(["setfacl", "-d", "-m", "g:coopteam:rwx", lab], check=True)
    script = os.path.join(lab, "train.py")
    with open(script, "w") as f:
        f.write("import sys\n")
    chown(script, "coopalice")
    as_other("coopbob", "sh", "-c", "echo 'open(%r, \"w\")' >> %s" % (marker(box, 2), script))
    alice = os.path.join(box, "alice")
    with open(os.path.join(alice, "cfg.yaml"), "w") as f:
        f.write("a: 1\n")
    chown(os.path.join(alice, "cfg.yaml"), "coopalice")
    before = snapshot(alice)
    refused(as_user("coopalice", box, "launch", script, "cfg.yaml", cwd=alice),
            "lab: its default list lets the members of group coopteam (coopbob")
    assert snapshot(alice) == before
    assert not os.path.exists(marker(box, 2))


# ---------------------------------------------------------------- 3


def test_3_a_private_group_that_is_another_accounts_primary_group(box):
    carol = folder_of(box, "carol", "coopcarol", 0o775)
    chown(carol, "coopcarol", "coopcarol")
    path = os.path.join(carol, "l.json")
    write_as("coopcarol", path, [["true"]], 0o664)
    chown(path, "coopcarol", "coopcarol")
    # the bot (primary group: carol's own) rewrites it
    as_other("coopcarolbot", PY, "-c", "import json; json.dump([['touch', %r]], open(%r, 'w'))"
             % (marker(box, 3), path))
    before = snapshot(carol)
    refused(as_user("coopcarol", box, "run", "l.json", cwd=carol),
            "the members of group coopcarol (coopcarolbot", "chmod g-w")
    assert not os.path.exists(marker(box, 3))
    assert snapshot(carol) == before


# ---------------------------------------------------------------- 4 and 5


UNDER_UMASK = """
import os, runpy, sys
os.umask(int(sys.argv[1], 8))
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def as_alice_umask(box, umask, *args, cwd):
    """`cooperate.pyz ARGS` as alice, under `umask` (set in the same process:
    the interpreter may be one only setpriv's first exec reaches)."""
    argv = ["setpriv", "--reuid=coopalice", "--regid=coopusers", "--init-groups", PY, "-c",
            UNDER_UMASK, umask, os.path.join(box, "cooperate.pyz")]
    return subprocess.run(argv + [str(a) for a in args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, HOME=box))


TRY_LOCK = """
import fcntl, sys
try:
    f = open(sys.argv[1], "rb")
    fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
except OSError as error:
    sys.exit("no: %s" % error.strerror)
print("held")
"""


@pytest.mark.parametrize("umask", ["022", "002", "000"])
def test_4_5_nobody_else_holds_the_lock_or_reads_the_records(box, umask):
    alice = os.path.join(box, "alice")
    os.chmod(alice, 0o755)
    secret = "token-%s" % os.urandom(4).hex()
    write_as("coopalice", os.path.join(alice, "l.json"),
             [["sh", "-c", "echo %s; echo %s >&2" % (secret, secret)]]
             + [counter(box, i) for i in range(3)])
    first = as_alice_umask(box, umask, "run", "l.json", "--max-runs", "2", cwd=alice)
    assert first.returncode == 0, first.stderr
    state = os.path.join(alice, "l.json.cooperate")
    # every file and folder of the state is alice's alone, whatever the umask
    for folder, dirs, names in os.walk(state):
        for name in [""] + dirs + names:
            st = os.lstat(os.path.join(folder, name))
            assert st.st_mode & 0o077 == 0, (os.path.join(folder, name), oct(st.st_mode))
    # mallory (and bob, in alice's group) can neither hold the lock nor read
    # the journal or the logs
    for user in ("coopmallory", "coopbob"):
        tried = as_other(user, PY, "-c", TRY_LOCK, os.path.join(state, "lock"), check=False)
        assert tried.returncode != 0 and b"Permission denied" in tried.stderr, tried
        grep = as_other(user, "grep", "-r", secret, state, check=False)
        assert secret.encode() not in grep.stdout and grep.returncode == 2, grep
    # the rest runs, with a short lock wait; retry and abort work
    rest = as_alice_umask(box, umask, "run", "l.json", "--lock-timeout", "5", cwd=alice)
    assert rest.returncode == 0, rest.stderr
    assert len(executions(box)) == len(set(executions(box))) == 3
    held = as_alice_umask(box, umask, "hold", "l.json", "--all", "--lock-timeout", "5",
                          cwd=alice)
    assert held.returncode in (0, 1) and "lock" not in held.stderr, held.stderr


def test_5_an_experiments_state_and_run_folders(box):
    alice = os.path.join(box, "alice")
    configs = folder_of(box, "alice/configs")
    for name, text in (("default.yaml", "a: 0\n"), ("config.yaml", "a: [1, 2]\n")):
        with open(os.path.join(configs, name), "w") as f:
            f.write(text)
    mine(configs)
    made = as_alice_umask(box, "000", "prepare", "configs", "--do", "--script", "/bin/true",
                          cwd=alice)
    assert made.returncode == 0, made.stderr
    exp = os.path.join(alice, "results", os.listdir(os.path.join(alice, "results"))[0])
    assert as_alice_umask(box, "000", "run", exp, cwd=alice).returncode == 0
    state = os.path.join(exp, ".cooperate", "queue.json.cooperate")
    for folder, dirs, names in os.walk(state):
        for name in [""] + dirs + names:
            st = os.lstat(os.path.join(folder, name))
            assert st.st_mode & 0o077 == 0, (os.path.join(folder, name), oct(st.st_mode))
    tried = as_other("coopmallory", PY, "-c", TRY_LOCK, os.path.join(state, "lock"), check=False)
    assert tried.returncode != 0 and b"Permission denied" in tried.stderr, tried


# ---------------------------------------------------------------- 6


SCRIPT = """\
from liftoff import parse_opts
opts = parse_opts()
"""
PLANTED = "open(%r, 'w').close()\n"


def test_6_a_module_planted_beside_a_script_in_a_sticky_folder(box):
    sticky = folder_of(box, "sticky", "root", 0o1777)
    alice = os.path.join(box, "alice")
    script = os.path.join(sticky, "train.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    chown(script, "coopalice")
    with open(os.path.join(alice, "cfg.yaml"), "w") as f:
        f.write("a: 1\n")
    chown(os.path.join(alice, "cfg.yaml"), "coopalice")
    # mallory plants liftoff.py beside it: Python would import hers first
    as_other("coopmallory", "sh", "-c", "cat > %s/liftoff.py" % sticky,
             input=(PLANTED % marker(box, 6)).encode())
    before = snapshot(alice)
    refused(as_user("coopalice", box, "launch", script, "cfg.yaml", cwd=alice),
            "sticky (the folder of the script", "every user can write it")
    assert not os.path.exists(marker(box, 6))
    assert snapshot(alice) == before
    # an experiment that records it: refused by `run` too
    configs = folder_of(box, "alice/configs")
    for name, text in (("default.yaml", "a: 0\n"), ("config.yaml", "a: [1, 2]\n")):
        with open(os.path.join(configs, name), "w") as f:
            f.write(text)
    mine(configs)
    made = as_user("coopalice", box, "prepare", "configs", "--do", "--script", script, cwd=alice)
    assert made.returncode == 0, made.stderr
    exp = os.path.join(alice, "results", os.listdir(os.path.join(alice, "results"))[0])
    refused(as_user("coopalice", box, "run", exp, cwd=alice), "the folder of the script")
    assert not os.path.exists(marker(box, 6))
    assert not os.path.exists(os.path.join(exp, ".cooperate", "queue.json.cooperate"))


@pytest.mark.parametrize("planted", ["package", "module-beside"])
def test_6_a_module_path_imported_from_a_folder_others_can_write(box, planted):
    sticky = folder_of(box, "sticky", "root", 0o1777)
    with open(os.path.join(sticky, "trainmod.py"), "w") as f:
        f.write("def main(opts):\n    pass\n")
    chown(os.path.join(sticky, "trainmod.py"), "coopalice")
    with open(os.path.join(sticky, "cfg.yaml"), "w") as f:
        f.write("a: 1\n")
    chown(os.path.join(sticky, "cfg.yaml"), "coopalice")
    if planted == "package":
        # a package wins over trainmod.py
        as_other("coopmallory", "sh", "-c", "mkdir %s/trainmod && cat > %s/trainmod/__init__.py"
                 % (sticky, sticky), input=(PLANTED % marker(box, 6)).encode())
    else:
        as_other("coopmallory", "sh", "-c", "cat > %s/liftoff.py" % sticky,
                 input=(PLANTED % marker(box, 6)).encode())
    before = snapshot(sticky)
    refused(as_user("coopalice", box, "launch", "trainmod.main", "cfg.yaml", cwd=sticky),
            "the current folder, where the module path trainmod.main is imported from",
            "every user can write it")
    assert not os.path.exists(marker(box, 6))
    assert snapshot(sticky) == before


# ---------------------------------------------------------------- 7


TOGGLE = """
import os, sys, time
names, target, stop = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
deadline = time.monotonic() + 300
while not os.path.exists(stop) and time.monotonic() < deadline:
    for name in names:
        try:
            os.symlink(target, name)
        except OSError:
            pass
        try:
            os.unlink(name)
        except OSError:
            pass
"""


def test_7_a_link_toggled_at_the_state_folder_in_a_sticky_folder(box):
    tmp = folder_of(box, "tmp", "root", 0o1777)
    victim = folder_of(box, "alice/victim")
    # mallory's link is there before alice starts: refused, nothing made
    write_as("coopalice", os.path.join(tmp, "l.json"), [counter(box, 0)])
    os.symlink(victim, os.path.join(tmp, "l.json.cooperate"))
    chown(os.path.join(tmp, "l.json.cooperate"), "coopmallory")
    refused(as_user("coopalice", box, "run", "l.json", cwd=tmp),
            "l.json.cooperate belongs to user coopmallory")
    assert os.listdir(victim) == [] and not executions(box)
    # and toggled while alice's workers start
    lists = ["r%d.json" % i for i in range(12)]
    for i, name in enumerate(lists):
        write_as("coopalice", os.path.join(tmp, name), [counter(box, 100 + i)])
    stop = os.path.join(box, "markers", "stop")
    toggler = subprocess.Popen(
        ["setpriv", "--reuid=coopmallory", "--regid=coopmallory", "--clear-groups", PY, "-c",
         TOGGLE, ",".join(os.path.join(tmp, n + ".cooperate") for n in lists), victim, stop])
    try:
        outcomes = [as_user("coopalice", box, "run", name, cwd=tmp) for name in lists]
    finally:
        open(stop, "w").close()
        toggler.wait(timeout=120)
    assert os.listdir(victim) == [], "nothing made where mallory's link led"
    for name, result in zip(lists, outcomes):
        state = os.path.join(tmp, name + ".cooperate")
        if result.returncode == 2:
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        else:
            assert result.returncode == 0, result.stderr
            st = os.lstat(state)
            assert os.path.isdir(state) and not os.path.islink(state)
            assert st.st_uid == pwd.getpwnam("coopalice").pw_uid
    ran = executions(box)
    assert len(ran) == len(set(ran)) == sum(r.returncode == 0 for r in outcomes)


# ---------------------------------------------------------------- 10


@pytest.mark.parametrize("fs", ["fails", "silent", "missing", "absent"])
@pytest.mark.skipif(os.getuid() != 0, reason="making /afs needs root")
def test_10_afs_rights_that_cannot_be_read_are_refused(afs, tmp_path, fs):
    folder, env, acl = afs
    acl.write_text(ACL.replace("{more}", ""))
    stand_in = tmp_path / "bin" / "fs"
    if fs == "fails":
        stand_in.write_text("#!/bin/sh\necho 'fs: no such cell' >&2\nexit 1\n")
    elif fs == "silent":
        stand_in.write_text("#!/bin/sh\nexit 0\n")
    elif fs == "missing":
        # the list of the folder above only: the folder itself is left out
        stand_in.write_text("#!/bin/sh\nsed \"s|{folder}|/afs|\" %s\n" % (tmp_path / "above"))
    else:
        stand_in.unlink()
        env = dict(env, PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    write_list(os.path.join(folder, "l.json"), [["touch", "ran"]])
    before = snapshot(folder)
    line = refused(run("run", "l.json", cwd=folder, env=env), "AFS access list cannot be read",
                   "fs listacl")
    assert "/afs" in line
    assert snapshot(folder) == before


# ---------------------------------------------------------------- 11


def test_11_a_gpu_slot_folder_another_user_made_first(box):
    alice = os.path.join(box, "alice")
    tmp = folder_of(box, "tmp", "root", 0o1777)
    write_as("coopalice", os.path.join(alice, "l.json"), [counter(box, i) for i in range(2)])
    uid = pwd.getpwnam("coopalice").pw_uid
    taken = os.path.join(tmp, "cooperate-%d" % uid)
    planted = os.path.join(box, "made-by-alice")
    as_other("coopmallory", "sh", "-c", "mkdir -p %s/%s && chmod -R 777 %s && ln -s %s %s/%s/gpu0.0"
             % (taken, socket.gethostname(), taken, planted, taken, socket.gethostname()))
    theirs = snapshot(taken)
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "TMPDIR")}
    env.update(TMPDIR=tmp, XDG_STATE_HOME=state_home(box))
    result = as_user("coopalice", box, "run", "l.json", "--gpus", "0", cwd=alice, env=env)
    assert result.returncode == 0, result.stderr
    fallback = os.path.join(env["XDG_STATE_HOME"], "cooperate", "gpu-slots", socket.gethostname())
    assert "belongs to uid %d" % pwd.getpwnam("coopmallory").pw_uid in result.stderr
    assert "the GPU slots are kept in %s instead" % fallback in result.stderr
    assert len(set(executions(box))) == len(executions(box)) == 2
    assert os.stat(fallback).st_mode & 0o777 == 0o700
    assert not os.path.lexists(planted) and snapshot(taken) == theirs


# ---------------------------------------------------------------- also


def test_append_to_an_experiment_of_another_user(box):
    mal = folder_of(box, "mal", "coopmallory")
    for owner, where in (("coopmallory", mal), ("coopalice", os.path.join(box, "alice"))):
        configs = folder_of(box, os.path.relpath(os.path.join(where, "configs"), box), owner)
        for name, text in (("default.yaml", "a: 0\n"), ("config.yaml", "a: [1, 2]\n")):
            with open(os.path.join(configs, name), "w") as f:
                f.write(text)
        mine(configs, owner)
    made = as_user("coopmallory", box, "prepare", "configs", "--do", "--script", "/bin/true",
                   cwd=mal)
    assert made.returncode == 0, made.stderr
    exp = os.path.join(mal, "results", os.listdir(os.path.join(mal, "results"))[0])
    with open(os.path.join(box, "alice", "configs", "config.yaml"), "w") as f:
        f.write("a: [3]\n")
    before = snapshot(mal)
    refused(as_user("coopalice", box, "prepare", "configs", "--append-to", exp, "--do",
                    cwd=os.path.join(box, "alice")), "belongs to user coopmallory")
    assert snapshot(mal) == before


def test_a_trusted_group_named_by_the_user(box):
    """COOPERATE_TRUST_GROUPS: a group-writable folder of a group the user
    trusts by name is accepted (as where accounts cannot be listed)."""
    alice = os.path.join(box, "alice")
    chown(alice, "coopalice", "coopteam")
    os.chmod(alice, 0o2775)
    write_as("coopalice", os.path.join(alice, "l.json"), [counter(box, 0)])
    refused(as_user("coopalice", box, "run", "l.json", cwd=alice), "group coopteam")
    env = dict(os.environ, COOPERATE_TRUST_GROUPS="coopteam")
    result = as_user("coopalice", box, "run", "l.json", cwd=alice, env=env)
    assert result.returncode == 0, result.stderr
    assert len(executions(box)) == 1
    # still alice's alone: the state is not opened to the group
    assert os.stat(os.path.join(alice, "l.json.cooperate")).st_mode & 0o077 == 0
