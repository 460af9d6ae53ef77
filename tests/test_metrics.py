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
