"""liftoff-prepare: the real command on real config folders; the experiment
layout it writes; bad input refused with nothing written; cfgyaml round
trips."""

import datetime
import json
import math
import os
import textwrap
import threading

import pytest
import yaml

from cooperate.grid import cfgyaml
from cooperate.grid import experiment
from cooperate.grid import config as grid
from cooperate.errors import UserError
from util import run

DEFAULT = """\
model:
  name: mlp
  hidden: 64
optim:
  name: sgd
  lr: 0.1
seed: 0
"""

CONFIG = """\
model:
  name: [mlp, cnn]
optim:
  lr: [0.1, 0.01]
liftoff:
  - vars: [name, lr]
    "!!": [[cnn, 0.01]]
"""


def config_dir(tmp_path, default=DEFAULT, name="sweep", **files):
    """A config folder tmp_path/NAME with default.yaml and the given files
    (name without .yaml -> text)."""
    path = tmp_path / name
    path.mkdir()
    if default is not None:
        (path / "default.yaml").write_text(textwrap.dedent(default))
    for fname, text in (files or {"config": CONFIG}).items():
        (path / (fname + ".yaml")).write_text(textwrap.dedent(text))
    return path


def files_under(path):
    """Every file and folder under path, relative."""
    found = set()
    for folder, dirs, files in os.walk(str(path)):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(folder, name), str(path)))
    return found


def prepare(tmp_path, *args):
    result = run("prepare", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    return result.stdout


def only_experiment(tmp_path):
    exps = experiment.list_experiments(str(tmp_path / "results"))
    assert len(exps) == 1, exps
    return exps[0]


def read_queue(exp_dir):
    with open(os.path.join(exp_dir, ".cooperate", "queue.json")) as handle:
        text = handle.read()
    return text, json.loads(text)


# ---------------------------------------------------------------- dry run


def test_dry_run_prints_the_summary_and_writes_nothing(tmp_path):
    config_dir(tmp_path)
    before = files_under(tmp_path)
    out = prepare(tmp_path, "sweep", "--runs-no", "2")
    assert files_under(tmp_path) == before
    assert not (tmp_path / "results").exists()
    lines = out.splitlines()
    assert "sweep/config.yaml: 2 variables, 3 variations of 4 before constraints" in lines
    assert any(line.split() == ["model.name", "2:", "mlp,", "cnn"] for line in lines), out
    assert any(line.split() == ["optim.lr", "2:", "0.1,", "0.01"] for line in lines), out
    assert "  constraint: not (model.name=cnn and optim.lr=0.01)" in lines
    assert "variations: 3 (4 before constraints)" in lines
    assert "runs: 6 (3 variations x 2)" in lines
    assert any(line.startswith("would write: results/") and line.endswith("_sweep")
               for line in lines), out
    assert "add --do" in lines[-1]


def test_help_explains_the_grid(tmp_path):
    result = run("prepare", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for text in ("default.yaml", "config*.yaml", "delete", "liftoff:", "--append-to", "--do",
                 "full_title"):
        assert text in result.stdout
    result = run("--help", cwd=tmp_path)
    assert "prepare" in result.stdout and "liftoff-prepare" in result.stdout


# ---------------------------------------------------------------- the layout


def test_do_writes_liftoffs_layout_and_the_queue(tmp_path):
    config_dir(tmp_path)
    out = prepare(tmp_path, "sweep", "--do", "--script", "sweep/default.yaml")
    exp_dir = only_experiment(tmp_path)
    name = os.path.basename(exp_dir)
    assert name.endswith("_sweep")
    stamp = name[:-len("_sweep")]
    datetime.datetime.strptime(stamp, "%Y%b%d-%H%M%S")
    assert "wrote results/%s: 3 variations, 3 runs" % name in out
    assert "liftoff sweep/default.yaml results/%s" % name in out
    assert "cooperate-run results/%s" % name in out

    # nothing else under results: no temporary folder left behind
    assert os.listdir(str(tmp_path / "results")) == [name]

    with open(os.path.join(exp_dir, ".cooperate", "experiment.json")) as handle:
        meta = json.load(handle)
    assert meta["version"] == 1
    assert meta["name"] == "sweep"
    assert meta["timestamp"] == stamp
    assert isinstance(meta["created"], float)
    assert meta["config_path"] == str(tmp_path / "sweep")
    assert meta["script"] == str(tmp_path / "sweep" / "default.yaml")
    assert meta["runs_no"] == 1
    assert meta["variables"] == {"model.name": ["mlp", "cnn"], "optim.lr": [0.1, 0.01]}
    assert experiment.load_meta(exp_dir) == meta
    assert experiment.is_experiment(exp_dir)

    # liftoff's order: the last key first, the first variable slowest
    folders = ["0000_optim.lr_0.1__model.name_mlp", "0001_optim.lr_0.1__model.name_cnn",
               "0002_optim.lr_0.01__model.name_mlp"]
    assert sorted(f for f in os.listdir(exp_dir) if f[0].isdigit()) == folders
    assert sorted(f for f in os.listdir(exp_dir) if not f[0].isdigit()) == [
        ".__experiment", ".cooperate"]
    text, entries = read_queue(exp_dir)
    assert text.startswith("[\n  {") and text.endswith("}\n]\n")
    assert len(text.splitlines()) == len(entries) + 2  # one entry a line
    assert [e["run"] for e in entries] == [f + "/0" for f in folders]
    expected = [
        {"model": {"name": "mlp", "hidden": 64}, "optim": {"name": "sgd", "lr": 0.1}, "seed": 0},
        {"model": {"name": "cnn", "hidden": 64}, "optim": {"name": "sgd", "lr": 0.1}, "seed": 0},
        {"model": {"name": "mlp", "hidden": 64}, "optim": {"name": "sgd", "lr": 0.01}, "seed": 0},
    ]
    assert [e["cfg"] for e in entries] == expected
    titles = ["optim.lr=0.1; model.name=mlp", "optim.lr=0.1; model.name=cnn",
              "optim.lr=0.01; model.name=mlp"]
    arguments = [{"optim": {"lr": 0.1}, "model": {"name": "mlp"}},
                 {"optim": {"lr": 0.1}, "model": {"name": "cnn"}},
                 {"optim": {"lr": 0.01}, "model": {"name": "mlp"}}]
    for index, (entry, title) in enumerate(zip(entries, titles)):
        path = experiment.cfg_path(exp_dir, entry["run"])
        assert path == os.path.join(exp_dir, entry["run"], "cfg.yaml")
        with open(path) as handle:
            cfg = yaml.safe_load(handle)
        assert cfg.pop("out_dir") == os.path.join(exp_dir, entry["run"])
        assert cfg.pop("run_id") == 0
        assert cfg.pop("cfg_id") == index
        assert cfg.pop("title") == title
        assert cfg.pop("full_title") == "%s_%s" % (name, title)
        assert cfg.pop("experiment_arguments") == arguments[index]
        assert cfg == entry["cfg"]
        assert sorted(os.listdir(os.path.dirname(path))) == [".__leaf", "cfg.yaml"]
        variation = os.path.dirname(os.path.dirname(path))
        with open(os.path.join(variation, ".__cfg_hash")) as handle:
            assert handle.read() == grid.cfg_hash(entry["cfg"])


def test_runs_no_3_orders_the_queue_by_run_then_variation(tmp_path):
    config_dir(tmp_path)
    prepare(tmp_path, "sweep", "--do", "--runs-no", "3", "--name", "three")
    exp_dir = only_experiment(tmp_path)
    assert exp_dir.endswith("_three")
    _, entries = read_queue(exp_dir)
    runs = [e["run"] for e in entries]
    folders = sorted(f for f in os.listdir(exp_dir) if f[0].isdigit())
    assert runs == ["%s/%d" % (f, r) for r in range(3) for f in folders]
    for f in folders:
        assert sorted(os.listdir(os.path.join(exp_dir, f))) == [".__cfg_hash", "0", "1", "2"]
        for r in range(3):
            with open(os.path.join(exp_dir, f, str(r), "cfg.yaml")) as handle:
                cfg = yaml.safe_load(handle)
            assert cfg["run_id"] == r
            assert cfg["full_title"] == "%s_%s" % (os.path.basename(exp_dir), cfg["title"])
    assert experiment.load_meta(exp_dir)["runs_no"] == 3


def test_one_yaml_file_is_one_variation_with_lists_as_values(tmp_path):
    (tmp_path / "single.yaml").write_text("layers: [1, 2, 3]\nlr: 0.1\ngone: delete\n")
    out = prepare(tmp_path, "single.yaml", "--do", "--runs-no", "2")
    assert "one configuration" in out
    exp_dir = only_experiment(tmp_path)
    assert exp_dir.endswith("_single")
    _, entries = read_queue(exp_dir)
    assert [e["run"] for e in entries] == ["0000_single/0", "0000_single/1"]
    assert entries[0]["cfg"] == {"layers": [1, 2, 3], "lr": 0.1}
    with open(os.path.join(exp_dir, "0000_single", "1", "cfg.yaml")) as handle:
        cfg = yaml.safe_load(handle)
    assert cfg["layers"] == [1, 2, 3] and cfg["title"] == "single" and cfg["run_id"] == 1


def test_config_keys_named_like_the_added_fields_are_replaced(tmp_path):
    (tmp_path / "c.yaml").write_text("out_dir: somewhere\ntitle: mine\nx: 1\n")
    prepare(tmp_path, "c.yaml", "--do")
    exp_dir = only_experiment(tmp_path)
    _, entries = read_queue(exp_dir)
    assert entries[0]["cfg"] == {"out_dir": "somewhere", "title": "mine", "x": 1}
    with open(experiment.cfg_path(exp_dir, entries[0]["run"])) as handle:
        cfg = yaml.safe_load(handle)
    assert cfg["out_dir"] == os.path.join(exp_dir, "0000_c", "0")
    assert cfg["title"] == "c" and cfg["x"] == 1


# ---------------------------------------------------------------- append


def test_append_adds_only_new_variations_and_keeps_old_entries_first(tmp_path):
    path = config_dir(tmp_path)
    prepare(tmp_path, "sweep", "--do", "--runs-no", "2")
    exp_dir = only_experiment(tmp_path)
    old_text, old_entries = read_queue(exp_dir)
    old_tree = files_under(exp_dir)

    # the same grid again: nothing to add, nothing changes
    out = prepare(tmp_path, "sweep", "--append-to", exp_dir, "--do")
    assert "0 new variations, 3 already there; 0 new runs" in out
    assert read_queue(exp_dir)[0] == old_text

    # a second file: one variation the experiment has, two it has not
    (path / "config_more.yaml").write_text("seed: [0, 1, 2]\n")
    out = prepare(tmp_path, "sweep", "--append-to", os.path.basename(exp_dir))
    assert "would add to" in out and "2 new variations" in out
    assert read_queue(exp_dir)[0] == old_text  # a dry run
    assert files_under(exp_dir) == old_tree
    out = prepare(tmp_path, "sweep", "--append-to", exp_dir, "--do")
    # (seed=0 is a duplicate of the first file's first variation: dropped)
    assert "2 new variations, 3 already there; 4 new runs (indexes 0003..0004)" in out

    text, entries = read_queue(exp_dir)
    old_body = old_text.rstrip()[:-1].rstrip()
    assert text.startswith(old_body + ",\n")  # old entries byte for byte, first
    assert entries[:len(old_entries)] == old_entries
    new = [e["run"] for e in entries[len(old_entries):]]
    assert new == ["0003_seed_1/0", "0004_seed_2/0", "0003_seed_1/1", "0004_seed_2/1"]
    assert entries[-1]["cfg"]["seed"] == 2
    for entry in entries:
        with open(experiment.cfg_path(exp_dir, entry["run"])) as handle:
            cfg = yaml.safe_load(handle)
        assert cfg["out_dir"] == os.path.join(exp_dir, entry["run"])
        assert cfg["cfg_id"] == int(entry["run"][:4])
    meta = experiment.load_meta(exp_dir)
    assert meta["variables"]["seed"] == [0, 1, 2]
    assert meta["runs_no"] == 2
    assert not [n for n in os.listdir(exp_dir) if n.startswith(".") and "tmp" in n]


def test_append_with_more_runs_adds_runs_to_existing_variations(tmp_path):
    config_dir(tmp_path)
    prepare(tmp_path, "sweep", "--do")
    exp_dir = only_experiment(tmp_path)
    old_text, old_entries = read_queue(exp_dir)
    out = prepare(tmp_path, "sweep", "--append-to", exp_dir, "--runs-no", "2", "--do")
    assert "0 new variations, 3 already there; 3 new runs" in out
    text, entries = read_queue(exp_dir)
    assert text.startswith(old_text.rstrip()[:-1].rstrip())
    assert [e["run"] for e in entries[3:]] == [e["run"][:-1] + "1" for e in old_entries]
    for entry in entries[3:]:
        with open(experiment.cfg_path(exp_dir, entry["run"])) as handle:
            cfg = yaml.safe_load(handle)
        assert cfg["run_id"] == 1
        assert cfg["full_title"] == "%s_%s" % (os.path.basename(exp_dir), cfg["title"])
    assert experiment.load_meta(exp_dir)["runs_no"] == 2


# ---------------------------------------------------------------- names


def test_values_with_slashes_and_dots_cannot_escape(tmp_path):
    config_dir(tmp_path, config="""\
        model:
          name: ["../../../escaped", "a/b", "..", ".hidden", "/abs"]
        """)
    prepare(tmp_path, "sweep", "--do", "--name", "../up")
    results = tmp_path / "results"
    exp_dir = only_experiment(tmp_path)
    assert os.path.dirname(exp_dir) == str(results)
    assert set(os.listdir(str(tmp_path))) == {"sweep", "results"}
    folders = sorted(f for f in os.listdir(exp_dir) if f[0].isdigit())
    assert len(folders) == 5
    for folder in folders:
        # liftoff's names: a "/" is "_"; ".." may stay, after the index
        assert "/" not in folder and folder[:4].isdigit() and folder[4] == "_"
        assert os.path.realpath(os.path.join(exp_dir, folder)) == os.path.join(exp_dir, folder)
        assert os.path.isdir(os.path.join(exp_dir, folder, "0"))
    _, entries = read_queue(exp_dir)
    assert sorted(e["cfg"]["model"]["name"] for e in entries) == sorted(
        ["../../../escaped", "a/b", "..", ".hidden", "/abs"])
    with pytest.raises(UserError):
        experiment.cfg_path(exp_dir, "../x/0")


def test_two_prepares_in_the_same_second_get_distinct_folders(tmp_path):
    g = grid.load_config_dir(str(config_dir(tmp_path)))
    results = str(tmp_path / "results")
    first = experiment.create(g, results, timestamp_fmt="fixed")
    second = experiment.create(g, results, timestamp_fmt="fixed")
    assert os.path.basename(first) == "fixed_sweep"
    assert os.path.basename(second) == "fixed_sweep-1"
    assert experiment.list_experiments(results) == [first, second]
    assert experiment.find("sweep", results) == second
    assert experiment.find(first, results) == first
    with pytest.raises(UserError):
        experiment.find("nothing-like-it", results)
    assert experiment.list_experiments(str(tmp_path / "nowhere")) == []


def test_set_script_and_single(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "default.yaml").write_text("a: 1\nb: {c: 2, d: 3}\n")
    (configs / "diff.yaml").write_text("b: {c: 5}\n")
    script = tmp_path / "main.py"
    script.write_text("")
    exp_dir = experiment.single(str(configs / "diff.yaml"), str(tmp_path / "r"),
                                default=str(configs / "default.yaml"), script=str(script))
    assert experiment.load_meta(exp_dir)["script"] == str(script)
    _, entries = read_queue(exp_dir)
    assert entries == [{"run": "0000_diff/0", "cfg": {"a": 1, "b": {"c": 5, "d": 3}}}]
    other = tmp_path / "other.py"
    other.write_text("")
    experiment.set_script(exp_dir, str(other))
    assert experiment.load_meta(exp_dir)["script"] == str(other)
    with pytest.raises(UserError):
        experiment.set_script(exp_dir, str(tmp_path / "missing.py"))


def test_a_failure_while_writing_leaves_nothing(tmp_path, monkeypatch):
    g = grid.load_config_dir(str(config_dir(tmp_path)))
    results = tmp_path / "results"
    calls = []
    real = experiment._write_runs

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", "x")
        return real(*args, **kwargs)

    monkeypatch.setattr(experiment, "_write_runs", failing)
    with pytest.raises(UserError) as info:
        experiment.create(g, str(results))
    assert "No space left on device" in str(info.value)
    assert os.listdir(str(results)) == []


def test_large_experiments_are_written_by_helper_processes(tmp_path, monkeypatch):
    if not hasattr(os, "fork") or threading.active_count() > 1:
        pytest.skip("no fork here")
    g = grid.load_config_dir(str(config_dir(tmp_path, config="""\
        model:
          hidden: [1, 2, 3, 4, 5, 6, 7]
        seed: [0, 1, 2]
        """)))
    monkeypatch.setattr(experiment, "PARALLEL_MIN", 1)
    monkeypatch.setattr(experiment, "_processes", lambda count: 3)
    results = tmp_path / "results"
    exp_dir = experiment.create(g, str(results), runs_no=2)
    _, entries = read_queue(exp_dir)
    assert len(entries) == 42
    for entry in entries:
        with open(experiment.cfg_path(exp_dir, entry["run"])) as handle:
            cfg = yaml.safe_load(handle)
        assert cfg["out_dir"] == os.path.join(exp_dir, entry["run"])
        assert cfg["model"] == entry["cfg"]["model"] and cfg["seed"] == entry["cfg"]["seed"]

    # a helper that fails: the whole experiment is refused, nothing is left
    parent = os.getpid()
    real = experiment._write_runs

    def failing_in_helpers(*args, **kwargs):
        if os.getpid() != parent:
            raise OSError(5, "Input/output error", "y")
        return real(*args, **kwargs)

    monkeypatch.setattr(experiment, "_write_runs", failing_in_helpers)
    with pytest.raises(UserError) as info:
        experiment.create(g, str(results), runs_no=2)
    assert "Input/output error" in str(info.value)
    assert os.listdir(str(results)) == [os.path.basename(exp_dir)]


# ---------------------------------------------------------------- bad input


BAD = [
    ("scalar leaf", {"config": "model:\n  name: mlp\n"},
     "model.name: mlp is not a list; provide a list of values"),
    ("yaml syntax", {"config": "model:\n  name: [mlp, cnn\n"}, "config.yaml:3:1: YAML error"),
    ("missing variable", {"config": "lr: [1, 2]\nseed: [0]\nliftoff:\n"
                                    "  - {vars: [lr, nope], '!!': [[1, 0]]}\n"},
     "'nope' matches no variable"),
    ("ambiguous variable", {"config": "a: {lr: [1, 2]}\nb: {lr: [3]}\nliftoff:\n"
                                      "  - {vars: [lr, b.lr], '!!': [[1, 3]]}\n"},
     "'lr' is ambiguous"),
    ("unknown operator", {"config": "lr: [1, 2]\nseed: [0]\nliftoff:\n"
                                    "  - {vars: [lr, seed], '=>': [[1, 0]]}\n"},
     "unknown operator '=>'"),
    ("empty grid", {"config": "{}\n"}, "no variables"),
    ("ruled out", {"config": "lr: [1]\nseed: [0]\nliftoff:\n"
                             "  - {vars: [lr, seed], '!!': [[1, 0]]}\n"}, "rule out all"),
]


@pytest.mark.parametrize("what,files,message", BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_refused_with_one_line_and_nothing_written(tmp_path, what, files, message):
    config_dir(tmp_path, **files)
    check_refused(tmp_path, ["sweep", "--do"], message)


def check_refused(tmp_path, args, message):
    before = files_under(tmp_path)
    result = run("prepare", *args, cwd=tmp_path)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert message in lines[0], lines[0]
    assert lines[0].startswith("cooperate prepare: error: ")
    assert files_under(tmp_path) == before
    return lines[0]


def test_missing_default_yaml(tmp_path):
    config_dir(tmp_path, default=None)
    check_refused(tmp_path, ["sweep", "--do"], "missing default.yaml")


def test_missing_config_path(tmp_path):
    check_refused(tmp_path, ["nowhere", "--do"], "nowhere: no such file or folder")


def test_missing_script(tmp_path):
    config_dir(tmp_path)
    check_refused(tmp_path, ["sweep", "--do", "--script", "nope.py"], "nope.py: no such script")


def test_append_to_something_that_is_not_an_experiment(tmp_path):
    config_dir(tmp_path)
    (tmp_path / "results" / "plain").mkdir(parents=True)
    check_refused(tmp_path, ["sweep", "--do", "--append-to", "results/plain"],
                  "results/plain: not an experiment")
    check_refused(tmp_path, ["sweep", "--do", "--append-to", "zzz"], "no experiment matches 'zzz'")


def test_bad_timestamp_format_and_runs_no(tmp_path):
    config_dir(tmp_path)
    check_refused(tmp_path, ["sweep", "--do", "--timestamp-fmt", "%Y/%m"], "must not contain '/'")
    check_refused(tmp_path, ["sweep", "--do", "--runs-no", "0"], "expected a whole number >= 1")


def test_the_liftoff_prepare_name_works(tmp_path):
    import subprocess
    import sys

    from util import TOP

    config_dir(tmp_path)
    result = subprocess.run([sys.executable, os.path.join(TOP, "bin", "liftoff-prepare"), "sweep"],
                            cwd=str(tmp_path), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "variations: 3" in result.stdout


# ---------------------------------------------------------------- cfgyaml


TRICKY = [
    "", " ", "a ", " a", "yes", "No", "ON", "off", "y", "n", "Y", "true", "False", "null",
    "Null", "~", "1", "-1", "1.0", "1e5", "1e-05", ".5", "0x1f", "0o17", "0b101", "1_000",
    "12:30:00", "2001-12-14", "2001-12-14t21:59:43.10-05:00", ".inf", "-.inf", ".nan", "NaN",
    "-", "- a", "a: b", "a:b", "a #b", "#b", "?", "? a", "!", "!!str", "&a", "*a", "|", ">",
    "%", "@", "`", "'", '"', "a'b", 'a"b', "\\", "a\\nb", "\n", "a\nb", "\t", "a\tb", "\r",
    "\x00", "\x07", "\x1b", "\x7f", "\x85", "\xa0", "\u2028", "\u2029", "\ufeff", "\ufffe",
    "\ud800", "\U0001f600", "é", "日本", "[a]", "{a}", "a,b", "a, b", "=", "<<", "_", "__x",
    "/", "/a/b c", "a/b", "a b", "a  b", "a=1; b=2 (run 0)", "---", "...", "--- a", "x" * 1500,
    0, 1, -1, 10 ** 40, -(10 ** 40), True, False, None, 0.0, -0.0, 0.1, 1e-05, 1e16, 1e300,
    5e-324, -2.5, float("inf"), float("-inf"), float("nan"),
    [], {}, [[]], [{}], [[], {}], {"a": []}, {"a": {}}, [1, [2, [3, [4]]]],
    [{"a": 1, "b": [1, 2, {"c": [{}]}]}], {"": 1}, {None: 1, True: 2, 3: 3, 1.5: 4},
    {"yes": "no", "1": 1, 1: "1"}, {"x" * 1200: {"y" * 1100: [1, {"z": 2}]}},
    datetime.date(2020, 2, 29), datetime.datetime(2020, 1, 2, 3, 4, 5, 600000),
    datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc), b"\x00\xffbytes",
    {1, "a", None}, list(range(40)), ["a b"] * 30,
]


def same(a, b):
    """Equal, with NaN equal to NaN and types compared (True is not 1)."""
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, dict):
        return (isinstance(b, dict) and set(a) == set(b)
                and all(same(v, b[k]) for k, v in a.items()))
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("value", TRICKY, ids=range(len(TRICKY)))
def test_cfgyaml_round_trips(value):
    for data in (value, {"k": value}, [value], {"k": [value, {"j": value}]}, [[value]]):
        text = cfgyaml.dumps(data)
        assert same(yaml.safe_load(text), data), text
        assert cfgyaml.dump_bytes(data) == text.encode("utf-8")
    if (isinstance(value, (str, int, float, bool)) or value is None) and value == value:
        keyed = {value: [value], "next": 1}
        assert same(yaml.safe_load(cfgyaml.dumps(keyed)), keyed)


def test_cfgyaml_all_tricky_values_in_one_config():
    data = {"values": TRICKY, "by_key": dict(("k%d" % i, v) for i, v in enumerate(TRICKY))}
    assert same(yaml.safe_load(cfgyaml.dumps(data)), data)


def test_cfgyaml_writes_what_liftoff_wrote():
    data = {"model": {"name": "mlp", "layers": [1, 2]}, "lr": 1e-05,
            "opt": [{"b": "x y", "a": 1}], "tag": "yes", "none": None, "empty": {},
            "title": "; ".join("optim.lr_%d=0.%d" % (i, i) for i in range(12))}
    text = cfgyaml.dumps(data)
    # liftoff: yaml.safe_dump(cfg, default_flow_style=False)
    assert text == yaml.safe_dump(data, default_flow_style=False)
    assert text.startswith(textwrap.dedent("""\
        empty: {}
        lr: 1.0e-05
        model:
          layers:
          - 1
          - 2
          name: mlp
        none: null
        opt:
        - a: 1
          b: x y
        tag: 'yes'
        title: optim.lr_0=0.0; optim.lr_1=0.1; optim.lr_2=0.2; optim.lr_3=0.3; optim.lr_4=0.4;
          optim.lr_5=0.5;"""))


def test_cfgyaml_text_is_pyyamls_for_generated_configs():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    words = st.text(alphabet="ab =;.:#-_/()1e+'", min_size=1, max_size=12)
    scalars = (st.none() | st.booleans() | st.integers() | st.floats() | words
               | st.lists(words, max_size=30).map(" ".join))
    keys = st.booleans() | st.integers() | words
    data = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(keys, inner, max_size=4), max_leaves=20)

    @hypothesis.settings(max_examples=400, deadline=None)
    @hypothesis.given(st.dictionaries(words, data, min_size=1, max_size=5))
    def check(value):
        assert cfgyaml.dumps(value) == yaml.safe_dump(value, default_flow_style=False)

    check()


def test_cfgyaml_round_trips_generated_configs():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    scalars = (st.none() | st.booleans() | st.integers() | st.floats()
               | st.text() | st.text(alphabet="abyesnoYESNO01.:-_# /e+~'\"\n", max_size=8))
    keys = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
    data = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                        | st.dictionaries(keys, inner, max_size=5), max_leaves=25)

    @hypothesis.settings(max_examples=400, deadline=None)
    @hypothesis.given(data)
    def check(value):
        assert same(yaml.safe_load(cfgyaml.dumps(value)), value)

    check()
