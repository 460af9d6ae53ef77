"""collect: the real command on real experiments and lists; results files in
JSON, YAML and CSV, missing and malformed; --where; the Python API, from the
checkout and through the archive; bad input."""

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from cooperate.results.collect import rows
from util import TOP, run, status, write_list

DEFAULT = "lr: 0.1\nseed: 0\nmodel:\n  name: mlp\n  depth: 2\n"
CONFIG = "lr: [0.1, 0.01]\nmodel:\n  name: [mlp, cnn, rnn]\n"

# writes results.json in its run folder: acc = lr * 10, nested losses; no
# results for cnn, so that some cells are empty
SCRIPT = """\
import json, os
from liftoff import parse_opts
opts = parse_opts()
if opts.model.name != "cnn":
    with open(os.path.join(opts.out_dir, "results.json"), "w") as f:
        json.dump({"acc": opts.lr * 10, "loss": {"train": 0.5, "val": 0.75}}, f)
"""


def ok(*args, cwd=None):
    result = run(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def exp(tmp_path):
    """A drained 2 x 3 experiment (runs with model.name cnn wrote nothing)."""
    configs = tmp_path / "cfg"
    configs.mkdir()
    (configs / "default.yaml").write_text(DEFAULT)
    (configs / "config.yaml").write_text(CONFIG)
    (tmp_path / "train.py").write_text(SCRIPT)
    ok("prepare", "cfg", "--do", "--name", "sweep", "--script", "train.py", cwd=str(tmp_path))
    (folder,) = [p for p in (tmp_path / "results").iterdir()]
    ok("run", str(folder), "-q", cwd=str(tmp_path))
    return folder


def run_folder(exp, lr, name):
    with open(str(exp / ".cooperate" / "queue.json")) as f:
        for entry in json.load(f):
            if entry["cfg"]["lr"] == lr and entry["cfg"]["model"]["name"] == name:
                return exp / entry["run"]
    raise AssertionError("no run %s %s" % (lr, name))


def test_experiment_to_csv(exp):
    out = ok("collect", str(exp)).stdout
    header = out.splitlines()[0].split(",")
    assert header == ["id", "run", "status", "outcome", "attempts", "host", "duration", "lr",
                      "model.name", "acc", "loss.train", "loss.val"]
    table = read_csv(out)
    assert len(table) == 6
    report = status(str(exp))
    assert report["counts"]["done"] == 6
    for row in table:
        assert row["status"] == "done" and row["attempts"] == "1"
        assert row["host"] and float(row["duration"]) >= 0
        assert (exp / row["run"] / "cfg.yaml").is_file()
        if row["model.name"] == "cnn":
            assert row["acc"] == row["loss.train"] == row["loss.val"] == ""
        else:
            assert float(row["acc"]) == pytest.approx(float(row["lr"]) * 10)
            assert (row["loss.train"], row["loss.val"]) == ("0.5", "0.75")
    assert sorted((r["lr"], r["model.name"]) for r in table) == sorted(
        (lr, name) for lr in ("0.1", "0.01") for name in ("mlp", "cnn", "rnn"))


def test_experiment_to_jsonl_and_file(exp, tmp_path):
    out = tmp_path / "sweep.jsonl"
    result = ok("collect", str(exp), "--format", "jsonl", "-o", str(out))
    assert result.stdout == ""
    table = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(table) == 6
    assert list(table[0]) == ["id", "run", "status", "outcome", "attempts", "host", "duration",
                              "lr", "model.name", "acc", "loss.train", "loss.val"]
    for row in table:
        assert row["attempts"] == 1 and isinstance(row["duration"], float)
        if row["model.name"] == "cnn":
            assert row["acc"] is None
        else:
            assert row["acc"] == pytest.approx(row["lr"] * 10)
    assert not [n for n in os.listdir(str(tmp_path)) if n.endswith(".tmp")]


def test_by_name_under_results_path(exp, tmp_path):
    out = ok("collect", "sweep", "--results-path", str(tmp_path / "results")).stdout
    assert len(read_csv(out)) == 6


def test_malformed_results_warn_and_keep_the_row(exp):
    (run_folder(exp, 0.1, "mlp") / "results.json").write_text("{not json")
    (run_folder(exp, 0.01, "mlp") / "results.json").write_text("[1, 2]")
    result = run("collect", str(exp))
    assert result.returncode == 0, result.stderr
    table = read_csv(result.stdout)
    assert len(table) == 6
    mlp = [r for r in table if r["model.name"] == "mlp"]
    assert [r["acc"] for r in mlp] == ["", ""]
    warnings = result.stderr.splitlines()
    assert len(warnings) == 2
    for lr in (0.1, 0.01):
        path = str(run_folder(exp, lr, "mlp") / "results.json")
        assert any(path in w and "warning" in w for w in warnings)


def test_yaml_and_csv_results(exp):
    for name in ("mlp", "cnn", "rnn"):
        folder = run_folder(exp, 0.1, name)
        (folder / "metrics.yaml").write_text("acc: 0.5\nnote: %s\nsub:\n  x: true\n" % name)
        (folder / "log.csv").write_text("step,acc,loss\n1,0.25,3\n2,0.75,1.5\n")
    table = read_csv(ok("collect", str(exp), "--results-file", "metrics.yaml").stdout)
    got = {r["model.name"]: r for r in table if r["lr"] == "0.1"}
    assert got["cnn"]["acc"] == "0.5" and got["cnn"]["note"] == "cnn" and got["cnn"]["sub.x"] == "true"
    assert all(r["acc"] == "" for r in table if r["lr"] == "0.01")
    table = rows(str(exp), results_file="log.csv")
    got = [r for r in table if r["lr"] == 0.1]
    assert len(got) == 3
    assert all((r["step"], r["acc"], r["loss"]) == (2, 0.75, 1.5) for r in got)


def test_where_on_parameters_and_results(exp):
    table = read_csv(ok("collect", str(exp), "--where", "lr=0.1", "--where",
                        "model.name=rnn").stdout)
    assert [(r["lr"], r["model.name"]) for r in table] == [("0.1", "rnn")]
    table = read_csv(ok("collect", str(exp), "--where", "acc=0.1").stdout)
    assert sorted(r["model.name"] for r in table) == ["mlp", "rnn"]
    assert all(r["lr"] == "0.01" for r in table)
    # a key that does not vary is no column but can still be asked for
    assert len(read_csv(ok("collect", str(exp), "--where", "model.depth=2").stdout)) == 6
    assert read_csv(ok("collect", str(exp), "--where", "status=failed").stdout) == []
    assert len(rows(str(exp), where=["loss.val=0.75"])) == 4
    assert len(rows(str(exp), where={"model.name": "cnn"})) == 2


def test_plain_list_with_results_dir(tmp_path):
    write_list(str(tmp_path / "jobs.json"), [
        "mkdir -p out/a && echo '{\"score\": 1}' > out/a/r.json",
        {"cmd": "true", "name": "nothing"},
        ["sh", "-c", "mkdir -p out/c && echo 'oops' > out/c/r.json"],
    ])
    entries = json.loads((tmp_path / "jobs.json").read_text())
    entries[0] = {"cmd": entries[0], "shell": True}
    write_list(str(tmp_path / "jobs.json"), entries)
    ok("run", "jobs.json", "-q", cwd=str(tmp_path))
    # no --results-dir: no results read, the command as a column
    table = read_csv(ok("collect", "jobs.json", cwd=str(tmp_path)).stdout)
    assert list(table[0]) == ["id", "status", "outcome", "attempts", "host", "duration", "command"]
    assert table[1]["command"] == "true"
    assert table[2]["command"] == "sh -c 'mkdir -p out/c && echo '\"'\"'oops'\"'\"' > out/c/r.json'"
    # results by id: rename the output folders after their entries' ids
    ids = [r["id"] for r in table]
    os.rename(str(tmp_path / "out" / "a"), str(tmp_path / "out" / ids[0]))
    os.rename(str(tmp_path / "out" / "c"), str(tmp_path / "out" / ids[2]))
    result = run("collect", "jobs.json", "--results-dir", "out/{id}/r.json", cwd=str(tmp_path))
    assert result.returncode == 0
    table = read_csv(result.stdout)
    assert [r["score"] for r in table] == ["1", "", ""]
    assert "out/%s/r.json" % ids[2] in result.stderr and len(result.stderr.splitlines()) == 1
    # a folder pattern holds --results-file
    result = run("collect", "jobs.json", "--results-dir", "out/{id}", "--results-file", "r.json",
                 "--where", "score=1", cwd=str(tmp_path))
    assert [r["id"] for r in read_csv(result.stdout)] == ids[:1]


def test_not_run_yet(tmp_path):
    write_list(str(tmp_path / "l.json"), [["true"], ["false"]])
    table = rows(str(tmp_path / "l.json"))
    assert [(r["status"], r["attempts"], r["host"], r["duration"]) for r in table] == [
        ("pending", 0, None, None)] * 2
    assert run("run", "l.json", "-q", cwd=str(tmp_path)).returncode == 1
    assert [(r["status"], r["outcome"]) for r in rows(str(tmp_path / "l.json"))] == [
        ("done", "done"), ("failed", "failed")]


def test_python_api_through_the_archive(exp, tmp_path):
    archive = str(tmp_path / "c.pyz")
    subprocess.run([sys.executable, os.path.join(TOP, "build.py"), "-o", archive], check=True,
                   capture_output=True)
    snippet = ("import sys, json\n"
               "from cooperate.results.collect import rows\n"
               "from liftoff import collect_results\n"
               "got = rows(sys.argv[1], where=['model.name=mlp'])\n"
               "assert collect_results(sys.argv[1], where=['model.name=mlp']) == got\n"
               "print(json.dumps(got))\n")
    env = dict(os.environ, PYTHONPATH=archive)
    result = subprocess.run([sys.executable, "-s", "-S", "-c", snippet, str(exp)], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert sorted(r["lr"] for r in got) == [0.01, 0.1]
    assert all(r["acc"] == pytest.approx(r["lr"] * 10) for r in got)


@pytest.mark.parametrize("args, message", [
    (["missing.json"], "missing.json: no such list file"),
    (["{exp}", "--where", "lr"], "expected KEY.PATH=VALUE"),
    (["{exp}", "--where", "nosuch=1"], "--where nosuch: no such column"),
    (["{exp}", "--format", "xml"], "invalid choice"),
    (["{exp}", "--results-dir", "out/r.json"], "needs {id}"),
    (["{exp}", "--results-file", "a/b.json"], "expected a file name"),
    ([], "the following arguments are required"),
])
def test_bad_input(exp, tmp_path, args, message):
    result = run("collect", *[a.replace("{exp}", str(exp)) for a in args], cwd=str(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr


def test_link(exp):
    result = subprocess.run([sys.executable, os.path.join(TOP, "bin", "cooperate-collect"),
                             str(exp), "--where", "model.name=cnn"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(read_csv(result.stdout)) == 2


# -- one row per variation (--aggregate) ---------------------------------------

# acc = lr * 10 + run_id / 10 (three runs per variation: lr * 10 + 0, 0.1,
# 0.2), loss constant; cnn writes nothing; the text "v1" is no number
SEED_SCRIPT = """\
import json, os
from liftoff import parse_opts
opts = parse_opts()
if opts.model.name != "cnn":
    with open(os.path.join(opts.out_dir, "results.json"), "w") as f:
        json.dump({"acc": opts.lr * 10 + opts.run_id / 10, "loss": 0.5, "tag": "v1"}, f)
"""


def drained_experiment(tmp_path, config, runs_no, script=SEED_SCRIPT):
    configs = tmp_path / "cfg"
    configs.mkdir()
    (configs / "default.yaml").write_text(DEFAULT)
    (configs / "config.yaml").write_text(config)
    (tmp_path / "train.py").write_text(script)
    ok("prepare", "cfg", "--do", "--name", "sweep", "--script", "train.py", "--runs-no",
       str(runs_no), cwd=str(tmp_path))
    (folder,) = [p for p in (tmp_path / "results").iterdir()]
    ok("run", str(folder), "-q", cwd=str(tmp_path))
    return folder


def test_aggregate_an_experiment_per_variation_folder(tmp_path):
    exp = drained_experiment(tmp_path, CONFIG, 3)
    out = ok("collect", str(exp), "--aggregate").stdout
    table = read_csv(out)
    assert out.splitlines()[0].split(",") == [
        "variation", "lr", "model.name", "runs", "status",
        "duration.mean", "duration.std", "duration.n",
        "acc.mean", "acc.std", "acc.n", "loss.mean", "loss.std", "loss.n"]
    assert len(table) == 6
    for row in table:
        # one variation folder, holding the group's three runs
        folders = {os.path.dirname(r["run"]) for r in read_csv(ok("collect", str(exp)).stdout)
                   if (r["lr"], r["model.name"]) == (row["lr"], row["model.name"])}
        assert folders == {row["variation"]} and (exp / row["variation"]).is_dir()
        assert (row["runs"], row["status"], row["duration.n"]) == ("3", "3 done", "3")
        if row["model.name"] == "cnn":
            assert (row["acc.mean"], row["acc.std"], row["acc.n"]) == ("", "", "0")
            continue
        # lr 0.1: 1.0, 1.1, 1.2000000000000002; lr 0.01: 0.1, 0.2, 0.30000000000000004 as
        # the script wrote them: the mean and deviation without binary noise
        assert (row["acc.mean"], row["acc.std"], row["acc.n"]) == (
            {"0.1": "1.1", "0.01": "0.2"}[row["lr"]], "0.1", "3")
        assert (row["loss.mean"], row["loss.std"], row["loss.n"]) == ("0.5", "0.0", "3")
    # the runs themselves keep the values as written
    runs = read_csv(ok("collect", str(exp), "--where", "lr=0.01", "--where", "model.name=mlp").stdout)
    assert sorted(r["acc"] for r in runs) == ["0.1", "0.2", "0.30000000000000004"]
    # --where picks the runs first; JSON lines have numbers
    got = [json.loads(line) for line in ok("collect", str(exp), "--aggregate", "--format", "jsonl",
                                           "--where", "model.name=rnn").stdout.splitlines()]
    assert [(r["lr"], r["runs"], r["acc.mean"], r["acc.n"]) for r in got] == [
        (0.1, 3, 1.1, 3), (0.01, 3, 0.2, 3)]
    assert got == rows(str(exp), where={"model.name": "rnn"}, aggregate=True)


def test_aggregate_over_a_seed_that_is_a_grid_variable(tmp_path):
    exp = drained_experiment(tmp_path, "lr: [0.1, 0.01]\nseed: [1, 2, 3]\n", 1)
    table = read_csv(ok("collect", str(exp), "--aggregate").stdout)
    # seed (the default --over) joins the variations that differ only in it
    assert [(r["lr"], r["runs"], len(r["variation"].split())) for r in table] == [
        ("0.1", "3", 3), ("0.01", "3", 3)]
    assert "seed" not in table[0]
    assert all("seed_%d_" % (i + 1) in folder and folder.endswith("lr_0.1")
               for i, folder in enumerate(table[0]["variation"].split()))
    # --over run_id alone: one row per variation folder, seed a column
    table = read_csv(ok("collect", str(exp), "--aggregate", "--over", "run_id").stdout)
    assert len(table) == 6 and all(r["runs"] == "1" for r in table)
    assert sorted((r["lr"], r["seed"]) for r in table) == sorted(
        (lr, s) for lr in ("0.1", "0.01") for s in ("1", "2", "3"))
    assert all(r["acc.std"] == "" and r["acc.n"] == "1" for r in table)
    # --over lr,seed: one group
    table = read_csv(ok("collect", str(exp), "--aggregate", "--over", "lr,seed").stdout)
    assert [(r["runs"], r["status"]) for r in table] == [("6", "6 done")]


WRITER = """\
import json, os, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
os.makedirs("out", exist_ok=True)
score = float(args["--lr"]) + float(args["--seed"]) / 10
with open(os.path.join("out", os.environ["COOPERATE_ENTRY"] + ".json"), "w") as f:
    json.dump({"score": score, "note": "seed %s" % args["--seed"]}, f)
"""


def test_aggregate_a_plain_list_over_seed(tmp_path):
    (tmp_path / "w.py").write_text(WRITER)
    entries = [[sys.executable, "w.py", "--lr", lr, "--seed", seed]
               for lr in ("0.1", "0.2") for seed in ("1", "2", "3")]
    write_list(str(tmp_path / "jobs.json"), entries)
    ok("run", "jobs.json", "-q", cwd=str(tmp_path))
    runs = read_csv(ok("collect", "jobs.json", "--results-dir", "out/{id}.json",
                       cwd=str(tmp_path)).stdout)
    # as the runs wrote them: 0.1 + 0.2 is 0.30000000000000004 in Python
    assert [r["score"] for r in runs[:3]] == ["0.2", "0.30000000000000004", "0.4"]
    out = ok("collect", "jobs.json", "--results-dir", "out/{id}.json", "--aggregate",
             cwd=str(tmp_path)).stdout
    assert out.splitlines()[0] == ("command,lr,runs,status,duration.mean,duration.std,"
                                   "duration.n,score.mean,score.std,score.n")
    table = read_csv(out)
    assert [(r["command"], r["lr"], r["runs"], r["status"]) for r in table] == [
        ("%s w.py --lr %s --seed {seed}" % (sys.executable, lr), lr, "3", "3 done")
        for lr in ("0.1", "0.2")]
    # statistics.mean would give 0.30000000000000004 and 0.4000000000000001
    assert [(r["score.mean"], r["score.std"], r["score.n"]) for r in table] == [
        ("0.3", "0.1", "3"), ("0.4", "0.1", "3")]
    # --over lr: one row per seed
    table = read_csv(ok("collect", "jobs.json", "--results-dir", "out/{id}.json", "--aggregate",
                        "--over", "lr", cwd=str(tmp_path)).stdout)
    assert [(r["seed"], r["runs"]) for r in table] == [("1", "2"), ("2", "2"), ("3", "2")]
    assert table[0]["command"] == "%s w.py --lr {lr} --seed 1" % sys.executable
    # nothing to average over: a warning says why
    result = run("collect", "jobs.json", "--aggregate", "--over", "fold", cwd=str(tmp_path))
    assert result.returncode == 0 and len(read_csv(result.stdout)) == 6
    assert "--over NAME" in result.stderr and "no parameter is named fold" in result.stderr
    # --over without --aggregate
    result = run("collect", "jobs.json", "--over", "seed", cwd=str(tmp_path))
    assert result.returncode == 2 and "--over goes with --aggregate" in result.stderr


def test_identical_entries_are_one_variation(tmp_path):
    write_list(str(tmp_path / "l.json"), [["true"]] * 3 + [["false"]])
    assert run("run", "l.json", "-q", cwd=str(tmp_path)).returncode == 1
    got = rows(str(tmp_path / "l.json"), aggregate=True)
    assert [(r["command"], r["runs"], r["status"], r["duration.n"]) for r in got] == [
        ("true", 3, "3 done", 3), ("false", 1, "1 failed", 1)]


def test_command_parameters():
    from cooperate.results.collect import command_parameters

    words = ["python", "-u", "main.py", "--lr", "0.1", "--bs=32", "--fp16", "--shift", "-2",
             "model.depth=3", "--name", "a b", "data.csv", "--last"]
    assert [(n, v) for n, v, _, _ in command_parameters(words)] == [
        ("lr", 0.1), ("bs", 32), ("fp16", True), ("shift", -2), ("model.depth", 3),
        ("name", "a b"), ("last", True)]


def test_summary_stats_are_exact_then_rounded_to_15_digits():
    import math
    import statistics

    from cooperate.results.collect import summary_stats

    assert statistics.mean([0.1, 0.2]) == 0.15000000000000002  # the noise we avoid
    assert summary_stats([0.1, 0.2]) == (0.15, 0.0707106781186548, 2)
    assert summary_stats([1.1, 1.2, 1.3]) == (1.2, 0.1, 3)
    # computed values have 15 significant digits, whatever the inputs
    assert summary_stats([0.30000000000000004] * 2) == (0.3, 0.0, 2)
    assert summary_stats([0.30000000000000004, 0.4, 0.5]) == (0.4, 0.1, 3)
    assert summary_stats([1, 2]) == (1.5, 0.707106781186548, 2)
    assert summary_stats([3, 5]) == (4.0, 1.4142135623731, 2)
    assert summary_stats([2]) == (2.0, None, 1)
    assert summary_stats([]) == (None, None, 0)
    mean, std, n = summary_stats([1.0, float("nan")])
    assert math.isnan(mean) and math.isnan(std) and n == 2
    assert summary_stats([1.0, float("inf")])[0] == float("inf")


def test_rows_sorted_in_chunks_on_disk_come_in_the_order_of_the_rows_sorted_whole():
    # --sort holds a chunk of rows at a time: the rest wait sorted in
    # temporary files, merged at the end; ties keep the rows' order
    from cooperate.results import best, collect

    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=2),
                       st.sampled_from([0.5, -0.5, float("inf"), float("-inf"), float("nan")]))
    rows = st.lists(st.fixed_dictionaries({"loss": values, "outcome": st.sampled_from(
        ["done", "pruned"]), "note": st.text(alphabet="a,\"\r\n", max_size=3)}), max_size=40)
    columns = ["loss", "outcome", "note"]

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(rows, st.sampled_from(["min", "max"]), st.integers(1, 5),
                      st.sampled_from([collect.csv_line, collect.jsonl_line]))
    def check(rows, mode, chunk, line):
        whole = "".join(line(columns, row)
                        for row in best.order(rows, "loss", mode, behind=best.pruned))
        assert "".join(collect.sorted_lines(columns, iter(rows), "loss", mode, line,
                                            behind=best.pruned, chunk=chunk)) == whole

    check()


def test_summary_stats_made_a_number_at_a_time_are_the_exact_ones():
    # --aggregate adds each run's number to its variation's sums as the runs
    # stream: scaled up when a number with a larger denominator comes later
    import math
    from fractions import Fraction

    from cooperate.results.collect import summary_stats

    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    numbers = st.one_of(st.integers(-10 ** 20, 10 ** 20),
                        st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False))

    def clean(x):
        return float("%.15g" % x)

    @hypothesis.settings(max_examples=400, deadline=None)
    @hypothesis.given(st.lists(numbers, min_size=2, max_size=20))
    def check(values):
        exact = [Fraction(v) for v in values]
        n = len(exact)
        mean = sum(exact) / n
        var = (n * sum(x * x for x in exact) - sum(exact) ** 2) / (n * (n - 1))
        assert summary_stats(values) == (clean(float(mean)), clean(math.sqrt(float(var))), n)

    check()


def test_the_first_entries_are_read_from_the_start_of_the_list(tmp_path):
    """first_entries parses only the start of the file (what a report shows
    of a long list), gives what entries() gives, and reads the whole list
    again when the file changed since its ids were read."""
    from cooperate.results.collect import first_entries, from_queue
    from cooperate.queue.listfile import CommandList
    from cooperate.queue.core import Queue

    entries = [["true"], " echo  'a b' ", {"cmd": ["true", "--seed", "1"], "name": "n"}, ["true"],
               ["echo", "\u00e9t\u00e9"], ["true"]]
    path = tmp_path / "l.json"
    path.write_text("[\n  " + ",\n\t ".join(json.dumps(e) for e in entries) + "\n]\n")
    commands = CommandList(str(path))
    for n in range(len(entries) + 2):
        assert first_entries(commands, n) == entries[:n]
    ok("run", "l.json", "-q", cwd=str(tmp_path))
    queue = Queue(str(path), reader=True)
    queue.read()
    table = from_queue(queue, entries=first_entries(queue.list, 3))
    assert [r["id"] for r in table.rows] == list(queue.list.ids)[:3]
    assert [(r["status"], r["attempts"]) for r in table.rows] == [("done", 1)] * 3
    assert from_queue(queue).rows[:3] == table.rows
    # changed since: the new list's entries, not a mix of both
    path.write_text(json.dumps([["false", str(i)] for i in range(4)]))
    assert first_entries(commands, 2) == [["false", "0"], ["false", "1"]]


def test_the_first_entries_are_read_a_piece_at_a_time(tmp_path, monkeypatch):
    """first_entries reads the list in pieces: long entries and characters
    of several bytes cut where a piece ends read whole, the file's end is
    never read for the first entries, and a file that changed after the
    pieces its ids agree with (as one rewritten while it is read) is read
    again whole."""
    from cooperate.results import collect
    from cooperate.queue.listfile import CommandList

    monkeypatch.setattr(collect, "PIECE", 5)
    entries = [["echo", "\u00e9" * 300 + "\u20ac" * 200], {"cmd": "true " + "x" * 1000},
               ["true"], ["echo", "\U0001f600 a"], "echo   spaced"] + [["true"]] * 500
    path = tmp_path / "l.json"
    text = " [ " + " ,\n ".join(json.dumps(e, ensure_ascii=False) for e in entries) + " ] \n"
    path.write_bytes(text.encode("utf-8"))
    commands = CommandList(str(path))
    for n in list(range(8)) + [len(entries) - 1, len(entries)]:
        assert collect.first_entries(commands, n) == entries[:n]

    # the end is not read: bytes there that are not UTF-8 go unseen
    data = path.read_bytes()
    path.write_bytes(data[:-2000] + b"\xff" * 2000)
    assert collect.first_entries(commands, 6) == entries[:6]

    # the same first pieces, then other entries: the new list's, whole
    changed = entries[:3] + [["false", str(i)] for i in range(6)]
    text = " [ " + " ,\n ".join(json.dumps(e, ensure_ascii=False) for e in changed) + " ] \n"
    path.write_bytes(text.encode("utf-8"))
    assert collect.first_entries(commands, 5) == changed[:5]
    assert len(commands.ids) == len(changed)


@pytest.mark.parametrize("args", [(), ("--format", "jsonl"), ("--where", "model.name=mlp")])
def test_rows_written_as_made_are_the_table(exp, tmp_path, args):
    """Without --aggregate or --sort, collect writes each row as it makes it
    (a million entries' rows are never held): the same text as the whole
    table, to a file and to stdout."""
    from cooperate.results import collect

    where = [args[1]] if args[:1] == ("--where",) else None
    table = collect.collect(str(exp), where=where)
    text = (collect.to_jsonl if "jsonl" in args else collect.to_csv)(table)
    assert 0 < len(table.rows) < 6 if where else len(table.rows) == 6
    out = tmp_path / "out"
    assert ok("collect", str(exp), *args, "-o", str(out)).stdout == ""
    assert out.read_text() == text
    assert ok("collect", str(exp), *args).stdout == text


def test_a_write_that_fails_midway_leaves_the_file_as_it_was(tmp_path):
    from cooperate.errors import UserError
    from cooperate.queue.files import atomic_write

    path = tmp_path / "table.csv"
    path.write_text("before\n")

    def pieces():
        yield b"a,b\n"
        raise UserError("the list changed")

    with pytest.raises(UserError):
        atomic_write(str(path), pieces(), durable=False)
    assert path.read_text() == "before\n" and os.listdir(str(tmp_path)) == ["table.csv"]
    atomic_write(str(path), iter([b"a,b\n", b"1,2\n"]), durable=False)
    assert path.read_text() == "a,b\n1,2\n"
