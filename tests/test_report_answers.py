"""What a sweep taught, shown by status, collect and the report (issue 24):
the pruned runs counted, rows best first by a chosen metric and mode, and
in the report the best runs, each result against each parameter (mean and
spread over seeds), learning curves coloured kept or pruned with the rung
cut-offs, the best so far against time and the decision log.

The sweep is real: a worker with --early-stop asha runs a script that
reports its loss through `from cooperate import report`, waits at each rung
until its decision is in the journal (and, pruned, waits to be stopped: so
that a pruned run stops right there however slow the machine), and notes every step it made in ran.txt.
The expectations are computed here from what ran and from the journal."""

import html
import json
import math
import os
import re
import subprocess
import sys

import pytest

from util import TOP, command, run, write_list

sys.path.insert(0, os.path.join(TOP, "lib"))
from cooperate import metrics  # noqa: E402
from cooperate.queue.core import Queue  # noqa: E402
from cooperate.results import learned, report  # noqa: E402

LIB = os.path.join(TOP, "lib")
STEPS, RUNGS, ETA = 9, (1, 3, 9), 3
LRS, SEEDS = (1e-4, 1e-3, 1e-2), (1, 2)

TRAIN = """\
import json, math, os, sys, time
from cooperate import report

lr, seed = float(sys.argv[2]), int(sys.argv[4])
q = 0.1 + 0.1 * (math.log10(lr) + 3) ** 2 + 0.01 * seed
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
    loss = q + 1.0 / step
    report(step=step, loss=loss, acc=1 - q - 0.5 / step)
    with open("ran.txt", "a") as f:
        f.write("%s %s %d\\n" % (me, attempt, step))
    if step in {rungs}:
        deadline = time.monotonic() + 120
        while decided(step) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if not decided(step):
            # pruned: the worker stops it now; it makes no other step
            time.sleep(120)
            sys.exit(3)
os.makedirs("results", exist_ok=True)
with open(os.path.join("results", me + ".json"), "w") as f:
    json.dump({{"final": loss}}, f)
""".format(steps=STEPS, rungs=RUNGS)

OPTIONS = ("--early-stop", "asha", "--metric", "loss", "--mode", "min", "--min-step", "1",
           "--eta", str(ETA), "--poll", "0.1")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The sweep, run once by one worker (in list order): its folder."""
    folder = tmp_path_factory.mktemp("answers")
    (folder / "train.py").write_text(TRAIN)
    write_list(folder / "q.json", [
        {"cmd": [sys.executable, "train.py", "--lr", repr(lr), "--seed", str(seed)],
         "env": {"PYTHONPATH": LIB}} for lr in LRS for seed in SEEDS])
    result = run("run", "q.json", "-q", *OPTIONS, cwd=folder, timeout=600)
    assert result.returncode == 0, result.stderr
    return folder


def what_ran(folder):
    """{entry: (the last step it made, pruned?)} from the runs' own notes
    and the queue's record of how each ended."""
    made = {}
    for line in (folder / "ran.txt").read_text().splitlines():
        id_, _, step = line.split()
        made[id_] = max(made.get(id_, 0), int(step))
    queue = Queue(str(folder / "q.json"), reader=True)
    queue.read()
    return {id_: (made[id_], queue.state.last(id_).outcome == "pruned")
            for id_ in queue.list.ids}


def journal(folder):
    with open(str(folder / "q.json.cooperate" / "journal")) as f:
        return [json.loads(line) for line in f]


def rows(folder, *extra):
    result = run("collect", "q.json", "--format", "jsonl", *extra, cwd=folder)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def loss_at(lr, seed, step):
    return 0.1 + 0.1 * (math.log10(lr) + 3) ** 2 + 0.01 * seed + 1.0 / step


def test_the_sweep_pruned_what_successive_halving_prunes(sweep):
    """The ground the other tests stand on: computed here from the losses
    alone, in list order, as successive halving decides."""
    at, expected = {rung: [] for rung in RUNGS}, []
    for lr in LRS:
        for seed in SEEDS:
            stop = STEPS
            for rung in RUNGS:
                value = loss_at(lr, seed, rung)
                at[rung].append(value)
                ranked = sorted(at[rung])
                if value > ranked[max(len(ranked) // ETA, 1) - 1]:
                    stop = rung
                    break
            expected.append(stop)
    ran = what_ran(sweep)
    ids = Queue(str(sweep / "q.json"), reader=True).list.ids
    assert [ran[i][0] for i in ids] == expected
    assert [ran[i][1] for i in ids] == [stop < STEPS for stop in expected]
    assert 0 < sum(stop < STEPS for stop in expected) < len(expected)


def test_status_counts_the_pruned_runs_as_done(sweep):
    pruned = sum(p for _, p in what_ran(sweep).values())
    total = len(LRS) * len(SEEDS)
    text = run("status", "q.json", cwd=sweep)
    assert text.returncode == 0, text.stderr
    assert "%d done (%d pruned), 0 failed" % (total, pruned) in text.stdout
    as_json = json.loads(run("status", "q.json", "--json", cwd=sweep).stdout)
    assert as_json["pruned"] == pruned and as_json["counts"]["done"] == total
    argv = command("q.json")
    argv[1] = os.path.join(TOP, "bin", "liftoff-status")
    table = subprocess.run(argv, cwd=str(sweep), capture_output=True, text=True, timeout=120)
    assert table.returncode == 0, table.stderr
    head, _, row = table.stdout.splitlines()[-3:]
    cells = dict(zip(head.split(), row.split()))
    assert (cells["Total"], cells["Done"], cells["Dead"]) == (str(total), str(total), "0")


def test_collect_sorts_best_first_by_a_metric_and_mode(sweep):
    plain = rows(sweep)
    ran = what_ran(sweep)
    # the value each run reported last is the one at the step it stopped at
    for row in plain:
        lr, seed = row["lr"], row["seed"]
        assert row["loss.last"] == pytest.approx(loss_at(lr, seed, ran[row["id"]][0]))
        assert row["step"] == ran[row["id"]][0]

    def expect(reverse):
        kept = [r for r in plain if not ran[r["id"]][1]]
        stopped = [r for r in plain if ran[r["id"]][1]]
        return [r["id"] for part in (kept, stopped)
                for r in sorted(part, key=lambda r: r["loss.last"], reverse=reverse)]

    assert [r["id"] for r in rows(sweep, "--sort", "loss")] == expect(False)
    assert [r["id"] for r in rows(sweep, "--sort", "loss.last")] == expect(False)
    assert [r["id"] for r in rows(sweep, "--sort", "loss", "--mode", "max")] == expect(True)
    # a result: the runs that were pruned wrote none, and come last
    by_final = rows(sweep, "--sort", "final")
    finals = [r["final"] for r in by_final]
    written = [f for f in finals if f is not None]
    assert written == sorted(written) and finals[len(written):] == [None] * (
        len(finals) - len(written))
    # acc rises with the steps: its best is its first value unless --mode max says
    # higher is better
    assert all(r["acc.best"] < r["acc.last"] for r in plain if r["step"] > 1)
    high = rows(sweep, "--metric", "acc", "--mode", "max")
    assert all(r["acc.best"] == r["acc.last"] for r in high)
    assert [r["id"] for r in high] == [r["id"] for r in plain]
    # per variation: by the mean over the seeds
    per = rows(sweep, "--aggregate", "--over", "seed", "--sort", "loss")
    means = [r["loss.last.mean"] for r in per]
    assert means == sorted(means) and len(per) == len(LRS)
    wrong = run("collect", "q.json", "--sort", "nope", cwd=sweep)
    assert wrong.returncode == 2 and "--sort nope: no such result, metric or column" \
        in wrong.stderr and "loss.last" in wrong.stderr, wrong.stderr


def attributes(tag):
    return {k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', tag)}


def elements(page, name, cls):
    """The attributes of each <name class="cls..."> element."""
    return [attributes(m) for m in re.findall(r'<%s class="%s[^>]*>' % (name, cls), page)]


def table_rows(page, id_):
    start = page.index('<table class="sortable" id="%s">' % id_)
    body = page[start:page.index("</table>", start)]
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>.*?</td>", r)]
            for r in re.findall(r"<tr>(.*?)</tr>", body)[1:]]


@pytest.fixture(scope="module")
def page(sweep):
    result = run("report", "q.json", "-o", "r.html", "--over", "seed", cwd=sweep)
    assert result.returncode == 0, result.stderr
    return (sweep / "r.html").read_text()


def test_the_report_puts_the_best_runs_first(sweep, page):
    plain = {r["id"]: r for r in rows(sweep)}
    ran = what_ran(sweep)
    kept = sorted((r["loss.last"], i) for i, r in plain.items() if not ran[i][1])
    best = table_rows(page, "best")
    assert [r[1] for r in best] == [i for _, i in kept][:learned.MAX_BEST]
    assert all(r[4] == "done" for r in best)
    # the runs table too, pruned runs after the others
    runs = table_rows(page, "runs")
    header = re.findall(r'<th data-col="\d+">([^<]*)</th>',
                        page[page.index('id="runs"'):page.index("</thead>", page.index('id="runs"'))])
    losses = [float(r[header.index("loss.last")]) for r in runs]
    n = len(kept)
    assert losses[:n] == sorted(losses[:n]) and losses[n:] == sorted(losses[n:])
    assert "best first by loss.last (lowest, pruned runs after the others)" in page


def test_the_report_plots_each_result_against_each_parameter(sweep, page):
    plain = rows(sweep)
    figures = re.findall(r'<figure class="slice-plot" data-x="([^"]*)" data-y="([^"]*)" '
                         r'data-kind="(\w+)">(.*?)</figure>', page)
    plotted = {(x, y): (kind, body) for x, y, kind, body in figures}
    # lr varies (seed is what the points average over); every numeric result and metric
    assert {x for x, _ in plotted} == {"lr"}
    assert {y for _, y in plotted} == {"loss.last", "loss.best", "acc.last", "acc.best", "final"}
    kind, body = plotted["lr", "loss.last"]
    assert kind == "log"
    points = elements(body, "circle", "pt")
    assert len(points) == len(LRS)
    for p in points:
        mine = [r["loss.last"] for r in plain if r["lr"] == float(p["data-x"])]
        mean = sum(mine) / len(mine)
        sd = math.sqrt(sum((v - mean) ** 2 for v in mine) / (len(mine) - 1))
        assert int(p["data-n"]) == len(SEEDS)
        assert float(p["data-y"]) == pytest.approx(mean, rel=1e-5)
        assert float(p["data-hi"]) - float(p["data-lo"]) == pytest.approx(2 * sd, rel=1e-3,
                                                                          abs=1e-5)
    best = [p for p in points if "best" in p["class"]]
    assert [float(p["data-x"]) for p in best] == [1e-3]


def test_the_report_draws_learning_curves_with_the_rung_cut_offs(sweep, page):
    ran = what_ran(sweep)
    figure = re.search(r'<figure class="curves-plot" data-metric="loss".*?</figure>', page,
                       re.S).group(0)
    curves = {c["data-id"]: c for c in elements(figure, "polyline", "curve")}
    assert set(curves) == set(ran)
    for id_, (steps, pruned) in ran.items():
        assert curves[id_]["data-kind"] == ("pruned" if pruned else "kept")
        assert int(curves[id_]["data-steps"]) == steps
        assert len(curves[id_]["points"].split()) == steps
    # each rung's cut-off, as the journal's values give it now
    values = {}
    for r in journal(sweep):
        if r[0] == "s":
            values.setdefault(r[6]["rung"], []).append(r[6]["value"])
    rungs = elements(figure, "g", "rung")
    assert [int(g["data-rung"]) for g in rungs] == sorted(values)
    for g in rungs:
        mine = sorted(values[int(g["data-rung"])])
        assert int(g["data-values"]) == len(mine)
        assert float(g["data-cutoff"]) == pytest.approx(mine[max(len(mine) // ETA - 1, 0)],
                                                        rel=1e-5)


def test_the_report_shows_the_best_so_far_and_the_decision_log(sweep, page):
    ran = what_ran(sweep)
    records = journal(sweep)
    ends = {r[1]: r[4] for r in records if r[0] == "e"}
    finals = {r["id"]: r["loss.last"] for r in rows(sweep)}
    order = sorted((ends[i], finals[i]) for i in ran if not ran[i][1])
    improving, best = [], None
    for _, value in order:
        if best is None or value < best:
            best = value
            improving.append(value)
    line = elements(page, "polyline", "best-so-far")
    assert len(line) == 1
    assert [float(v) for v in line[0]["data-values"].split()] == pytest.approx(improving,
                                                                              rel=1e-5)
    dots = elements(page, "circle", "run")
    assert len(dots) == len(order)
    decisions = [r for r in records if r[0] == "s"]
    log = table_rows(page, "decisions")
    assert len(log) == len(decisions)
    for shown, r in zip(log, decisions):
        assert shown[3] == "loss" and float(shown[4]) == r[6]["rung"]
        assert shown[-1] == ("kept" if r[6]["keep"] else "pruned")
        assert float(shown[6]) == pytest.approx(r[6]["value"], rel=1e-5)
    pruned = sum(p for _, p in ran.values())
    assert "(%d kept, %d pruned)" % (len(decisions) - pruned, pruned) in page


def test_the_report_takes_a_metric_and_a_mode(sweep):
    result = run("report", "q.json", "-o", "acc.html", "--metric", "acc", "--mode", "max",
                 cwd=sweep)
    assert result.returncode == 0, result.stderr
    page = (sweep / "acc.html").read_text()
    best = table_rows(page, "best")
    values = [float(r[3]) for r in best]
    assert values == sorted(values, reverse=True) and "By <b>acc.last</b>, highest first" in page
    wrong = run("report", "q.json", "-o", "x.html", "--metric", "nope", cwd=sweep)
    assert wrong.returncode == 2 and "--metric nope: no such result or metric" in wrong.stderr
    assert not (sweep / "x.html").exists()


def test_the_answers_in_chromium(sweep, page, tmp_path):
    from test_report import dump_dom

    dom = dump_dom(sweep / "r.html", tmp_path)
    assert '<pre id="js-errors"></pre>' in dom
    assert 'data-ready="yes"' in dom
    assert len(re.findall(r'<figure class="slice-plot"', dom)) == 5
    assert len(re.findall(r'<polyline class="curve ', dom)) == 2 * len(LRS) * len(SEEDS)


# -- big sweeps: what is drawn is bounded ------------------------------------------

def big_sweep(folder, n, points):
    """A list of n runs (one lr each) done by hand-written records, each
    with a results file and a metrics file of `points` steps."""
    write_list(folder / "l.json", [["train", "--lr", "%.6g" % (10 ** (-5 + 4.0 * i / n)),
                                    "--seed", "1"] for i in range(n)])
    queue = Queue(str(folder / "l.json"), reader=True)
    state = folder / "l.json.cooperate"
    state.mkdir()
    (folder / "results").mkdir()
    t = 1.7e9
    records = [["w", "w1", {"host": "h", "pid": 1, "boot": "b", "pidns": "x", "start": 1,
                            "since": t, "cwd": "/", "lease": 60.0, "slots": 1}]]
    for i, id_ in enumerate(queue.list.ids):
        records += [["c", id_, 1, "w1", t + i], ["e", id_, 1, "w1", t + i + 1, "done", 0, False]]
        path = metrics.path(str(state), id_, 1)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("".join('{"step": %d, "loss": %r}\n' % (s, 1.0 / s + i / float(n))
                            for s in range(1, points + 1)))
        (folder / "results" / (id_ + ".json")).write_text('{"final": %r}' % (i / float(n)))
    with open(str(state / "journal"), "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))
    return folder / "l.json"


def test_a_big_sweep_draws_a_bounded_page(tmp_path, monkeypatch):
    monkeypatch.setattr(learned, "MAX_CURVES", 12)
    monkeypatch.setattr(learned, "HIGHLIGHT", 4)
    monkeypatch.setattr(learned, "MAX_CURVE_POINTS", 20)
    monkeypatch.setattr(learned, "MAX_POINTS", 30)
    monkeypatch.setattr(learned, "BINS", 10)
    path = big_sweep(tmp_path, 120, 200)
    model = report.gather(str(path), metric="final")
    found = model["learned"]
    [chart] = found["curves"]
    assert len(chart["curves"]) == 12 and chart["of"] == 120
    assert all(len(c["points"]) == 20 and c["steps"] == 200 for c in chart["curves"])
    assert all(c["points"][0][0] == 1 and c["points"][-1][0] == 200 for c in chart["curves"])
    # the best by final first: the runs with the lowest lr
    ids = list(Queue(str(path), reader=True).list.ids)
    assert [c["id"] for c in chart["curves"][:4]] == ids[:4]
    plots = {(p["x"], p["y"]): p for p in found["slices"]}
    binned = plots["lr", "final"]
    assert binned["binned"] and len(binned["points"]) <= 10 and binned["variations"] == 120
    assert sum(p["n"] for p in binned["points"]) == 120
    assert all(p["lo"] <= p["y"] <= p["hi"] for p in binned["points"])
    page = report.render(model)
    assert page.count('<polyline class="curve ') == 12
    assert len(re.findall(r'<circle class="pt', page)) <= 10 * len(plots)
    assert len(table_rows(page, "best")) == learned.MAX_BEST
