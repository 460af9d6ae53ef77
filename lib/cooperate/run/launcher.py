"""The launcher: slots (processes and GPUs) and the runs' processes.

GPU slots are shared by every worker of this user on this host: slot k of GPU
g is an flock on a host-local file, so two workers started on one machine (by
hand or by cron) never put more than K runs on a GPU. The run inherits the
slot's descriptor, so the slot stays taken while the run lives, even if its
worker was killed outright.

Each run is started without a shell, in its own session and process group,
so it can be stopped as a group: TERM, a grace period, then KILL, to the
processes under it that left the group too. When a run's first process
ends, whatever it left running in its group is killed, and what left the
group or the session is killed by the worker, which adopts it (see runs.py):
a run never outlives its recorded end.
"""

import fcntl
import os
import re
import shlex
import signal
import subprocess
import time

from cooperate.queue import host
from cooperate.queue import logs
from cooperate.run import resources
from cooperate.errors import UserError


class Slot:
    """A run's place in its worker and, with GPUs, the GPU slots it holds:
    gpus[i]'s slot file is locked through fds[i], in the order taken."""

    def __init__(self):
        self.gpus = []
        self.fds = []

    @property
    def gpu(self):
        """The run's CUDA_VISIBLE_DEVICES ("2,3"), or None without GPUs."""
        return ",".join(self.gpus) if self.gpus else None


def slot_dir():
    """This user's folder for GPU slot files on this machine, one no other
    user can have made or can enter: in XDG_RUNTIME_DIR (which the login
    manager makes for this user alone), else cooperate-UID in TMPDIR or
    /tmp. Created 0700, and checked each time (see private()). Where
    another user made cooperate-UID first (anyone can, in /tmp), the
    worker says so and uses a folder in this user's home instead
    (fallback_slot_dir()): every worker of this user on this host finds
    the same folder taken, so they all share the fallback."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return _make_private("", (runtime, "cooperate", host.hostname()))
    base = os.environ.get("TMPDIR") or "/tmp"
    try:
        return _make_private(base, ("cooperate-%d" % os.getuid(), host.hostname()))
    except UserError as error:
        if not os.path.exists(os.path.join(base, "cooperate-%d" % os.getuid())):
            raise
        fallback = fallback_slot_dir()
        import sys

        sys.stderr.write("%s; the GPU slots are kept in %s instead\n" % (error, fallback))
        return _make_private(fallback, ())


def fallback_slot_dir():
    """Where the GPU slots go when the folder in /tmp is another user's: in
    this user's state folder ($XDG_STATE_HOME, ~/.local/state), one folder
    per host (a home folder shared by many machines holds them all)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "cooperate", "gpu-slots", host.hostname())


def _make_private(path, parts):
    """path/parts..., each part made 0700 if missing and checked (private())."""
    if not parts:
        # the fallback: its parents are this user's own folders
        try:
            os.makedirs(path, 0o700, exist_ok=True)
        except OSError as error:
            raise UserError("cannot create the GPU slot folder %s: %s" % (path, error.strerror))
        return private(path)
    for part in parts:
        path = os.path.join(path, part)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as error:
            raise UserError("cannot create the GPU slot folder %s: %s" % (path, error.strerror))
        private(path)
    return path


def private(path):
    """`path`, if it is a folder of this user's that no one else may enter;
    else UserError naming it."""
    import stat

    try:
        st = os.lstat(path)
    except OSError as error:
        raise UserError("the GPU slot folder %s: %s" % (path, error.strerror))
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        why = "is not a folder (a symbolic link?)"
    elif st.st_uid != os.getuid():
        why = "belongs to uid %d" % st.st_uid
    elif st.st_mode & 0o077:
        why = "is open to other users (mode %o)" % stat.S_IMODE(st.st_mode)
    else:
        return path
    raise UserError("the GPU slot folder %s %s: another user could make your workers wait or "
                    "write where you did not ask; remove it (or set XDG_RUNTIME_DIR to a "
                    "folder that is yours alone)" % (path, why))


class Slots:
    """At most `procs` runs in this worker; with `gpus`, at most `per_gpu[g]`
    runs on GPU g among all workers on this host; with `gpu_memfree` (a
    resources.Size), a run only on a GPU with that much memory free.

    A run that needs N GPUs (an entry's "gpus") gets one slot from
    acquire(), then N - 1 more on other GPUs from widen(). Every slot file
    is locked without waiting, and widen() keeps all N or none: a worker
    never waits for a slot while it holds another one, so workers sharing
    the slots (1-GPU and N-GPU runs alike) cannot deadlock. An N-GPU run
    may wait long while 1-GPU runs keep taking the GPUs as they free up."""

    def __init__(self, procs, gpus=None, per_gpu=None, gpu_memfree=None):
        self.procs = procs
        self.gpus = list(gpus or [])
        self.per_gpu = dict(zip(self.gpus, per_gpu or [1] * len(self.gpus)))
        self.gpu_memfree = gpu_memfree
        # why the last acquire() skipped GPUs for their memory (a sentence), or None
        self.short = None
        # the GPUs with enough memory at the last acquire(), for widen()
        self.enough = self.gpus
        self.held = []
        self.next_gpu = 0
        self.dir = slot_dir() if self.gpus else None

    @property
    def capacity(self):
        if not self.gpus:
            return self.procs
        return min(self.procs, sum(self.per_gpu.values()))

    def acquire(self):
        """A free slot, or None when all are taken (here or by other workers)
        or lack memory."""
        self.short = None
        if len(self.held) >= self.capacity:
            return None
        if not self.gpus:
            slot = Slot()
            self.held.append(slot)
            return slot
        private(self.dir)
        self.enough = self._enough_memory()
        slot = Slot()
        if not self._add_gpus(slot, 1):
            return None
        self.held.append(slot)
        return slot

    def widen(self, slot, n):
        """Add to `slot` (from acquire()) slots on other GPUs until it holds
        n distinct GPUs: True if it does, else it is back to its first GPU
        and False."""
        if not self._add_gpus(slot, n):
            self.narrow(slot)
            return False
        return True

    def narrow(self, slot):
        """Give back all of `slot`'s GPUs but the first."""
        for fd in slot.fds[1:]:
            os.close(fd)
        del slot.gpus[1:], slot.fds[1:]

    def _add_gpus(self, slot, n):
        """Lock free slots of GPUs with enough memory that `slot` does not
        hold, one per GPU, until it holds n GPUs; True if it does. Never
        waits for a lock (see the class's docstring)."""
        count, first = len(self.gpus), self.next_gpu
        # start after the GPU used last, so runs started together spread out
        for i in range(count):
            if len(slot.gpus) >= n:
                break
            gpu = self.gpus[(first + i) % count]
            if gpu not in self.enough or gpu in slot.gpus:
                continue
            for k in range(self.per_gpu[gpu]):
                path = os.path.join(self.dir, "gpu%s.%d" % (gpu, k))
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                self.next_gpu = (first + i + 1) % count
                slot.gpus.append(gpu)
                slot.fds.append(fd)
                break
        return len(slot.gpus) >= n

    def _enough_memory(self):
        """The GPUs with gpu_memfree free now, as nvidia-smi tells (all of
        them without gpu_memfree); sets `short` to what the others lack."""
        if self.gpu_memfree is None:
            return self.gpus
        free, problem = resources.gpu_free_memory()
        if problem is not None:
            self.short = "%s, --gpu-memfree %s" % (problem, self.gpu_memfree.text)
            return []
        enough = [g for g in self.gpus if free.get(g, -1) >= self.gpu_memfree]
        if len(enough) < len(self.gpus):
            self.short = "%s, --gpu-memfree %s" % (", ".join(
                "%s free on GPU %s" % (resources.size_text(free[g]), g) if g in free else
                "GPU %s not reported by nvidia-smi" % g for g in self.gpus if g not in enough),
                self.gpu_memfree.text)
        return enough

    def any_free(self):
        """Is a slot free now? (takes none)"""
        slot = self.acquire()
        if slot is None:
            return False
        self.release(slot)
        return True

    def release(self, slot):
        self.held.remove(slot)
        for fd in slot.fds:
            os.close(fd)


def command_of(entry):
    """(argv, cwd, env) of a list entry; strings are split like a shell
    would split them, but never run by one. (A run of an experiment, with
    "run" instead of "cmd", is started by the experiment's hooks.)"""
    cwd, env = None, {}
    if isinstance(entry, dict) and "run" in entry:
        raise UserError("%s: no script recorded for this experiment: start it once with "
                        "`liftoff SCRIPT EXP`, or prepare it with --script" % entry["run"])
    if isinstance(entry, dict):
        if entry.get("shell"):
            return ["/bin/sh", "-c", entry["cmd"]], entry.get("cwd"), entry.get("env", {})
        cwd, env, entry = entry.get("cwd"), entry.get("env", {}), entry["cmd"]
    if isinstance(entry, str):
        try:
            entry = shlex.split(entry)
        except ValueError as error:
            raise UserError("cannot split the command %r: %s" % (entry, error))
        if not entry:
            raise UserError("empty command")
    return entry, cwd, env


# words a shell would read as pipes, lists or redirections: in an entry
# that no shell runs, they reach the program as arguments
SHELL_WORD = re.compile(r"^(\|\|?|&&?|;;?|\d*[<>]{1,2}(&\d*)?|\d*[<>]{1,2}\S*)$")


def shell_words(entry):
    """The words of an entry's command that a shell would treat as syntax
    (`|`, `>`, `2>&1`, `;`, `&&`, ...), if no shell runs it; else []."""
    if isinstance(entry, dict):
        if entry.get("shell") or "run" in entry:
            return []
        entry = entry.get("cmd")
    if isinstance(entry, str):
        try:
            entry = shlex.split(entry)
        except ValueError:
            return []
    if not isinstance(entry, list):
        return []
    return [word for word in entry if isinstance(word, str) and SHELL_WORD.match(word)]


class Run:
    """A started attempt: its process, slot, and when it began."""

    def __init__(self, claim, slot, process):
        self.claim = claim
        self.slot = slot
        self.process = process
        self.started = time.monotonic()
        # its time limit in seconds (the entry's "timeout", else the
        # worker's --timeout), or None
        self.limit = None
        # set when the run is being stopped (aborted, timed out, interrupted,
        # or lost: taken back by another worker), with the time its group
        # gets KILL
        self.stopped_as = None
        self.kill_at = None
        # why an early-stopping rule pruned it (a sentence), or None
        self.why = None
        # its process is in the journal
        self.recorded = False
        # (descriptor, path) of each log it writes (see close_logs)
        self.logs = []


def close_logs(run, hooks):
    """Close the ended run's logs and unlink those it left empty, so that a
    run that printed nothing leaves no file (the size comes from the
    descriptor: no lookup by name). `hooks` hear of each such log first."""
    for fd, path in run.logs:
        try:
            empty = not os.fstat(fd).st_size
        except OSError:
            # gone under it (a network filesystem that stats by name): keep the rest
            empty = False
        finally:
            os.close(fd)
        if not empty:
            continue
        try:
            hooks.log_dropped(run.claim, path)
        except OSError:
            pass  # a mark for other tools: not the run's failure
        logs.drop(path)
    run.logs = []


_FOUND = {}


def find_program(name, path):
    """The absolute path of a program looked up in PATH, remembered: a
    worker runs the same few programs thousands of times, and the lookup
    costs about as much as the rest of starting one. None: let exec look."""
    key = (name, path)
    if key not in _FOUND:
        import shutil

        found = shutil.which(name, path=path) if os.sep not in name else None
        _FOUND[key] = found if found and os.path.isabs(found) else None
    return _FOUND[key]


def start(claim, slot, base_env, extra_env, open_log=None, command=None):
    """Start the claimed entry, as `command` ((argv, cwd, env), else
    command_of the entry) says. Returns a Run, or raises OSError/UserError
    when the program cannot be started (the caller records a failed run).
    `open_log(path)` gives a descriptor to write a log to (logs.open_log:
    never through a symbolic link or into a file of someone else's); the
    Run keeps them until close_logs. Without it the run writes where the
    worker does (--no-detach)."""
    argv, cwd, env = command or command_of(claim.entry)
    run_env = dict(base_env)
    run_env.update(env)
    run_env.update(extra_env)
    if slot.gpu is not None:
        run_env["CUDA_VISIBLE_DEVICES"] = slot.gpu
    if cwd is not None and not os.path.isdir(cwd):
        raise FileNotFoundError(2, "no such working folder", cwd)
    opened = []
    try:
        if open_log is not None:
            for path in (claim.out, claim.err):
                opened.append((open_log(path), path))
        process = subprocess.Popen(
            argv, executable=find_program(argv[0], run_env.get("PATH", os.defpath)), cwd=cwd,
            env=run_env, stdin=subprocess.DEVNULL,
            stdout=opened[0][0] if opened else None, stderr=opened[1][0] if opened else None,
            start_new_session=True, pass_fds=slot.fds)
    except BaseException:
        # nothing ran: no log stays behind
        for fd, path in opened:
            os.close(fd)
            logs.drop(path)
        raise
    run = Run(claim, slot, process)
    run.logs = opened
    return run


def signal_group(run, signum):
    try:
        os.killpg(run.process.pid, signum)
    except OSError:
        pass


def signal_run(run, signum):
    """Signal the run's process group, and every process under its first
    one that left that group (`setsid work &`, a daemon that has not
    detached yet): found through their parents, whatever their session or
    environment. (What detached already, its parent gone, was adopted by
    the worker: see Runs.end_leftovers.)"""
    group = run.process.pid
    signal_group(run, signum)
    for pid in host.descendants(group):
        try:
            if os.getpgid(pid) != group:
                os.kill(pid, signum)
        except OSError:
            pass


def finished(run):
    """Has the run's first process ended? It is not reaped yet, so that its
    process group cannot be taken by another process before reap()."""
    try:
        return os.waitid(os.P_PID, run.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def reap(run):
    """Kill what the ended run left in its process group, then reap it.
    Returns its exit code (negative: killed by that signal)."""
    signal_group(run, signal.SIGKILL)
    return run.process.wait()
