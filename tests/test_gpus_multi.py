"""Entries that need several GPUs ("gpus": N), with real workers: no real
GPUs are needed, a GPU slot is an flock on a file in the test's own
XDG_RUNTIME_DIR, shared by every worker started with it.

Each run appends a start line and an end line with its GPUs
(CUDA_VISIBLE_DEVICES) to a side-effect file; appends land in the order
they happened, so replaying the file tells how many runs held each GPU at
every moment. Nothing here sleeps to order events: runs that must overlap
wait for a file the test creates once the queue shows them running."""

import collections
import os
import re
import signal

import pytest

import util
from util import run, status, wait_for, write_list

WAIT = 120  # seconds any one wait here may take
GPUS = "0,1,2,3"


def entry(key, gpus=None, work="", out="ran.txt"):
    """An entry that records its start and end, with its GPUs, in `out`;
    `work` (shell) runs in between."""
    script = ('echo "start $0 $CUDA_VISIBLE_DEVICES" >> %s; %s\n'
              'echo "end $0 $CUDA_VISIBLE_DEVICES" >> %s' % (out, work, out))
    e = {"cmd": ["sh", "-c", script, key]}
    if gpus is not None:
        e["gpus"] = gpus
    return e


# a run's work until the test lets it go
UNTIL_GO = "while [ ! -e go ]; do sleep 0.01; done"
# a run's work: long enough for runs to overlap (not to order anything)
SHORT_WORK = "i=0; while [ $i -lt 5 ]; do sleep 0.02; i=$((i+1)); done"


def replay(path, needs, per_gpu, ended=True, gpus=GPUS.split(",")):
    """Check the side-effect file: each run got as many distinct GPUs of
    `gpus` as its key needs (`needs`), no GPU ever had more than `per_gpu`
    runs at once, and (if `ended`) every run ended. Returns {key: its
    GPUs}."""
    holding, given = collections.Counter(), {}
    for line in path.read_text().splitlines():
        what, key, devices = line.split()
        devices = devices.split(",")
        if what == "start":
            assert key not in given, "%s ran twice" % key
            given[key] = devices
            assert len(set(devices)) == len(devices) == needs[key], (key, devices)
            assert set(devices) <= set(gpus), (key, devices)
            holding.update(devices)
            crowded = {g: n for g, n in holding.items() if n > per_gpu}
            assert not crowded, "%s started on %s: runs per GPU %s" % (key, devices, crowded)
        else:
            assert given.get(key) == devices, (key, devices)
            holding.subtract(devices)
    assert not ended or not +holding, "runs that never ended: %s" % +holding
    assert set(given) == set(needs)
    return given


@pytest.fixture
def runtime(tmp_path):
    """The environment of workers that share this test's GPU slots."""
    folder = tmp_path / "runtime"
    folder.mkdir(mode=0o700)
    return dict(os.environ, XDG_RUNTIME_DIR=str(folder))


class Worker:
    """A worker started in the background, its output in a file."""

    def __init__(self, tmp_path, env, *args):
        self.err = tmp_path / ("worker%d.err" % len(list(tmp_path.glob("worker*.err"))))
        with open(str(self.err), "w") as f:
            self.process = util.start("run", "l.json", *args, cwd=str(tmp_path), stdout=f,
                                      stderr=f, env=env)

    def output(self):
        return self.err.read_text()

    def wait_output(self, text):
        wait_for(lambda: text in self.output(), WAIT, what="%r from the worker" % text)

    def wait(self):
        return self.process.wait(timeout=WAIT)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def workers(tmp_path, runtime):
    started = []
    yield lambda *args: started.append(Worker(tmp_path, runtime, *args)) or started[-1]
    for worker in started:
        worker.kill()


def counts(tmp_path):
    return status(str(tmp_path / "l.json"))["counts"]


def test_a_run_gets_its_gpus_together_and_one_waiting_for_them_is_not_claimed(tmp_path,
                                                                           workers):
    # four GPUs: "one" takes a GPU, "wide" two more, "wide2" cannot have two
    # of what is left and is passed over (not held) for "one2", which can
    needs = {"one": 1, "wide": 2, "wide2": 2, "one2": 1}
    write_list(tmp_path / "l.json", [entry("one", work=UNTIL_GO),
                                     entry("wide", 2, work=UNTIL_GO),
                                     entry("wide2", 2, work=UNTIL_GO),
                                     entry("one2", work=UNTIL_GO)])
    worker = workers("--gpus", GPUS, "--procs-no", "4", "--poll", "0.05")
    wait_for(lambda: (tmp_path / "ran.txt").exists() and
             len((tmp_path / "ran.txt").read_text().splitlines()) == 3, WAIT, what="three runs")
    now = counts(tmp_path)
    assert (now["running"], now["pending"]) == (3, 1), now
    started = replay(tmp_path / "ran.txt", {k: needs[k] for k in ("one", "wide", "one2")}, 1,
                     ended=False)
    # all four GPUs in use, each by one run
    assert sorted(g for gpus in started.values() for g in gpus) == ["0", "1", "2", "3"]
    (tmp_path / "go").touch()
    assert worker.wait() == 0, worker.output()
    assert counts(tmp_path)["done"] == 4
    replay(tmp_path / "ran.txt", needs, 1)
    assert re.search(r"start \w+#1 on GPUs \d,\d: sh -c", worker.output()), worker.output()


@pytest.mark.parametrize("per_gpu", [1, 2])
def test_one_and_several_gpu_runs_of_two_workers_share_the_gpus_and_finish(tmp_path, workers,
                                                                         per_gpu):
    needs = {"e%02d" % i: n for i, n in enumerate([1, 2, 1, 1, 3, 2, 1, 4, 1, 2, 2, 1,
                                                    1, 1, 2, 3, 1, 2, 1, 4, 2, 1, 1, 2])}
    # a 1-GPU entry has "gpus": 1 or no "gpus" at all, in turn
    write_list(tmp_path / "l.json", [entry(key, n if n > 1 or i % 2 else None, work=SHORT_WORK)
                                     for i, (key, n) in enumerate(needs.items())])
    args = ("--gpus", GPUS, "--per-gpu", str(per_gpu), "--procs-no", "4", "--poll", "0.05")
    pair = [workers(*args), workers(*args)]
    # no deadlock: both end within WAIT, with everything done
    assert [w.wait() for w in pair] == [0, 0], [w.output() for w in pair]
    assert counts(tmp_path)["done"] == len(needs)
    replay(tmp_path / "ran.txt", needs, per_gpu)
    claims = [r for r in util.journal(tmp_path / "l.json.cooperate") if r[0] == "c"]
    assert len(claims) == len(needs), "each entry claimed once"


def test_an_entry_needing_more_gpus_than_a_worker_has_is_left_to_another(tmp_path, workers):
    write_list(tmp_path / "l.json", [entry("big", 3), entry("small")])
    small_worker = workers("--gpus", "0,1", "--wait", "--poll", "0.05")
    small_worker.wait_output("left to other workers: the entries that need 3 GPUs; "
                             "this worker has 2 (--gpus 0,1)\n")
    wait_for(lambda: counts(tmp_path)["done"] == 1, WAIT, what="the small entry")
    assert counts(tmp_path)["pending"] == 1, "the big one is not claimed, nor failed"
    # a worker without --gpus leaves it too, and says so
    result = run("run", "l.json", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "left to other workers: the entries that need 3 GPUs; this worker has none " \
           "(no --gpus)\n" in result.stderr
    # one with four GPUs runs it, while the first one still waits for work
    big_worker = workers("--gpus", GPUS, "--poll", "0.05")
    assert big_worker.wait() == 0, big_worker.output()
    assert replay(tmp_path / "ran.txt", {"big": 3, "small": 1}, 1)["small"] in (["0"], ["1"])
    assert counts(tmp_path)["done"] == 2
    assert small_worker.process.poll() is None
    small_worker.process.send_signal(signal.SIGTERM)
    assert small_worker.wait() == 128 + signal.SIGTERM
    assert small_worker.output().count("left to other workers") == 1
    assert len(re.findall(r"^\S+ start ", small_worker.output(), re.M)) == 1


def test_with_gpu_memfree_every_gpu_of_a_run_has_the_memory(tmp_path, workers, runtime):
    # a stand-in nvidia-smi: GPUs 1 and 2 have 24 GB free, 0 and 3 only 1 GB
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "nvidia-smi").write_text(
        "#!/bin/sh\nprintf '0, 1024\\n1, 24000\\n2, 24000\\n3, 1024\\n'\n")
    (folder / "nvidia-smi").chmod(0o755)
    runtime["PATH"] = "%s%s%s" % (folder, os.pathsep, runtime["PATH"])
    write_list(tmp_path / "l.json", [entry("two", 2), entry("three", 3)])
    worker = workers("--gpus", GPUS, "--gpu-memfree", "2G", "--poll", "0.05")
    worker.wait_output("waiting for 3 GPUs at once: an entry needs them, and fewer of GPUs "
                       "0,1,2,3 are free now (1.0 GB free on GPU 0, 1.0 GB free on GPU 3, "
                       "--gpu-memfree 2G)\n")
    assert counts(tmp_path)["pending"] == 1, "the one that waits is not claimed"
    assert sorted(replay(tmp_path / "ran.txt", {"two": 2}, 1)["two"]) == ["1", "2"]
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait() == 128 + signal.SIGTERM
    assert worker.output().count("waiting") == 1


@pytest.mark.parametrize("value,shown", [(0, "0"), (-1, "-1"), (1.5, "1.5"), ("2", "a string"),
                                         (True, "true/false"), (None, "null")])
def test_gpus_must_be_a_whole_number_of_one_or_more(tmp_path, value, shown):
    write_list(tmp_path / "l.json", [{"cmd": ["true"], "gpus": value}])
    result = run("run", "l.json", "--gpus", GPUS, cwd=str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr == ("cooperate run: error: l.json:1: entry 0: 'gpus' must be a whole "
                             "number of GPUs >= 1, not %s\n" % shown)
