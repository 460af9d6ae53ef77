"""Helpers for tests that run the real commands on real files."""

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

import effects

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


def wait_for(condition, timeout=30, what="condition", most=0.1):
    """Poll `condition` until it is true; fail after `timeout` seconds. The
    pause between polls grows to `most` seconds."""
    deadline = time.monotonic() + timeout
    delay = min(0.005, most)
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(delay)
        delay = min(delay * 2, most)


def write_list(path, entries):
    with open(path, "w") as f:
        json.dump(entries, f)


def status(path, *extra, cwd=None):
    result = run("status", path, "--json", *extra, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def journal(state_dir):
    return effects.records(str(state_dir))


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
    # often: a worker holds the lock for a moment a batch of claims (its
    # short runs may all be done before a slower poll finds it holding it)
    wait_for(caught, timeout, what="the worker to hold the lock", most=0.001)


def worker_pid(guard_pid, timeout=30):
    """The worker process under a guard (the process a test started)."""
    def child():
        try:
            with open("/proc/%d/task/%d/children" % (guard_pid, guard_pid)) as f:
                return int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            return None
    return wait_for(child, timeout, what="the worker under guard %d" % guard_pid)


def check_ran_once(path, state_dir, keys):
    """Assert that what ran is what effects.tally() accepts. Returns
    (executions, repeats)."""
    t = effects.tally(path, journal(state_dir), keys)
    for problem in ("unknown", "missing", "several_ids", "unclaimed", "overlaps", "not_once",
                    "unexplained"):
        assert not t[problem], "%s: %s" % (problem, t[problem][:5])
    return t["executions"], t["repeats"]


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


# the README, then the rest of the documentation, in reading order
DOCS = ["README.md"] + ["docs/%s.md" % name for name in (
    "usage", "liftoff", "results", "guarantees", "trust", "internals")]


def documentation():
    """The README and docs/, in reading order, as one text."""
    texts = []
    for name in DOCS:
        with open(os.path.join(TOP, name), encoding="utf-8") as f:
            texts.append(f.read())
    return "\n".join(texts)
