"""`make soak`: 16 simulated hosts x 2 workers drain 20,000 entries while a
random worker or a whole host is killed every half second, for the whole
run. Not part of CI (it takes minutes). Prints what the README quotes.

Each simulated host is a process tree under `unshare --uts --pid --fork
--mount-proc` with its own host name: hosts share only the filesystem, as
machines sharing NFS do. Needs root (or user namespaces) for unshare.
"""

import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYZ = os.path.join(os.path.dirname(HERE), "dist", "cooperate.pyz")
PY = sys.executable
HOSTS, WORKERS, ENTRIES, EVERY = 16, 2, 20000, 0.5
LEASE = "3"


def start_host(name, cwd):
    """A simulated host running WORKERS workers; its first process is a shell
    that waits for them."""
    worker = " ".join("%s %s run l.json -q --wait --poll 0.5 --retries 10 --lease %s &" % (PY, PYZ, LEASE)
                      for _ in range(WORKERS))
    return subprocess.Popen(
        ["unshare", "--uts", "--pid", "--fork", "--mount-proc", "sh", "-c",
         'hostname "$0"; %s wait' % worker, name], cwd=cwd,
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


def main():
    cwd = os.path.join(HERE, "out", "soak")
    shutil.rmtree(cwd, ignore_errors=True)
    os.makedirs(cwd)
    with open(os.path.join(cwd, "l.json"), "w") as f:
        json.dump([["sh", "-c", 'echo "$COOPERATE_ENTRY" >> ran.txt', str(i)]
                   for i in range(ENTRIES)], f)
    rng = random.Random(1)
    hosts = {"sim%02d" % i: start_host("sim%02d" % i, cwd) for i in range(HOSTS)}
    kills = {"worker": 0, "host": 0}
    unreadable = 0
    start = time.monotonic()
    try:
        while True:
            time.sleep(EVERY)
            report = counts(cwd)
            unreadable = max(unreadable, report.get("unreadable_records", 0))
            c = report["counts"]
            print("\r%6.0f s  done %d  running %d  stale %d  pending %d  kills %d+%d " % (
                time.monotonic() - start, c["done"], c["running"], c["stale"], c["pending"],
                kills["worker"], kills["host"]), end="", flush=True)
            if c["done"] + c["failed"] == ENTRIES:
                break
            name = rng.choice(sorted(hosts))
            init = children(hosts[name].pid)
            if rng.random() < 0.2 or not init:
                # the whole machine dies, and comes back
                for pid in init:
                    os.kill(pid, signal.SIGKILL)
                hosts[name].wait()
                hosts[name] = start_host(name, cwd)
                kills["host"] += 1
            else:
                workers = children(init[0])
                if workers:
                    os.kill(rng.choice(workers), signal.SIGKILL)
                    kills["worker"] += 1
                    # the host's shell no longer waits for that one: start another
                    subprocess.Popen(["nsenter", "-t", str(init[0]), "-u", "-p", "-m", "--",
                                      PY, PYZ, "run", "l.json", "-q", "--wait", "--poll", "0.5",
                                      "--retries", "10", "--lease", LEASE], cwd=cwd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
    finally:
        for proc in hosts.values():
            for pid in children(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.wait()
    seconds = time.monotonic() - start
    print()
    records = []
    with open(os.path.join(cwd, "l.json.cooperate", "journal")) as f:
        for line in f:
            records.append(json.loads(line))
    ends = [r for r in records if r[0] == "e"]
    lost = [r for r in ends if r[5] == "lost"]
    lost_attempts = {(r[1], r[2]) for r in lost}
    # a worker slowed past its lease may finish an attempt that was taken
    # back: that late result stays in the journal as history only (fencing)
    late = [r for r in ends if r[5] == "done" and (r[1], r[2]) in lost_attempts]
    done = collections.Counter(r[1] for r in ends if r[5] == "done"
                               and (r[1], r[2]) not in lost_attempts)
    retried = [r for r in lost if len(r) > 7 and r[7]]
    ran = collections.Counter(open(os.path.join(cwd, "ran.txt")).read().split())
    report = counts(cwd)
    rows = [
        ("entries", ENTRIES),
        ("simulated hosts x workers", "%d x %d" % (HOSTS, WORKERS)),
        ("wall time (s)", "%.0f" % seconds),
        ("kills (workers + whole hosts)", "%d + %d" % (kills["worker"], kills["host"])),
        ("attempts lost / retried", "%d / %d" % (len(lost), len(retried))),
        ("entries done more than once", sum(1 for n in done.values() if n > 1)),
        ("late results of attempts taken back (history only)", len(late)),
        ("entries run more than once (their output), all with a lost attempt",
         sum(1 for n in ran.values() if n > 1)),
        ("entries missing", ENTRIES - len(done)),
        ("unreadable records seen by status", unreadable + report.get("unreadable_records", 0)),
    ]
    print("| measure | figure |\n|---|---|")
    for name, value in rows:
        print("| %s | %s |" % (name, value))


if __name__ == "__main__":
    main()
