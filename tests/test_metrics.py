"""Metrics with no server: each attempt gets COOPERATE_METRICS, a file in the
state folder; runs append JSON lines to it (from any language, or with
`from cooperate import report`), and readers take the complete lines."""

import json
import os
import subprocess
import sys

from util import TOP, run, write_list

sys.path.insert(0, os.path.join(TOP, "lib"))
from cooperate import metrics  # noqa: E402

LIB = os.path.join(TOP, "lib")

REPORTER = ("import os, sys\n"
            "from cooperate import report\n"
            "for step in (1, 2, 3):\n"
            "    assert report(step=step, loss=1.0 / step, acc=step / 10)\n"
            "report(loss=0.1)\n"
            "print(os.environ['COOPERATE_METRICS'])\n")


def test_each_attempt_gets_a_metrics_file_in_the_state_folder(tmp_path):
    (tmp_path / "train.py").write_text(REPORTER)
    entries = [
        {"cmd": [sys.executable, "train.py"], "env": {"PYTHONPATH": LIB}},
        # any language: a line appended by the shell
        ["sh", "-c", 'echo \'{"step": 5, "reward": 2.5}\' >> "$COOPERATE_METRICS"'],
        ["true"],
    ]
    write_list(tmp_path / "q.json", entries)
    result = run("run", "q.json", "--procs-no", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    state = tmp_path / "q.json.cooperate"
    ids = [json.loads(line)[1] for line in (state / "journal").read_text().splitlines()
           if json.loads(line)[0] == "c"]
    paths = {id_: metrics.path(str(state), id_, 1) for id_ in ids}
    found = {id_: metrics.read(p) for id_, p in paths.items()}
    curves = sorted(found.values(), key=len)
    assert curves[0] == []
    assert curves[1] == [{"step": 5, "reward": 2.5}]
    assert curves[2] == [{"step": 1, "loss": 1.0, "acc": 0.1}, {"step": 2, "loss": 0.5, "acc": 0.2},
                         {"step": 3, "loss": 1 / 3, "acc": 0.3}, {"step": 4, "loss": 0.1}]
    # the run that reported nothing left no file
    assert sum(os.path.exists(p) for p in paths.values()) == 2
    # the path it was given is the one collect and report read
    logs = list((state / "logs").rglob("*.out"))
    assert [p.read_text().strip() for p in logs] == [
        paths[id_] for id_ in ids if len(found[id_]) == 4]
    assert metrics.summary(curves[2]) == {"step": 4, "loss": (0.1, 0.1), "acc": (0.3, 0.1)}
    assert metrics.summary(curves[2], maximise=("acc",))["acc"] == (0.3, 0.3)


def test_report_outside_a_worker_writes_nothing(tmp_path):
    env = dict(os.environ, PYTHONPATH=LIB)
    env.pop(metrics.ENV, None)
    out = subprocess.run([sys.executable, "-c", "from cooperate import report; "
                          "print(report(step=1, loss=2))"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert os.listdir(tmp_path) == []


def test_the_liftoff_shim_reports_too(tmp_path):
    target = tmp_path / "m.jsonl"
    env = dict(os.environ, PYTHONPATH=LIB, **{metrics.ENV: str(target)})
    subprocess.run([sys.executable, "-c", "import liftoff; liftoff.report(step=7, score=3); "
                    "from liftoff import report; report(score=float('nan'))"],
                   env=env, check=True)
    points = metrics.read(str(target))
    assert points[0] == {"step": 7, "score": 3}
    assert points[1]["step"] == 8 and points[1]["score"] != points[1]["score"]
    assert metrics.summary(points) == {"step": 8, "score": (3, 3)}


def test_readers_take_complete_lines_only(tmp_path):
    path = str(tmp_path / "m.jsonl")
    reader = metrics.Reader(path)
    assert reader.read() == []  # no file yet
    with open(path, "ab") as f:
        f.write(b'{"step": 1, "loss": 2}\nnot json\n[1, 2]\n{"loss": 3}\n{"step": true}\n'
                b'{"step": 2, "lo')
    assert reader.read() == [{"step": 1, "loss": 2}]
    with open(path, "ab") as f:
        f.write(b'ss": 1.5}\n')
    assert reader.read() == [{"step": 2, "loss": 1.5}]
    assert reader.read() == []
    assert [p["step"] for p in reader.points] == [1, 2]
    assert metrics.read(path) == reader.points


# files collect and report summarise (results/curves.py): those of one form
# throughout, which it reads without parsing each line, and every other
# kind, which it reads line by line; the summary must be metrics.summary's
# of metrics.read's points, values of the same types in the same order
SUMMARISED = {
    "report()'s lines": b'{"step":1,"loss":0.5,"acc":0.1}\n{"step":2,"loss":0.25,"acc":0.3}\n'
                        b'{"step":3,"loss":0.75,"acc":0.2}\n',
    "json.dumps's spacing, ints and floats": b'{"step": 1, "loss": 3}\n{"step": 2, "loss": 1.0}\n'
                                            b'{"step": 3, "loss": 1}\n',
    "a tie: the first best": b'{"step":1,"x":-0}\n{"step":2,"x":0.0}\n{"step":3,"x":2}\n',
    "NaN: no value": b'{"step":1,"loss":NaN,"acc":0.5}\n{"step":2,"loss":0.5,"acc":NaN}\n',
    "only NaN": b'{"step":1,"loss":NaN}\n{"step":2,"loss":NaN}\n',
    "Infinity": b'{"step":1,"loss":Infinity}\n{"step":2,"loss":-Infinity}\n{"step":3,"loss":1}\n',
    "a NaN step": b'{"step":NaN,"loss":1}\n{"step":2,"loss":0.5}\n',
    "steps back and forth": b'{"step":5,"loss":1}\n{"step":2.0,"loss":2}\n{"step":5.0,"loss":0}\n',
    "step last, a big int": b'{"loss":1,"step":1}\n{"loss":12345678901234567890123,"step":2}\n',
    "a partial last line": b'{"step":1,"loss":1}\n{"step":2,"loss":0',
    "CRLF and blanks": b'  {"step":1,"loss":2}  \r\n  {"step":2,"loss":1}  \r\n',
    "a blank line": b'{"step":1,"loss":2}\n\n{"step":2,"loss":1}\n',
    "an eval line now and then": b'{"step":1,"loss":2}\n{"step":1,"val":3}\n{"step":2,"loss":1}\n',
    "a broken line": b'{"step":1,"loss":2}\n{"step":2,"loss":1,}\n{"step":3,"loss":0.5}\n',
    "a number JSON refuses": b'{"step":1,"loss":2}\n{"step":2,"loss":01}\n',
    "a name twice": b'{"step":1,"loss":2,"loss":0}\n{"step":2,"loss":1,"loss":3}\n',
    "true is no number": b'{"step":1,"ok":true}\n{"step":2,"ok":false}\n',
    "strings and lists": b'{"step":1,"tag":"a,\\"b\\"","v":[1]}\n{"step":2,"tag":"c","v":[2]}\n',
    "no step": b'{"loss":1}\n{"loss":2}\n',
    "not UTF-8": b'{"step":1,"loss":2}\n{"step":2,"lo\xffss":1}\n',
    "empty": b'',
    "two lines in one": b'{"step":1,"loss":2},{"step":2,"loss":1}\n',
}


def test_collect_summarises_metrics_files_as_the_worker_reads_them(tmp_path):
    from cooperate.results import curves

    for name, data in SUMMARISED.items():
        path = str(tmp_path / "m.jsonl")
        with open(path, "wb") as f:
            f.write(data)
        for maximise in ((), ("loss", "x")):
            want = metrics.summary(metrics.read(path), maximise)
            got = curves.summarise(path, maximise)
            # equal, with the same names in the same order and the same types
            assert repr(got) == repr(want), (name, maximise, got, want)
    assert curves.summarise(str(tmp_path / "none.jsonl")) == {}


def test_a_summary_of_a_long_file_of_one_form(tmp_path):
    """Thousands of report() lines with NaN and ties among them: the same
    summary by either way of reading."""
    import random

    from cooperate.results import curves

    rng = random.Random(7)
    lines = []
    for step in range(1, 5001):
        loss = rng.choice([float("nan"), 0.5, rng.random(), rng.randint(0, 3)])
        lines.append(json.dumps({"step": step, "loss": loss, "acc": rng.random()},
                                separators=(",", ":")))
    path = str(tmp_path / "m.jsonl")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    for maximise in ((), ("acc",)):
        assert repr(curves.summarise(path, maximise)) == repr(
            metrics.summary(metrics.read(path), maximise))
