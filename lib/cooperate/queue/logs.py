"""The runs' logs: STATE/logs/PRE/ID.ATTEMPT.out and .err (Queue.log_paths),
PRE the id's first three hex digits.

One folder of logs for a whole queue would not do: at a million entries it
would hold millions of names, and an AFS folder holds about 64,000 (a name
of this length takes two slots); on every filesystem a huge folder is slow
to create files in. Three hex digits make at most 4,096 shard folders, a
few hundred files each at a million entries.

A shard folder is made by the first worker that writes there, with the
queue's modes, and is refused, as a log file is (files.open_own), if it is
a symbolic link or, unless the queue is trusted (--trust-writable), if
another user could change it (trust.check_stat): its logs would be written
wherever it leads. A worker checks each shard once: logs/ itself is
refused if others can write it (trust.check_state), so no one else can
replace a shard folder afterwards.

A run that printed nothing leaves no file: its worker makes each log with
the first byte the run writes to it (cooperate.run.output; an experiment's
logs, linked from its run folders, are made as the run starts and unlinked
at its end if left empty: launcher.close_logs). Most runs of a large queue
print nothing, and each file is a name slot and round trips to the file
server. So an absent log of a worker that detached its runs means "no
output".

State folders made before the shards have their logs directly in logs/:
find() looks there too for the attempts of workers of that time.
"""

import os
import stat

from cooperate.queue import files
from cooperate.queue import trust
from cooperate.errors import UserError

# the shard folders this process checked (see the docstring)
_CHECKED = set()


def open_log(path, mode, folder_mode, trusted):
    """A descriptor to write the log `path` (files.open_own), its shard
    folder made or checked first. OSError or UserError: nothing is written."""
    shard = os.path.dirname(path)
    if shard not in _CHECKED:
        make_shard(shard, folder_mode, trusted)
    try:
        return files.open_own(path, mode)
    except FileNotFoundError:
        # the shard was removed since it was checked (logs cleaned by hand)
        _CHECKED.discard(shard)
        make_shard(shard, folder_mode, trusted)
        return files.open_own(path, mode)


def make_shard(shard, mode, trusted):
    """Make (or check) a shard folder, as the docstring says (the metrics
    files' shards too: cooperate.metrics). One this made needs no check:
    nobody else can change what is in logs/ (or metrics/)."""
    if files.make_folder(shard, mode):
        _CHECKED.add(shard)
        return
    st = os.lstat(shard)
    if not trusted:
        trust.check_stat(shard, st)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UserError("%s is not a folder (a symbolic link?) where the toolkit keeps logs: "
                        "remove it" % shard)
    _CHECKED.add(shard)


def drop(path):
    try:
        os.unlink(path)
    except OSError:
        pass  # an empty file left behind is harmless


def of_attempt(queue, id_, attempt):
    """(out, err, detached) of an attempt: the paths of its logs, None for
    those that are not there, and whether its worker detached its runs.
    If it did, an absent log is one its run printed nothing to; if not
    (--no-detach), its output went to the worker's terminal. Workers older
    than the shards recorded no "detach": they left a file even when it
    stayed empty, directly in logs/."""
    info = queue.state.workers.get(attempt.worker, {})
    older = "detach" not in info
    out, err = (find(p, older) for p in queue.log_paths(id_, attempt.number))
    return out, err, info.get("detach", False)


def find(path, older):
    """The log `path` (from Queue.log_paths) if it is there, else, if it may
    be `older`, where a state folder made before the shards kept it
    (logs/ID.ATTEMPT.out), else None."""
    if os.path.exists(path):
        return path
    if not older:
        return None
    shard = os.path.dirname(path)
    flat = os.path.join(os.path.dirname(shard), os.path.basename(path))
    return flat if os.path.exists(flat) else None
