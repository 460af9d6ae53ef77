"""cooperate-spawn against a real sshd: Debian's openssh-server (.ci/run
installs it), started here on 127.0.0.1 with a host key, a client key and a
configuration of its own (the system's sshd is left alone), reached through
an ssh_config with two host aliases, hosta and hostb. Skipped, with the
reason, only where sshd is not installed.

Where a mount namespace can be made (root), that sshd runs in one where a
folder of this test is hidden under an empty tmpfs: a host that lacks a path
this one has, for the "missing on that host" messages."""

import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import types

import pytest

from util import TOP, command, journal, run, status, wait_for, write_list

SSHD = "/usr/sbin/sshd"
DEADLINE = 90

ENTRY = """\
import os, sys, time
name, out = sys.argv[1], sys.argv[2]
gate = sys.argv[3] if len(sys.argv) > 3 else None
start = time.time()
with open(out, "a") as f:
    f.write("start %s %s %d\\n" % (name, os.environ["COOPERATE_WORKER"], os.getpid()))
# a gated entry runs until the test opens its gate (a minute at most)
while gate and not os.path.exists(gate) and time.time() < start + 60:
    time.sleep(0.02)
with open(out, "a") as f:
    f.write("end %s %s %d %f %f\\n" % (name, os.environ["COOPERATE_WORKER"], os.getpid(), start,
                                     time.time()))
"""

SSHD_CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {dir}/host_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AllowUsers {user}
SetEnv XDG_STATE_HOME={state_home}
"""

# ssh takes each option's first value: the closed port comes first
SSH_CONFIG = """\
Host refused
  Port {closed}
Host hosta hostb refused
  HostName 127.0.0.1
  Port {port}
  User {user}
  IdentityFile {dir}/client_key
  IdentitiesOnly yes
  UserKnownHostsFile {dir}/known_hosts
  StrictHostKeyChecking yes
  ConnectTimeout 20
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def can_hide():
    """Can a mount namespace with a tmpfs of its own be made here?"""
    if os.getuid() != 0 or not shutil.which("unshare"):
        return False
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                             "mount -t tmpfs tmpfs /mnt"], capture_output=True)
    return result.returncode == 0


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not os.path.exists(SSHD) or not shutil.which("ssh") or not shutil.which("ssh-keygen"):
        pytest.skip("openssh-server is not installed here (no %s, ssh or ssh-keygen): "
                    "apt-get install openssh-server" % SSHD)
    folder = tmp_path_factory.mktemp("ssh")
    hidden = folder / "hidden"
    hidden.mkdir()
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / key)],
                       check=True, timeout=60)
    shutil.copy(str(folder / "client_key.pub"), str(folder / "authorized_keys"))
    port, user = free_port(), pwd.getpwuid(os.getuid()).pw_name
    (folder / "known_hosts").write_text(
        "[127.0.0.1]:%d %s" % (port, (folder / "host_key.pub").read_text()))
    (folder / "sshd_config").write_text(SSHD_CONFIG.format(
        port=port, dir=folder, user=user, state_home=os.environ["XDG_STATE_HOME"]))
    (folder / "ssh_config").write_text(SSH_CONFIG.format(
        port=port, dir=folder, user=user, closed=free_port()))
    if os.getuid() == 0:
        # sshd started by root insists on its privilege separation folder
        os.makedirs("/run/sshd", 0o755, exist_ok=True)
    argv = [SSHD, "-D", "-e", "-f", str(folder / "sshd_config")]
    hides = can_hide()
    if hides:
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount -t tmpfs tmpfs "$0" && exec "$@"', str(hidden)] + argv
    log = open(str(folder / "sshd.log"), "w")
    daemon = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    ssh = "ssh -F %s" % (folder / "ssh_config")
    try:
        def answers():
            assert daemon.poll() is None, "sshd exited: %s" % (folder / "sshd.log").read_text()
            return subprocess.run(shlex.split(ssh) + ["-o", "BatchMode=yes", "hosta", "true"],
                                  stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=60).returncode == 0
        wait_for(answers, timeout=60, what="the test's sshd to let us in")
        yield types.SimpleNamespace(ssh=ssh, hidden=hidden if hides else None, folder=folder)
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()


@pytest.fixture
def workers():
    """Lists whose workers the test stops at its end, however it ends: each
    worker recorded in their journals that is still there gets SIGTERM (it
    stops its runs), then SIGKILL."""
    from cooperate.queue import host

    lists = []
    yield lists
    alive = []
    for path in lists:
        state = path + ".cooperate"
        if not os.path.exists(os.path.join(state, "journal")):
            continue
        for record in journal(state):
            if record[0] == "w":
                info = record[2]
                pid, start = info.get("guard") or info["pid"], info.get("guard_start",
                                                                         info["start"])
                if host.process_start(pid) == start:
                    alive.append((pid, start))
                    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while alive and time.monotonic() < deadline:
        alive = [(pid, start) for pid, start in alive if host.process_start(pid) == start]
        time.sleep(0.05)
    for pid, _ in alive:
        os.kill(pid, signal.SIGKILL)


def gone(pids):
    from cooperate.queue import host

    return all(host.process_start(pid) is None for pid in pids)


def setup_list(tmp_path, names, gated=()):
    (tmp_path / "entry.py").write_text(ENTRY)
    path = tmp_path / "l.json"
    write_list(path, [[sys.executable, str(tmp_path / "entry.py"), name, str(tmp_path / "ran.txt")]
                      + ([str(tmp_path / "gate")] if name in gated else []) for name in names])
    return str(path)


def ran(tmp_path):
    """[(what, name, worker)] in the order the runs wrote them."""
    try:
        lines = (tmp_path / "ran.txt").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [tuple(line.split()[:3]) for line in lines]


def spawn(sshd, *args, cwd, program=None):
    argv = (program or command("spawn")) + list(args[:1]) + ["--ssh", sshd.ssh] + list(args[1:])
    return subprocess.run(argv, cwd=str(cwd), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=DEADLINE)


def started(result):
    """{host: (pid, node, log)} from spawn's output."""
    found = {}
    for line in result.stdout.splitlines():
        words = line.split()
        if len(words) >= 8 and words[1:3] == ["worker", "pid"]:
            found[words[0].rstrip(":")] = (int(words[3]), words[5].rstrip(","), words[7])
    return found


def both_running(tmp_path, names):
    starts = [r for r in ran(tmp_path) if r[0] == "start"]
    return {r[1] for r in starts} >= set(names) and len({r[2] for r in starts}) == 2


def test_workers_on_two_hosts_drain_a_list_exactly_once(tmp_path, sshd, workers):
    names = ["g0", "g1"] + ["q%d" % i for i in range(8)]
    workers.append(setup_list(tmp_path, names, gated=("g0", "g1")))
    result = spawn(sshd, "l.json", "--hosts", "hosta", "--hosts", "hostb", "--",
                   "--poll", "0.2", "--grace", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    spawned = started(result)
    assert sorted(spawned) == ["hosta", "hostb"], result.stdout
    pids = [pid for pid, _, _ in spawned.values()]
    node = socket.gethostname()
    assert {n for _, n, _ in spawned.values()} == {node}
    # ssh has returned: the workers go on, each holding one gated entry
    wait_for(lambda: both_running(tmp_path, ["g0", "g1"]), timeout=DEADLINE,
             what="both workers to run a gated entry")
    assert not gone(pids)

    procs = run("procs", "-a", "l.json", cwd=tmp_path)
    assert procs.returncode == 0, procs.stderr
    lines = [line for line in procs.stdout.splitlines() if not line.startswith(" ")]
    assert len(lines) == 2, procs.stdout
    for pid in pids:
        (line,) = [line for line in lines if "pid %d " % pid in line]
        assert "  %s  " % node in line
    assert procs.stdout.count("\n    ") == 2, "each lists its run: %s" % procs.stdout

    state = tmp_path / "l.json.cooperate"
    logs = sorted(os.listdir(str(state / "spawn")))
    assert [name.split(".")[0] for name in logs] == ["hosta", "hostb"]
    for name in logs:
        assert str(state / "spawn" / name) in {log for _, _, log in spawned.values()}
        assert not os.stat(str(state / "spawn" / name)).st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    assert not os.stat(str(state / "spawn")).st_mode & (stat.S_IWGRP | stat.S_IWOTH)

    (tmp_path / "gate").write_text("")
    wait_for(lambda: gone(pids), timeout=DEADLINE, what="the workers to exit")
    runs = ran(tmp_path)
    for name in names:
        assert [r[0] for r in runs if r[1] == name] == ["start", "end"], (name, runs)
    assert len({worker for _, _, worker in runs}) == 2
    assert status("l.json", cwd=tmp_path)["counts"]["done"] == len(names)
    for _, _, log in spawned.values():
        assert "nothing more to start" in open(log).read()


def test_drain_host_stops_the_spawned_workers(tmp_path, sshd, workers):
    names = ["g%d" % i for i in range(4)]
    workers.append(setup_list(tmp_path, names, gated=names))
    result = spawn(sshd, "l.json", "--hosts", "hosta,hostb", "--", "--poll", "0.2",
                   cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    spawned = started(result)
    pids = [pid for pid, _, _ in spawned.values()]
    wait_for(lambda: len([r for r in ran(tmp_path) if r[0] == "start"]) == 2, timeout=DEADLINE,
             what="both workers to run a gated entry")
    (node,) = {n for _, n, _ in spawned.values()}
    drain = run("drain", "l.json", "--host", node, cwd=tmp_path)
    assert drain.returncode == 0, drain.stderr
    (tmp_path / "gate").write_text("")
    wait_for(lambda: gone(pids), timeout=DEADLINE, what="the drained workers to exit")
    counts = status("l.json", cwd=tmp_path)["counts"]
    assert (counts["done"], counts["pending"], counts["running"]) == (2, 2, 0)
    assert len([r for r in ran(tmp_path) if r[0] == "end"]) == 2


def test_abort_stops_the_spawned_workers(tmp_path, sshd, workers):
    names = ["g%d" % i for i in range(3)]
    workers.append(setup_list(tmp_path, names, gated=names))
    result = spawn(sshd, "l.json", "--hosts", "hosta,hostb", "--", "--poll", "0.2",
                   "--grace", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    pids = [pid for pid, _, _ in started(result).values()]
    wait_for(lambda: len([r for r in ran(tmp_path) if r[0] == "start"]) == 2, timeout=DEADLINE,
             what="both workers to run a gated entry")
    abort = run("abort", "l.json", "-y", "--wait", "60", cwd=tmp_path)
    assert abort.returncode == 0, abort.stdout + abort.stderr
    wait_for(lambda: gone(pids), timeout=DEADLINE, what="the workers to exit")
    assert status("l.json", cwd=tmp_path)["counts"]["aborted"] == 3
    assert not [r for r in ran(tmp_path) if r[0] == "end"], "the runs were stopped"


def test_dry_run_prints_the_ssh_commands_and_starts_nothing(tmp_path, sshd):
    setup_list(tmp_path, ["q0"])
    (tmp_path / "hosts.txt").write_text("# the lab\nalice@hostb   # a second account\n\nhosta\n")
    result = spawn(sshd, "l.json", "--hosts", "hosta", "--hosts-file", "hosts.txt",
                   "--dry-run", "--", "--procs-no", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    for line, name in zip(lines, ["hosta", "alice@hostb", "hosta"]):
        argv = shlex.split(line)
        assert argv[:3] == shlex.split(sshd.ssh) and "BatchMode=yes" in argv
        assert argv[-3:-1] == ["--", name]
        words = shlex.split(argv[-1])
        assert words[words.index("--remote") - 1] == "spawn"
        assert words[-4:] == [str(tmp_path / "l.json"), "--", "--procs-no", "2"]
        assert words[words.index("--cwd") + 1] == str(tmp_path)
    assert not (tmp_path / "l.json.cooperate").exists(), "a dry run starts nothing"


def test_a_host_that_refuses_is_reported_and_the_others_start(tmp_path, sshd, workers):
    workers.append(setup_list(tmp_path, ["q0", "q1"]))
    result = spawn(sshd, "l.json", "--hosts", "refused,hosta", cwd=tmp_path)
    assert result.returncode == 1
    assert list(started(result)) == ["hosta"]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("refused:")]
    assert "Connection refused" in line and "ssh" in line
    assert result.stderr.splitlines()[-1] == "no worker started on refused"
    wait_for(lambda: gone([started(result)["hosta"][0]]), timeout=DEADLINE,
             what="the worker to drain the list")
    assert status("l.json", cwd=tmp_path)["counts"]["done"] == 2


def test_a_worker_that_cannot_start_fails_its_host_with_its_message(tmp_path, sshd, workers):
    workers.append(setup_list(tmp_path, ["q0"]))
    result = spawn(sshd, "l.json", "--hosts", "hosta", "--", "--no-such-option", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("hosta:")]
    assert line.startswith("hosta: failed: the worker on %s exited before it joined the queue: "
                           "cooperate run: error: unrecognized arguments: --no-such-option"
                           % socket.gethostname()), line
    (log,) = os.listdir(str(tmp_path / "l.json.cooperate" / "spawn"))
    assert log in line


def test_a_path_missing_on_the_host_is_said_in_one_line(tmp_path, sshd, workers):
    if sshd.hidden is None:
        pytest.skip("hiding a folder from the ssh host needs a mount namespace (root, unshare)")
    node = socket.gethostname()
    # the toolkit: an archive in a folder the ssh host does not have
    archive = sshd.hidden / "cooperate.pyz"
    shutil.copy(os.path.join(TOP, "dist", "cooperate.pyz"), str(archive))
    link = sshd.hidden / "cooperate-spawn"
    if not link.exists():
        os.symlink("cooperate.pyz", str(link))
    workers.append(setup_list(tmp_path, ["q0"]))
    result = spawn(sshd, "l.json", "--hosts", "hosta", cwd=tmp_path,
                   program=[sys.executable, str(link)])
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines()[0] == (
        "hosta: failed: no file %s on %s: the toolkit must have the same path on every host "
        "(a shared filesystem)" % (archive, node))
    assert not (tmp_path / "l.json.cooperate").exists()

    # the working folder (and the list in it)
    project = sshd.hidden / "project"
    project.mkdir(exist_ok=True)
    setup_list(project, ["q0"])
    result = spawn(sshd, "l.json", "--hosts", "hosta", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    line = result.stderr.splitlines()[0]
    assert line.startswith("hosta: failed: ") and "no folder %s on %s" % (project, node) in line
    assert not (project / "l.json.cooperate").exists()
