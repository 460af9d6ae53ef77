"""Early stopping on the shared queue (ASHA): the worker records each rung's
value and decision in the journal under the lock, once per run and rung,
stops the runs that are not in the top 1/K (outcome pruned, a success,
never retried), and a replay of the journal gives the same decisions.
The decisions match Optuna's SuccessiveHalvingPruner on a fixture written
down from it (tests/golden/asha_optuna.json)."""

import json
import os
import sys

from util import TOP, run, start, status, write_list

sys.path.insert(0, os.path.join(TOP, "lib"))
from cooperate.queue.core import Queue  # noqa: E402
from cooperate.search import asha  # noqa: E402

LIB = os.path.join(TOP, "lib")
STEPS = 12
RUNGS = (1, 3, 9)
QUALITIES = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6]

# a run whose loss is q + 1/step; at each rung it waits for its worker's
# decision to be in the journal and, pruned, for the worker to stop it (so
# that a pruned run is stopped right there, however slow the machine: going
# on at once, it made one more step before the TERM came about once in ten
# runs), and it notes every step it made
TRAIN = """\
import json, os, sys, time
from cooperate import report

q = float(sys.argv[1])
me, attempt = os.environ["COOPERATE_ENTRY"], os.environ["COOPERATE_ATTEMPT"]
state = os.path.dirname(os.path.dirname(os.path.dirname(os.environ["COOPERATE_METRICS"])))


def decided(step):
    # None until the rung's decision is in the journal, then whether to go on
    key = "asha:min:loss:%d" % step
    with open(os.path.join(state, "journal")) as f:
        for line in f:
            if line.startswith('["s"') and line.endswith("\\n"):
                r = json.loads(line)
                if r[1] == me and r[5] == key:
                    return r[6]["keep"]
    return None


for step in range(1, {steps} + 1):
    report(step=step, loss=q + 1.0 / step)
    with open("ran.txt", "a") as f:
        f.write("%s %s %d\\n" % (me, attempt, step))
    if step in {rungs}:
        deadline = time.monotonic() + 120
        while decided(step) is None:
            if time.monotonic() > deadline:
                sys.exit(3)
            time.sleep(0.01)
        if not decided(step):
            time.sleep(120)
            sys.exit(3)
""".format(steps=STEPS, rungs=RUNGS)

OPTIONS = ("--early-stop", "asha", "--metric", "loss", "--mode", "min", "--min-step", "1",
           "--eta", "3", "--poll", "0.1")


def make_sweep(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    write_list(tmp_path / "q.json", [{"cmd": [sys.executable, "train.py", str(q)],
                                      "env": {"PYTHONPATH": LIB}} for q in QUALITIES])


def steps_made(tmp_path):
    """{(entry, attempt): the last step it made}, from what the runs wrote."""
    made = {}
    path = tmp_path / "ran.txt"
    for line in (path.read_text().splitlines() if path.exists() else []):
        id_, attempt, step = line.split()
        made[id_, int(attempt)] = max(made.get((id_, int(attempt)), 0), int(step))
    return made


def read_queue(tmp_path):
    queue = Queue(str(tmp_path / "q.json"), reader=True)
    queue.read()
    return queue


def check_journal(tmp_path):
    """Every decision recorded once per run and rung, the same as a replay
    by this (fresh) process; the pruned runs stopped at their rung, the
    others made every step. Returns {id: (outcome, status)}."""
    queue = read_queue(tmp_path)
    records = [json.loads(line) for line in
               (tmp_path / "q.json.cooperate" / "journal").read_text().splitlines()]
    scores = [r for r in records if r[0] == "s"]
    assert len({(r[1], r[5]) for r in scores}) == len(scores)
    assert scores == queue.state.scores
    assert asha.replay(queue.state.scores) == []
    pruned_at = {r[1]: r[6]["rung"] for r in scores if not r[6]["keep"]}
    made = steps_made(tmp_path)
    ends = {}
    for id_ in queue.list.ids:
        last = queue.state.last(id_)
        ends[id_] = (last.outcome, queue.status_of(id_))
        if id_ in pruned_at:
            assert last.outcome == "pruned" and queue.status_of(id_) == "done"
            assert made[id_, last.number] == pruned_at[id_]
        else:
            assert last.outcome == "done"
            assert made[id_, last.number] == STEPS
    # the best configuration is never pruned
    best = queue.list.ids[QUALITIES.index(min(QUALITIES))]
    assert best not in pruned_at
    return ends, pruned_at, scores


def expected_sequential():
    """What successive halving decides when the runs come one after the
    other in list order (written out independently of the rule's code):
    {index of a pruned run: its rung}."""
    at = {rung: [] for rung in RUNGS}
    pruned = {}
    for i, q in enumerate(QUALITIES):
        for rung in RUNGS:
            value = q + 1.0 / rung
            at[rung].append(value)
            ranked = sorted(at[rung])
            k = len(ranked) // 3
            if value > ranked[max(k, 1) - 1]:
                pruned[i] = rung
                break
    return pruned


def test_one_worker_prunes_what_successive_halving_prunes(tmp_path):
    make_sweep(tmp_path)
    result = run("run", "q.json", *OPTIONS, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    ends, pruned_at, scores = check_journal(tmp_path)
    ids = read_queue(tmp_path).list.ids
    assert {ids.index(i): rung for i, rung in pruned_at.items()} == expected_sequential()
    assert "pruned %s#1" % ids[2] in result.stderr
    reason = next(r[6]["reason"] for r in scores if r[1] == ids[2])
    assert reason == "rung 1: loss 1.9, rank 3 of 3, cut-off 1.1"
    assert reason in result.stderr
    counts = status(tmp_path / "q.json")["counts"]
    assert counts["done"] == len(QUALITIES) and counts["failed"] == 0
    # a pruned entry made pending again is pruned at once, without running
    retried = run("retry", "q.json", ids[2], cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    before = steps_made(tmp_path)
    again = run("run", "q.json", *OPTIONS, cwd=tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr
    assert steps_made(tmp_path) == before
    queue = read_queue(tmp_path)
    last = queue.state.last(ids[2])
    assert (last.number, last.outcome, queue.status_of(ids[2])) == (2, "pruned", "done")
    assert "(pruned before)" in again.stderr


def test_two_workers_record_each_decision_once(tmp_path):
    make_sweep(tmp_path)
    workers = [start("run", "q.json", "--procs-no", "2", *OPTIONS, cwd=tmp_path,
                     stderr=open(tmp_path / ("w%d.err" % i), "w")) for i in range(2)]
    for worker in workers:
        assert worker.wait(timeout=300) == 0, (tmp_path / "w0.err").read_text()
    ends, pruned_at, scores = check_journal(tmp_path)
    assert pruned_at, "nothing was pruned"
    # each run's rungs come in order, each judged against the values before it
    for id_ in {r[1] for r in scores}:
        assert [r[6]["rung"] for r in scores if r[1] == id_] == \
            list(RUNGS[:len([r for r in scores if r[1] == id_])])


def test_bad_options_are_refused_before_anything_runs(tmp_path):
    make_sweep(tmp_path)
    for options, message in (
            (("--early-stop", "asha"), "--early-stop asha needs --metric NAME"),
            (("--metric", "loss"),
             "--metric, --min-step and --max-step go with --early-stop asha or hyperband"),
            (("--early-stop", "asha", "--metric", "loss", "--eta", "1"), "--eta must be 2")):
        result = run("run", "q.json", *options, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert not (tmp_path / "ran.txt").exists()


def test_decisions_match_optunas_successive_halving_pruner(tmp_path):
    """The fixture: trials of Optuna's SuccessiveHalvingPruner(min_resource=1,
    reduction_factor=3), reporting interleaved, with should_prune()'s answer
    after each report (see bench/optuna_fixture.py, which wrote it). The
    rule, through a real queue and journal, must answer the same."""
    with open(os.path.join(TOP, "tests", "golden", "asha_optuna.json")) as f:
        fixture = json.load(f)
    trials = sorted({event[0] for event in fixture["events"]})
    write_list(tmp_path / "q.json", [["trial", str(t)] for t in trials])
    queue = Queue(str(tmp_path / "q.json"))
    queue.join("w", {"host": "test"})
    claims = {}
    for t in trials:
        claims[t] = queue.take("w")
    rule = asha.Asha("loss", "min" if fixture["direction"] == "minimize" else "max",
                     fixture["min_resource"], fixture["reduction_factor"])
    points = {t: [] for t in trials}
    answers = []
    for trial, step, value, _ in fixture["events"]:
        points[trial].append({"step": step, "loss": value})
        answers.append(rule.judge(queue, "w", claims[trial], points[trial]) is not None)
    assert answers == [event[3] for event in fixture["events"]]
    assert sum(answers) >= 10
    assert asha.replay(read_queue(tmp_path).state.scores) == []
