"""Records what liftoff 0.3.3 gives for the cases the liftoff shim
(lib/liftoff/) is checked against, into tests/golden/shim.json.

Run it with the Python of the throw-away virtual environment that has the
real liftoff 0.3.3 and PyYAML, from anywhere:

    /tmp/lovenv/bin/python tests/golden/record_shim.py

It refuses to record when the liftoff it imports is this checkout's shim or
is not 0.3.3. tests/test_liftoff_shim.py imports this file and calls
answers() with the shim as ``liftoff`` (no liftoff needs to be installed for
the tests), then compares with the recorded answers: the cases are written
once, here. Only the standard library, liftoff and yaml are used.

Each answer is a JSON description of what a call gave: its value (every
Namespace, dict, list, tuple and scalar tagged with its type, keys in their
order), or the exception (its nearest built-in class and message), or the
SystemExit code, and what it printed; a session_id that is a uuid4 string is
written "<uuid4>", and the temporary folder "<root>".
"""

import argparse
import contextlib
import copy
import io
import json
import os
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUT = os.path.join(HERE, "shim.json")

# ---------------------------------------------------------------- describing


def describe(value):
    """A JSON-able description of ``value`` that keeps types and key order."""
    if isinstance(value, argparse.Namespace):
        return ["Namespace", [[name, describe(item)] for name, item in vars(value).items()]]
    if isinstance(value, dict):
        return [type(value).__name__,
                [[describe(key), describe(item)] for key, item in value.items()]]
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [describe(item) for item in value]]
    if value is None:
        return ["None"]
    if isinstance(value, (bool, int, str)):
        return [type(value).__name__, value]
    if isinstance(value, type):
        return ["type", value.__name__]
    return [type(value).__name__, repr(value)]


def builtin_class(error):
    """The name of the first built-in class of ``error``'s type."""
    for klass in type(error).__mro__:
        if klass.__module__ == "builtins":
            return klass.__name__
    return type(error).__name__


def outcome(function, *args, **kwargs):
    """What ``function(*args, **kwargs)`` gave, as a dict (see above). Keys
    starting with ``_`` are not part of it: ``_value`` is the value itself."""
    out, err = io.StringIO(), io.StringIO()
    result = {}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            value = function(*args, **kwargs)
    except SystemExit as stop:
        result["exit"] = stop.code
    except Exception as error:  # pylint: disable=broad-except
        result["raises"] = builtin_class(error)
        result["message"] = str(error)
        if error.__context__ is not None and not error.__suppress_context__:
            result["context"] = type(error.__context__).__name__
    else:
        result["value"] = describe(value)
        result["_value"] = value
    if out.getvalue():
        result["stdout"] = out.getvalue()
    if err.getvalue():
        result["stderr"] = err.getvalue()
    return result


def public(result):
    return dict((key, value) for key, value in result.items() if not key.startswith("_"))


def replace_root(value, root):
    if isinstance(value, str):
        return value.replace(root, "<root>")
    if isinstance(value, list):
        return [replace_root(item, root) for item in value]
    if isinstance(value, dict):
        return dict((key, replace_root(item, root)) for key, item in value.items())
    return value


# ---------------------------------------------------------------- OptionParser

# For each argument name: representative command lines (the last ones often
# empty, to see the defaults or the error for a required argument).
ARGUMENT_LINES = {
    "all": [["-a"], ["--all"], []],
    "append_to": [["--append-to", "results/2020Jan01-000000_exp"], []],
    "args": [["--args", "model.name=AlexNet", "optim.lr=0.1"], ["--args"], []],
    "copy_to_clipboard": [["--cc"], []],
    "config_path": [["configs/exp.yaml"], [], ["a.yaml", "b.yaml"]],
    "do": [["--do"], []],
    "crashed_only": [["--crashed-only"], []],
    "experiment": [["exp_a"], []],
    "filters": [["--filters", "optim.lr=0.001", "model.name=AlexNet"], ["--filters"], []],
    "gpus": [["--gpus", "0", "1"], ["--gpus"], []],
    "name": [["--name", "sweep"], ["--name"], []],
    "optimize": [["-O"], []],
    "overwrite": [["--overwrite"], []],
    "no_detach": [["--no-detach"], []],
    "per_gpu": [["--per-gpu", "2", "3"], ["--per-gpu", "x"], []],
    "pid": [["1234"], ["x"], []],
    "procs_no": [["--procs-no", "4"], ["--procs-no", "four"], []],
    "results_path": [["--results-path", "elsewhere/results"], []],
    "runs_no": [["--runs-no", "3"], []],
    "runs": [["--runs", "1", "2"], ["--runs"], []],
    "safe": [["--safe"], []],
    "script": [["train.py"], []],
    "clean_all": [["--clean-all"], []],
    "timestamp_fmt": [["--timestamp-fmt", "%Y-%m-%d"], []],
    "verbose": [["-v"], ["-vvv"], ["-v", "-v"], []],
    "session_id": [["--session-id", "abc"], ["--session-id=7"], []],
    "time_limit": [["--time-limit", "30"], []],
    "start_by": [["--start-by", "60"], []],
    "end_by": [["--end-by", "600"], []],
    "max_runs": [["--max-runs", "5"], []],
    "shuffle": [["--shuffle"], []],
}

# liftoff's own commands' argument lists, with a command line each
COMMANDS = [
    ("launch", ["script", "config_path", "args", "do", "gpus", "per_gpu", "procs_no",
                "runs_no", "results_path", "name", "verbose", "optimize", "no_detach",
                "filters", "session_id", "time_limit", "start_by", "end_by", "max_runs",
                "shuffle", "timestamp_fmt", "overwrite", "append_to", "copy_to_clipboard"],
     ["train.py", "results/exp", "--gpus", "0", "1", "--per-gpu", "2", "--procs-no", "4",
      "-vv", "--filters", "optim.lr=0.1", "--session-id", "s", "--shuffle", "-O",
      "--max-runs", "3", "--args", "a=1", "b=2"]),
    ("parse_opts", ["config_path", "session_id"], ["run/cfg.yaml", "--session-id", "3"]),
    ("status", ["experiment", "all", "timestamp_fmt", "results_path", "verbose"],
     ["-a", "-v", "exp_a"]),
    ("abort", ["pid", "results_path", "experiment"], ["42", "exp"]),
    ("lock", ["experiment", "results_path", "filters", "timestamp_fmt", "runs"],
     ["exp", "--runs", "0", "1", "--filters", "x=1"]),
    ("clean", ["experiment", "all", "crashed_only", "clean_all", "do", "safe", "verbose",
               "results_path", "timestamp_fmt"], ["--crashed-only", "--do", "--safe"]),
    ("nothing", [], []),
]


def normalise_session(namespace):
    """``namespace`` with a uuid4 session_id written "<uuid4>"."""
    session = getattr(namespace, "session_id", None)
    if isinstance(session, str):
        try:
            if uuid.UUID(session).version == 4 and str(uuid.UUID(session)) == session:
                namespace.session_id = "<uuid4>"
        except ValueError:
            pass
    return namespace


def parsed(option_parser, args, strict=True):
    return normalise_session(option_parser.parse_args(args, strict=strict))


def action_of(action):
    """What argparse holds for one argument, but its help."""
    kind = action.type
    return {"class": type(action).__name__, "option_strings": action.option_strings,
            "dest": action.dest, "nargs": action.nargs, "const": action.const,
            "default": describe(action.default),
            "type": None if kind is None else getattr(kind, "__name__", repr(kind)),
            "required": action.required, "choices": action.choices,
            "metavar": action.metavar}


def option_parser_answers(OptionParser):
    answers = {}
    for name, lines in sorted(ARGUMENT_LINES.items()):
        made = outcome(OptionParser, "liftoff", [name]).get("_value")
        if made is None:  # a broken parser: one answer says why
            answers["parser/%s/actions" % name] = public(outcome(OptionParser, "liftoff", [name]))
            continue
        answers["parser/%s/actions" % name] = {
            "value": [action_of(action) for action in made.arg_parser._actions]}
        answers["parser/%s/usage" % name] = {"value": made.arg_parser.format_usage()}
        for index, line in enumerate(lines):
            answers["parser/%s/%d" % (name, index)] = dict(
                public(outcome(parsed, OptionParser("liftoff", [name]), line)), args=line)
    for label, names, line in COMMANDS:
        made = outcome(OptionParser, "liftoff-" + label, names).get("_value")
        if made is None:
            answers["command/%s/attributes" % label] = public(
                outcome(OptionParser, "liftoff-" + label, names))
            continue
        answers["command/%s/attributes" % label] = {"value": {
            "arguments": made.arguments, "prog": made.arg_parser.prog,
            "config": type(made.liftoff_config).__name__, "cfg": made.liftoff_config.cfg,
            "get": [made.liftoff_config.get(name) for name in names]}}
        answers["command/%s/usage" % label] = {"value": made.arg_parser.format_usage()}
        answers["command/%s/strict" % label] = public(outcome(parsed, made, line))
        answers["command/%s/unknown_strict" % label] = public(
            outcome(parsed, made, line + ["--unknown", "x"]))
        answers["command/%s/not_strict" % label] = public(
            outcome(parsed, made, line, strict=False))
        answers["command/%s/unknown_not_strict" % label] = public(
            outcome(parsed, made, line + ["--unknown", "x"], strict=False))
        answers["command/%s/help" % label] = {
            "exit": public(outcome(parsed, made, ["-h"])).get("exit")}

    def fresh():
        made = OptionParser("liftoff", ["session_id", "verbose"])
        first = made.parse_args(["--session-id", "same"])
        second = made.parse_args(["--session-id", "same"])
        return [first.session_id != "same", first.session_id != second.session_id,
                str(uuid.UUID(first.session_id)) == first.session_id,
                uuid.UUID(first.session_id).version]

    answers["session_id/fresh"] = public(outcome(fresh))
    answers["parser/unknown_name"] = public(outcome(OptionParser, "liftoff", ["nope"]))
    answers["parser/int_name"] = public(outcome(OptionParser, "liftoff", [1]))
    answers["parser/tuple_of_names"] = public(outcome(
        lambda: OptionParser("x", ("do", "safe")).arguments))
    return answers


# ---------------------------------------------------------------- dict helpers

NAMESPACE_CASES = [
    ("nested", {"x": 2, "yz": {"y": 3, "z": 4, "deeper": {"w": 5}}, "layers": [{"size": 10}],
                "tags": ["a", "b"], "none": None, "empty": {}, "t": (1, {"a": 2})}),
    ("trailing", {"optim_": {"lr": 0.1, "args": {"momentum": 0.9}}, "a__": {"b": {"c": 1}},
                  "c_": 3, "d_": [{"e": {}}]}),
    ("optim_then_optim_", {"optim": {"lr": 1}, "optim_": {"lr": 2}, "x": 0}),
    ("optim__then_optim", {"optim_": {"lr": 2}, "x": 0, "optim": {"lr": 1}}),
    ("three_same", {"a": 1, "a_": {"b": 2}, "a__": 3}),
    ("nested_same", {"o": {"p": {"q": 1}, "p_": {"q": 2}}}),
    ("int_key", {1: "x"}),
    ("int_key_nested", {"sched": {0: 0.1, 30: 0.01}}),
    ("int_key_trailing", {"sched_": {0: 0.1, 30: 0.01}}),
    ("int_key_in_list", {"l": [{0: 1}]}),
    ("none_key", {None: 1}),
    ("bool_key", {True: 1}),
    ("float_key", {2.5: 1}),
    ("tuple_key", {(1, 2): 1}),
    ("bytes_key", {b"x": 1}),
    ("underscores_only", {"__": 1, "_": {"a": 1}}),
    ("empty_key", {"": 2}),
    ("odd_names", {"a-b": 1, "1x": {"y z": 2}, "_lead": 3}),
    ("empty", {}),
    ("list", [("a", 1)]),
    ("none", None),
    ("string", "abc"),
]

UNIQSTR_CASES = [
    ("config", {"seed": 3, "optim": {"name": "sgd", "lr": 0.1}, "tags": ["a", 1, None, True],
                "t": (1, 2), "s": "it's", "f": 1e-05, "n": {"z": {}, "a": []}}),
    ("reordered", {"tags": ["a", 1, None, True], "optim": {"lr": 0.1, "name": "sgd"},
                   "n": {"a": [], "z": {}}, "s": "it's", "t": (1, 2), "f": 1e-05, "seed": 3}),
    ("list_of_dicts", [{"b": 1, "a": 2}, [3, [4]], "x"]),
    ("int_keys", {3: "c", 1: "a", 2: {"y": 1, "x": 2}}),
    ("mixed_keys", {1: 2, "a": 3}),
    ("empty_dict", {}),
    ("empty_list", []),
    ("string", "abc"),
    ("float", 0.1),
    ("none", None),
]

HASHSTR_CASES = [("empty", ""), ("ascii", "optim.lr=0.1"), ("unicode", "\u00e9t\u00e9 \u2603"),
                 ("int", 123), ("bytes", b"x")]

DEEP_UPDATE_CASES = [
    ("merge", {"optim": {"lr": 0.1, "name": "sgd"}, "x": 1}, {"optim": {"lr": 0.01}, "y": 2},
     False),
    ("underscore_replaces", {"optim": {"lr": 0.1, "name": "sgd"}}, {"_optim": {"lr": 0.5}},
     False),
    ("double_underscore", {"x": 1}, {"__x": 2}, False),
    ("underscore_nested", {"o": {"p": {"a": 1, "b": 2}}}, {"o": {"_p": {"a": 3}}}, False),
    ("delete_without_key_entry", {"a": 1, "b": 2}, {"a": "delete"}, True),
    ("delete_with_key_entry", {"a": 1, "key": 2}, {"a": "delete"}, True),
    ("delete_absent", {"b": 2}, {"a": "delete"}, True),
    ("delete_not_asked", {"a": 1}, {"a": "delete"}, False),
    ("delete_nested", {"o": {"a": 1, "key": 5}}, {"o": {"a": "delete"}}, True),
    ("dict_over_scalar", {"a": 1}, {"a": {"b": {"c": 2}}}, False),
    ("scalar_over_dict", {"a": {"b": 1}}, {"a": 3}, False),
    ("dict_into_missing", {}, {"a": {"b": 1}}, False),
    ("list_replaces", {"a": [1, 2]}, {"a": [3]}, False),
    ("int_key", {1: 1}, {1: 2}, False),
    ("underscore_only_key", {"": 1}, {"_": 2}, False),
]

CLEAN_CASES = [
    ("nested", {"a": "delete", "b": {"c": "delete", "d": 1}, "e": [{"f": "delete"}],
                "g": {"h": {"i": "delete", "j": None}}, "k": "keep"}),
    ("all_gone", {"a": "delete"}),
    ("string", "delete"),
    ("list", [{"a": "delete"}]),
]


def deep_update_outcome(deep_update_dict, dct1, dct2, delete_entries):
    target, source = copy.deepcopy(dct1), copy.deepcopy(dct2)
    result = outcome(deep_update_dict, target, source, delete_entries)
    shared = sorted(repr(key) for key, value in target.items()
                    if isinstance(value, (dict, list)) and any(
                        value is other for other in source.values()))
    answer = public(result)
    answer.update(returns_first=result.get("_value") is target, after=describe(target),
                  source_after=describe(source), shared=shared)
    return answer


def dict_answers(dict_to_namespace, dict_utils):
    answers = {}
    for label, data in NAMESPACE_CASES:
        answers["dict_to_namespace/%s" % label] = public(outcome(dict_to_namespace, data))
        answers["dict_utils.dict_to_namespace/%s" % label] = public(
            outcome(dict_utils.dict_to_namespace, data))
    for label, data in UNIQSTR_CASES:
        answers["uniqstr/%s" % label] = public(outcome(dict_utils.uniqstr, data))
        text = dict_utils.uniqstr(data) if label != "mixed_keys" else label
        answers["hashstr/uniqstr/%s" % label] = public(outcome(dict_utils.hashstr, text))
    for label, text in HASHSTR_CASES:
        answers["hashstr/%s" % label] = public(outcome(dict_utils.hashstr, text))
    for label, dct1, dct2, delete in DEEP_UPDATE_CASES:
        answers["deep_update_dict/%s" % label] = deep_update_outcome(
            dict_utils.deep_update_dict, dct1, dct2, delete)
    answers["deep_update_dict/default_keeps_delete"] = deep_update_outcome(
        lambda a, b, _: dict_utils.deep_update_dict(a, b), {"a": 1, "key": 0},
        {"a": "delete"}, None)
    for label, data in CLEAN_CASES:
        data = copy.deepcopy(data)
        answer = public(outcome(dict_utils.clean_dict, data))
        answer["after"] = describe(data)
        answers["clean_dict/%s" % label] = answer
    return answers


# ---------------------------------------------------------------- folders

TREE = {
    "results/2020Jan01-120000_exp_a/.__experiment": "",
    "results/2020Jan01-120000_exp_a/0000_x_1/0/cfg.yaml": "x: 1\n",
    "results/2020Feb01-120000_exp_a/.__experiment": "",
    "results/2020Mar01-120000_other/.__experiment": "",
    "results/2021Jan01-000000_exp_a_noflag/cfg.yaml": "x: 1\n",
    "results/2019Dec31-235959_exp_a_dirflag/.__experiment/keep": "",
    "results/badstamp_exp_a/.__experiment": "",
    "results/2022-05-01_exp_b/.__experiment": "",
    "results/notes.txt": "not an experiment\n",
    "yaml/good.yaml": "a: 1\nb: [1, 2]\n",
    "yaml/empty.yaml": "",
    "yaml/scalar.txt": "just words\n",
    "yaml/scanner.yaml": "a: b: c\n",
    "yaml/tab.yaml": "a:\n\t- 1\n",
    "yaml/parser.yaml": "x: 1\nyz: [1, 2\nz: 3\n",
    "yaml/two_docs.yaml": "a: 1\n---\nb: 2\n",
    "yaml/tag.yaml": "a: !!python/object/apply:os.system [echo]\n",
    "runs/run/cfg.yaml": ("optim: {lr: 0.1, name: sgd}\nseed: 3\nflag: false\n"
                          "none_val: null\ntags: [a, b]\nx: {y: {z: 1.5}}\n"),
    "runs/list/cfg.yaml": "- 1\n- 2\n",
    "runs/empty/cfg.yaml": "",
}

FILTERS = [
    ["optim.lr=0.1"], ["optim.lr=0.01"], ["optim.name=sgd", "seed=3"],
    ["optim.name=sgd", "seed=4"], ["seed=3", "optim.name=adam"], ["flag=False"], ["flag="],
    ["flag=True"], ["none_val=None"], ["seed=None"], ["none_val=3"], ["missing.x=1"],
    ["optim.missing=1"], ["seed=x"], ["seed.x=1"], ["optim.lr"], ["a=b=c"],
    ["none_val=None", "seed=4"], [], ["tags=ab"], ["x.y.z=1.5"], ["x.y=1"], ("seed=3",),
    ["seed=03"], ["optim.lr=1e-1"],
]


def make_tree(root):
    for relative, text in sorted(TREE.items()):
        path = os.path.join(root, *relative.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
    os.makedirs(os.path.join(root, "yaml", "a_folder"), exist_ok=True)


def sorted_paths(result):
    """get_experiment_paths's answer with its list sorted: os.scandir's
    order is the file system's."""
    value = result.get("_value")
    if isinstance(value, list) and None not in value:
        result["value"] = describe(sorted(value))
    return public(result)


def folder_answers(experiment_info, root):
    answers = {}
    results = os.path.join(root, "results")
    for relative in ["results/2020Jan01-120000_exp_a", "results/2021Jan01-000000_exp_a_noflag",
                     "results/2019Dec31-235959_exp_a_dirflag", "results/notes.txt",
                     "results/2020Jan01-120000_exp_a/.__experiment", "results", "missing"]:
        answers["is_experiment/%s" % relative] = public(
            outcome(experiment_info.is_experiment, os.path.join(root, relative)))
    for name in sorted(os.listdir(os.path.join(root, "yaml"))) + ["missing.yaml"]:
        answers["is_yaml/%s" % name] = public(
            outcome(experiment_info.is_yaml, os.path.join(root, "yaml", name)))
    fmt = "%Y%b%d-%H%M%S"
    calls = [
        ("all", (None, results, fmt)), ("empty_name", ("", results, fmt)),
        ("exp_a", ("exp_a", results, fmt)), ("nothing", ("zzz", results, fmt)),
        ("latest_all", (None, results, fmt, True)), ("latest_exp_a", ("exp_a", results, fmt, True)),
        ("latest_other", ("other", results, fmt, True)),
        ("latest_nothing", ("zzz", results, fmt, True)),
        ("latest_other_format", (None, results, "%Y-%m-%d", True)),
        ("missing_folder", ("exp_a", os.path.join(root, "nope"), fmt)),
        ("missing_folder_latest", ("exp_a", os.path.join(root, "nope"), fmt, True)),
        ("a_file", ("exp_a", os.path.join(root, "results", "notes.txt"), fmt)),
        ("int_name", (3, results, fmt)),
    ]
    for label, args in calls:
        answers["get_experiment_paths/%s" % label] = sorted_paths(
            outcome(experiment_info.get_experiment_paths, *args))
    for run in ["run", "list", "empty", "missing"]:
        for filters in FILTERS:
            answers["experiment_matches/%s/%r" % (run, filters)] = public(outcome(
                experiment_info.experiment_matches, os.path.join(root, "runs", run), filters))
    return answers


# ---------------------------------------------------------------- the package

PARSE_OPTS_CFG = ("x: 2\nyz: {y: 3, deeper: {w: 5}}\noptim: {lr: 1}\noptim_: {lr: 2}\n"
                  "layers: [{size: 10}]\nsched_: {0: 0.1}\n__: 7\nrun_id: 1\ncfg_id: 3\n"
                  "title: x=2\nfull_title: x=2; yz.y=3\nout_dir: %s\n")


def package_answers(liftoff, root):
    answers = {}
    answers["package/version"] = {"value": [liftoff.__version__, liftoff.version.__version__]}
    answers["package/LIFTOFF_FILES"] = {"value": liftoff.common.LIFTOFF_FILES}
    answers["package/same_objects"] = {"value": [
        liftoff.OptionParser is liftoff.common.options_parser.OptionParser,
        liftoff.dict_to_namespace is liftoff.common.dict_utils.dict_to_namespace]}
    answers["package/liftoff_config"] = public(outcome(
        lambda: [liftoff.common.liftoff_config.LiftoffConfig().cfg,
                 liftoff.common.liftoff_config.LiftoffConfig().get("procs_no")]))
    run_dir = os.path.join(root, "parse_opts", "run")
    os.makedirs(run_dir)
    path = os.path.join(run_dir, "cfg.yaml")
    with open(path, "w") as handle:
        handle.write(PARSE_OPTS_CFG % run_dir)
    saved = sys.argv
    try:
        sys.argv = ["script.py", path, "--session-id", "3"]
        answers["parse_opts/session_id"] = public(outcome(liftoff.parse_opts))
        sys.argv = ["script.py", "--session-id=3", path]
        answers["parse_opts/session_id_first"] = public(outcome(liftoff.parse_opts))
    finally:
        sys.argv = saved
    return answers


def public_names(liftoff):
    """The package's public names, and what ``from liftoff import *`` gives,
    taken before anything else is imported."""
    names = {}
    exec("from liftoff import *", names)  # pylint: disable=exec-used
    return {"dir": sorted(name for name in dir(liftoff) if not name.startswith("_")),
            "star": sorted(name for name in names if name != "__builtins__"),
            "common": sorted(name for name in dir(liftoff.common) if not name.startswith("_"))}


def answers(root):
    """{case: answer} with whatever ``liftoff`` imports as, the folders made
    under ``root`` (an empty folder)."""
    import liftoff
    from liftoff import OptionParser, dict_to_namespace
    from liftoff.common import dict_utils, experiment_info
    import liftoff.common.liftoff_config  # noqa: F401  (package_answers reads it)

    make_tree(root)
    found = {}
    found.update(option_parser_answers(OptionParser))
    found.update(dict_answers(dict_to_namespace, dict_utils))
    found.update(folder_answers(experiment_info, root))
    found.update(package_answers(liftoff, root))
    return replace_root(found, root)


def main():
    import liftoff

    checkout = os.path.dirname(os.path.dirname(HERE))
    where = os.path.abspath(liftoff.__file__)
    if where.startswith(checkout + os.sep) or liftoff.__version__ != "0.3.3" or hasattr(
            liftoff, "read_config"):
        sys.exit("record_shim.py: %s is not liftoff 0.3.3 (run this with the Python that "
                 "has it installed)" % where)
    names = public_names(liftoff)
    with tempfile.TemporaryDirectory() as root:
        root = os.path.realpath(root)
        found = answers(root)
    document = {"liftoff": liftoff.__version__,
                "python": "%d.%d" % sys.version_info[:2],
                "names": names, "answers": found}
    with open(OUTPUT, "w") as handle:
        json.dump(document, handle, indent=1, sort_keys=True)
        handle.write("\n")
    print("record_shim.py: %d answers written to %s" % (len(found), OUTPUT))


if __name__ == "__main__":
    main()
