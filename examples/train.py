"""A stand-in for a training script: reads its settings from the command
line, "trains" for a moment, and writes its result next to it."""

import argparse
import json
import math
import os
import time

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--steps", type=int, default=20)
args = parser.parse_args()

loss = 1.0
for step in range(args.steps):
    loss *= 1 - min(args.lr, 0.5) * (0.9 + 0.1 * math.sin(args.seed + step))
    time.sleep(0.01)
print("lr=%g seed=%d loss=%.4f" % (args.lr, args.seed, loss))

name = os.environ.get("COOPERATE_ENTRY", "manual")
os.makedirs("results", exist_ok=True)
with open(os.path.join("results", "%s.json" % name), "w") as f:
    json.dump({"lr": args.lr, "seed": args.seed, "loss": loss}, f)
