"""Experiments: a config grid written out in liftoff's layout, with the queue
that workers drain beside it.

    RESULTS/<timestamp>_<name>/          timestamp: %Y%b%d-%H%M%S (liftoff's)
      experiment.json   what was prepared: {"version": 1, "name", "timestamp",
                        "created" (epoch seconds), "config_path" (absolute),
                        "script" (absolute path or null), "runs_no",
                        "variables" {dotted name: [values]}}
      queue.json        the queue: a JSON list, one {"run": "NNNN_<name>/R",
                        "cfg": <merged config>} per run, one per line; all runs
                        0 first, then all runs 1, ... (a first pass over the
                        grid finishes early). The workers' state goes beside
                        it, in queue.json.cooperate/ (not created here).
      NNNN_<name>/R/cfg.yaml
                        the merged config plus out_dir (the absolute path of
                        the run folder), run_id (R), cfg_id (NNNN as an int),
                        title (the variation's title, "optim.lr=0.1; seed=1")
                        and full_title (the title and the run: "optim.lr=0.1;
                        seed=1 (run 0)"). A config's own keys of these names
                        are replaced, as liftoff does; queue.json keeps them.

NNNN is the variation's index (4 digits or more), <name> grid.safe_name of
its title. An experiment is written into a hidden temporary folder beside
its final place and renamed into place at the end, so a crash never leaves a
half-written experiment; its final name is reserved first (an empty folder,
made with mkdir, which fails if the name is taken), so two prepares in the
same second get NAME and NAME-1. No file is fsync'd but the two JSON files:
the folder's rename is what makes the experiment appear whole (a cfg.yaml
lost to a power cut can be rewritten from queue.json).

append() adds the variations of a grid that the experiment does not have yet
(compared by grid.config_key of the merged config) with the next free
indexes, each written under a temporary name and renamed, and rewrites
queue.json atomically: the old entries byte for byte, in their order, then
the new runs. Appends to one experiment are serialised by a lock on
.prepare.lock in its folder.
"""

import datetime
import json
import os
import re
import shutil
import signal
import time

from . import cfgyaml
from .files import FILE_MODE, FOLDER_MODE, atomic_write, sync_dir, unique, write_all
from .errors import UserError

META_FILE = "experiment.json"
QUEUE_FILE = "queue.json"
CFG_FILE = "cfg.yaml"
LOCK_FILE = ".prepare.lock"
TIMESTAMP_FMT = "%Y%b%d-%H%M%S"
VERSION = 1
ADDED_FIELDS = ("out_dir", "run_id", "cfg_id", "title", "full_title")
LOCK_TIMEOUT = 60
PARALLEL_MIN = 2000  # runs from which create() writes with several processes
MAX_PROCESSES = 4

_INDEX = re.compile(r"(\d+)_")


# ---------------------------------------------------------------- JSON


def _json_default(value):
    """JSON for the few YAML types JSON lacks (the queue's cfg is for
    identity and reading; cfg.yaml keeps the exact values)."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value, key=repr)
    raise TypeError("%r cannot be written as JSON" % (value,))


_encode = json.JSONEncoder(default=_json_default).encode


def _json_error(path, err):
    return UserError("%s:%d:%d: invalid JSON: %s" % (path, err.lineno, err.colno, err.msg))


def _read_json(path, what):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise UserError("%s: no such %s" % (path, what))
    except OSError as err:
        raise UserError("%s: cannot read: %s" % (path, err.strerror))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError("%s: not UTF-8 text (byte %d)" % (path, err.start))
    from .limits import load_json

    try:
        return text, load_json(text, path)
    except ValueError as err:
        raise _json_error(path, err)


# ---------------------------------------------------------------- reading


def is_experiment(path):
    """True if path is a folder with an experiment.json."""
    return os.path.isfile(os.path.join(path, META_FILE))


def load_meta(exp_dir):
    """The experiment.json of exp_dir, as a dict."""
    if not os.path.isdir(exp_dir):
        raise UserError("%s: no such experiment folder" % exp_dir)
    path = os.path.join(exp_dir, META_FILE)
    if not os.path.exists(path):
        raise UserError("%s: not an experiment (no %s in it)" % (exp_dir, META_FILE))
    meta = _read_json(path, "file")[1]
    if not isinstance(meta, dict):
        raise UserError("%s: expected a JSON object" % path)
    return meta


def load_queue(exp_dir):
    """(text, entries) of the experiment's queue.json."""
    path = os.path.join(exp_dir, QUEUE_FILE)
    text, entries = _read_json(path, "queue file")
    if not isinstance(entries, list):
        raise UserError("%s: the top level must be a JSON list" % path)
    return text, entries


def list_experiments(results_path):
    """The experiment folders directly under results_path (absolute paths),
    oldest first: by experiment.json's "created", then by name. A missing
    results folder has none."""
    results = os.path.abspath(results_path)
    try:
        names = os.listdir(results)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as err:
        raise UserError("%s: cannot list: %s" % (results_path, err.strerror))
    found = []
    for name in names:
        if name.startswith("."):
            continue
        exp_dir = os.path.join(results, name)
        meta_path = os.path.join(exp_dir, META_FILE)
        try:
            with open(meta_path, "rb") as handle:
                meta = json.loads(handle.read().decode("utf-8"))
            created = float(meta.get("created"))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except (OSError, ValueError, TypeError, AttributeError):
            try:  # unreadable or damaged: still an experiment, by its time
                created = os.stat(meta_path).st_mtime
            except OSError:
                continue
        found.append((created, name, exp_dir))
    found.sort()
    return [exp_dir for _, _, exp_dir in found]


def find(target, results_path):
    """The experiment folder that target names: its path, or its folder
    name or a part of it under results_path (the latest of several)."""
    if is_experiment(target):
        return os.path.abspath(target)
    matches = [d for d in list_experiments(results_path) if target in os.path.basename(d)]
    if matches:
        return matches[-1]
    if os.path.isdir(target):
        raise UserError("%s: not an experiment (no %s in it)" % (target, META_FILE))
    raise UserError("no experiment matches %r in %s" % (target, results_path))


def cfg_path(exp_dir, run):
    """The cfg.yaml of a queue entry's "run" ("0003_name/0")."""
    parts = run.split("/") if isinstance(run, str) else [""]
    if any(p in ("", ".", "..") for p in parts) or "\0" in run:
        raise UserError("%r: not a run of an experiment (expected NNNN_name/RUN)" % (run,))
    return os.path.join(exp_dir, *(parts + [CFG_FILE]))


def set_script(exp_dir, script_path):
    """Record (the absolute path of) the script that the runs execute."""
    meta = load_meta(exp_dir)
    meta["script"] = _script(script_path)
    _write_meta(exp_dir, meta, atomic=True)


# ---------------------------------------------------------------- names


def experiment_name(grid, name=None):
    """--name, else the config folder's name or the yaml file's stem; made
    folder-safe."""
    from .grid import safe_name

    if name is None:
        name = os.path.basename(os.path.normpath(os.path.abspath(grid.path)))
        for ext in (".yaml", ".yml"):
            if name.endswith(ext) and len(name) > len(ext):
                name = name[:-len(ext)]
                break
    return safe_name(name)


def _stamp(timestamp_fmt, now):
    try:
        return datetime.datetime.fromtimestamp(now).strftime(timestamp_fmt)
    except ValueError as err:
        raise UserError("--timestamp-fmt %r: %s" % (timestamp_fmt, err))


def folder_name(name, timestamp_fmt=TIMESTAMP_FMT, now=None):
    """<timestamp>_<name>, the folder name an experiment gets (before a -N
    suffix for a name already taken)."""
    stamp = _stamp(timestamp_fmt, time.time() if now is None else now)
    base = "%s_%s" % (stamp, name) if stamp else name
    if "/" in base or os.sep in base or "\0" in base or base.startswith("."):
        raise UserError("experiment folder name %r: it must not contain '/' or start with"
                        " '.' (check --name and --timestamp-fmt)" % base)
    return base


def plan_path(grid, results_path, name=None, timestamp_fmt=TIMESTAMP_FMT):
    """Where create() would write now (without the -N suffix it may add)."""
    return os.path.join(os.path.abspath(results_path),
                        folder_name(experiment_name(grid, name), timestamp_fmt))


def _variation_folder(index, variation):
    folder = "%04d_%s" % (index, variation.name)
    # grid names are sanitised; check anyway, it is cheap
    if "/" in folder or os.sep in folder or "\0" in folder or ".." in folder:
        raise UserError("variation folder name %r is not safe" % folder)
    return folder


def _inside(root, path):
    """Refuse a path that does not resolve to somewhere under root."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise UserError("%s: resolves to %s, outside %s; refusing to write there"
                        % (path, real, root))


def _script(script):
    if script is None:
        return None
    path = os.path.abspath(script)
    if not os.path.isfile(path):
        raise UserError("%s: no such script" % script)
    return path


def _runs_no(runs_no):
    if isinstance(runs_no, bool) or not isinstance(runs_no, int) or runs_no < 1:
        raise UserError("runs_no must be a whole number >= 1, not %r" % (runs_no,))
    return runs_no


def _variables(grid, into=None):
    """{dotted name: [values]} over the grid's files (values merged)."""
    out = dict(into or {})
    for gfile in grid.files:
        for var in gfile.variables:
            values = out.setdefault(var.name, [])
            seen = set(_encode(v) for v in values)
            for v in var.values:
                key = _encode(v)
                if key not in seen:
                    seen.add(key)
                    values.append(v)
    return out


# ---------------------------------------------------------------- writing


def _write_file(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    try:
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def _meta_text(meta):
    """experiment.json: one key a line, one variable a line."""
    dump = json.JSONEncoder(default=_json_default).encode
    lines = []
    for key, value in meta.items():
        if key == "variables" and isinstance(value, dict) and value:
            lines.append('  "variables": {\n%s\n  }' % ",\n".join(
                "    %s: %s" % (dump(name), dump(values)) for name, values in value.items()))
        else:
            lines.append("  %s: %s" % (dump(key), dump(value)))
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _write_meta(exp_dir, meta, atomic):
    data = _meta_text(meta).encode("utf-8")
    path = os.path.join(exp_dir, META_FILE)
    if atomic:
        atomic_write(path, data)
    else:
        _write_fsynced(path, data)


def _write_fsynced(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _base_yaml(config):
    """The YAML of a config without the fields the layout adds ("" for an
    empty one), shared by all runs of a variation."""
    if any(k in config for k in ADDED_FIELDS):
        config = dict((k, v) for k, v in config.items() if k not in ADDED_FIELDS)
    return cfgyaml.dumps(config) if config else ""


def _run_yaml(base, out_dir, run_id, cfg_id, title):
    scalar = cfgyaml.scalar
    return (base + "out_dir: %s\nrun_id: %d\ncfg_id: %d\ntitle: %s\nfull_title: %s\n" % (
        scalar(out_dir), run_id, cfg_id, scalar(title),
        scalar("%s (run %d)" % (title, run_id)))).encode("utf-8")


def _write_runs(write_dir, final_dir, base, runs, cfg_id, title, dir_fd=None):
    """Run folders (named by run id) with their cfg.yaml in write_dir (a
    path relative to dir_fd, if given), which will be (or is) final_dir."""
    mkdir, open_, write, close = os.mkdir, os.open, os.write, os.close
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    for run_id in runs:
        name = str(run_id)
        run_dir = write_dir + os.sep + name
        mkdir(run_dir, FOLDER_MODE, dir_fd=dir_fd)
        data = _run_yaml(base, final_dir + os.sep + name, run_id, cfg_id, title)
        fd = open_(run_dir + os.sep + CFG_FILE, flags, FILE_MODE, dir_fd=dir_fd)
        try:
            while data:
                data = data[write(fd, data):]
        finally:
            close(fd)


def _write_share(root, final_root, jobs, runs, share=0, shares=1):
    """Write the variation folders jobs[share::shares] (with their runs)
    into root, which will be final_root."""
    dir_fd = None
    prefix = root + os.sep
    if os.mkdir in os.supports_dir_fd and os.open in os.supports_dir_fd:
        # paths relative to the folder: shorter lookups for 30,000 calls
        dir_fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        prefix = ""
    try:
        for index in range(share, len(jobs), shares):
            folder, variation = jobs[index]
            os.mkdir(prefix + folder, FOLDER_MODE, dir_fd=dir_fd)
            _write_runs(prefix + folder, final_root + os.sep + folder,
                        _base_yaml(variation.config), runs, index, variation.title, dir_fd)
    finally:
        if dir_fd is not None:
            os.close(dir_fd)


def _processes(count):
    """How many processes should write count run folders: on Linux-like
    systems with several CPUs, large experiments are written by forked
    helpers (file creation here is kernel CPU time, and it runs in parallel)."""
    if count < PARALLEL_MIN or not hasattr(os, "fork"):
        return 1
    import threading

    if threading.active_count() > 1:  # forking a threaded process is unsafe
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_PROCESSES))


def _fork_shares(root, final_root, jobs, runs, shares):
    """Start shares - 1 helper processes, each writing its share; returns
    [(pid, pipe read end)]. A helper reports a failure as one line on its
    pipe and always leaves through os._exit."""
    helpers = []
    for share in range(1, shares):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the helper
            code = 1
            try:
                os.close(read_end)
                try:
                    _write_share(root, final_root, jobs, runs, share, shares)
                    code = 0
                except UserError as err:
                    os.write(write_end, ("U" + str(err)).encode("utf-8", "replace"))
                except OSError as err:
                    os.write(write_end, ("U" + str(_oserror(err, "cannot write the experiment"))
                                         ).encode("utf-8", "replace"))
                except BaseException as err:
                    os.write(write_end, ("E%s: %s" % (type(err).__name__, err)
                                         ).encode("utf-8", "replace"))
            finally:
                os._exit(code)
        os.close(write_end)
        helpers.append((pid, read_end))
    return helpers


def _join(helpers):
    """Wait for every helper; raise the first failure one reported."""
    failure = None
    for pid, read_end in helpers:
        chunks = []
        while True:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
        message = b"".join(chunks).decode("utf-8", "replace")
        if failure is None and (status != 0 or message):
            if message.startswith("U"):
                failure = UserError(message[1:])
            else:
                failure = RuntimeError("a process writing the experiment failed: %s"
                                       % (message[1:] or "exit status %d" % status))
    if failure is not None:
        raise failure


def _queue_line(run, cfg_json):
    return '  {"run": %s, "cfg": %s}' % (json.dumps(run), cfg_json)


def _queue_text(lines):
    if not lines:
        return "[]\n"
    return "[\n" + ",\n".join(lines) + "\n]\n"


def _oserror(err, what):
    return UserError("%s: %s: %s" % (what, err.filename or "", err.strerror or err))


def create(grid, results_path, name=None, runs_no=1, script=None, timestamp_fmt=TIMESTAMP_FMT):
    """Write grid as a new experiment under results_path; its folder."""
    runs_no = _runs_no(runs_no)
    script = _script(script)
    variations = list(grid.variations)
    if not variations:
        raise UserError("%s: no variations to prepare" % grid.path)
    results = os.path.abspath(results_path)
    now = time.time()
    name = experiment_name(grid, name)
    base_name = folder_name(name, timestamp_fmt, now)
    folders = [_variation_folder(i, v) for i, v in enumerate(variations)]
    try:
        os.makedirs(results, FOLDER_MODE, exist_ok=True)
    except OSError as err:
        raise UserError("cannot create the results folder %s: %s"
                        % (results_path, err.strerror or err))
    exp_dir = _reserve(results, base_name)
    tmp = os.path.join(results, ".%s.tmp-%s" % (os.path.basename(exp_dir), unique()))
    jobs = list(zip(folders, variations))
    runs = range(runs_no)
    helpers = []
    try:
        _inside(results, exp_dir)
        os.mkdir(tmp, FOLDER_MODE)
        shares = _processes(len(jobs) * runs_no)
        helpers = _fork_shares(tmp, exp_dir, jobs, runs, shares)
        _write_share(tmp, exp_dir, jobs, runs, 0, shares)
        cfgs = [_encode(variation.config) for _, variation in jobs]
        lines = []
        for run_id in runs:
            for (folder, _), cfg_json in zip(jobs, cfgs):
                lines.append(_queue_line("%s/%d" % (folder, run_id), cfg_json))
        _write_fsynced(os.path.join(tmp, QUEUE_FILE), _queue_text(lines).encode("utf-8"))
        meta = {
            "version": VERSION,
            "name": name,
            "timestamp": _stamp(timestamp_fmt, now),
            "created": now,
            "config_path": os.path.abspath(grid.path),
            "script": script,
            "runs_no": runs_no,
            "variables": _variables(grid),
        }
        _write_meta(tmp, meta, atomic=False)
        pending, helpers = helpers, []
        _join(pending)
        _commit(tmp, exp_dir)
    except BaseException as err:
        for pid, _ in helpers:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        try:
            _join(helpers)
        except Exception:
            pass
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            os.rmdir(exp_dir)
        except OSError:
            pass
        if isinstance(err, OSError):
            raise _oserror(err, "cannot write the experiment")
        raise
    sync_dir(results)
    return exp_dir


def _reserve(results, base_name):
    """mkdir the experiment's final folder (empty, not yet an experiment):
    base_name, or base_name-1, -2, ... if taken."""
    n = 0
    while True:
        candidate = base_name if n == 0 else "%s-%d" % (base_name, n)
        path = os.path.join(results, candidate)
        try:
            os.mkdir(path, FOLDER_MODE)
            return path
        except FileExistsError:
            n += 1
        except OSError as err:
            raise UserError("cannot create %s: %s" % (path, err.strerror or err))


def _commit(tmp, exp_dir):
    """Rename the finished temporary folder over the reserved empty one."""
    try:
        os.rename(tmp, exp_dir)
    except OSError:
        # a filesystem that will not rename onto an empty folder
        os.rmdir(exp_dir)
        os.rename(tmp, exp_dir)




def single(yaml_path, results_path, name=None, runs_no=1, script=None, default=None):
    """An experiment of one variation from one yaml file (lists are values):
    liftoff's `liftoff script.py cfg.yaml`. default: a yaml path (or dict)
    that the file is merged onto, for `-c NAME` over configs/default.yaml."""
    from . import grid as gridmod

    if not os.path.isfile(yaml_path):
        raise UserError("%s: no such config file" % yaml_path)
    if isinstance(default, str) and not os.path.isfile(default):
        raise UserError("%s: no such default config file" % default)
    g = gridmod.load_single(yaml_path, default)
    return create(g, results_path, name=name, runs_no=runs_no, script=script)


# ---------------------------------------------------------------- appending


class AppendPlan(object):
    """What append() would add to an experiment."""

    def __init__(self, exp_dir, meta, text, runs_no, new, extra, reused):
        self.exp_dir = exp_dir
        self.meta = meta
        self.text = text  # queue.json as read
        self.runs_no = runs_no  # runs per variation of the grid
        self.new = new  # [(index, folder, variation)]
        self.extra = extra  # [(index, folder, variation, [run ids])] of existing ones
        self.reused = reused  # grid variations the experiment has already

    @property
    def new_runs(self):
        return len(self.new) * self.runs_no + sum(len(r) for _, _, _, r in self.extra)

    @property
    def first_index(self):
        return self.new[0][0] if self.new else None


def plan_append(exp_dir, grid, runs_no=None):
    """Compare grid with the experiment: an AppendPlan (nothing written)."""
    from .grid import config_key

    meta = load_meta(exp_dir)
    if runs_no is None:
        runs_no = meta.get("runs_no", 1)
        if isinstance(runs_no, bool) or not isinstance(runs_no, int) or runs_no < 1:
            runs_no = 1
    runs_no = _runs_no(runs_no)
    text, entries = load_queue(exp_dir)
    existing = {}  # config key -> folder
    runs = {}  # folder -> set of run ids
    top = -1
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("run"), str):
            continue
        folder, _, run_id = entry["run"].rpartition("/")
        match = _INDEX.match(folder)
        if not match or "/" in folder:
            continue
        top = max(top, int(match.group(1)))
        have = runs.get(folder)
        if have is None:  # the runs of a variation share its config
            have = runs[folder] = set()
            if "cfg" in entry:
                existing.setdefault(config_key(entry["cfg"]), folder)
        have.add(run_id)
    try:
        names = os.listdir(exp_dir)
    except OSError as err:
        raise UserError("%s: cannot list: %s" % (exp_dir, err.strerror))
    for name in names:
        match = _INDEX.match(name)
        if match:
            top = max(top, int(match.group(1)))
    new, extra, reused = [], [], 0
    index = top + 1
    for variation in grid.variations:
        key = config_key(json.loads(_encode(variation.config)))
        folder = existing.get(key)
        if folder is None:
            folder = _variation_folder(index, variation)
            existing[key] = folder
            new.append((index, folder, variation))
            index += 1
        else:
            reused += 1
            have = runs.get(folder, set())
            missing = [r for r in range(runs_no) if str(r) not in have]
            if missing:
                extra.append((int(_INDEX.match(folder).group(1)), folder, variation, missing))
    return AppendPlan(os.path.abspath(exp_dir), meta, text, runs_no, new, extra, reused)


def append(exp_dir, grid, runs_no=None):
    """Add the grid's variations that exp_dir does not have yet (and more
    runs of those it has, if runs_no grew); the number of new variations."""
    from .lock import QueueLock

    if not is_experiment(exp_dir):
        load_meta(exp_dir)  # raises the right message
    exp_dir = os.path.abspath(exp_dir)
    plan = plan_append(exp_dir, grid, runs_no)
    if not plan.new and not plan.extra:
        return 0  # nothing to do: not even the lock file is created
    with QueueLock(os.path.join(exp_dir, LOCK_FILE), LOCK_TIMEOUT):
        plan = plan_append(exp_dir, grid, runs_no)
        if not plan.new and not plan.extra:
            return 0
        try:
            _append(plan)
        except OSError as err:
            raise _oserror(err, "cannot write to the experiment")
        meta = dict(plan.meta)
        meta["runs_no"] = max(plan.runs_no, meta.get("runs_no") or 1)
        meta["variables"] = _variables(grid, meta.get("variables"))
        _write_meta(exp_dir, meta, atomic=True)
    return len(plan.new)


def _append(plan):
    exp_dir = plan.exp_dir
    pid = unique()
    lines = []  # (run id, index, line)
    for index, folder, variation in plan.new:
        final = exp_dir + os.sep + folder
        _inside(exp_dir, final)
        tmp = os.path.join(exp_dir, ".%s.tmp-%s" % (folder, pid))
        shutil.rmtree(tmp, ignore_errors=True)
        os.mkdir(tmp, FOLDER_MODE)
        try:
            _write_runs(tmp, final, _base_yaml(variation.config), range(plan.runs_no), index,
                        variation.title)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        cfg_json = _encode(variation.config)
        for run_id in range(plan.runs_no):
            lines.append((run_id, index, _queue_line("%s/%d" % (folder, run_id), cfg_json)))
    for index, folder, variation, missing in plan.extra:
        var_dir = exp_dir + os.sep + folder
        _inside(exp_dir, var_dir)
        base = _base_yaml(variation.config)
        title = _stored_title(var_dir) or variation.title
        os.makedirs(var_dir, FOLDER_MODE, exist_ok=True)
        for run_id in missing:
            _add_run(var_dir, base, run_id, index, title, pid)
        cfg_json = _encode(variation.config)
        for run_id in missing:
            lines.append((run_id, index, _queue_line("%s/%d" % (folder, run_id), cfg_json)))
    lines.sort(key=lambda item: (item[0], item[1]))
    new_lines = [line for _, _, line in lines]
    old = plan.text.rstrip()
    body = old[:-1].rstrip() if old.endswith("]") else ""
    if not body.endswith("["):
        text = body + ",\n" + ",\n".join(new_lines) + "\n]\n"
    else:  # an empty list: nothing to keep
        text = _queue_text(new_lines)
    atomic_write(os.path.join(exp_dir, QUEUE_FILE), text.encode("utf-8"))


def _add_run(var_dir, base, run_id, index, title, pid):
    final = var_dir + os.sep + str(run_id)
    data = _run_yaml(base, final, run_id, index, title)
    if os.path.isdir(final):
        # left by an append that crashed before it rewrote queue.json
        tmp_file = os.path.join(final, ".%s.tmp-%s" % (CFG_FILE, pid))
        _write_file(tmp_file, data)
        os.replace(tmp_file, os.path.join(final, CFG_FILE))
        return
    tmp = os.path.join(var_dir, ".%d.tmp-%s" % (run_id, pid))
    shutil.rmtree(tmp, ignore_errors=True)
    os.mkdir(tmp, FOLDER_MODE)
    _write_file(tmp + os.sep + CFG_FILE, data)
    os.rename(tmp, final)


def _stored_title(var_dir):
    """The title in a cfg.yaml of an existing variation (runs of a variation
    keep one title even if a later grid names it differently)."""
    try:
        names = sorted(n for n in os.listdir(var_dir) if n.isdigit())
    except OSError:
        return None
    import yaml

    from .limits import load_yaml

    for name in names:
        path = os.path.join(var_dir, name, CFG_FILE)
        try:
            with open(path, "rb") as handle:
                data = load_yaml(handle.read(), path)
        except (OSError, yaml.YAMLError, UserError):
            continue
        if isinstance(data, dict) and isinstance(data.get("title"), str):
            return data["title"]
    return None
