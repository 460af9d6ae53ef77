"""Probe script launched by liftoff while tests/golden/record.py records
launch.json (it is data for the recorder, not a test).

liftoff runs it as `python [-u] [-OO] probe.py <cfg.yaml> --session-id <id>`
inside `sh -c`.  It appends one JSON line describing what it saw to the file
named by $PROBE_LOG (an absolute path); $PROBE_ROOT is the folder liftoff
was launched from.  Everything that depends on the machine or the moment is
normalised here: the session id becomes "{session}", numbers in marker files
become "<int>", paths are made relative to the experiment folder, and the
experiment folder's own name becomes "{experiment}".

If $PROBE_CRASH_SEED equals the run's `seed`, it writes a line to stderr and
exits with status 1 (so that liftoff's shell wrapper writes .__crash).
"""

import json
import os
import re
import sys
from argparse import Namespace

import yaml


def to_json(obj, exp_name):
    """Namespaces become {"Namespace": {...}} so they stay apart from dicts."""
    if isinstance(obj, Namespace):
        return {"Namespace": to_json(vars(obj), exp_name)}
    if isinstance(obj, dict):
        return {str(key): to_json(val, exp_name) for key, val in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(val, exp_name) for val in obj]
    return obj


def main():
    log_path = os.environ["PROBE_LOG"]
    root = os.environ["PROBE_ROOT"]
    cfg_arg = sys.argv[1]
    session = sys.argv[3] if len(sys.argv) > 3 else None

    run_dir = os.path.dirname(os.path.abspath(cfg_arg))
    exp_dir = os.path.dirname(os.path.dirname(run_dir))
    exp_name = os.path.basename(exp_dir)

    def norm(text):
        if session:
            text = text.replace(session, "{session}")
        return re.sub(r"\d+", "<int>", text)

    with open(cfg_arg) as handler:
        cfg = yaml.safe_load(handler)

    argv = list(sys.argv)
    argv[1] = os.path.relpath(os.path.abspath(cfg_arg), exp_dir)
    if session is not None:
        argv[3] = "{session}"

    markers = {}
    for name in (".__lock", ".__start", ".__end", ".__crash"):
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            with open(path) as handler:
                markers[name] = norm(handler.read())

    from liftoff import parse_opts  # pylint: disable=import-outside-toplevel

    opts = vars(parse_opts())
    opts["out_dir"] = os.path.relpath(os.path.abspath(opts["out_dir"]), exp_dir)
    if isinstance(opts.get("full_title"), str):
        opts["full_title"] = opts["full_title"].replace(exp_name, "{experiment}")

    endby = os.environ.get("ENDBY")
    user_path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    # where the run's own PYTHONPATH stands, and where yaml came from:
    # nothing of the launcher's may come before what the user has
    first = [os.path.relpath(p, root) for p in sys.path[1:1 + len(user_path[:1])]]
    yaml_origin = "PYTHONPATH" if any(
        os.path.abspath(yaml.__file__).startswith(os.path.abspath(p) + os.sep)
        for p in user_path) else "installed"
    record = {
        "run": os.path.relpath(run_dir, exp_dir),
        "argv": argv,
        "cfg_arg_is_absolute": os.path.isabs(cfg_arg),
        "cfg_arg_relative_to_launch_cwd": os.path.relpath(
            os.path.abspath(cfg_arg), root
        ).replace(exp_name, "{experiment}"),
        # sys.flags has no "unbuffered" field; -u shows as a write-through
        # stdout (line_buffering is False either way, stdout being a file).
        "unbuffered": sys.stdout.write_through,
        "optimize": sys.flags.optimize,
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "ENDBY": None if endby is None else re.sub(r"\d+", "<int>", endby),
        "cwd": os.path.relpath(os.getcwd(), root),
        "run_files": sorted(os.listdir(run_dir)),
        "experiment_files": sorted(
            name.replace(session, "{session}") if session else name
            for name in os.listdir(exp_dir)
            if not os.path.isdir(os.path.join(exp_dir, name))
        ),
        "markers": markers,
        "session_is_uuid4": session is not None and re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
            session) is not None,
        "sys_path_after_script": first,
        "yaml_origin": yaml_origin,
        "parse_opts": to_json(opts, exp_name),
    }
    with open(log_path, "a") as handler:
        handler.write(json.dumps(record, sort_keys=True) + "\n")

    if os.environ.get("PROBE_CRASH_SEED") == str(cfg.get("seed")):
        sys.stderr.write("probe: crashing on purpose\n")
        sys.exit(1)
    print("probe: done")


if __name__ == "__main__":
    main()
