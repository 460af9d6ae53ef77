"""The zipapp dist/cooperate.pyz, its build and its installation, tried for
real: built by build.py, run by every python3.X (X >= 6) on this machine in
isolated mode (-I -S: no site-packages, so only what the archive carries),
refused in one line by older ones (Python 2 included), and installed with
`make install`."""
import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(TOP, "build.py")
TIMEOUT = 120


def run(command, **kwargs):
    kwargs.setdefault("timeout", TIMEOUT)
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kwargs)


def ok(command, **kwargs):
    result = run(command, **kwargs)
    assert result.returncode == 0, "%s exited %d\nstdout: %s\nstderr: %s" % (
        " ".join(command), result.returncode, result.stdout, result.stderr)
    return result


def find_pythons():
    """{minor: path}: the first working python3.X (X >= 6) for each X, from
    PATH (pyenv shims included) and from pyenv's versions, whose shims fail
    for versions that are not selected."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    folders += sorted(glob.glob(os.path.join(pyenv, "versions", "*", "bin")))
    candidates = [sys.executable]
    for folder in folders:
        candidates += sorted(glob.glob(os.path.join(folder, "python3.*")))
    found = {}
    for path in candidates:
        match = re.search(r"python3\.(\d+)$", path)
        if path != sys.executable and not match:
            continue
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            continue
        try:
            result = run([path, "-I", "-S", "-c",
                          "import sys; print(sys.version_info[1])"], timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if result.returncode != 0 or not result.stdout.strip().isdigit():
            continue
        minor = int(result.stdout)
        if minor >= 6 and (not match or int(match.group(1)) == minor):
            found.setdefault(minor, path)
    return found


PYTHONS = find_pythons()
PYTHON_PARAMS = [pytest.param(PYTHONS[m], id="3.%d" % m) for m in sorted(PYTHONS)]


def version():
    with open(os.path.join(TOP, "lib", "cooperate", "__init__.py")) as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


def links():
    return ok([sys.executable, BUILD, "--links"]).stdout.split()


@pytest.fixture(scope="session")
def archive(tmp_path_factory):
    """A fresh build of the archive, from these sources, by this Python."""
    path = str(tmp_path_factory.mktemp("first") / "cooperate.pyz")
    ok([sys.executable, BUILD, "--output", path], cwd=TOP, timeout=600)
    return path


# -- the build ---------------------------------------------------------------


def test_two_builds_are_byte_identical(archive, tmp_path):
    again = str(tmp_path / "again.pyz")
    ok([sys.executable, BUILD, "--output", again], cwd=TOP)
    with open(archive, "rb") as a, open(again, "rb") as b:
        assert a.read() == b.read()


def test_source_date_epoch_sets_every_timestamp(tmp_path):
    path = str(tmp_path / "dated.pyz")
    ok([sys.executable, BUILD, "--output", path],
       env=dict(os.environ, SOURCE_DATE_EPOCH="1700000000"))
    with zipfile.ZipFile(path) as z:
        assert {i.date_time for i in z.infolist()} == {(2023, 11, 14, 22, 13, 20)}


def test_archive_contents(archive):
    with open(archive, "rb") as f:
        assert f.readline() == b"#!/usr/bin/env python3\n"
    assert os.stat(archive).st_mode & 0o777 == 0o755
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        for needed in ("__main__.py", "cooperate/__init__.py", "cooperate/cli/__init__.py",
                       "yaml/__init__.py", "portalocker/__init__.py",
                       "LICENSES/PyYAML.txt", "LICENSES/portalocker.txt"):
            assert needed in names
        assert not [n for n in names if "__pycache__" in n]
        assert "Permission is hereby granted" in z.read("LICENSES/PyYAML.txt").decode()
        assert "Redistribution and use" in z.read("LICENSES/portalocker.txt").decode()
        assert len({i.date_time for i in infos}) == 1
        for info in infos:
            mode = info.external_attr >> 16
            assert mode == (0o40755 if info.filename.endswith("/") else 0o100644), info.filename
        # every module of lib/cooperate is there, with an unchecked hash-based
        # pyc for the building Python beside it
        lib = os.path.join(TOP, "lib")
        for path in glob.glob(os.path.join(lib, "cooperate", "**", "*.py"), recursive=True):
            assert os.path.relpath(path, lib).replace(os.sep, "/") in names
        for name in names:
            if name.endswith(".py"):
                pyc = z.read(name + "c")
                assert pyc[:4] == importlib.util.MAGIC_NUMBER, name
                assert pyc[4:8] == b"\x01\x00\x00\x00", name
                assert pyc[8:16] == importlib.util.source_hash(z.read(name)), name


def test_the_pycs_are_used_and_name_files_inside_the_archive(archive):
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import cooperate.cli, yaml; "
              "print(cooperate.cli.main.__code__.co_filename, yaml.load.__code__.co_filename)")
    result = ok([sys.executable, "-I", "-S", "-c", script, archive])
    assert result.stdout == "cooperate/cli/__init__.py yaml/__init__.py\n"


def test_a_wrong_hash_is_one_line_and_fails(archive, tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / "pyyaml-6.0.3.tar.gz").write_bytes(b"not the sdist")
    shutil.copy(os.path.join(TOP, "build", "downloads", "portalocker-2.7.0-py2.py3-none-any.whl"),
                str(downloads))
    result = run([sys.executable, BUILD, "--vendor", "--downloads", str(downloads)])
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "pyyaml-6.0.3.tar.gz" in lines[0] and "sha256" in lines[0]


def test_links_are_the_cli_links():
    from cooperate.cli import LINKS  # lib/ is on the path (conftest.py)
    assert links() == sorted(list(LINKS) + ["cooperate"])


# -- every Python --------------------------------------------------------------


def test_found_pythons():
    assert sys.version_info[1] in PYTHONS


@pytest.mark.parametrize("python", PYTHON_PARAMS)
def test_version_and_help(python, archive):
    result = ok([python, "-I", "-S", archive, "--version"])
    assert result.stdout == "cooperate %s\n" % version()
    result = ok([python, "-I", "-S", archive, "--help"])
    assert result.stdout.startswith("usage: cooperate COMMAND")
    for command in ("run", "doe", "status", "retry"):
        assert "\n  %s " % command in result.stdout


@pytest.mark.parametrize("python", PYTHON_PARAMS)
def test_a_link_named_cooperate_run_runs_run(python, archive, tmp_path):
    link = tmp_path / "cooperate-run"
    link.symlink_to(archive)
    result = ok([python, "-I", "-S", str(link), "--help"])
    assert result.stdout.startswith("usage: cooperate-run ")


@pytest.mark.parametrize("python", PYTHON_PARAMS)
def test_doe_run_status(python, archive, tmp_path):
    pyz = [python, "-I", "-S", archive]
    ok(pyz + ["doe", "out.json", "echo {x}", "x=1,2"], cwd=str(tmp_path))
    ok(pyz + ["run", "out.json"], cwd=str(tmp_path))
    report = json.loads(ok(pyz + ["status", "out.json", "--json"], cwd=str(tmp_path)).stdout)
    assert report["total"] == 2
    assert report["counts"]["done"] == 2


GRID_SCRIPT = """\
import os
from liftoff import parse_opts
opts = parse_opts()
with open(os.path.join(opts.out_dir, "result.txt"), "w") as f:
    f.write("%s\\n" % opts.lr)
"""


@pytest.mark.parametrize("python", PYTHON_PARAMS)
def test_a_liftoff_sweep_from_prepare_to_report(python, archive, tmp_path):
    """Each command a sweep goes through, on this Python, from the archive
    alone: what the runs wrote is checked, not only what was recorded."""
    pyz = [python, "-I", "-S", archive]
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "default.yaml").write_text("lr: 0.1\nseed: 0\n")
    (tmp_path / "configs" / "config.yaml").write_text("lr: [0.1, 0.2, 0.3]\n")
    (tmp_path / "train.py").write_text(GRID_SCRIPT)
    cwd = str(tmp_path)
    ok(pyz + ["prepare", "configs", "--do"], cwd=cwd)
    (exp,) = (tmp_path / "results").iterdir()
    ok(pyz + ["hold", str(exp), "--all"], cwd=cwd)
    ok(pyz + ["release", str(exp), "--all"], cwd=cwd)
    ok(pyz + ["launch", "train.py", str(exp), "--procs-no", "2"], cwd=cwd)
    written = sorted(p.read_text() for p in exp.glob("*/0/result.txt"))
    assert written == ["0.1\n", "0.2\n", "0.3\n"]
    report = json.loads(ok(pyz + ["status", str(exp), "--json"], cwd=cwd).stdout)
    assert report["counts"]["done"] == 3
    rows = ok(pyz + ["collect", str(exp)], cwd=cwd).stdout.splitlines()
    assert len(rows) == 4 and "lr" in rows[0].split(",")
    ok(pyz + ["report", str(exp), "-o", "r.html"], cwd=cwd)
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert "no live workers" in ok(pyz + ["procs", "-a"], cwd=cwd).stdout
    script = ok(pyz + ["submit", str(exp), "--slurm", "--workers", "2", "--dry-run"],
                cwd=cwd).stdout
    assert "#SBATCH --array=0-1" in script


OLD_PYTHONS = sorted(glob.glob(os.path.join(
    os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv"), "versions", "2.*", "bin",
    "python2.*"))) + [p for p in (shutil.which("python2"),) if p]


@pytest.mark.skipif(not OLD_PYTHONS, reason="no Python 2 on this machine")
def test_python_2_is_told_in_one_line_which_python_it_needs(archive):
    result = run([OLD_PYTHONS[0], "-S", archive, "--version"])
    assert result.returncode == 2
    assert result.stdout == ""
    assert re.match(r"cooperate needs Python 3\.6 or later; \S+ is Python 2\.\d+: run it with "
                    r"python3 \(3\.6 to 3\.13\)\n$", result.stderr), result.stderr


@pytest.mark.parametrize("python", PYTHON_PARAMS)
def test_vendored_yaml_and_portalocker_are_pure_python(python, archive):
    script = (
        "import sys, yaml, portalocker\n"
        "assert yaml.__file__.startswith(sys.argv[1] + '/'), yaml.__file__\n"
        "assert portalocker.__file__.startswith(sys.argv[1] + '/'), portalocker.__file__\n"
        "assert yaml.__with_libyaml__ is False\n"
        "assert portalocker.RedisLock is None\n"
        "doc = yaml.safe_load('a: [1, 2]\\nb: {c: d}\\n')\n"
        "assert doc == {'a': [1, 2], 'b': {'c': 'd'}}, doc\n"
        "assert yaml.safe_load(yaml.safe_dump(doc)) == doc\n"
        "print(yaml.__version__, portalocker.__version__)\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": archive}
    result = ok([python, "-S", "-s", "-c", script, archive], env=env)
    assert result.stdout == "6.0.3 2.7.0\n"


# -- run directly, installed ---------------------------------------------------


def test_shebang(archive):
    assert ok([archive, "--version"]).stdout == "cooperate %s\n" % version()


def make(*args):
    return ok(["make", "-s", "-C", TOP, "PYTHON=" + sys.executable] + list(args), timeout=600)


def test_make_twice_does_nothing_the_second_time():
    make()
    assert run(["make", "-q", "-C", TOP, "PYTHON=" + sys.executable]).returncode == 0


def test_make_install(tmp_path):
    make("install", "PREFIX=" + str(tmp_path))
    bindir = tmp_path / "bin"
    names = links()
    assert sorted(os.listdir(str(bindir))) == sorted(names + ["cooperate.pyz"])
    assert os.stat(str(bindir / "cooperate.pyz")).st_mode & 0o777 == 0o755
    for name in names:
        assert os.readlink(str(bindir / name)) == "cooperate.pyz"
    assert ok([str(bindir / "cooperate.pyz"), "--version"]).stdout == "cooperate %s\n" % version()
    result = ok([str(bindir / "cooperate-run"), "--help"])
    assert result.stdout.startswith("usage: cooperate-run ")


def test_make_install_destdir(tmp_path):
    make("install", "DESTDIR=" + str(tmp_path), "PREFIX=/opt/co")
    assert os.path.isfile(str(tmp_path / "opt" / "co" / "bin" / "cooperate.pyz"))
    assert os.path.islink(str(tmp_path / "opt" / "co" / "bin" / "cooperate-run"))
