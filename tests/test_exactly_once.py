"""Exactly once in the world, counted by what ran (util.effect's file), not
by our records: workers killed (the worker, its guard, or both), frozen past
their lease, two simulated hosts with one host name, one list reached
through a symlink, a list rewritten in place, bad entries appended.

Every wait is on a condition with a deadline: nothing here depends on how
fast the machine is."""

import json
import os
import random
import signal
import subprocess
import time

import pytest

from effects import effect, executions
from util import (Host, check_ran_once, journal, leftovers, needs_unshare, run, start, status,
                  wait_for, worker_pid, write_list)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_all(procs, timeout=60):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def write_atomically(path, entries):
    tmp = "%s.tmp" % path
    write_list(tmp, entries)
    os.replace(tmp, path)


@pytest.mark.parametrize("procs", [1, 3])
def test_random_sigkills_never_run_an_entry_twice_at_once(tmp_path, procs):
    """30 kills of workers holding runs: of the worker (its guard kills its
    runs), of the guard (the worker stops its runs), or of both at once (the
    next worker kills the leftovers before it runs their entries again).
    Kills often hit the same entries again (they are claimed first when
    pending again): --retries keeps them from being failed for good."""
    rng = random.Random(procs)
    keys = [str(i) for i in range(300)]
    entries = [effect(k, ticks=3) for k in keys]
    write_list(tmp_path / "l.json", entries)
    argv = ("run", "l.json", "-q", "--wait", "--poll", "0.2", "--grace", "1", "--retries", "50",
            "--procs-no", str(procs))
    workers = [start(*argv, cwd=tmp_path, stderr=subprocess.DEVNULL) for _ in range(4)]
    kills = {"worker": 0, "guard": 0, "both": 0}
    seen = 0
    deadline = time.monotonic() + 300
    try:
        while sum(kills.values()) < 30:
            assert time.monotonic() < deadline, "kills %s" % kills
            runs = executions(tmp_path / "ran.txt")
            # a kill waits for a run started since the last one, on a live
            # worker under one of the guards this test started
            guards = {}
            for w in workers:
                try:
                    with open("/proc/%d/task/%d/children" % (w.pid, w.pid)) as f:
                        guards.update((int(p), w.pid) for p in f.read().split())
                except OSError:
                    pass
            open_ = [e for e in runs[seen:]
                     if not e.ended and int(e.worker.split("-")[-2]) in guards]
            if not open_:
                if len({e.key for e in runs if e.ended}) == len(keys):
                    # all ran before the kills were done: more work
                    keys += [str(i) for i in range(len(keys), len(keys) + 100)]
                    write_atomically(tmp_path / "l.json", [effect(k, ticks=3) for k in keys])
                time.sleep(0.005)
                continue
            seen = len(runs)
            victim = int(rng.choice(open_).worker.split("-")[-2])
            guard = guards[victim]
            how = rng.choice(["worker", "worker", "guard", "both"])
            for pid in {"worker": [victim], "guard": [guard], "both": [guard, victim]}[how]:
                os.kill(pid, signal.SIGKILL)
            kills[how] += 1
            workers = [w for w in workers if w.pid != guard and w.poll() is None]
            workers.append(start(*argv, cwd=tmp_path, stderr=subprocess.DEVNULL))
        wait_for(lambda: status("l.json", cwd=tmp_path)["counts"]["done"] == len(keys),
                 timeout=300, what="every entry done")
    finally:
        stop_all(workers)
    assert [w.returncode for w in workers] == [128 + signal.SIGTERM] * len(workers)
    runs, repeats = check_ran_once(tmp_path / "ran.txt", tmp_path / "l.json.cooperate", keys)
    assert repeats <= sum(kills.values())
    # workers whose guard was killed stop by themselves
    wait_for(lambda: not leftovers(tmp_path), what="no process of a run or worker left")


def test_a_dead_worker_s_runs_die_with_it_at_once(tmp_path):
    write_list(tmp_path / "l.json", [effect(str(i), ticks=10000) for i in range(3)])
    guard = start("run", "l.json", "--procs-no", "3", cwd=tmp_path, stderr=subprocess.PIPE,
                  text=True)
    try:
        wait_for(lambda: len(executions(tmp_path / "ran.txt")) == 3, what="three runs")
        os.kill(worker_pid(guard.pid), signal.SIGKILL)
        assert guard.wait(timeout=60) == 128 + signal.SIGKILL
    finally:
        if guard.poll() is None:
            guard.kill()
    # the guard exits only once the runs are gone, so this is not a race
    assert not [e for e in executions(tmp_path / "ran.txt") if alive(e.pid)]
    assert not leftovers(tmp_path)
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["stale"] == 3, "their worker is dead: stale at once"


def test_a_killed_guard_makes_its_worker_stop_its_runs(tmp_path):
    write_list(tmp_path / "l.json", [effect(str(i), ticks=10000) for i in range(2)])
    guard = start("run", "l.json", "--procs-no", "2", "--grace", "1", cwd=tmp_path,
                  stderr=subprocess.DEVNULL)
    wait_for(lambda: len(executions(tmp_path / "ran.txt")) == 2, what="two runs")
    worker = worker_pid(guard.pid)
    guard.kill()
    guard.wait()
    wait_for(lambda: not alive(worker), timeout=60, what="the worker to stop")
    assert not leftovers(tmp_path)
    ends = [r[5] for r in journal(tmp_path / "l.json.cooperate") if r[0] == "e"]
    assert ends == ["interrupted", "interrupted"]
    assert status("l.json", cwd=tmp_path)["counts"]["pending"] == 2


def test_leftovers_of_a_worker_killed_with_its_guard_die_before_their_entry_runs_again(tmp_path):
    # the run ignores TERM and puts itself out of reach of its process group
    keep = ('echo "start $COOPERATE_ATTEMPT $$" >> ran; '
            'while [ ! -e stop ]; do sleep 0.01; echo "tick $COOPERATE_ATTEMPT $$" >> ran; done')
    write_list(tmp_path / "l.json", [["sh", "-c", keep]])
    guard = start("run", "l.json", cwd=tmp_path, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (tmp_path / "ran").exists(), what="the run")
        worker = worker_pid(guard.pid)
        os.kill(guard.pid, signal.SIGKILL)
        os.kill(worker, signal.SIGKILL)
        guard.wait()
        wait_for(lambda: not alive(worker), what="the worker to die")
        first = int((tmp_path / "ran").read_text().split()[2])
        assert alive(first), "orphaned, it still runs"
        # a new worker on this machine takes the entry back: it kills the
        # orphan first
        retaker = start("run", "l.json", cwd=tmp_path, stderr=subprocess.DEVNULL)
        wait_for(lambda: "start 2" in (tmp_path / "ran").read_text(), timeout=60,
                 what="the second attempt")
        (tmp_path / "stop").touch()
        assert retaker.wait(timeout=60) == 0
    finally:
        (tmp_path / "stop").touch()
    lines = [line.split() for line in (tmp_path / "ran").read_text().splitlines()]
    second = lines.index(["start", "2", lines[-1][2]])
    assert all(attempt == "2" for _, attempt, _ in lines[second:]), "the orphan was gone first"
    assert not alive(first)


@needs_unshare
def test_a_worker_frozen_past_its_lease_never_overlaps_the_retry(tmp_path):
    write_list(tmp_path / "l.json", [effect("only", ticks=300, tick=0.01)])
    args = ("run", "l.json", "--lease", "4", "--poll", "0.2")
    a = Host("host-a", tmp_path, *args, stderr=subprocess.PIPE, text=True)
    b = None
    try:
        wait_for(lambda: executions(tmp_path / "ran.txt"), what="host-a to run the entry")
        worker = a.worker_pid()
        os.kill(worker, signal.SIGSTOP)
        b = Host("host-b", tmp_path, *args, "--wait")
        wait_for(lambda: any(e.ended and e.attempt == 2 for e in executions(tmp_path / "ran.txt")),
                 timeout=120, what="host-b to take the entry back and run it to its end")
        os.kill(worker, signal.SIGCONT)
        _, err = a.process.communicate(timeout=60)
    finally:
        a.stop()
        if b is not None:
            b.stop()
    runs, repeats = check_ran_once(tmp_path / "ran.txt", tmp_path / "l.json.cooperate", ["only"])
    assert [e.attempt for e in runs] == [1, 2] and not runs[0].ended
    assert "was taken back by another worker" in err and " done  " not in err
    ends = [(r[2], r[5]) for r in journal(tmp_path / "l.json.cooperate") if r[0] == "e"]
    assert ends == [(1, "lost"), (2, "done")], "the frozen worker recorded nothing"


@needs_unshare
def test_two_hosts_with_one_host_name_wait_for_each_other_s_lease(tmp_path):
    keys = [str(i) for i in range(4)]
    write_list(tmp_path / "l.json", [effect(k, ticks=50, tick=0.02) for k in keys])
    hosts = [Host("same", tmp_path, "run", "l.json", "-q", "--poll", "0.1") for _ in range(2)]
    try:
        for h in hosts:
            assert h.process.wait(timeout=120) == 0
    finally:
        for h in hosts:
            h.stop()
    runs, repeats = check_ran_once(tmp_path / "ran.txt", tmp_path / "l.json.cooperate", keys)
    assert len(runs) == 4 and repeats == 0
    assert not [r for r in journal(tmp_path / "l.json.cooperate") if r[0] == "e" and r[5] == "lost"]


def test_a_list_reached_through_a_symlink_is_the_same_queue(tmp_path):
    keys = [str(i) for i in range(20)]
    (tmp_path / "real").mkdir()
    write_list(tmp_path / "real" / "l.json", [effect(k, ticks=2, out="../ran.txt") for k in keys])
    (tmp_path / "work").mkdir()
    os.symlink("../real/l.json", tmp_path / "work" / "link.json")
    workers = [start("run", "link.json", "-q", "--procs-no", "2", cwd=tmp_path / "work"),
               start("run", "l.json", "-q", "--procs-no", "2", cwd=tmp_path / "real")]
    for w in workers:
        assert w.wait(timeout=120) == 0
    assert not (tmp_path / "work" / "link.json.cooperate").exists()
    runs, repeats = check_ran_once(tmp_path / "ran.txt", tmp_path / "real" / "l.json.cooperate",
                                   keys)
    assert len(runs) == 20
    assert status("link.json", cwd=tmp_path / "work")["counts"]["done"] == 20


def test_a_list_rewritten_in_place_while_workers_run(tmp_path):
    """Every 0.25 s for 10 s the list is rewritten the way most scripts
    write it (open with "w", then write), with a few entries more each
    time; the workers go on through the moments it does not read."""
    path = tmp_path / "l.json"
    keys = [str(i) for i in range(20)]
    write_list(path, [effect(k, ticks=2) for k in keys])
    workers = [start("run", "l.json", "-q", "--wait", "--poll", "0.1", cwd=tmp_path,
                     stderr=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            keys += [str(i) for i in range(len(keys), len(keys) + 3)]
            text = json.dumps([effect(k, ticks=2) for k in keys], indent=1)
            with open(path, "w") as f:
                # written in two parts, as a large json.dump is: a reader can
                # find half a list
                f.write(text[:len(text) // 2])
                f.flush()
                time.sleep(0.02)
                f.write(text[len(text) // 2:])
            time.sleep(0.25)
        wait_for(lambda: status("l.json", cwd=tmp_path)["counts"]["done"] == len(keys),
                 timeout=120, what="every entry done")
        assert all(w.poll() is None for w in workers), "no worker gave up"
    finally:
        stop_all(workers)
    for w in workers:
        err = w.stderr.read()
        assert w.returncode == 128 + signal.SIGTERM, err
        assert "Traceback" not in err
    runs, repeats = check_ran_once(path.parent / "ran.txt", tmp_path / "l.json.cooperate", keys)
    assert repeats == 0


def test_bad_entries_appended_while_workers_run_fail_and_the_workers_go_on(tmp_path):
    path = tmp_path / "l.json"
    write_list(path, [effect("first")])
    worker = start("run", "l.json", "--wait", "--poll", "0.1", cwd=tmp_path,
                   stderr=subprocess.PIPE, text=True)
    bad = ["echo a\u0000b", {"cmd": ["true"], "env": {"A=B": "1"}},
           {"cmd": ["true"], "env": {"A": "x\u0000y"}}, ["echo", "\ud800"], "echo 'unclosed"]
    try:
        wait_for(lambda: status("l.json", cwd=tmp_path)["counts"]["done"] == 1, what="the first")
        tmp = str(path) + ".tmp"
        with open(tmp, "w") as f:
            json.dump([effect("first")] + bad + [effect("last")], f)
        os.replace(tmp, path)
        wait_for(lambda: any(e.key == "last" and e.ended
                             for e in executions(tmp_path / "ran.txt")),
                 timeout=60, what="the entry after the bad ones")
        assert worker.poll() is None
    finally:
        stop_all([worker])
    err = worker.stderr.read()
    assert "Traceback" not in err
    counts = {r[5] for r in journal(tmp_path / "l.json.cooperate") if r[0] == "e"}
    assert counts == {"done", "failed"}
    assert run("status", "l.json", cwd=tmp_path).returncode == 2, "a bad list is bad input"
    logs = sorted((tmp_path / "l.json.cooperate" / "logs").glob("*/*.err"))
    reasons = " ".join(p.read_text() for p in logs)
    for reason in ("NUL character", "'A=B' cannot be the name of a variable",
                   "not valid Unicode", "cannot split the command"):
        assert reason in reasons
    assert err.count("FAILED") == len(bad)
    check_ran_once(tmp_path / "ran.txt", tmp_path / "l.json.cooperate", ["first", "last"])


def test_a_run_s_process_is_recorded_in_the_state(tmp_path):
    write_list(tmp_path / "l.json", [["sh", "-c", "echo $$ > pid; while [ ! -e go ]; do sleep 0.01; done"]])
    worker = start("run", "l.json", "--poll", "0.1", cwd=tmp_path)
    try:
        wait_for(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text().strip(),
                 what="the run")
        pid = int((tmp_path / "pid").read_text())
        with open("/proc/%d/stat" % pid) as f:
            start_time = int(f.read().rsplit(")", 1)[1].split()[19])

        def recorded():
            running = status("l.json", cwd=tmp_path)["running"]
            return running and running[0]["run_pid"] == pid
        wait_for(recorded, timeout=60, what="the run's process in the state")
        (record,) = [r for r in journal(tmp_path / "l.json.cooperate") if r[0] == "p"]
        assert record[2:] == [1, pid, start_time]
    finally:
        (tmp_path / "go").touch()
        worker.wait(timeout=60)
    assert worker.returncode == 0


def gated(key, gate, out="ran.txt"):
    """An entry that records its execution as effect() does, waiting for
    the file `gate` before its end line."""
    script = ('e() { echo "$1 %s $COOPERATE_ENTRY $COOPERATE_ATTEMPT $COOPERATE_WORKER $$" >> %s; }; '
              'e start; while [ ! -e %s ]; do sleep 0.01; done; e end' % (key, out, gate))
    return ["sh", "-c", script, key]


@pytest.mark.parametrize("damaged", [False, True])
def test_ends_a_killed_worker_noted_are_recorded_and_never_run_again(tmp_path, damaged):
    """Runs this short are claimed in batches, and their ends recorded with
    the next batch's claims: until then each is noted in the worker's
    heartbeat file. A worker SIGKILLed then: the next one records the
    noted ends as they were (done, by the dead worker) and runs only what
    had not ended. A note damaged meanwhile (its exit code a string) is no
    note: that attempt is lost and its entry runs again."""
    keys = [str(i) for i in range(40)]
    write_list(tmp_path / "l.json", [effect(k) if int(k) < 10 else gated(k, "gate")
                                     for k in keys])
    guard = start("run", "l.json", "-q", cwd=tmp_path, stderr=subprocess.DEVNULL)
    state = tmp_path / "l.json.cooperate"
    try:
        def noted():
            beats = [p for p in (state / "workers").iterdir()] if (state / "workers").is_dir() else []
            return [json.loads(line) for p in beats for line in p.read_text().splitlines()]

        # the first gated run holds the slot, with ends noted before it and
        # entries of its batch still to start
        wait_for(lambda: any(e.key == "10" for e in executions(tmp_path / "ran.txt"))
                 and noted(), timeout=120, what="the gated run, after noted ends")
        worker = worker_pid(guard.pid)
        os.kill(worker, signal.SIGKILL)
        assert guard.wait(timeout=60) == 128 + signal.SIGKILL
    finally:
        if guard.poll() is None:
            guard.kill()
    notes = noted()
    recorded = {(r[1], r[2]) for r in journal(state) if r[0] == "e"}
    assert notes and not {(n[0], n[1]) for n in notes} & recorded
    assert {n[2] for n in notes} == {"done"}
    if damaged:
        (beat,) = (state / "workers").iterdir()
        lines = beat.read_text().splitlines()
        lost = json.loads(lines[0])
        beat.write_text("\n".join([json.dumps(lost[:3] + ["0"] + lost[4:])] + lines[1:]) + "\n")
        notes = notes[1:]
    (tmp_path / "gate").write_text("")
    result = run("run", "l.json", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    runs, repeats = check_ran_once(tmp_path / "ran.txt", state, keys)
    # the run killed with its worker never ended: nothing ran to its end
    # twice, but the one whose note was damaged
    assert repeats == damaged
    records = journal(state)
    assert "unreadable_records" not in status("l.json", cwd=tmp_path)
    dead = next(r[1] for r in records if r[0] == "w" and r[2]["pid"] == worker)
    ends = {(r[1], r[2]): r for r in records if r[0] == "e"}
    if damaged:
        assert ends[lost[0], lost[1]][5] == "lost"
    for id_, attempt, outcome, code, again, when, began in notes:
        # the entries after the batch's first started later than their claim
        assert ends[id_, attempt] == ["e", id_, attempt, dead, when, outcome, code, again] + (
            [began] if began is not None else [])


def gated_worker(tmp_path, n, at):
    """A worker on n effect() entries, keys "0" to str(n - 1), the one at
    `at` gated(): (keys, its guard process)."""
    keys = [str(i) for i in range(n)]
    write_list(tmp_path / "l.json", [gated(k, "gate") if k == str(at) else effect(k) for k in keys])
    return keys, start("run", "l.json", "-q", cwd=tmp_path, stderr=subprocess.DEVNULL)


def test_the_ends_before_a_batch_s_last_run_are_recorded_while_it_runs(tmp_path):
    """The ends of a batch's runs wait for the worker's next claim, while
    the batch's last run goes on too, but not for its end: a last run
    that lasts does not keep the runs before it from being done."""
    # the gated entry is the list's last: the last of whatever batch holds it
    keys, guard = gated_worker(tmp_path, 41, 40)
    state = tmp_path / "l.json.cooperate"
    try:
        wait_for(lambda: any(e.key == "40" for e in executions(tmp_path / "ran.txt")),
                 timeout=120, what="the gated run")
        wait_for(lambda: status("l.json", cwd=tmp_path)["counts"]["done"] == 40, timeout=60,
                 what="the runs before the gated one recorded as done while it runs")
        assert status("l.json", cwd=tmp_path)["counts"]["running"] == 1
        (tmp_path / "gate").write_text("")
        assert guard.wait(timeout=60) == 0
    finally:
        if guard.poll() is None:
            guard.kill()
    runs, repeats = check_ran_once(tmp_path / "ran.txt", state, keys)
    assert (len(runs), repeats) == (41, 0)


def test_a_stopped_worker_gives_back_what_it_claimed_and_did_not_start(tmp_path):
    """SIGTERM to a worker that claimed a batch of short runs: the run going
    on is interrupted, the entries of its batch not started are pending
    again, and the next worker runs each of them once."""
    keys, guard = gated_worker(tmp_path, 60, 20)
    state = tmp_path / "l.json.cooperate"
    try:
        wait_for(lambda: any(e.key == "20" for e in executions(tmp_path / "ran.txt")),
                 timeout=120, what="the gated run")
        claimed = {(r[1], r[2]) for r in journal(state) if r[0] == "c"}
        guard.send_signal(signal.SIGTERM)
        assert guard.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if guard.poll() is None:
            guard.kill()
    started = {(e.id, e.attempt) for e in executions(tmp_path / "ran.txt")}
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["running"] == 0
    given_back = claimed - started
    # the batch that held the gated run had more entries than that one
    assert given_back
    ends = {(r[1], r[2]): r[5] for r in journal(state) if r[0] == "e"}
    assert {ends[c] for c in given_back} == {"interrupted"}
    (tmp_path / "gate").write_text("")
    assert run("run", "l.json", "-q", cwd=tmp_path).returncode == 0
    runs, repeats = check_ran_once(tmp_path / "ran.txt", state, keys)
    assert repeats == 0


def test_status_tells_the_run_of_a_batch_from_the_entries_only_claimed(tmp_path):
    """A worker of one slot that claimed a batch of short runs: `status`
    and the report count one running, the one that runs (by what ran),
    and the rest the journal has running as claimed: waiting their turn,
    or ended (noted: until the worker records the run's process, a
    second after its start) and not recorded yet."""
    keys, guard = gated_worker(tmp_path, 60, 20)
    state = tmp_path / "l.json.cooperate"

    def held():
        records = journal(state)
        return {r[1] for r in records if r[0] == "c"} - {r[1] for r in records if r[0] == "e"}

    def look():
        before = held()
        report = status("l.json", cwd=tmp_path)
        page = run("report", "l.json", "-o", "r.html", cwd=tmp_path)
        assert page.returncode == 0, page.stderr
        return before, report, (tmp_path / "r.html").read_text(), held()

    try:
        wait_for(lambda: any(e.key == "20" for e in executions(tmp_path / "ran.txt")),
                 timeout=120, what="the gated run")
        # nothing else starts while the gated run holds the only slot
        early = look()
        gated = [e.id for e in executions(tmp_path / "ran.txt") if e.key == "20"][0]
        wait_for(lambda: any(r[0] == "p" and r[1] == gated for r in journal(state)),
                 timeout=60, what="the gated run's process recorded")
        late = look()
        ran = executions(tmp_path / "ran.txt")
    finally:
        (tmp_path / "gate").write_text("")
        assert guard.wait(timeout=60) == 0
    assert [e.id for e in ran if not e.ended] == [gated]
    started = {e.id: e.ended for e in ran}
    for before, report, html, after in (early, late):
        assert [r["id"] for r in report["running"]] == [gated]
        claimed = {r["id"] for r in report["claimed"]}
        # the ends noted before the gated run may be recorded meanwhile
        assert after - {gated} <= claimed <= before - {gated}
        counts = report["counts"]
        assert (counts["running"], counts["claimed"]) == (1, len(claimed))
        assert sum(counts.values()) == len(keys)
        # none of the claimed ones runs: not started yet, or ended
        assert all(started.get(id_, True) for id_ in claimed)
        assert report["left"] is not None
        assert '<li class="count count-running"><b>1</b> running</li>' in html
    # the batch that holds the gated run had more entries than that one
    assert late[1]["claimed"] and late[0] == late[3]
    runs, repeats = check_ran_once(tmp_path / "ran.txt", state, keys)
    assert (len(runs), repeats) == (60, 0)


def test_a_dead_worker_s_runs_come_back_first_on_its_machine(tmp_path):
    """A worker of this machine is known dead at once: the next worker here
    takes its runs back before it claims anything else, not only once
    nothing else is pending."""
    keys = [str(i) for i in range(40)]
    write_list(tmp_path / "l.json", [gated("0", "gate")] + [effect(k) for k in keys[1:]])
    guard = start("run", "l.json", "-q", "--max-runs", "1", cwd=tmp_path,
                  stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: executions(tmp_path / "ran.txt"), what="the first run")
        os.kill(worker_pid(guard.pid), signal.SIGKILL)
        assert guard.wait(timeout=60) == 128 + signal.SIGKILL
    finally:
        if guard.poll() is None:
            guard.kill()
    (tmp_path / "gate").write_text("")
    assert run("run", "l.json", "-q", cwd=tmp_path).returncode == 0
    state = tmp_path / "l.json.cooperate"
    first = executions(tmp_path / "ran.txt")[0].id
    claims = [(r[1], r[2]) for r in journal(state) if r[0] == "c"]
    # the second worker's first claim is the first entry's second attempt
    assert claims[:2] == [(first, 1), (first, 2)]
    ends = [r for r in journal(state) if r[0] == "e" and r[1] == first]
    assert [r[5] for r in ends] == ["lost", "done"]
    runs, repeats = check_ran_once(tmp_path / "ran.txt", state, keys)
    assert repeats == 0
