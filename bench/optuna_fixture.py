#!/usr/bin/env python3
"""Write tests/golden/asha_optuna.json: what Optuna's SuccessiveHalvingPruner
answers, so that tests/test_asha.py can check the ASHA rule against it
without Optuna (which is not a dependency). Run once, with Optuna installed
in a throwaway environment:

    python3 -m venv /tmp/optuna && /tmp/optuna/bin/pip install optuna
    /tmp/optuna/bin/python bench/optuna_fixture.py

The trials report noisy learning curves, interleaved at random (as trials
on several workers would), a tie and a NaN among them; after each report
the fixture keeps should_prune()'s answer, and a pruned trial reports no
more. Each event: [trial, step, value, pruned?].
"""

import json
import math
import os
import random

import optuna

TRIALS, STEPS, MIN_RESOURCE, ETA = 30, 27, 1, 3
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden",
                   "asha_optuna.json")


def main():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(24)
    pruner = optuna.pruners.SuccessiveHalvingPruner(
        min_resource=MIN_RESOURCE, reduction_factor=ETA, min_early_stopping_rate=0,
        bootstrap_count=0)
    study = optuna.create_study(direction="minimize", pruner=pruner)
    quality = [rng.uniform(0, 1) for _ in range(TRIALS)]
    # two trials with the same curve: ties
    quality[7] = quality[3]
    active = {}
    events = []
    next_trial = 0
    while next_trial < TRIALS or active:
        # at most 4 trials at once, as 4 workers would run them
        if next_trial < TRIALS and (len(active) < 4 and rng.random() < 0.6 or not active):
            active[next_trial] = [study.ask(), 0]
            next_trial += 1
            continue
        t = rng.choice(sorted(active))
        trial, step = active[t]
        step += 1
        # the noise of a curve depends on its quality and step only: the
        # twin trials report the same values
        noise = random.Random("%r %d" % (quality[t], step)).gauss(0, 0.05)
        value = round(quality[t] + 2.0 / step + noise / math.sqrt(step), 6)
        if t == 11 and step == 1:
            value = float("nan")
        trial.report(value, step)
        pruned = trial.should_prune()
        events.append([t, step, value, pruned])
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            del active[t]
        elif step == STEPS:
            study.tell(trial, value)
            del active[t]
        else:
            active[t][1] = step
    fixture = {"optuna": optuna.__version__, "pruner": "SuccessiveHalvingPruner",
               "min_resource": MIN_RESOURCE, "reduction_factor": ETA,
               "min_early_stopping_rate": 0, "bootstrap_count": 0, "direction": "minimize",
               "events": events}
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print("%d events, %d pruned: %s" % (len(events), sum(e[3] for e in events), OUT))


if __name__ == "__main__":
    main()
