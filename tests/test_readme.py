"""The README's commands (and docs/'s, read after it: util.DOCS), read from
the documentation itself and run in its order in
a sandbox (a home of its own, a project folder with the README's YAML grid
and scripts), so that the README and the toolkit cannot drift apart: an
option the README names and the toolkit lacks, or a list or grid it shows
that would be refused, fails here. What the runs did is checked on the files
they wrote, not only on the toolkit's records.

Lines that cannot run here are in SKIP with the reason (and where they are
tested instead); a line of SKIP or INTRO that the README no longer has fails
the test, so that these lists do not rot. `--wait` workers are stopped with
Ctrl-C once their list is drained; Slurm submissions get `--dry-run`."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys

from util import TOP, documentation, wait_for


SKIP = {
    "make test": "the test suite itself",
    "cooperate-doe exps.json": "interactive: tests/test_doe.py types into it on a terminal",
    "make -C examples sweep": "tests/test_examples.py runs it on a copy of examples/",
    "make -C examples workers": "tests/test_examples.py runs it on a copy of examples/",
    "cooperate-collect sweep --sort loss":
        "needs runs that report a loss: tests/test_report_answers.py sorts a real ASHA sweep",
    "cooperate-collect sweep --sort acc --mode max --aggregate --over seed":
        "needs runs that report acc: tests/test_report_answers.py sorts a real ASHA sweep",
    "cooperate-run exps.json --procs-no 8 --memfree 4G --load 16":
        "needs 4 GB free and a load under 16: tests/test_run_limits.py tries both bounds",
    "cooperate-run exps.json --gpus 0,1,2,3 --gpu-memfree 20G":
        "needs nvidia-smi and 4 GPUs: tests/test_run_limits.py uses a stand-in nvidia-smi",
    "cooperate-run exps.json --notify \"notify-send 'sweep finished'\"":
        "needs a desktop session: tests/test_notify.py runs --notify commands",
    "cooperate-run exps.json --notify 'sh -c \"echo $COOPERATE_DONE done, $COOPERATE_FAILED "
    "failed | mail -s sweep me\"'": "needs mail: tests/test_notify.py runs --notify commands",
    "cooperate-run exps.json --notify ./tell-chat.sh":
        "needs a chat server: tests/test_notify.py runs --notify commands",
    "cooperate-spawn exps.json --hosts node1,node2,node3 -- --procs-no 4 --gpus 0,1":
        "needs ssh hosts: tests/test_spawn.py starts an sshd and spawns on two aliases of it",
    'cooperate-spawn exps.json --hosts-file hosts.txt --ssh "ssh -F ~/.ssh/lab_config"':
        "needs ssh hosts: tests/test_spawn.py starts an sshd and spawns on two aliases of it",
}
# the README's opening example: run in a folder of its own, on the README's
# JSON list, with the archive beside it
INTRO = "python3 cooperate.pyz run exps.json"
EXPERIMENT = "results/2026Nov22-101500_sweep"  # the README's example experiment
ENTRY_ID = "3fa9c2"  # the README's example id prefix
CRON_TIMES = re.compile(r"^(\S+\s+){5}(?=cd )")
TIMEOUT = 180

# the README's `python main.py ...` and `python train.py` runs: each appends
# its arguments to a file (what ran)
MAIN = """\
import os, sys
with open(os.environ["RAN"], "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
"""
TRAIN = """\
import os
from liftoff import parse_opts
opts = parse_opts()
with open(os.environ["RAN"], "a") as f:
    f.write("%s %s %s\\n" % (opts.optim.name, opts.optim.lr, opts.seed))
"""


def blocks():
    """(line number, language, [lines]) of each code block: fenced, or
    indented by four spaces after a blank line."""
    lines = documentation().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            end = lines.index("```", i + 1)
            yield i + 1, lines[i][3:].strip(), lines[i + 1:end]
            i = end + 1
        elif lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            start = i
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                i += 1
            yield start + 1, "", [line[4:] for line in lines[start:i]]
        else:
            i += 1


def commands():
    """[(README line number, command)]: every line of the README's indented
    blocks, without its `# comment` (two spaces before it, as the README
    writes them) and a crontab line's time fields."""
    found = []
    for number, language, lines in blocks():
        for offset, line in enumerate(lines):
            line = re.split(r"\s{2,}#\s", CRON_TIMES.sub("", line), maxsplit=1)[0].strip()
            if line and not language:
                found.append((number + offset, line))
    return found


def fenced(language):
    return ["\n".join(lines) for _, lang, lines in blocks() if lang == language]


def counts(target, env, cwd):
    result = subprocess.run(["cooperate-status", target, "--json"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, universal_newlines=True, timeout=TIMEOUT)
    return json.loads(result.stdout)["counts"] if result.returncode == 0 else None


def run_waiting(line, cwd, env, target):
    """A `--wait` worker: started, stopped with Ctrl-C once `target` has
    nothing pending or running; its exit status."""
    proc = subprocess.Popen(["sh", "-c", line], cwd=cwd, env=env, start_new_session=True)
    try:
        def drained():
            c = counts(target, env, cwd)
            return c is not None and c["pending"] + c["running"] == 0
        wait_for(drained, timeout=TIMEOUT, what="%s to be drained" % line)
        os.killpg(proc.pid, signal.SIGINT)
        return proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def sandbox(tmp_path):
    """(env, project folder, intro folder)."""
    home = tmp_path / "home"
    project = tmp_path / "project"
    intro = tmp_path / "intro"
    for folder in (home / "lists", home / "project", project / "configs" / "sweep",
                   intro / "runs"):
        folder.mkdir(parents=True)
    # `python` and `python3` are this Python; the installed commands come first
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("python", "python3"):
        (tools / name).symlink_to(sys.executable)
    env = dict(os.environ, HOME=str(home), RAN=str(tmp_path / "ran.txt"),
               PATH=os.pathsep.join([str(home / "bin"), str(tools), os.environ["PATH"]]))
    env.pop("PYTHONPATH", None)
    env.pop("XDG_RUNTIME_DIR", None)
    # GPU slots are this user's on the machine (in TMPDIR): another test run
    # holding GPU 0 would keep the README's `--gpus 0` worker waiting
    (tmp_path / "tmp").mkdir()
    env["TMPDIR"] = str(tmp_path / "tmp")
    (json_list,) = fenced("json")
    (intro / "exps.json").write_text(json_list)
    shutil.copy(os.path.join(TOP, "dist", "cooperate.pyz"), str(intro))
    for folder in (project, intro, intro / "runs", home / "project"):
        (folder / "main.py").write_text(MAIN)
    (project / "train.py").write_text(TRAIN)
    (yaml_grid,) = fenced("yaml")
    (project / "configs" / "sweep" / "config.yaml").write_text(yaml_grid)
    (project / "configs" / "sweep" / "default.yaml").write_text(
        "optim:\n  lr: 0.1\n  name: sgd\nseed: 0\n")
    for path in (home / "lists" / "exps.json", home / "q.json"):
        path.write_text(json.dumps([["python", "main.py", path.name, str(i)] for i in range(3)]))
    return env, project, intro


def early_experiment(project, env):
    """An experiment for the lines that name one before the README has made
    one, kept apart from ./results."""
    subprocess.run(["liftoff-prepare", "configs/sweep", "--do", "--results-path", "early",
                    "--script", "train.py"],
                   cwd=str(project), env=env, stdout=subprocess.DEVNULL, check=True,
                   timeout=TIMEOUT)
    return "early/" + os.listdir(str(project / "early"))[0]


def ran(tmp_path):
    """What the runs did, in order, and empty the record."""
    path = tmp_path / "ran.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    if path.exists():
        path.unlink()
    return lines


def test_the_readme_s_commands_work_as_written(tmp_path):
    env, project, intro = sandbox(tmp_path)
    found = commands()
    texts = {line for _, line in found}
    assert not set(SKIP) - texts, "SKIP names lines the README no longer has"
    assert INTRO in texts, "the README's opening example changed: update INTRO"
    experiment = None
    for number, line in found:
        if line in SKIP:
            continue
        if line.startswith("make "):
            cwd = TOP
            line += " PYTHON=%s" % sys.executable
        else:
            cwd = str(intro if line == INTRO else project)
        if EXPERIMENT in line:
            line = line.replace(EXPERIMENT, experiment or early_experiment(project, env))
        if ENTRY_ID in line.split():
            ids = subprocess.run(["cooperate-collect", "exps.json", "--format", "jsonl"], cwd=cwd,
                                 env=env, stdout=subprocess.PIPE, universal_newlines=True)
            line = line.replace(ENTRY_ID, json.loads(ids.stdout.splitlines()[0])["id"][:6])
        if "--slurm" in line and "--dry-run" not in line:
            line = line.replace("--slurm", "--slurm --dry-run", 1)
        what = "README line %d: %s" % (number, line)
        if "--wait" in line and not line.startswith("cooperate-status"):
            target = [w for w in line.split() if w.endswith(".json")][0]
            code = run_waiting(line, cwd, env, target.replace("~", env["HOME"]))
            # the worker's status, or the shell's own death by the same Ctrl-C
            assert code in (128 + signal.SIGINT, -signal.SIGINT), what
            ran(tmp_path)
            continue
        result = subprocess.run(["sh", "-c", line], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True, timeout=TIMEOUT)
        assert result.returncode == 0, "%s\nexit %d\n%s%s" % (
            what, result.returncode, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, what
        runs = ran(tmp_path)
        if line == INTRO:
            assert sorted(runs) == ["--lr 0.1", "--lr 0.2", "--lr 0.3"], what
        elif line.startswith("liftoff-prepare") and "--do" in line:
            (made,) = os.listdir(str(project / "results"))
            experiment = "results/" + made
        elif line.startswith("liftoff train.py"):
            # the README's grid: 2 lr x 2 optimisers x 3 seeds, never adam with 0.1
            assert len(runs) == 9 and len(set(runs)) == 9, (what, runs)
            assert not [r for r in runs if r.startswith("adam 0.1 ")], (what, runs)
        elif line == "cooperate-run exps.json":
            entries = json.loads((project / "exps.json").read_text())
            assert len(runs) == len(entries) == len(set(runs)), (what, runs)
    assert (tmp_path / "home" / "bin" / "cooperate.pyz").exists(), "make install PREFIX=\"$HOME\""
    assert experiment is not None
