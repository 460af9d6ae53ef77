"""The liftoff shim (lib/liftoff/) as scripts written for liftoff meet it:
cfg.yaml files written here as YAML text, read by small liftoff-style scripts
run with this checkout's lib/ and build/vendor/ on PYTHONPATH (and once from
a freshly built zipapp with no site-packages), and what they print checked;
then the example sweep in examples/liftoff/."""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

import liftoff

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(TOP, "lib")
VENDOR = os.path.join(TOP, "build", "vendor")
EXAMPLE = os.path.join(TOP, "examples", "liftoff")
TIMEOUT = 120

# A liftoff-style script: reads its options as liftoff's scripts do and
# prints what it got as one JSON line.
PROBE = '''
import json
import sys


def run(opts):
    import liftoff, yaml
    first = opts.layers[0]
    return {
        "x": opts.x,
        "y": opts.yz.y,
        "deep": opts.yz.deeper.w,
        "yz_type": type(opts.yz).__name__,
        "optim_type": type(opts.optim).__name__,
        "optim": opts.optim,
        "optim_lr": opts.optim["lr"],
        "has_optim_": hasattr(opts, "optim_"),
        "layers_type": type(opts.layers).__name__,
        "layer_type": type(first).__name__,
        "layer_size": first["size"],
        "tags": opts.tags,
        "out_dir": opts.out_dir,
        "run_id": opts.run_id,
        "cfg_id": opts.cfg_id,
        "title": opts.title,
        "full_title": opts.full_title,
        "liftoff_file": liftoff.__file__,
        "yaml_file": yaml.__file__,
        "yaml_loaded": "yaml" in sys.modules,
    }


def main():
    from liftoff import parse_opts
    print(json.dumps(run(parse_opts()), sort_keys=True))


if __name__ == "__main__":
    main()
'''

CFG = '''\
x: 2
yz:
  y: 3
  z: 4
  deeper: {w: 5}
optim_:
  name: sgd
  lr: 0.1
  args: {momentum: 0.9}
layers:
  - {size: 10}
  - {size: 20}
tags: [a, b]
out_dir: /results/elsewhere/2020Aug29-120000_old/0003_x_2/1
run_id: 1
cfg_id: 3
title: "x=2"
full_title: "x=2; yz.y=3"
'''


def checkout_env(pythonpath=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = pythonpath or os.pathsep.join([LIB, VENDOR])
    env.pop("PYTHONHOME", None)
    return env


def run_python(argv, cwd, env=None, options=()):
    return subprocess.run([sys.executable] + list(options) + [str(a) for a in argv],
                          cwd=str(cwd), env=env or checkout_env(),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=TIMEOUT)


def write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "w") as handle:
        handle.write(text)
    return str(path)


@pytest.fixture
def probe(tmp_path):
    return write(tmp_path / "scripts" / "probe.py", PROBE)


@pytest.fixture
def cfg(tmp_path):
    """A run folder laid out as the launcher does, with its cfg.yaml."""
    return write(tmp_path / "exp" / "0003_x_2" / "1" / "cfg.yaml", CFG)


def printed(result):
    assert result.returncode == 0, "exit %d\nstdout: %s\nstderr: %s" % (
        result.returncode, result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


def assert_usage_error(result, *words):
    """Exit 2, nothing on stdout, one line on stderr naming the problem."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("probe.py: error: ")
    for word in words:
        assert word in lines[0]
    return lines[0]


# ---------------------------------------------------------------- as a run


def test_script_gets_nested_options_and_run_fields(tmp_path, probe, cfg):
    got = printed(run_python([probe, cfg], cwd=tmp_path))
    assert (got["x"], got["y"], got["deep"]) == (2, 3, 5)
    assert got["yz_type"] == "Namespace"
    # optim_ is handed over as a plain dict, under liftoff's name: optim
    assert got["optim_type"] == "dict"
    assert got["optim"] == {"name": "sgd", "lr": 0.1, "args": {"momentum": 0.9}}
    assert got["optim_lr"] == 0.1
    assert got["has_optim_"] is False
    # lists stay lists, and mappings inside them plain dicts (as in liftoff)
    assert got["layers_type"] == "list"
    assert got["layer_type"] == "dict"
    assert got["layer_size"] == 10
    assert got["tags"] == ["a", "b"]
    assert (got["run_id"], got["cfg_id"]) == (1, 3)
    assert (got["title"], got["full_title"]) == ("x=2", "x=2; yz.y=3")


def test_out_dir_is_the_folder_of_the_file_given(tmp_path, probe, cfg):
    """Not the stale path written in the file: the absolute folder of the
    path given, even when that path is relative."""
    run_dir = os.path.dirname(cfg)
    got = printed(run_python([probe, "exp/0003_x_2/1/cfg.yaml"], cwd=tmp_path))
    assert got["out_dir"] == run_dir
    assert os.path.isabs(got["out_dir"])
    moved = tmp_path / "mounted" / "elsewhere"
    os.makedirs(str(moved))
    os.rename(os.path.join(str(tmp_path), "exp"), str(moved / "exp"))
    got = printed(run_python([probe, moved / "exp" / "0003_x_2" / "1" / "cfg.yaml"],
                             cwd=tmp_path))
    assert got["out_dir"] == str(moved / "exp" / "0003_x_2" / "1")


@pytest.mark.parametrize("args", [
    ["{cfg}", "--session-id", "3"],
    ["--session-id", "3", "{cfg}"],
    ["--session-id=3", "{cfg}", "--verbose"],
    ["--verbose", "{cfg}", "--gpu", "0"],
    ["-v", "{cfg}", "extra"],
    ["--session-id", "3", "--", "{cfg}"],
])
def test_other_options_are_ignored(tmp_path, probe, cfg, args):
    argv = [probe] + [a.format(cfg=cfg) for a in args]
    got = printed(run_python(argv, cwd=tmp_path))
    assert (got["x"], got["run_id"], got["out_dir"]) == (2, 1, os.path.dirname(cfg))


def test_missing_file_is_one_line_and_exit_2(tmp_path, probe):
    missing = str(tmp_path / "exp" / "nope" / "cfg.yaml")
    assert_usage_error(run_python([probe, missing, "--session-id", "3"], cwd=tmp_path),
                       "cannot read", missing, "No such file")


def test_unreadable_path_is_one_line_and_exit_2(tmp_path, probe):
    os.makedirs(str(tmp_path / "a_folder"))
    assert_usage_error(run_python([probe, tmp_path / "a_folder"], cwd=tmp_path),
                       "cannot read", "a_folder")


def test_bad_yaml_is_one_line_and_exit_2(tmp_path, probe):
    bad = write(tmp_path / "run" / "cfg.yaml", "x: 1\nyz: [1, 2\nz: 3\n")
    line = assert_usage_error(run_python([probe, bad], cwd=tmp_path), "bad YAML", bad)
    assert "line 3" in line


@pytest.mark.parametrize("text, words", [
    ("", ["must hold a mapping", "empty"]),
    ("- 1\n- 2\n", ["must hold a mapping", "list"]),
    ("optim: {lr: 1}\noptim_: {lr: 2}\n", ["'optim'", "'optim_'", "same attribute"]),
    ("sched: {0: 0.1, 30: 0.01}\n", ["sched", "not a string"]),
])
def test_unusable_config_is_one_line_and_exit_2(tmp_path, probe, text, words):
    path = write(tmp_path / "run" / "cfg.yaml", text)
    assert_usage_error(run_python([probe, path], cwd=tmp_path), path, *words)


def test_no_path_is_one_line_and_exit_2(tmp_path, probe):
    assert_usage_error(run_python([probe, "--session-id", "3"], cwd=tmp_path),
                       "no config file given")


def test_non_string_keys_are_fine_in_a_trailing_underscore_dict(tmp_path, probe):
    path = write(tmp_path / "run" / "cfg.yaml", "sched_: {0: 0.1, 30: 0.01}\n")
    script = write(tmp_path / "s.py", "from liftoff import parse_opts\n"
                   "print(parse_opts().sched)\n")
    result = run_python([script, path], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "{0: 0.1, 30: 0.01}\n"


def test_import_loads_no_yaml_and_nothing_of_the_toolkit(tmp_path):
    """Importing liftoff costs argparse and nothing outside the standard
    library: no yaml, nothing else from the checkout."""
    code = textwrap.dedent("""
        import json, sys
        before = set(sys.modules)
        import liftoff
        new = set(sys.modules) - before
        print(json.dumps(dict((m, getattr(sys.modules[m], "__file__", None))
                              for m in sorted(new))))
    """)
    result = run_python(["-c", code], cwd=tmp_path, options=["-s", "-S"])
    assert result.returncode == 0, result.stderr
    new = json.loads(result.stdout)
    assert "liftoff" in new
    assert "yaml" not in new and "cooperate" not in new
    ours = [m for m, f in new.items() if f and os.path.abspath(f).startswith(TOP + os.sep)]
    assert ours == ["liftoff"], new


def test_from_the_zipapp_with_no_site_packages(tmp_path, probe, cfg):
    """`-I` would drop PYTHONPATH too, so: -s -S and PYTHONPATH=the archive
    alone. liftoff and yaml must both come from inside it."""
    archive = str(tmp_path / "c.pyz")
    build = subprocess.run([sys.executable, os.path.join(TOP, "build.py"), "-o", archive],
                           cwd=TOP, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True,
                           timeout=600)
    assert build.returncode == 0, build.stdout
    got = printed(run_python([probe, cfg, "--session-id", "3"], cwd=tmp_path,
                             env=checkout_env(archive), options=["-s", "-S"]))
    assert got["liftoff_file"].startswith(archive + os.sep), got["liftoff_file"]
    assert got["yaml_file"].startswith(archive + os.sep), got["yaml_file"]
    assert (got["x"], got["optim_type"], got["out_dir"]) == (2, "dict", os.path.dirname(cfg))


# ---------------------------------------------------------------- in process


def import_path(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_called_in_process_matches_the_run(tmp_path, probe, cfg):
    module = import_path("probe_in_process", probe)
    got = module.run(liftoff.parse_opts([cfg]))
    ran = printed(run_python([probe, cfg], cwd=tmp_path))
    for key in ("liftoff_file", "yaml_file", "yaml_loaded"):
        got.pop(key), ran.pop(key)
    assert json.loads(json.dumps(got)) == ran


def test_parse_opts_in_process_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        liftoff.parse_opts([str(tmp_path / "missing.yaml")])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read config file" in err


def test_read_config(tmp_path, cfg):
    opts = liftoff.read_config(cfg)
    assert isinstance(opts, argparse.Namespace)
    assert opts.yz.deeper.w == 5 and opts.optim["args"] == {"momentum": 0.9}
    assert opts.out_dir == os.path.dirname(cfg)
    with pytest.raises(liftoff.ConfigError) as caught:
        liftoff.read_config(str(tmp_path / "missing.yaml"))
    assert isinstance(caught.value, ValueError)
    assert "missing.yaml" in str(caught.value) and "\n" not in str(caught.value)
    from liftoff.config import config_to_string, read_config
    assert read_config is liftoff.read_config
    assert "  y: 3\n" in config_to_string(opts)


# ---------------------------------------------------------------- conversions


def test_dict_namespace_round_trip():
    data = {"x": 1, "yz": {"y": 2, "deeper": {"w": [1, {"k": "v"}]}},
            "optim_": {"lr": 0.1, "args": {"momentum": 0.9}},
            "layers": [{"size": 10}], "empty": {}, "none": None}
    ns = liftoff.dict_to_namespace(data)
    assert ns.yz.deeper == argparse.Namespace(w=[1, {"k": "v"}])
    assert ns.optim == {"lr": 0.1, "args": {"momentum": 0.9}}
    assert ns.empty == argparse.Namespace()
    assert ns.layers == [{"size": 10}]
    back = liftoff.namespace_to_dict(ns)
    assert back == data
    assert liftoff.dict_to_namespace(back) == ns
    back["yz"]["deeper"]["w"].append(2)
    back["optim_"]["lr"] = 1
    assert ns.yz.deeper.w == [1, {"k": "v"}] and ns.optim["lr"] == 0.1  # fresh copies


def test_namespace_to_dict_converts_namespaces_in_lists():
    ns = argparse.Namespace(items=[argparse.Namespace(a=1)], opt={"b": 2})
    assert liftoff.namespace_to_dict(ns) == {"items": [{"a": 1}], "opt_": {"b": 2}}


@pytest.mark.parametrize("data, words", [
    ({"optim": {}, "optim_": {}}, ["same attribute"]),
    ({"a": {1: 2}}, ["a", "not a string"]),
    ({"__": 1}, ["no attribute name"]),
])
def test_dict_to_namespace_refuses_keys_that_cannot_be_attributes(data, words):
    with pytest.raises(ValueError) as caught:
        liftoff.dict_to_namespace(data)
    for word in words:
        assert word in str(caught.value)


# ---------------------------------------------------------------- the example


def test_example_runs_on_a_hand_written_cfg(tmp_path):
    run_dir = tmp_path / "exp" / "0000_x_5" / "0"
    with open(os.path.join(EXAMPLE, "configs", "default.yaml")) as handle:
        text = handle.read()
    path = write(run_dir / "cfg.yaml", text + "run_id: 0\ncfg_id: 0\ntitle: x=5\n"
                 "full_title: x=5\nx: 5\n")
    result = run_python([os.path.join(EXAMPLE, "smart_example.py"), path,
                         "--session-id", "1"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[0] 5 + 2 + 3 = 10\n"
    with open(str(run_dir / "results.json")) as handle:
        metrics = json.load(handle)
    assert metrics["sum"] == 10 and metrics["optim"]["name"] == "sgd"
    assert metrics["loss"] < 1  # sgd with the default lr gets close
    assert sorted(os.listdir(str(run_dir))) == ["cfg.yaml", "results.json"]


def test_example_sweep_expands_to_12_of_16():
    from cooperate import grid

    expanded = grid.load_config_dir(os.path.join(EXAMPLE, "configs"))
    assert [(f.size, f.count) for f in expanded.files] == [(16, 12)]
    assert len(expanded) == 12
    for variation in expanded:
        optim = variation.config["optim_"]
        assert not (optim["name"] == "adam" and optim["lr"] == 0.1)
    single = grid.load_single(os.path.join(EXAMPLE, "configs", "diff.yaml"),
                              default=os.path.join(EXAMPLE, "configs", "default.yaml"))
    config = single.variations[0].config
    assert (config["x"], config["yz"], config["optim_"]["lr"]) == (5, {"y": 2, "z": 7}, 0.05)


def test_example_run_in_process(tmp_path):
    module = import_path("smart_example_in_process",
                         os.path.join(EXAMPLE, "smart_example.py"))
    with open(os.path.join(EXAMPLE, "configs", "default.yaml")) as handle:
        path = write(tmp_path / "r" / "cfg.yaml", handle.read())
    metrics = module.run(liftoff.parse_opts([path]))
    with open(str(tmp_path / "r" / "results.json")) as handle:
        assert json.load(handle) == metrics
    assert metrics["sum"] == 6 and metrics["run_id"] == 0
