"""Experiments: a config grid written out in liftoff 0.3.3's layout, with
the queue that workers drain hidden beside it.

    RESULTS/<timestamp>_<name>/          timestamp: %Y%b%d-%H%M%S (liftoff's)
      .__experiment     liftoff's mark of an experiment folder (empty)
      .cooperate/       the toolkit's own, hidden from whatever walks the
                        variation folders:
        experiment.json what was prepared: {"version": 1, "name",
                        "timestamp", "created" (epoch seconds), "config_path"
                        (absolute), "script" (absolute path or null),
                        "runs_no", "variables" {dotted name: [values]}}
        queue.json      the queue: a JSON list, one {"run": "NNNN_<title>/R",
                        "cfg": <merged config>} per run, one per line; all
                        runs 0 first, then all runs 1, ... (a first pass over
                        the grid finishes early). The workers' state goes
                        beside it, in queue.json.cooperate/.
      NNNN_<title>/     a variation (grid.folder_name)
        .__cfg_hash     grid.cfg_hash of its merged config (no newline)
        R/              a run
          cfg.yaml      the merged config plus out_dir (the absolute path of
                        the run folder), run_id (R), cfg_id (NNNN as an int),
                        title, full_title ("<experiment folder>_<title>", or
                        the folder's name if the title is part of it) and,
                        for a grid, experiment_arguments (the variation's own
                        values); a config's own keys of these names are
                        replaced, as liftoff does (queue.json keeps them)
          .__leaf       liftoff's mark of a run folder (empty)
        and, written by the workers as liftoff's launcher wrote them: .__lock
        (the worker's session id) while the run is claimed, .__start (the
        epoch second it started, and a newline), then .__end or .__crash (the
        second it ended); out and err link to the attempt's logs.

A folder that liftoff itself made (.__experiment, no .cooperate/) is read as
it is by the commands that only read (read_made_by_liftoff), and adopted
(adopt) by the first command that changes it: its queue is made from its
run folders (those with a
.__leaf and a cfg.yaml), and its journal records the runs with an .__end as
done, those with a .__crash as failed, those liftoff-lock sealed (.__seal)
as held.

An experiment is written into a hidden temporary folder beside its final
place and renamed into place at the end, so a crash never leaves a
half-written experiment; its final name is reserved first (an empty folder,
made with mkdir, which fails if the name is taken), so two prepares in the
same second get NAME and NAME-1. No file is fsync'd but the two JSON files:
the folder's rename is what makes the experiment appear whole (a cfg.yaml
lost to a power cut can be rewritten from queue.json).

append() adds the variations of a grid that the experiment does not have yet
(a variation folder whose .__cfg_hash is the variation's is the same one, as
for liftoff's --append-to) with the next free indexes, each written under a
temporary name and renamed, and rewrites queue.json atomically: the old
entries byte for byte, in their order, then the new runs. Appends to one
experiment are serialised by a lock on .cooperate/prepare.lock.
"""

import datetime
import json
import os
import re
import shutil
import signal
import time

from cooperate.grid import cfgyaml
from cooperate.queue.files import FILE_MODE, FOLDER_MODE, atomic_write, sync_dir, unique, write_all
from cooperate.errors import UserError

MARKER = ".__experiment"
OWN = ".cooperate"
META_FILE = os.path.join(OWN, "experiment.json")
QUEUE_FILE = os.path.join(OWN, "queue.json")
LOCK_FILE = os.path.join(OWN, "prepare.lock")
HASH_FILE = ".__cfg_hash"
LEAF_FILE = ".__leaf"
LEAF_TEMPLATE = os.path.join(OWN, "leaf")
CFG_FILE = "cfg.yaml"
TIMESTAMP_FMT = "%Y%b%d-%H%M%S"
VERSION = 1
ADDED_FIELDS = ("out_dir", "run_id", "cfg_id", "title", "full_title", "experiment_arguments")
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
    from cooperate.limits import load_json

    try:
        return text, load_json(text, path)
    except ValueError as err:
        raise _json_error(path, err)


# ---------------------------------------------------------------- reading


def is_experiment(path):
    """True if path is an experiment folder: liftoff's mark, or ours."""
    return (os.path.isfile(os.path.join(path, MARKER))
            or os.path.isfile(os.path.join(path, META_FILE)))


def made_by_liftoff(exp_dir):
    """Is exp_dir an experiment that liftoff made and nothing adopted yet?"""
    return (not os.path.exists(os.path.join(exp_dir, META_FILE))
            and os.path.isfile(os.path.join(exp_dir, MARKER)))


def load_meta(exp_dir):
    """The experiment.json of exp_dir, as a dict (for a folder that liftoff
    made, what adoption would write; nothing is written)."""
    if not os.path.isdir(exp_dir):
        raise UserError("%s: no such experiment folder" % exp_dir)
    path = os.path.join(exp_dir, META_FILE)
    if not os.path.exists(path):
        if not os.path.isfile(os.path.join(exp_dir, MARKER)):
            raise UserError("%s: not an experiment (no %s in it)" % (exp_dir, MARKER))
        return read_made_by_liftoff(exp_dir)[2]
    meta = _read_json(path, "file")[1]
    if not isinstance(meta, dict):
        raise UserError("%s: expected a JSON object" % path)
    return meta


def load_queue(exp_dir):
    """(text, entries) of the experiment's queue.json (for a folder that
    liftoff made, what adoption would write; nothing is written)."""
    if made_by_liftoff(exp_dir):
        text = read_made_by_liftoff(exp_dir)[0]
        return text, json.loads(text)
    path = os.path.join(exp_dir, QUEUE_FILE)
    text, entries = _read_json(path, "queue file")
    if not isinstance(entries, list):
        raise UserError("%s: the top level must be a JSON list" % path)
    return text, entries


def list_experiments(results_path):
    """The experiment folders directly under results_path (absolute paths),
    oldest first: by experiment.json's "created" (for a folder liftoff made
    and nothing adopted yet: its mark's time), then by name. A missing
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
        try:
            with open(os.path.join(exp_dir, META_FILE), "rb") as handle:
                created = float(json.loads(handle.read().decode("utf-8")).get("created"))
        except (OSError, ValueError, TypeError, AttributeError):
            try:  # liftoff's, or damaged: still an experiment, by its time
                created = os.stat(os.path.join(exp_dir, MARKER)).st_mtime
            except OSError:
                if not os.path.isfile(os.path.join(exp_dir, META_FILE)):
                    continue
                created = os.stat(os.path.join(exp_dir, META_FILE)).st_mtime
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
        raise UserError("%s: not an experiment (no %s in it)" % (target, MARKER))
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
    from cooperate.grid.config import safe_name

    if name is None:
        name = os.path.basename(os.path.normpath(os.path.abspath(grid.path)))
        if name.endswith(".yaml") and len(name) > 5:  # liftoff's rule: .yml stays
            name = name[:-5]
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
    folder = variation.folder(index)
    # grid names are sanitised; check anyway, it is cheap
    if "/" in folder or os.sep in folder or "\0" in folder or folder.startswith("."):
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


def _base_yaml(variation):
    """The top-level entries of a variation's cfg.yaml that all its runs
    share, [(key, YAML text)]: its config's, without the fields the layout
    adds, and its experiment_arguments (as a list of one entry, or none)."""
    config = variation.config
    if any(k in config for k in ADDED_FIELDS):
        config = dict((k, v) for k, v in config.items() if k not in ADDED_FIELDS)
    shared = [(k, cfgyaml.entry(k, v)) for k, v in config.items()]
    if variation.arguments:
        return shared, [("experiment_arguments",
                         cfgyaml.entry("experiment_arguments", variation.arguments))]
    return shared, []


def full_title(exp_dir, title):
    """liftoff's full_title: "<experiment folder>_<title>", or the folder's
    name when the title is part of it."""
    name = os.path.basename(os.path.normpath(exp_dir))
    return name if title in name else "%s_%s" % (name, title)


def _run_yaml(base, out_dir, run_id, cfg_id, title, full):
    """A run's cfg.yaml as liftoff wrote it: its keys sorted (in the order
    liftoff added them when they cannot be compared), as PyYAML sorts them."""
    entry = cfgyaml.entry
    shared, arguments = base
    items = shared + [
        ("out_dir", entry("out_dir", out_dir)), ("run_id", "run_id: %d\n" % run_id),
        ("cfg_id", "cfg_id: %d\n" % cfg_id), ("title", entry("title", title)),
        ("full_title", entry("full_title", full))] + arguments
    try:
        items = sorted(items, key=_first)
    except TypeError:
        pass
    return "".join(text for _, text in items).encode("utf-8")


def _first(item):
    return item[0]


def _leaf(exp_dir):
    """The empty file that every run's .__leaf is a hard link to (a link
    costs a fraction of a new file; nothing ever writes to them)."""
    path = os.path.join(exp_dir, LEAF_TEMPLATE)
    if not os.path.exists(path):
        _write_file(path, b"")
    return path


def _write_runs(write_dir, final_dir, base, runs, cfg_id, title, full, leaf, dir_fd=None):
    """Run folders (named by run id) with their cfg.yaml and .__leaf (a
    link to `leaf`) in write_dir (a path relative to dir_fd, if given),
    which will be (or is) final_dir."""
    mkdir, open_, write, close = os.mkdir, os.open, os.write, os.close
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    for run_id in runs:
        name = str(run_id)
        run_dir = write_dir + os.sep + name
        mkdir(run_dir, FOLDER_MODE, dir_fd=dir_fd)
        data = _run_yaml(base, final_dir + os.sep + name, run_id, cfg_id, title, full)
        fd = open_(run_dir + os.sep + CFG_FILE, flags, FILE_MODE, dir_fd=dir_fd)
        try:
            while data:
                data = data[write(fd, data):]
        finally:
            close(fd)
        os.link(leaf, run_dir + os.sep + LEAF_FILE, dst_dir_fd=dir_fd)


def _write_variation(write_dir, final_dir, variation, runs, index, exp_dir, leaf, dir_fd=None):
    """A variation folder: its .__cfg_hash and its runs."""
    os.mkdir(write_dir, FOLDER_MODE, dir_fd=dir_fd)
    fd = os.open(write_dir + os.sep + HASH_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                 | os.O_NOFOLLOW, FILE_MODE, dir_fd=dir_fd)
    try:
        write_all(fd, variation.cfg_hash.encode())
    finally:
        os.close(fd)
    _write_runs(write_dir, final_dir, _base_yaml(variation), runs, index, variation.title,
                full_title(exp_dir, variation.title), leaf, dir_fd)


def _write_share(root, final_root, jobs, runs, share=0, shares=1):
    """Write the variation folders jobs[share::shares] (with their runs)
    into root, which will be final_root."""
    dir_fd = None
    prefix = root + os.sep
    if os.mkdir in os.supports_dir_fd and os.open in os.supports_dir_fd:
        # paths relative to the folder: shorter lookups for 30,000 calls
        dir_fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        prefix = ""
    leaf = os.path.join(os.path.abspath(root), LEAF_TEMPLATE)
    try:
        for index in range(share, len(jobs), shares):
            folder, variation = jobs[index]
            _write_variation(prefix + folder, final_root + os.sep + folder, variation, runs,
                             index, final_root, leaf, dir_fd)
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
        os.mkdir(os.path.join(tmp, OWN), FOLDER_MODE)
        _write_file(os.path.join(tmp, MARKER), b"")
        _leaf(tmp)
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
    from cooperate.grid import config as gridmod

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
    """Compare grid with the experiment: an AppendPlan (nothing written). A
    variation folder whose .__cfg_hash is a variation's holds that
    variation; new ones get indexes after the highest of the folders."""
    meta = load_meta(exp_dir)
    if runs_no is None:
        runs_no = meta.get("runs_no", 1)
        if isinstance(runs_no, bool) or not isinstance(runs_no, int) or runs_no < 1:
            runs_no = 1
    runs_no = _runs_no(runs_no)
    text, entries = load_queue(exp_dir)
    runs = {}  # folder -> set of run ids in the queue
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("run"), str):
            folder, _, run_id = entry["run"].rpartition("/")
            runs.setdefault(folder, set()).add(run_id)
    existing = {}  # cfg hash -> folder
    top = -1
    for name in _listdir(exp_dir):
        match = _INDEX.match(name)
        if match and os.path.isdir(os.path.join(exp_dir, name)):
            top = max(top, int(match.group(1)))
            digest = _read_hash(os.path.join(exp_dir, name))
            if digest:
                existing.setdefault(digest, name)
    new, extra, reused = [], [], 0
    index = top + 1
    for variation in grid.variations:
        folder = existing.get(variation.cfg_hash)
        if folder is None:
            folder = _variation_folder(index, variation)
            existing[variation.cfg_hash] = folder
            new.append((index, folder, variation))
            index += 1
        else:
            reused += 1
            have = runs.get(folder, set())
            missing = [r for r in range(runs_no) if str(r) not in have]
            if missing:
                extra.append((int(_INDEX.match(folder).group(1)), folder, variation, missing))
    return AppendPlan(os.path.abspath(exp_dir), meta, text, runs_no, new, extra, reused)


def _listdir(folder):
    try:
        return sorted(os.listdir(folder))
    except OSError as err:
        raise UserError("%s: cannot list: %s" % (folder, err.strerror))


def _read_hash(var_dir):
    """A variation folder's .__cfg_hash, or None."""
    try:
        with open(os.path.join(var_dir, HASH_FILE), "rb") as handle:
            return handle.read(200).decode("ascii", "replace").strip() or None
    except OSError:
        return None


def append(exp_dir, grid, runs_no=None):
    """Add the grid's variations that exp_dir does not have yet (and more
    runs of those it has, if runs_no grew); the number of new variations."""
    from cooperate.queue.lock import QueueLock

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
        try:
            _write_variation(tmp, final, variation, range(plan.runs_no), index, exp_dir,
                             _leaf(exp_dir))
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
        base = _base_yaml(variation)
        title = _stored_title(var_dir) or variation.title
        full = full_title(exp_dir, title)
        os.makedirs(var_dir, FOLDER_MODE, exist_ok=True)
        for run_id in missing:
            _add_run(var_dir, base, run_id, index, title, full, pid)
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


def rewrite(exp_dir, grid):
    """liftoff-prepare --overwrite: write the cfg.yaml of the runs of the
    grid's variations that the experiment has again, except those that
    started or ended (.__lock, .__start, .__end). Returns how many."""
    exp_dir = os.path.abspath(exp_dir)
    folders = {}
    for name in _listdir(exp_dir):
        match = _INDEX.match(name)
        digest = match and _read_hash(os.path.join(exp_dir, name))
        if digest:
            folders.setdefault(digest, (int(match.group(1)), name))
    written = 0
    for variation in grid.variations:
        if variation.cfg_hash not in folders:
            continue
        index, name = folders[variation.cfg_hash]
        var_dir = os.path.join(exp_dir, name)
        base, full = _base_yaml(variation), full_title(exp_dir, variation.title)
        for run in _listdir(var_dir):
            run_dir = os.path.join(var_dir, run)
            if not run.isdigit() or not os.path.isfile(os.path.join(run_dir, LEAF_FILE)) or any(
                    os.path.exists(os.path.join(run_dir, m))
                    for m in (".__lock", ".__start", ".__end")):
                continue
            tmp = os.path.join(run_dir, ".%s.tmp-%s" % (CFG_FILE, unique()))
            _write_file(tmp, _run_yaml(base, run_dir, int(run), index, variation.title, full))
            os.replace(tmp, os.path.join(run_dir, CFG_FILE))
            written += 1
    return written


def _add_run(var_dir, base, run_id, index, title, full, pid):
    final = var_dir + os.sep + str(run_id)
    data = _run_yaml(base, final, run_id, index, title, full)
    if os.path.isdir(final):
        # left by an append that crashed before it rewrote queue.json
        tmp_file = os.path.join(final, ".%s.tmp-%s" % (CFG_FILE, pid))
        _write_file(tmp_file, data)
        os.replace(tmp_file, os.path.join(final, CFG_FILE))
        _write_file(os.path.join(final, LEAF_FILE), b"")
        return
    tmp = os.path.join(var_dir, ".%d.tmp-%s" % (run_id, pid))
    shutil.rmtree(tmp, ignore_errors=True)
    os.mkdir(tmp, FOLDER_MODE)
    _write_file(tmp + os.sep + CFG_FILE, data)
    _write_file(tmp + os.sep + LEAF_FILE, b"")
    os.rename(tmp, final)


def _stored_title(var_dir):
    """The title in a cfg.yaml of an existing variation (runs of a variation
    keep one title even if a later grid names it differently)."""
    try:
        names = sorted(n for n in os.listdir(var_dir) if n.isdigit())
    except OSError:
        return None
    import yaml

    from cooperate.limits import load_yaml

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


# ---------------------------------------------------------------- liftoff's folders and marks


def read_made_by_liftoff(exp_dir):
    """(queue.json's text, journal records, experiment.json's content) of a
    folder that liftoff made, read as it is: nothing is written. One entry
    per run folder that has a .__leaf and a cfg.yaml (all runs 0 first, by
    folder name), its config read from cfg.yaml (less the fields the layout
    adds); in the records, runs with an .__end are done, runs with a
    .__crash failed, runs sealed by liftoff-lock (.__seal) held."""
    from cooperate import limits
    from cooperate.queue.listfile import entry_id

    runs = []
    for folder in _listdir(exp_dir):
        var_dir = os.path.join(exp_dir, folder)
        if folder.startswith(".") or not os.path.isdir(var_dir):
            continue
        for run in _listdir(var_dir):
            run_dir = os.path.join(var_dir, run)
            path = os.path.join(run_dir, CFG_FILE)
            if (run.startswith(".") or not os.path.isfile(os.path.join(run_dir, LEAF_FILE))
                    or not os.path.isfile(path)):
                continue
            with open(path, "rb") as handle:
                try:
                    cfg = limits.load_yaml(handle.read(), path)
                except UserError:
                    raise
                except Exception as err:  # yaml.YAMLError, imported lazily
                    raise UserError("%s: cannot read it: %s" % (path, _one_line(err)))
            if not isinstance(cfg, dict):
                raise UserError("%s: not a mapping of keys to values" % path)
            config = dict((k, v) for k, v in cfg.items() if k not in ADDED_FIELDS)
            marks = set(os.listdir(run_dir))
            state = ("done" if ".__end" in marks else "failed" if ".__crash" in marks
                     else "held" if ".__seal" in marks else None)
            runs.append((int(run) if run.isdigit() else 1 << 30, folder, run, config, state))
    runs.sort(key=lambda r: r[:3])
    lines, records, now = [], [], time.time()
    for _, folder, run, config, state in runs:
        line = _queue_line("%s/%s" % (folder, run), _encode(config))
        lines.append(line)
        id_ = entry_id(json.loads(line))
        if state == "held":
            records.append(["h", id_, now])
        elif state:
            records.append(["c", id_, 1, "liftoff", now])
            records.append(["e", id_, 1, "liftoff", now, state, 0 if state == "done" else None])
    name = os.path.basename(os.path.normpath(exp_dir))
    stamp, _, short = name.partition("_")
    try:
        created = os.stat(os.path.join(exp_dir, MARKER)).st_mtime
    except OSError:
        created = now
    meta = {"version": VERSION, "name": short or name, "timestamp": stamp, "created": created,
            "config_path": None, "script": None,
            "runs_no": max([r[0] + 1 for r in runs if r[0] < 1 << 30] or [1]),
            "variables": {}, "adopted": "made by liftoff"}
    return _queue_text(lines), records, meta


def _one_line(err):
    return " ".join(str(err).split())


def adopt(exp_dir):
    """Give a folder that liftoff made a queue of its own (.cooperate/:
    queue.json, experiment.json, and a journal of the runs liftoff ran or
    sealed: see read_made_by_liftoff), for the commands that change it.
    The folder is read first: a bad cfg.yaml is refused before anything is
    written."""
    from cooperate.queue import journal
    from cooperate.queue.files import STATE_FOLDER_MODE, make_folder
    from cooperate.queue.lock import QueueLock

    text, records, meta = read_made_by_liftoff(exp_dir)
    try:
        make_folder(os.path.join(exp_dir, OWN))
    except OSError as err:
        raise _oserror(err, "cannot adopt the experiment liftoff made")
    with QueueLock(os.path.join(exp_dir, LOCK_FILE), LOCK_TIMEOUT):
        if os.path.exists(os.path.join(exp_dir, META_FILE)):
            return
        state_dir = os.path.join(exp_dir, QUEUE_FILE + ".cooperate")
        try:
            if records:
                # the queue's state: this user's alone (see queue.files)
                make_folder(state_dir, STATE_FOLDER_MODE)
                _write_fsynced(os.path.join(state_dir, "journal"), journal.encode(records))
            _write_fsynced(os.path.join(exp_dir, QUEUE_FILE), text.encode("utf-8"))
            _write_meta(exp_dir, meta, atomic=True)
        except OSError as err:
            raise _oserror(err, "cannot adopt the experiment liftoff made")


def _run_dir(exp_dir, run):
    return os.path.join(exp_dir, *run.split("/"))


def _stamp_file(path):
    """A file holding this second since the epoch, as `date +%s` writes it."""
    _write_file(path, b"%d\n" % int(time.time()))


def _remove(*paths):
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass


def mark_started(exp_dir, run, session):
    """liftoff's marks as a run starts: .__lock (the session that claimed it)
    and .__start; an earlier attempt's .__end or .__crash goes."""
    folder = _run_dir(exp_dir, run)
    _remove(os.path.join(folder, ".__end"), os.path.join(folder, ".__crash"))
    _write_file(os.path.join(folder, ".__lock"), session.encode("utf-8", "replace"))
    _stamp_file(os.path.join(folder, ".__start"))


def mark_ended(exp_dir, run, outcome):
    """liftoff's marks as a run ends: .__end when it is done (or pruned:
    stopped early, a success that is not run again), .__crash when it
    failed, timed out or was aborted; a run that is pending again
    (interrupted, lost) loses its .__start. The .__lock goes."""
    folder = _run_dir(exp_dir, run)
    if outcome in ("done", "pruned"):
        _stamp_file(os.path.join(folder, ".__end"))
    elif outcome in ("failed", "timeout", "aborted"):
        _stamp_file(os.path.join(folder, ".__crash"))
    else:
        _remove(os.path.join(folder, ".__start"))
    _remove(os.path.join(folder, ".__lock"))


def mark_pending(exp_dir, run):
    """A run made pending again (retry, liftoff-clean): liftoff's marks of
    its last attempt go."""
    folder = _run_dir(exp_dir, run)
    _remove(*(os.path.join(folder, name)
              for name in (".__lock", ".__start", ".__end", ".__crash")))


def mark_launcher(exp_dir, session, pid):
    """liftoff's mark of a launcher at work on the experiment: .__SESSION
    holding its pid, removed when it is done (pid None)."""
    path = os.path.join(exp_dir, ".__" + session)
    if pid is None:
        _remove(path)
    else:
        _write_file(path, b"%d\n" % pid)


def mark_held(exp_dir, run, held, session):
    """liftoff-lock's marks (.__lock and .__seal), or liftoff-unlock's."""
    folder = _run_dir(exp_dir, run)
    if held:
        _write_file(os.path.join(folder, ".__lock"), session.encode("utf-8", "replace"))
        _write_file(os.path.join(folder, ".__seal"), b"%s\n" % session.encode("utf-8", "replace"))
    else:
        _remove(os.path.join(folder, ".__lock"), os.path.join(folder, ".__seal"))
