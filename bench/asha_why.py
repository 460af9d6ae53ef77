#!/usr/bin/env python3
"""Why ASHA at a quarter of the budget misses random search at the full one
in bench/asha.py (issue 24's goal): the same simulation (same draws, same
noise, the rule's own decide()), instrumented. For each of the 10 seeds and
each budget: how many configurations ASHA started, how many reached the
last step (only those count as found), the steps spent on runs that were
pruned, on runs still going when the budget ran out, and on runs that
finished; the best true final loss among all the configurations it
started (had it known them), among those it finished, and where the one it
found ranks among those started. Also how often the first run at rung 1
(judged alone, so kept) is among those that finish, and what synchronous
successive halving (brackets of 27, 9, 3, 1 over the same draws) finds
with the same budget.

    python3 bench/asha_why.py
"""

import math
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(os.path.dirname(HERE), "lib")]

from asha import CONFIGS, ETA, STEPS, final_loss  # noqa: E402
from cooperate.search import asha  # noqa: E402


# "the first runs": those started while the rungs held few values
EARLY = 12


def curve(lr, noise, step):
    return final_loss(lr) + 1 / step ** 0.7 + noise.gauss(0, 0.03) / math.sqrt(step)


def asha_run(seed, budget, workers=4):
    """bench/asha.py's simulate() with ASHA on, step for step, counting
    where the steps go: (the configurations started, (true final loss, k)
    of those finished, steps spent on {pruned, finished, cut off} runs,
    {k: how the k-th configuration started ended: pruned, cut or finished})."""
    rng = random.Random(seed)
    rung_values = {}
    running, started, finished = [], [], []
    steps_of, pruned, done = {}, set(), set()
    spent, n = 0, 0
    while spent < budget:
        while len(running) < workers:
            lr = 10 ** rng.uniform(-5, -1)
            running.append([lr, 0, random.Random(seed * 1000 + n), n])
            started.append(lr)
            n += 1
        lr, step, noise, k = running.pop(0)
        step += 1
        spent += 1
        steps_of[k] = step
        loss = curve(lr, noise, step)
        keep, rung = True, 1
        while rung <= step:
            if rung == step:
                values = rung_values.setdefault(rung, [])
                keep = asha.decide(list(values), loss, ETA, "min")[0]
                values.append(loss)
            rung *= ETA
        if not keep:
            pruned.add(k)
            continue
        if step == STEPS:
            done.add(k)
            finished.append((final_loss(lr), k))
            continue
        running.append([lr, step, noise, k])
    where, fate = {"pruned": 0, "finished": 0, "cut": 0}, {}
    for k, steps in steps_of.items():
        fate[k] = "pruned" if k in pruned else "finished" if k in done else "cut"
        where[fate[k]] += steps
    return started, finished, where, fate


def successive_halving(seed, budget):
    """Synchronous brackets of 27 configurations (rungs 1, 3, 9, 27: 81
    steps each) over the same draws, as many whole brackets as the budget
    pays for, the best finisher of each compared."""
    rng = random.Random(seed)
    n, found = 0, []
    for _ in range(budget // (CONFIGS * 3)):
        runs = []
        for _ in range(CONFIGS):
            runs.append([10 ** rng.uniform(-5, -1), random.Random(seed * 1000 + n), 0, None])
            n += 1
        keep, last = runs, 0
        for rung in (1, 3, 9, 27):
            for r in keep:
                for step in range(last + 1, rung + 1):
                    r[3] = curve(r[0], r[1], step)
            last = rung
            keep = sorted(keep, key=lambda r: r[3])[:max(len(keep) // ETA, 1)]
        found.append(min(keep, key=lambda r: r[3]))
    best = min(found, key=lambda r: r[3])
    return final_loss(best[0])


def main():
    full = STEPS * CONFIGS
    print("| budget (steps) | started | finished | finished among the first %d started "
          "| steps on pruned / cut off / finished runs | the best started: pruned / cut off / "
          "finished (seeds) | best started | best finished (found) | found's rank among started "
          "| sync SH |" % EARLY)
    print("|---|---|---|---|---|---|---|---|---|---|")
    for budget in (full // 4, full // 2, full):
        rows = []
        for seed in range(1, 11):
            started, finished, spent, fate = asha_run(seed, budget)
            truths = sorted(final_loss(lr) for lr in started)
            found = min(finished)[0] if finished else float("inf")
            best = min(range(len(started)), key=lambda k: final_loss(started[k]))
            rows.append((len(started), len(finished), spent, truths[0], found,
                         truths.index(found) + 1 if finished else None,
                         successive_halving(seed, budget), fate.get(best, "cut"),
                         sum(1 for _, k in finished if k < EARLY)))
        mean = lambda xs: sum(xs) / float(len(xs))  # noqa: E731
        fates = [r[7] for r in rows]
        print("| %d | %.1f | %.1f | %.1f | %.0f / %.0f / %.0f | %d / %d / %d | %.4f | %.4f | %.1f "
              "| %.4f |" % (
            budget, mean([r[0] for r in rows]), mean([r[1] for r in rows]),
            mean([r[8] for r in rows]),
            mean([r[2]["pruned"] for r in rows]), mean([r[2]["cut"] for r in rows]),
            mean([r[2]["finished"] for r in rows]), fates.count("pruned"), fates.count("cut"),
            fates.count("finished"),
            mean([r[3] for r in rows]),
            mean([r[4] for r in rows]), mean([r[5] for r in rows if r[5]]),
            mean([r[6] for r in rows])))
    # random search at the full budget: 27 configurations, the best truly found
    rs = []
    for seed in range(1, 11):
        rng = random.Random(seed)
        rs.append(min(final_loss(10 ** rng.uniform(-5, -1)) for _ in range(CONFIGS)))
    print("\nrandom search, 27 full runs (729 steps): mean best true final loss %.4f"
          % (sum(rs) / len(rs)))


if __name__ == "__main__":
    main()
