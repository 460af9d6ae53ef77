"""cooperate.grid: liftoff-style config grids, against small hand-written
config folders with hand-written expected merged configs."""

import copy
import json
import os
import re
import textwrap

import pytest
import yaml

from cooperate.grid import config as grid
from cooperate.errors import UserError

DEFAULT = """\
model:
  name: mlp
  hidden: 64
  layers: [1, 2]
optim:
  name: sgd
  lr: 0.1
  momentum: 0.9
seed: 0
"""


def folder(tmp_path, default=DEFAULT, **files):
    """Write default.yaml and the given files (name without .yaml -> text)."""
    if default is not None:
        (tmp_path / "default.yaml").write_text(textwrap.dedent(default), encoding="utf-8")
    for name, text in files.items():
        (tmp_path / (name + ".yaml")).write_text(textwrap.dedent(text), encoding="utf-8")
    return str(tmp_path)


def configs(g):
    return [v.config for v in g.variations]


def assignments(g):
    return [v.assignment for v in g.variations]


def error(func, *args):
    with pytest.raises(UserError) as info:
        func(*args)
    message = str(info.value)
    assert "\n" not in message
    assert info.value.code == 2
    return message


def test_product_size_order_titles_and_merged_configs(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config="""\
        model:
          name: [mlp, cnn]
        optim:
          lr: [0.1, 0.01, 0.001]
        """))
    assert len(g) == 6 and g.duplicates == 0
    (gfile,) = g.files
    assert gfile.path == os.path.join(str(tmp_path), "config.yaml")
    # liftoff's order: the last key first; the first variable varies slowest
    assert [(v.name, v.values) for v in gfile.variables] == [
        ("optim.lr", [0.1, 0.01, 0.001]), ("model.name", ["mlp", "cnn"])]
    assert (gfile.size, gfile.count) == (6, 6)
    assert [v.title for v in g] == [
        "optim.lr=0.1; model.name=mlp",
        "optim.lr=0.1; model.name=cnn",
        "optim.lr=0.01; model.name=mlp",
        "optim.lr=0.01; model.name=cnn",
        "optim.lr=0.001; model.name=mlp",
        "optim.lr=0.001; model.name=cnn",
    ]
    assert g.variations[0].folder(0) == "0000_optim.lr_0.1__model.name_mlp"
    assert g.variations[3].folder(3) == "0003_optim.lr_0.01__model.name_cnn"
    assert list(g.variations[3].assignment.items()) == [("optim.lr", 0.01), ("model.name", "cnn")]
    assert g.variations[3].arguments == {"optim": {"lr": 0.01}, "model": {"name": "cnn"}}
    assert g.variations[3].config == {
        "model": {"name": "cnn", "hidden": 64, "layers": [1, 2]},
        "optim": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
        "seed": 0,
    }
    assert g.variations[3].source == gfile.path
    # what liftoff 0.3.3 writes into 0000_optim.lr_0.1__model.name_mlp/.__cfg_hash
    assert g.variations[0].cfg_hash == "36bd77ce1e93ca1efea8e1faab21c28bd2b02417b181b0ff985d753c"
    for v in g:
        json.dumps(v.config)  # plain data
        assert v.cfg_hash == grid.cfg_hash(v.config)


def test_variables_are_taken_last_key_first_depth_first(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config="""\
        seed: [1, 2]
        optim:
          lr: [0.5]
          sched:
            gamma: [0.9]
            step: [10]
          name: [sgd, adam]
        """))
    assert [v.name for v in g.files[0].variables] == [
        "optim.name", "optim.sched.step", "optim.sched.gamma", "optim.lr", "seed"]
    assert [v.title for v in g] == [
        "optim.name=sgd; optim.sched.step=10; optim.sched.gamma=0.9; optim.lr=0.5; seed=1",
        "optim.name=sgd; optim.sched.step=10; optim.sched.gamma=0.9; optim.lr=0.5; seed=2",
        "optim.name=adam; optim.sched.step=10; optim.sched.gamma=0.9; optim.lr=0.5; seed=1",
        "optim.name=adam; optim.sched.step=10; optim.sched.gamma=0.9; optim.lr=0.5; seed=2",
    ]
    assert g.variations[3].config == {
        "model": {"name": "mlp", "hidden": 64, "layers": [1, 2]},
        "optim": {"name": "adam", "lr": 0.5, "momentum": 0.9,
                  "sched": {"gamma": 0.9, "step": 10}},
        "seed": 2,
    }


def test_deep_merge_keeps_siblings_and_merges_dict_values(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config="""\
        optim: [{lr: 0.5}, {name: adam, betas: [0.9, 0.99]}]
        data:
          sub:
            batch: [8]
        """))
    assert configs(g) == [
        {"model": {"name": "mlp", "hidden": 64, "layers": [1, 2]},
         "optim": {"name": "sgd", "lr": 0.5, "momentum": 0.9},
         "seed": 0, "data": {"sub": {"batch": 8}}},
        {"model": {"name": "mlp", "hidden": 64, "layers": [1, 2]},
         "optim": {"name": "adam", "lr": 0.1, "momentum": 0.9, "betas": [0.9, 0.99]},
         "seed": 0, "data": {"sub": {"batch": 8}}},
    ]
    assert g.variations[1].title == "data.sub.batch=8; optim={'name': 'adam', 'betas': [0.9, 0.99]}"


def test_leading_underscore_replaces_the_whole_subtree(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config="""\
        _optim: [{name: adam, lr: 0.001}, {name: rmsprop}]
        model:
          _layers: [[3]]
        """))
    assert configs(g) == [
        {"model": {"name": "mlp", "hidden": 64, "layers": [3]},
         "optim": {"name": "adam", "lr": 0.001}, "seed": 0},
        {"model": {"name": "mlp", "hidden": 64, "layers": [3]},
         "optim": {"name": "rmsprop"}, "seed": 0},
    ]
    assert list(g.variations[0].assignment.items()) == [
        ("model._layers", [3]), ("_optim", {"name": "adam", "lr": 0.001})]
    assert g.variations[0].title == "model._layers=[3]; _optim={'name': 'adam', 'lr': 0.001}"
    # a replaced subtree whose own leaves vary
    g = grid.load_config_dir(folder(tmp_path, config="""\
        _optim:
          name: [adam]
          eps: [1.0e-8, 1.0e-6]
        """))
    assert [c["optim"] for c in configs(g)] == [{"name": "adam", "eps": 1e-8},
                                                {"name": "adam", "eps": 1e-6}]
    assert [v.title for v in g] == ["_optim.eps=1e-08; _optim.name=adam",
                                    "_optim.eps=1e-06; _optim.name=adam"]


def test_underscore_keys_inside_a_value_that_replaces_stay_as_written(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config="""\
        _optim:
          _name: [adam]
        extra: [{_a: 1, b: {_c: 2}}]
        model: [{_hidden: 8}]
        """))
    assert configs(g) == [{
        "model": {"name": "mlp", "hidden": 8, "layers": [1, 2]},  # merged: _hidden replaces
        "optim": {"_name": "adam"},  # replaced by {_name: adam} as it is
        "extra": {"_a": 1, "b": {"_c": 2}},  # new: as it is
        "seed": 0,
    }]


def test_trailing_underscore_merges_and_keeps_its_name(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, default="""\
        optim_: {name: sgd, lr: 0.1, nesterov: true}
        """, config="""\
        optim_:
          lr: [0.5]
        extra_: [{a: 1}]
        """))
    assert configs(g) == [{"optim_": {"name": "sgd", "lr": 0.5, "nesterov": True},
                           "extra_": {"a": 1}}]
    assert g.variations[0].title == "extra_={'a': 1}; optim_.lr=0.5"


def test_a_key_and_its_trailing_underscore_twin_are_two_keys(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, default="""\
        optim: {name: sgd, lr: 0.1}
        optim_: {name: sgd, lr: 0.1}
        """, config="""\
        optim:
          lr: [0.5]
        optim_:
          lr: [0.2]
        """))
    assert configs(g) == [{"optim": {"name": "sgd", "lr": 0.5},
                           "optim_": {"name": "sgd", "lr": 0.2}}]
    assert g.variations[0].title == "optim_.lr=0.2; optim.lr=0.5"


def test_delete_removes_the_key(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, default=DEFAULT + "gone: delete\n", config="""\
        optim:
          momentum: [0.5, delete]
        model: [{hidden: delete}]
        """))
    assert configs(g) == [
        {"model": {"name": "mlp", "layers": [1, 2]},
         "optim": {"name": "sgd", "lr": 0.1, "momentum": 0.5}, "seed": 0},
        {"model": {"name": "mlp", "layers": [1, 2]},
         "optim": {"name": "sgd", "lr": 0.1}, "seed": 0},
    ]
    # a variable whose value is delete is left out of the title (and folder)
    assert [v.title for v in g] == ["model={'hidden': 'delete'}; optim.momentum=0.5",
                                    "model={'hidden': 'delete'}"]
    assert g.variations[1].folder(1) == "0001_model___hidden____delete__"
    assert g.variations[1].assignment == {"model": {"hidden": "delete"},
                                          "optim.momentum": "delete"}
    assert "gone" not in g.default


def test_delete_of_a_whole_subtree_and_of_an_underscore_key(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config="""\
        _optim: [delete]
        model: [delete]
        """))
    assert configs(g) == [{"seed": 0}]


AB = """\
    a: [1, 2, 3]
    b: [1, 2, 3]
    liftoff:
      - vars: [a, b]
        "%s": [[1, 2]]
    """


def pairs(g):
    """(a, b) of each variation; b is the first variable (the last key), so
    it varies slowest."""
    return [(v.assignment["a"], v.assignment["b"]) for v in g]


def test_implies(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config=AB % "->"))
    assert pairs(g) == [(2, 1), (3, 1), (1, 2), (2, 2), (3, 2), (2, 3), (3, 3)]
    assert g.files[0].constraints == ["(a=1 -> b=2)"]
    assert (g.files[0].size, g.files[0].count) == (9, 7)


def test_implies_with_several_pairs_for_a_value_only_the_first_counts(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config="""\
        a: [1, 2]
        b: [1, 2, 3]
        liftoff:
          - {vars: [a, b], "->": [[1, 2], [1, 3]]}
        """))
    assert pairs(g) == [(2, 1), (1, 2), (2, 2), (2, 3)]
    g = grid.load_config_dir(folder(tmp_path, config="""\
        a: [1, 2]
        b: [1, 2, 3]
        liftoff:
          - {vars: [a, b], "->": [[1, 3], [1, 2]]}
        """))
    assert pairs(g) == [(2, 1), (2, 2), (1, 3), (2, 3)]


def test_iff(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config=AB % "<=>"))
    assert pairs(g) == [(2, 1), (3, 1), (1, 2), (2, 3), (3, 3)]


def test_or(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config=AB % "v"))
    assert pairs(g) == [(1, 1), (1, 2), (2, 2), (3, 2), (1, 3)]


def test_not_both(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config=AB % "!!"))
    assert pairs(g) == [(1, 1), (2, 1), (3, 1), (2, 2), (3, 2), (1, 3), (2, 3), (3, 3)]


def test_constraint_values_compare_as_python_compares_them(tmp_path):
    # liftoff accepts true as a value of n (True == 1) and drops n=1 with flag=true
    g = grid.load_config_dir(folder(tmp_path, config="""\
        flag: [true, false]
        n: [0, 1, 2]
        liftoff:
          - {vars: [n, flag], "!!": [[true, true]]}
        """))
    assert [(v.assignment["n"], v.assignment["flag"]) for v in g] == [
        (0, True), (0, False), (1, False), (2, True), (2, False)]
    assert g.variations[2].title == "n=1; flag=False"


def test_not_both_and_iff_cut_16_to_6_with_suffix_names(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config="""\
        optim:
          name: [sgd, adam]
          lr: [0.1, 0.01]
        model:
          norm: [true, false]
          dropout: [0.0, 0.5]
        liftoff:
          - vars: [name, lr]
            "<=>": [[sgd, 0.1]]
          - vars: [norm, model.dropout]
            "!!": [[false, 0.5]]
        """))
    assert g.files[0].size == 16
    assert [v.title for v in g] == [
        "model.dropout=0.0; model.norm=True; optim.lr=0.1; optim.name=sgd",
        "model.dropout=0.0; model.norm=True; optim.lr=0.01; optim.name=adam",
        "model.dropout=0.0; model.norm=False; optim.lr=0.1; optim.name=sgd",
        "model.dropout=0.0; model.norm=False; optim.lr=0.01; optim.name=adam",
        "model.dropout=0.5; model.norm=True; optim.lr=0.1; optim.name=sgd",
        "model.dropout=0.5; model.norm=True; optim.lr=0.01; optim.name=adam",
    ]
    assert g.variations[3].config == {
        "model": {"name": "mlp", "hidden": 64, "layers": [1, 2], "norm": False, "dropout": 0.0},
        "optim": {"name": "adam", "lr": 0.01, "momentum": 0.9},
        "seed": 0,
    }
    assert g.files[0].constraints == [
        "(optim.name=sgd <=> optim.lr=0.1)",
        "not (model.norm=False and model.dropout=0.5)",
    ]


def test_constraint_delete_is_added_and_used_only_where_implied(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config="""\
        optim:
          name: [sgd, adam]
          momentum: [0.9, 0.5]
        liftoff:
          - {vars: [name, momentum], "->": [[adam, delete]]}
        """))
    assert [v.values for v in g.files[0].variables] == [[0.9, 0.5, "delete"], ["sgd", "adam"]]
    assert [v.title for v in g] == [
        "optim.momentum=0.9; optim.name=sgd",
        "optim.momentum=0.5; optim.name=sgd",
        "optim.name=adam",  # momentum=delete is left out
    ]
    assert g.variations[2].assignment == {"optim.momentum": "delete", "optim.name": "adam"}
    assert g.variations[2].config["optim"] == {"name": "adam", "lr": 0.1}


def test_a_delete_in_a_constrained_variables_list_needs_a_pair_leading_to_it(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config="""\
        optim:
          name: [sgd, adam]
          momentum: [0.9, delete]
        liftoff:
          - {vars: [name, momentum], "!!": [[sgd, 0.9]]}
        """))
    assert [v.title for v in g] == ["optim.momentum=0.9; optim.name=adam"]


def test_a_delete_in_an_unconstrained_variable_is_kept_beside_constraints(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config="""\
        seed: [1, delete]
        optim:
          name: [sgd, adam]
          momentum: [0.9, 0.5]
        liftoff:
          - {vars: [name, momentum], "->": [[adam, delete]]}
        """))
    assert [v.title for v in g] == [
        "optim.momentum=0.9; optim.name=sgd; seed=1",
        "optim.momentum=0.9; optim.name=sgd",
        "optim.momentum=0.5; optim.name=sgd; seed=1",
        "optim.momentum=0.5; optim.name=sgd",
        "optim.name=adam; seed=1",
        "optim.name=adam",
    ]
    assert g.variations[5].config == {
        "model": {"name": "mlp", "hidden": 64, "layers": [1, 2]},
        "optim": {"name": "adam", "lr": 0.1},
    }


def test_a_full_path_wins_over_longer_paths_ending_in_it(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config="""\
        lr: [1, 2]
        optim:
          lr: [1, 2]
        liftoff:
          - {vars: [lr, optim.lr], "!!": [[1, 2], [2, 1]]}
        """))
    assert [(v.assignment["lr"], v.assignment["optim.lr"]) for v in g] == [(1, 1), (2, 2)]


def test_ambiguous_suffix_names_the_candidates(tmp_path):
    message = error(grid.load_config_dir, folder(tmp_path, config="""\
        optim:
          lr: [1, 2]
        sched:
          lr: [3]
        liftoff:
          - {vars: [lr, sched.lr], "!!": [[1, 3]]}
        """))
    assert "config.yaml" in message and "constraint 1" in message
    assert "'lr' is ambiguous" in message
    assert "sched.lr, optim.lr" in message  # in variable order


def test_unknown_variable_name(tmp_path):
    message = error(grid.load_config_dir, folder(tmp_path, config="""\
        optim:
          lr: [1, 2]
        liftoff:
          - {vars: [lr, momentum], "!!": [[1, 3]]}
        """))
    assert "config.yaml" in message
    assert "'momentum' matches no variable" in message
    assert "optim.lr" in message


def test_unknown_operator(tmp_path):
    message = error(grid.load_config_dir, folder(tmp_path, config=AB % "=>"))
    assert "config.yaml" in message and "constraint 1" in message
    assert "unknown operator '=>'" in message


@pytest.mark.parametrize("constraints, expected", [
    ("{vars: [a, b]}", "'liftoff:' must be a list"),
    ("[[a, b]]", "expected {vars"),
    ("[{vars: [a], '!!': [[1, 2]]}]", "'vars' must be a list of two"),
    ("[{'!!': [[1, 2]]}]", "'vars' must be a list of two"),
    ("[{vars: [a, b]}]", "no operator"),
    ("[{vars: [a, b], '!!': [1, 2]}]", "pairs"),
    ("[{vars: [a, b], '!!': [[1, 2, 3]]}]", "pairs"),
    ("[{vars: [a, b], '!!': [[1, 7]]}]", "7 is not one of the values of b (1, 2, 3)"),
    ("[{vars: [a, a], '!!': [[1, 2]]}]", "both names refer to the variable a"),
    ("[{vars: [a, b], '<=>': [[1, 2], [1, 3]]}]", "name a value twice"),
])
def test_malformed_constraints(tmp_path, constraints, expected):
    message = error(grid.load_config_dir, folder(tmp_path, config="""\
        a: [1, 2, 3]
        b: [1, 2, 3]
        liftoff: %s
        """ % constraints))
    assert "config.yaml" in message
    assert expected in message


def test_scalar_where_a_list_is_needed_names_key_and_file(tmp_path):
    message = error(grid.load_config_dir, folder(tmp_path, config_b="""\
        optim:
          lr: 0.1
        """))
    assert message.startswith(os.path.join(str(tmp_path), "config_b.yaml") + ": optim.lr:")
    assert "provide a list" in message


def test_empty_list_is_an_error(tmp_path):
    message = error(grid.load_config_dir, folder(tmp_path, config="seed: []\n"))
    assert "config.yaml: seed: empty list" in message


def test_yaml_syntax_error_has_file_line_and_column(tmp_path):
    path = folder(tmp_path, config="""\
        a: [1, 2]
        b:
          c: [3, 4
          d: [5]
        """)
    message = error(grid.load_config_dir, path)
    assert message.startswith(os.path.join(path, "config.yaml") + ":4:4: YAML error: ")
    assert "expected ',' or ']'" in message
    (tmp_path / "config.yaml").write_text("a: [1]\n")
    (tmp_path / "default.yaml").write_text("a: 1\n\tb: 2\n")
    message = error(grid.load_config_dir, path)
    assert message.startswith(os.path.join(path, "default.yaml") + ":2:1: YAML error: ")


def test_missing_default_yaml(tmp_path):
    message = error(grid.load_config_dir, folder(tmp_path, default=None, config="a: [1]\n"))
    assert str(tmp_path) in message and "missing default.yaml" in message


def test_no_config_files(tmp_path):
    message = error(grid.load_config_dir, folder(tmp_path))
    assert "no config*.yaml" in message


def test_not_a_folder(tmp_path):
    assert "not a folder" in error(grid.load_config_dir, str(tmp_path / "nope"))
    assert "no such file or folder" in error(grid.load, str(tmp_path / "nope"))


@pytest.mark.parametrize("text", ["", "liftoff: []\n", "model: {}\n"])
def test_a_config_without_variables_is_an_empty_grid(tmp_path, text):
    message = error(grid.load_config_dir, folder(tmp_path, config=text))
    assert "config.yaml: no variables" in message


def test_constraints_that_remove_everything(tmp_path):
    message = error(grid.load_config_dir, folder(tmp_path, config="""\
        a: [1, 2]
        b: [1]
        liftoff:
          - {vars: [a, b], "!!": [[1, 1], [2, 1]]}
        """))
    assert "config.yaml: the constraints under 'liftoff:' rule out all 2 variations" in message


@pytest.mark.parametrize("name, text", [("config", "- a\n- b\n"), ("config", "3\n"),
                                        ("default", "[1, 2]\n")])
def test_top_level_must_be_a_mapping(tmp_path, name, text):
    path = folder(tmp_path, config="a: [1]\n")
    (tmp_path / (name + ".yaml")).write_text(text)
    message = error(grid.load_config_dir, path)
    assert message.startswith(os.path.join(path, name + ".yaml") + ": the top level must be a mapping")


def test_empty_default_is_allowed(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, default="", config="a: [1, 2]\n"))
    assert configs(g) == [{"a": 1}, {"a": 2}]


def test_several_config_files_concatenate_and_drop_duplicates(tmp_path):
    g = grid.load_config_dir(folder(
        tmp_path,
        config="seed: [1, 2]\n",
        config_more="""\
            seed: [2, 3]
            optim:
              lr: [0.1]
            """,  # seed=2 with lr=0.1 (the default) is config.yaml's seed=2
        configx="seed: [0, 3]\n"))  # seed=0 is the default, seed=3 came before
    assert [os.path.basename(f.path) for f in g.files] == [
        "config.yaml", "config_more.yaml", "configx.yaml"]
    assert [f.count for f in g.files] == [2, 2, 2]
    assert [v.title for v in g] == ["seed=1", "seed=2", "optim.lr=0.1; seed=3", "seed=0"]
    assert [v.folder(i) for i, v in enumerate(g)] == [
        "0000_seed_1", "0001_seed_2", "0002_optim.lr_0.1__seed_3", "0003_seed_0"]
    assert [os.path.basename(v.source) for v in g] == [
        "config.yaml", "config.yaml", "config_more.yaml", "configx.yaml"]
    assert g.duplicates == 2
    assert len(set(v.cfg_hash for v in g)) == 4
    # seed=0 is the defaults as they are: the hash liftoff gives them
    assert g.variations[3].cfg_hash == "36bd77ce1e93ca1efea8e1faab21c28bd2b02417b181b0ff985d753c"


def test_folders_are_liftoffs_safe_titles_or_the_hash_from_255_characters(tmp_path):
    long_a = "x" * 244  # 0005_path_xxx...: 254 characters, kept
    long_b = "x" * 245  # 0006_path_xxx...: 255 characters, the hash instead
    g = grid.load_config_dir(folder(tmp_path, config="""\
        path: [/data/set, ../../etc, "with space", ".hidden", "a...b", "%s", "%s", "é",
               "a=(1); b=-2"]
        """ % (long_a, long_b)))
    folders = [v.folder(i) for i, v in enumerate(g)]
    assert folders[:5] == ["0000_path__data_set", "0001_path_.._.._etc", "0002_path_with_space",
                           "0003_path_.hidden", "0004_path_a...b"]
    assert folders[5] == "0005_path_" + long_a and len(folders[5]) == 254
    assert folders[6] == "0006_5a032b66ba92d3366f449e9012f4b20a5e6b7db6f40d0c1326f5c1c3"
    assert folders[6] == "0006_" + g.variations[6].cfg_hash
    assert folders[7:] == ["0007_path__", "0008_path_a_(1)__b_-2"]
    for name in folders:
        assert re.match(r"^[-_.()A-Za-z0-9]+$", name)
    assert g.variations[6].title == "path=" + long_b  # the title itself is not cut


def test_folder_name():
    assert grid.folder_name(3, "model.name=mlp; optim.lr=0.1", "h") == "0003_model.name_mlp__optim.lr_0.1"
    assert grid.folder_name(12345, "a=(1); b=-2", "h") == "12345_a_(1)__b_-2"
    assert grid.folder_name(0, "", "h") == "0000_"
    assert grid.folder_name(7, "x" * 249, "abc") == "0007_" + "x" * 249  # 254 characters
    assert grid.folder_name(7, "x" * 250, "abc") == "0007_abc"  # 255: the hash
    assert grid.folder_name(10000, "x" * 248, "abc") == "10000_" + "x" * 248
    assert grid.folder_name(10000, "x" * 249, "abc") == "10000_abc"


def test_safe_name_for_experiment_names():
    assert grid.safe_name("my grid") == "my_grid"
    assert grid.safe_name("a/b") == "a_b"
    assert grid.safe_name(".hidden") == "_hidden"
    assert grid.safe_name("..") == "_."
    assert grid.safe_name(".") == "_"
    assert grid.safe_name("") == "_"
    assert grid.safe_name("a=(1); b=-2") == "a_(1)__b_-2"
    assert grid.safe_name("model.name=mlp; optim.lr=0.1") == "model.name_mlp__optim.lr_0.1"
    assert grid.safe_name("k=" + "v" * 300) == "k_" + "v" * 300  # not cut


def test_cfg_hash_is_liftoffs_and_survives_a_yaml_round_trip(tmp_path):
    # liftoff.common.dict_utils: hashstr(uniqstr(cfg))
    assert grid.uniqstr({"b": {"d": 3, "c": 2}, "a": 1}) == "'a'_1,'b'_'c'_2,'d'_3"
    assert grid.cfg_hash({"b": {"d": 3, "c": 2}, "a": 1}) == (
        "24ace55149221e8048eab60259c232e20f6cfba34af58d8d9d90bc94")
    assert grid.cfg_hash({"a": 1, "b": {"c": 2, "d": 3}}) == (
        "24ace55149221e8048eab60259c232e20f6cfba34af58d8d9d90bc94")
    assert grid.cfg_hash({}) == "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"
    config = {"optim": {"lr": 1e-05, "flag": True}, "xs": [1, "1", None, 0.5], "name": "é"}
    assert grid.uniqstr(config) == "'name'_'é','optim'_'flag'_True,'lr'_1e-05,'xs'_1,'1',None,0.5"
    assert grid.cfg_hash(config) == "ee9851b5381724a8e23d77f4288806a5f3d841fbc096d78f872d2f11"
    # True, 1, 1.0, None and "1" are different configs
    assert [grid.uniqstr({"flag": x}) for x in (True, 1, 1.0, None, "1")] == [
        "'flag'_True", "'flag'_1", "'flag'_1.0", "'flag'_None", "'flag'_'1'"]
    assert grid.cfg_hash({"flag": True}) == "0a5316d72b97b7394441411ff8f5d2ae7e5691586acbd2530c25d973"
    assert grid.cfg_hash({"flag": 1}) == "aba3b506672f4734ccfdab3fd024c8a14e2e919d8e486b6e2c5c45d5"
    g = grid.load_config_dir(folder(tmp_path, config="""\
        optim:
          lr: [0.1, 1.0e-5, 1]
          flag: [true, 1, null, "1"]
        """))
    assert len(g) == 12 and len(set(v.cfg_hash for v in g)) == 12
    for v in g:
        back = yaml.safe_load(yaml.safe_dump(v.config))
        assert grid.cfg_hash(back) == v.cfg_hash
        assert re.match(r"^[0-9a-f]{56}$", v.cfg_hash)
    # keys of mixed types still give a hash (liftoff's uniqstr fails there)
    assert grid.cfg_hash({1: "a", "b": 2}) == grid.cfg_hash({"b": 2, 1: "a"})


def test_merged_configs_do_not_change_the_inputs_and_have_their_own_top_level(tmp_path):
    default = yaml.safe_load(DEFAULT)
    config = {"optim": {"lr": [0.5, 0.6]}, "model": [{"hidden": 1}]}
    before = (copy.deepcopy(default), copy.deepcopy(config))
    g = grid.expand(default, [("mem", config)])
    assert (default, config) == before
    first, second = g.variations
    first.config["out_dir"] = "somewhere"
    assert "out_dir" not in second.config and "out_dir" not in g.default
    assert first.config["optim"] is not second.config["optim"]


def test_load_single_does_not_expand_lists(tmp_path):
    path = tmp_path / "one run.yaml"
    path.write_text("lr: [0.1, 0.2]\nmodel: {name: mlp, gone: delete}\n_keep: 1\n")
    g = grid.load_single(str(path))
    (v,) = g.variations
    assert v.config == {"lr": [0.1, 0.2], "model": {"name": "mlp"}, "_keep": 1}
    assert (v.title, v.folder(0), v.assignment, v.arguments) == ("one run", "0000_one_run", {}, {})
    # liftoff-prepare "one run.yaml" writes this into 0000_one_run/.__cfg_hash
    assert v.cfg_hash == "c7fdab3c71ea77fa50d036c0d26cb5fac3e2271747698b856932c6e3"
    assert grid.load(str(path)).variations[0].cfg_hash == v.cfg_hash
    # over a default: the variation rules apply
    g = grid.load_single(str(path), default={"lr": 1, "model": {"name": "cnn", "gone": 3},
                                             "keep": 0, "seed": 2})
    assert g.variations[0].config == {"lr": [0.1, 0.2], "model": {"name": "mlp"},
                                      "keep": 1, "seed": 2}
    default_path = tmp_path / "default.yaml"
    default_path.write_text("seed: 5\n")
    g = grid.load_single(str(path), str(default_path))
    assert g.variations[0].config["seed"] == 5 and g.default_path == str(default_path)


def test_parse_value_reads_yaml_scalars():
    assert grid.parse_value("False") is False
    assert grid.parse_value("true") is True
    assert grid.parse_value("0.1") == 0.1
    assert grid.parse_value("3") == 3 and isinstance(grid.parse_value("3"), int)
    assert grid.parse_value("abc") == "abc"
    assert grid.parse_value("[1,2]") == [1, 2]
    assert grid.parse_value("{a: 1}") == {"a": 1}
    assert grid.parse_value("null") is None
    assert grid.parse_value("") == ""
    assert grid.parse_value("#1") == "#1"
    assert grid.parse_value("@home") == "@home"
    assert grid.parse_value("'0.1'") == "0.1"
    assert "not a valid YAML value" in error(grid.parse_value, "[1,")


def test_parse_setting_and_filters():
    assert grid.parse_setting("optim.lr=0.1") == ("optim.lr", 0.1)
    assert grid.parse_setting("name=a=b") == ("name", "a=b")
    assert grid.parse_filters(["a.b=False", "c=x"]) == [("a.b", False), ("c", "x")]
    for bad in ["nokey", "=1", "a..b=1"]:
        assert "KEY.PATH=VALUE" in error(grid.parse_setting, bad)


def test_matches():
    config = {"optim": {"name": "sgd", "lr": 0.1}, "flag": True, "n": 1, "xs": [1, 2]}
    assert grid.matches(config, grid.parse_filters(["optim.name=sgd", "optim.lr=0.1"]))
    assert grid.matches(config, {"flag": True, "n": 1.0, "xs": [1, 2]})
    assert not grid.matches(config, {"flag": 1})  # True is not 1
    assert not grid.matches(config, {"n": True})
    assert not grid.matches(config, {"optim.name": "adam"})
    assert not grid.matches(config, {"optim.missing": None})
    assert not grid.matches(config, {"optim.lr.deeper": 1})
    assert grid.matches(config, [])
    assert grid.get_path({1: {"a": 2}}, "1.a") == 2


def test_apply_settings_creates_nested_keys_and_copies():
    config = {"optim": {"lr": 0.1}, "seed": 0}
    out = grid.apply_settings(config, grid.parse_filters(["optim.lr=0.5", "new.deep.key=x"]))
    assert out == {"optim": {"lr": 0.5}, "seed": 0, "new": {"deep": {"key": "x"}}}
    assert config == {"optim": {"lr": 0.1}, "seed": 0}
    assert "seed is 0, not a mapping" in error(grid.apply_settings, config, [("seed.x", 1)])


def test_ten_thousand_variations_have_distinct_folders(tmp_path):
    values = lambda: "[%s]" % ", ".join(str(i) for i in range(10))  # noqa: E731
    path = folder(tmp_path, config="""\
        model:
          hidden: %s
          layers: %s
        optim:
          lr: %s
        seed: %s
        """ % (values(), values(), values(), values()))
    g = grid.load_config_dir(path)
    folders = [v.folder(i) for i, v in enumerate(g)]
    assert len(g) == 10000 and len(set(folders)) == 10000
    assert len(set(v.cfg_hash for v in g)) == 10000
    assert folders[0] == "0000_seed_0__optim.lr_0__model.layers_0__model.hidden_0"
    assert folders[1] == "0001_seed_0__optim.lr_0__model.layers_0__model.hidden_1"
    assert folders[-1] == "9999_seed_9__optim.lr_9__model.layers_9__model.hidden_9"


def test_iff_pairs_may_not_name_a_value_twice_even_the_same_pair(tmp_path):
    # liftoff refuses [[1, 2], [1, 2]] too ("Inconsistency detected")
    message = error(grid.load_config_dir, folder(tmp_path, default="a: 0\nb: 0\n", config="""\
        a: [1, 2]
        b: [2, 3]
        liftoff:
          - vars: [a, b]
            "<=>": [[1, 2], [1, 2]]
        """))
    assert "name a value twice at [1, 2]" in message


def test_a_dict_value_changed_by_a_merge_changes_for_the_next_variations(tmp_path):
    # liftoff puts a variable's dict value into the config as it is: the
    # "delete" inside it goes for good once the first variation is merged,
    # and the next variations' titles show it gone (checked with liftoff 0.3.3)
    g = grid.load_config_dir(folder(tmp_path, default="seed: 0\n", config="""\
        extra: [{a: delete, b: 1}]
        seed: [1, 2]
        """))
    assert [v.title for v in g.variations] == [
        "seed=1; extra={'a': 'delete', 'b': 1}", "seed=2; extra={'b': 1}"]
    assert [v.folder(i) for i, v in enumerate(g.variations)] == [
        "0000_seed_1__extra___a____delete____b___1_", "0001_seed_2__extra___b___1_"]
    assert [v.config["extra"] for v in g.variations] == [{"b": 1}, {"b": 1}]


def test_a_single_yml_file_keeps_its_extension_in_the_title(tmp_path):
    path = tmp_path / "run.yml"
    path.write_text("lr: 0.1\n")
    (variation,) = grid.load_single(str(path)).variations
    assert variation.title == "run.yml" and variation.folder(0) == "0000_run.yml"


def test_dict_values_merged_into_are_changed_for_later_variations_as_liftoff_does(tmp_path):
    # `_optim`'s dict is put in as it is and `optim` merges into it: liftoff
    # changes that value in place, so the second variation has the first's
    # lr too (checked with liftoff 0.3.3); each variation is kept as it was
    # when it was made
    g = grid.load_config_dir(folder(tmp_path, config="""\
        optim: [{lr: 0.5}, {eps: 1}]
        _optim: [{name: adam}]
        """))
    assert [v.config["optim"] for v in g.variations] == [
        {"name": "adam", "lr": 0.5}, {"name": "adam", "lr": 0.5, "eps": 1}]
    assert [v.arguments["_optim"] for v in g.variations] == [
        {"name": "adam", "lr": 0.5}, {"name": "adam", "lr": 0.5, "eps": 1}]
    assert [v.folder(i) for i, v in enumerate(g.variations)] == [
        "0000__optim___name____adam____optim___lr___0.5_",
        "0001__optim___name____adam____lr___0.5___optim___eps___1_"]
