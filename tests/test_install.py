"""Every command installed, and a build on every Python (issue 22).

`make install` links every command as cooperate-NAME and liftoff's names;
every program name the README, the examples or a message of the toolkit
mentions exists after it and answers --help and -V. The completion scripts
and the man page come from the same parsers. `make` works, in a copy of
the checkout, with the oldest and the newest Python found on this machine
(pyenv's included), and the archive it writes runs a list there."""

import glob
import json
import os
import re
import shutil
import sys

import pytest

from test_archive import PYTHONS, TOP, ok, run, version
from util import DOCS

# words of prose that look like program names
NOT_PROGRAMS = {"liftoff-style"}
NAME = re.compile(r"(?<![-/\w.])((?:cooperate|liftoff)(?:-[a-z]+)?)\b(?![-.\w/])")


def mentioned():
    """{program name: where it is mentioned first}, from the README, the
    examples and the toolkit's sources (its messages and help texts)."""
    paths = [os.path.join(TOP, name) for name in DOCS]
    paths += glob.glob(os.path.join(TOP, "examples", "*"))
    paths += glob.glob(os.path.join(TOP, "lib", "**", "*.py"), recursive=True)
    found = {}
    for path in paths:
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                for name in NAME.findall(line):
                    if name != "cooperate" and name not in NOT_PROGRAMS:
                        found.setdefault(name, "%s:%d" % (os.path.relpath(path, TOP), number))
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("prefix")
    ok(["make", "-s", "-C", TOP, "PYTHON=" + sys.executable, "install",
        "PREFIX=" + str(prefix)], timeout=600)
    return prefix


def test_every_command_has_its_program(installed):
    from cooperate.cli import COMMANDS, LINKS

    for command in COMMANDS:
        assert LINKS["cooperate-" + command] == command
    bindir = installed / "bin"
    for name in list(LINKS) + ["cooperate"]:
        assert os.readlink(str(bindir / name)) == "cooperate.pyz"
    result = ok([str(bindir / "cooperate"), "log", "--help"])
    assert result.stdout.startswith("usage: cooperate log ")


def test_every_program_mentioned_exists_after_install(installed):
    names = mentioned()
    # the ones the issue found missing are among those mentioned
    assert {"cooperate-procs", "cooperate-release", "cooperate-log"} <= set(names)
    bindir = installed / "bin"
    for name, where in sorted(names.items()):
        path = bindir / name
        assert path.exists(), "%s (mentioned in %s) is not installed" % (name, where)
        result = run([str(path), "--help"])
        assert result.returncode == 0, (name, result.stderr)
        assert result.stdout.startswith("usage: %s " % name), name
        assert run([str(path), "-V"]).stdout == "cooperate %s\n" % version()


def test_the_man_page_is_installed_and_names_every_option(installed):
    page = (installed / "share" / "man" / "man1" / "cooperate.1").read_text()
    assert page.startswith(".TH COOPERATE 1")
    for words in ("\\-\\-procs\\-no", "\\fB\\-j\\fR", "\\-\\-wait", "\\-\\-attempt",
                  ".SS cooperate log", ".SS cooperate completion"):
        assert words in page, words
    if shutil.which("man"):
        result = run(["man", "-l", str(installed / "share" / "man" / "man1" / "cooperate.1")],
                     env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80"))
        assert result.returncode == 0 and "cooperate log" in result.stdout, result.stderr


def complete_bash(script, *words):
    """What bash completes for the command line `words` (the last one being
    completed), with the script sourced."""
    words = list(words)
    line = "COMP_WORDS=(%s); COMP_CWORD=%d; _cooperate; printf '%%s\\n' \"${COMPREPLY[@]}\"" % (
        " ".join("'%s'" % w for w in words), len(words) - 1)
    result = run(["bash", "-c", 'source "$1"; ' + line, "bash", script])
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.skipif(not shutil.which("bash"), reason="no bash")
def test_bash_completion(installed, tmp_path):
    script = tmp_path / "c.bash"
    script.write_text(ok([str(installed / "bin" / "cooperate"), "completion", "bash"]).stdout)
    assert "log" in complete_bash(str(script), "cooperate", "lo")
    assert complete_bash(str(script), "cooperate", "status", "--wa") == ["--wait", "--watch"]
    assert complete_bash(str(script), "cooperate-run", "--procs") == ["--procs-no"]
    assert "--runs-no" in complete_bash(str(script), "liftoff-prepare", "--r")


@pytest.mark.skipif(not shutil.which("zsh"), reason="no zsh")
def test_zsh_completion_loads(installed):
    script = ok([str(installed / "bin" / "cooperate"), "completion", "zsh"]).stdout
    result = run(["zsh", "-c", "autoload -U compinit; compinit -u; eval \"$1\"; "
                  "print ${_comps[cooperate-log]}", "zsh", script])
    assert result.returncode == 0 and result.stdout.strip() == "_cooperate", result.stderr


OLDEST_NEWEST = sorted({min(PYTHONS), max(PYTHONS)}) if PYTHONS else []


@pytest.mark.parametrize("minor", OLDEST_NEWEST, ids=["3.%d" % m for m in OLDEST_NEWEST])
def test_make_builds_with_the_oldest_and_the_newest_python(minor, tmp_path):
    """In a copy of the checkout (what make writes stays there), with the
    verified downloads this checkout has already, so that only a pin that
    differs for this Python is fetched."""
    python = PYTHONS[minor]
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("Makefile", "build.py"):
        shutil.copy(os.path.join(TOP, name), str(tree / name))
    for folder in ("lib", "archive"):
        shutil.copytree(os.path.join(TOP, folder), str(tree / folder),
                        ignore=shutil.ignore_patterns("__pycache__"))
    downloads = os.path.join(TOP, "build", "downloads")
    if os.path.isdir(downloads):
        shutil.copytree(downloads, str(tree / "build" / "downloads"),
                        ignore=shutil.ignore_patterns(".fetch-*"))
    result = run(["make", "-C", str(tree), "PYTHON=" + python], timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    archive = str(tree / "dist" / "cooperate.pyz")
    assert ok([python, "-I", "-S", archive, "-V"]).stdout == "cooperate %s\n" % version()
    # the Python 3.6 and 3.7 build vendors the PyYAML they can fetch
    with open(str(tree / "build" / "vendor" / "VENDORED.txt")) as f:
        stamp = f.read()
    assert ("PyYAML-6.0.1" if minor < 8 else "pyyaml-6.0.3") in stamp
    lst = tmp_path / "q.json"
    lst.write_text(json.dumps([["true"], ["sh", "-c", "exit 0"]]))
    ok([python, "-I", "-S", archive, "run", str(lst)], cwd=str(tmp_path))
    result = ok([python, "-I", "-S", archive, "status", str(lst), "--wait"], cwd=str(tmp_path))
    assert "2 entries: 0 pending, 0 running, 2 done" in result.stdout
    # a second make does nothing
    assert run(["make", "-q", "-C", str(tree), "PYTHON=" + python]).returncode == 0
