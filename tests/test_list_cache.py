"""The list's cache (ids.cache in the state folder): workers that start
together read the list once, under ids.lock; a lock that is not let go only
delays a worker; `status` creates and locks nothing.

How often the list was read is seen from outside, with inotify: every worker
that reads the list itself keeps what it read in the cache (at the latest
when it joins the queue), each time by renaming a new file over ids.cache, so
the renames count the reads. (Opens of the list would not: inotify merges
identical events that follow each other unread.)"""

import ctypes
import errno
import fcntl
import os
import struct

import pytest

from effects import effect
from util import check_ran_once, run, start, status, write_list

IN_MOVED_TO, IN_Q_OVERFLOW = 0x80, 0x4000


class Watch:
    """The names of the files renamed into a folder, read once what was
    watched is over (inotify)."""

    def __init__(self, folder):
        libc = ctypes.CDLL(None, use_errno=True)
        if not hasattr(libc, "inotify_init1"):
            pytest.skip("no inotify here")
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        assert libc.inotify_add_watch(self.fd, os.fsencode(str(folder)), IN_MOVED_TO) >= 0, \
            os.strerror(ctypes.get_errno())

    def renamed(self):
        data = b""
        while True:
            try:
                data += os.read(self.fd, 1 << 16)
            except OSError as error:
                assert error.errno == errno.EAGAIN
                break
        os.close(self.fd)
        names, pos = [], 0
        while pos < len(data):
            _, mask, _, length = struct.unpack_from("iIII", data, pos)
            pos += 16
            assert not mask & IN_Q_OVERFLOW, "inotify lost events"
            names.append(data[pos:pos + length].rstrip(b"\0").decode())
            pos += length
        return names


def changed_list(tmp_path, n):
    """A queue whose state folder exists, with a cache of an earlier version
    of its list, now changed to `n` entries: (state folder, keys)."""
    lst, state = tmp_path / "l.json", tmp_path / "l.json.cooperate"
    write_list(lst, [effect("first")])
    result = run("run", "l.json", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (state / "ids.cache").exists()
    keys = ["first"] + ["k%d" % i for i in range(n - 1)]
    write_list(lst, [effect(key) for key in keys])
    return state, keys


def test_workers_started_together_read_the_list_once(tmp_path):
    workers = 6
    state, keys = changed_list(tmp_path, 1500)
    watch = Watch(state)
    procs = [start("run", "l.json", "-q", cwd=tmp_path) for _ in range(workers)]
    assert [p.wait(timeout=300) for p in procs] == [0] * workers
    reads = watch.renamed().count("ids.cache")
    assert reads == 1, "the list was read by %d workers" % reads
    check_ran_once(str(tmp_path / "ran.txt"), str(state), keys)
    assert status("l.json", cwd=tmp_path)["counts"]["done"] == len(keys)


def test_a_cache_lock_held_elsewhere_only_delays_a_worker(tmp_path):
    state, keys = changed_list(tmp_path, 300)
    fd = os.open(str(state / "ids.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        # held by this process all along: the worker reads the list itself
        # once its bounded wait is over
        fcntl.flock(fd, fcntl.LOCK_EX)
        watch = Watch(state)
        result = run("run", "l.json", "-q", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    finally:
        os.close(fd)
    assert watch.renamed().count("ids.cache") == 1
    check_ran_once(str(tmp_path / "ran.txt"), str(state), keys)
    assert status("l.json", cwd=tmp_path)["counts"]["done"] == len(keys)


def test_status_on_a_changed_list_creates_and_locks_nothing(tmp_path):
    state, keys = changed_list(tmp_path, 50)
    if (state / "ids.lock").exists():
        # (made by the worker of changed_list, if it could lock)
        os.unlink(str(state / "ids.lock"))
    before = sorted(os.listdir(str(state)))
    cache = os.stat(str(state / "ids.cache"))
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["done"] == 1
    assert sorted(os.listdir(str(state))) == before
    after = os.stat(str(state / "ids.cache"))
    assert (after.st_ino, after.st_mtime_ns) == (cache.st_ino, cache.st_mtime_ns)
