"""Daily use (issue 22): a plain list's parameters as columns of collect
and the report and its results found by convention; doe's log-spaced
ranges and the ranges it refuses; one quoting of commands everywhere; -j;
--python for spawn and submit (their dry runs: nothing is started).

Real commands from this checkout on real files; what the runs wrote is
what collect reads back."""

import csv
import io
import json
import re
import shlex

from util import run, write_list

# writes results/$COOPERATE_ENTRY.json with its lr and arg, as a script would
SCRIPT = ('import json, os, sys; os.makedirs("results", exist_ok=True); '
          'json.dump(dict(loss=float(sys.argv[3]) * int(sys.argv[1])), '
          'open("results/%s.json" % os.environ["COOPERATE_ENTRY"], "w"))')


def table(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_a_doe_lists_parameters_are_columns_and_its_results_are_found(tmp_path):
    result = run("doe", "l.json", "python3 -c '%s' {x} --lr {lr} seed=1" % SCRIPT,
                 "x=1,2", "lr=0.5,0.25", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "l.json: 4 entries (4 new)" in result.stdout  # the summary: on stdout
    result = run("run", "l.json", "-j", "2", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    rows = table(run("collect", "l.json", cwd=str(tmp_path)).stdout)
    assert list(rows[0])[6:] == ["command", "lr", "arg3", "loss"]
    assert sorted((r["arg3"], r["lr"], r["loss"]) for r in rows) == [
        ("1", "0.25", "0.25"), ("1", "0.5", "0.5"), ("2", "0.25", "0.5"), ("2", "0.5", "1.0")]
    # the command, quoted as a shell would need it, splits back into the entry
    entries = json.loads((tmp_path / "l.json").read_text())
    assert sorted(shlex.split(r["command"]) for r in rows) == sorted(entries)
    # --where on a column, and on a parameter that does not vary
    picked = table(run("collect", "l.json", "--where", "lr=0.5", "--where", "seed=1",
                       cwd=str(tmp_path)).stdout)
    assert sorted(r["arg3"] for r in picked) == ["1", "2"]
    bad = run("collect", "l.json", "--where", "nope=1", cwd=str(tmp_path))
    assert bad.returncode == 2 and "no such column" in bad.stderr
    # the report shows the parameters and the results too
    result = run("report", "l.json", "-o", "r.html", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "4 attempts on" in result.stdout and "0 failure groups" in result.stdout
    page = (tmp_path / "r.html").read_text()
    for column in ("arg3", "lr", "loss"):
        assert re.search(r"<th[^>]*>%s<" % column, page), column


def test_different_commands_have_no_positional_columns(tmp_path):
    write_list(str(tmp_path / "l.json"), [["true", "a"], ["echo", "b", "c"]])
    assert run("run", "l.json", cwd=str(tmp_path)).returncode == 0
    rows = table(run("collect", "l.json", cwd=str(tmp_path)).stdout)
    assert list(rows[0])[6:] == ["command"]


def dry(tmp_path, *values):
    return run("doe", "l.json", "--dry-run", "echo {v}", *values, cwd=str(tmp_path))


def test_doe_log_spaced_and_refused_ranges(tmp_path):
    def values(text):
        result = dry(tmp_path, "v=" + text)
        assert result.returncode == 0, result.stderr
        return [json.loads(line)[1] for line in result.stdout.splitlines()]

    assert values("1e-4..1e-2..x10") == ["0.0001", "0.001", "0.01"]
    assert values("1e-2..1e-4..x10") == ["0.01", "0.001", "0.0001"]
    assert values("1..16..x2") == ["1", "2", "4", "8", "16"]
    assert values("1e-4..3e-4..1e-4") == ["0.0001", "0.0002", "0.0003"]
    assert values("0.5..0.5") == ["0.5"]
    for text, words in [("1e-4..1e-2", "needs a step: 1e-4..1e-2..x10 multiplies by 10"),
                        ("0..1..5", "gives one value (0)"),
                        ("1..10..x1", "the factor of '1..10..x1' must be > 1"),
                        ("0..1..x10", "its bounds must be > 0")]:
        result = dry(tmp_path, "v=" + text)
        assert result.returncode == 2 and words in result.stderr, (text, result.stderr)
        assert result.stderr.count("\n") == 1


def test_status_shows_commands_quoted_as_a_shell_would(tmp_path):
    write_list(str(tmp_path / "l.json"), [["sh", "-c", "echo it failed >&2; exit 3"]])
    result = run("run", "l.json", cwd=str(tmp_path))
    assert result.returncode == 1
    assert "sh -c 'echo it failed >&2; exit 3'" in result.stderr  # the worker's line
    text = run("status", "l.json", cwd=str(tmp_path)).stdout
    assert "sh -c 'echo it failed >&2; exit 3'" in text
    assert "      stderr: it failed" in text


def test_spawn_and_submit_run_python3_from_the_remote_path(tmp_path):
    write_list(str(tmp_path / "l.json"), [["true"]])
    result = run("submit", "l.json", "--workers", "2", "--dry-run", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr  # no --slurm needed
    assert result.stdout.splitlines()[-1].startswith("exec python3 ")
    result = run("submit", "l.json", "--workers", "2", "--dry-run", "--python", "/opt/py/bin/python3",
                 cwd=str(tmp_path))
    assert result.stdout.splitlines()[-1].startswith("exec /opt/py/bin/python3 ")
    result = run("spawn", "l.json", "--hosts", "node1", "--dry-run", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    remote = shlex.split(shlex.split(result.stdout)[-1])
    assert remote[0] == "python3"
    result = run("spawn", "l.json", "--hosts", "node1", "--dry-run", "--python", "python3.11",
                 cwd=str(tmp_path))
    assert shlex.split(shlex.split(result.stdout)[-1])[0] == "python3.11"


def test_shell_syntax_in_an_entry_no_shell_runs_is_said(tmp_path):
    """`|` and `>` in an entry without "shell": true reach the program as
    arguments: doe says so when it writes such entries, a worker when it
    starts one (once per entry), and the program gets them as words."""
    made = run("doe", "l.json", "echo {x} > out.txt", "x=1,2", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "no shell runs these entries: `>` reaches the program" in made.stderr
    write_list(tmp_path / "m.json", ["echo a | b", {"cmd": "echo c > d", "shell": True}])
    ran = run("run", "m.json", "--no-detach", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    notes = [line for line in ran.stderr.splitlines() if "no shell runs this entry" in line]
    assert len(notes) == 1 and "`|` reaches the program as argument" in notes[0], ran.stderr
    assert "a | b\n" in ran.stdout
    assert (tmp_path / "d").read_text() == "c\n"
