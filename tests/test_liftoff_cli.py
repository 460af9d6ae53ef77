"""liftoff 0.3.3's command lines, run for real under liftoff's program
names (bin/liftoff, bin/liftoff-status, ... : symlinks to the multi-call
entry point): every option of `liftoff`, `liftoff-status`, `liftoff-abort`,
`liftoff-clean`, `liftoff-lock`, `liftoff-unlock` and `liftoff-procs` is
accepted, and what it does is checked on the files (liftoff's marks in the
run folders, what the runs wrote), the queue (status --json) and what ran
(scripts that append a line to a file).

The dry runs (liftoff-clean, -lock, -unlock without --do) must change
nothing: a digest of the whole experiment folder, the hidden state
included, is the same after them. Experiments, scripts and launchers are
made with the helpers of test_liftoff_launch. Nothing sleeps to order
events: the tests wait on conditions (util.wait_for), and let whatever
still waits go in `finally`.
"""

import json
import os
import signal
import subprocess
import textwrap

import pytest
import yaml

import util
from test_liftoff_launch import (LAUNCH_TIMEOUT, Launchers, clean_env,
                                 one_line_error, prepare, wait_exit, write_grid, write_script)
from util import TOP, status, wait_for

# ---------------------------------------------------------------- helpers


def argv_of(program, *args):
    """argv that runs the toolkit under a liftoff program name, from the
    checkout (bin/<program> is a symlink to bin/cooperate)."""
    argv = util.command(*args)
    argv[1] = os.path.join(TOP, "bin", program)
    return argv


def call(program, *args, cwd, input="", env=None, timeout=LAUNCH_TIMEOUT):
    """Run it to its end; stdin is not a terminal (`input`)."""
    return subprocess.run(argv_of(program, *args), cwd=str(cwd), input=input,
                          capture_output=True, text=True, timeout=timeout,
                          env=env or clean_env())


def ok(program, *args, **kwargs):
    result = call(program, *args, **kwargs)
    assert result.returncode == 0, (program, args, result.stdout, result.stderr)
    return result


@pytest.fixture
def launchers(tmp_path):
    group = Launchers(tmp_path)
    try:
        yield group
    finally:
        group.stop()


# one JSON line per run, at its start: its folder, config and environment
RECORD_BODY = """
record = {"run": opts.out_dir, "x": getattr(opts, "x", None),
          "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"), "endby": os.environ.get("ENDBY"),
          "optimize": sys.flags.optimize}
fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, (json.dumps(record) + "\\n").encode())
os.close(fd)
print("ran", opts.out_dir)
"""

# writes what --clean-all removes, and fails when x is even
PRODUCT_BODY = RECORD_BODY + """
with open(os.path.join(opts.out_dir, "product.txt"), "w") as f:
    f.write("made")
os.makedirs(os.path.join(opts.out_dir, "ckpt", "deep"))
with open(os.path.join(opts.out_dir, "ckpt", "deep", "model.bin"), "w") as f:
    f.write("weights")
sys.exit(1 if opts.x % 2 == 0 else 0)
"""

# records its start, then stays running until GO exists (at most 120 s)
WAIT_BODY = RECORD_BODY + """
deadline = time.monotonic() + 120
while not os.path.exists(GO) and time.monotonic() < deadline:
    time.sleep(0.02)
sys.exit(0 if os.path.exists(GO) else 3)
"""


def records(path):
    try:
        with open(str(path)) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


def queue_runs(exp):
    """The runs (VARIATION/RUN) of an experiment, from its hidden queue."""
    with open(os.path.join(exp, ".cooperate", "queue.json")) as f:
        return [e["run"] for e in json.load(f)]


def folder(exp, run):
    return os.path.join(exp, *run.split("/"))


def marks(path):
    """liftoff's files in a run folder."""
    return {n for n in os.listdir(path) if n.startswith(".__")}


def counts(exp, cwd=None):
    return status(exp, cwd=cwd)["counts"]


def experiment_with(tmp_path, xs, body, runs_no=1, name=None, **values):
    """An experiment of x in xs, and the script `run.py` (body) for it."""
    write_grid(tmp_path / "configs", {"x": 0}, {"x": list(xs)})
    write_script(tmp_path / "run.py", body, **values)
    return prepare(tmp_path, "configs", runs_no=runs_no, name=name)


def table(stdout):
    """liftoff-status's table: (header cells, {experiment: {column: cell}}),
    below liftoff's first line."""
    hello, *lines = stdout.splitlines()
    assert hello.startswith("Liftoff 0.3.3 @ "), stdout
    rows = [line.split() for line in lines if line.strip()]
    header = rows[0]
    assert set(rows[1][0]) == {"-"}, stdout
    return header, {row[0]: dict(zip(header, row)) for row in rows[2:]}


# ---------------------------------------------------------------- liftoff


def test_liftoff_takes_its_options_anywhere(tmp_path):
    log = tmp_path / "ran.jsonl"
    exp = experiment_with(tmp_path, [1, 2, 3, 4], RECORD_BODY, log=log)
    # options between SCRIPT and CONFIG_PATH, and --no-detach: the run
    # prints on the launcher's terminal
    result = ok("liftoff", "run.py", "--max-runs", "1", "--no-detach", exp, cwd=tmp_path)
    (first,) = records(log)
    assert "ran %s" % first["run"] in result.stdout
    assert counts(exp)["done"] == 1
    # everything before SCRIPT; 0 means "no limit" for --max-runs,
    # --start-by and --end-by (no ENDBY then); --filters with no values
    ok("liftoff", "--procs-no", "2", "--max-runs", "0", "--start-by", "0", "run.py", "--end-by",
       "0", exp, "--poll", "0.1", "--shuffle", "--filters", cwd=tmp_path)
    ran = records(log)
    assert sorted(r["run"] for r in ran) == sorted(folder(exp, run) for run in queue_runs(exp))
    assert {r["endby"] for r in ran} == {None}
    assert counts(exp)["done"] == 4


def test_liftoff_gpus_and_per_gpu_in_both_forms(tmp_path):
    log = tmp_path / "ran.jsonl"
    exp = experiment_with(tmp_path, range(8), RECORD_BODY, log=log)
    env = clean_env(XDG_RUNTIME_DIR=tmp_path / "runtime")
    forms = [
        (["--gpus", "0", "1", "--per-gpu", "1", "1"], {"0", "1"}),  # liftoff's
        (["--gpus", "0,1", "--per-gpu", "2"], {"0", "1"}),  # ours
        (["--gpus", "2", "3", "--per-gpu", "2,1"], {"2", "3"}),
    ]
    seen = 0
    for options, gpus in forms:
        ok("liftoff", "run.py", exp, "--procs-no", "2", "--max-runs", "2", *options, cwd=tmp_path,
           env=env)
        ran = records(log)[seen:]
        seen += len(ran)
        assert len(ran) == 2 and {r["gpu"] for r in ran} <= gpus, (options, ran)
    # --per-gpu without --gpus: ignored, as liftoff ignores it
    result = ok("liftoff", "run.py", exp, "--per-gpu", "2", "--max-runs", "1", cwd=tmp_path,
                env=env)
    assert "--per-gpu without --gpus: ignored" in result.stderr
    assert records(log)[seen]["gpu"] is None
    assert counts(exp)["done"] == 7


def test_liftoff_optimize_verbose_cc_time_limit(tmp_path):
    log = tmp_path / "ran.jsonl"
    exp = experiment_with(tmp_path, [1, 2, 3], RECORD_BODY, log=log)
    # -O: python -OO; --cc: the path on stdout, on a line of its own; -v and --time-limit
    # are accepted
    result = ok("liftoff", "run.py", exp, "-O", "-v", "-vv", "--time-limit", "1", "--cc",
                "--max-runs", "1", cwd=tmp_path)
    # (below liftoff's first line)
    assert result.stdout.splitlines() == ["Liftoff 0.3.3 @ %s" % tmp_path.name, exp]
    assert records(log)[-1]["optimize"] == 2
    ok("liftoff", "run.py", exp, "--max-runs", "1", cwd=tmp_path)
    assert records(log)[-1]["optimize"] == 0
    # --args is for one yaml config: refused here, and nothing changes
    before = util.tree_digest(exp)
    error = one_line_error(call("liftoff", "run.py", exp, "--args", "x=1", cwd=tmp_path))
    assert "--args" in error
    assert util.tree_digest(exp) == before
    # filters on a field the layout adds to cfg.yaml, as liftoff matches them
    (last,) = [r for r in queue_runs(exp) if r.startswith("0002_")]
    ok("liftoff", "run.py", exp, "--filters", "cfg_id=2", "run_id=0", cwd=tmp_path)
    assert records(log)[-1]["run"] == folder(exp, last)
    assert counts(exp)["done"] == 3


def test_liftoff_one_yaml_with_args(tmp_path):
    log = tmp_path / "ran.jsonl"
    write_script(tmp_path / "run.py", RECORD_BODY, log=log)  # no run(opts): run as a process
    with open(str(tmp_path / "base.yaml"), "w") as f:
        f.write("x: 1\nopt:\n  flag: true\n  name: a\nkeep: 3\n")
    result = ok("liftoff", "run.py", "base.yaml", "--args", "opt.flag=False", "x=7",
                "new.deep.key=abc", "opt.name=[1, 2]", "--name", "one", "--results-path", "res",
                "--cc", cwd=tmp_path)
    exp = result.stdout.splitlines()[-1]
    assert os.path.dirname(exp) == str(tmp_path / "res") and exp.endswith("_one"), exp
    (run,) = queue_runs(exp)
    with open(os.path.join(folder(exp, run), "cfg.yaml")) as f:
        cfg = yaml.safe_load(f)
    # values read as YAML: False is false, not bool("False"); new keys nest
    assert cfg["opt"] == {"flag": False, "name": [1, 2]}
    assert (cfg["x"], cfg["keep"], cfg["new"]) == (7, 3, {"deep": {"key": "abc"}})
    assert [r["x"] for r in records(log)] == [7]
    assert counts(exp)["done"] == 1
    # the yaml file itself is left as it was
    with open(str(tmp_path / "base.yaml")) as f:
        assert "flag: true" in f.read()


IN_PROCESS = """\
import json, os

LOG = %r


def record(opts, how):
    with open(os.path.join(opts.out_dir, ".__lock")) as f:
        lock = f.read()
    line = {"how": how, "run": opts.out_dir, "lock": lock, "x": opts.x,
            "marks": sorted(n for n in os.listdir(opts.out_dir) if n.startswith(".__"))}
    with open(LOG, "a") as f:
        f.write(json.dumps(line) + "\\n")


def run(opts):
    record(opts, "run")


def main(opts):
    record(opts, "main")


def boom(opts):
    record(opts, "boom")
    raise ValueError("boom")
"""


def test_liftoff_module_paths_run_in_process_with_liftoffs_marks(tmp_path):
    log = tmp_path / "ran.jsonl"
    os.makedirs(str(tmp_path / "pkg" / "sub"))
    for path in ("pkg/__init__.py", "pkg/sub/__init__.py"):
        (tmp_path / path).write_text("")
    (tmp_path / "pkg" / "sub" / "train.py").write_text(IN_PROCESS % str(log))
    (tmp_path / "train.py").write_text(IN_PROCESS % str(log))
    (tmp_path / "base.yaml").write_text("x: 1\n")

    def experiment_of(result):
        (exp,) = [line.split(": ", 1)[1] for line in result.stderr.splitlines()
                  if line.startswith("experiment: ")]
        (run,) = queue_runs(exp)
        return exp, folder(exp, run)

    # pkg.sub.train.py: module pkg.sub.train, run(opts), in this process
    exp, run_dir = experiment_of(ok("liftoff", "pkg.sub.train.py", "base.yaml", cwd=tmp_path))
    (rec,) = records(log)
    assert (rec["how"], rec["run"], rec["x"]) == ("run", run_dir, 1)
    # while it ran: liftoff's wrapper marks, an empty session in .__lock
    assert rec["lock"] == "" and {".__lock", ".__start"} <= set(rec["marks"])
    assert marks(run_dir) == {".__leaf", ".__start", ".__end"}
    assert counts(exp)["done"] == 1

    # train.main: module train, function main
    exp, run_dir = experiment_of(ok("liftoff", "train.main", "base.yaml", "--args", "x=2",
                                    cwd=tmp_path))
    assert records(log)[-1]["how"] == "main" and records(log)[-1]["x"] == 2

    # a function that raises: .__crash, failed, exit status not 0
    result = call("liftoff", "train.boom", "base.yaml", cwd=tmp_path)
    assert result.returncode != 0 and "ValueError: boom" in result.stderr
    exp, run_dir = experiment_of(result)
    assert marks(run_dir) == {".__leaf", ".__start", ".__crash"}
    assert counts(exp)["failed"] == 1
    # the run's cfg.yaml as CONFIG_PATH: that run again, in its folder
    ok("liftoff", "train.main", os.path.join(run_dir, "cfg.yaml"), cwd=tmp_path)
    assert records(log)[-1]["how"] == "main" and records(log)[-1]["run"] == run_dir
    assert marks(run_dir) == {".__leaf", ".__start", ".__end"}
    report = status(exp)
    assert (report["total"], report["counts"]["done"]) == (1, 1)

    # no such module: one line, nothing made
    results = sorted(os.listdir(str(tmp_path / "results")))
    error = one_line_error(call("liftoff", "nosuch.main", "base.yaml", cwd=tmp_path))
    assert "nosuch" in error
    assert sorted(os.listdir(str(tmp_path / "results"))) == results


# ---------------------------------------------------------------- liftoff-status


def test_liftoff_status_has_liftoffs_columns(tmp_path):
    log = tmp_path / "ran.jsonl"
    first = experiment_with(tmp_path, [1, 2, 3, 4], PRODUCT_BODY, name="first", log=log)
    second = prepare(tmp_path, "configs", name="second")  # the latest
    assert call("liftoff", "run.py", first, "--procs-no", "2", cwd=tmp_path).returncode == 1
    ok("liftoff-lock", second, "--runs", "0", "--filters", "x=1", "--do", cwd=tmp_path)
    names = [os.path.basename(first), os.path.basename(second)]

    result = ok("liftoff-status", "-a", "--timestamp-fmt", "%Y", cwd=tmp_path)
    header, rows = table(result.stdout)
    assert header == ["Experiment", "Total", "Locked", "Done", "Dead", "Progress", "ETL"]
    assert list(rows) == sorted(names)
    assert rows[names[0]] == dict(zip(header, [names[0], "4", "0", "2", "2", "100.000%",
                                               "0:00:00"]))
    # a held run counts as Locked, as its .__lock makes liftoff count it;
    # no run has ended: no time left to tell
    assert rows[names[1]] == dict(zip(header, [names[1], "4", "1", "0", "0", "0.000%", "-"]))
    # one experiment: the latest, a one-row table; or by a part of its name
    assert list(table(ok("liftoff-status", cwd=tmp_path).stdout)[1]) == [names[1]]
    assert list(table(ok("liftoff-status", "first", cwd=tmp_path).stdout)[1]) == [names[0]]
    # the toolkit's own views stay
    details = ok("liftoff-status", "first", "--details", cwd=tmp_path).stdout
    assert "4 entries" in details and "failed:" in details
    reports = json.loads(ok("liftoff-status", "-a", "--json", cwd=tmp_path).stdout)
    assert sorted(os.path.basename(r["experiment"]) for r in reports) == sorted(names)
    assert "failed:" in util.run("status", first, cwd=tmp_path).stdout
    one_line_error(call("liftoff-status", "nomatch", cwd=tmp_path))


# ---------------------------------------------------------------- liftoff-clean


def test_liftoff_clean_dry_runs_then_does(tmp_path):
    log = tmp_path / "ran.jsonl"
    exp = experiment_with(tmp_path, [1, 2, 3, 4], PRODUCT_BODY, log=log)
    assert call("liftoff", "run.py", exp, "--procs-no", "2", cwd=tmp_path).returncode == 1
    runs = {r["x"]: os.path.relpath(r["run"], exp) for r in records(log)}
    assert counts(exp)["failed"] == 2

    before = util.tree_digest(exp)
    result = ok("liftoff-clean", exp, cwd=tmp_path)
    assert "2 .__crash files would be removed" in result.stdout
    assert "2 runs would be made pending again" in result.stdout
    assert "--do" in result.stdout
    result = ok("liftoff-clean", exp, "--clean-all", "-v", "--crashed-only", "--safe",
                "--timestamp-fmt", "%Y", cwd=tmp_path)
    assert "2 product.txt files would be removed" in result.stdout
    assert util.tree_digest(exp) == before

    result = ok("liftoff-clean", exp, "--clean-all", "--do", cwd=tmp_path)
    assert "2 runs made pending again" in result.stdout
    c = counts(exp)
    assert (c["pending"], c["done"], c["failed"]) == (2, 2, 0), c
    for x, run in runs.items():
        path = folder(exp, run)
        names = set(os.listdir(path))
        if x % 2:  # done: left as it was
            assert {".__end", ".__start", "product.txt", "ckpt"} <= names, names
            continue
        # made pending: no marks of the last attempt, nothing it wrote, the
        # config and the links to its logs kept, the change journalled
        assert names == {".__leaf", ".__journal", "cfg.yaml", "out", "err"}, names
        assert os.path.islink(os.path.join(path, "out"))
        with open(os.path.join(path, ".__journal")) as f:
            assert "product.txt" in f.read()

    # they run again, and only they
    assert call("liftoff", "run.py", exp, cwd=tmp_path).returncode == 1
    assert sorted(r["x"] for r in records(log)[4:]) == [2, 4]
    # cooperate-retry acts at once (no --do), and also removes the marks
    assert counts(exp)["failed"] == 2
    result = util.run("retry", exp, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert counts(exp)["pending"] == 2
    for x in (2, 4):
        assert marks(folder(exp, runs[x])) == {".__leaf", ".__journal"}


# ---------------------------------------------------------------- liftoff-lock / -unlock


def test_liftoff_lock_and_unlock(tmp_path):
    log = tmp_path / "ran.jsonl"
    exp = experiment_with(tmp_path, [1, 2, 3], RECORD_BODY, runs_no=2, log=log)
    ones = [r for r in queue_runs(exp) if r.endswith("/1")]
    assert len(ones) == 3

    before = util.tree_digest(exp)
    result = ok("liftoff-lock", exp, "--runs", "1", cwd=tmp_path)
    assert "3 entries would be held" in result.stdout
    assert util.tree_digest(exp) == before

    result = ok("liftoff-lock", exp, "--runs", "1", "--do", "-v", "--timestamp-fmt", "%Y",
                cwd=tmp_path)
    assert "3 entries held" in result.stdout
    for run in ones:
        assert {".__lock", ".__seal", ".__journal"} <= marks(folder(exp, run))
    assert counts(exp)["held"] == 3
    ok("liftoff", "run.py", exp, "--procs-no", "2", cwd=tmp_path)
    assert sorted(r["run"][-2:] for r in records(log)) == ["/0"] * 3

    before = util.tree_digest(exp)
    result = ok("liftoff-unlock", exp, "--runs", "1", cwd=tmp_path)
    assert "3 entries would be released" in result.stdout
    assert util.tree_digest(exp) == before
    # --filters: only the runs whose config matches
    result = ok("liftoff-unlock", exp, "--runs", "0", "1", "--filters", "x=2", "--do",
                cwd=tmp_path)
    assert "1 entry released" in result.stdout
    (two,) = [r for r in ones if "x_2" in r]
    assert ".__lock" not in marks(folder(exp, two)) and ".__seal" not in marks(folder(exp, two))
    assert counts(exp)["held"] == 2
    ok("liftoff", "run.py", exp, cwd=tmp_path)
    assert records(log)[-1]["run"] == folder(exp, two)
    # a filter on a field the layout adds (run_id), without --runs
    result = ok("liftoff-unlock", exp, "--filters", "run_id=1", "--do", cwd=tmp_path)
    assert "2 entries released" in result.stdout
    # runs that started are never locked
    result = ok("liftoff-lock", exp, "--runs", "0", "--do", cwd=tmp_path)
    assert "0 entries held" in result.stdout and "3 left alone" in result.stdout
    ok("liftoff", "run.py", exp, cwd=tmp_path)
    c = counts(exp)
    assert (c["done"], c["held"]) == (6, 0), c


# ---------------------------------------------------------------- liftoff-abort, -procs


@pytest.mark.parametrize("which", ["the process started", "its worker"])
def test_liftoff_abort_by_pid(tmp_path, launchers, which):
    log, go = tmp_path / "ran.jsonl", tmp_path / "go"
    exp = experiment_with(tmp_path, [1, 2, 3, 4], WAIT_BODY, log=log, go=go)
    proc = launchers.start(argv_of("liftoff", "run.py", exp, "--procs-no", "2", "--poll", "0.2"),
                           cwd=tmp_path)
    try:
        wait_for(lambda: counts(exp)["running"] == 2 and len(records(log)) == 2, timeout=60,
                 what="2 runs running")
        pid = proc.pid if which == "the process started" else util.worker_pid(proc.pid)
        running = [r["run"] for r in records(log)]

        # liftoff-procs EXPERIMENT (a part of its name) lists it and its runs
        result = ok("liftoff-procs", "configs", "--do", "--timestamp-fmt",
                    "%Y", cwd=tmp_path)
        assert "pid %d" % proc.pid in result.stdout, result.stdout
        for run in running:
            assert os.path.relpath(run, exp) in result.stdout
        assert "no live workers" in ok("liftoff-procs", "nomatch", cwd=tmp_path).stdout

        # a run on a live worker is never made pending by liftoff-clean
        result = ok("liftoff-clean", exp, "--do", cwd=tmp_path)
        assert "2 runs are running: left alone" in result.stdout
        assert counts(exp)["running"] == 2
        for run in running:
            assert {".__lock", ".__start"} <= marks(run)

        # off a terminal it asks nothing: -y is needed
        error = one_line_error(call("liftoff-abort", pid, cwd=tmp_path, input="y\n"))
        assert "-y" in error
        assert counts(exp)["running"] == 2

        result = ok("liftoff-abort", pid, "-y", "--results-path", "results", cwd=tmp_path)
        assert "2 runs aborted" in result.stdout
        wait_exit(proc, timeout=60)
        c = counts(exp)
        assert (c["aborted"], c["pending"], c["running"]) == (2, 2, 0), c
        for run in running:
            assert ".__crash" in marks(run) and ".__lock" not in marks(run)
        # it started nothing after them, and nothing of its runs is left
        assert [r["run"] for r in records(log)] == running
        wait_for(lambda: not util.leftovers(tmp_path), timeout=30, what="the runs to end")

        # the pid of no launcher: one line
        one_line_error(call("liftoff-abort", "999999999", "-y", cwd=tmp_path))
        # and the toolkit's form: the latest experiment, every run not started
        result = ok("liftoff-abort", "-y", cwd=tmp_path)
        assert "2 not started: aborted" in result.stdout
        assert counts(exp)["aborted"] == 4
    finally:
        go.write_text("")


def test_liftoff_abort_of_a_launcher_that_runs_in_process(tmp_path, launchers):
    log, go = tmp_path / "ran.jsonl", tmp_path / "go"
    (tmp_path / "base.yaml").write_text("x: 1\n")
    (tmp_path / "waits.py").write_text(textwrap.dedent("""\
        import os, time
        def run(opts):
            with open(%r, "a") as f:
                f.write(opts.out_dir + "\\n")
            deadline = time.monotonic() + 120
            while not os.path.exists(%r) and time.monotonic() < deadline:
                time.sleep(0.02)
        """ % (str(log), str(go))))
    proc = launchers.start(argv_of("liftoff", "waits.py", "base.yaml"), cwd=tmp_path)
    try:
        run_dir = wait_for(lambda: log.exists() and log.read_text().strip(), timeout=60,
                           what="the run to start")
        exp = os.path.dirname(os.path.dirname(run_dir))
        assert counts(exp)["running"] == 1
        ok("liftoff-abort", proc.pid, "-y", cwd=tmp_path)
        wait_exit(proc, timeout=60)
        assert counts(exp)["aborted"] == 1
        assert marks(run_dir) == {".__leaf", ".__start", ".__crash"}
    finally:
        go.write_text("")


def test_stale_runs_show_as_lost_and_liftoff_clean_requeues_them(tmp_path, launchers):
    log, go = tmp_path / "ran.jsonl", tmp_path / "go"
    exp = experiment_with(tmp_path, [1, 2, 3, 4], WAIT_BODY, log=log, go=go)
    proc = launchers.start(argv_of("liftoff", "run.py", exp, "--procs-no", "2"), cwd=tmp_path)
    try:
        wait_for(lambda: counts(exp)["running"] == 2 and len(records(log)) == 2, timeout=60,
                 what="2 runs running")
        running = [r["run"] for r in records(log)]
        # the worker dies; its guard kills its runs and exits
        os.kill(util.worker_pid(proc.pid), signal.SIGKILL)
        wait_exit(proc, timeout=60)
        wait_for(lambda: counts(exp)["stale"] == 2, timeout=30, what="2 stale runs")

        header, rows = table(ok("liftoff-status", cwd=tmp_path).stdout)
        assert header == ["Experiment", "Total", "Locked", "Done", "Dead", "Lost", "Progress",
                          "ETL"]
        row = rows[os.path.basename(exp)]
        assert (row["Locked"], row["Lost"], row["Dead"]) == ("0", "2", "0")

        before = util.tree_digest(exp)
        result = ok("liftoff-clean", exp, cwd=tmp_path)
        assert "2 .__lock files would be removed" in result.stdout
        # --safe and --crashed-only leave stale runs alone
        result = ok("liftoff-clean", exp, "--do", "--safe", cwd=tmp_path)
        assert "2 runs were skipped (SAFE)." in result.stdout
        ok("liftoff-clean", exp, "--do", "--crashed-only", cwd=tmp_path)
        assert util.tree_digest(exp) == before
        assert counts(exp)["stale"] == 2

        result = ok("liftoff-clean", exp, "--do", cwd=tmp_path)
        assert "2 runs made pending again (2 stale)" in result.stdout
        assert counts(exp)["pending"] == 4
        for run in running:
            assert marks(run) == {".__leaf", ".__journal"}, marks(run)
        go.write_text("")
        ok("liftoff", "run.py", exp, "--procs-no", "2", cwd=tmp_path)
        assert counts(exp)["done"] == 4
    finally:
        go.write_text("")
