"""Helpers for tests that run the real commands on real files."""

import collections
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(TOP, "bin", "cooperate")


def command(*args):
    """argv that runs a toolkit command from this checkout."""
    return [sys.executable, BIN] + [str(a) for a in args]


def run(*args, cwd=None, input=None, timeout=120, env=None):
    return subprocess.run(command(*args), cwd=cwd, input=input, capture_output=True,
                          text=True, timeout=timeout, env=env)


def start(*args, cwd=None, **kwargs):
    return subprocess.Popen(command(*args), cwd=cwd, **kwargs)


def wait_for(condition, timeout=30, what="condition"):
    """Poll `condition` until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def write_list(path, entries):
    with open(path, "w") as f:
        json.dump(entries, f)


def status(path, *extra, cwd=None):
    result = run("status", path, "--json", *extra, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def journal(state_dir):
    with open(os.path.join(state_dir, "journal")) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


def tree_digest(path):
    """A digest of every file's name and bytes under `path` (or of one file)."""
    h = hashlib.sha256()
    if os.path.isfile(path):
        with open(path, "rb") as f:
            h.update(f.read())
        return h.hexdigest()
    for folder, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            h.update(os.path.relpath(full, path).encode() + b"\0")
            with open(full, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def holds_lock(path):
    """Does some process hold the flock on this file?"""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def freeze_holding_lock(pid, lock, timeout=60):
    """SIGSTOP the process `pid` at a moment when it holds the lock: freeze
    it, and let it go on again until it is caught holding it."""
    def caught():
        os.kill(pid, signal.SIGSTOP)
        if holds_lock(lock):
            return True
        os.kill(pid, signal.SIGCONT)
        return False

    wait_for(lambda: os.path.exists(lock), timeout, what="the lock file")
    wait_for(caught, timeout, what="the worker to hold the lock")


def worker_pid(guard_pid, timeout=30):
    """The worker process under a guard (the process a test started)."""
    def child():
        try:
            with open("/proc/%d/task/%d/children" % (guard_pid, guard_pid)) as f:
                return int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            return None
    return wait_for(child, timeout, what="the worker under guard %d" % guard_pid)


# What ran, counted by its side effects rather than by our records: each run
# of an effect() entry appends "start", "tick"s and "end" lines to a file
# (O_APPEND: the file's order is the order in which they happened), each with
# the entry's key (the test's own name for it), the id, attempt and worker it
# was given, and its shell's pid.

def effect(key, ticks=0, tick=0.01, out="ran.txt"):
    """An argv entry that records its execution in `out`: a start line, a
    tick every `tick` seconds `ticks` times, an end line."""
    script = ('e() { echo "$1 %s $COOPERATE_ENTRY $COOPERATE_ATTEMPT $COOPERATE_WORKER $$" >> %s; }; '
              'e start; i=0; while [ $i -lt %d ]; do sleep %s; e tick; i=$((i+1)); done; e end'
              % (key, out, ticks, tick))
    return ["sh", "-c", script, key]


Execution = collections.namedtuple("Execution", "key id attempt worker pid first last ended")


def executions(path):
    """The executions recorded in an effect() file, in the order they started."""
    found = {}
    try:
        with open(path) as f:
            lines = [line.split() for line in f if line.endswith("\n")]
    except FileNotFoundError:
        return []
    for n, (what, key, id_, attempt, worker, pid) in enumerate(lines):
        # pids repeat across simulated hosts (pid namespaces): one execution
        # is one pid of one attempt
        e = found.get((id_, attempt, pid))
        if e is None:
            e = Execution(key, id_, int(attempt), worker, int(pid), n, n, False)
        found[id_, attempt, pid] = e._replace(last=n, ended=e.ended or what == "end")
    return sorted(found.values(), key=lambda e: e.first)


def check_ran_once(path, state_dir, keys):
    """Assert, from what ran and from the journal, that every key ran; that
    no two executions of one key overlapped (the later one started after the
    earlier one's last line); that each key has exactly one execution that
    ran to its end and is recorded done; and that any other execution that
    ran to its end is an attempt recorded as lost or interrupted (its worker
    died, or was stopped, as it ended). Returns (executions, repeats: how
    many ran to their end again)."""
    runs = executions(path)
    records = journal(state_dir)
    claimed = {(r[1], r[2]): r[3] for r in records if r[0] == "c"}
    outcome = {}
    for r in records:
        if r[0] == "e":
            # a later record of the same attempt is history only (fencing)
            outcome.setdefault((r[1], r[2]), r[5])
    by_key = collections.defaultdict(list)
    for e in runs:
        by_key[e.key].append(e)
    assert sorted(by_key) == sorted(keys), "every entry ran, and nothing else"
    repeats = 0
    for key, mine in by_key.items():
        for before, after in zip(mine, mine[1:]):
            assert before.last < after.first, "two executions of %s overlapped: %s and %s" % (
                key, before, after)
        assert len({e.id for e in mine}) == 1, "%s ran under several ids: %s" % (key, mine)
        for e in mine:
            assert claimed.get((e.id, e.attempt)) == e.worker, "an unclaimed execution: %s" % (e,)
        ended = [(e, outcome.get((e.id, e.attempt))) for e in mine if e.ended]
        assert [out for e, out in ended].count("done") == 1, (
            "%s: not one execution ran to its end and is recorded done: %s" % (key, ended))
        for e, out in ended:
            assert out in ("done", "lost", "interrupted"), (
                "%s ran to its end but its attempt is recorded %r" % (e, out))
        repeats += len(ended) - 1
    return runs, repeats


def leftovers(folder):
    """Pids of live processes whose working folder is `folder`."""
    folder = os.path.realpath(str(folder))
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink("/proc/%s/cwd" % name) == folder:
                    with open("/proc/%s/stat" % name) as f:
                        if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                            found.append(int(name))
            except OSError:
                pass
    return found


def can_unshare():
    if not shutil.which("unshare"):
        return False
    result = subprocess.run(["unshare", "--uts", "--pid", "--fork", "--mount-proc", "true"],
                            capture_output=True)
    return result.returncode == 0


needs_unshare = pytest.mark.skipif(not can_unshare(), reason="unshare of uts/pid namespaces "
                                   "is not allowed here (needs root or user namespaces)")


class Host:
    """A simulated machine: its own host name and process space."""

    def __init__(self, name, cwd, *args, **popen):
        script = 'hostname "$0" && exec "$@"'
        self.process = subprocess.Popen(
            ["unshare", "--uts", "--pid", "--fork", "--mount-proc", "sh", "-c", script, name]
            + command(*args), cwd=cwd, **popen)

    def init_pid(self):
        """The pid (here) of the namespace's first process."""
        def child():
            try:
                with open("/proc/%d/task/%d/children" % (self.process.pid, self.process.pid)) as f:
                    return int(f.read().split()[0])
            except (OSError, IndexError, ValueError):
                return None
        return wait_for(child, what="the simulated host to start")

    def worker_pid(self):
        """The pid (here) of the worker: the child of the namespace's first
        process, which is the worker's guard."""
        return worker_pid(self.init_pid())

    def kill(self):
        """The machine dies: every process in it at once."""
        os.kill(self.init_pid(), signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self):
        if self.process.poll() is None:
            try:
                os.kill(self.init_pid(), signal.SIGKILL)
            except OSError:
                pass
            self.process.wait(timeout=30)
