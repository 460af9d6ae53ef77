"""Random search: doe values and a config's `search:` section may be
distributions; --samples N draws N configurations, the same ones for the
same seed, and the lists still multiply."""

import json
import os
import sys

import pytest

from util import TOP, run

sys.path.insert(0, os.path.join(TOP, "lib"))
from cooperate.errors import UserError  # noqa: E402
from cooperate.grid import config, space  # noqa: E402

TEMPLATE = "python t.py --lr {lr} --x {x} --n {n} --opt {opt}"
VALUES = ("lr=loguniform:1e-5:1e-1", "x=uniform:0:1", "n=int:1:10", "opt=sgd,adam")


def doe(tmp_path, name, *args):
    result = run("doe", name, *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads((tmp_path / name).read_text()) if (tmp_path / name).exists() else None


def test_doe_draws_samples_and_multiplies_the_lists(tmp_path):
    entries = doe(tmp_path, "a.json", TEMPLATE, *VALUES, "--samples", "20", "--seed", "5", "-y")
    assert len(entries) == 40
    again = doe(tmp_path, "b.json", TEMPLATE, *VALUES, "--samples", "20", "--seed", "5", "-y")
    assert again == entries
    other = doe(tmp_path, "c.json", TEMPLATE, *VALUES, "--samples", "20", "--seed", "6", "-y")
    assert other != entries
    lrs, xs, ns = set(), set(), set()
    for i, entry in enumerate(entries):
        lr, x, n, opt = (entry[k] for k in (3, 5, 7, 9))
        assert opt == ("sgd", "adam")[i % 2]
        if i % 2:
            # one sample, both optimisers
            assert entry[:9] == entries[i - 1][:9]
        assert 1e-5 <= float(lr) <= 1e-1 and 0 <= float(x) <= 1 and 1 <= int(n) <= 10
        assert n == str(int(n))
        assert len(lr.replace("e-0", "").replace(".", "").lstrip("0")) <= 8
        lrs.add(float(lr))
        xs.add(float(x))
        ns.add(int(n))
    assert len(lrs) == len(xs) == 20 and len(ns) > 3
    # loguniform: as many draws below 1e-3 as above, about
    assert 4 <= sum(lr < 1e-3 for lr in lrs) <= 16


def test_doe_without_a_seed_says_which_it_took(tmp_path):
    result = run("doe", "a.json", "t {lr}", "lr=uniform:1:2", "--samples", "3", "-y",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seed = result.stderr.split("--seed ")[1].split()[0]
    first = json.loads((tmp_path / "a.json").read_text())
    assert doe(tmp_path, "b.json", "t {lr}", "lr=uniform:1:2", "--samples", "3", "--seed",
               seed, "-y") == first


@pytest.mark.parametrize("args, message", [
    (("t {lr}", "lr=loguniform:1e-5:1e-1"), "say how many configurations to draw with --samples"),
    (("t {lr}", "lr=0.1,0.2", "--samples", "3"), "--samples and --seed draw the values of"),
    (("t {lr}", "lr=loguniform:0:1", "--samples", "3"), "bounds must be above 0"),
    (("t {lr}", "lr=uniform:2:1", "--samples", "3"), "LOW must be at most HIGH"),
    (("t {lr}", "lr=int:1:2.5", "--samples", "3"), "is not a distribution"),
    (("t {lr}", "lr=uniform:1", "--samples", "3"), "is not a distribution"),
])
def test_doe_refuses_bad_distributions(tmp_path, args, message):
    result = run("doe", "a.json", *args, "-y", cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "a.json").exists()


def test_the_same_seed_draws_the_same_values_on_every_python():
    drawn = space.sample([("lr", space.parse("lr", "loguniform:1e-5:1e-1")),
                          ("n", space.parse("n", "int:1:10"))], 3, 24)
    # written down once; Python 3.6 to 3.13 draw these
    assert drawn == [{"lr": 0.00706923, "n": 9}, {"lr": 5.37486e-05, "n": 10},
                     {"lr": 5.97561e-05, "n": 7}]


def write_configs(folder, search):
    folder.mkdir()
    (folder / "default.yaml").write_text("optim: {name: sgd, lr: 0.1}\nseed: 0\n")
    (folder / "config.yaml").write_text("optim:\n  name: [sgd, adam]\n" + search)


SEARCH = ("search:\n  samples: 4\n  seed: 3\n  optim.lr: loguniform:1e-4:1e-1\n"
          "  model.depth: int:2:6\n")


def test_a_config_search_section_is_written_out_as_variations(tmp_path):
    write_configs(tmp_path / "configs", SEARCH)
    grid = config.load(str(tmp_path / "configs"))
    assert len(grid.variations) == 8
    first = grid.variations[0]
    assert list(first.assignment) == ["optim.name", "optim.lr", "model.depth"]
    assert first.title.startswith("optim.name=sgd; optim.lr=")
    assert first.config["optim"]["lr"] == first.assignment["optim.lr"]
    assert first.config["model"] == {"depth": first.assignment["model.depth"]}
    assert first.arguments["optim"] == {"name": "sgd", "lr": first.assignment["optim.lr"]}
    # the samples vary slowest: each is tried with both optimisers
    assert [v.assignment["optim.name"] for v in grid.variations] == ["sgd", "adam"] * 4
    assert grid.variations[1].assignment["optim.lr"] == first.assignment["optim.lr"]
    assert len({v.assignment["optim.lr"] for v in grid.variations}) == 4
    # the same every time: prepared for real, the runs are the same variations
    result = run("prepare", "configs", "--do", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (exp,) = (tmp_path / "results").iterdir()
    folders = sorted(p.name for p in exp.iterdir() if p.is_dir() and p.name[0].isdigit())
    assert folders == [v.folder(i) for i, v in enumerate(config.load(
        str(tmp_path / "configs")).variations)]
    assert "optim.lr_" in folders[0] and "model.depth_" in folders[0]


@pytest.mark.parametrize("search, message", [
    ("search:\n  samples: 0\n  optim.lr: uniform:0:1\n", "samples must be a whole number"),
    ("search:\n  samples: 2\n  seed: x\n  optim.lr: uniform:0:1\n", "seed must be a whole"),
    ("search:\n  samples: 2\n  optim.lr: 0.1\n", "is no distribution"),
    ("search:\n  samples: 2\n", "no distribution to draw from"),
    ("search:\n  samples: 2\n  optim.name: uniform:0:1\n", "both a list of values and a"),
])
def test_a_bad_search_section_is_one_line(tmp_path, search, message):
    write_configs(tmp_path / "configs", search)
    with pytest.raises(UserError, match=message):
        config.load(str(tmp_path / "configs"))
    result = run("prepare", "configs", "--do", cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "results").exists()


def test_a_search_key_without_samples_is_part_of_the_grid(tmp_path):
    write_configs(tmp_path / "configs", "search:\n  beam: [1, 4]\n")
    grid = config.load(str(tmp_path / "configs"))
    assert [v.assignment for v in grid.variations][:2] == [
        {"search.beam": 1, "optim.name": "sgd"}, {"search.beam": 1, "optim.name": "adam"}]
    assert len(grid.variations) == 4
