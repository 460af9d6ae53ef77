"""Opening never writes: every command that only reads (status, liftoff-status,
report, collect, procs) answers on a list, an experiment and a folder
liftoff 0.3.3 made, run as a real user (not root: root writes anywhere) on
a tree made read-only with `chmod -R a-w`, and the tree is byte for byte,
mode for mode, as it was. The user's home is watched too (nothing remembered
there). Skipped, saying so, where users cannot be made."""

import os
import shutil
import stat
import subprocess
import tempfile

import pytest

from users import PY, REASON, USERS, chown, make_users
from util import TOP

pytestmark = pytest.mark.skipif(PY is None, reason=REASON)

MADE = os.path.join(TOP, "tests", "golden", "made_by_liftoff", "2023Mar04-120000_basic")
USER = "coopalice"
DEFAULT = """\
lr: 0.1
seed: 1
"""
CONFIG = """\
lr: [0.1, 0.2]
"""
SCRIPT = """\
import sys
sys.exit(0)
"""


def as_user(box, *args, cwd):
    """`cooperate.pyz ARGS`, or with "liftoff-status" first, that link to it."""
    program = "liftoff-status" if args[0] == "liftoff-status" else "cooperate.pyz"
    args = args[1:] if program != "cooperate.pyz" else args
    argv = ["setpriv", "--reuid=%s" % USER, "--regid=%s" % USERS[USER], "--init-groups",
            PY, os.path.join(box, program)] + [str(a) for a in args]
    env = dict(os.environ, HOME=os.path.join(box, "home"), XDG_STATE_HOME="",
               XDG_CACHE_HOME="")
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def snapshot(root):
    """{relative path: (mode, bytes or link target)} of everything under root."""
    seen = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    content = f.read()
            else:
                content = None
            seen[os.path.relpath(path, root)] = (st.st_mode, st.st_uid, content)
    return seen


def chown_tree(root, user):
    for folder, dirs, names in os.walk(root):
        chown(folder, user)
        for name in names:
            chown(os.path.join(folder, name), user)


@pytest.fixture(scope="module")
def box():
    """A project of alice's with a drained list, a drained experiment and a
    folder liftoff made, all read-only; removed afterwards."""
    make_users()
    base = tempfile.mkdtemp(prefix="coop-readonly-", dir="/tmp")
    os.chmod(base, 0o755)
    shutil.copy(os.path.join(TOP, "dist", "cooperate.pyz"), base)
    os.chmod(os.path.join(base, "cooperate.pyz"), 0o644)
    os.symlink("cooperate.pyz", os.path.join(base, "liftoff-status"))
    project = os.path.join(base, "project")
    os.makedirs(os.path.join(project, "configs"))
    os.makedirs(os.path.join(base, "home"))
    with open(os.path.join(project, "l.json"), "w") as f:
        f.write('[["true"], ["sh", "-c", "echo out; echo err >&2"], ["false"]]\n')
    for name, text in (("default.yaml", DEFAULT), ("config.yaml", CONFIG)):
        with open(os.path.join(project, "configs", name), "w") as f:
            f.write(text)
    with open(os.path.join(project, "train.py"), "w") as f:
        f.write(SCRIPT)
    shutil.copytree(MADE, os.path.join(project, "results", os.path.basename(MADE)))
    chown_tree(base, USER)
    results = os.path.join(project, "results")
    made = set(os.listdir(results))
    for args in (["run", "l.json", "-q"], ["prepare", "configs", "--do"], ["launch", "train.py"]):
        if args[0] == "launch":
            args.append(os.path.join(results, (set(os.listdir(results)) - made).pop()))
        result = as_user(base, *args, cwd=project)
        assert result.returncode in (0, 1), result.stderr
    subprocess.run(["chmod", "-R", "a-w", project, os.path.join(base, "home")], check=True)
    yield base
    subprocess.run(["chmod", "-R", "u+w", base], check=True)
    shutil.rmtree(base)


def targets(box):
    project = os.path.join(box, "project")
    made = os.path.join("results", os.path.basename(MADE))
    ours = [e for e in sorted(os.listdir(os.path.join(project, "results")))
            if e != os.path.basename(MADE)]
    return ["l.json", os.path.join("results", ours[0]), made]


COMMANDS = [
    ["status"], ["status", "--json"], ["liftoff-status"], ["liftoff-status", "--details"],
    ["collect"], ["collect", "--format", "jsonl"], ["procs", "-a"],
]


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["list", "experiment", "made-by-liftoff"])
@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_a_command_that_only_reads_answers_and_writes_nothing(box, kind, command):
    project = os.path.join(box, "project")
    target = targets(box)[kind]
    before = snapshot(box)
    result = as_user(box, command[0], target, *command[1:], cwd=project)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.strip(), "it answered"
    assert snapshot(box) == before


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["list", "experiment", "made-by-liftoff"])
def test_the_report_is_written_only_where_asked(box, kind):
    project = os.path.join(box, "project")
    out = tempfile.mkdtemp(prefix="coop-report-", dir="/tmp")
    try:
        chown(out, USER)
        before = snapshot(box)
        result = as_user(box, "report", targets(box)[kind], "-o", os.path.join(out, "r.html"),
                         cwd=project)
        assert result.returncode == 0, result.stderr
        assert os.listdir(out) == ["r.html"]
        assert snapshot(box) == before
    finally:
        shutil.rmtree(out)


def test_a_command_that_changes_state_says_it_cannot_in_one_line(box):
    """Adoption is for the commands that change state: on a read-only folder
    liftoff made, one line and exit 2, nothing written."""
    project = os.path.join(box, "project")
    before = snapshot(box)
    result = as_user(box, "hold", targets(box)[2], "--all", cwd=project)
    assert result.returncode == 2, result
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(box) == before
