"""Who and where this process is: host name, boot, process start times.

Used to tell a dead owner from a live one without waiting for its lease: an
owner recorded on this host with another boot id, or whose pid now belongs
to a process that started at another time, is gone.
"""

import os

_BOOT = None


def hostname():
    return os.uname().nodename


def boot_id():
    global _BOOT
    if _BOOT is None:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                _BOOT = f.read().strip()
        except OSError:
            _BOOT = ""
    return _BOOT


def process_start(pid):
    """The kernel's start time of process `pid` (clock ticks since boot), or
    None if there is no such process."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: skip past it
    return int(stat[stat.rindex(b")") + 2:].split()[19])


def owner_alive(info):
    """For an owner recorded on this host: is that very process still there?
    None when it cannot be told from here (another host)."""
    if info.get("host") != hostname():
        return None
    if info.get("boot") != boot_id():
        return False
    start = process_start(info.get("pid", 0))
    return start is not None and start == info.get("start")
