"""Workers as a Slurm job array, against a real Slurm: munged, slurmctld and
slurmd from Debian's packages, started on this host with a generated
single-node configuration (.ci/run installs them). Skipped, with the
reason, where they cannot be started."""

import collections
import os
import shutil
import signal
import socket
import subprocess

import pytest

from util import journal, run, status, wait_for, write_list

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONF = """\
ClusterName=cooperate
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={dir}/munge.socket
CredType=cred/munge
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
KillWait=5
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={host} CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
"""


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A one-node Slurm cluster; yields the environment that reaches it."""
    missing = [d for d in DAEMONS if not shutil.which(d)]
    if missing:
        pytest.skip("Slurm is not installed here (no %s): apt-get install slurmctld slurmd "
                    "slurm-client munge" % ", ".join(missing))
    if os.getuid() != 0:
        pytest.skip("starting slurmd needs root")
    folder = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    host = socket.gethostname()
    (folder / "slurm.conf").write_text(CONF.format(host=host, dir=folder, ctld_port=free_port(),
                                                   d_port=free_port(), cpus=os.cpu_count()))
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    env = dict(os.environ, SLURM_CONF=str(folder / "slurm.conf"))
    conf = str(folder / "slurm.conf")
    started = []
    try:
        for argv in (["munged", "--socket=%s/munge.socket" % folder, "--key-file=%s" % key,
                      "--pid-file=%s/munged.pid" % folder, "--log-file=%s/munged.log" % folder,
                      "--seed-file=%s/munge.seed" % folder, "--force"],
                     ["slurmctld", "-f", conf], ["slurmd", "-f", conf]):
            result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
            if result.returncode != 0:
                pytest.skip("%s would not start here: %s" % (argv[0], result.stderr.strip()[-300:]))
            started.append(argv[0])

        def node_idle():
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True,
                                 text=True).stdout
            return "idle" in out
        try:
            wait_for(node_idle, timeout=60, what="the Slurm node to be idle")
        except AssertionError:
            pytest.skip("the Slurm node did not come up: %s" % (folder / "slurmd.log"))
        yield env
    finally:
        subprocess.run(["scancel", "--full", "-u", str(os.getuid())], env=env, capture_output=True)
        for name in ("slurmd", "slurmctld", "munged"):
            pid_file = folder / ("%s.pid" % name)
            if pid_file.exists():
                try:
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
                except (OSError, ValueError):
                    pass


def jobs_left(env, job):
    out = subprocess.run(["squeue", "-h", "-j", job], env=env, capture_output=True, text=True)
    return out.stdout.strip()


def submitted_job(result):
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[2].rstrip(":")


def appenders(n, seconds):
    return [["sh", "-c", 'sleep %s; echo "$COOPERATE_ENTRY" >> ran.txt' % seconds, str(i)]
            for i in range(n)]


def test_a_job_array_drains_a_list_exactly_once(tmp_path, slurm):
    n = 50
    write_list(tmp_path / "l.json", appenders(n, 0.05))
    result = run("submit", "l.json", "--slurm", "--workers", "4", cwd=tmp_path, env=slurm)
    job = submitted_job(result)
    assert "l.json.cooperate/slurm/%s_<task>.out" % job in result.stdout
    wait_for(lambda: not jobs_left(slurm, job), timeout=180, what="the job array to end")
    ran = collections.Counter((tmp_path / "ran.txt").read_text().split())
    assert len(ran) == n and set(ran.values()) == {1}
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["done"] == n
    # the workers were Slurm's: their records name the array job and task
    workers = [r[2] for r in journal(tmp_path / "l.json.cooperate") if r[0] == "w"]
    assert {w.get("slurm_array_job_id") for w in workers} == {job}
    assert len({w.get("slurm_array_task_id") for w in workers}) > 1
    made = {w["slurm"] for w in report["workers"]}
    assert len(made) > 1 and all(m.startswith(job + "_") for m in made)


def test_scancel_requeues_what_ran_and_a_second_submit_finishes(tmp_path, slurm):
    n = 50
    write_list(tmp_path / "l.json", appenders(n, 1))
    job = submitted_job(run("submit", "l.json", "--slurm", "--workers", "4", cwd=tmp_path,
                            env=slurm))
    wait_for(lambda: status("l.json", cwd=tmp_path)["counts"]["done"] >= 4 and
             status("l.json", cwd=tmp_path)["counts"]["running"] >= 2, timeout=180,
             what="the array to be working")
    running = status("l.json", cwd=tmp_path)["running"]
    assert all(r["slurm"] and r["slurm"].startswith(job + "_") for r in running)
    subprocess.run(["scancel", job], env=slurm, check=True)
    wait_for(lambda: not jobs_left(slurm, job), timeout=120, what="the array to stop")
    counts = status("l.json", cwd=tmp_path)["counts"]
    assert counts["running"] == 0 and counts["stale"] == 0 and counts["failed"] == 0
    assert 0 < counts["done"] < n
    interrupted = [r for r in journal(tmp_path / "l.json.cooperate")
                   if r[0] == "e" and r[5] == "interrupted"]
    assert interrupted, "the runs scancel stopped were recorded as interrupted"
    job2 = submitted_job(run("submit", "l.json", "--slurm", "--workers", "4", cwd=tmp_path,
                             env=slurm))
    wait_for(lambda: not jobs_left(slurm, job2), timeout=300, what="the second array to end")
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["done"] == n
    done = collections.Counter(r[1] for r in journal(tmp_path / "l.json.cooperate")
                               if r[0] == "e" and r[5] == "done")
    assert len(done) == n and set(done.values()) == {1}


def test_dry_run_prints_the_script(tmp_path):
    write_list(tmp_path / "l.json", [["true"]])
    result = run("submit", "l.json", "--slurm", "--workers", "3", "--throttle", "2",
                 "--partition", "gpu", "--gres", "gpu:1", "--time", "1:00:00",
                 "--sbatch", "mem=4G", "--dry-run", "--", "--procs-no", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for line in ("#SBATCH --array=0-2%2", "#SBATCH --partition=gpu", "#SBATCH --gres=gpu:1",
                 "#SBATCH --time=1:00:00", "#SBATCH --mem=4G"):
        assert line + "\n" in text
    assert text.rstrip().splitlines()[-1].endswith("run %s --procs-no 2" % (tmp_path / "l.json"))
    assert not (tmp_path / "l.json.cooperate").exists(), "a dry run writes nothing"


def test_the_script_written_through_a_command_s_link_starts_a_worker(tmp_path):
    """`cooperate-submit` is a link to the archive named after a command:
    the script must start the archive as itself, and its worker must run
    (no Slurm needed: the script is run as an array task would run it)."""
    import sys

    from util import TOP

    archive = tmp_path / "bin" / "cooperate.pyz"
    archive.parent.mkdir()
    shutil.copy(os.path.join(TOP, "dist", "cooperate.pyz"), str(archive))
    os.symlink("cooperate.pyz", str(tmp_path / "bin" / "cooperate-submit"))
    write_list(tmp_path / "l.json", [["sh", "-c", "echo $COOPERATE_ENTRY >> ran", str(i)]
                                     for i in range(3)])
    dry = subprocess.run([sys.executable, str(tmp_path / "bin" / "cooperate-submit"), "l.json",
                          "--slurm", "--workers", "1", "--dry-run"], cwd=str(tmp_path),
                         capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "cooperate-submit" not in dry.stdout
    (tmp_path / "job.sh").write_text(dry.stdout)
    env = dict(os.environ, SLURM_JOB_ID="41", SLURM_ARRAY_JOB_ID="41", SLURM_ARRAY_TASK_ID="0")
    task = subprocess.run(["sh", str(tmp_path / "job.sh")], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=120)
    assert task.returncode == 0, task.stderr
    assert len((tmp_path / "ran").read_text().split()) == 3
    (worker,) = [r[2] for r in journal(tmp_path / "l.json.cooperate") if r[0] == "w"]
    assert worker["slurm_array_task_id"] == "0"
