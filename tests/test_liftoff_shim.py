"""The liftoff shim (lib/liftoff/) as scripts written for liftoff meet it:
cfg.yaml files written here as YAML text, read by small liftoff-style scripts
run with this checkout's lib/ and build/vendor/ on PYTHONPATH (and from a
freshly built zipapp with no site-packages), and what they print checked;
the rest of liftoff 0.3.3's API (OptionParser, dict_to_namespace, the
liftoff.common modules) compared with liftoff's own answers, recorded in
tests/golden/shim.json by tests/golden/record_shim.py (no liftoff needed
here); then the example sweep in examples/liftoff/."""

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
GOLDEN = os.path.join(TOP, "tests", "golden")
TIMEOUT = 120


def import_path(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# liftoff 0.3.3's answers, and the cases (the recorder's, run here with the shim)
with open(os.path.join(GOLDEN, "shim.json")) as _handle:
    RECORDED = json.load(_handle)
recorder = import_path("record_shim", os.path.join(GOLDEN, "record_shim.py"))

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


@pytest.mark.parametrize("options, args", [
    (["-u"], ["{cfg}", "--session-id", "8c1e4a5e-3f7d-4a36-9d0e-5b0a3c2e1f00"]),
    ([], ["{cfg}"]),
])
def test_started_as_liftoff_and_cooperate_start_runs(tmp_path, probe, cfg, options, args):
    """liftoff ran `python -u SCRIPT CFG --session-id SID`, cooperate runs
    `python SCRIPT CFG`: both work."""
    argv = [probe] + [a.format(cfg=cfg) for a in args]
    got = printed(run_python(argv, cwd=tmp_path, options=options))
    assert (got["x"], got["y"], got["optim_type"]) == (2, 3, "dict")
    assert (got["run_id"], got["out_dir"]) == (1, os.path.dirname(cfg))


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
    ("sched: {0: 0.1, 30: 0.01}\n", ["sched", "not a string"]),
    ("0: 1\n", ["key 0", "not a string"]),
])
def test_unusable_config_is_one_line_and_exit_2(tmp_path, probe, text, words):
    path = write(tmp_path / "run" / "cfg.yaml", text)
    assert_usage_error(run_python([probe, path], cwd=tmp_path), path, *words)


def test_later_key_giving_the_same_attribute_wins(tmp_path):
    """As in liftoff: optim and optim_ both give opts.optim, the later one's."""
    path = write(tmp_path / "run" / "cfg.yaml",
                 "optim: {lr: 1}\noptim_: {lr: 2}\nsched_: {lr: 3}\nsched: {lr: 4}\n__: 5\n")
    script = write(tmp_path / "s.py", "from liftoff import parse_opts\n"
                   "opts = parse_opts()\n"
                   "print(opts.optim, opts.sched, getattr(opts, ''))\n")
    result = run_python([script, path], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "{'lr': 2} Namespace(lr=4) 5\n"


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


def test_import_adds_nothing_to_argparse_and_submodules_come_when_asked_for(tmp_path):
    """Beyond what argparse imports, `import liftoff` imports liftoff alone;
    liftoff's other modules (and yaml) come when they are first asked for,
    attributes of the package included, as liftoff's (which imported them)."""
    code = textwrap.dedent("""
        import json, sys
        import argparse, os
        steps = []
        def step(label):
            steps.append([label, sorted(m for m in sys.modules if m not in seen)])
            seen.update(sys.modules)
        seen = set(sys.modules)
        import liftoff
        step("import liftoff")
        assert liftoff.__version__ == "0.3.3"
        from liftoff import dict_to_namespace, parse_opts
        step("from liftoff import dict_to_namespace, parse_opts")
        from liftoff import OptionParser
        step("from liftoff import OptionParser")
        assert liftoff.version.__version__ == "0.3.3"
        step("liftoff.version")
        assert liftoff.common.dict_utils.uniqstr([1]) == "1"
        step("liftoff.common.dict_utils")
        assert liftoff.common.experiment_info.is_experiment(".") is False
        step("liftoff.common.experiment_info")
        assert "experiment_info" in dir(liftoff.common)
        assert set(["common", "version", "OptionParser", "yaml"]) <= set(dir(liftoff))
        try:
            liftoff.nothing_of_that_name
        except AttributeError as err:
            steps.append(["missing", str(err)])
        print(json.dumps(steps))
    """)
    result = run_python(["-c", code], cwd=tmp_path, options=["-s", "-S"])
    assert result.returncode == 0, result.stderr
    steps = dict(json.loads(result.stdout))
    assert steps["import liftoff"] == ["liftoff"]
    assert steps["from liftoff import dict_to_namespace, parse_opts"] == []
    options_parser = steps["from liftoff import OptionParser"]
    assert [m for m in options_parser if m.startswith("liftoff")] == [
        "liftoff.common", "liftoff.common.liftoff_config", "liftoff.common.options_parser"]
    assert "yaml" not in options_parser and "uuid" in options_parser
    assert steps["liftoff.version"] == ["liftoff.version"]
    for module in ["liftoff.common.dict_utils", "liftoff.common.experiment_info"]:
        # yaml is imported when a file is read: is_experiment reads none
        assert [m for m in steps[module] if m.startswith(("liftoff", "yaml"))] == [module]
    assert steps["missing"] == "module 'liftoff' has no attribute 'nothing_of_that_name'"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A zipapp freshly built from this checkout."""
    path = str(tmp_path_factory.mktemp("archive") / "c.pyz")
    build = subprocess.run([sys.executable, os.path.join(TOP, "build.py"), "-o", path],
                           cwd=TOP, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True,
                           timeout=600)
    assert build.returncode == 0, build.stdout
    return path


def test_from_the_zipapp_with_no_site_packages(tmp_path, archive, probe, cfg):
    """`-I` would drop PYTHONPATH too, so: -s -S and PYTHONPATH=the archive
    alone. liftoff and yaml must both come from inside it."""
    got = printed(run_python([probe, cfg, "--session-id", "3"], cwd=tmp_path,
                             env=checkout_env(archive), options=["-s", "-S"]))
    assert got["liftoff_file"].startswith(archive + os.sep), got["liftoff_file"]
    assert got["yaml_file"].startswith(archive + os.sep), got["yaml_file"]
    assert (got["x"], got["optim_type"], got["out_dir"]) == (2, "dict", os.path.dirname(cfg))


ZIPAPP_API = textwrap.dedent("""
    import json, sys
    from liftoff import OptionParser, dict_to_namespace, parse_opts, __version__
    import liftoff.common.dict_utils as dict_utils
    import liftoff.common.experiment_info as experiment_info
    import liftoff.common.liftoff_config
    import liftoff.common.options_parser
    import liftoff.config
    import liftoff.version
    run = sys.argv[1]
    opts = OptionParser("liftoff", ["config_path", "session_id", "verbose", "gpus"]).parse_args(
        [run + "/cfg.yaml", "--session-id", "3", "-vv", "--gpus", "0", "1"])
    ns = dict_to_namespace({"a": {"b": 1}, "c_": {"d": 2}, "c": 3})
    sys.argv = ["script.py", run + "/cfg.yaml", "--session-id", "3"]
    print(json.dumps({
        "version": [__version__, liftoff.version.__version__],
        "files": sorted(set(m.__file__ for m in sys.modules.values()
                            if m.__name__.split(".")[0] in ("liftoff", "yaml"))),
        "parsed": [opts.config_path, opts.verbose, opts.gpus, len(opts.session_id)],
        "namespace": [ns.a.b, ns.c],
        "is_yaml": experiment_info.is_yaml(run + "/cfg.yaml"),
        "uniqstr": dict_utils.uniqstr({"b": [1], "a": None}),
        "parse_opts": [parse_opts().x, parse_opts().out_dir],
        "config": liftoff.common.liftoff_config.LiftoffConfig().cfg,
        "same": liftoff.OptionParser is liftoff.common.options_parser.OptionParser,
    }, sort_keys=True))
""")


def test_liftoff_api_from_the_zipapp_with_no_site_packages(tmp_path, archive, cfg):
    """liftoff 0.3.3's names and modules, all from inside the archive."""
    run = os.path.dirname(cfg)
    got = printed(run_python(["-c", ZIPAPP_API, run], cwd=tmp_path,
                             env=checkout_env(archive), options=["-s", "-S"]))
    assert got["version"] == ["0.3.3", "0.3.3"]
    assert got["files"] and all(f.startswith(archive + os.sep) for f in got["files"]), got
    assert any("/liftoff/common/experiment_info.py" in f for f in got["files"])
    assert got["parsed"] == [run + "/cfg.yaml", 2, ["0", "1"], 36]
    assert got["namespace"] == [1, 3]
    assert got["is_yaml"] is True
    assert got["uniqstr"] == "'a'_None,'b'_1"
    assert got["parse_opts"] == [2, run]
    assert got["config"] == {} and got["same"] is True


# ---------------------------------------------------------------- in process


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


def test_dict_to_namespace_as_liftoff_for_keys_that_collide_or_are_empty():
    """liftoff's rules: the later of two keys giving one attribute wins, and
    a key of underscores gives the attribute ""."""
    ns = liftoff.dict_to_namespace({"optim": {"lr": 1}, "optim_": {"lr": 2}, "__": 3})
    assert ns.optim == {"lr": 2} and getattr(ns, "") == 3
    ns = liftoff.dict_to_namespace({"optim_": {"lr": 2}, "optim": {"lr": 1}})
    assert ns.optim == argparse.Namespace(lr=1)
    assert liftoff.dict_to_namespace(liftoff.namespace_to_dict(ns)) == ns


@pytest.mark.parametrize("data, words", [
    ({"a": {1: 2}}, ["in a:", "key 1", "not a string"]),
    ({None: 1}, ["key None", "not a string"]),
])
def test_dict_to_namespace_non_string_keys_raise_attribute_and_value_error(data, words):
    """liftoff raised AttributeError; the shim documents ValueError: both."""
    with pytest.raises(AttributeError) as caught:
        liftoff.dict_to_namespace(data)
    assert isinstance(caught.value, ValueError)
    for word in words:
        assert word in str(caught.value)


def test_dict_to_namespace_of_something_without_items():
    with pytest.raises(AttributeError) as caught:
        liftoff.dict_to_namespace([("a", 1)])
    assert isinstance(caught.value, TypeError)
    assert "takes a dict, not list" in str(caught.value)


# ---------------------------------------------------------------- liftoff 0.3.3's API

ARGUMENT_NAMES = [
    "all", "append_to", "args", "copy_to_clipboard", "config_path", "do", "crashed_only",
    "experiment", "filters", "gpus", "name", "optimize", "overwrite", "no_detach", "per_gpu",
    "pid", "procs_no", "results_path", "runs_no", "runs", "safe", "script", "clean_all",
    "timestamp_fmt", "verbose", "session_id", "time_limit", "start_by", "end_by", "max_runs",
    "shuffle"]

# answers whose exception message is the shim's own (its class is liftoff's)
OWN_MESSAGES = ("dict_to_namespace/", "dict_utils.dict_to_namespace/", "is_yaml/")
SAME_PYTHON = RECORDED["python"] == "%d.%d" % sys.version_info[:2]


def comparable(case, answer):
    """The answer without what may rightly differ: the shim's own messages,
    and, when liftoff's answers were recorded with another Python, the text
    argparse and Python write (usage lines, error messages)."""
    answer = dict(answer)
    if case.startswith(OWN_MESSAGES) and "raises" in answer:
        answer.pop("message", None)
    if not SAME_PYTHON:
        for key in ("message", "stderr", "stdout"):
            answer.pop(key, None)
        if case.endswith("/usage"):
            answer.pop("value", None)
    return answer


@pytest.fixture(scope="module")
def shim_answers(tmp_path_factory):
    """The recorder's cases, answered by the shim."""
    root = os.path.realpath(str(tmp_path_factory.mktemp("golden")))
    assert liftoff.read_config  # the shim, not liftoff
    return recorder.answers(root)


def test_every_case_recorded_is_answered(shim_answers):
    assert sorted(shim_answers) == sorted(RECORDED["answers"])
    assert RECORDED["liftoff"] == "0.3.3"


@pytest.mark.parametrize("case", sorted(RECORDED["answers"]))
def test_same_answer_as_liftoff_0_3_3(shim_answers, case):
    """One call (an OptionParser command line, a dict_to_namespace, uniqstr,
    hashstr, deep_update_dict, clean_dict, experiment_info call, parse_opts),
    its value, exception or exit, and what it printed, as liftoff gave it."""
    expected = comparable(case, RECORDED["answers"][case])
    assert comparable(case, shim_answers[case]) == expected


def test_every_argument_name_is_covered():
    """Every _add_<name> of liftoff's OptionParser is among the recorded
    cases, with at least one command line, and the shim has each."""
    from liftoff.common.options_parser import OptionParser

    assert sorted(recorder.ARGUMENT_LINES) == sorted(ARGUMENT_NAMES)
    for name in ARGUMENT_NAMES:
        assert callable(getattr(OptionParser, "_add_" + name))
        assert "parser/%s/0" % name in RECORDED["answers"]
        assert "parser/%s/actions" % name in RECORDED["answers"]


def test_public_names_of_liftoff_0_3_3_are_offered():
    names = {}
    exec("from liftoff import *", names)
    for name in RECORDED["names"]["dir"]:
        assert getattr(liftoff, name) is not None, name
    assert set(RECORDED["names"]["star"]) <= set(names)
    assert set(RECORDED["names"]["common"]) <= set(dir(liftoff.common))
    assert names["yaml"] is sys.modules["yaml"] and names["os"] is os
    from liftoff import OptionParser, __version__, dict_to_namespace, parse_opts
    assert __version__ == "0.3.3" and OptionParser is liftoff.OptionParser
    assert (dict_to_namespace, parse_opts) == (liftoff.dict_to_namespace, liftoff.parse_opts)


def test_option_parser_counts_v_and_sets_a_fresh_session_id():
    parser = liftoff.OptionParser("liftoff", ["verbose", "session_id", "gpus"])
    assert parser.arguments == ["verbose", "session_id", "gpus"]
    assert isinstance(parser.arg_parser, argparse.ArgumentParser)
    assert parser.arg_parser.prog == "liftoff"
    assert parser.liftoff_config.cfg == {} and parser.liftoff_config.get("gpus") is None
    opts = parser.parse_args(["-vv", "-v", "--session-id", "mine"])
    assert opts.verbose == 3 and opts.gpus == []
    assert opts.session_id != "mine" and len(opts.session_id) == 36
    assert parser.parse_args(["--session-id", "mine"]).verbose is None
    assert parser.parse_args(["--session-id", "x"]).session_id != opts.session_id


def test_option_parser_not_strict_fails_as_liftoff_did(capsys):
    """parse_known_args's pair goes on as if it were the namespace."""
    parser = liftoff.OptionParser("liftoff", ["config_path", "verbose"])
    with pytest.raises(AttributeError) as caught:
        parser.parse_args(["cfg.yaml", "-v", "--unknown"], strict=False)
    assert "'tuple' object has no attribute 'config_path'" in str(caught.value)
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(["cfg.yaml", "-v", "--unknown"])
    assert stopped.value.code == 2
    assert "unrecognized arguments: --unknown" in capsys.readouterr().err
    with pytest.raises(AttributeError) as caught:
        liftoff.OptionParser("liftoff", ["verbose", "nope"])
    assert "_add_nope" in str(caught.value)


def test_option_parser_help_is_its_own_but_works(capsys):
    parser = liftoff.OptionParser("liftoff", ARGUMENT_NAMES)
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(["-h"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: liftoff ")
    assert "--procs-no PROCS_NO" in out and "(default: 1)" in out


def test_get_experiment_paths_keeps_the_order_of_scandir(tmp_path):
    from liftoff.common.experiment_info import get_experiment_paths

    for index in range(12):
        os.makedirs(str(tmp_path / ("2020Jan%02d-000000_e" % (index + 1))))
        write(tmp_path / ("2020Jan%02d-000000_e" % (index + 1)) / ".__experiment", "")
    for twin in ["2020Jan12-000000_e_a", "2020Jan12-000000_e_b"]:
        write(tmp_path / twin / ".__experiment", "")
    expected = [entry.path for entry in os.scandir(str(tmp_path))]
    assert get_experiment_paths("e", str(tmp_path), "%Y%b%d-%H%M%S") == expected
    # of three experiments of the same time, the first os.scandir gives
    first = [path for path in expected if os.path.basename(path).startswith("2020Jan12")][0]
    assert get_experiment_paths("e", str(tmp_path), "%Y%b%d-%H%M%S", latest=True) == [first]


def test_deep_update_dict_keeps_liftoffs_quirks():
    from liftoff.common.dict_utils import clean_dict, deep_update_dict

    target = {"a": 1, "key": 2, "o": {"b": 1}}
    source = {"a": "delete", "o": {"b": "delete"}, "_r": {"x": 1}, "n": {"y": 2}}
    assert deep_update_dict(target, source, delete_entries=True) is target
    # the entry named "key" goes, not "a"; nested "delete" stays a value
    assert target == {"a": 1, "o": {"b": "delete"}, "r": {"x": 1}, "n": {"y": 2}}
    assert target["n"] is source["n"]  # not copied
    with pytest.raises(KeyError):
        deep_update_dict({"a": 1}, {"a": "delete"}, delete_entries=True)
    assert clean_dict(target) is None and target == {"a": 1, "o": {}, "r": {"x": 1},
                                                     "n": {"y": 2}}


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
    from cooperate.grid import config as grid

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
