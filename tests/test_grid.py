"""cooperate.grid: liftoff-style config grids, against small hand-written
config folders with hand-written expected merged configs."""

import copy
import json
import os
import re
import textwrap

import pytest
import yaml

from cooperate import grid
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
    assert [(v.name, v.values) for v in gfile.variables] == [
        ("model.name", ["mlp", "cnn"]), ("optim.lr", [0.1, 0.01, 0.001])]
    assert (gfile.size, gfile.count) == (6, 6)
    assert [v.title for v in g] == [
        "model.name=mlp; optim.lr=0.1",
        "model.name=mlp; optim.lr=0.01",
        "model.name=mlp; optim.lr=0.001",
        "model.name=cnn; optim.lr=0.1",
        "model.name=cnn; optim.lr=0.01",
        "model.name=cnn; optim.lr=0.001",
    ]
    assert g.variations[0].name == "model.name_mlp__optim.lr_0.1"
    assert g.variations[4].assignment == {"model.name": "cnn", "optim.lr": 0.01}
    assert g.variations[4].config == {
        "model": {"name": "cnn", "hidden": 64, "layers": [1, 2]},
        "optim": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
        "seed": 0,
    }
    assert g.variations[4].source == gfile.path
    for v in g:
        json.dumps(v.config)  # plain data
        assert v.key == grid.config_key(v.config)


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
    assert g.variations[1].title == "optim={'name': 'adam', 'betas': [0.9, 0.99]}; data.sub.batch=8"


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
    assert g.variations[0].assignment == {"_optim": {"name": "adam", "lr": 0.001},
                                          "model._layers": [3]}
    # a replaced subtree whose own leaves vary
    g = grid.load_config_dir(folder(tmp_path, config="""\
        _optim:
          name: [adam]
          eps: [1.0e-8, 1.0e-6]
        """))
    assert [c["optim"] for c in configs(g)] == [{"name": "adam", "eps": 1e-8},
                                                {"name": "adam", "eps": 1e-6}]
    assert [v.title for v in g] == ["_optim.name=adam; _optim.eps=1e-08",
                                    "_optim.name=adam; _optim.eps=1e-06"]


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
    assert g.variations[0].title == "optim_.lr=0.5; extra_={'a': 1}"


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
    assert g.variations[1].title == "optim.momentum=delete; model={'hidden': 'delete'}"
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
    return [(v.assignment["a"], v.assignment["b"]) for v in g]


def test_implies(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config=AB % "->"))
    assert pairs(g) == [(1, 2), (2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3)]
    assert g.files[0].constraints == ["(a=1 -> b=2)"]
    assert (g.files[0].size, g.files[0].count) == (9, 7)


def test_implies_with_several_consequents_allows_any_of_them(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config="""\
        a: [1, 2]
        b: [1, 2, 3]
        liftoff:
          - {vars: [a, b], "->": [[1, 2], [1, 3]]}
        """))
    assert pairs(g) == [(1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]


def test_iff(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config=AB % "<=>"))
    assert pairs(g) == [(1, 2), (2, 1), (2, 3), (3, 1), (3, 3)]


def test_or(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config=AB % "v"))
    assert pairs(g) == [(1, 1), (1, 2), (1, 3), (2, 2), (3, 2)]


def test_not_both(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config=AB % "!!"))
    assert pairs(g) == [(1, 1), (1, 3), (2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3)]


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
        "optim.name=sgd; optim.lr=0.1; model.norm=True; model.dropout=0.0",
        "optim.name=sgd; optim.lr=0.1; model.norm=True; model.dropout=0.5",
        "optim.name=sgd; optim.lr=0.1; model.norm=False; model.dropout=0.0",
        "optim.name=adam; optim.lr=0.01; model.norm=True; model.dropout=0.0",
        "optim.name=adam; optim.lr=0.01; model.norm=True; model.dropout=0.5",
        "optim.name=adam; optim.lr=0.01; model.norm=False; model.dropout=0.0",
    ]
    assert g.variations[5].config == {
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
    assert [v.title for v in g] == [
        "optim.name=sgd; optim.momentum=0.9",
        "optim.name=sgd; optim.momentum=0.5",
        "optim.name=adam; optim.momentum=delete",
    ]
    assert g.variations[2].config["optim"] == {"name": "adam", "lr": 0.1}


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
    assert "optim.lr, sched.lr" in message


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
    ("[{vars: [a, b], '<=>': [[1, 2], [1, 3]]}]", "contradict"),
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
    assert [v.title for v in g] == ["seed=1", "seed=2", "seed=3; optim.lr=0.1", "seed=0"]
    assert [os.path.basename(v.source) for v in g] == [
        "config.yaml", "config.yaml", "config_more.yaml", "configx.yaml"]
    assert g.duplicates == 2
    assert len(set(v.key for v in g)) == 4


def test_names_are_folder_safe(tmp_path):
    long_a = "x" * 150 + "a"
    long_b = "x" * 150 + "b"
    g = grid.load_config_dir(folder(tmp_path, config="""\
        path: [/data/set, ../../etc, "with space", ".hidden", "a...b", "%s", "%s", "é"]
        """ % (long_a, long_b)))
    names = [v.name for v in g]
    assert names[:5] == ["path__data_set", "path_.__.__etc", "path_with_space",
                         "path_.hidden", "path_a._.b"]
    assert names[7] == "path__"
    for name in names:
        assert re.match(r"^[-_.()A-Za-z0-9]+$", name)
        assert ".." not in name and not name.startswith(".") and len(name) <= 100
    assert len(names[5]) == len(names[6]) == 100
    assert names[5] != names[6]
    assert names[5].startswith("path_" + "x" * 50)
    assert re.search(r"_[0-9a-f]{12}$", names[5])
    assert g.variations[5].title == "path=" + long_a  # the title itself is not cut


def test_safe_name_edge_cases():
    assert grid.safe_name("..") == "__"
    assert grid.safe_name(".") == "_"
    assert grid.safe_name("") == "_"
    assert grid.safe_name("a=(1); b=-2") == "a_(1)__b_-2"
    assert grid.safe_name("model.name=mlp; optim.lr=0.1") == "model.name_mlp__optim.lr_0.1"
    long = "k=" + "v" * 300
    assert grid.safe_name(long) == grid.safe_name(long)  # stable
    assert len(grid.safe_name(long, limit=40)) == 40


def test_key_survives_a_yaml_round_trip_and_tells_configs_apart(tmp_path):
    g = grid.load_config_dir(folder(tmp_path, config="""\
        optim:
          lr: [0.1, 1.0e-5, 1]
          flag: [true, 1, null, "1"]
        """))
    assert len(g) == 12 and len(set(v.key for v in g)) == 12
    for v in g:
        back = yaml.safe_load(yaml.safe_dump(v.config))
        assert grid.config_key(back) == v.key
        assert len(v.digest) == 64
    # key order does not matter
    assert grid.config_key({"a": 1, "b": {"c": 2, "d": 3}}) == grid.config_key(
        {"b": {"d": 3, "c": 2}, "a": 1})
    # keys of mixed types still give a key
    assert grid.config_key({1: "a", "b": 2}) == grid.config_key({"b": 2, 1: "a"})


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
    assert (v.title, v.name, v.assignment) == ("one run", "one_run", {})
    assert grid.load(str(path)).variations[0].key == v.key
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


def test_ten_thousand_variations_have_distinct_names(tmp_path):
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
    assert len(g) == 10000 and len(set(v.name for v in g)) == 10000
