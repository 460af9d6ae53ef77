"""Workers on other machines over ssh: one detached worker per host, on the
same list, started through `ssh HOST COMMAND`.

Nothing is copied: the archive (or the checkout), the list and the working
folder must have the same paths on every host, as on a shared filesystem.
The remote command is one simple command (quoted words, no shell syntax),
so that any login shell runs it the same: Python checks there that the
archive is there (Python's own message for a missing script does not say
why it should be), then runs `spawn --remote` from it, which checks the
folder and the list, opens the worker's log in the state folder, starts
`run` detached from the ssh session, waits until the worker has joined the
queue, and prints one line for this side to read.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import time

from cooperate.queue import host
from cooperate.errors import UserError
from cooperate.queue.files import open_own
from cooperate.remote.slurm import REMOTE_PYTHON, toolkit_command

# the line `spawn --remote` prints when its worker has started; login shells
# may print their own lines around it
MARK = "cooperate-spawn-started "
# how long `spawn --remote` waits for its worker to join the queue; a worker
# that waits longer for the queue lock is still reported, as not joined yet
JOIN_WAIT = 20.0
# how the toolkit there starts its one-line errors (cli.py), left out of the
# host's line here
REMOTE_ERROR = "cooperate spawn: error: "
# what is said when a path differs on a host
SAME_PATHS = "it must have the same path on every host (a shared filesystem)"
# run by the remote host's Python before the archive: a missing archive is
# said in one line naming the path and the host
CHECK = ('import os, sys; a = sys.argv[1]; os.path.isfile(a) or sys.exit("no file %s on %s: '
         'the toolkit must have the same path on every host (a shared filesystem)" % '
         '(a, os.uname().nodename)); os.execv(sys.executable, [sys.executable] + sys.argv[1:])')


def hosts(given, hosts_file=None):
    """The hosts of --hosts (each a comma list) and --hosts-file (one per
    line, # comments), in order; a host named twice gets two workers."""
    names = [h.strip() for text in given for h in text.split(",") if h.strip()]
    if hosts_file is not None:
        try:
            with open(hosts_file) as f:
                lines = f.read().splitlines()
        except OSError as error:
            raise UserError("cannot read the hosts file %s: %s" % (hosts_file, error.strerror))
        names += [line.split("#", 1)[0].strip() for line in lines
                  if line.split("#", 1)[0].strip()]
    for name in names:
        # ssh would take a leading - as one of its options
        if name.startswith("-") or re.search(r"\s", name):
            raise UserError("%r is not a host name (HOST or USER@HOST)" % name)
    if not names:
        raise UserError("no hosts: give --hosts a,b,c or --hosts-file FILE")
    return names


def ssh_program(text):
    """--ssh split as a shell would split it, ~ at a word's start included
    (ssh does not expand it in -F FILE): it is never run by one."""
    try:
        argv = [os.path.expanduser(word) for word in shlex.split(text)]
    except ValueError as error:
        raise UserError("--ssh %r: %s" % (text, error))
    if not argv:
        raise UserError("--ssh is empty")
    return argv


def remote_command(target, cwd, label, state=None, trusted=False, worker_args=(),
                   python=REMOTE_PYTHON):
    """The words the remote host runs: this toolkit, by the same archive
    path, with `python` there (a name on its PATH, or a path), in `spawn
    --remote` mode."""
    python, archive = toolkit_command(python)
    words = [python, "-c", CHECK, archive, "spawn", "--remote", "--cwd", cwd, "--as", label]
    if state:
        words += ["--state", state]
    if trusted:
        words.append("--trust-writable")
    return words + [target, "--"] + list(worker_args)


def ssh_argv(ssh, hostname, words):
    """The local command: no terminal, no questions (BatchMode: a host that
    wants a password fails instead of waiting), and the remote command as one
    string of quoted words, which is what the remote shell gets anyway."""
    return ssh + ["-T", "-o", "BatchMode=yes", "--", hostname,
                  " ".join(shlex.quote(w) for w in words)]


def show(argv):
    return " ".join(shlex.quote(a) for a in argv)


class Started:
    """What happened on one host: `pid`, `node` (its host name, for
    `drain --host`), `log` and `joined` once a worker started there, else
    `error` (one line)."""

    def __init__(self, hostname):
        self.host = hostname
        self.pid = self.node = self.log = self.error = None
        self.joined = False


def start_all(commands, timeout):
    """Run the ssh commands [(host, argv)] at once; [Started] in their
    order. A command still going after `timeout` seconds is killed."""
    program = commands[0][1][0]
    if shutil.which(program) is None:
        raise UserError("%s not found (--ssh chooses the ssh program)" % program)
    running = []
    for hostname, argv in commands:
        result = Started(hostname)
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, universal_newlines=True)
        except OSError as error:
            proc = None
            result.error = "cannot run %s: %s" % (argv[0], error.strerror or error)
        running.append((result, proc))
    deadline = time.monotonic() + timeout
    for result, proc in running:
        if proc is None:
            continue
        try:
            out, err = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            result.error = ("no answer within %g s (ssh stopped; a worker may have started "
                            "there all the same: cooperate-procs -a lists them)" % timeout)
            continue
        _read_answer(result, proc.returncode, out, err)
    return [result for result, _ in running]


def _read_answer(result, code, out, err):
    for line in reversed(out.splitlines()):
        if line.startswith(MARK):
            try:
                answer = json.loads(line[len(MARK):])
                result.pid, result.node = answer["pid"], answer["host"]
                result.log, result.joined = answer["log"], answer["joined"]
            except (ValueError, KeyError, TypeError):
                break
            return
    said = [line.strip() for line in (err + out).splitlines() if line.strip()]
    result.error = (said[-1].replace(REMOTE_ERROR, "", 1) if said
                    else "ssh exited with %d and said nothing" % code)


# -- the remote side -----------------------------------------------------------


def open_log(queue, label):
    """STATE/spawn/LABEL.TIME.PID.log, the worker's output, created here with
    the queue's modes (writable by this user alone, or by the group the
    state folder is shared with); (path, descriptor)."""
    queue.create_state_dir(("logs", "workers", "spawn"))
    name = "%s.%s.%d.log" % (re.sub(r"[^-.@\w]", "_", label), time.strftime("%Y%m%d-%H%M%S"),
                             os.getpid())
    path = os.path.join(queue.dir, "spawn", name)
    try:
        return path, open_own(path, queue.file_mode)
    except OSError as error:
        raise UserError("cannot write %s on %s: %s" % (path, host.hostname(), error.strerror))


def check_here(cwd, target):
    """The working folder and the list as this side named them, or one line
    naming what this host lacks."""
    try:
        os.chdir(cwd)
    except OSError as error:
        raise UserError("no folder %s on %s (%s): the working folder: %s" % (
            cwd, host.hostname(), error.strerror, SAME_PATHS))
    if not os.path.exists(target):
        raise UserError("no %s on %s: the list: %s" % (target, host.hostname(), SAME_PATHS))


def detach(argv, log_fd):
    """Start `argv` in a session of its own, its output to `log_fd` and its
    input from /dev/null, so that nothing ties it to the ssh session (no
    terminal, no pipe back to ssh, no parent there): fork, setsid, fork
    again (a process that is not a session leader can never get a
    controlling terminal), exec. Returns its pid."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read_end)
            os.setsid()
            if os.fork():
                os._exit(0)
            os.write(write_end, b"pid %d\n" % os.getpid())
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            os.execv(argv[0], argv)
        except BaseException as error:
            try:
                os.write(write_end, ("error %s\n" % error).encode())
            finally:
                os._exit(127)
    os.close(write_end)
    os.waitpid(child, 0)
    # the pipe closes when the worker execs (it is close-on-exec), or says why it did not
    said = b""
    while True:
        chunk = os.read(read_end, 4096)
        if not chunk:
            break
        said += chunk
    os.close(read_end)
    lines = said.decode(errors="replace").splitlines()
    pid = int(lines[0].split()[1]) if lines and lines[0].startswith("pid ") else None
    errors = [line[len("error "):] for line in lines if line.startswith("error ")]
    if pid is None or errors:
        raise UserError("cannot start %s on %s: %s" % (argv[0], host.hostname(),
                                                        "; ".join(errors) or "no pid"))
    return pid


def wait_joined(queue, pid, start, log, timeout=JOIN_WAIT):
    """Wait until the worker started as `pid` (the guard, on Linux) has
    joined the queue: True; False if it is still starting after `timeout`
    seconds. A worker that exits first is an error that quotes its log."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        # looked at before the queue: a worker that joins and exits between
        # the two is found in the queue
        alive = start is not None and host.process_start(pid) == start
        queue.read()
        for info in queue.state.workers.values():
            if host.same_machine(info) and (
                    (info.get("guard"), info.get("guard_start")) == (pid, start) or
                    (info.get("pid"), info.get("start")) == (pid, start)):
                return True
        if not alive:
            raise UserError("the worker on %s exited before it joined the queue: %s (%s)" % (
                host.hostname(), last_line(log) or "it said nothing", log))
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def last_line(path):
    try:
        with open(path, errors="replace") as f:
            lines = [line.strip() for line in f.read()[-4096:].splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1] if lines else None


def start_here(queue, target, label, worker_args):
    """`spawn --remote`: start the worker on this host; what to print for
    the other side (MARK and a JSON object)."""
    log, fd = open_log(queue, label)
    try:
        pid = detach(toolkit_command() + ["run", target] + list(worker_args), fd)
    finally:
        os.close(fd)
    start = host.process_start(pid)
    joined = wait_joined(queue, pid, start, log)
    return MARK + json.dumps({"pid": pid, "host": host.hostname(), "log": log, "joined": joined})
