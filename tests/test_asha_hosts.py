"""Early stopping on two machines with workers killed (issue 24): an ASHA
sweep whose runs are real processes reporting a noisy curve (`from
cooperate import report`), on two simulated hosts (their own host name, pid
namespace and /proc) of two workers each. A worker holding runs is
SIGKILLed on each host and another started there (a worker of the same
host may take the runs back at once), then a whole host dies, every
process in it at once, while one of its runs, just pruned, is still saving
its checkpoint; the host comes back (a reboot: same name, new process
space) and the sweep goes on to its end, the dead host's runs taken back
after the lease.

Counted by what ran (the runs' side-effect file, tests/effects.py) and by
the journal: every entry ended, done or pruned; no (entry, rung) decision
recorded twice, no entry pruned twice, no two executions of an entry at
once; an entry pruned by an attempt whose end was lost is not started
again; a fresh process replaying the journal makes the same decisions.
Every wait is on a condition with a deadline."""

import collections
import json
import math
import os
import random
import signal
import subprocess
import sys

import effects
from util import TOP, Host, command, leftovers, needs_unshare, wait_for, write_list

LIB = os.path.join(TOP, "lib")
sys.path.insert(0, LIB)
from cooperate.queue import host  # noqa: E402

CONFIGS, STEPS = 27, 27
# seconds a run takes to stop when told to (its checkpoint): a pruned run
# whose decision is recorded and whose end is not can be caught there
CHECKPOINT = 2.0
ARGS = ("run", "q.json", "-q", "--procs-no", "2", "--early-stop", "asha", "--metric", "loss",
        "--min-step", "1", "--eta", "3", "--poll", "0.1", "--lease", "3")
# waits: generous, for a busy 2-core machine
LONG = 600

# bench/asha.py's curve (true final loss best at lr = 1e-3, noise shrinking
# with the steps), one seed per configuration, so that a retried run reports
# what the first attempt did; each run notes its start, a tick a step, and
# its end in ran.txt in effects.py's format ("term" when told to stop)
RUN = """\
import math, os, random, signal, sys, time
from cooperate import report

key, lr = sys.argv[1], float(sys.argv[2])
me = "%s %s %s %s %d" % (key, os.environ["COOPERATE_ENTRY"], os.environ["COOPERATE_ATTEMPT"],
                         os.environ["COOPERATE_WORKER"], os.getpid())


def note(what):
    with open("ran.txt", "a") as f:
        f.write("%s %s\\n" % (what, me))


def stop(signum, frame):
    note("term")
    until = time.monotonic() + {checkpoint}
    while time.monotonic() < until:
        time.sleep(0.05)
        note("tick")
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
note("start")
rng = random.Random(int(key))
final = 0.1 + 0.1 * (math.log10(lr) + 3) ** 2
for t in range(1, {steps} + 1):
    report(step=t, loss=final + 1 / t ** 0.7 + rng.gauss(0, 0.03) / math.sqrt(t))
    note("tick")
    time.sleep(0.04)
note("end")
""".format(checkpoint=CHECKPOINT, steps=STEPS)

# what a fresh process gets from the journal: the decisions, and those a
# replay makes otherwise
REPLAY = """\
import json, sys
from cooperate.queue.core import Queue
from cooperate.search import asha

queue = Queue(sys.argv[1], reader=True)
queue.read()
print(json.dumps({"scores": queue.state.scores, "wrong": asha.replay(queue.state.scores)}))
"""

# a machine's first process: it only reaps what is handed to it
REAPER = """\
import os, time
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.5)
"""


class Machine(Host):
    """A simulated host that outlives its workers: util.Host's namespaces,
    with a reaper as their first process and workers entered into them
    (nsenter), so that a worker started again is on the same machine as
    the one it replaces. kill() and stop() are Host's: every process at once."""

    def __init__(self, name, cwd):
        self.name, self.cwd = name, str(cwd)
        self.process = subprocess.Popen(
            ["unshare", "--uts", "--pid", "--fork", "--mount-proc", "sh", "-c",
             'hostname "$0" && exec "$1" -c "$2"', name, sys.executable, REAPER], cwd=cwd)

    def ready(self):
        """The first process, once it is the reaper: the host has its name."""
        def reaping():
            pid = self.init_pid()
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return f.read().split(b"\0")[0] == sys.executable.encode() and pid
        return wait_for(reaping, what="host %s to have its name" % self.name)

    def start(self, n):
        """Worker number n, its stderr in worker-N.err."""
        err = os.path.join(self.cwd, "worker-%d.err" % n)
        with open(err, "w") as f:
            process = subprocess.Popen(
                ["nsenter", "--target", str(self.ready()), "--uts", "--pid", "--mount",
                 "--wd=%s" % self.cwd] + command(*ARGS), stderr=f)
        return Worker(self, process, err)


class Worker:
    """A worker started in a machine: nsenter, whose child is its guard."""

    def __init__(self, machine, process, err):
        self.machine, self.process, self.err = machine, process, err
        self.killed = False

    def pid(self):
        """The worker's pid (here), the child of its guard; None while it
        is not there."""
        for guard in host.child_pids(self.process.pid):
            for pid in host.child_pids(guard):
                if host.process_start(pid) is not None:
                    return pid
        return None

    def matching(self, worker_id):
        """The worker's pid (here) if `worker_id` (HOST-PID-xxxx, PID in
        the machine's namespace) is this worker, else None."""
        pid = self.pid()
        try:
            with open("/proc/%d/status" % pid) as f:
                inside = next(line.split()[-1] for line in f if line.startswith("NSpid:"))
        except (TypeError, OSError, StopIteration):
            return None
        name, number, _ = worker_id.rsplit("-", 2)
        return pid if (name, number) == (self.machine.name, inside) else None


def make_sweep(tmp_path):
    (tmp_path / "run.py").write_text(RUN)
    rng = random.Random(24)
    lrs = [10 ** rng.uniform(-5, -1) for _ in range(CONFIGS)]
    write_list(tmp_path / "q.json", [{"cmd": [sys.executable, "run.py", str(i), repr(lr)],
                                      "env": {"PYTHONPATH": LIB}} for i, lr in enumerate(lrs)])
    return [str(i) for i in range(CONFIGS)]


def raw_journal(tmp_path):
    """Every whole record of the journal as written (the queue's state keeps
    only the first decision of a run and rung: a second would not show)."""
    path = tmp_path / "q.json.cooperate" / "journal"
    if not path.exists():
        return []
    with open(str(path)) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


def running(records):
    """{(id, attempt): worker} of the attempts claimed and not ended."""
    held = {(r[1], r[2]): r[3] for r in records if r[0] == "c"}
    for r in records:
        if r[0] == "e":
            held.pop((r[1], r[2]), None)
    return held


def held_by(workers, name, holder):
    """The live worker of host `name` that is `holder` (a worker id), or None."""
    for w in workers:
        if w.machine.name == name and not w.killed and w.matching(holder):
            return w
    return None


def going(workers, what):
    """Fail at once, rather than at a deadline, if the sweep ended first."""
    assert any(w.process.poll() is None for w in workers if not w.killed), \
        "the sweep ended before %s" % what


def kill_a_worker_holding_runs(tmp_path, workers, name, decisions):
    """Once `decisions` decisions are recorded, SIGKILL a live worker of
    host `name` that holds a run which has started, and start another on
    the host; returns the attempts it held. (They are taken back once
    nothing is pending.)"""
    def victim():
        going(workers, "a worker of %s held a run" % name)
        records = raw_journal(tmp_path)
        if sum(r[0] == "s" for r in records) < decisions:
            return None
        started = {(e.id, e.attempt) for e in effects.executions(str(tmp_path / "ran.txt"))}
        held = running(records)
        for attempt, holder in held.items():
            w = held_by(workers, name, holder) if attempt in started else None
            pid = w and w.matching(holder)
            if pid:
                return w, pid, [a for a, h in held.items() if h == holder]
        return None

    worker, pid, held = wait_for(victim, LONG, what="a worker of %s holding a run" % name)
    os.kill(pid, signal.SIGKILL)
    worker.killed = True
    workers.append(worker.machine.start(len(workers)))
    return held


@needs_unshare
def test_asha_on_two_hosts_with_workers_and_a_host_killed(tmp_path):
    keys = make_sweep(tmp_path)
    machines = [Machine("host-a", tmp_path), Machine("host-b", tmp_path)]
    workers = [m.start(2 * i + j) for i, m in enumerate(machines) for j in range(2)]
    killed = {}
    try:
        for name, decisions in (("host-a", 3), ("host-b", 9)):
            killed[name] = kill_a_worker_holding_runs(tmp_path, workers, name, decisions)

        # host-a dies while a run of a live worker of it is pruned and
        # saving its checkpoint: its decision is recorded, its end is not
        def pruned_not_ended():
            going(workers, "a run of host-a was pruned")
            records = raw_journal(tmp_path)
            held = running(records)
            return [(r[1], r[2]) for r in records if r[0] == "s" and not r[6]["keep"]
                    and (r[1], r[2]) in held and held_by(workers, "host-a", held[r[1], r[2]])]

        caught = wait_for(pruned_not_ended, LONG, what="a run of host-a pruned and not ended")
        killed["host-a, whole"] = [a for a, holder in running(raw_journal(tmp_path)).items()
                                   if held_by(workers, "host-a", holder)]
        machines[0].kill()
        for w in workers:
            w.killed = w.killed or w.machine is machines[0]
        # it comes back: same name, a new process space
        machines.append(Machine("host-a", tmp_path))
        workers += [machines[-1].start(len(workers) + j) for j in range(2)]
        for w in workers:
            if not w.killed:
                code = w.process.wait(timeout=LONG)
                assert code == 0, "worker %s: %s" % (w.err, open(w.err).read()[-2000:])
    finally:
        for m in machines:
            m.stop()
        for w in workers:
            if w.process.poll() is None:
                w.process.kill()
            w.process.wait(timeout=60)
    wait_for(lambda: not leftovers(tmp_path), 60, what="no process of a run or worker left")
    check(tmp_path, keys, caught, killed)


def check(tmp_path, keys, caught, killed):
    records = raw_journal(tmp_path)
    assert records and records[0][0] != "g", "compacted: the decisions are not all in sight"
    scores = [r for r in records if r[0] == "s"]
    ends = [r for r in records if r[0] == "e"]

    # no (entry, rung) decided twice, no entry pruned twice; each entry's
    # rungs in order
    assert len({(r[1], r[5]) for r in scores}) == len(scores)
    by_id = collections.defaultdict(list)
    for r in scores:
        by_id[r[1]].append(r[6])
    rungs = [3 ** k for k in range(int(round(math.log(STEPS, 3))) + 1)]
    for id_, data in by_id.items():
        assert [d["rung"] for d in data] == rungs[:len(data)], id_
        assert all(d["keep"] for d in data[:-1]), "decided after it was pruned: %s" % id_
    pruned = [(r[1], r[2]) for r in ends if r[5] == "pruned"]
    assert len({id_ for id_, _ in pruned}) == len(pruned), "an entry pruned twice"

    # a fresh process reads the same decisions and replays them alike
    replayed = subprocess.run(
        [sys.executable, "-c", REPLAY, str(tmp_path / "q.json")], capture_output=True,
        text=True, timeout=120, env=dict(os.environ, PYTHONPATH=LIB))
    assert replayed.returncode == 0, replayed.stderr
    fresh = json.loads(replayed.stdout)
    assert fresh["scores"] == scores
    assert fresh["wrong"] == []

    # what ran: each key under one id, every execution claimed by its
    # worker, no two executions of an entry at once
    t = effects.tally(str(tmp_path / "ran.txt"),
                      effects.records(str(tmp_path / "q.json.cooperate")), keys)
    for problem in ("unknown", "missing", "several_ids", "unclaimed", "overlaps"):
        assert not t[problem], "%s: %s" % (problem, t[problem][:5])
    runs = t["executions"]

    # every entry ended, done or pruned; a done one ran to its end once
    outcome = {}
    for r in ends:
        outcome.setdefault((r[1], r[2]), r[5])
    last = {}
    for r in records:
        if r[0] == "c":
            last[r[1]] = r[2]
    assert len(last) == len(keys)
    finals = {id_: outcome.get((id_, n)) for id_, n in last.items()}
    assert set(finals.values()) <= {"done", "pruned"}, finals
    for id_, final in finals.items():
        to_the_end = [outcome.get((id_, e.attempt)) for e in runs if e.id == id_ and e.ended]
        if final == "done":
            assert sorted(to_the_end) == ["done"] + ["lost"] * (len(to_the_end) - 1), id_
        else:
            assert by_id[id_][-1]["keep"] is False, id_

    # a pruned attempt's entry never starts again: a later attempt is
    # pruned before it runs
    stopped_at = {r[1]: r[2] for r in scores if not r[6]["keep"]}
    again = [e for e in runs if e.id in stopped_at and e.attempt > stopped_at[e.id]]
    assert not again, again
    # (the runs of host-a caught pruned: their ends were lost with it, unless
    # recorded in the moment before the kill)
    end_lost = [a for a in caught if outcome.get(a) == "lost"]
    assert end_lost, "the pruned runs of host-a ended before the host died: %s" % caught
    for id_, attempt in end_lost:
        assert finals[id_] == "pruned" and last[id_] > attempt

    print()
    print("decisions: %d, %d of them pruning; entries: %d done, %d pruned; attempts: %d, "
          "%d lost; executions: %d" % (
              len(scores), len(stopped_at), sum(f == "done" for f in finals.values()),
              sum(f == "pruned" for f in finals.values()), len(outcome),
              sum(1 for r in ends if r[5] == "lost"), len(runs)))
    takers = {(r[1], r[2]): r[3] for r in ends if r[5] == "lost"}
    for name in ("host-a", "host-b"):
        print("a worker of %s killed holding %d runs: taken back by %s" % (
            name, len(killed[name]), ", ".join(takers.get(a, "nobody (ended)")
                                               for a in killed[name])))
    print("host-a killed holding %d runs (taken back by %s), %d of them pruned and not ended: "
          "pruned again without running" % (
              len(killed["host-a, whole"]), ", ".join(takers.get(a, "nobody (ended)")
                                                       for a in killed["host-a, whole"]),
              len(end_lost)))
