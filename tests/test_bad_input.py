"""Bad input gets one clear line, exit status 2, no traceback, and leaves
the list and the state byte-for-byte as they were."""

import os
import shutil
import subprocess
import sys

import pytest

import util
from util import TOP, run, tree_digest, write_list


def check_refused(tmp_path, args, message, files=("l.json", "l.json.cooperate")):
    before = {f: tree_digest(tmp_path / f) for f in files if os.path.exists(tmp_path / f)}
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    after = {f: tree_digest(tmp_path / f) for f in files if os.path.exists(tmp_path / f)}
    assert after == before
    return lines[0]


@pytest.fixture(params=["run", "status"])
def reader(request):
    return request.param


def with_state(tmp_path):
    """A list that has already been worked on, so there is state to protect."""
    write_list(tmp_path / "l.json", [["true"]])
    assert run("run", "l.json", cwd=tmp_path).returncode == 0


def test_malformed_json_names_file_line_and_column(tmp_path, reader):
    with_state(tmp_path)
    (tmp_path / "l.json").write_text('[\n  ["true"],\n  ["echo" "x"]\n]\n')
    line = check_refused(tmp_path, [reader, "l.json"], "l.json:3:11: invalid JSON")
    assert "delimiter" in line


def test_top_level_must_be_a_list(tmp_path, reader):
    with_state(tmp_path)
    (tmp_path / "l.json").write_text('{"cmd": ["true"]}')
    check_refused(tmp_path, [reader, "l.json"], "the top level must be a JSON list of commands, not an object")


@pytest.mark.parametrize("entry,message", [
    (3, "entry 1: must be a list of strings, a string or an object with 'cmd', not a number"),
    ([], "entry 1: empty command"),
    ("  ", "entry 1: empty command"),
    (["python", 3], "entry 1: a command list must hold only strings"),
    ({"cmd": ["true"], "cdw": "x"}, "entry 1: unknown key 'cdw' (an entry's keys: after, cmd, cwd, env, gpus, name, retries, shell, timeout)"),
    ({"cwd": "x"}, "entry 1: an object entry needs a 'cmd'"),
    ({"cmd": []}, "entry 1: 'cmd': empty command"),
    ({"cmd": "true", "env": {"A": 1}}, "entry 1: 'env' must be an object of string values"),
    ("echo a\u0000b", "entry 1: the command holds a NUL character"),
    (["echo", "a\u0000b"], "entry 1: a word holds a NUL character"),
    ({"cmd": ["true"], "env": {"A=B": "1"}}, "entry 1: 'env': 'A=B' cannot be the name of a variable"),
    ({"cmd": ["true"], "env": {"": "1"}}, "entry 1: 'env': '' cannot be the name of a variable"),
    ({"cmd": ["true"], "env": {"A": "x\u0000y"}}, "entry 1: 'env' value of A holds a NUL character"),
    (["echo", "\ud800"], "entry 1: a word holds text that is not valid Unicode"),
    ({"cmd": ["true"], "name": "\udc80"}, "entry 1: 'name' holds text that is not valid Unicode"),
    ({"cmd": ["true"], "cwd": "a\u0000"}, "entry 1: 'cwd' holds a NUL character"),
    ("echo 'unclosed", "entry 1: cannot split the command into words: no closing quotation"),
])
def test_bad_entries(tmp_path, reader, entry, message):
    with_state(tmp_path)
    with open(tmp_path / "l.json", "w") as f:
        f.write('[\n ["true"],\n %s\n]\n' % __import__("json").dumps(entry))
    line = check_refused(tmp_path, [reader, "l.json"], message)
    assert line.split(": error: ")[1].startswith("l.json:3: ")


def written_with_limits(tmp_path, text):
    with_state(tmp_path)
    (tmp_path / "l.json").write_text(text)


def test_a_list_nested_too_deep(tmp_path, reader):
    written_with_limits(tmp_path, "[" + "[" * 100000 + "]" * 100000 + "]")
    check_refused(tmp_path, [reader, "l.json"],
                  "l.json: lists and mappings nested more than 100 deep (the limit)")


def test_a_number_too_long(tmp_path, reader):
    written_with_limits(tmp_path, '[{"cmd": ["true"], "retries": %s}]' % ("9" * 5000))
    check_refused(tmp_path, [reader, "l.json"],
                  "l.json: an integer of more than 100 digits (the limit)")


LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    "%s: &%s [%s]\n" % (c, c, ",".join(["*" + p] * 9)) for p, c in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("text,message", [
    (LAUGHS, "aliases expand it to more than 100000 values (the limit"),
    ("a: &x {b: *x}\n", "an alias refers to a value that holds it (a recursive alias)"),
    ("a: " + "[" * 3000 + "]" * 3000 + "\n", "lists and mappings nested more than 100 deep"),
    ("".join("  " * i + "k%d:\n" % i for i in range(3000)), "nested more than 100 deep"),
    ("r: [%s]\n" % ("9" * 5000), "an integer of more than 100 digits (the limit)"),
], ids=["billion-laughs", "recursive-alias", "deep-flow", "deep-block", "long-number"])
@pytest.mark.parametrize("where", ["default.yaml", "config.yaml"])
def test_yaml_past_a_limit_is_refused(tmp_path, text, message, where):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "default.yaml").write_text("r: 1\n")
    (configs / "config.yaml").write_text("r: [1, 2]\n")
    (configs / where).write_text(text)
    result = run("prepare", "configs", "--do", cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result
    err = result.stderr
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert os.path.join("configs", where) in lines[0] and message in lines[0], lines[0]
    assert not (tmp_path / "results").exists(), "nothing written"


def test_yaml_past_a_limit_takes_little_memory(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "default.yaml").write_text(LAUGHS)
    # started by a small Python: a child forked from this large process
    # counts this one's pages in its peak until it execs
    measure = ("import os, subprocess, sys\n"
               "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, "
               "stderr=subprocess.PIPE)\n"
               "err = p.stderr.read()\n"
               "_, status, usage = os.wait4(p.pid, 0)\n"
               "print(os.WEXITSTATUS(status), usage.ru_maxrss, b'(the limit' in err)\n")
    result = subprocess.run([sys.executable, "-c", measure] + util.command("prepare", "configs"),
                            cwd=str(tmp_path), stdout=subprocess.PIPE, universal_newlines=True)
    code, peak, said = result.stdout.split()
    assert (code, said) == ("2", "True")
    assert int(peak) < 100 * 1024, "peak memory %s KB" % peak


def test_missing_list(tmp_path, reader):
    check_refused(tmp_path, [reader, "nope.json"], "nope.json: no such list file")
    assert not os.path.exists(tmp_path / "nope.json.cooperate")


def test_a_folder_is_not_a_list(tmp_path, reader):
    (tmp_path / "d").mkdir()
    check_refused(tmp_path, [reader, "d"], "d: is a folder, not a list file")


def test_unreadable_list(tmp_path):
    write_list(tmp_path / "l.json", [["true"]])
    os.chmod(tmp_path / "l.json", 0)
    if os.access(tmp_path / "l.json", os.R_OK):
        if os.getuid() != 0 or not shutil.which("setpriv"):
            pytest.skip("running as a user that reads every file")
        # root reads everything: run the command as nobody instead
        os.chmod(tmp_path, 0o777)
        os.chmod(TOP, os.stat(TOP).st_mode)
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             sys.executable, "-c", "import sys; print(sys.version)"], capture_output=True)
        if result.returncode != 0:
            pytest.skip("this Python cannot run as nobody here")
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             sys.executable, os.path.join(TOP, "bin", "cooperate"), "run", "l.json"],
            cwd=tmp_path, capture_output=True, text=True)
        if "Permission denied" in result.stderr and "bin/cooperate" in result.stderr:
            pytest.skip("the checkout is not readable by nobody")
    else:
        result = run("run", "l.json", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("l.json: cannot read: Permission denied")
    assert not os.path.exists(tmp_path / "l.json.cooperate")


def test_state_folder_that_cannot_be_written(tmp_path):
    write_list(tmp_path / "l.json", [["true"]])
    (tmp_path / "state").write_text("a file where the state folder should be")
    check_refused(tmp_path, ["run", "l.json", "--state", "state"],
                  "cannot create the state folder state: Not a directory",
                  files=("l.json", "state"))


@pytest.mark.parametrize("args,message", [
    (["run"], "the following arguments are required: LIST"),
    (["run", "l.json", "--procs-no", "0"], "expected a whole number >= 1"),
    (["run", "l.json", "--gpus", "0,1", "--per-gpu", "1,2,3"], "one count >= 1, or one per GPU"),
    (["run", "l.json", "--per-gpu", "2"], "--per-gpu needs --gpus"),
    (["run", "l.json", "--bogus"], "unrecognized arguments: --bogus"),
    (["nosuchcommand"], "unknown command 'nosuchcommand'"),
])
def test_usage_errors(tmp_path, args, message):
    with_state(tmp_path)
    check_refused(tmp_path, args, message)


def test_doe_refuses_bad_templates_and_overwrites(tmp_path):
    write_list(tmp_path / "l.json", [["true"]])
    files = ("l.json",)
    check_refused(tmp_path, ["doe", "l.json", "echo {x}", "x=1"], "l.json exists: --append", files)
    check_refused(tmp_path, ["doe", "n.json", "echo {x}"], "no values for {x}: add x=VALUES", files)
    check_refused(tmp_path, ["doe", "n.json", "echo {x}", "x=1", "y=2"],
                  "y=... is not a placeholder", files)
    check_refused(tmp_path, ["doe", "n.json", "echo {x", "x=1"], "bad placeholder", files)
    check_refused(tmp_path, ["doe", "n.json", "echo {x}", "x=1,,2"], "has an empty value", files)
    check_refused(tmp_path, ["doe", "n.json", "echo {x}", "x=1..b"], "is not a range", files)
    check_refused(tmp_path, ["doe", "n.json", "echo 'x", "x=1"], "cannot split the template", files)
    assert not os.path.exists(tmp_path / "n.json")
