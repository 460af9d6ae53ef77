#!/usr/bin/env python3
"""Early stopping (issue 24): a synthetic sweep whose true optimum is known.

Each configuration is a learning rate; its true final loss is
f(lr) = 0.1 + 0.1 * (log10(lr) + 3)^2 (best at lr = 1e-3), and its run
reports loss(t) = f(lr) + 1 / t^0.7 + noise(0.03 / sqrt(t)) at steps 1..27.

1. The real queue: 27 configurations of 27 steps (lr drawn loguniform from
   1e-5 to 1e-1), run by cooperate-run --procs-no 4 --early-stop asha
   --metric loss --min-step 1 --eta 3, every run a real process that
   reports through `from cooperate import report`. Measured: the steps run
   (from the metrics files), against the 729 of the full sweep; does the
   truly best configuration reach step 27.
2. Crashes: the same sweep with two workers, each SIGKILLed once while it
   runs, then restarted (a dead worker's runs are taken back by the
   others): no decision recorded twice, and a fresh process replaying the
   journal gets every decision the workers recorded.
3. Budget, over 10 seeds (a simulation of 4 asynchronous workers in this
   process, with the rule's own decide(): no processes, so that 10 x 2
   sweeps take seconds): the best final loss ASHA finds with a quarter of
   random search's budget (182 steps, new configurations drawn until it is
   spent) against random search's best of 27 full runs (729 steps).

    python3 bench/asha.py [FOLDER]     (default bench/out/asha)
"""

import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "lib"))

from cooperate.queue.core import Queue  # noqa: E402
from cooperate.search import asha  # noqa: E402

STEPS, CONFIGS, ETA = 27, 27, 3
BIN = os.path.join(TOP, "bin", "cooperate")
CURVE = """\
import math, os, random, sys, time
from cooperate import report

lr, seed = float(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
final = 0.1 + 0.1 * (math.log10(lr) + 3) ** 2
for t in range(1, %d + 1):
    report(step=t, loss=final + 1 / t ** 0.7 + rng.gauss(0, 0.03) / math.sqrt(t))
    time.sleep(0.02)
""" % STEPS


def final_loss(lr):
    return 0.1 + 0.1 * (math.log10(lr) + 3) ** 2


def draw_lrs(seed, n):
    rng = random.Random(seed)
    return [10 ** rng.uniform(-5, -1) for _ in range(n)]


def make_sweep(folder, seed=1):
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    with open(os.path.join(folder, "curve.py"), "w") as f:
        f.write(CURVE)
    lrs = draw_lrs(seed, CONFIGS)
    entries = [{"cmd": [sys.executable, "curve.py", repr(lr), str(i)],
                "env": {"PYTHONPATH": os.path.join(TOP, "lib")}} for i, lr in enumerate(lrs)]
    with open(os.path.join(folder, "q.json"), "w") as f:
        json.dump(entries, f)
    return lrs


def options():
    return ["--early-stop", "asha", "--metric", "loss", "--min-step", "1", "--eta", str(ETA),
            "--poll", "0.1", "-q"]


def survey(folder, lrs):
    """(steps run, the best configuration's last step, outcomes, queue)."""
    from cooperate import metrics

    queue = Queue(os.path.join(folder, "q.json"), reader=True)
    queue.read()
    steps, last_step, outcomes = 0, {}, {}
    for i, id_ in enumerate(queue.list.ids):
        last = queue.state.last(id_)
        for attempt in range(1, last.number + 1):
            points = metrics.read(metrics.path(queue.dir, id_, attempt))
            reached = max((p["step"] for p in points), default=0)
            steps += reached
            last_step[i] = reached
        outcomes[last.outcome] = outcomes.get(last.outcome, 0) + 1
    best = min(range(len(lrs)), key=lambda i: final_loss(lrs[i]))
    return steps, last_step[best], outcomes, queue


def real_sweep(folder, rows):
    lrs = make_sweep(folder)
    started = time.monotonic()
    subprocess.run([sys.executable, BIN, "run", "q.json", "--procs-no", "4"] + options(),
                   cwd=folder, check=True)
    seconds = time.monotonic() - started
    steps, best_step, outcomes, queue = survey(folder, lrs)
    full = STEPS * CONFIGS
    rows.append(("steps run, 27 configurations x 27 steps, 4 slots", "%d of %d (%.0f%%) in %.0f s"
                 % (steps, full, 100.0 * steps / full, seconds), "successive halving: 11-20%",
                 "<= 40%: " + ("met" if steps <= 0.4 * full else "missed")))
    # had each pruned run stopped right at its rung (no time between the
    # rung and the worker's next look at its metrics)
    at_rung = sum(r[6]["rung"] if not r[6]["keep"] else 0 for r in queue.state.scores)
    kept = CONFIGS - sum(1 for r in queue.state.scores if not r[6]["keep"])
    rows.append(("the same, had each pruned run stopped at its rung", "%d of %d (%.0f%%)" % (
        at_rung + kept * STEPS, full, 100.0 * (at_rung + kept * STEPS) / full), "-", "-"))
    rows.append(("the truly best configuration's last step", str(best_step), "-",
                 "27: " + ("met" if best_step == STEPS else "missed")))
    rows.append(("outcomes", ", ".join("%d %s" % (n, o) for o, n in sorted(outcomes.items())),
                 "-", "-"))
    return queue


def crash_sweep(folder, rows):
    lrs = make_sweep(folder, seed=2)
    cmd = [sys.executable, BIN, "run", "q.json", "--procs-no", "2"] + options()
    workers = [subprocess.Popen(cmd, cwd=folder) for _ in range(2)]
    killed = 0
    scores = os.path.join(folder, "q.json.cooperate", "journal")
    # each worker is SIGKILLed once, when the journal holds 10 and 25 decisions
    for worker, after in zip(workers, (10, 25)):
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if os.path.exists(scores):
                with open(scores) as f:
                    if sum(line.startswith('["s"') for line in f) >= after:
                        break
            time.sleep(0.05)
        if worker.poll() is None:
            # the guard's child, the worker itself: its runs die with it
            children = open("/proc/%d/task/%d/children" % (worker.pid, worker.pid)).read().split()
            os.kill(int(children[0]) if children else worker.pid, signal.SIGKILL)
            killed += 1
    for worker in workers:
        worker.wait(timeout=600)
    # what is left (the killed workers' runs, taken back as lost) is run by a new one
    subprocess.run(cmd, cwd=folder, check=True, timeout=600)
    steps, best_step, outcomes, queue = survey(folder, lrs)
    records = [r for r in queue.state.scores]
    with open(scores) as f:
        journal = [json.loads(line) for line in f if line.startswith('["s"')]
    twice = len(journal) - len({(r[1], r[5]) for r in journal})
    fresh = Queue(os.path.join(folder, "q.json"), reader=True)
    fresh.read()
    wrong = asha.replay(fresh.state.scores)
    ends = {}
    for id_ in queue.list.ids:
        for a in queue.state.last(id_).chain():
            ends.setdefault(a.outcome, 0)
            ends[a.outcome] += 1
    rows.append(("two workers, each SIGKILLed once: decisions recorded twice", "%d of %d"
                 % (twice, len(journal)), "-", "0: " + ("met" if not twice else "missed")))
    rows.append(("decisions a fresh process's replay gets otherwise", "%d of %d"
                 % (len(wrong), len(records)), "-", "0: " + ("met" if not wrong else "missed")))
    rows.append(("attempts after the kills", ", ".join(
        "%d %s" % (n, o) for o, n in sorted(ends.items(), key=str)), "%d workers killed" % killed,
        "-"))


def simulate(seed, budget, asha_on, workers=4):
    """The best true final loss among the configurations that reached the
    last step, running configurations drawn with `seed` on `workers`
    asynchronous workers until `budget` steps are spent (random search
    with asha_on False: every run to the end)."""
    rng = random.Random(seed)
    rung_values = {}
    running = []  # [lr, step, noise rng]
    spent, finished = 0, []
    n = 0
    while spent < budget:
        while len(running) < workers:
            running.append([10 ** rng.uniform(-5, -1), 0, random.Random(seed * 1000 + n)])
            n += 1
        # the run whose next step comes first (all steps take one unit: round robin)
        run = running.pop(0)
        lr, step, noise = run
        step += 1
        spent += 1
        loss = final_loss(lr) + 1 / step ** 0.7 + noise.gauss(0, 0.03) / math.sqrt(step)
        keep = True
        rung = 1
        while asha_on and rung <= step:
            if rung == step:
                values = rung_values.setdefault(rung, [])
                keep = asha.decide(list(values), loss, ETA, "min")[0]
                values.append(loss)
            rung *= ETA
        if not keep:
            continue
        if step == STEPS:
            finished.append(final_loss(lr))
            continue
        running.append([lr, step, noise])
    return min(finished) if finished else float("inf")


def budget_sweeps(rows):
    full = STEPS * CONFIGS
    wins, pairs = 0, []
    for seed in range(1, 11):
        rs = simulate(seed, full, False)
        ash = simulate(seed, full // 4, True)
        pairs.append((ash, rs))
        wins += ash <= rs
    mean_rs = sum(r for _, r in pairs) / len(pairs)
    mean_asha = sum(a for a, _ in pairs) / len(pairs)
    rows.append(("best true final loss over 10 seeds (mean): ASHA at 182 steps vs random "
                 "search at 729", "%.4f vs %.4f (ASHA as good or better in %d of 10)"
                 % (mean_asha, mean_rs, wins), "optimum 0.1",
                 "ASHA <= random search: " + ("met" if mean_asha <= mean_rs else "missed")))
    for share in (2, 1):
        found = [simulate(seed, full // share, True) for seed in range(1, 11)]
        rows.append(("the same, ASHA at %d steps" % (full // share), "%.4f (as good or better "
                     "in %d of 10)" % (sum(found) / 10, sum(a <= r for a, (_, r) in
                                                          zip(found, pairs))), "-", "-"))


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "bench", "out", "asha")
    rows = []
    real_sweep(os.path.join(folder, "sweep"), rows)
    crash_sweep(os.path.join(folder, "crash"), rows)
    budget_sweeps(rows)
    print()
    print("| measure | cooperate | against | goal |")
    print("|---|---|---|---|")
    for row in rows:
        print("| %s |" % " | ".join(row))


if __name__ == "__main__":
    main()
