"""liftoff on the queue, tried for real: experiments prepared from config
grids and launched by `cooperate launch` (the `liftoff` program), from the
checkout and from the zipapp; two launchers as two machines (separate UTS
and PID namespaces when `unshare` works here); abort from outside; GPU
slots; time budgets; filters; .STOP; the single-yaml in-process mode; bad
input; hold/release; procs; status over several experiments.

Experiments are made by `cooperate prepare CONFIG_DIR --do` when that
command exists, else by cooperate.grid.load_config_dir +
cooperate.experiment.create in a child Python (the same code prepare runs).

Runs are liftoff-style scripts (`from liftoff import parse_opts`) written
into each test's folder; the ones that must stay running wait for a file the
test creates, bounded by a deadline of their own. Nothing here sleeps to
order events: the tests wait on conditions with deadlines (util.wait_for),
and stop everything they started in `finally`.
"""

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
import yaml

import util
from util import TOP, status, wait_for

EXAMPLE = os.path.join(TOP, "examples", "liftoff")
LIB_PATH = os.pathsep.join([os.path.join(TOP, "lib"), os.path.join(TOP, "build", "vendor")])
LAUNCH_TIMEOUT = 120  # seconds any one launcher may take in these tests


# ---------------------------------------------------------------- helpers


def clean_env(**extra):
    """The environment for the commands: no PYTHONPATH from outside (the
    toolkit must give runs their own), plus `extra`."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def has_prepare(prefix):
    """Does this toolkit (argv prefix that runs it) have `prepare` yet?"""
    result = subprocess.run(list(prefix) + ["prepare", "--help"], capture_output=True,
                            text=True, timeout=60, env=clean_env())
    return result.returncode == 0


CREATE = ("import sys\n"
          "from cooperate.grid import experiment, config as grid\n"
          "print(experiment.create(grid.load_config_dir(sys.argv[1]), sys.argv[2],"
          " name=sys.argv[3] or None, runs_no=int(sys.argv[4]), script=sys.argv[5] or None))\n")


def prepare(cwd, config_dir="configs", runs_no=1, name=None, results="results", prefix=None,
            script=None):
    """Make an experiment of config_dir under cwd/results; its absolute path.
    With `cooperate prepare ... --do` (run by `prefix`, default the checkout)
    when it exists, else with the library calls it makes. `script`: record
    it in the experiment (else the first launcher does)."""
    prefix = list(prefix or util.command())
    results_dir = os.path.join(str(cwd), results)
    before = set(os.listdir(results_dir)) if os.path.isdir(results_dir) else set()
    if has_prepare(prefix):
        argv = prefix + ["prepare", config_dir, "--do", "--runs-no", str(runs_no),
                         "--results-path", results] + (["--name", name] if name else [])
        argv += ["--script", str(script)] if script else []
        env = clean_env()
    else:
        argv = [sys.executable, "-c", CREATE, config_dir, results, name or "", str(runs_no),
                str(script or "")]
        env = clean_env(PYTHONPATH=LIB_PATH)
    result = subprocess.run(argv, cwd=str(cwd), capture_output=True, text=True, timeout=120,
                            env=env)
    assert result.returncode == 0, result.stderr
    new = [n for n in set(os.listdir(results_dir)) - before if not n.startswith(".")]
    assert len(new) == 1, new
    return os.path.join(results_dir, new[0])


def write_grid(folder, default, grid):
    """configs/default.yaml and configs/config.yaml (JSON is YAML)."""
    os.makedirs(str(folder), exist_ok=True)
    with open(os.path.join(str(folder), "default.yaml"), "w") as f:
        f.write(json.dumps(default) + "\n")
    with open(os.path.join(str(folder), "config.yaml"), "w") as f:
        f.write(json.dumps(grid) + "\n")


def write_script(path, body, **values):
    """A liftoff-style script: opts from parse_opts(), then `body`, with
    `values` (paths) given as Python literals."""
    head = "".join("%s = %r\n" % (k.upper(), str(v)) for k, v in sorted(values.items()))
    text = ("import fcntl, json, os, sys, time\n"
            "from liftoff import parse_opts\n"
            "opts = parse_opts()\n" + head + textwrap.dedent(body))
    with open(str(path), "w") as f:
        f.write(text)
    return str(path)


# appends one line (its run folder and host) to LOG in one write
APPEND_BODY = """
fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, ("%s %s\\n" % (opts.out_dir, os.uname().nodename)).encode())
os.close(fd)
"""

# stays running until GO exists (at most 120 s, then fails with 3)
WAIT_BODY = """
deadline = time.monotonic() + 120
while not os.path.exists(GO) and time.monotonic() < deadline:
    time.sleep(0.02)
sys.exit(0 if os.path.exists(GO) else 3)
"""


def lines(path):
    try:
        with open(str(path)) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


_UNSHARE = []


def unshare_works():
    """Can this machine run a process in its own UTS + PID namespaces?
    (COOPERATE_TEST_NO_UNSHARE=1 tries the plain-process fallback.)"""
    if not _UNSHARE:
        ok = False
        if shutil.which("unshare") and not os.environ.get("COOPERATE_TEST_NO_UNSHARE"):
            try:
                result = subprocess.run(
                    ["unshare", "--uts", "--pid", "--fork", "--mount-proc", "sh", "-c",
                     'hostname probe-host && hostname && echo "$$"'],
                    capture_output=True, text=True, timeout=30)
                ok = result.returncode == 0 and result.stdout.split() == ["probe-host", "1"]
            except (OSError, subprocess.SubprocessError):
                ok = False
        _UNSHARE.append(ok)
    return _UNSHARE[0]


class Launchers:
    """Launchers started by a test, each in its own process group, output in
    files; `stop()` ends whatever is left of them (and, through their
    namespace or their TERM handling, their runs)."""

    def __init__(self, folder):
        self.folder = str(folder)
        self.procs = []
        self.logs = []
        self.namespaced = []

    def start(self, argv, cwd, env=None, host=None):
        """Start argv (a launcher); with `host`, as a separate machine: its
        own UTS and PID namespaces, named `host`."""
        n = len(self.procs)
        out = open(os.path.join(self.folder, "launcher%d.out" % n), "w")
        err = open(os.path.join(self.folder, "launcher%d.err" % n), "w")
        if host is not None:
            argv = ["unshare", "--uts", "--pid", "--fork", "--mount-proc", "sh", "-c",
                    'hostname "$0" && exec "$@"', host] + list(argv)
        try:
            proc = subprocess.Popen(argv, cwd=str(cwd), env=env or clean_env(),
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)
        finally:
            out.close()
            err.close()
        self.procs.append(proc)
        self.logs.append((out.name, err.name))
        self.namespaced.append(host is not None)
        return proc

    def output(self, proc):
        out, err = self.logs[self.procs.index(proc)]
        with open(out) as f, open(err) as g:
            return f.read(), g.read()

    def stop(self):
        for proc, namespaced in zip(self.procs, self.namespaced):
            if proc.poll() is None:
                # a namespace dies with its first process: KILL takes all of
                # it; a plain launcher stops its runs' groups on TERM
                try:
                    os.killpg(proc.pid, signal.SIGKILL if namespaced else signal.SIGTERM)
                except OSError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                proc.wait(timeout=20)


@pytest.fixture
def launchers(tmp_path):
    group = Launchers(tmp_path)
    try:
        yield group
    finally:
        group.stop()


def launch_argv(*args, prefix=None):
    return list(prefix or util.command()) + ["launch"] + [str(a) for a in args]


def wait_exit(proc, timeout=LAUNCH_TIMEOUT):
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("launcher %d did not exit within %d s" % (proc.pid, timeout))


def one_line_error(result):
    """Exit 2, one line on stderr, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr


def run_folders(exp):
    """The run folders (VARIATION/RUN) of an experiment, from its queue."""
    with open(os.path.join(exp, ".cooperate", "queue.json")) as f:
        return [e["run"] for e in json.load(f)]


def counts(exp):
    return status(exp)["counts"]


# ---------------------------------------------------------------- 1. the archive


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A fresh zipapp of these sources, built as `make` builds
    dist/cooperate.pyz (dist/ may be older than lib/)."""
    path = str(tmp_path_factory.mktemp("archive") / "cooperate.pyz")
    result = subprocess.run([sys.executable, os.path.join(TOP, "build.py"), "-o", path],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return path


def test_end_to_end_through_the_archive(tmp_path, archive, launchers):
    work = tmp_path / "work"
    shutil.copytree(EXAMPLE, str(work), ignore=shutil.ignore_patterns("__pycache__", "results"))
    pyz = [sys.executable, "-I", "-S", archive]
    exp = prepare(work, "configs", runs_no=2, prefix=pyz)
    name = os.path.basename(exp)
    proc = launchers.start(launch_argv("smart_example.py", "results/" + name, "--procs-no", "2",
                                       "--poll", "0.1", prefix=pyz), cwd=work)
    code = wait_exit(proc)
    out, err = launchers.output(proc)
    assert code == 0, err

    report = json.loads(subprocess.run(pyz + ["status", "results/" + name, "--json"],
                                       cwd=str(work), capture_output=True, text=True,
                                       timeout=60, env=clean_env()).stdout)
    runs = run_folders(exp)
    assert len(runs) == 24  # 12 variations (16 minus the 4 the constraint removes) x 2 runs
    assert report["total"] == 24
    assert report["counts"]["done"] == 24, report
    assert report["progress"] == 1.0
    for run in runs:
        folder = os.path.join(exp, run)
        # a link to the log, or an empty file for a log the run left empty
        # (its log is gone: a run that prints nothing leaves no file)
        for link in ("out", "err"):
            path = os.path.join(folder, link)
            assert os.path.isfile(path), (run, link)
            assert os.path.islink(path) or not os.path.getsize(path), (run, link)
        assert os.path.islink(os.path.join(folder, "out")), run
        with open(os.path.join(folder, "results.json")) as f:
            metrics = json.load(f)
        with open(os.path.join(folder, "cfg.yaml")) as f:
            cfg = yaml.safe_load(f)
        variation, run_id = run.rsplit("/", 1)
        assert cfg["out_dir"] == folder
        assert cfg["run_id"] == int(run_id) == metrics["run_id"]
        assert cfg["cfg_id"] == int(variation.split("_")[0])
        assert cfg["title"] and cfg["title"] == metrics["title"]
        assert cfg["full_title"] == "%s_%s" % (os.path.basename(exp), cfg["title"])
        for mark in (".__leaf", ".__start", ".__end"):
            assert os.path.isfile(os.path.join(folder, mark)), (run, mark)
        assert not os.path.exists(os.path.join(folder, ".__lock"))
        assert metrics["sum"] == cfg["x"] + cfg["yz"]["y"] + cfg["yz"]["z"]
        # the script printed into the run's own out log, not the launcher's
        with open(os.path.join(folder, "out")) as f:
            assert "= %s" % metrics["sum"] in f.read()


# ---------------------------------------------------------------- 2. two machines


def two_machines():
    """Hosts for two launchers: separate namespaces when possible, else two
    plain processes on this machine (the queue's promises are the same)."""
    if unshare_works():
        return ["hostA", "hostB"]
    return [None, None]


def test_two_launchers_on_one_experiment_run_each_run_once(tmp_path, launchers):
    total = 40
    write_grid(tmp_path / "configs", {"i": 0}, {"i": list(range(total))})
    log = tmp_path / "executed.txt"
    script = write_script(tmp_path / "append.py", APPEND_BODY + "time.sleep(0.1)\n", log=log)
    # the script is recorded at prepare: two launchers recording it at once is
    # test_two_machines_with_the_same_pid_record_the_script_at_once
    exp = prepare(tmp_path, "configs", script=script)
    hosts = two_machines()
    argv = launch_argv("append.py", exp, "--procs-no", "2", "--poll", "0.1", "--grace", "1")
    procs = [launchers.start(argv, cwd=tmp_path, host=h) for h in hosts]

    # while they run, every status adds up and `done` never goes back
    seen = {"done": 0, "looks": 0}

    def check():
        finished = all(p.poll() is not None for p in procs)
        report = status(exp)
        assert report["total"] == total
        assert sum(report["counts"].values()) == total, report["counts"]
        assert report["counts"]["done"] >= seen["done"], (report["counts"], seen)
        seen["done"] = report["counts"]["done"]
        seen["looks"] += 1
        return finished

    wait_for(check, timeout=LAUNCH_TIMEOUT, what="both launchers to exit")
    assert seen["looks"] > 1
    codes = [wait_exit(p) for p in procs]
    assert codes == [0, 0], [launchers.output(p)[1] for p in procs]

    executed = collections.Counter(line.split()[0] for line in lines(log))
    assert set(executed.values()) == {1}, [run for run, n in executed.items() if n > 1]
    assert sorted(executed) == sorted(os.path.join(exp, r) for r in run_folders(exp))
    report = status(exp)
    assert report["counts"]["done"] == total
    # each launcher joined as its own worker (on its own host when namespaced)
    workers = [r[2] for r in util.journal(os.path.join(exp, ".cooperate", "queue.json.cooperate"))
               if r[0] == "w"]
    assert len(workers) == 2
    if hosts[0] is not None:
        assert sorted(w["host"] for w in workers) == hosts
        assert {line.split()[1] for line in lines(log)} <= set(hosts)


def test_abort_from_outside_stops_runs_on_both_launchers(tmp_path, launchers):
    total = 8
    write_grid(tmp_path / "configs", {"i": 0}, {"i": list(range(total))})
    go = tmp_path / "go"
    script = write_script(tmp_path / "wait.py", WAIT_BODY, go=go)
    exp = prepare(tmp_path, "configs", script=script)
    hosts = two_machines()
    argv = launch_argv("wait.py", exp, "--procs-no", "2", "--poll", "0.2", "--grace", "2")
    procs = [launchers.start(argv, cwd=tmp_path, host=h) for h in hosts]
    try:
        # both launchers hold two runs each
        report = wait_for(lambda: (lambda r: r if r["counts"]["running"] == 4 else None)(
            status(exp)), timeout=60, what="4 runs running")
        holders = {r["worker"] for r in report["running"]}
        assert len(holders) == 2
        assert all(p.poll() is None for p in procs)

        result = util.run("abort", "-y", exp)
        assert result.returncode == 0, result.stderr
        assert "4 not started: aborted" in result.stdout
        assert "4 running" in result.stdout
        if hosts[0] is not None:
            assert "4 running on hostA, hostB" in result.stdout, result.stdout

        # the launchers carry out the abort by themselves and leave
        codes = [wait_exit(p, timeout=60) for p in procs]
        assert codes == [0, 0], [launchers.output(p)[1] for p in procs]
    finally:
        go.write_text("")  # whatever still waits may end
    report = status(exp)
    assert report["counts"]["aborted"] == total, report["counts"]
    assert report["counts"]["failed"] == 0

    # the running ones were recorded as aborted by the workers that held them,
    # one on each launcher
    records = util.journal(os.path.join(exp, ".cooperate", "queue.json.cooperate"))
    ended_by = {r[3] for r in records if r[0] == "e" and r[5] == "aborted"}
    assert ended_by == holders
    if hosts[0] is not None:
        workers = {r[1]: r[2]["host"] for r in records if r[0] == "w"}
        assert sorted(workers[w] for w in ended_by) == hosts
        # no abort was delivered to them as a signal: they are on other hosts
        for p in procs:
            assert "stopped by signal" not in launchers.output(p)[1]

    result = util.run("retry", exp, "--aborted")
    assert result.returncode == 0, result.stderr
    report = status(exp)
    assert report["counts"]["pending"] == total, report["counts"]


def strace_delays_fsync():
    """Can strace hold a process (through unshare) in a delayed fsync here?"""
    if not shutil.which("strace") or not unshare_works():
        return False
    try:
        result = subprocess.run(
            ["strace", "-f", "-qq", "-o", os.devnull, "-e", "trace=fsync",
             "-e", "inject=fsync:delay_enter=1000:when=1", "true"],
            capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


FSYNC_DELAY = 8  # seconds machine A is held inside its write of experiment.json


def test_two_machines_with_the_same_pid_record_the_script_at_once(tmp_path, launchers):
    """Two launchers on two machines that happen to have the same pid (pid 1:
    containers, PID namespaces) start on an experiment with no script
    recorded: both record it in experiment.json at once. Machine A is held
    inside that write by a slow disk (strace delays its first fsync, after
    it wrote its temporary file); machine B writes meanwhile. Both must
    start: a temporary file named by pid alone is shared by the two."""
    if not strace_delays_fsync():
        pytest.skip("needs unshare (UTS + PID namespaces) and strace fault injection")
    write_grid(tmp_path / "configs", {"i": 0}, {"i": [0, 1]})
    log = tmp_path / "executed.txt"
    write_script(tmp_path / "append.py", APPEND_BODY, log=log)
    exp = prepare(tmp_path, "configs")  # no script recorded
    argv = launch_argv("append.py", exp, "--poll", "0.1")
    slow = launchers.start(
        ["strace", "-f", "-qq", "-o", os.devnull, "-e", "trace=fsync",
         "-e", "inject=fsync:delay_enter=%d:when=1" % (FSYNC_DELAY * 1000000),
         "unshare", "--uts", "--pid", "--fork", "--mount-proc", "sh", "-c",
         'hostname "$0" && exec "$@"', "hostA"] + argv, cwd=tmp_path)
    # A wrote its temporary file and waits in fsync
    wait_for(lambda: [n for n in os.listdir(os.path.join(exp, ".cooperate"))
                      if n.startswith(".experiment.json.")]
             or slow.poll() is not None, timeout=60, what="machine A writing experiment.json")
    fast = launchers.start(argv, cwd=tmp_path, host="hostB")
    assert wait_exit(fast) == 0, launchers.output(fast)[1]
    if slow.poll() is not None:
        pytest.skip("machine A finished before B wrote: this machine is too loaded to interleave")
    code = wait_exit(slow, timeout=FSYNC_DELAY + LAUNCH_TIMEOUT)
    assert code == 0, launchers.output(slow)[1]
    with open(os.path.join(exp, ".cooperate", "experiment.json")) as f:
        assert json.load(f)["script"] == str(tmp_path / "append.py")
    assert counts(exp)["done"] == 2
    assert sorted(collections.Counter(lines(log)).values()) == [1, 1]


# ---------------------------------------------------------------- 3. GPU slots


GPU_BODY = """
gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "none")
def change(delta):
    with open(COUNTER, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        data = json.loads(f.read() or "{}")
        now = data.setdefault("now", {}); peak = data.setdefault("peak", {})
        now[gpu] = now.get(gpu, 0) + delta
        peak[gpu] = max(peak.get(gpu, 0), now[gpu])
        data.setdefault("seen", []).append(gpu) if delta > 0 else None
        f.seek(0); f.truncate(); f.write(json.dumps(data))
change(1)
time.sleep(0.2)  # the run's work: runs must overlap to test the limit
change(-1)
"""


def test_gpu_slots(tmp_path, launchers):
    total = 16
    write_grid(tmp_path / "configs", {"i": 0}, {"i": list(range(total))})
    counter = tmp_path / "gpus.json"
    write_script(tmp_path / "gpu.py", GPU_BODY, counter=counter)
    exp = prepare(tmp_path, "configs")
    runtime = tmp_path / "runtime"
    env = clean_env(XDG_RUNTIME_DIR=runtime)
    proc = launchers.start(launch_argv("gpu.py", exp, "--gpus", "0,1", "--per-gpu", "2",
                                       "--procs-no", "8", "--poll", "0.1"),
                           cwd=tmp_path, env=env)
    assert wait_exit(proc) == 0, launchers.output(proc)[1]
    data = json.loads(counter.read_text())
    assert len(data["seen"]) == total
    assert set(data["seen"]) == {"0", "1"}  # both GPUs, and every run had one
    assert data["now"] == {"0": 0, "1": 0}
    assert max(data["peak"].values()) <= 2, data["peak"]
    assert counts(exp)["done"] == total
    # the slot lock files stayed in the test's folder
    assert any(name.startswith("gpu") for _, _, files in os.walk(str(runtime)) for name in files)


# ---------------------------------------------------------------- 4. --end-by


ENDBY_BODY = """
fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, ("%s\\n" % os.environ.get("ENDBY", "missing")).encode())
os.close(fd)
time.sleep(0.5)
"""


def test_end_by_budget(tmp_path, launchers):
    total = 20
    write_grid(tmp_path / "configs", {"i": 0}, {"i": list(range(total))})
    log = tmp_path / "endby.txt"
    write_script(tmp_path / "endby.py", ENDBY_BODY, log=log)
    exp = prepare(tmp_path, "configs")
    proc = launchers.start(launch_argv("endby.py", exp, "--end-by", "3", "--procs-no", "1",
                                       "--poll", "0.1"), cwd=tmp_path)
    # it exits by itself once the budget is spent and its run ended
    assert wait_exit(proc, timeout=60) == 0, launchers.output(proc)[1]
    got = lines(log)
    # 20 runs of >= 0.5 s one at a time cannot all start within 3 s
    assert 1 <= len(got) < total, got
    values = [int(v) for v in got]
    assert all(0 <= v <= 3 for v in values), values
    assert values == sorted(values, reverse=True), values
    c = counts(exp)
    assert c["done"] == len(got)
    assert c["pending"] == total - len(got)
    assert c["running"] == 0


# ---------------------------------------------------------------- 5. --filters


FILTER_BODY = """
fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, (json.dumps([opts.x, opts.opt.name]) + "\\n").encode())
os.close(fd)
"""


def test_filters(tmp_path, launchers):
    # x: the int 1, the string "1", the int 2; opt.name: a or b -> 6 runs
    write_grid(tmp_path / "configs", {"x": 0, "opt": {"name": "a"}},
               {"x": [1, "1", 2], "opt": {"name": ["a", "b"]}})
    log = tmp_path / "ran.txt"
    write_script(tmp_path / "filt.py", FILTER_BODY, log=log)
    exp = prepare(tmp_path, "configs")
    assert len(run_folders(exp)) == 6

    def launch(*filters):
        result = subprocess.run(launch_argv("filt.py", exp, "--poll", "0.1", "--filters",
                                            *filters),
                                cwd=str(tmp_path), capture_output=True, text=True,
                                timeout=LAUNCH_TIMEOUT, env=clean_env())
        assert result.returncode == 0, result.stderr
        return [tuple(json.loads(line)) for line in lines(log)]

    # the string "1" alone, quoted as in YAML, and two filters together
    assert launch("x='1'", "opt.name=a") == [("1", "a")]
    # x=1, as liftoff reads it: the int 1, and the string "1" (liftoff
    # compared a string value with the text as typed)
    ran = launch("x=1")
    assert sorted(ran[1:], key=repr) == [("1", "b"), (1, "a"), (1, "b")]
    # a string filter on a nested key
    ran = launch("opt.name=b")
    assert ran[4:] == [(2, "b")]
    c = counts(exp)
    assert (c["done"], c["pending"]) == (5, 1)


# ---------------------------------------------------------------- 6. .STOP


def test_stop_file_stops_launching(tmp_path, launchers):
    total = 10
    write_grid(tmp_path / "configs", {"i": 0}, {"i": list(range(total))})
    go = tmp_path / "go"
    write_script(tmp_path / "wait.py", WAIT_BODY, go=go)
    exp = prepare(tmp_path, "configs")
    proc = launchers.start(launch_argv("wait.py", exp, "--procs-no", "2", "--poll", "0.1"),
                           cwd=tmp_path)
    try:
        wait_for(lambda: counts(exp)["running"] == 2, timeout=60, what="2 runs running")
        with open(os.path.join(exp, ".STOP"), "w"):
            pass
        go.write_text("")  # now the current runs may end
        assert wait_exit(proc, timeout=60) == 0, launchers.output(proc)[1]
    finally:
        go.write_text("")
    c = counts(exp)
    assert (c["done"], c["pending"], c["running"]) == (2, total - 2, 0), c


# ---------------------------------------------------------------- 7. single yaml


def test_single_yaml_runs_in_process(tmp_path):
    work = tmp_path / "work"
    shutil.copytree(EXAMPLE, str(work), ignore=shutil.ignore_patterns("__pycache__", "results"))
    result = subprocess.run(launch_argv("smart_example.py", "configs/default.yaml"),
                            cwd=str(work), capture_output=True, text=True, timeout=LAUNCH_TIMEOUT,
                            env=clean_env())
    assert result.returncode == 0, result.stderr
    # run(opts) ran here: its print is on the launcher's own output
    assert "[0] 1 + 2 + 3 = 6" in result.stdout + result.stderr
    (exp,) = [os.path.join(str(work), "results", n) for n in os.listdir(str(work / "results"))]
    (run,) = run_folders(exp)
    with open(os.path.join(exp, run, "results.json")) as f:
        assert json.load(f)["sum"] == 6
    report = status(exp)
    assert report["total"] == 1 and report["counts"]["done"] == 1, report

    # -c diff: configs/diff.yaml over configs/default.yaml, from the folder
    result = subprocess.run(launch_argv("smart_example.py", "-c", "diff"),
                            cwd=str(work), capture_output=True, text=True, timeout=LAUNCH_TIMEOUT,
                            env=clean_env())
    assert result.returncode == 0, result.stderr
    assert "[0] 5 + 2 + 7 = 14" in result.stdout + result.stderr
    (exp2,) = [os.path.join(str(work), "results", n) for n in os.listdir(str(work / "results"))
               if os.path.join(str(work), "results", n) != exp]
    assert "diff" in os.path.basename(exp2)
    (run2,) = run_folders(exp2)
    with open(os.path.join(exp2, run2, "cfg.yaml")) as f:
        cfg = yaml.safe_load(f)
    assert (cfg["x"], cfg["yz"]["z"], cfg["optim_"]["lr"], cfg["optim_"]["name"]) == (
        5, 7, 0.05, "sgd")
    with open(os.path.join(exp2, run2, "results.json")) as f:
        assert json.load(f)["sum"] == 14
    assert status(exp2)["counts"]["done"] == 1


# a module whose run(opts) reports loss = q + 1/step (q by run_id: odd runs
# through liftoff's report, even ones through cooperate's) and notes every
# step it made in opts.log; at a rung it waits for its worker's decision to
# be in the journal, so that a pruned run is stopped right there
ASHA_MODULE = """\
import json, os, sys, time
from liftoff import report as liftoff_report
from cooperate import report as cooperate_report

QUALITIES, STEPS, RUNGS = {qualities!r}, {steps!r}, {rungs!r}


def decided(journal, me, step):
    key = "asha:min:loss:%d" % step
    with open(journal) as f:
        for line in f:
            if line.startswith('["s"') and line.endswith("\\n"):
                record = json.loads(line)
                if record[1] == me and record[5] == key:
                    return True
    return False


def run(opts):
    me = os.environ["COOPERATE_ENTRY"]
    state = os.path.dirname(os.path.dirname(os.path.dirname(os.environ["COOPERATE_METRICS"])))
    report = liftoff_report if opts.run_id % 2 else cooperate_report
    q = QUALITIES[opts.run_id]
    for step in range(1, STEPS + 1):
        report(step=step, loss=q + 1.0 / step)
        with open(opts.log, "a") as f:
            f.write("%d %d %s\\n" % (opts.run_id, step, sys.argv[0]))
        if step in RUNGS:
            deadline = time.monotonic() + 120
            while not decided(os.path.join(state, "journal"), me, step):
                if time.monotonic() > deadline:
                    sys.exit(3)
                time.sleep(0.01)
"""


def module_package(folder):
    """An empty package `pkg` in folder."""
    os.makedirs(os.path.join(str(folder), "pkg"))
    with open(os.path.join(str(folder), "pkg", "__init__.py"), "w"):
        pass


def test_a_module_path_with_early_stopping_runs_as_processes_that_are_pruned(tmp_path):
    from test_asha import QUALITIES, RUNGS, STEPS, expected_sequential

    module_package(tmp_path)
    (tmp_path / "pkg" / "train.py").write_text(ASHA_MODULE.format(
        qualities=QUALITIES, steps=STEPS, rungs=RUNGS))
    log = tmp_path / "steps.txt"
    (tmp_path / "base.yaml").write_text("log: %s\n" % json.dumps(str(log)))
    result = subprocess.run(launch_argv(
        "pkg.train.py", "base.yaml", "--runs-no", len(QUALITIES), "--early-stop", "asha",
        "--metric", "loss", "--mode", "min", "--min-step", "1", "--eta", "3", "--poll", "0.1"),
        cwd=str(tmp_path), capture_output=True, text=True, timeout=300, env=clean_env())
    assert result.returncode == 0, result.stderr
    (exp,) = [line.split(": ", 1)[1] for line in result.stderr.splitlines()
              if line.startswith("experiment: ")]
    # the steps each run made, from what it wrote: as a process of its own,
    # which saw the module's name as its argv[0]
    made = {}
    for line in lines(log):
        run_id, step, argv0 = line.split()
        assert argv0 == "pkg.train"
        made[int(run_id)] = max(made.get(int(run_id), 0), int(step))
    # the decisions, from the journal: one per run and rung
    state = os.path.join(exp, ".cooperate", "queue.json.cooperate")
    scores = [r for r in util.journal(state) if r[0] == "s"]
    assert len({(r[1], r[5]) for r in scores}) == len(scores)
    queue = read_queue(exp)
    run_of = {entry_id: int(entry["run"].split("/")[1])
              for entry_id, entry in zip(queue.list.ids, queue.list.entries())}
    pruned_at = {run_of[r[1]]: r[6]["rung"] for r in scores if not r[6]["keep"]}
    # one launcher, one run at a time, in order: what successive halving
    # prunes; a pruned run really stopped at its rung, the others ran on
    assert pruned_at == expected_sequential()
    for run_id in range(len(QUALITIES)):
        assert made[run_id] == pruned_at.get(run_id, STEPS), (run_id, made, pruned_at)
    assert sorted(queue.state.last(i).outcome for i in queue.list.ids) == sorted(
        ["pruned"] * len(pruned_at) + ["done"] * (len(QUALITIES) - len(pruned_at)))
    c = counts(exp)
    assert (c["done"], c["failed"]) == (len(QUALITIES), 0), c
    # liftoff's marks: a pruned run ended well, as a done one did
    for entry in queue.list.entries():
        folder = os.path.join(exp, entry["run"])
        assert sorted(n for n in os.listdir(folder) if n.startswith(".__")) == [
            ".__end", ".__leaf", ".__start"], folder


def read_queue(exp):
    """An experiment's queue, read by the toolkit's own code."""
    lib = os.path.join(TOP, "lib")
    if lib not in sys.path:
        sys.path.insert(0, lib)
    from cooperate.queue.core import Queue

    queue = Queue(os.path.join(exp, ".cooperate", "queue.json"), reader=True)
    queue.read()
    return queue


# calls `slow`: notes its pid and GPU in opts.log, then waits for a file
# that never comes (at most 120 s) and notes that it finished
SLOW_MODULE = """\
import os, sys, time


def slow(opts):
    with open(opts.log, "a") as f:
        f.write("started %d %s\\n" % (os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")))
    print("slow started")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not os.path.exists(opts.log + ".go"):
        time.sleep(0.05)
    with open(opts.log, "a") as f:
        f.write("finished\\n")
"""


def test_a_module_path_with_a_timeout_and_gpus_runs_as_a_process_that_is_stopped(tmp_path):
    module_package(tmp_path)
    (tmp_path / "pkg" / "work.py").write_text(SLOW_MODULE)
    log = tmp_path / "slow.txt"
    (tmp_path / "base.yaml").write_text("log: %s\n" % json.dumps(str(log)))
    result = subprocess.run(launch_argv("pkg.work.slow", "base.yaml", "--timeout", "2",
                                        "--gpus", "3", "--grace", "300", "--poll", "0.1"),
                            cwd=str(tmp_path), capture_output=True, text=True,
                            timeout=LAUNCH_TIMEOUT, env=clean_env())
    assert result.returncode == 1, result.stderr
    assert "reached its time limit of 2 s" in result.stderr
    # it started, on the GPU it was given, and never finished: stopped
    (started,) = lines(log)
    word, pid, gpu = started.split()
    assert (word, gpu) == ("started", "3")
    wait_for(lambda: not alive(int(pid)), timeout=60, what="the stopped run's process")
    (exp,) = [line.split(": ", 1)[1] for line in result.stderr.splitlines()
              if line.startswith("experiment: ")]
    (run,) = run_folders(exp)
    assert os.path.exists(os.path.join(exp, run, ".__crash"))
    # its output went to its log, not to the launcher's terminal
    with open(os.path.join(exp, run, "out")) as f:
        assert f.read() == "slow started\n"
    assert "slow started" not in result.stdout
    queue = read_queue(exp)
    (entry_id,) = queue.list.ids
    assert queue.state.last(entry_id).outcome == "timeout"


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---------------------------------------------------------------- 8. bad input


BAD_LAUNCHES = {
    "no such script": (["nosuch.py", "CONFIG"], "nosuch.py: no such script"),
    "--per-gpu 1,2,3 with --gpus 0,1": (
        ["smart_example.py", "CONFIG", "--gpus", "0,1", "--per-gpu", "1,2,3"], "--per-gpu"),
    "a config folder": (["smart_example.py", "configs"], "prepare it first"),
}


@pytest.mark.parametrize("config", ["yaml", "experiment"])
@pytest.mark.parametrize("case", sorted(BAD_LAUNCHES))
def test_bad_input_to_launch(tmp_path, case, config):
    """Exit 2, one line, no traceback, and nothing written under results/:
    neither a new experiment made from a yaml config, nor a change to a
    prepared one."""
    work = tmp_path / "work"
    shutil.copytree(EXAMPLE, str(work), ignore=shutil.ignore_patterns("__pycache__", "results"))
    results = work / "results"
    if config == "experiment":
        target = prepare(work, "configs")
        before = util.tree_digest(str(results))
    else:
        target = "configs/default.yaml"
        before = None
    args, says = BAD_LAUNCHES[case]
    args = [target if a == "CONFIG" else a for a in args]
    result = subprocess.run(launch_argv(*args), cwd=str(work), capture_output=True, text=True,
                            timeout=60, env=clean_env(XDG_RUNTIME_DIR=tmp_path / "runtime"))
    problems = []
    if result.returncode != 2:
        problems.append("exit status %d, not 2" % result.returncode)
    if "Traceback" in result.stdout + result.stderr:
        problems.append("a traceback")
    if len(result.stderr.splitlines()) != 1:
        problems.append("%d lines on stderr, not 1" % len(result.stderr.splitlines()))
    if says not in result.stderr:
        problems.append("stderr does not say %r" % says)
    if before is None:
        if results.exists() and os.listdir(str(results)):
            problems.append("made under results/: %s" % os.listdir(str(results)))
    elif util.tree_digest(str(results)) != before:
        problems.append("the experiment changed")
    assert not problems, "%s\nstdout: %s\nstderr: %s" % (
        "; ".join(problems), result.stdout, result.stderr)


# ---------------------------------------------------------------- 9. hold / release


@pytest.mark.parametrize("when", ["fresh", "after a first run"])
def test_hold_and_release(tmp_path, when):
    """`hold EXP --all`: a launcher finds nothing to run; `release EXP --all`:
    it runs them. On a freshly prepared experiment (no launcher has made its
    state folder yet: liftoff-lock before the first launch), and on one a
    launcher already worked on."""
    total = 6
    write_grid(tmp_path / "configs", {"i": 0}, {"i": list(range(total))})
    log = tmp_path / "executed.txt"
    write_script(tmp_path / "append.py", APPEND_BODY, log=log)
    exp = prepare(tmp_path, "configs")

    def launch(*extra):
        result = subprocess.run(launch_argv("append.py", exp, "--poll", "0.1", *extra),
                                cwd=str(tmp_path), capture_output=True, text=True,
                                timeout=LAUNCH_TIMEOUT, env=clean_env())
        assert result.returncode == 0, result.stderr

    first = 0
    if when != "fresh":
        launch("--max-runs", "1")
        first = 1
        assert len(lines(log)) == first
    result = util.run("hold", exp, "--all")
    assert result.returncode == 0, result.stderr
    assert "%d entries held" % (total - first) in result.stdout
    launch()
    assert len(lines(log)) == first
    c = counts(exp)
    assert (c["held"], c["done"], c["pending"]) == (total - first, first, 0), c

    result = util.run("release", exp, "--all")
    assert result.returncode == 0, result.stderr
    assert "%d entries released" % (total - first) in result.stdout
    assert counts(exp)["pending"] == total - first
    launch("--procs-no", "2")
    assert len(lines(log)) == total
    assert len(set(lines(log))) == total
    c = counts(exp)
    assert (c["held"], c["done"]) == (0, total), c


# ---------------------------------------------------------------- 10. procs


def test_procs_lists_the_launcher_and_its_runs(tmp_path, launchers):
    total = 4
    write_grid(tmp_path / "configs", {"i": 0}, {"i": list(range(total))})
    go = tmp_path / "go"
    write_script(tmp_path / "wait.py", WAIT_BODY, go=go)
    exp = prepare(tmp_path, "configs")
    proc = launchers.start(launch_argv("wait.py", exp, "--procs-no", "2", "--poll", "0.1"),
                           cwd=tmp_path)
    try:
        report = wait_for(lambda: (lambda r: r if r["counts"]["running"] == 2 else None)(
            status(exp)), timeout=60, what="2 runs running")
        (worker,) = {r["worker"] for r in report["running"]}
        ids = [r["id"] for r in report["running"]]
        for extra in ([], ["-a"], [exp]):
            result = util.run("procs", *extra, cwd=tmp_path)
            assert result.returncode == 0, result.stderr
            assert worker in result.stdout, (extra, result.stdout)
            assert "pid %d" % proc.pid in result.stdout, (extra, result.stdout)
            for id_ in ids:
                assert id_ in result.stdout, (extra, id_, result.stdout)
        go.write_text("")
        assert wait_exit(proc, timeout=60) == 0, launchers.output(proc)[1]
    finally:
        go.write_text("")
    assert counts(exp)["done"] == total
    result = util.run("procs", cwd=tmp_path)
    assert result.returncode == 0
    assert worker not in result.stdout
    assert "no live workers" in result.stdout


# ---------------------------------------------------------------- 11. status over several


def test_status_over_several_experiments(tmp_path):
    write_grid(tmp_path / "configs", {"i": 0}, {"i": [0, 1]})
    log = tmp_path / "executed.txt"
    write_script(tmp_path / "append.py", APPEND_BODY, log=log)
    made = [prepare(tmp_path, "configs", name=n) for n in ("sweepA", "sweepB", "other")]
    names = [os.path.basename(e) for e in made]
    result = subprocess.run(launch_argv("append.py", made[1], "--poll", "0.1"), cwd=str(tmp_path),
                            capture_output=True, text=True, timeout=LAUNCH_TIMEOUT,
                            env=clean_env())
    assert result.returncode == 0, result.stderr

    # -a: a row per experiment, after the header
    result = util.run("status", "-a", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0][:2] == ["experiment", "total"]
    assert sorted(r[0] for r in rows[1:]) == sorted(names)
    by_name = {r[0]: r for r in rows[1:]}
    header = rows[0]
    assert by_name[names[1]][header.index("done")] == "2"
    assert by_name[names[0]][header.index("pending")] == "2"
    reports = json.loads(util.run("status", "-a", "--json", cwd=tmp_path).stdout)
    assert sorted(os.path.basename(r["experiment"]) for r in reports) == sorted(names)

    # a name picks experiments: one of them
    report = status("sweepB", cwd=tmp_path)
    assert os.path.basename(report["experiment"]) == names[1]
    assert report["counts"]["done"] == 2
    result = util.run("status", "sweepB", cwd=tmp_path)
    assert result.returncode == 0
    assert names[1] in result.stdout and names[0] not in result.stdout
    # -a with a name: every match, a row each
    result = util.run("status", "sweep", "-a", cwd=tmp_path)
    rows = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert sorted(rows) == sorted(names[:2])
    # no name, no -a: the latest only
    report = json.loads(util.run("status", "--json", cwd=tmp_path).stdout)
    assert os.path.basename(report["experiment"]) == names[2]
    # a name that matches nothing: one line, exit 2
    one_line_error(util.run("status", "nomatch", cwd=tmp_path))
