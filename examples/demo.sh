#!/bin/sh
# `make demo`: the main job end to end. Write a list of 12 commands, drain it
# with two workers started as separate processes (as if on two machines that
# share this folder), and print the status.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
pyz="$here/../dist/cooperate.pyz"
work="$here/demo"

rm -rf "$work"
mkdir -p "$work"
cp "$here/train.py" "$work/"
cd "$work"

echo "== write the list: 3 learning rates x 4 seeds"
"$python" "$pyz" doe exps.json "$python train.py --lr {lr} --seed {seed}" lr=0.001,0.01,0.1 seed=1..4

echo "== two workers drain it (logs in examples/demo/worker-*.log)"
"$python" "$pyz" run exps.json --procs-no 2 2> worker-1.log &
first=$!
"$python" "$pyz" run exps.json --procs-no 2 2> worker-2.log &
second=$!
wait $first
wait $second
echo "worker 1 ran $(grep -c ' done ' worker-1.log) entries, worker 2 ran $(grep -c ' done ' worker-2.log)"

echo "== status"
"$python" "$pyz" status exps.json
echo "== one run's output ($(ls exps.json.cooperate/logs/*/*.out | head -1))"
cat "$(ls exps.json.cooperate/logs/*/*.out | head -1)"
