"""What this host has free for one more run: memory, load, GPU memory.

With --memfree SIZE and --load N (as GNU parallel's), a worker starts a run
only while the host has SIZE of memory available (MemAvailable in
/proc/meminfo: what can be given to programs without swapping) and a
1-minute load average under N; with --gpu-memfree SIZE, only on a GPU that
nvidia-smi reports with SIZE free (a GPU someone else's job fills is left
alone). The worker looks before each claim, and again every CHECK_EVERY
seconds while it waits.
"""

import math
import os
import subprocess

from cooperate.errors import UserError

CHECK_EVERY = 1.0
# nvidia-smi can hang with a wedged driver: a worker does not hang with it
NVIDIA_SMI_TIMEOUT = 30.0
GPU_QUERY = ["nvidia-smi", "--query-gpu=index,memory.free", "--format=csv,noheader,nounits"]
# GNU parallel's suffixes: upper case powers of 1024, lower case of 1000
_UNITS = {c: 1024 ** (i + 1) for i, c in enumerate("KMGTP")}
_UNITS.update({c: 1000 ** (i + 1) for i, c in enumerate("kmgtp")})


class Size(int):
    """A number of bytes, written as given (2G), for the user's messages."""

    def __new__(cls, text):
        """`2G`, `500M`, `1.5g`, `4096`; ValueError for anything else."""
        number, unit = (text[:-1], _UNITS[text[-1]]) if text[-1:] in _UNITS else (text, 1)
        value = float(number) * unit
        if not math.isfinite(value) or value < 0:
            raise ValueError(text)
        size = int.__new__(cls, round(value))
        size.text = text
        return size


def size_text(n):
    """Bytes as people read them: 1.2 GB, 512 MB (powers of 1024, as SIZE's
    upper case suffixes)."""
    for unit, name in ((1024 ** 4, "TB"), (1024 ** 3, "GB"), (1024 ** 2, "MB"), (1024, "KB")):
        if n >= unit:
            return "%.1f %s" % (n / unit, name)
    return "%d bytes" % n


def memory_available():
    """MemAvailable of /proc/meminfo, in bytes; None where there is none
    (not Linux, or a kernel older than 3.14)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class HostLimits:
    """--memfree and --load: what the host must have free to start a run."""

    def __init__(self, memfree=None, load=None):
        self.memfree = memfree
        self.load = load
        if memfree is not None and memory_available() is None:
            raise UserError("--memfree: this system tells no available memory (MemAvailable "
                            "in /proc/meminfo, Linux 3.14 or later)")

    def short(self):
        """(what, a sentence) when the host lacks what a new run needs, else
        None; `what` tells one kind of wait from another."""
        if self.memfree is not None:
            available = memory_available()
            if available is not None and available < self.memfree:
                return "memory", "%s available, --memfree %s" % (size_text(available),
                                                                 self.memfree.text)
        if self.load is not None:
            load = os.getloadavg()[0]
            if load >= self.load:
                return "load", "load average %.2f, --load %g" % (load, self.load)
        return None


def gpu_free_memory():
    """({GPU index: free bytes} as nvidia-smi reports them, None), or (None,
    why nvidia-smi told nothing)."""
    try:
        result = subprocess.run(GPU_QUERY, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True,
                                timeout=NVIDIA_SMI_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, "nvidia-smi: %s" % (error.strerror if isinstance(error, OSError) else
                                         "no answer in %g s" % NVIDIA_SMI_TIMEOUT)
    if result.returncode != 0:
        return None, "nvidia-smi: exit %d: %s" % (result.returncode, (
            result.stderr.strip() or result.stdout.strip()).split("\n")[0])
    free = {}
    for line in result.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        try:
            # memory.free without units is in MiB
            free[parts[0]] = int(float(parts[1]) * 1024 ** 2)
        except (IndexError, ValueError, OverflowError):
            # "[N/A]", "[Not Supported]": that GPU is not reported
            pass
    return free, None
