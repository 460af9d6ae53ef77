"""What a liftoff user's scripts see (issue 21), beyond the golden
recordings: --filters read as liftoff reads them (None matches null), the
run's environment left the user's (their installed liftoff and PyYAML win
over the toolkit's, from the checkout and from the archive), a uuid4
session id in the run's argv and its .__lock, and liftoff's first line
from liftoff-status."""

import json
import os
import re
import subprocess
import sys
import venv

import pytest

import util
from util import TOP

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")

PROBE = """\
import json, os, sys
import yaml
from liftoff import parse_opts
import liftoff
opts = parse_opts()
with open(os.path.join(os.environ["PROBE_DIR"], "seen.jsonl"), "a") as f:
    f.write(json.dumps({"beta": opts.er.beta, "session": sys.argv[-1],
                        "lock": open(os.path.join(opts.out_dir, ".__lock")).read(),
                        "liftoff": liftoff.__file__, "yaml": yaml.__file__,
                        "path": sys.path[1:3]}) + "\\n")
"""


def experiment(tmp_path):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "default.yaml").write_text("er:\n  beta: 0.5\n  lr: 0.001\n")
    (tmp_path / "cfg" / "config.yaml").write_text(
        "er:\n  beta: [null, 0.5, 1.0e-3]\n  lr: [0.001, 0.01]\n")
    (tmp_path / "probe.py").write_text(PROBE)
    result = util.run("prepare", "cfg", "--do", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (exp,) = os.listdir(str(tmp_path / "results"))
    return os.path.join("results", exp)


def seen(tmp_path):
    path = tmp_path / "seen.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def launch(tmp_path, exp, *args, python=sys.executable, program=None, env=None):
    env = dict(env or os.environ, PROBE_DIR=str(tmp_path))
    argv = [python] + (program or [util.BIN, "launch"]) + ["probe.py", exp, "-q"] + list(args)
    result = subprocess.run(argv, cwd=str(tmp_path), env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("text", ["None", "null", "~"])
def test_filters_match_null_as_liftoff_does(tmp_path, text):
    exp = experiment(tmp_path)
    launch(tmp_path, exp, "--filters", "er.beta=%s" % text)
    assert [s["beta"] for s in seen(tmp_path)] == [None, None]


def test_filters_read_numbers_in_any_spelling(tmp_path):
    exp = experiment(tmp_path)
    launch(tmp_path, exp, "--filters", "er.beta=1e-3", "er.lr=1e-2")
    assert [s["beta"] for s in seen(tmp_path)] == [0.001]


def test_runs_get_a_uuid4_session_and_the_users_pythonpath_first(tmp_path):
    exp = experiment(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    result = launch(tmp_path, exp, "--max-runs", "2", "--procs-no", "2",
                    env=dict(os.environ, PYTHONPATH=str(mine)))
    assert result.stdout.splitlines()[0] == "Liftoff 0.3.3 @ %s" % tmp_path.name
    runs = seen(tmp_path)
    assert len(runs) == 2 and runs[0]["session"] == runs[1]["session"]
    assert UUID4.match(runs[0]["session"]) and runs[0]["lock"] == runs[0]["session"]
    assert runs[0]["path"][0] == str(mine)
    # the user's PyYAML (this Python's), not the toolkit's copy
    assert not runs[0]["yaml"].startswith(TOP)
    status = subprocess.run([sys.executable, os.path.join(TOP, "bin", "liftoff-status")],
                            cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert status.stdout.splitlines()[0] == "Liftoff 0.3.3 @ %s" % tmp_path.name


def test_the_archive_puts_none_of_its_packages_before_the_users(tmp_path):
    archive = os.path.join(TOP, "dist", "cooperate.pyz")
    if not os.path.exists(archive):
        pytest.skip("no dist/cooperate.pyz: run make")
    exp = experiment(tmp_path)
    launch(tmp_path, exp, "--max-runs", "1", program=[archive, "launch"])
    (run,) = seen(tmp_path)
    assert run["liftoff"].startswith(archive) and not run["yaml"].startswith(archive)


def test_an_installed_liftoff_wins_over_the_toolkits(tmp_path):
    """A Python whose site-packages holds a liftoff of its own (here a
    stand-in that says so): the runs import it, not the toolkit's."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(str(env_dir))
    python = str(env_dir / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    os.makedirs(os.path.join(site, "liftoff"))
    with open(os.path.join(site, "liftoff", "__init__.py"), "w") as f:
        f.write("from argparse import Namespace\nimport sys, yaml\n\n"
                "def parse_opts():\n"
                "    with open(sys.argv[1]) as h:\n"
                "        cfg = yaml.safe_load(h)\n"
                "    cfg['er'] = Namespace(**cfg['er'])\n"
                "    return Namespace(**cfg)\n")
    exp = experiment(tmp_path)
    launch(tmp_path, exp, "--max-runs", "1", python=python)
    (run,) = seen(tmp_path)
    assert run["liftoff"] == os.path.join(site, "liftoff", "__init__.py")
