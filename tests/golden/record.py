"""Record golden outputs of the real liftoff 0.3.3 into tests/golden/*.json.

Run it from the repository root, with the python of an environment where
liftoff 0.3.3 is installed, and that environment's bin folder:

    <that python> tests/golden/record.py --liftoff-bin <that bin folder>

It needs only the standard library and PyYAML (which liftoff needs too), and
calls liftoff only through the commands in the given bin folder (that folder
is also put first on PATH, because liftoff starts runs with a bare `python`).
Every case works in a fresh temporary folder that is removed afterwards; the
only files written are the JSON files next to this script.

What it records (JSON, keys sorted, indent 1):

  <case>.json    one per prepare case: `liftoff-prepare <input> --results-path
                 results --do [...]` run on tests/golden/cases/<input> (copied
                 into the temporary folder first) and what it produced:
                   command            the arguments (relative paths);
                   experiment_folder  "{timestamp}_<name>";
                   experiment_files   files in the experiment folder itself;
                   variations         in sorted folder-name order: folder,
                                      cfg_hash (.__cfg_hash), files, runs
                                      [{run, files, cfg, cfg_yaml_text,
                                      parse_opts}];
                   cfg_yaml_text      raw cfg.yaml of the first run of the
                                      first variation;
                   out_dir_as_written that run's out_dir as liftoff wrote it;
                   stdout             liftoff-prepare's output, as lines;
                   error, error_tail  when liftoff-prepare failed (last line
                                      of stderr, and the exception's lines);
                   glob_order         (many_configs) what glob.glob returned
                                      for config*.yaml on the folder used.
                 In cfg and cfg_yaml_text out_dir is made relative to the
                 experiment folder ("0000_x/0") and the experiment folder's
                 name is replaced by "{experiment}" (in full_title).
                 parse_opts is what `liftoff.parse_opts()` returns for that
                 cfg.yaml, a Namespace written as {"Namespace": {...}}.
  launch.json    the launch life cycle on cases/basic (--runs-no 1) with the
                 probe script cases/probe.py, launched three ways (plain,
                 with GPUs / -O / --end-by, and with one run that crashes),
                 and liftoff-status -a after the crashing launch.
  made_by_liftoff/  a whole experiment folder as liftoff leaves it after a
                 launch with one ended and one crashed run per variation of
                 model.hidden=32, and liftoff-lock on some others (see
                 record_made_by_liftoff).
  interrupt.json a launch of four runs, two at a time, sent SIGINT (a
                 terminal's Ctrl-C) or SIGHUP (its hangup) once two had
                 started, then launched again: what started how often.
  commands.json  liftoff-clean (with and without --do, --crashed-only,
                 --safe, --clean-all), liftoff-lock and liftoff-unlock on an
                 experiment whose runs were put by hand in every state: file
                 names of every run folder before and after, stdout,
                 .__journal contents.

Times, pids, session ids, the temporary folder and the experiment's
timestamp are replaced by placeholders ("<int>", "{session}", "{cwd}",
"{timestamp}", "{experiment}", ...), so two recordings compare equal.
"""

import argparse
import datetime
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
PROBE = os.path.join(CASES, "probe.py")
TIMESTAMP_FMT = "%Y%b%d-%H%M%S"  # liftoff's default --timestamp-fmt
UUID_RE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
MARKERS = (".__lock", ".__start", ".__end", ".__crash", ".__seal", ".__journal")
RUN_OUTPUTS = ("out", "err", "nohup.out", "nohup.err", "sh.out", "sh.err")

# (case name, input under cases/, extra liftoff-prepare arguments)
PREPARE_CASES = [
    ("basic", "basic", []),
    ("types", "types", []),
    ("underscore", "underscore", []),
    ("delete", "delete", []),
    ("delete_constrained", "delete_constrained", []),
    ("constraints", "constraints", []),
    ("bools_vs_ints", "bools_vs_ints", []),
    ("long_titles", "long_titles", []),
    ("single_file", "single_file/single.yaml", []),
    ("single_file_named", "single_file_named/solo.yaml", ["--name", "renamed"]),
    ("runs_and_name", "runs_and_name", ["--runs-no", "3", "--name", "custom"]),
    ("many_configs", "many_configs", []),
    ("error_scalar", "error_scalar", []),
    ("error_ambiguous_var", "error_ambiguous_var", []),
    ("error_no_variables", "error_no_variables", []),
    ("error_not_in_domain", "error_not_in_domain", []),
    ("error_inconsistent", "error_inconsistent", []),
]

# Asks liftoff.parse_opts() about each cfg.yaml (run with liftoff's python).
PARSE_OPTS_HELPER = r"""
import json, sys
from argparse import Namespace

def conv(obj):
    if isinstance(obj, Namespace):
        return {"Namespace": conv(vars(obj))}
    if isinstance(obj, dict):
        return {str(k): conv(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [conv(v) for v in obj]
    return obj

from liftoff import parse_opts
with open(sys.argv[1]) as handler:
    paths = json.load(handler)
out = []
for path in paths:
    sys.argv = ["script.py", path, "--session-id", "golden"]
    try:
        out.append({"ok": conv(vars(parse_opts()))})
    except Exception as exc:
        out.append({"error": type(exc).__name__ + ": " + str(exc)})
json.dump(out, sys.stdout)
"""


class Liftoff:
    """Runs the liftoff commands of one bin folder in a clean environment."""

    def __init__(self, bin_dir):
        self.bin = os.path.abspath(bin_dir)
        for name in ("liftoff-prepare", "liftoff", "liftoff-status",
                     "liftoff-clean", "liftoff-lock", "liftoff-unlock", "python"):
            if not os.path.exists(os.path.join(self.bin, name)):
                sys.exit(f"record.py: no {name} in {self.bin}")
        env = dict(os.environ)
        for name in list(env):
            if name.startswith(("PYTHON", "PROBE_")) or name in (
                    "CUDA_VISIBLE_DEVICES", "ENDBY", "FORCE_COLOR",
                    "CLICOLOR_FORCE", "VIRTUAL_ENV"):
                del env[name]
        env["NO_COLOR"] = "1"
        env["ANSI_COLORS_DISABLED"] = "1"
        env["PYTHONIOENCODING"] = "utf-8"
        env["PATH"] = self.bin + os.pathsep + env.get("PATH", "")
        self.env = env
        self.version = self.python(
            ["-c", "import liftoff; print(liftoff.__version__)"], cwd=HERE
        ).stdout.strip()
        if self.version != "0.3.3":
            sys.exit(f"record.py: expected liftoff 0.3.3, found {self.version!r}")

    def run(self, argv, cwd, extra_env=None, timeout=600):
        env = dict(self.env)
        env.update(extra_env or {})
        return subprocess.run(
            [os.path.join(self.bin, argv[0])] + list(argv[1:]),
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=timeout, check=False,
            encoding="utf-8", errors="replace",
        )

    def python(self, args, cwd):
        return self.run(["python"] + list(args), cwd=cwd)


# ----------------------------------------------------------------- helpers


def listing(path, dirs=None):
    """Sorted names in a folder: all (dirs=None), only dirs, or only files."""
    names = []
    for entry in os.scandir(path):
        if dirs is None or entry.is_dir() == dirs:
            names.append(entry.name)
    return sorted(names)


def run_key(name):
    return (0, int(name), name) if name.isdigit() else (1, 0, name)


def read(path):
    with open(path, encoding="utf-8", errors="replace") as handler:
        return handler.read()


def error_info(stderr):
    """Last line of stderr, and the lines from the exception's first line."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines:
        return {"error": ""}
    start = len(lines) - 1
    for idx, line in enumerate(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception)\b", line):
            start = idx
    return {"error": lines[-1], "error_tail": lines[start:]}


class Norm:
    """Replaces what depends on the moment or the machine by placeholders."""

    def __init__(self, cwd, exp_name=None):
        self.cwd = cwd
        self.exp_name = exp_name

    def text(self, text, numbers=False):
        text = ANSI_RE.sub("", text)
        text = text.replace(self.cwd, "{tmp}")
        text = text.replace("@ " + os.path.basename(self.cwd), "@ {cwd}")
        if self.exp_name:
            text = text.replace(self.exp_name, "{experiment}")
        text = UUID_RE.sub("{session}", text)
        text = re.sub(r"\[\d{4}[A-Z][a-z]{2}\d{2}-\d{6}\]", "[{timestamp}]", text)
        if numbers:
            text = re.sub(r"\d+", "<int>", text)
        return text

    def lines(self, text, numbers=False):
        return self.text(text, numbers).splitlines()


def find_experiment(results):
    if not os.path.isdir(results):
        return None
    names = listing(results, dirs=True)
    if len(names) != 1:
        raise RuntimeError(f"expected one experiment in {results}, got {names}")
    return names[0]


def experiment_folder(exp_name):
    stamp, _, rest = exp_name.partition("_")
    datetime.datetime.strptime(stamp, TIMESTAMP_FMT)  # fails loudly if not
    return "{timestamp}_" + rest


def parse_opts_all(lo, cwd, cfg_paths):
    if not cfg_paths:
        return []
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as hnd:
        json.dump(cfg_paths, hnd)
    try:
        res = lo.python(["-c", PARSE_OPTS_HELPER, hnd.name], cwd=cwd)
    finally:
        os.remove(hnd.name)
    if res.returncode != 0:
        raise RuntimeError(f"parse_opts helper failed:\n{res.stderr}")
    return json.loads(res.stdout)


def normalise_cfg(cfg, exp_dir, exp_name, cwd):
    """out_dir relative to the experiment, experiment name out of full_title."""
    if isinstance(cfg, dict):
        if isinstance(cfg.get("out_dir"), str):
            cfg["out_dir"] = os.path.relpath(
                os.path.join(cwd, cfg["out_dir"]), exp_dir)
        if isinstance(cfg.get("full_title"), str):
            cfg["full_title"] = cfg["full_title"].replace(exp_name, "{experiment}")
    return cfg


def collect_experiment(lo, cwd, exp_rel, exp_name):
    """Everything liftoff-prepare left in the experiment folder."""
    exp_dir = os.path.join(cwd, exp_rel)
    out = {"experiment_files": listing(exp_dir, dirs=False), "variations": []}
    pending = []  # (run record, cfg path relative to cwd)
    for folder in listing(exp_dir, dirs=True):
        var_dir = os.path.join(exp_dir, folder)
        var = {"folder": folder, "files": listing(var_dir, dirs=False), "runs": []}
        hash_path = os.path.join(var_dir, ".__cfg_hash")
        var["cfg_hash"] = read(hash_path) if os.path.exists(hash_path) else None
        for run in sorted(listing(var_dir, dirs=True), key=run_key):
            run_dir = os.path.join(var_dir, run)
            rec = {"run": run, "files": listing(run_dir)}
            cfg_path = os.path.join(run_dir, "cfg.yaml")
            if os.path.isfile(cfg_path):
                text = read(cfg_path)
                cfg = yaml.safe_load(text)
                raw_out = cfg.get("out_dir") if isinstance(cfg, dict) else None
                normalise_cfg(cfg, exp_dir, exp_name, cwd)
                if isinstance(raw_out, str):
                    if f"out_dir: {raw_out}\n" not in text:
                        raise RuntimeError(f"out_dir not found verbatim in {cfg_path}")
                    text = text.replace(f"out_dir: {raw_out}\n",
                                        f"out_dir: {cfg['out_dir']}\n")
                    rec["out_dir_as_written"] = raw_out.replace(exp_name, "{experiment}")
                rec["cfg"] = cfg
                rec["cfg_yaml_text"] = text.replace(exp_name, "{experiment}")
                pending.append((rec, os.path.relpath(cfg_path, cwd)))
            var["runs"].append(rec)
        out["variations"].append(var)
    for (rec, _), answer in zip(pending, parse_opts_all(lo, cwd, [p for _, p in pending])):
        if "ok" in answer:
            rec["parse_opts"] = normalise_cfg(answer["ok"], exp_dir, exp_name, cwd)
        else:
            rec["parse_opts_error"] = answer["error"]
    first_runs = [v["runs"][0] for v in out["variations"] if v["runs"]]
    if first_runs and "cfg_yaml_text" in first_runs[0]:
        out["cfg_yaml_text"] = first_runs[0]["cfg_yaml_text"]
    if first_runs and "out_dir_as_written" in first_runs[0]:
        out["out_dir_as_written"] = first_runs[0]["out_dir_as_written"]
    for var in out["variations"]:
        for rec in var["runs"]:
            rec.pop("out_dir_as_written", None)
    return out


def copy_input(src_rel, dest_dir):
    """Copies cases/<src_rel> (a folder or a file) into dest_dir, sorted."""
    src = os.path.join(CASES, src_rel)
    dest = os.path.join(dest_dir, os.path.basename(src_rel))
    if os.path.isdir(src):
        os.mkdir(dest)
        for name in sorted(os.listdir(src)):
            shutil.copyfile(os.path.join(src, name), os.path.join(dest, name))
    else:
        shutil.copyfile(src, dest)
    return os.path.basename(src_rel)


def prepare(lo, cwd, target, extra):
    """liftoff-prepare target --results-path results --do [extra] in cwd."""
    argv = ["liftoff-prepare", target, "--results-path", "results", "--do"] + extra
    res = lo.run(argv, cwd=cwd)
    return argv, res


def must_prepare(lo, cwd, target, extra):
    argv, res = prepare(lo, cwd, target, extra)
    if res.returncode != 0:
        raise RuntimeError(f"{argv} failed:\n{res.stderr}")
    return find_experiment(os.path.join(cwd, "results"))


def write_json(name, data):
    path = os.path.join(HERE, name)
    with open(path, "w", encoding="utf-8") as handler:
        json.dump(data, handler, sort_keys=True, indent=1, ensure_ascii=False)
        handler.write("\n")
    print(f"wrote {os.path.relpath(path)}")


# ---------------------------------------------------------- prepare cases


def record_prepare_case(lo, name, src_rel, extra):
    tmp = tempfile.mkdtemp(prefix="golden-")
    try:
        target = copy_input(src_rel, tmp)
        argv, res = prepare(lo, tmp, target, extra)
        exp_name = find_experiment(os.path.join(tmp, "results"))
        norm = Norm(tmp, exp_name)
        result = {
            "case": name,
            "input": "cases/" + src_rel,
            "command": argv,
            "returncode": res.returncode,
            "stdout": norm.lines(res.stdout),
            "liftoff_version": lo.version,
        }
        if res.returncode != 0:
            result.update(error_info(norm.text(res.stderr)))
        if name == "many_configs":
            pattern = os.path.join(tmp, target, "config*.yaml")
            result["glob_order"] = [os.path.basename(p) for p in glob.glob(pattern)]
        if exp_name:
            result["experiment_folder"] = experiment_folder(exp_name)
            result.update(collect_experiment(lo, tmp, os.path.join("results", exp_name),
                                             exp_name))
        return result
    finally:
        shutil.rmtree(tmp)


def record_append(lo):
    tmp = tempfile.mkdtemp(prefix="golden-")
    try:
        copy_input("append/base", tmp)
        copy_input("append/more", tmp)
        first, res1 = prepare(lo, tmp, "base", [])
        if res1.returncode != 0:
            raise RuntimeError(res1.stderr)
        exp_name = find_experiment(os.path.join(tmp, "results"))
        exp_rel = os.path.join("results", exp_name)
        before = listing(os.path.join(tmp, exp_rel), dirs=True)
        argv = ["liftoff-prepare", "more", "--append-to", exp_rel, "--runs-no", "2",
                "--do"]
        res = lo.run(argv, cwd=tmp)
        norm = Norm(tmp, exp_name)
        result = {
            "case": "append",
            "input": ["cases/append/base", "cases/append/more"],
            "first_command": first,
            "command": [a.replace(exp_name, "{experiment}") for a in argv],
            "returncode": res.returncode,
            "first_stdout": norm.lines(res1.stdout),
            "stdout": norm.lines(res.stdout),
            "folders_before_append": before,
            "experiment_folder": experiment_folder(exp_name),
            "liftoff_version": lo.version,
        }
        if res.returncode != 0:
            result.update(error_info(norm.text(res.stderr)))
        result.update(collect_experiment(lo, tmp, exp_rel, exp_name))
        return result
    finally:
        shutil.rmtree(tmp)


# ------------------------------------------------------------------ launch


def snapshot_runs(exp_dir, norm, contents=True):
    """{"<folder>/<run>": {"files": [...], "contents": {marker/output: text}}}"""
    runs = {}
    for folder in listing(exp_dir, dirs=True):
        var_dir = os.path.join(exp_dir, folder)
        for run in sorted(listing(var_dir, dirs=True), key=run_key):
            run_dir = os.path.join(var_dir, run)
            rec = {"files": listing(run_dir)}
            if contents:
                rec["contents"] = {}
                for name in MARKERS + RUN_OUTPUTS:
                    path = os.path.join(run_dir, name)
                    if os.path.isfile(path):
                        rec["contents"][name] = norm.text(
                            read(path), numbers=name in MARKERS and name != ".__journal")
            runs[f"{folder}/{run}"] = rec
    return runs


def shell_commands(stdout, exp_rel, norm):
    """The distinct shell commands liftoff printed after "Command to be run:"."""
    lines = stdout.splitlines()
    found = set()
    run_re = re.compile(re.escape(exp_rel) + r"/[^/\s']+/\d+")
    for idx, line in enumerate(lines):
        if line.endswith("Command to be run:") and idx + 1 < len(lines):
            cmd = run_re.sub("{run_path}", lines[idx + 1])
            cmd = re.sub(r"ENDBY=\d+", "ENDBY=<int>", cmd)
            found.add(norm.text(cmd))
    return sorted(found)


def parse_table(text):
    """Column names and cells of a tabulate table (columns from the dashes)."""
    lines = [line for line in text.splitlines() if line.strip()]
    for idx, line in enumerate(lines):
        if idx > 0 and re.fullmatch(r"[- ]+", line) and "-" in line:
            spans = [(m.start(), m.end()) for m in re.finditer(r"-+", line)]
            spans[-1] = (spans[-1][0], None)
            header = lines[idx - 1]
            columns = [header[s:e].strip() for s, e in spans]
            rows = [[row[s:e].strip() for s, e in spans] for row in lines[idx + 1:]]
            return columns, rows
    return [], []


def record_status(lo, cwd, norm):
    argv = ["liftoff-status", "-a", "--results-path", "results"]
    res = lo.run(argv, cwd=cwd)
    body = "\n".join(res.stdout.splitlines()[1:])  # without liftoff's hello line
    columns, rows = parse_table(ANSI_RE.sub("", body))
    placeholders = {"Progress": "<float>%", "ETL": "<duration>"}
    cells = []
    for row in rows:
        cells.append([
            placeholders.get(col, norm.text(cell)) for col, cell in zip(columns, row)
        ])
    hello = norm.text(res.stdout.splitlines()[0]) if res.stdout else ""
    return {
        "command": argv,
        "returncode": res.returncode,
        "columns": columns,
        "rows": cells,
        "progress_format_ok": all(
            re.fullmatch(r"\d+\.\d{3}%", row[columns.index("Progress")])
            for row in rows) if "Progress" in columns else None,
        "etl_format_ok": all(
            re.fullmatch(r"(\d+ days?, )?\d+:\d\d:\d\d", row[columns.index("ETL")])
            for row in rows) if "ETL" in columns else None,
        # The table with its cells normalised, single spaces between columns
        # (tabulate's widths depend on the values replaced by placeholders).
        "text": [hello, " ".join(columns), " ".join("---" for _ in columns)]
                + [" ".join(row) for row in cells],
    }


def record_one_launch(lo, label, args, crash_seed=None, with_status=False):
    tmp = tempfile.mkdtemp(prefix="golden-")
    try:
        copy_input("basic", tmp)
        shutil.copyfile(PROBE, os.path.join(tmp, "probe.py"))
        prep_argv = ["liftoff-prepare", "basic", "--results-path", "results",
                     "--runs-no", "1", "--do"]
        res = lo.run(prep_argv, cwd=tmp)
        if res.returncode != 0:
            raise RuntimeError(res.stderr)
        exp_name = find_experiment(os.path.join(tmp, "results"))
        exp_rel = os.path.join("results", exp_name)
        exp_dir = os.path.join(tmp, exp_rel)
        norm = Norm(tmp, exp_name)
        log = os.path.join(tmp, "probe.jsonl")
        # a PYTHONPATH of the user's own: the runs get it first
        os.mkdir(os.path.join(tmp, "userlib"))
        env = {"PROBE_LOG": log, "PROBE_ROOT": tmp,
               "PYTHONPATH": os.path.join(tmp, "userlib")}
        if crash_seed is not None:
            env["PROBE_CRASH_SEED"] = str(crash_seed)
        argv = ["liftoff", "probe.py", exp_rel] + args
        res = lo.run(argv, cwd=tmp, extra_env=env)
        probe = []
        if os.path.exists(log):
            with open(log, encoding="utf-8") as handler:
                probe = [json.loads(line) for line in handler if line.strip()]
        probe.sort(key=lambda rec: rec["run"])
        result = {
            "label": label,
            "prepare_command": prep_argv,
            "command": [a.replace(exp_name, "{experiment}") for a in argv],
            "probe_env": sorted(env),
            "hello": norm.text(res.stdout.splitlines()[0]) if res.stdout else "",
            "returncode": res.returncode,
            "experiment_files": [norm.text(n) for n in listing(exp_dir, dirs=False)],
            "runs": snapshot_runs(exp_dir, norm),
            "probe": probe,
            "shell_commands": shell_commands(res.stdout, exp_rel, norm),
        }
        if res.returncode != 0:
            result.update(error_info(norm.text(res.stderr)))
        if with_status:
            result["status"] = record_status(lo, tmp, norm)
        return result
    finally:
        shutil.rmtree(tmp)


def record_launch(lo):
    plain = record_one_launch(lo, "plain", ["--procs-no", "1"])
    gpus = record_one_launch(
        lo, "gpus", ["--gpus", "0", "1", "--per-gpu", "1", "--procs-no", "2", "-O",
                     "--end-by", "3600"])
    # Which run lands on which GPU depends on timing: keep the set of values
    # seen, and "<gpu>" in each probe line.
    seen = set()
    for rec in gpus["probe"]:
        value = rec.get("CUDA_VISIBLE_DEVICES")
        seen.add(value)
        if value in ("0", "1"):
            rec["CUDA_VISIBLE_DEVICES"] = "<gpu>"
    gpus["cuda_values_seen"] = sorted(seen, key=str)
    gpus["shell_commands"] = sorted({
        re.sub(r"CUDA_VISIBLE_DEVICES=[01] ", "CUDA_VISIBLE_DEVICES=<gpu> ", cmd)
        for cmd in gpus["shell_commands"]})
    crash = record_one_launch(
        lo, "crash",
        ["--procs-no", "1", "--filters", "model.hidden=32", "optim.name=adam"],
        crash_seed=2, with_status=True)
    return {
        "liftoff_version": lo.version,
        "notes": [
            "Each launch works on a fresh `liftoff-prepare basic --results-path results"
            " --runs-no 1 --do` run in a temporary folder, which is also the launch"
            " folder (cwd); probe.py was copied there.",
            "PATH starts with the liftoff environment's bin folder: liftoff runs"
            " `python` from PATH.",
            "runs: file names and contents of markers (numbers -> <int>, session ids"
            " -> {session}) and of out/err/nohup.out/nohup.err after liftoff returned.",
            "probe: what probe.py recorded while it ran, sorted by run.",
            "crash: PROBE_CRASH_SEED=2 makes the probe exit 1 for seed 2; --filters keeps"
            " the two runs with model.hidden=32 and optim.name=adam (seed 1 ends, seed"
            " 2 crashes, six runs stay untouched).",
        ],
        "launches": [plain, gpus, crash],
    }


# ---------------------------------------------------------------- interrupts

INTERRUPT_SCRIPT = """\
import os, sys, time
from liftoff import parse_opts

opts = parse_opts()
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "starts.txt"), "a") as f:
    f.write("%s %d\\n" % (opts.title, os.getpid()))
deadline = time.time() + 120
while not os.path.exists(os.path.join(here, "go")) and time.time() < deadline:
    time.sleep(0.05)
print("ran", opts.title)
"""


def wait_until(condition, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.05)


def record_one_interrupt(lo, signum):
    """Four runs (seed 1..4), `liftoff train.py EXP --procs-no 2`; once two
    have started, `signum` to the launcher's process group (as a terminal
    sends Ctrl-C, or a shell the hangup); then the runs may end; then a
    relaunch. What started how often, from the runs' own lines."""
    tmp = tempfile.mkdtemp(prefix="golden-")
    try:
        os.mkdir(os.path.join(tmp, "cfg"))
        with open(os.path.join(tmp, "cfg", "default.yaml"), "w") as f:
            f.write("seed: 0\nlr: 0.1\n")
        with open(os.path.join(tmp, "cfg", "config.yaml"), "w") as f:
            f.write("seed: [1, 2, 3, 4]\n")
        with open(os.path.join(tmp, "train.py"), "w") as f:
            f.write(INTERRUPT_SCRIPT)
        must_prepare(lo, tmp, "cfg", [])
        exp_rel = os.path.join("results", find_experiment(os.path.join(tmp, "results")))
        starts = os.path.join(tmp, "starts.txt")

        def started():
            if not os.path.exists(starts):
                return []
            return [line.rsplit(" ", 1)[0] for line in read(starts).splitlines()]

        argv = [os.path.join(lo.bin, "liftoff"), "train.py", exp_rel, "--procs-no", "2"]
        launcher = subprocess.Popen(argv, cwd=tmp, env=lo.env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
        wait_until(lambda: len(started()) == 2)
        os.killpg(launcher.pid, signum)
        code = launcher.wait(60)
        in_flight = started()
        with open(os.path.join(tmp, "go"), "w"):
            pass
        exp_dir = os.path.join(tmp, exp_rel)

        def ended():
            return sum(os.path.exists(os.path.join(exp_dir, folder, "0", ".__end"))
                       for folder in listing(exp_dir, dirs=True))
        wait_until(lambda: ended() == len(in_flight))
        again = lo.run(["liftoff", "train.py", exp_rel, "--procs-no", "2"], cwd=tmp)
        counts = {}
        for title in started():
            counts[title] = counts.get(title, 0) + 1
        return {"signal": signal.Signals(signum).name, "launcher_returncode": code,
                "in_flight": sorted(in_flight), "in_flight_went_on": True,
                "relaunch_returncode": again.returncode, "starts": counts,
                "ended": ended()}
    finally:
        shutil.rmtree(tmp)


def record_interrupts(lo):
    return {
        "liftoff_version": lo.version,
        "notes": [
            "Four runs, two at a time; once two started, the signal went to the launcher's"
            " process group, the in-flight runs were let end (a file they wait for), then"
            " the experiment was launched again.",
            "starts: how many times each run started, from the lines the runs wrote;"
            " in_flight_went_on: the two in-flight runs reached .__end after the launcher"
            " was gone.",
        ],
        "sigint": record_one_interrupt(lo, signal.SIGINT),
        "sighup": record_one_interrupt(lo, signal.SIGHUP),
    }


# ---------------------------------------------------------------- commands

# State of run 0 of each variation (in sorted folder order); run 1 of every
# variation stays untouched.
STATES = [
    ("ended", {".__start": "1700000000\n", ".__end": "1700000100\n"}),
    ("crashed", {".__start": "1700000000\n", ".__crash": "1700000050\n",
                 "log.txt": "product\n"}),
    ("started_without_end", {".__start": "1700000000\n", "log.txt": "product\n",
                             "ckpt/model.pt": "weights\n"}),
    ("running", {".__start": "1700000000\n", ".__lock": "manual-session"}),
    ("locked", {".__lock": "manual-session"}),
    ("sealed", {".__lock": "manual-session", ".__seal": "manual-session\n"}),
    ("untouched", {}),
    ("crashed_with_lock", {".__start": "1700000000\n", ".__crash": "1700000050\n",
                           ".__lock": "manual-session"}),
]


def diff_runs(before, after):
    changed = {}
    for run in sorted(set(before) | set(after)):
        old = set(before.get(run, {}).get("files", []))
        new = set(after.get(run, {}).get("files", []))
        if old != new:
            changed[run] = {"removed": sorted(old - new), "added": sorted(new - old)}
    return changed


def record_commands(lo):
    tmp = tempfile.mkdtemp(prefix="golden-")
    try:
        base = os.path.join(tmp, "base")
        os.mkdir(base)
        copy_input("basic", base)
        exp_name = must_prepare(lo, base, "basic", ["--runs-no", "2"])
        exp_rel = os.path.join("results", exp_name)
        exp_dir = os.path.join(base, exp_rel)
        folders = listing(exp_dir, dirs=True)
        states = {}
        for folder, (state, files) in zip(folders, STATES):
            run_dir = os.path.join(exp_dir, folder, "0")
            states[f"{folder}/0"] = state
            for name, text in files.items():
                path = os.path.join(run_dir, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as handler:
                    handler.write(text)
        for folder in folders:
            states[f"{folder}/1"] = "untouched"
        norm = Norm(base, exp_name)
        initial = snapshot_runs(exp_dir, norm, contents=False)
        result = {
            "liftoff_version": lo.version,
            "prepare_command": ["liftoff-prepare", "basic", "--results-path", "results",
                                "--runs-no", "2", "--do"],
            "states": states,
            "state_files": {state: sorted(files) for state, files in STATES},
            "initial": initial,
            "status_initial": record_status(lo, base, norm),
            "notes": [
                "Each command runs on a fresh copy of the initial experiment, in a"
                " folder that holds results/{experiment}; EXP is results/{experiment}.",
                "Marker files were written by hand: .__start/.__end/.__crash hold a"
                " number, .__lock holds 'manual-session', .__seal 'manual-session\\n'.",
                "contents: text of the files each command added (numbers kept,"
                " session ids -> {session}, timestamps -> [{timestamp}]).",
            ],
            "commands": [],
        }
        sequences = [
            ("clean", [["liftoff-clean", exp_rel]]),
            ("clean_do", [["liftoff-clean", exp_rel, "--do"]]),
            ("clean_do_crashed_only", [["liftoff-clean", exp_rel, "--do",
                                        "--crashed-only"]]),
            ("clean_do_safe", [["liftoff-clean", exp_rel, "--do", "--safe"]]),
            ("clean_do_clean_all", [["liftoff-clean", exp_rel, "--do", "--clean-all"]]),
            ("lock", [["liftoff-lock", exp_rel, "--runs", "0"]]),
            ("lock_do", [["liftoff-lock", exp_rel, "--runs", "0", "--do"]]),
            ("unlock_do", [["liftoff-unlock", exp_rel, "--runs", "0", "--do"]]),
            ("lock_do_then_unlock_do", [
                ["liftoff-lock", exp_rel, "--runs", "0", "--do"],
                ["liftoff-unlock", exp_rel, "--runs", "0", "--do"]]),
        ]
        for idx, (label, commands) in enumerate(sequences):
            work = os.path.join(tmp, f"work{idx}")
            shutil.copytree(os.path.join(base, "results"), os.path.join(work, "results"))
            wnorm = Norm(work, exp_name)
            wexp = os.path.join(work, exp_rel)
            steps = []
            for argv in commands:
                before = snapshot_runs(wexp, wnorm)
                res = lo.run(argv, cwd=work)
                after = snapshot_runs(wexp, wnorm)
                step = {
                    "command": [a.replace(exp_name, "{experiment}") for a in argv],
                    "returncode": res.returncode,
                    "stdout": wnorm.lines(res.stdout),
                    "before": {run: rec["files"] for run, rec in before.items()},
                    "after": {run: rec["files"] for run, rec in after.items()},
                    "changed": diff_runs(before, after),
                    "contents": {},
                    "experiment_files": listing(wexp, dirs=False),
                }
                for run, change in step["changed"].items():
                    for name in change["added"]:
                        if name in after[run]["contents"]:
                            step["contents"][f"{run}/{name}"] = after[run]["contents"][name]
                # A journal that grew (lock then unlock) shows up here too.
                for run, rec in after.items():
                    old = before[run].get("contents", {}).get(".__journal")
                    new = rec["contents"].get(".__journal")
                    if new is not None and old is not None and new != old:
                        step["contents"][f"{run}/.__journal"] = new
                if res.returncode != 0:
                    step.update(error_info(wnorm.text(res.stderr)))
                steps.append(step)
            result["commands"].append({"label": label, "steps": steps})
        return result
    finally:
        shutil.rmtree(tmp)


# -------------------------------------------------------------------- main


MADE = os.path.join(HERE, "made_by_liftoff")
MADE_NAME = "2023Mar04-120000_basic"


def record_made_by_liftoff(lo):
    """A whole experiment folder as liftoff 0.3.3 leaves it (for the tests
    of adopting it): cases/basic with --runs-no 2, launched with the probe
    on the runs of model.hidden=32 (seed 1 ends, seed 2 crashes), then run 1
    of the model.hidden=8 variations sealed by liftoff-lock. Copied into
    made_by_liftoff/<MADE_NAME>, with the folder's name, the times in the
    marks and the session ids made fixed, and the wrapper's nohup files left
    out."""
    tmp = tempfile.mkdtemp(prefix="golden-")
    try:
        copy_input("basic", tmp)
        shutil.copyfile(PROBE, os.path.join(tmp, "probe.py"))
        must_prepare(lo, tmp, "basic", ["--runs-no", "2"])
        exp_name = find_experiment(os.path.join(tmp, "results"))
        exp_rel = os.path.join("results", exp_name)
        env = {"PROBE_LOG": os.path.join(tmp, "probe.jsonl"), "PROBE_ROOT": tmp,
               "PROBE_CRASH_SEED": "2"}
        res = lo.run(["liftoff", "probe.py", exp_rel, "--filters", "model.hidden=32"],
                     cwd=tmp, extra_env=env)
        if res.returncode != 0:
            raise RuntimeError(res.stderr)
        res = lo.run(["liftoff-lock", exp_rel, "--runs", "1", "--filters", "model.hidden=8",
                      "--do"], cwd=tmp)
        if res.returncode != 0:
            raise RuntimeError(res.stderr)
        shutil.rmtree(MADE, ignore_errors=True)
        target = os.path.join(MADE, MADE_NAME)
        shutil.copytree(os.path.join(tmp, exp_rel), target)
        for folder, _, names in os.walk(target):
            for name in names:
                path = os.path.join(folder, name)
                if name.startswith("nohup."):
                    os.remove(path)
                    continue
                with open(path, encoding="utf-8") as handler:
                    text = handler.read()
                text = UUID_RE.sub("00000000-0000-0000-0000-000000000000",
                                   text.replace(exp_name, MADE_NAME))
                if name in (".__start", ".__end", ".__crash"):
                    text = "1677931200\n"
                with open(path, "w", encoding="utf-8") as handler:
                    handler.write(text)
        return sorted(os.path.relpath(os.path.join(f, n), MADE)
                      for f, _, names in os.walk(MADE) for n in names)
    finally:
        shutil.rmtree(tmp)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--liftoff-bin", required=True,
                        help="bin folder of the environment where liftoff 0.3.3 is installed")
    parser.add_argument("--only", nargs="*", default=None,
                        help="record only these outputs (case names, launch, commands)")
    opts = parser.parse_args()
    lo = Liftoff(opts.liftoff_bin)

    def wanted(name):
        return opts.only is None or name in opts.only

    for name, src, extra in PREPARE_CASES:
        if wanted(name):
            write_json(f"{name}.json", record_prepare_case(lo, name, src, extra))
    if wanted("append"):
        write_json("append.json", record_append(lo))
    if wanted("launch"):
        write_json("launch.json", record_launch(lo))
    if wanted("interrupt"):
        write_json("interrupt.json", record_interrupts(lo))
    if wanted("commands"):
        write_json("commands.json", record_commands(lo))
    if wanted("made_by_liftoff"):
        record_made_by_liftoff(lo)


if __name__ == "__main__":
    main()
