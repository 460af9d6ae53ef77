"""Nobody else can make your workers run their commands: tried with real
users made by the tests (alice runs the workers; mallory and bob are other
users; bob shares alice's primary group), each running the archive with a
Python every user can run. Each test plants a command that writes a marker
file and asserts, on that file, that it never ran. Skipped, saying so, when
not root. The AFS case uses a stand-in `fs` that prints real access lists."""

import json
import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from users import PY, REASON, USERS, chown, make_users
from util import TOP, run, wait_for, write_list

pytestmark = pytest.mark.skipif(PY is None, reason=REASON)


@pytest.fixture
def box():
    """A folder every user can reach, with the archive in it and a folder of
    alice's; removed afterwards."""
    make_users()
    base = tempfile.mkdtemp(prefix="coop-trust-", dir="/tmp")
    os.chmod(base, 0o755)
    shutil.copy(os.path.join(TOP, "dist", "cooperate.pyz"), base)
    os.chmod(os.path.join(base, "cooperate.pyz"), 0o644)
    alice = os.path.join(base, "alice")
    os.mkdir(alice)
    chown(alice, "coopalice")
    # where planted commands leave their markers: anyone may write there
    os.mkdir(os.path.join(base, "markers"))
    os.chmod(os.path.join(base, "markers"), 0o1777)
    yield base
    shutil.rmtree(base)


def write_as(user, path, entries, mode=0o644):
    write_list(path, entries)
    os.chmod(path, mode)
    chown(path, user)


def as_user(user, box, *args, cwd=None, env=None, popen=False, **kwargs):
    argv = ["setpriv", "--reuid=%s" % user, "--regid=%s" % USERS[user], "--init-groups",
            PY, os.path.join(box, "cooperate.pyz")] + [str(a) for a in args]
    env = dict(env if env is not None else os.environ, HOME=box)
    if popen:
        return subprocess.Popen(argv, cwd=cwd, env=env, **kwargs)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def refused(result, *words):
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words + ("--trust-writable",):
        assert word in lines[0], lines[0]
    return lines[0]


def marker(box, n):
    return os.path.join(box, "markers", "marker-%s" % n)


def counter(box, i):
    """An entry that leaves one file per execution (each runner may be
    another user: no shared file to append to)."""
    return ["sh", "-c", "touch %s/ran-$COOPERATE_ENTRY-$$" % os.path.join(box, "markers"), str(i)]


def executions(box):
    return [n.split("-")[1] for n in os.listdir(os.path.join(box, "markers"))
            if n.startswith("ran-")]


def test_a_symlinked_list_in_a_folder_anyone_can_write(box):
    alice = os.path.join(box, "alice")
    pub = os.path.join(box, "pub")
    os.mkdir(pub)
    os.chmod(pub, 0o777)
    write_as("coopalice", os.path.join(pub, "real.json"), [["true"]])
    os.symlink("../pub/real.json", os.path.join(alice, "l.json"))
    chown(os.path.join(alice, "l.json"), "coopalice")
    # mallory replaces the file the link leads to
    tmp = os.path.join(pub, "mine.json")
    write_as("coopmallory", tmp, [["touch", marker(box, 1)]])
    subprocess.run(["setpriv", "--reuid=coopmallory", "--regid=coopmallory", "--clear-groups",
                    "mv", "-f", tmp, os.path.join(pub, "real.json")], check=True)
    line = refused(as_user("coopalice", box, "run", "l.json", cwd=alice),
                   "pub: every user can write it", "chmod o-w")
    assert "real.json" not in line.split(":")[0]
    assert not os.path.exists(marker(box, 1))
    assert not os.path.exists(os.path.join(alice, "l.json.cooperate"))


def test_a_list_the_members_of_a_shared_primary_group_can_write(box):
    alice = os.path.join(box, "alice")
    chown(alice, "coopalice", "coopusers")
    os.chmod(alice, 0o775)
    path = os.path.join(alice, "l.json")
    write_as("coopalice", path, [["true"]], 0o664)
    # bob, whose primary group is alice's, edits the list
    subprocess.run(["setpriv", "--reuid=coopbob", "--regid=coopusers", "--init-groups", PY, "-c",
                    "import json; json.dump([['touch', %r]], open(%r, 'w'))"
                    % (marker(box, 2), path)], check=True)
    refused(as_user("coopalice", box, "run", "l.json", cwd=alice),
            "the members of group coopusers (coopbob", "chmod g-w")
    assert not os.path.exists(marker(box, 2))


def test_an_experiment_json_others_can_write(box):
    alice = os.path.join(box, "alice")
    configs = os.path.join(alice, "configs")
    os.mkdir(configs)
    for name, text in (("default.yaml", "a: 0\n"), ("config.yaml", "a: [1, 2]\n")):
        with open(os.path.join(configs, name), "w") as f:
            f.write(text)
    for path in (configs,) + tuple(os.path.join(configs, n) for n in os.listdir(configs)):
        chown(path, "coopalice")
    made = as_user("coopalice", box, "prepare", "configs", "--do", "--script", "/bin/true",
                   cwd=alice)
    assert made.returncode == 0, made.stderr
    exp = os.path.join(alice, "results", os.listdir(os.path.join(alice, "results"))[0])
    meta = os.path.join(exp, ".cooperate", "experiment.json")
    os.chmod(meta, 0o666)
    with open(meta) as f:
        data = json.load(f)
    planted = os.path.join(box, "mal.sh")
    with open(planted, "w") as f:
        f.write("#!/bin/sh\ntouch %s\n" % marker(box, 3))
    os.chmod(planted, 0o755)
    data["script"] = planted
    subprocess.run(["setpriv", "--reuid=coopmallory", "--regid=coopmallory", "--clear-groups",
                    "sh", "-c", "cat > %s" % meta], input=json.dumps(data).encode(), check=True)
    refused(as_user("coopalice", box, "run", exp, cwd=alice), "experiment.json: every user")
    assert not os.path.exists(marker(box, 3))
    # and a recorded script others could change is refused too
    os.chmod(meta, 0o644)
    chown(planted, "coopmallory")
    refused(as_user("coopalice", box, "run", exp, cwd=alice), "mal.sh: it belongs to user coopmallory")
    assert not os.path.exists(marker(box, 3))


def test_a_logs_folder_others_can_write(box):
    alice = os.path.join(box, "alice")
    write_as("coopalice", os.path.join(alice, "l.json"), [counter(box, i) for i in range(2)])
    first = as_user("coopalice", box, "run", "l.json", "--max-runs", "1", cwd=alice)
    assert first.returncode == 0, first.stderr
    logs = os.path.join(alice, "l.json.cooperate", "logs")
    # as an older version left the state folder (open to all), logs opened by mistake
    os.chmod(os.path.dirname(logs), 0o755)
    os.chmod(logs, 0o777)
    victim = os.path.join(alice, "precious.txt")
    with open(victim, "w") as f:
        f.write("keep me\n")
    chown(victim, "coopalice")
    # mallory plants links to alice's file where the next logs will be (in
    # shard folders of her own: she can move alice's away)
    plant = ('if [ -d "$1" ] && [ ! -w "$1" ]; then mv "$1" "$1.gone"; fi; '
             'mkdir -p "$1" && ln -sf "$2" "$3"')
    for id_ in ids_of(alice):
        shard = os.path.join(logs, id_[:3])
        for attempt in (1, 2):
            subprocess.run(["setpriv", "--reuid=coopmallory", "--regid=coopmallory",
                            "--clear-groups", "sh", "-c", plant, "sh", shard, victim,
                            os.path.join(shard, "%s.%d.out" % (id_, attempt))], check=True)
    refused(as_user("coopalice", box, "run", "l.json", cwd=alice), "logs: every user can write it")
    with open(victim) as f:
        assert f.read() == "keep me\n"
    assert len(executions(box)) == 1


def ids_of(folder):
    """The ids of the entries of folder/l.json (argv lists, all distinct):
    the first 12 hex digits of the SHA-1 of "a", NUL, the words joined by NUL."""
    import hashlib

    with open(os.path.join(folder, "l.json")) as f:
        return [hashlib.sha1("\0".join(["a"] + entry).encode()).hexdigest()[:12]
                for entry in json.load(f)]


def test_a_symlink_planted_as_a_log_fails_that_run_and_writes_nothing_through_it(tmp_path):
    write_list(tmp_path / "l.json", [["echo", "one"], ["echo", "two"]])
    first = run("run", "l.json", "--max-runs", "1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    done = {p.name.split(".")[0] for p in (tmp_path / "l.json.cooperate" / "logs").glob("*/*.out")}
    (other,) = [i for i in ids_of(str(tmp_path)) if i not in done]
    shard = tmp_path / "l.json.cooperate" / "logs" / other[:3]
    shard.mkdir(exist_ok=True)
    os.symlink(victim, shard / ("%s.1.out" % other))
    result = run("run", "l.json", cwd=tmp_path)
    assert result.returncode == 1
    assert "a symbolic link is there" in result.stderr
    assert victim.read_text() == "keep me\n"
    assert json.loads(run("status", "l.json", "--json", cwd=tmp_path).stdout)["counts"] == {
        "pending": 0, "running": 0, "claimed": 0, "done": 1, "failed": 1, "stale": 0, "aborted": 0,
        "held": 0}


def test_a_journal_others_can_write(box):
    alice = os.path.join(box, "alice")
    write_as("coopalice", os.path.join(alice, "l.json"), [counter(box, 0)])
    assert as_user("coopalice", box, "run", "l.json", cwd=alice).returncode == 0
    journal = os.path.join(alice, "l.json.cooperate", "journal")
    # as an older version left the state folder (open to all), the journal opened by mistake
    os.chmod(os.path.dirname(journal), 0o755)
    os.chmod(journal, 0o666)
    # mallory appends a forged retry: the entry would run again
    forged = json.dumps(["r", ids_of(alice)[0], 0]) + "\n"
    subprocess.run(["setpriv", "--reuid=coopmallory", "--regid=coopmallory", "--clear-groups",
                    "sh", "-c", "cat >> %s" % journal], input=forged.encode(), check=True)
    refused(as_user("coopalice", box, "status", "l.json", cwd=alice), "journal: every user")
    refused(as_user("coopalice", box, "run", "l.json", cwd=alice), "journal: every user")
    assert len(executions(box)) == 1, "it ran once"


@pytest.mark.parametrize("group,mode,trusted", [
    ("coopteam", 0o775, False), ("coopteam", 0o2775, False),
    ("coopalone", 0o775, False), ("coopteam", 0o2775, True)],
    ids=["team-group", "team-setgid", "private-group", "team-trusted"])
def test_group_writable_folders(box, group, mode, trusted):
    alice = os.path.join(box, "alice")
    chown(alice, "coopalice", group)
    os.chmod(alice, mode)
    write_as("coopalice", os.path.join(alice, "l.json"), [counter(box, i) for i in range(6)])
    extra = ["--trust-writable"] if trusted else []
    result = as_user("coopalice", box, "run", "l.json", "--max-runs", "3", *extra, cwd=alice)
    if group == "coopteam" and not trusted:
        refused(result, "alice: the members of group coopteam (coopbob", "chmod g-w")
        assert not executions(box)
        return
    assert result.returncode == 0, result.stderr
    state = os.path.join(alice, "l.json.cooperate")
    if trusted:
        # a team queue: what alice made, bob (in the group) can write
        for name in ("", "journal", "lock", "logs", "workers"):
            st = os.stat(os.path.join(state, name))
            assert st.st_mode & 0o020 and __import__("grp").getgrgid(st.st_gid).gr_name == group
            assert not st.st_mode & 0o007, "the team's alone"
        bob = as_user("coopbob", box, "run", "l.json", *extra, cwd=alice)
        assert bob.returncode == 0, bob.stderr
    else:
        assert all(not os.stat(os.path.join(state, n)).st_mode & 0o022
                   for n in ("journal", "lock", "logs", "workers"))
    ran = executions(box)
    assert len(ran) == len(set(ran)) == (6 if trusted else 3)


def test_a_list_replaced_while_a_waiting_worker_runs(box):
    alice = os.path.join(box, "alice")
    path = os.path.join(alice, "l.json")
    write_as("coopalice", path, [["true"]])
    err = os.path.join(box, "worker.err")
    with open(err, "w") as f:
        worker = as_user("coopalice", box, "run", "l.json", "--wait", "--poll", "0.1",
                         cwd=alice, popen=True, stderr=f)
    try:
        wait_for(lambda: os.path.exists(os.path.join(alice, "l.json.cooperate", "journal")) and
                 "done" in run("status", "l.json", "--json", "--trust-writable", cwd=alice).stdout,
                 timeout=60, what="the first entry")
        # alice opens her folder by mistake; mallory replaces the list
        os.chmod(alice, 0o777)
        tmp = os.path.join(alice, "mine.json")
        write_as("coopmallory", tmp, [["true"], ["touch", marker(box, 9)]])
        subprocess.run(["setpriv", "--reuid=coopmallory", "--regid=coopmallory",
                        "--clear-groups", "mv", "-f", tmp, path], check=True)
        wait_for(lambda: "every user can write it" in open(err).read(), timeout=60,
                 what="the worker to say the list cannot be used")
        assert worker.poll() is None, "it waits for a list it can use"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert not os.path.exists(marker(box, 9))


ACL = """Access list for {folder} is
Normal rights:
  system:administrators rlidwka
  system:anyuser rl
  root rlidwka
{more}"""


@pytest.fixture
def afs(tmp_path):
    """A folder under /afs (made here: not a real AFS) and a stand-in `fs`
    that prints the access list in tmp_path/acl for that folder and what is
    in it, and one that gives nobody else any right for the folders above."""
    if os.path.ismount("/afs"):
        pytest.skip("a real AFS is mounted here")
    folder = tempfile.mkdtemp(prefix="cooperate-test-", dir=makedirs("/afs"))
    os.chmod(folder, 0o755)
    (tmp_path / "above").write_text(ACL.replace("{more}", ""))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "fs").write_text(
        "#!/bin/sh\n[ \"$1\" = listacl ] || exit 1\nshift\nfor d in \"$@\"; do\n"
        "  case \"$d\" in %s*) acl=%s;; *) acl=%s;; esac\n"
        "  sed \"s|{folder}|$d|\" $acl; echo\ndone\n"
        % (folder, tmp_path / "acl", tmp_path / "above"))
    (bin_dir / "fs").chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ["PATH"]))
    yield folder, env, tmp_path / "acl"
    shutil.rmtree(folder)
    try:
        os.rmdir("/afs")
    except OSError:
        pass


def makedirs(path):
    os.makedirs(path, exist_ok=True)
    return path


@pytest.mark.parametrize("more,refusal", [
    ("", None),
    ("  system:authuser rlidwk\n", "gives system:authuser the rights widk"),
    ("  someone rlidwk\nNegative rights:\n  someone widk\n", None),
    ("  someone rlidwka\nNegative rights:\n  someone w\n", "gives someone the rights idka"),
], ids=["only-me", "authuser-writes", "taken-back", "partly-taken-back"])
@pytest.mark.skipif(os.getuid() != 0, reason="making /afs needs root")
def test_afs_access_lists(afs, more, refusal):
    folder, env, acl = afs
    acl.write_text(ACL.replace("{more}", more))
    write_list(os.path.join(folder, "l.json"), [["touch", "ran"]])
    result = run("run", "l.json", cwd=folder, env=env)
    if refusal is None:
        assert result.returncode == 0, result.stderr
        assert os.path.exists(os.path.join(folder, "ran"))
    else:
        line = refused(result, refusal, "fs setacl")
        assert folder in line
        assert not os.path.exists(os.path.join(folder, "ran"))
