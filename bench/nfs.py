"""On NFS (issue 23): the test bed of ../shared/nfs (NFS-Ganesha, NFSv3 with
NLM locks, fuse-nfs clients: mount `a` caches attributes for 1 s, `b` not at
all; about 1 ms per open, unlink or mkdir), the filesystem the queue is for.

- 600 x `true`, one worker through mount `a` and one through mount `b`,
  each in a simulated host of its own (unshare), against GNU parallel
  `-j2 --joblog` on `a` (goal: <= 1.5x) and `xargs -P2` writing one log
  file per command on `a`;
- the file operations one entry costs a worker on the shared folder
  (the list, its state folder and what is in it), counted with strace on a
  worker draining 200 entries through `a`: goal <= 10, each listed.

Needs root and /dev/fuse for the test bed (started here with setup.sh when
it is not mounted), unshare, strace and GNU parallel; each row says why it
is missing otherwise."""

import collections
import errno
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PYZ = os.path.join(TOP, "dist", "cooperate.pyz")
PY = sys.executable
TESTBED = os.environ.get("NFS_TESTBED", "/tmp/nfs-testbed")
SETUP = os.path.join(os.path.dirname(TOP), "shared", "nfs", "setup.sh")
sys.path.insert(0, HERE)

from common import alone  # noqa: E402
import workers  # noqa: E402


def testbed():
    """Why there is no test bed here, or None once it is mounted."""
    mounted = all(os.path.ismount(os.path.join(TESTBED, m)) for m in ("a", "b"))
    if mounted:
        return None
    if os.getuid() != 0:
        return "the NFS test bed needs root"
    if not os.path.exists("/dev/fuse"):
        return "the NFS test bed needs /dev/fuse"
    if not os.path.exists(SETUP):
        return "no NFS test bed (%s)" % SETUP
    for m in ("a", "b", "nolock"):
        path = os.path.join(TESTBED, m)
        try:
            os.stat(path)
        except OSError as error:
            if error.errno == errno.ENOTCONN:
                # a client that died: its mount goes, so that SETUP mounts
                # it again (as tests/test_nfs.py does)
                subprocess.run(["fusermount", "-u", "-z", path], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    result = subprocess.run(["bash", SETUP], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=900)
    if result.returncode != 0:
        return "the NFS test bed did not start: %s" % result.stderr.strip()[-200:]
    return None


def can_unshare():
    return shutil.which("unshare") and subprocess.run(
        ["unshare", "--uts", "--pid", "--fork", "--mount-proc", "true"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def folder(name):
    """A fresh folder on the export, seen through mount `a` and mount `b`
    (a client reconnecting to a restarted server says EAGAIN for a while)."""
    path = os.path.join(TESTBED, "a", name)
    for pause in (0.1, 0.5, 1, 2, 5, 10, None):
        shutil.rmtree(path, ignore_errors=True)
        try:
            os.mkdir(path)
            return path, os.path.join(TESTBED, "b", name)
        except BlockingIOError:
            if pause is None:
                raise
            time.sleep(pause)


def seconds(commands):
    """Wall seconds for these (argv, cwd, stdin bytes) to run side by side."""
    start = time.perf_counter()
    procs = []
    for argv, cwd, data in commands:
        procs.append((subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE if data else None,
                                       stdout=subprocess.DEVNULL), data))
    for proc, data in procs:
        if data:
            proc.communicate(data)
        assert proc.wait() == 0, proc.args
    return time.perf_counter() - start


def ours(n):
    a, b = folder("bench-ours")
    with open(os.path.join(a, "l.json"), "w") as f:
        json.dump([["true"]] * n, f)
    host = ["unshare", "--uts", "--pid", "--fork", "--mount-proc"] if can_unshare() else []
    took = seconds([(host + [PY, PYZ, "run", "l.json", "-q"], where, None) for where in (a, b)])
    done = json.loads(subprocess.run([PY, PYZ, "status", "l.json", "--json"], cwd=a,
                                     stdout=subprocess.PIPE, check=True).stdout)
    assert done["counts"]["done"] == n, done["counts"]
    shutil.rmtree(a, ignore_errors=True)
    return took


def parallel(n):
    a, _ = folder("bench-parallel")
    took = seconds([(["parallel", "-j2", "--joblog", "joblog", "true"], a, b"\n" * n)])
    shutil.rmtree(a, ignore_errors=True)
    return took


def xargs(n):
    a, _ = folder("bench-xargs")
    took = seconds([(["xargs", "-P2", "-I{}", "sh", "-c", "true > out.{} 2>&1"], a,
                     "".join("%d\n" % i for i in range(n)).encode())])
    shutil.rmtree(a, ignore_errors=True)
    return took


def measure(rows, n=600):
    try:
        measured(rows, n)
    except (OSError, AssertionError, subprocess.SubprocessError) as error:
        rows.append(("NFS test bed", "", "failed while measuring: %s" % error, "not measured"))


def measured(rows, n):
    why = testbed()
    if why:
        rows.append(("NFS test bed: %d x `true`, a worker on each of two mounts" % n, "", why,
                     "<= 1.5x GNU parallel: not measured"))
        return
    took = ours(n)
    against = []
    met = "no GNU parallel here (apt-get install parallel): not measured"
    if shutil.which("parallel"):
        par = parallel(n)
        against.append("GNU parallel -j2 --joblog on `a` %.2f (%.2fx)" % (par, took / par))
        met = "met" if took <= 1.5 * par else "MISSED"
    against.append("xargs -P2, a log file per command, on `a` %.2f" % xargs(n))
    rows.append(("NFS test bed: %d x `true`, a worker on mount `a` and one on `b` (wall s)" % n,
                 "%.2f" % took, "; ".join(against), "<= 1.5x GNU parallel: %s" % met))
    if shutil.which("strace"):
        a, _ = folder("bench-fileops")
        calls = collections.Counter()
        ops = workers.file_operations(cwd=a, calls=calls)
        shutil.rmtree(a, ignore_errors=True)
        total = sum(v for k, v in ops.items() if k != "create")
        rows.append(("... file operations per entry on the shared folder (a worker on `a`)",
                     "%.1f" % total, ", ".join("%s %.2f" % (k, v) for k, v in calls.most_common()
                                               if v >= 0.005),
                     "<= 10: %s" % ("met" if total <= 10 else "MISSED")))
    else:
        rows.append(("... file operations per entry on NFS", "", "strace not installed", ""))


def main():
    alone(measure, PYZ)


if __name__ == "__main__":
    main()
