"""`make bench`: the figures the README quotes, side by side with peers.

Runs in bench/out/ (not /tmp: file creation there can be far slower than on
the project's disk). Every figure uses this interpreter (sys.executable),
for the toolkit and for the `python3 -c pass` baseline alike.
`python3 bench/run.py startup` measures only the start-up rows;
`python3 bench/run.py memory [PYZ]` only the draining workers' peak memory,
of the archive PYZ if given.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from common import print_table, write_configs

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
PYZ = os.path.join(TOP, "dist", "cooperate.pyz")
PY = sys.executable
sys.path[:0] = [os.path.join(TOP, "lib"), os.path.join(TOP, "build", "vendor")]


def fresh(name):
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write_list(path, entries):
    with open(path, "w") as f:
        json.dump(entries, f)


def wall(argv_list, cwd, shell_input=None):
    """Seconds to run these processes side by side until all end."""
    start = time.perf_counter()
    procs = [subprocess.Popen(a, cwd=cwd, stdin=subprocess.PIPE if shell_input else None,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for a in argv_list]
    for p in procs:
        if shell_input:
            p.communicate(shell_input)
        assert p.wait() == 0, p.args
    return time.perf_counter() - start


def median_run(argv, cwd, n=30, env=None):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, check=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def filesystem(path):
    """The type of the filesystem `path` is on (tmpfs, ext4, nfs...)."""
    out = subprocess.run(["df", "--output=fstype", path], capture_output=True, text=True).stdout
    return out.split()[-1] if out.split() else "?"


def drain(rows, n=10000):
    cwd = fresh("drain")
    write_list(os.path.join(cwd, "l.json"), [["true"]] * n)
    ours = wall([[PY, PYZ, "run", "l.json", "-q"]] * 2, cwd)
    lines = b"true\n" * n
    xargs = wall([["xargs", "-P2", "-I{}", "true"]], cwd, lines)
    rows.append(("%d x `true`, 2 workers, on %s (wall s)" % (n, filesystem(cwd)), "%.2f" % ours,
                 "xargs -P2 %.2f (%.2fx)" % (xargs, ours / xargs),
                 "<= 1.2x xargs: %s" % ("met" if ours <= 1.2 * xargs else "MISSED")))
    if shutil.which("parallel"):
        par = wall([["parallel", "-j2", "true"]], cwd, lines)
        rows.append(("", "", "parallel -j2 %.2f (%.1fx faster)" % (par, par / ours),
                     ">= 3x faster than parallel"))
    else:
        rows.append(("", "", "GNU parallel not installed (apt-get install parallel)", ""))


def claim_cost(n, claims=500):
    """Median seconds of one claim (lock, catch up, append) on an n-entry list."""
    from cooperate.queue.core import Queue

    cwd = fresh("claim%d" % n)
    path = os.path.join(cwd, "l.json")
    write_list(path, [["true", "--lr", "0.%d" % i, "--seed", "7"] for i in range(n)])
    queue = Queue(path, history=False)
    queue.join("bench", {"host": "bench", "pid": 0})
    times = []
    for _ in range(claims):
        start = time.perf_counter()
        claim = queue.take("bench")
        times.append(time.perf_counter() - start)
        assert claim is not None
    return statistics.median(times)


def startup(rows):
    cwd = fresh("startup")
    n = 10000
    path = os.path.join(cwd, "l.json")
    write_list(path, [["true", "--lr", "0.%d" % i, "--seed", "7"] for i in range(n)])
    subprocess.run([PY, PYZ, "run", "l.json", "-q", "--max-runs", "200", "--procs-no", "2"],
                   cwd=cwd, check=True, stderr=subprocess.DEVNULL)
    base = median_run([PY, "-c", "pass"], cwd)
    helps = median_run([PY, PYZ, "--help"], cwd)
    stat = median_run([PY, PYZ, "status", "l.json"], cwd)
    rows.append(("`python3 -c pass` (ms)", "%.1f" % (base * 1e3), "", ""))
    rows.append(("`cooperate.pyz --help` (ms)", "%.1f" % (helps * 1e3),
                 "%.2fx python3 -c pass" % (helps / base), "<= 3x"))
    rows.append(("`status` on %d entries (ms)" % n, "%.1f" % (stat * 1e3),
                 "%.2fx python3 -c pass" % (stat / base), "<= 3x"))


def pythons():
    """{version: path} of the Pythons 3.6 and later pyenv has here, and this one."""
    import glob

    found = {"%d.%d.%d" % sys.version_info[:3]: PY}
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for path in sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3"))):
        version = path.split(os.sep)[-3]
        if version.count(".") == 2 and int(version.split(".")[1]) >= 6:
            found.setdefault(version, path)
    return found


def startup_every_python(rows):
    """`status` on a 10-entry list against `python -c pass`, on each Python:
    each in a venv of its own (a plain interpreter: no .pth files of this
    machine's site-packages), the archive's modules cached for it in
    bench/out/cache (the first start, not timed, compiles them). The two
    commands take turns, so that a change of the machine's load weighs on
    both alike."""
    cwd = fresh("startup-pythons")
    write_list(os.path.join(cwd, "l.json"), [["true", str(i)] for i in range(10)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["XDG_CACHE_HOME"] = os.path.join(cwd, "cache")
    for version, python in sorted(pythons().items(), key=lambda kv: [
            int(p) for p in kv[0].split(".")]):
        venv = os.path.join(OUT, "venv-" + version)
        if not os.path.exists(os.path.join(venv, "bin", "python")):
            subprocess.run([python, "-m", "venv", "--without-pip", venv], check=True)
        py = os.path.join(venv, "bin", "python")
        argv = [py, PYZ, "status", "l.json"]
        subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
        base, stat = [], []
        for _ in range(40):
            base.append(median_run([py, "-c", "pass"], cwd, env=env, n=1))
            stat.append(median_run(argv, cwd, env=env, n=1))
        base, stat = statistics.median(base), statistics.median(stat)
        rows.append(("`status`, 10 entries, Python %s (ms)" % version, "%.1f" % (stat * 1e3),
                     "%.2fx `python -c pass` (%.1f ms)" % (stat / base, base * 1e3),
                     "<= 3x: %s" % ("met" if stat <= 3 * base else "MISSED")))


def peak_memory(rows, n=100000):
    """Two workers drain a 100,000-entry list. The peak of each (VmHWM, read
    from /proc while it runs: wait4's ru_maxrss also counts the forked
    children, which briefly share the worker's pages before they exec). The
    process started is the worker's guard; the worker is its child."""
    cwd = fresh("memory")
    write_list(os.path.join(cwd, "l.json"),
               [["true", "--lr", "0.%d" % i, "--seed", str(i % 10)] for i in range(n)])
    start = time.perf_counter()
    procs = [subprocess.Popen([PY, PYZ, "run", "l.json", "-q"], cwd=cwd) for _ in range(2)]
    peaks = dict.fromkeys(p.pid for p in procs)
    while any(p.poll() is None for p in procs):
        for p in procs:
            try:
                with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                    worker = int(f.read().split()[0])
                with open("/proc/%d/status" % worker) as f:
                    hwm = [line for line in f if line.startswith("VmHWM")]
                peaks[p.pid] = int(hwm[0].split()[1]) / 1024
            except (OSError, IndexError, ValueError):
                pass
        time.sleep(0.05)
    assert all(p.returncode == 0 for p in procs)
    seconds = time.perf_counter() - start
    rows.append(("worker peak memory, %d entries (MB)" % n, "%.1f" % max(peaks.values()),
                 "while 2 workers drained them all in %.0f s" % seconds, "<= 40 MB"))


def grid_folder(path, values):
    """A liftoff config folder: 4 variables, `values` values each."""
    write_configs(path, "a: 0\nb: 0\nc: 0\nd: 0\n", "".join(
        "%s: [%s]\n" % (name, ", ".join(str(i) for i in range(values))) for name in "abcd"))


def liftoff_status(rows):
    """status over two experiments of 10,000 runs each, all run."""
    cwd = fresh("lstatus")
    grid_folder(os.path.join(cwd, "configs"), 10)
    for name in ("one", "two"):
        subprocess.run([PY, PYZ, "prepare", "configs", "--do", "--name", name, "--script",
                        "/bin/true"], cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    for exp in sorted(os.listdir(os.path.join(cwd, "results"))):
        wall([[PY, PYZ, "run", os.path.join("results", exp), "-q"]] * 2, cwd)
    seconds = median_run([PY, PYZ, "status", "-a"], cwd, n=10)
    rows.append(("liftoff-status -a, 2 x 10,000 runs (s)", "%.3f" % seconds,
                 "liftoff 1.15", "<= 0.3 s"))


def liftoff_launch(rows, runs=200):
    """Launch 200 runs of a Python script that returns at once, 4 at a time."""
    cwd = fresh("llaunch")
    os.makedirs(os.path.join(cwd, "configs"))
    with open(os.path.join(cwd, "configs", "default.yaml"), "w") as f:
        f.write("a: 0\n")
    with open(os.path.join(cwd, "configs", "config.yaml"), "w") as f:
        f.write("a: [%s]\n" % ", ".join(str(i) for i in range(runs)))
    with open(os.path.join(cwd, "script.py"), "w") as f:
        f.write("from liftoff import parse_opts\nopts = parse_opts()\n")
    subprocess.run([PY, PYZ, "prepare", "configs", "--do"], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL)
    exp = os.path.join("results", os.listdir(os.path.join(cwd, "results"))[0])
    seconds = wall([[PY, PYZ, "launch", "script.py", exp, "--procs-no", "4", "-q"]], cwd)
    rows.append(("liftoff, %d runs of a script that returns at once, --procs-no 4 (s)" % runs,
                 "%.2f" % seconds, "liftoff 65.6", "<= 10 s"))


def main():
    global PYZ
    if sys.argv[1:2] == ["memory"] and len(sys.argv) == 3:
        # the archive to measure: `python3 bench/run.py memory PYZ`
        PYZ = os.path.abspath(sys.argv[2])
    if not os.path.exists(PYZ):
        sys.exit("build the archive first: make")
    print("python: %s %s" % (PY, sys.version.split()[0]), flush=True)
    rows = []
    if sys.argv[1:] == ["startup"]:
        # only the start-up rows: `python3 bench/run.py startup`
        startup(rows)
        startup_every_python(rows)
        print_table(rows)
        return
    if sys.argv[1:2] == ["memory"]:
        peak_memory(rows)
        print_table(rows)
        return
    drain(rows)
    small, large = claim_cost(1000), claim_cost(100000)
    rows.append(("one claim, 1,000 entries (ms)", "%.3f" % (small * 1e3), "", ""))
    rows.append(("one claim, 100,000 entries (ms)", "%.3f" % (large * 1e3),
                 "ratio %.2f" % (large / small), "ratio <= 1.5"))
    startup(rows)
    startup_every_python(rows)
    peak_memory(rows)
    import collect
    import nfs
    import prepare
    import report
    import report_metrics
    import scale
    import workers

    prepare.measure(rows)
    collect.measure(rows)
    report.measure(rows)
    report_metrics.measure(rows)
    liftoff_status(rows)
    liftoff_launch(rows)
    scale.measure(rows)
    workers.measure(rows)
    nfs.measure(rows)
    print_table(rows)


if __name__ == "__main__":
    main()
