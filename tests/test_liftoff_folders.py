"""Experiment folders that real liftoff 0.3.3 made, and analysis code
written for liftoff's folders.

tests/golden/made_by_liftoff/ is an experiment exactly as liftoff left it
(recorded by tests/golden/record.py): 8 variations x 2 runs; the runs of
model.hidden=32 launched (seed 1 ended: .__end, seed 2 crashed: .__crash),
run 1 of the model.hidden=8 variations sealed by liftoff-lock (.__lock and
.__seal), the others untouched. The toolkit adopts such a folder on first
use and carries on where liftoff stopped."""

import json
import os
import re
import shutil

import yaml

import util
from util import run, status

MADE = os.path.join(util.TOP, "tests", "golden", "made_by_liftoff", "2023Mar04-120000_basic")
NAME = os.path.basename(MADE)

SCRIPT = """\
import os, sys
from liftoff import parse_opts
opts = parse_opts()
with open(os.path.join(os.environ["LOG_DIR"], "ran.txt"), "a") as f:
    f.write("%s %s\\n" % (os.path.relpath(opts.out_dir, os.environ["EXP"]), sys.argv[2:]))
"""


def liftoff_made(tmp_path):
    exp = tmp_path / "results" / NAME
    shutil.copytree(MADE, str(exp))
    (tmp_path / "train.py").write_text(SCRIPT)
    return exp


def env(tmp_path, exp):
    return dict(os.environ, LOG_DIR=str(tmp_path), EXP=str(exp))


def ran(tmp_path):
    path = tmp_path / "ran.txt"
    return sorted(line.split()[0] for line in path.read_text().splitlines()) \
        if path.exists() else []


def run_folders(exp):
    return sorted("%s/%s" % (v, r) for v in os.listdir(str(exp)) if v[:4].isdigit()
                  for r in os.listdir(str(exp / v)) if r.isdigit())


def test_status_of_a_folder_liftoff_made_counts_its_marks(tmp_path):
    exp = liftoff_made(tmp_path)
    report = status("results/" + NAME, cwd=tmp_path)
    assert report["total"] == 16
    assert report["counts"] == {"pending": 4, "running": 0, "claimed": 0, "done": 4, "failed": 4,
                                "stale": 0, "aborted": 0, "held": 4}
    # read as it is: nothing written (tests/test_read_only.py checks every byte)
    assert sorted(n for n in os.listdir(str(exp)) if n.startswith(".")) == [".__experiment"]
    # a command that changes it adopts it first: the toolkit's own state is
    # hidden, liftoff's files are as they were, and the counts are the same
    result = run("drain", str(exp), "--host", "elsewhere", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(n for n in os.listdir(str(exp)) if n.startswith(".")) == [
        ".__experiment", ".cooperate"]
    assert status(str(exp), cwd=tmp_path)["counts"] == report["counts"], "adopted once"


def test_launch_runs_what_liftoff_left_and_leaves_liftoffs_marks(tmp_path):
    exp = liftoff_made(tmp_path)
    result = run("launch", "train.py", "results/" + NAME, "--procs-no", "2", "-q", cwd=tmp_path,
                 env=env(tmp_path, exp))
    assert result.returncode == 0, result.stderr
    untouched = [r for r in run_folders(exp) if "hidden_8" in r and r.endswith("/0")]
    assert ran(tmp_path) == untouched
    for folder in untouched:
        marks = sorted(n for n in os.listdir(str(exp / folder)) if n.startswith(".__"))
        assert marks == [".__end", ".__leaf", ".__start"]
        assert re.match(r"\d+\n\Z", (exp / folder / ".__end").read_text())
    # the session id liftoff gave its runs, and -u
    line = (tmp_path / "ran.txt").read_text().splitlines()[0]
    assert "'--session-id'" in line
    sealed = [r for r in run_folders(exp) if "hidden_8" in r and r.endswith("/1")]
    for folder in sealed:
        assert (exp / folder / ".__seal").exists() and not (exp / folder / ".__start").exists()
    counts = status(str(exp), cwd=tmp_path)["counts"]
    assert counts["done"] == 8 and counts["failed"] == 4 and counts["held"] == 4


def test_clean_then_launch_reruns_what_crashed(tmp_path):
    exp = liftoff_made(tmp_path)
    crashed = [r for r in run_folders(exp) if (exp / r / ".__crash").exists()]
    assert len(crashed) == 4
    assert run("retry", str(exp), "--failed", cwd=tmp_path).returncode == 0
    for folder in crashed:
        assert not (exp / folder / ".__crash").exists() and not (exp / folder / ".__start").exists()
    result = run("launch", "train.py", str(exp), "-q", cwd=tmp_path, env=env(tmp_path, exp))
    assert result.returncode == 0, result.stderr
    assert sorted(set(ran(tmp_path)) & set(crashed)) == crashed
    assert status(str(exp), cwd=tmp_path)["counts"]["failed"] == 0


def test_append_to_a_folder_liftoff_made_finds_its_variations_by_their_hash(tmp_path):
    exp = liftoff_made(tmp_path)
    configs = tmp_path / "more"
    shutil.copytree(os.path.join(util.TOP, "tests", "golden", "cases", "basic"), str(configs))
    text = (configs / "config.yaml").read_text().replace("hidden: [32, 8]", "hidden: [32, 8, 16]")
    (configs / "config.yaml").write_text(text)
    before = run_folders(exp)
    result = run("prepare", "more", "--append-to", str(exp), "--do", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "4 new variations, 8 already there" in result.stdout
    new = sorted(set(run_folders(exp)) - set(before))
    assert [r.split("_")[0] for r in new] == ["0008", "0008", "0009", "0009", "0010", "0010",
                                              "0011", "0011"]
    assert all("hidden_16" in r for r in new)
    assert status(str(exp), cwd=tmp_path)["counts"]["pending"] == 4 + 8


def test_abort_everything_not_started(tmp_path):
    exp = liftoff_made(tmp_path)
    result = run("abort", str(exp), "-y", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    counts = status(str(exp), cwd=tmp_path)["counts"]
    assert counts["aborted"] == 8 and counts["pending"] == 0


# ---------------------------------------------------------------- analysis code


def liftoff_style_analysis(results):
    """What analysis helpers written for liftoff do: walk the experiments,
    their variation folders (every folder that does not start with "."),
    their run folders (.__leaf); a run finished well has .__start and
    .__end; parse full_title into the experiment and the title; read the
    values the run wrote."""
    found = []
    for exp_name in sorted(os.listdir(results)):
        exp_dir = os.path.join(results, exp_name)
        if not os.path.isfile(os.path.join(exp_dir, ".__experiment")):
            continue
        for var in sorted(os.listdir(exp_dir)):
            var_dir = os.path.join(exp_dir, var)
            if var.startswith(".") or not os.path.isdir(var_dir):
                continue
            cfg_id = int(var.split("_")[0])
            for run_name in sorted(os.listdir(var_dir)):
                run_dir = os.path.join(var_dir, run_name)
                if not os.path.isfile(os.path.join(run_dir, ".__leaf")):
                    continue
                if not (os.path.isfile(os.path.join(run_dir, ".__start"))
                        and os.path.isfile(os.path.join(run_dir, ".__end"))):
                    continue
                with open(os.path.join(run_dir, "cfg.yaml")) as f:
                    cfg = yaml.safe_load(f)
                # "<experiment folder>_<title>"
                experiment = cfg["full_title"][:-len(cfg["title"]) - 1]
                with open(os.path.join(run_dir, "result.json")) as f:
                    result = json.load(f)
                found.append({"experiment": experiment, "cfg_id": cfg_id,
                              "run": int(run_name), "title": cfg["title"],
                              "lr": cfg["optim"]["lr"], "loss": result["loss"]})
    return found


def test_a_liftoff_analysis_helper_reads_a_finished_experiment(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "default.yaml").write_text("optim: {lr: 0.1, name: sgd}\nseed: 0\n")
    (configs / "config.yaml").write_text("optim:\n  lr: [0.1, 0.01]\nseed: [1, 2]\n")
    (tmp_path / "train.py").write_text(
        "import json, os\nfrom liftoff import parse_opts\nopts = parse_opts()\n"
        "with open(os.path.join(opts.out_dir, 'result.json'), 'w') as f:\n"
        "    json.dump({'loss': opts.optim.lr * opts.seed}, f)\n")
    assert run("prepare", "configs", "--do", cwd=tmp_path).returncode == 0
    result = run("launch", "train.py", "configs", "-q", cwd=tmp_path)
    assert result.returncode == 2, "a config folder must be prepared first"
    (exp,) = os.listdir(str(tmp_path / "results"))
    result = run("launch", "train.py", "results/" + exp, "--procs-no", "2", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = liftoff_style_analysis(str(tmp_path / "results"))
    assert [(r["cfg_id"], r["title"], r["lr"], r["loss"]) for r in rows] == [
        (0, "seed=1; optim.lr=0.1", 0.1, 0.1), (1, "seed=1; optim.lr=0.01", 0.01, 0.01),
        (2, "seed=2; optim.lr=0.1", 0.1, 0.2), (3, "seed=2; optim.lr=0.01", 0.01, 0.02)]
    assert {r["experiment"] for r in rows} == {exp}
