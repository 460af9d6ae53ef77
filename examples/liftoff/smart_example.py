"""A liftoff-style script: adds x, yz.y and yz.z, "trains" for a fraction of
a second with the optimizer settings in optim_ (a plain dict), and writes its
metrics to results.json in its run folder.

Run it as liftoff (or cooperate) does, with the path of a run's cfg.yaml:

    PYTHONPATH=lib:build/vendor python3 examples/liftoff/smart_example.py RUN/cfg.yaml

or call run(opts) in-process. Standard library and the liftoff shim only.
"""

import json
import os
import random
import time


def run(opts):
    """One run: print the sum, write results.json into opts.out_dir, return
    the metrics."""
    started = time.time()
    run_id = getattr(opts, "run_id", 0)  # absent in a hand-written cfg.yaml
    total = opts.x + opts.yz.y + opts.yz.z
    optim = opts.optim  # `optim_` in the yaml: a plain dict, not a namespace
    lr = float(optim["lr"])
    momentum = float(optim.get("momentum", 0.0))

    # A toy descent on (w - total)^2 from w = 0, noisy by seed.
    rng = random.Random("%s/%s" % (opts.seed, run_id))
    w, velocity = 0.0, 0.0
    for _ in range(opts.steps):
        grad = 2 * (w - total) * (1 + 0.1 * rng.uniform(-1, 1))
        if optim["name"] == "adam":  # a sign step of fixed size
            step = lr * abs(total) * (1 if grad > 0 else -1)
        else:
            velocity = momentum * velocity + grad
            step = lr * velocity
        w -= step
    time.sleep(0.05 + 0.2 * rng.random())

    print("[%s] %s + %s + %s = %s" % (run_id, opts.x, opts.yz.y, opts.yz.z, total),
          flush=True)
    metrics = {
        "sum": total,
        "loss": (w - total) ** 2,
        "optim": optim,
        "seed": opts.seed,
        "run_id": run_id,
        "title": getattr(opts, "title", None),
        "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "endby": os.environ.get("ENDBY"),
        "seconds": round(time.time() - started, 3),
    }
    path = os.path.join(opts.out_dir, "results.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(metrics, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.replace(path + ".tmp", path)
    return metrics


def main():
    from liftoff import parse_opts

    run(parse_opts())


if __name__ == "__main__":
    main()
