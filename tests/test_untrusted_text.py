"""Text from lists, configs and results reaches terminals, spreadsheets and
sbatch scripts without taking control of them (issue 20): control
characters in names are printed escaped, formula-like CSV cells are written
as text, a value an #SBATCH line cannot hold is refused before anything is
written or submitted; --notify names an experiment only for experiments;
and the access lists the trust checks read are parsed as the kernel writes
them."""

import csv
import io
import json
import os
import struct
import sys

from util import TOP, run, write_list

sys.path.insert(0, os.path.join(TOP, "lib"))

from cooperate.queue import trust  # noqa: E402


def test_control_characters_in_names_are_printed_escaped(tmp_path):
    write_list(tmp_path / "l.json", [
        {"name": "clear\x1b[2J\x1b[Hscreen", "cmd": ["true"]},
        ["sh", "-c", "exit 3", "bell\x07\rback\u202eevil"]])
    result = run("run", "l.json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    status = run("status", "l.json", cwd=tmp_path)
    for out in (result.stderr, status.stdout):
        assert not any(c in out for c in "\x1b\x07\r\u202e"), repr(out)
    assert "clear\\x1b[2J\\x1b[Hscreen" in result.stderr
    assert "bell\\x07\\rback\\u202eevil" in status.stdout


def test_formula_cells_are_written_as_text(tmp_path):
    words = ["=HYPERLINK(\"http://example.invalid\",\"x\")", "@SUM(A1)", "+1+2", "-cmd",
             "\tTAB", "\rCR"]
    (tmp_path / "res").mkdir()
    entries = []
    for word in words:
        results = json.dumps({"note": word, "loss": -0.5, "=column": 1})
        entries.append(["sh", "-c", "printf '%s' \"$1\" > res/$COOPERATE_ENTRY.json", "sh",
                        results, "--opt", word])
    write_list(tmp_path / "l.json", entries)
    assert run("run", "l.json", "-q", cwd=tmp_path).returncode == 0
    result = run("collect", "l.json", "--results-dir", "res/{id}.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert len(rows) == 1 + len(words)
    cells = [c for row in rows for c in row]
    for cell in cells:
        assert not cell.startswith(("=", "+", "@", "\t", "\r")) and not (
            cell.startswith("-") and not _number(cell)), (cell, rows)
    for word in words:
        # (text=True reads a carriage return as a newline)
        assert "'" + word.replace("\r", "\n") in cells, word
    assert "'=column" in rows[0] and "-0.5" in cells


def _number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def test_a_newline_in_an_sbatch_value_is_refused_and_nothing_is_submitted(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text("#!/bin/sh\ntouch %s\necho 1\n" % (tmp_path / "submitted"))
    (bin_dir / "sbatch").chmod(0o755)
    name = "a\ntouch pwned\n.json"
    write_list(tmp_path / name, [["true"]])
    env = dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ["PATH"]))
    before = sorted(os.listdir(tmp_path))
    for extra in ([], ["--dry-run"]):
        result = run("submit", name, "--slurm", "--workers", "2", *extra, cwd=tmp_path, env=env)
        assert result.returncode == 2, result
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "control character" in result.stderr and "\\n" in result.stderr
        assert result.stdout == ""
    write_list(tmp_path / "ok.json", [["true"]])
    before = sorted(os.listdir(tmp_path))
    result = run("submit", "ok.json", "--slurm", "--workers", "1", "--partition", "a\nb",
                 "--dry-run", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "--partition" in result.stderr
    assert sorted(os.listdir(tmp_path)) == before
    assert not (tmp_path / "submitted").exists() and not (tmp_path / "pwned").exists()


def test_a_path_with_spaces_is_quoted_in_the_sbatch_lines(tmp_path):
    (tmp_path / "my lists").mkdir()
    write_list(tmp_path / "my lists" / "l.json", [["true"]])
    result = run("submit", "my lists/l.json", "--slurm", "--workers", "1", "--dry-run",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    output = [line for line in result.stdout.splitlines() if line.startswith("#SBATCH --output")]
    assert output == ['#SBATCH --output="%s/my lists/l.json.cooperate/slurm/%%A_%%a.out"'
                      % tmp_path]


def test_notify_names_no_experiment_for_a_plain_list(tmp_path):
    write_list(tmp_path / "l.json", [["true"]])
    notify = "sh -c 'echo \"${COOPERATE_EXPERIMENT-unset}\" > n.txt'"
    env = dict(os.environ, COOPERATE_EXPERIMENT="/inherited")
    result = run("run", "l.json", "--notify", notify, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "n.txt").read_text() == "unset\n"


def posix_acl(*entries):
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def test_posix_access_lists_parse_as_the_kernel_writes_them():
    data = posix_acl((trust.ACL_USER_OBJ, 7, 0xFFFFFFFF), (trust.ACL_USER, 6, 1234),
                     (trust.ACL_GROUP_OBJ, 5, 0xFFFFFFFF), (trust.ACL_MASK, 7, 0xFFFFFFFF),
                     (trust.ACL_OTHER, 4, 0xFFFFFFFF))
    assert trust.parse_posix_acl(data)[1] == (trust.ACL_USER, 6, 1234)
    for bad in (b"", struct.pack("<I", 1), data[:-1]):
        try:
            trust.parse_posix_acl(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def nfs4_ace(kind, flags, mask, who):
    raw = who.encode()
    return struct.pack(">IIII", kind, flags, mask, len(raw)) + raw + b"\0" * (-len(raw) % 4)


def test_nfs4_access_lists_parse_as_xdr():
    data = struct.pack(">I", 3) + b"".join([
        nfs4_ace(0, 0, 0x16, "OWNER@"), nfs4_ace(1, 0, 0x6, "EVERYONE@"),
        nfs4_ace(0, 0x40, 0x2, "lab@example.org")])
    assert trust.parse_nfs4_acl(data) == [(0, 0, 0x16, "OWNER@"), (1, 0, 0x6, "EVERYONE@"),
                                          (0, 0x40, 0x2, "lab@example.org")]
    try:
        trust.parse_nfs4_acl(data[:-3])
    except ValueError:
        return
    raise AssertionError("a cut list parsed")
