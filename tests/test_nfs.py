"""On a real NFS (issue 19): the test bed of ../shared/nfs (an NFS-Ganesha
server, NFSv3 with NLM locks, and three fuse-nfs client mounts of one
export: `a` and `b` whose flocks reach the server, `nolock` whose flocks
stay on that mount). Simulated hosts (unshare) work through different
mounts, as machines sharing one NFS server do. What ran is counted on the
local disk, never on the mount under test.

Needs root and /dev/fuse (and, on a first run, the package registry for
setup.sh); skipped with the reason otherwise. `.ci/run` starts the test bed."""

import errno
import json
import os
import subprocess
import sys

import pytest

import effects
from util import BIN, TOP, can_unshare, check_ran_once, run, wait_for

TESTBED = os.environ.get("NFS_TESTBED", "/tmp/nfs-testbed")
SETUP = os.path.join(os.path.dirname(TOP), "shared", "nfs", "setup.sh")
MOUNTS = ("a", "b", "nolock")


def _mounted():
    return all(os.path.ismount(os.path.join(TESTBED, m)) for m in MOUNTS)


def _testbed():
    """Why the test bed cannot be had here, or None once it is mounted."""
    if os.getuid() != 0:
        return "the NFS test bed needs root"
    if not os.path.exists("/dev/fuse"):
        return "the NFS test bed needs /dev/fuse"
    if not can_unshare():
        return "simulated hosts need unshare of uts/pid namespaces"
    if _mounted():
        return None
    for m in MOUNTS:
        path = os.path.join(TESTBED, m)
        try:
            os.stat(path)
        except OSError as error:
            if error.errno == errno.ENOTCONN:
                # a client that died (the test bed's FUSE clients do, now
                # and then): its mount goes, so that SETUP mounts it again
                subprocess.run(["fusermount", "-u", "-z", path], capture_output=True)
    if not os.path.exists(SETUP):
        return "no NFS test bed at %s" % SETUP
    result = subprocess.run(["bash", SETUP], capture_output=True, text=True, timeout=900)
    if result.returncode != 0 or not _mounted():
        return "the NFS test bed did not start: %s" % result.stderr.strip()[-300:]
    return None


@pytest.fixture(scope="module")
def nfs():
    why = _testbed()
    if why:
        pytest.skip(why)
    return TESTBED


def _held(fd):
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@pytest.fixture
def shared(nfs, tmp_path):
    """A fresh folder on the export: its name, and a local folder for what
    ran. One test at a time on this machine uses the test bed: another test
    run's server restart (test_a_server_restart_fails_nothing) would stop
    the server under this one's workers, unannounced."""
    fd = os.open(os.path.join(nfs, "tests.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        wait_for(lambda: _held(fd), timeout=1800, what="another test run's NFS tests")
        yield _folder(nfs, tmp_path)
    finally:
        os.close(fd)


def _folder(nfs, tmp_path):
    name = "t%d-%s" % (os.getpid(), os.urandom(3).hex())

    def made():
        # a client reconnecting to a restarted server (another run of these
        # tests restarts it) answers EAGAIN for a while
        try:
            os.mkdir(os.path.join(nfs, "a", name))
        except BlockingIOError:
            return False
        except FileExistsError:
            pass  # made by a try whose answer was lost (the name is this test's own)
        return True

    wait_for(made, timeout=120, what="the test bed to answer")
    local = tmp_path / "local"
    local.mkdir()
    return name, local


def host(name, mount, folder, *args, env=None):
    """A simulated machine working through `mount`."""
    return subprocess.Popen(
        ["unshare", "--uts", "--pid", "--fork", "--mount-proc", "sh", "-c",
         'hostname "$0" && exec "$@"', name, sys.executable, BIN] + [str(a) for a in args],
        cwd=os.path.join(TESTBED, mount, folder), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env)


def write_effects(name, local, n, ticks=0):
    keys = [str(i) for i in range(n)]
    out = str(local / "ran.txt")
    with open(os.path.join(TESTBED, "a", name, "l.json"), "w") as f:
        json.dump([effects.effect(k, ticks=ticks, out=out) for k in keys], f)
    return keys, out


def state(name):
    return os.path.join(TESTBED, "a", name, "l.json.cooperate")


def finish(procs, timeout=600):
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=timeout)
        finally:
            if p.poll() is None:
                p.kill()
        outs.append((p.returncode, err))
    return outs


def test_two_locking_mounts_run_every_entry_once_through_compactions(shared):
    """Two machines whose locks reach the server, one of them caching sizes
    (no close-to-open consistency): every entry once, nothing written over,
    the journal compacted many times meanwhile."""
    name, local = shared
    keys, out = write_effects(name, local, 240)
    env = dict(os.environ, COOPERATE_COMPACT_AT="3000")
    procs = [host("hostA", "a", name, "run", "l.json", "-q", "-j", "2", env=env),
             host("hostB", "b", name, "run", "l.json", "-q", "-j", "2", env=env)]
    for code, err in finish(procs):
        assert code == 0, err
        assert "Traceback" not in err
    assert not os.path.exists(os.path.join(state(name), "broken"))
    executions, repeats = check_ran_once(out, state(name), keys)
    assert len(executions) == len(keys) and repeats == 0
    with open(os.path.join(state(name), "journal")) as f:
        assert json.loads(f.readline())[0] == "g", "it was compacted"
    report = json.loads(run("status", "l.json", "--json",
                            cwd=os.path.join(TESTBED, "b", name)).stdout)
    assert report["counts"]["done"] == len(keys) and "trouble" not in report


def test_a_mount_whose_locks_stay_local_is_found_and_every_worker_stops(shared):
    """A third machine mounted with `nolock` beside the two: the records
    show it, every worker stops with one line saying what to check, exit 2;
    status shows it; no worker starts until the mark is removed."""
    name, local = shared
    # the records show it once a transaction of the third machine meets
    # another's: by chance, so enough of them (with 2,000 entries, in about
    # one run in ten, none did, and nothing ran twice either)
    keys, out = write_effects(name, local, 6000)
    procs = [host("hostA", "a", name, "run", "l.json", "-q", "-j", "2"),
             host("hostB", "b", name, "run", "l.json", "-q", "-j", "2"),
             host("hostN", "nolock", name, "run", "l.json", "-q", "-j", "2")]
    ended = finish(procs)
    said = [(code, err.strip().splitlines()[-1:]) for code, err in ended]
    for code, err in ended:
        # a worker that found nothing left to start before the problem was
        # found exits 0; none fails, none crashes
        assert code in (0, 2) and "Traceback" not in err, said
        if code == 2:
            # the records showed it, or the journal got shorter under a
            # worker (the third machine cut off a batch being written)
            last = err.strip().splitlines()[-1]
            assert "nolock" in last and ("does not keep this queue's records safe" in last
                                         or "shorter than when it was last read" in last), said
    assert 2 in [code for code, _ in ended], ("never found", said)
    mark = os.path.join(state(name), "broken")
    assert os.path.exists(mark)
    ran = effects.executions(out)
    result = run("status", "l.json", cwd=os.path.join(TESTBED, "a", name))
    assert result.returncode == 0
    assert "warning: the shared filesystem does not keep" in result.stdout
    again = host("hostA", "a", name, "run", "l.json", "-q")
    code, err = finish([again])[0]
    assert code == 2 and "remove" in err and "broken" in err, err
    assert len(effects.executions(out)) == len(ran), "nothing started"


def test_a_server_restart_fails_nothing(shared):
    """The NFS server stops and starts again while workers run: they wait
    (a hard mount) or see EAGAIN once; no entry fails, none is lost. A
    worker started meanwhile, its state folder to be made there, waits too."""
    name, local = shared
    if not os.path.exists(SETUP):
        pytest.skip("the test bed is mounted, but %s is not here to start it again" % SETUP)
    keys, out = write_effects(name, local, 60, ticks=5)
    env = dict(os.environ, COOPERATE_COMPACT_AT="3000")
    procs = [host("hostA", "a", name, "run", "l.json", "-q", "--lock-timeout", "120", env=env),
             host("hostB", "b", name, "run", "l.json", "-q", "--lock-timeout", "120", env=env)]
    wait_for(lambda: len(effects.executions(out)) >= 10, timeout=300, what="10 runs")
    pid_file = os.path.join(TESTBED, "ganesha", "ganesha.pid")
    with open(pid_file) as f:
        pid = int(f.read())
    os.kill(pid, 15)
    wait_for(lambda: not os.path.exists("/proc/%d" % pid), timeout=60, what="the server to stop")
    # its list on this machine's disk, its state folder on the stopped server
    later_keys, later_out = ["m0", "m1", "m2"], str(local / "later.txt")
    (local / "m.json").write_text(json.dumps([effects.effect(k, out=later_out)
                                              for k in later_keys]))
    procs.append(subprocess.Popen(
        [sys.executable, BIN, "run", "m.json", "-q", "--lock-timeout", "120", "--state",
         os.path.join(TESTBED, "b", name, "m.state")], cwd=str(local), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env))
    result = subprocess.run(["bash", SETUP], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    for code, err in finish(procs):
        assert code == 0, err
        assert "Traceback" not in err
    executions, repeats = check_ran_once(out, state(name), keys)
    report = json.loads(run("status", "l.json", "--json",
                            cwd=os.path.join(TESTBED, "a", name)).stdout)
    assert report["counts"]["done"] == len(keys) and report["counts"]["failed"] == 0
    check_ran_once(later_out, os.path.join(TESTBED, "a", name, "m.state"), later_keys)
