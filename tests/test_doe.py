"""cooperate-doe: lists from a template and values, by arguments or prompts."""

import json

from util import run


def load(path):
    with open(path) as f:
        return json.load(f)


def test_template_and_values_from_arguments(tmp_path):
    result = run("doe", "l.json", "python main.py --lr {lr} --bs {bs}", "lr=0.1,0.2", "bs=32,64",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert load(tmp_path / "l.json") == [
        ["python", "main.py", "--lr", "0.1", "--bs", "32"],
        ["python", "main.py", "--lr", "0.1", "--bs", "64"],
        ["python", "main.py", "--lr", "0.2", "--bs", "32"],
        ["python", "main.py", "--lr", "0.2", "--bs", "64"],
    ]
    assert "4 entries" in result.stderr


def test_ranges_and_values_with_spaces_stay_one_argument(tmp_path):
    assert run("doe", "l.json", "echo {n} {x} '{name}'", "n=1..3", "x=0..1..0.5",
               "name=a b", cwd=tmp_path).returncode == 0
    entries = load(tmp_path / "l.json")
    assert [e[1] for e in entries[::3]] == ["1", "2", "3"]
    assert sorted({e[2] for e in entries}) == ["0", "0.5", "1"]
    assert all(e[3] == "a b" for e in entries) and len(entries) == 9


def test_interactive_prompts_show_the_count_and_ask_before_writing(tmp_path):
    answers = "python main.py --lr {lr} --seed {seed}\n0.1,0.01\n1..3\ny\n"
    result = run("doe", "l.json", input=answers, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Values of lr" in result.stderr and "Values of seed" in result.stderr
    assert "6 entries" in result.stderr
    assert len(load(tmp_path / "l.json")) == 6
    # answering no writes nothing
    result = run("doe", "n.json", input="echo {x}\n1,2\nn\n", cwd=tmp_path)
    assert result.returncode == 0 and "nothing written" in result.stderr
    assert not (tmp_path / "n.json").exists()


def test_append_adds_only_new_entries_and_force_replaces(tmp_path):
    assert run("doe", "l.json", "echo {x}", "x=1,2", cwd=tmp_path).returncode == 0
    before = (tmp_path / "l.json").read_text()
    refused = run("doe", "l.json", "echo {x}", "x=3", cwd=tmp_path)
    assert refused.returncode == 2 and (tmp_path / "l.json").read_text() == before
    result = run("doe", "l.json", "--append", "echo {x}", "x=2,3", cwd=tmp_path)
    assert result.returncode == 0
    assert "(1 already in l.json)" in result.stderr
    assert load(tmp_path / "l.json") == [["echo", "1"], ["echo", "2"], ["echo", "3"]]
    assert run("doe", "l.json", "--force", "echo {x}", "x=9", cwd=tmp_path).returncode == 0
    assert load(tmp_path / "l.json") == [["echo", "9"]]


def test_dry_run_prints_and_writes_nothing(tmp_path):
    result = run("doe", "l.json", "--dry-run", "echo {x}", "x=1,2", cwd=tmp_path)
    assert result.returncode == 0
    assert [json.loads(line) for line in result.stdout.splitlines()] == [["echo", "1"], ["echo", "2"]]
    assert not (tmp_path / "l.json").exists()
