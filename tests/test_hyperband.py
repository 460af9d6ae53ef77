"""Asynchronous Hyperband on the shared queue (--early-stop hyperband): ASHA
in brackets, each entry in one bracket drawn from its id, its values judged
against those of its bracket and rung only, each decision recorded once per
run and rung under a key with the bracket, a replay of the journal giving
the same decisions; collect, the report and the Python API show them.

With --min-step 1 --eta 3 --max-step 9 the brackets' first rungs are 1, 3
and 9 (S = 2), bracket s weighing ceil((S+1) 3^(S-s) / (S-s+1)): 9, 5 and 3
of 17; the rungs are those below the last step: bracket 0 judges at steps 1
and 3, bracket 1 at step 3, bracket 2 never. This is written out here
(BRACKET_OF) independently of the rule's code."""

import html
import json
import math
import os
import re
import sys

from test_asha import steps_made
from util import TOP, run, start, write_list

sys.path.insert(0, os.path.join(TOP, "lib"))
from cooperate.api import open_sweep  # noqa: E402
from cooperate.queue.core import Queue  # noqa: E402
from cooperate.search import asha  # noqa: E402

LIB = os.path.join(TOP, "lib")
STEPS = 9
QUALITIES = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 0.35, 0.65, 0.25]

BRACKET_OF = """\
import zlib

WEIGHTS = (9, 5, 3)
LADDERS = ((1, 3), (3,), ())


def bracket_of(id_):
    draw = zlib.crc32(id_.encode("utf-8")) % sum(WEIGHTS)
    for bracket, weight in enumerate(WEIGHTS):
        if draw < weight:
            return bracket
        draw -= weight
"""
SHARED = {}
exec(BRACKET_OF, SHARED)
WEIGHTS, LADDERS, bracket_of = SHARED["WEIGHTS"], SHARED["LADDERS"], SHARED["bracket_of"]

# a run whose loss is q + 1/step; at each rung of its bracket it waits for
# its worker's decision to be in the journal and, pruned, for the worker to
# stop it (so that it stops right there however slow the machine); it
# notes every step it made
TRAIN = BRACKET_OF + """
import json, os, sys, time
from cooperate import report

q = float(sys.argv[1])
me, attempt = os.environ["COOPERATE_ENTRY"], os.environ["COOPERATE_ATTEMPT"]
state = os.path.dirname(os.path.dirname(os.path.dirname(os.environ["COOPERATE_METRICS"])))
bracket = bracket_of(me)


def decided(step):
    key = "hyperband:min:loss:%d:%d" % (bracket, step)
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
    if step in LADDERS[bracket]:
        deadline = time.monotonic() + 120
        while decided(step) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if not decided(step):
            time.sleep(120)
            sys.exit(3)
""".format(steps=STEPS)

OPTIONS = ("--early-stop", "hyperband", "--metric", "loss", "--mode", "min", "--min-step", "1",
           "--eta", "3", "--max-step", str(STEPS), "--poll", "0.1")


def read_queue(path):
    queue = Queue(str(path), reader=True)
    queue.read()
    return queue


def test_the_brackets_decide_as_written_by_hand(tmp_path):
    """Trials reporting in a set order, through a real queue and journal:
    each answer (stop?) and record worked out by hand from the brackets."""
    write_list(tmp_path / "q.json", [["trial", str(t)] for t in range(12)])
    queue = Queue(str(tmp_path / "q.json"))
    queue.join("w", {"host": "test"})
    claims = [queue.take("w") for _ in range(12)]
    ids = queue.list.ids
    by_trial = {ids.index(c.id): c for c in claims}
    rule = asha.Hyperband("loss", "min", 1, 3, STEPS)
    assert rule.weights == list(WEIGHTS)
    # these entries' brackets (their ids are the list's digests)
    brackets = [rule.bracket(ids[t]) for t in range(12)]
    assert brackets == [0, 0, 1, 1, 0, 1, 0, 1, 0, 0, 0, 2]
    assert brackets == [bracket_of(ids[t]) for t in range(12)]
    assert [[r for r, _ in rule.ladder(ids[t])] for t in (0, 2, 11)] == [[1, 3], [3], []]
    nan = float("nan")
    # (trial, step, loss, stopped?); by hand: a bracket and rung keeps its
    # best while it holds fewer than 3 values, then its top floor(n/3)
    events = [
        (0, 1, 0.50, False),   # bracket 0, rung 1: 0.50 alone
        (1, 1, 0.40, False),   # the best of 2
        (2, 1, 0.90, False),   # bracket 1: no rung at 1
        (4, 1, 0.60, True),    # 3rd of 3: cut-off 0.40
        (0, 3, 0.45, False),   # bracket 0, rung 3: alone
        (2, 3, 0.85, False),   # bracket 1, rung 3: alone (with bracket 0's 0.45 it would stop)
        (3, 1, 0.20, False),   # no rung at 1
        (3, 3, 0.30, False),   # bracket 1, rung 3: the best of 2
        (5, 3, 0.80, True),    # 2nd of 3: cut-off 0.30
        (6, 1, 0.30, False),   # bracket 0, rung 1: 1st of 4
        (6, 3, 0.40, False),   # bracket 0, rung 3: the best of 2
        (7, 3, 0.50, True),    # bracket 1, rung 3: 3rd of 4, cut-off 0.30
        (11, 1, 5.0, False),   # bracket 2: never judged
        (11, 3, 5.0, False),
        (11, 9, 5.0, False),
        (1, 3, 0.50, True),    # bracket 0, rung 3: 3rd of 3, cut-off 0.40
        (0, 9, 0.44, False),   # 9 is the last step: no rung
        (8, 1, nan, True),     # NaN: pruned, not compared
        (9, 2, 0.25, False),   # rung 1 at step 2: the best of 5
        (9, 4, 0.28, False),   # rung 3 at step 4: the best of 4
        (10, 1, 0.45, True),   # rung 1: 4th of 6, cut-off 0.30
    ]
    points = {t: [] for t in range(12)}
    answers = []
    for trial, step, value, _ in events:
        points[trial].append({"step": step, "loss": value})
        answers.append(rule.judge(queue, "w", by_trial[trial], points[trial]) is not None)
    assert answers == [e[3] for e in events]
    scores = read_queue(tmp_path / "q.json").state.scores
    made = [(ids.index(r[1]), r[5], r[6]["keep"]) for r in scores]
    assert made == [
        (0, "hyperband:min:loss:0:1", True), (1, "hyperband:min:loss:0:1", True),
        (4, "hyperband:min:loss:0:1", False), (0, "hyperband:min:loss:0:3", True),
        (2, "hyperband:min:loss:1:3", True), (3, "hyperband:min:loss:1:3", True),
        (5, "hyperband:min:loss:1:3", False), (6, "hyperband:min:loss:0:1", True),
        (6, "hyperband:min:loss:0:3", True), (7, "hyperband:min:loss:1:3", False),
        (1, "hyperband:min:loss:0:3", False), (8, "hyperband:min:loss:0:1", False),
        (9, "hyperband:min:loss:0:1", True), (9, "hyperband:min:loss:0:3", True),
        (10, "hyperband:min:loss:0:1", False)]
    reasons = {(ids.index(r[1]), r[6]["rung"]): r[6]["reason"] for r in scores}
    assert reasons[2, 3] == "bracket 1, rung 3: loss 0.85, rank 1 of 1, cut-off 0.85"
    assert reasons[10, 1] == "bracket 0, rung 1: loss 0.45, rank 4 of 6, cut-off 0.3"
    assert reasons[8, 1] == "bracket 0, rung 1: loss is NaN"
    assert [r[6]["step"] for r in scores if ids.index(r[1]) == 9] == [2, 4]
    assert all(r[6]["bracket"] == brackets[ids.index(r[1])] for r in scores)
    assert asha.replay(scores) == []
    # a record changed by hand is found by the replay
    scores[4][6]["keep"] = False
    assert asha.replay(scores) == [scores[4]]


def make_sweep(folder):
    (folder / "train.py").write_text(TRAIN)
    write_list(folder / "q.json", [{"cmd": [sys.executable, "train.py", str(q)],
                                    "env": {"PYTHONPATH": LIB}} for q in QUALITIES])


def expected_sequential(ids):
    """What Hyperband decides when the runs come one after the other in
    list order: {index of a pruned run: its rung}."""
    at, pruned = {}, {}
    for i, q in enumerate(QUALITIES):
        bracket = bracket_of(ids[i])
        for rung in LADDERS[bracket]:
            value = q + 1.0 / rung
            values = at.setdefault((bracket, rung), [])
            values.append(value)
            ranked = sorted(values)
            if value > ranked[max(len(ranked) // 3, 1) - 1]:
                pruned[i] = rung
                break
    return pruned


def check_journal(folder):
    """Each decision once per run and rung, in the run's bracket, the same
    as a replay; pruned runs stopped at their rung, the others made every
    step. Returns {id: pruned at rung} and the records."""
    queue = read_queue(folder / "q.json")
    records = [json.loads(line) for line in
               (folder / "q.json.cooperate" / "journal").read_text().splitlines()]
    scores = [r for r in records if r[0] == "s"]
    assert scores == queue.state.scores
    assert len({(r[1], r[5]) for r in scores}) == len(scores)
    assert asha.replay(scores) == []
    for r in scores:
        bracket = bracket_of(r[1])
        assert r[5] == "hyperband:min:loss:%d:%g" % (bracket, r[6]["rung"])
        assert r[6]["bracket"] == bracket and r[6]["rung"] in LADDERS[bracket]
    pruned_at = {r[1]: r[6]["rung"] for r in scores if not r[6]["keep"]}
    made = steps_made(folder)
    for id_ in queue.list.ids:
        last = queue.state.last(id_)
        if id_ in pruned_at:
            assert (last.outcome, queue.status_of(id_)) == ("pruned", "done")
            assert made[id_, last.number] == pruned_at[id_]
        else:
            assert last.outcome == "done" and made[id_, last.number] == STEPS
    return pruned_at, scores


def test_one_worker_prunes_what_hyperband_prunes_and_the_report_shows_it(tmp_path):
    make_sweep(tmp_path)
    result = run("run", "q.json", *OPTIONS, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    pruned_at, scores = check_journal(tmp_path)
    ids = read_queue(tmp_path / "q.json").list.ids
    expected = expected_sequential(ids)
    assert expected, "these ids put too few runs in a bracket to prune any"
    assert {ids.index(i): rung for i, rung in pruned_at.items()} == expected
    for r in scores:
        if not r[6]["keep"]:
            assert r[6]["reason"].startswith("bracket %d, rung " % r[6]["bracket"])
            assert r[6]["reason"] in result.stderr
    # collect: pruned runs say so, with the step they reached
    rows = [json.loads(line) for line in run(
        "collect", "q.json", "--format", "jsonl", cwd=tmp_path).stdout.splitlines()]
    made = steps_made(tmp_path)
    assert {r["id"]: (r["outcome"], r["step"]) for r in rows} == {
        i: ("pruned" if i in pruned_at else "done", made[i, 1]) for i in ids}
    # the report: a rung line per bracket and rung with its cut-off, the decision log
    report = run("report", "q.json", "-o", "r.html", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "r.html").read_text()
    values = {}
    for r in scores:
        values.setdefault((r[6]["bracket"], r[6]["rung"]), []).append(r[6]["value"])
    rungs = {(int(b), int(r)): (int(n), float(c)) for r, b, c, n in re.findall(
        r'<g class="rung" data-rung="(\d+)" data-bracket="(\d+)" data-cutoff="([^"]*)" '
        r'data-values="(\d+)">', page)}
    mine = {}
    for key, vs in values.items():
        vs = sorted(v for v in vs if v is not None)
        mine[key] = (len(vs), vs[max(len(vs) // 3 - 1, 0)])
    assert set(rungs) == set(mine)
    for key in mine:
        assert rungs[key][0] == mine[key][0]
        assert math.isclose(rungs[key][1], mine[key][1], rel_tol=1e-5)
    assert "%d decisions (%d kept, %d pruned)" % (
        len(scores), len(scores) - len(pruned_at), len(pruned_at)) in page
    start = page.index('<table class="sortable" id="decisions">')
    table = page[start:page.index("</table>", start)]
    head = re.findall(r'<th data-col="\d+">([^<]*)</th>', table)
    cells = [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>.*?</td>", r)]
             for r in re.findall(r"<tr>(.*?)</tr>", table)[1:]]
    log = [dict(zip(head, row)) for row in cells]
    assert [(d["bracket"], d["rung"], d["decision"]) for d in log] == [
        (str(r[6]["bracket"]), "%g" % r[6]["rung"], "kept" if r[6]["keep"] else "pruned")
        for r in scores]
    # the Python API's decision log has the brackets
    made = open_sweep(str(tmp_path / "q.json")).decisions()
    assert [(d["id"], d["bracket"], d["rung"], d["keep"]) for d in made] == [
        (r[1], r[6]["bracket"], r[6]["rung"], r[6]["keep"]) for r in scores]


def test_two_workers_record_each_decision_once(tmp_path):
    make_sweep(tmp_path)
    workers = [start("run", "q.json", "--procs-no", "2", *OPTIONS, cwd=tmp_path,
                     stderr=open(str(tmp_path / ("w%d.err" % i)), "w")) for i in range(2)]
    for i, worker in enumerate(workers):
        assert worker.wait(timeout=300) == 0, (tmp_path / ("w%d.err" % i)).read_text()
    pruned_at, scores = check_journal(tmp_path)
    # each run's rungs come in its bracket's order
    for id_ in {r[1] for r in scores}:
        mine = [r[6]["rung"] for r in scores if r[1] == id_]
        assert mine == list(LADDERS[bracket_of(id_)][:len(mine)])


def test_bad_options_are_refused_before_anything_runs(tmp_path):
    make_sweep(tmp_path)
    for options, message in (
            (("--early-stop", "hyperband", "--metric", "loss"),
             "--early-stop hyperband needs --max-step M"),
            (("--early-stop", "asha", "--metric", "loss", "--max-step", "9"),
             "--max-step goes with --early-stop hyperband"),
            (("--early-stop", "hyperband", "--metric", "loss", "--min-step", "10",
              "--max-step", "9"), "--max-step must be at least --min-step"),
            (("--max-step", "9"), "go with --early-stop asha or hyperband")):
        result = run("run", "q.json", *options, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert not (tmp_path / "ran.txt").exists()


def test_the_weights_give_each_bracket_about_the_same_steps():
    """Hyperband's allocation for 27 steps (R 1, K 3): 27, 12, 6 and 4
    configurations, brackets judging at (1, 3, 9), (3, 9), (9,) and never;
    each bracket then runs about as many steps as another."""
    rule = asha.Hyperband("loss", "min", 1, 3, 27)
    assert rule.weights == [27, 12, 6, 4]
    ladders = [[r for r in rule.rungs[s:] if r < 27] for s in range(4)]
    assert ladders == [[1, 3, 9], [3, 9], [9], []]
    # synchronous Hyperband's steps per bracket: its n configurations, a third kept at each rung
    steps = []
    for n, ladder in zip(rule.weights, ladders):
        spent, last = 0, 0
        for rung in ladder + [27]:
            spent += n * (rung - last)
            n, last = max(n // 3, 1), rung
        steps.append(spent)
    assert max(steps) <= 1.5 * min(steps), steps
