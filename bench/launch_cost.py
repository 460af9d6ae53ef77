"""What it costs that no run outlives its worker, measured at launch.

    python3 bench/launch_cost.py BEFORE.pyz [ROUNDS [FOLDER]]

10,000 `true` drained by 2 workers of BEFORE.pyz (an archive built from
before the guard, e.g. from a worktree of an older commit) and of this
checkout's dist/cooperate.pyz, with `xargs -P2` beside them, interleaved
over ROUNDS rounds (default 5; before and after take turns going first) so
that the machine's drift hits all three alike; medians. In FOLDER if given
(a tmpfs such as /dev/shm takes the disk's noise out: creating 20,000 log
files on a disk that just deleted as many varies by a factor of two), else
in bench/out. Then, per started process, the two mechanisms the guard was
chosen over: Popen as the worker does it, and with a parent-death signal set
in the child (preexec_fn), which is what a per-run mechanism would cost.
"""

import os
import statistics
import subprocess
import sys
import time

from run import PY, PYZ, fresh, wall, write_list

N = 10000


def drains(before, rounds, folder=None):
    cwd = fresh("launch_cost") if folder is None else folder
    os.makedirs(cwd, exist_ok=True)
    times = {"before": [], "after": [], "xargs": []}
    lines = b"true\n" * N
    for n in range(rounds):
        pair = (("before", before), ("after", PYZ))
        for name, pyz in pair if n % 2 == 0 else pair[::-1]:
            for leftover in os.listdir(cwd):
                subprocess.run(["rm", "-rf", os.path.join(cwd, leftover)], check=True)
            write_list(os.path.join(cwd, "l.json"), [["true"]] * N)
            times[name].append(wall([[PY, pyz, "run", "l.json", "-q"]] * 2, cwd))
        times["xargs"].append(wall([["xargs", "-P2", "-I{}", "true"]], cwd, lines))
    return {name: statistics.median(t) for name, t in times.items()}, times


def popen_cost(n=2000):
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def parent_death_signal():
        prctl(1, 9, 0, 0, 0)

    result = {}
    for name, extra in (("plain", {}), ("preexec", {"preexec_fn": parent_death_signal})) * 2:
        start = time.perf_counter()
        for _ in range(n):
            subprocess.Popen(["true"], start_new_session=True, **extra).wait()
        result[name] = (time.perf_counter() - start) / n
    return result


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    before = os.path.abspath(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    folder = os.path.join(sys.argv[3], "launch_cost") if len(sys.argv) > 3 else None
    medians, times = drains(before, rounds, folder)
    print("| %d x `true`, 2 workers (wall s, median of %d) | seconds | vs before | vs xargs |"
          % (N, rounds))
    print("|---|---|---|---|")
    for name in ("before", "after", "xargs"):
        print("| %s | %.2f (%s) | %.3f | %.2fx |" % (
            name, medians[name], ", ".join("%.2f" % t for t in times[name]),
            medians[name] / medians["before"], medians[name] / medians["xargs"]))
    popen = popen_cost()
    print()
    print("| one `true` started by Popen, as a worker does (ms) | %.3f |" % (popen["plain"] * 1e3))
    print("| the same with a parent-death signal set in the child (preexec_fn) (ms) | %.3f (%.1fx) |"
          % (popen["preexec"] * 1e3, popen["preexec"] / popen["plain"]))


if __name__ == "__main__":
    main()
