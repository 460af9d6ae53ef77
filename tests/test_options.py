"""A command line read without argparse (cli/options.py) gives what
argparse gives, or is left to argparse: tried on status's own options (as
cooperate-status and liftoff-status declare them), and `status` run without
argparse imported."""

import os
import subprocess
import sys

import pytest

from cooperate.cli import status
from cooperate.cli.options import Options
from cooperate.cli.targets import parse_mixed
from cooperate.errors import UserError
from util import TOP

ARGVS = [
    [], ["l.json"], [""], ["-a"], ["-a", "l.json"], ["l.json", "-a", "--json"],
    ["--json", "l.json", "--entries", "--wait", "--trust-writable", "--all"],
    ["--state", "s", "l.json"], ["l.json", "--state", "s", "--state", "t"],
    ["--results-path", "r", "sweep", "--timestamp-fmt", "%Y"], ["--timestamp-fmt", ""],
    ["--state"], ["--state", "-x"], ["--state", "-"], ["--state", "--json"], ["--st", "s"],
    ["--state=s"], ["a", "b"], ["-"], ["--", "l.json"], ["-aV"], ["-1"], ["--watch"],
    ["--watch", "3", "l.json"], ["--details"], ["--details", "l.json"], ["--bogus"],
    ["-h"], ["--help"], ["-V"], ["--version"], ["l.json", "--json", "x"],
]


class Declared(Exception):
    pass


@pytest.fixture(params=["cooperate status", "liftoff-status"])
def options(request, monkeypatch):
    """The Options the status command declares under this name."""
    found = []

    def plain(self, argv):
        found.append(self)
        raise Declared()

    monkeypatch.setattr(Options, "plain", plain)
    with pytest.raises(Declared):
        status.main([], request.param)
    monkeypatch.undo()
    return found[0]


def by_argparse(options, argv, capsys):
    try:
        return vars(parse_mixed(options.parser(), argv))
    except (UserError, SystemExit) as error:
        capsys.readouterr()
        return error


@pytest.mark.parametrize("argv", ARGVS, ids=" ".join)
def test_a_plain_command_line_reads_as_argparse_reads_it(options, argv, capsys):
    expected = by_argparse(options, argv, capsys)
    got = options.plain(argv)
    if got is None:
        # left to argparse: only what is not plain, and every mistake
        assert any(w.startswith("-") for w in argv) or isinstance(expected, Exception)
        return
    assert vars(got) == expected


def test_the_plain_options_are_most_of_them(options):
    assert options.plain(["-a", "--json", "--state", "s", "l.json"]) is not None


def test_status_reads_its_options_without_argparse(tmp_path):
    (tmp_path / "l.json").write_text('[["true"]]\n')
    probe = ("import sys; sys.argv = ['cooperate', 'status', 'l.json', '-a']\n"
             "from cooperate.cli import main\n"
             "code = main()\n"
             "assert 'argparse' not in sys.modules, 'argparse imported'\n"
             "sys.exit(code)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.join(TOP, "lib"), os.path.join(TOP, "build", "vendor")]))
    result = subprocess.run([sys.executable, "-c", probe], cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("l.json: 1 entry: 1 pending")
