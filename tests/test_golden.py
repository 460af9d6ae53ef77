"""liftoff-prepare, against what real liftoff 0.3.3 made of the same config
folders: tests/golden/<case>.json, recorded by tests/golden/record.py from
the inputs in tests/golden/cases/. Each case is prepared here the same way,
and the experiment compared: the same variation folders (NNNN_title), the
same .__cfg_hash, the same marker files, the same cfg.yaml keys and values.

cfg.yaml's text is liftoff's, byte for byte, but for the deliberate
differences, allowed here: out_dir is absolute (liftoff wrote it as the
path it was given); config*.yaml files are taken in sorted order
(liftoff took the filesystem's order: recorded as glob_order); what liftoff
crashed on is one line and exit 2 here, and nothing is written; the
toolkit's own state is hidden in .cooperate/."""

import glob
import json
import re
import os
import shutil

import pytest
import yaml

import util

GOLDEN = os.path.join(util.TOP, "tests", "golden")
CASES = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(GOLDEN, "*.json"))
               if json.load(open(p)).get("variations") is not None)


def golden(case):
    with open(os.path.join(GOLDEN, case + ".json")) as f:
        return json.load(f)


def prepare(tmp_path, command, experiment=None):
    """Run a recorded liftoff-prepare command line here."""
    args = [a.replace("{experiment}", experiment or "") for a in command[1:]]
    return util.run("prepare", *args, cwd=tmp_path)


def our_experiment(tmp_path):
    (exp,) = glob.glob(str(tmp_path / "results" / "*"))
    return exp


def tree(exp):
    """The experiment as the golden files describe it."""
    name = os.path.basename(exp)
    variations = []
    for folder in sorted(os.listdir(exp)):
        path = os.path.join(exp, folder)
        if folder.startswith(".") or not os.path.isdir(path):
            continue
        runs = []
        for run in sorted(n for n in os.listdir(path) if os.path.isdir(os.path.join(path, n))):
            with open(os.path.join(path, run, "cfg.yaml")) as f:
                cfg = yaml.safe_load(f)
            cfg["out_dir"] = os.path.relpath(cfg["out_dir"], exp)
            cfg["full_title"] = cfg["full_title"].replace(name, "{experiment}")
            runs.append({"run": run, "cfg": cfg,
                         "files": sorted(os.listdir(os.path.join(path, run)))})
        with open(os.path.join(path, ".__cfg_hash")) as f:
            digest = f.read()
        variations.append({"folder": folder, "cfg_hash": digest, "runs": runs,
                           "files": sorted(n for n in os.listdir(path)
                                           if not os.path.isdir(os.path.join(path, n)))})
    files = sorted(n for n in os.listdir(exp) if not os.path.isdir(os.path.join(exp, n)))
    return files, variations


def theirs(case):
    """The golden variations, trimmed to what tree() gives."""
    return [{"folder": v["folder"], "cfg_hash": v["cfg_hash"], "files": v["files"],
             "runs": [{"run": r["run"], "cfg": r["cfg"], "files": r["files"]} for r in v["runs"]]}
            for v in case["variations"]]


def copy_input(case, tmp_path):
    """The case's inputs (folders or yaml files) into the working folder,
    under their names, where the recorded command lines name them."""
    inputs = case["input"] if isinstance(case["input"], list) else [case["input"]]
    for source in inputs:
        source = os.path.join(GOLDEN, source)
        target = str(tmp_path / os.path.basename(source))
        (shutil.copytree if os.path.isdir(source) else shutil.copy)(source, target)


@pytest.mark.parametrize("name", CASES)
def test_prepare_makes_what_liftoff_made(tmp_path, name):
    case = golden(name)
    copy_input(case, tmp_path)
    experiment = None
    if case.get("first_command"):
        first = prepare(tmp_path, case["first_command"])
        assert first.returncode == 0, first.stderr
        experiment = os.path.relpath(our_experiment(tmp_path), str(tmp_path / "results"))
    result = prepare(tmp_path, case["command"], experiment)
    if case.get("error"):
        assert result.returncode == 2, result
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
        assert not glob.glob(str(tmp_path / "results" / "*")), "nothing written"
        return
    assert result.returncode == 0, result.stderr
    # liftoff's first and last lines, which scripts read; ours between them
    lines = [line.replace("@ " + tmp_path.name, "@ {cwd}").replace(
        os.path.basename(our_experiment(tmp_path)), "{experiment}")
        for line in result.stdout.splitlines()]
    assert lines[0] == case["stdout"][0] and lines[-1] == case["stdout"][-1], lines
    files, variations = tree(our_experiment(tmp_path))
    assert files == case["experiment_files"]
    expected = theirs(case)
    order = case.get("glob_order")
    if order and order != sorted(order):
        # liftoff took the config files in another order: the same configs,
        # under other indexes (and, for a config two files give, the title
        # of the file that came first)
        def configs(vs):
            out = {}
            for v in vs:
                cfg = dict(v["runs"][0]["cfg"])
                for key in ("out_dir", "cfg_id", "title", "full_title", "experiment_arguments"):
                    cfg.pop(key, None)
                out[v["cfg_hash"]] = cfg
            return out
        assert configs(variations) == configs(expected)
        return
    assert [v["folder"] for v in variations] == [v["folder"] for v in expected]
    assert variations == expected
    # the text too, byte for byte but for out_dir (absolute here): keys
    # sorted, lists in block style, long titles folded as PyYAML folds them
    exp = our_experiment(tmp_path)
    for variation in case["variations"]:
        for run in variation["runs"]:
            with open(os.path.join(exp, variation["folder"], run["run"], "cfg.yaml")) as f:
                text = f.read()
            text = text.replace("out_dir: %s/" % exp, "out_dir: ")
            assert text.replace(os.path.basename(exp), "{experiment}") == \
                run["cfg_yaml_text"], (variation["folder"], run["run"])


def test_launch_gives_runs_what_liftoff_gave_them(tmp_path):
    """The three launches of launch.json (plain; GPUs, -O and --end-by; one
    run crashing), each on a fresh experiment of cases/basic: what the probe
    script saw while it ran (its command line, -u, -O, the environment, the
    marks in its folder, what parse_opts gave it) and the marks afterwards.
    Liftoff's shell wrapper also left nohup.out and nohup.err: there is no
    such wrapper here. The probe also saw a uuid4 session id, the user's
    PYTHONPATH first, and the user's own PyYAML; the launcher printed
    liftoff's first line."""
    case = golden("launch")
    for launch in case["launches"]:
        cwd = tmp_path / launch["label"]
        cwd.mkdir()
        shutil.copytree(os.path.join(GOLDEN, "cases", "basic"), str(cwd / "basic"))
        shutil.copy(os.path.join(GOLDEN, "cases", "probe.py"), str(cwd))
        assert prepare(cwd, launch["prepare_command"]).returncode == 0
        exp = our_experiment(cwd)
        log = cwd / "probe.jsonl"
        (cwd / "userlib").mkdir()
        env = dict(os.environ, PROBE_LOG=str(log), PROBE_ROOT=str(cwd),
                   PYTHONPATH=str(cwd / "userlib"))
        if "PROBE_CRASH_SEED" in launch["probe_env"]:
            env["PROBE_CRASH_SEED"] = "2"
        args = [a.replace("{experiment}", os.path.basename(exp)) for a in launch["command"][1:]]
        result = util.run("launch", *args, "-q", cwd=cwd, env=env)
        assert result.returncode == (1 if "PROBE_CRASH_SEED" in env else 0), result.stderr
        hello = result.stdout.splitlines()[0].replace("@ " + cwd.name, "@ {cwd}")
        assert hello == launch["hello"]
        probes = sorted((json.loads(line) for line in log.read_text().splitlines()),
                        key=lambda p: p["run"])
        for ours, theirs_ in zip(probes, launch["probe"]):
            if theirs_["CUDA_VISIBLE_DEVICES"] == "<gpu>":
                assert ours["CUDA_VISIBLE_DEVICES"] in ("0", "1")
                ours["CUDA_VISIBLE_DEVICES"] = "<gpu>"
            theirs_ = dict(theirs_, run_files=[
                n for n in theirs_["run_files"] if not n.startswith("nohup.")])
            assert ours == theirs_, launch["label"]
        assert len(probes) == len(launch["probe"])
        for run_name, expected in launch["runs"].items():
            folder = os.path.join(exp, run_name)
            files = sorted(os.listdir(folder))
            assert files == [n for n in expected["files"] if not n.startswith("nohup.")]
            for name, text in expected["contents"].items():
                if name.startswith("nohup."):
                    continue
                with open(os.path.join(folder, name)) as f:
                    assert re.sub(r"\d+", "<int>", f.read()) == text, (run_name, name)
        assert sorted(n for n in os.listdir(exp) if not os.path.isdir(os.path.join(exp, n))) == \
            launch["experiment_files"]
