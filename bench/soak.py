"""`make soak`: 16 simulated hosts x 2 workers drain 20,000 entries while,
every half second, a random worker, its guard, both, or a whole host is
SIGKILLed, for the whole run. Not part of CI (it takes minutes). Prints
what bench/RESULTS.md quotes.

What ran is counted by its side effects (tests/effects.py: each run appends
its start, a tick and its end to ran.txt), not by the journal: executions,
overlapping executions (the promise: none), entries that ran to their end
more than once (allowed only for an attempt recorded lost or interrupted:
it ended as its worker died), entries missing.

Each simulated host is a process tree under `unshare --uts --pid --fork
--mount-proc` with its own host name: hosts share only the filesystem, as
machines sharing NFS do. Needs root (or user namespaces) for unshare.

`--nfs` (`make soak-nfs`): the same on a real NFS, the test bed of
../shared/nfs (started if it is not; root and /dev/fuse): the list and its
state on the export, half the hosts working through mount `a` (sizes cached
for 1 s), half through `b`, both with locks that reach the server; 4 hosts
x 2 workers over 2,000 entries, compacted every 64 KB, a kill every 2 s,
for at most 20 minutes. What ran is counted on the local disk.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(os.path.dirname(HERE), d) for d in ("tests", "lib")]

import effects  # noqa: E402
from effects import effect, tally  # noqa: E402

PYZ = os.path.join(os.path.dirname(HERE), "dist", "cooperate.pyz")
PY = sys.executable
HOSTS, WORKERS, ENTRIES, EVERY = 16, 2, 20000, 0.5
# the journal is compacted every 256 KB or so (as the snapshot grows: less
# often), many times during the run, while workers are being killed
ENV = dict(os.environ, COOPERATE_COMPACT_AT=str(256 << 10))
WORKER = [PY, PYZ, "run", "l.json", "-q", "--wait", "--poll", "0.5", "--retries", "10",
          "--lease", "3"]


TESTBED = os.environ.get("NFS_TESTBED", "/tmp/nfs-testbed")
SETUP = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "nfs", "setup.sh")


def start_host(name, cwd):
    """A simulated host running WORKERS workers; its first process is a shell
    that waits for them."""
    worker = " ".join(" ".join(WORKER) + " &" for _ in range(WORKERS))
    return subprocess.Popen(
        ["unshare", "--uts", "--pid", "--fork", "--mount-proc", "sh", "-c",
         'hostname "$0"; %s wait' % worker, name], cwd=cwd, env=ENV,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def counts(cwd):
    out = subprocess.run([PY, PYZ, "status", "l.json", "--json"], cwd=cwd, capture_output=True,
                         text=True)
    return json.loads(out.stdout)


def generation(state):
    with open(os.path.join(state, "journal")) as f:
        first = json.loads(f.readline())
    return first[1] if first[0] == "g" else 0


def kill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def nfs_folders():
    """Start the NFS test bed if needed; (folder on mount a, on mount b)."""
    if not all(os.path.ismount(os.path.join(TESTBED, m)) for m in ("a", "b")):
        subprocess.run(["bash", SETUP], check=True, stdout=subprocess.DEVNULL)
    name = "soak-%d" % os.getpid()
    os.makedirs(os.path.join(TESTBED, "a", name))
    return os.path.join(TESTBED, "a", name), os.path.join(TESTBED, "b", name)


def main():
    global HOSTS, ENTRIES, EVERY
    nfs = "--nfs" in sys.argv[1:]
    local = os.path.join(HERE, "out", "soak-nfs" if nfs else "soak")
    shutil.rmtree(local, ignore_errors=True)
    os.makedirs(local)
    limit = None
    if nfs:
        HOSTS, ENTRIES, EVERY, limit = 4, 2000, 2.0, 20 * 60
        ENV["COOPERATE_COMPACT_AT"] = str(64 << 10)
        folders = nfs_folders()
    else:
        folders = (local,)
    cwd = folders[0]
    ran = os.path.join(local, "ran.txt")
    keys = [str(i) for i in range(ENTRIES)]
    with open(os.path.join(cwd, "l.json"), "w") as f:
        json.dump([effect(k, ticks=1, out=ran) for k in keys], f)
    rng = random.Random(1)
    where = {"sim%02d" % i: folders[i % len(folders)] for i in range(HOSTS)}
    hosts = {name: start_host(name, where[name]) for name in where}
    kills = {"worker": 0, "guard": 0, "both": 0, "host": 0}
    unreadable = 0
    start = time.monotonic()
    try:
        while True:
            time.sleep(EVERY)
            report = counts(cwd)
            unreadable = max(unreadable, report.get("unreadable_records", 0))
            c = report["counts"]
            print("\r%6.0f s  done %d  running %d  stale %d  pending %d  kills %s " % (
                time.monotonic() - start, c["done"], c["running"], c["stale"], c["pending"],
                "+".join(str(n) for n in kills.values())), end="", flush=True)
            if c["done"] + c["failed"] == ENTRIES:
                break
            if limit is not None and time.monotonic() - start > limit:
                print("\nstopped after %d s: the time bound" % limit)
                break
            name = rng.choice(sorted(hosts))
            init = children(hosts[name].pid)
            guards = children(init[0]) if init else []
            how = rng.choice(["host", "worker", "worker", "worker", "guard", "both"])
            if how == "host" or not guards:
                # the whole machine dies, and comes back
                kill(init)
                hosts[name].wait()
                hosts[name] = start_host(name, where[name])
                kills["host"] += 1
                continue
            guard = rng.choice(guards)
            worker = children(guard)[:1]
            kill({"worker": worker, "guard": [guard], "both": [guard] + worker}[how])
            kills[how] += 1
            # the host's shell no longer waits for that one: start another
            subprocess.Popen(["nsenter", "-t", str(init[0]), "-u", "-p", "-m", "--"] + WORKER,
                             cwd=where[name], env=ENV, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    finally:
        for proc in hosts.values():
            kill(children(proc.pid))
            proc.wait()
    seconds = time.monotonic() - start
    print()
    state = os.path.join(cwd, "l.json.cooperate")
    records = effects.records(state)
    t = tally(ran, records, keys)
    ends = [r for r in records if r[0] == "e"]
    lost = [r for r in ends if r[5] == "lost"]
    rows = [
        ("entries", ENTRIES),
        ("filesystem", "NFS test bed, mounts a and b" if nfs else "local disk"),
        ("simulated hosts x workers", "%d x %d" % (HOSTS, WORKERS)),
        ("wall time (s)", "%.0f" % seconds),
        ("kills: worker / guard / both / whole host", " / ".join(str(n) for n in kills.values())),
        ("executions (by their side effects)", len(t["executions"])),
        ("overlapping executions of one entry (goal 0)", len(t["overlaps"])),
        ("entries that ran to their end more than once", t["repeats"]),
        ("... of them not recorded lost or interrupted (goal 0)", len(t["unexplained"])),
        ("entries not run to their end and recorded done exactly once (goal 0)",
         len(t["not_once"])),
        ("entries missing / unknown / unclaimed executions",
         "%d / %d / %d" % (len(t["missing"]), len(t["unknown"]), len(t["unclaimed"]))),
        ("attempts lost / retried", "%d / %d" % (len(lost), sum(1 for r in lost if r[7]))),
        ("unreadable records seen by status", unreadable + report.get("unreadable_records", 0)),
        ("compactions (the journal's generation at the end)", generation(state)),
        ("filesystem found failing (goal: no)",
         "yes" if os.path.exists(os.path.join(state, "broken")) else "no"),
    ]
    print("| measure | figure |\n|---|---|")
    for name, value in rows:
        print("| %s | %s |" % (name, value))


if __name__ == "__main__":
    main()
