"""Who and where this process is, and the processes it can see.

A worker is known to be on this machine only when its boot and its pid
namespace are this process's: then a recorded pid that is gone (or now
belongs to a process that started at another time) means the worker is
dead, without waiting for its lease. A host name proves nothing (two
containers, or two machines, may report the same one).
"""

import os

_IDENTITY = None


def hostname():
    return os.uname().nodename


def identity():
    """(boot id, pid namespace) of this process: equal for two processes
    exactly when each can see the other's pids."""
    global _IDENTITY
    if _IDENTITY is None:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                boot = f.read().strip()
        except OSError:
            boot = ""
        try:
            namespace = os.readlink("/proc/self/ns/pid")
        except OSError:
            namespace = ""
        _IDENTITY = (boot, namespace)
    return _IDENTITY


def boot_id():
    return identity()[0]


def _read(path):
    """The bytes of a small file of /proc (OSError if it cannot be read),
    through a bare descriptor: a worker reads some of them at every run's
    end, and a file object costs more than the reading."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts = []
        while True:
            part = os.read(fd, 1 << 16)
            if not part:
                return b"".join(parts)
            parts.append(part)
    finally:
        os.close(fd)


def _stat(pid):
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        stat = _read("/proc/%d/stat" % pid)
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: skip past it
    return stat[stat.rindex(b")") + 2:].split()


def process_start(pid):
    """The kernel's start time of process `pid` (clock ticks since boot), or
    None if there is no such process, or it has ended (a zombie that its
    parent has not reaped yet)."""
    fields = _stat(pid)
    return None if fields is None or fields[0] in (b"Z", b"X") else int(fields[19])


def same_machine(info):
    """Was this owner recorded by a process that sees the same pids as this
    one (same boot, same pid namespace)?"""
    boot, namespace = identity()
    return bool(boot and namespace) and info.get("boot") == boot and info.get("pidns") == namespace


def owner_alive(info):
    """For an owner recorded on this machine: is that process, or its guard
    (see guard.py), still there? None when it cannot be told from here."""
    if not same_machine(info):
        return None
    for pid, start in ((info.get("pid"), info.get("start")),
                       (info.get("guard"), info.get("guard_start"))):
        if pid and start is not None and process_start(pid) == start:
            return True
    return False


def processes():
    """(pid, parent pid, process group, state) of every process in sight."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat(int(name))
        if fields is not None:
            yield int(name), int(fields[1]), int(fields[2]), fields[0]


def child_pids(pid):
    """Pids of the children of process `pid` (zombies too): from
    /proc/PID/task/*/children, else (a kernel without it) a pass over /proc."""
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return []
    found = []
    try:
        for task in tasks:
            found += map(int, _read("/proc/%d/task/%s/children" % (pid, task)).split())
    except OSError:
        return [p for p, parent, _, _ in processes() if parent == pid]
    return found


def descendants(pid):
    """Pids of every process under process `pid` (children first), in
    whatever group or session they are."""
    found, todo = [], [pid]
    while todo:
        kids = child_pids(todo.pop())
        found += kids
        todo += kids
    return found


def environ_value(pid, name):
    """The value of NAME in the environment process `pid` started with, or
    None."""
    try:
        text = _read("/proc/%d/environ" % pid)
    except OSError:
        return None
    key = name.encode() + b"="
    for item in text.split(b"\0"):
        if item.startswith(key):
            return item[len(key):].decode(errors="replace")
    return None


def children(pid):
    """(pid, process group) of the live children of process `pid`."""
    return [(p, group) for p, parent, group, state in processes()
            if parent == pid and state != b"Z"]


def signal_groups(groups, signum):
    for group in groups:
        try:
            os.killpg(group, signum)
        except OSError:
            pass


def _environ_has(pid, tag):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return tag in b"\0" + f.read()
    except OSError:
        return False


def kill_tagged(name, value):
    """SIGKILL every live process of this user whose environment holds
    NAME=VALUE, and their process groups. Returns how many were found."""
    import signal

    tag = b"\0%s=%s\0" % (name.encode(), value.encode())
    found = [(pid, group) for pid, _, group, state in processes()
             if state != b"Z" and pid != os.getpid() and _environ_has(pid, tag)]
    for pid, group in found:
        if group != os.getpgrp():
            signal_groups([group], signal.SIGKILL)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return len(found)
