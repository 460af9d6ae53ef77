"""What a newcomer to a big queue pays: a worker's first claim, `status` and
`report` on lists of 200,000 and 1,000,000 `true` entries with 10,000 and
400,000 of them done (goals from issue 13), each run as a fresh process of
dist/cooperate.pyz, timed by wall clock, its peak memory from wait4.

The history is written as the workers would have left it: a journal of a
claim and an end per done entry from 16 workers, then compacted (one
transaction with the threshold at 1 byte), as workers compact as they go.
Also the state's size per entry before and after compaction.

    python3 bench/scale.py                 both sizes, dist/cooperate.pyz
    python3 bench/scale.py million [PYZ]   only the million, that archive
"""

import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PYZ = os.path.join(TOP, "dist", "cooperate.pyz")
sys.path[:0] = [HERE, os.path.join(TOP, "lib"), os.path.join(TOP, "build", "vendor")]

from common import alone  # noqa: E402

WORKERS = 16


def timed(argv, cwd):
    """(wall seconds, peak RSS in MB of the process or its largest child)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    proc.returncode = os.WEXITSTATUS(status)
    assert proc.returncode == 0, argv
    return took, usage.ru_maxrss / 1024


def make_queue(cwd, n, done):
    """A list of n `true` and the state of `done` of them run by 16 workers,
    compacted. Returns (journal bytes before compaction, state bytes after,
    the id of a done entry)."""
    from cooperate.queue.listfile import CommandList
    from cooperate.queue.core import Queue

    shutil.rmtree(cwd, ignore_errors=True)
    os.makedirs(cwd)
    path = os.path.join(cwd, "l.json")
    with open(path, "w") as f:
        f.write("[" + ",".join(['["true"]'] * n) + "]")
    ids = CommandList(path).ids
    state = path + ".cooperate"
    os.makedirs(os.path.join(state, "logs"))
    os.makedirs(os.path.join(state, "workers"))
    now = time.time() - done * 0.01
    names = ["bench%02d-%d" % (w, 1000 + w) for w in range(WORKERS)]
    with open(os.path.join(state, "journal"), "w") as f:
        for w, name in enumerate(names):
            f.write(json.dumps(["w", name, {"host": "bench%02d" % w, "pid": 1000 + w,
                                            "since": now, "lease": 120.0}]) + "\n")
        for i in range(done):
            worker, t = names[i % WORKERS], now + i * 0.01
            f.write('["c","%s",1,"%s",%.3f]\n["e","%s",1,"%s",%.3f,"done",0,false]\n'
                    % (ids[i], worker, t, ids[i], worker, t + 0.5))
        for name in names:
            f.write(json.dumps(["q", name, now + done * 0.01, 0]) + "\n")
    before = os.path.getsize(os.path.join(state, "journal"))
    open(os.path.join(state, "lock"), "w").close()
    queue = Queue(path)
    queue.compact_at = 1
    queue.sync()
    queue.list.save_cache()
    after = sum(os.path.getsize(os.path.join(state, name)) for name in os.listdir(state)
                if name.startswith(("snapshot.", "journal")))
    # a done entry's id, for the commands that take one
    return before, after, ids[5]


# (entries, done, (goals: first claim s, status s, report s, MB))
SIZES = ((200000, 10000, (0.4, 0.3, None, 60)), (1000000, 400000, (1.5, 1.0, 3.0, 100)))


def measure(rows, sizes=SIZES, pyz=PYZ):
    for n, done, goals in sizes:
        cwd = os.path.join(HERE, "out", "scale-%d" % n)
        # in a process of its own: a child forked from this one would
        # count this one's memory as its own (wait4's peak)
        made = subprocess.run([sys.executable, __file__, "--make", cwd, str(n), str(done)],
                              check=True, stdout=subprocess.PIPE, text=True)
        before, after, done_id = made.stdout.split()
        before, after = int(before), int(after)
        claim, status, report, memory = goals
        label = "%s entries, %s done" % (format(n, ","), format(done, ","))
        rows.append(("%s: journal before / state after compaction (bytes per done entry)"
                     % label, "%.0f / %.0f" % (before / done, after / done), "", ""))
        figures = [("a fresh worker's first claim (`run --max-runs 1`)",
                    ["run", "l.json", "--max-runs", "1", "-q"], claim, memory),
                   ("`status`", ["status", "l.json"], status, memory)]
        if report:
            figures.append(("`report`", ["report", "l.json", "-o", "r.html"], report, memory))
            # the other readers: memory only ("all commands <= 100 MB")
            figures += [("`%s`" % " ".join(args[:1] + args[2:]), args, None, memory) for args in (
                ["log", "l.json", done_id], ["procs", "l.json"], ["retry", "l.json", "--failed"],
                ["hold", "l.json", done_id], ["collect", "l.json", "-o", "c.csv"])]
        for what, args, seconds, mb in figures:
            took, peak = timed([sys.executable, pyz] + args, cwd)
            met = (seconds is None or took <= seconds) and (mb is None or peak <= mb)
            goal = ", ".join(g for g in ("<= %g s" % seconds if seconds else "",
                                         "<= %d MB" % mb if mb else "") if g)
            rows.append(("%s: %s (s, MB)" % (label, what), "%.2f s, %.0f MB" % (took, peak), "",
                         "%s: %s" % (goal, "met" if met else "MISSED")))
        shutil.rmtree(cwd, ignore_errors=True)


def main():
    if sys.argv[1:2] == ["--make"]:
        cwd, n, done = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print("%d %d %s" % make_queue(cwd, n, done))
    elif sys.argv[1:2] == ["million"]:
        pyz = os.path.abspath(sys.argv[2]) if sys.argv[2:] else PYZ
        alone(lambda rows: measure(rows, SIZES[1:], pyz), pyz)
    else:
        alone(measure, PYZ)


if __name__ == "__main__":
    main()
