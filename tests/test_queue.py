"""The queue's promises, with real workers on real files: every entry runs
exactly once, a killed worker leaves readable state, the list can change
under running workers."""

import collections
import json
import os
import re
import signal
import subprocess

from util import freeze_holding_lock, journal, run, start, status, wait_for, worker_pid, write_list


def appender(i, out="ran.txt"):
    """An entry that appends its id to a file: the proof that it ran."""
    return ["sh", "-c", 'echo "$COOPERATE_ENTRY" >> %s' % out, str(i)]


def test_every_entry_runs_exactly_once_with_8_workers(tmp_path):
    n = 2000
    write_list(tmp_path / "l.json", [appender(i) for i in range(n)])
    workers = [start("run", "l.json", "-q", cwd=tmp_path) for _ in range(8)]
    codes = [w.wait(timeout=300) for w in workers]
    assert codes == [0] * 8
    ran = (tmp_path / "ran.txt").read_text().split()
    counts = collections.Counter(ran)
    assert len(counts) == n
    assert set(counts.values()) == {1}
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["done"] == n
    # each entry was claimed once, and more than one worker did the work
    claims = [r for r in journal(tmp_path / "l.json.cooperate") if r[0] == "c"]
    assert len(claims) == n
    assert len({r[3] for r in claims}) > 1


def test_identical_entries_are_distinct_and_the_list_can_grow_and_reorder(tmp_path):
    lst = tmp_path / "l.json"
    write_list(lst, [appender("a"), appender("a"), appender("b")])
    assert run("run", "l.json", "-q", cwd=tmp_path).returncode == 0
    assert len((tmp_path / "ran.txt").read_text().split()) == 3
    # regenerate the list: reordered, one more copy and a new entry
    write_list(lst, [appender("c"), appender("a"), appender("b"), appender("a"), appender("a")])
    result = run("run", "l.json", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    ran = (tmp_path / "ran.txt").read_text().split()
    assert len(ran) == 5, "only the third copy of a and c are new"
    assert len(set(ran)) == 5
    assert status("l.json", cwd=tmp_path)["counts"]["done"] == 5


def test_copies_known_by_their_text_get_the_ids_of_entries_read_one_by_one():
    """scan reads a copy that follows its entry by comparing text, not by
    parsing it: the ids, marks and problems must be what reading each entry
    on its own gives."""
    from cooperate.queue.listfile import scan

    pieces = ['["a"]', '["a"]', ' ["a"] ', '["a","b"]', '["a", "b"]', '["executed","x"]',
              '["executed","x"]', '["executed"]', '["executed"]', '["executedx"]', '["a"]',
              '["\\u0061"]', '"echo hi"', '"echo hi"', '{"cmd": ["a"]}', '{"cmd": ["a"]}',
              '[""]', '[""]', '["a\\u0000"]', '["a\\u0000"]', '[1]', '["a"]']
    offsets, ids, executed, problems, _ = scan("l.json", "[%s\n]" % ",\n ".join(pieces),
                                               strict=False)
    seen, expected_ids, expected_marks, expected_problems = collections.Counter(), [], [], {}
    for i, piece in enumerate(pieces):
        _, alone, marks, bad, _ = scan("l.json", "[%s]" % piece, strict=False)
        copy = seen[alone[0]]
        seen[alone[0]] += 1
        expected_ids.append("%s-%d" % (alone[0], copy) if copy else alone[0])
        if marks:
            expected_marks.append(i)
        if bad:
            expected_problems[i] = bad[0]
    assert list(ids) == expected_ids
    assert all(list(ids.iter_from(k)) == expected_ids[k:] for k in range(len(pieces) + 1))
    assert [ids.index(id_) for id_ in expected_ids] == list(range(len(pieces)))
    assert ids.index(expected_ids[0] + "-9") is None
    assert executed == expected_marks == [5, 6, 7, 8]
    assert problems == expected_problems and sorted(problems) == [16, 17, 18, 19, 20]
    assert len(offsets) == len(pieces)


def test_entries_appended_while_workers_run_are_picked_up(tmp_path):
    lst = tmp_path / "l.json"
    # the first entry waits until the test appended more entries
    write_list(lst, [["sh", "-c", "while [ ! -e go ]; do sleep 0.01; done"]])
    worker = start("run", "l.json", "-q", cwd=tmp_path)
    wait_for(lambda: status("l.json", cwd=tmp_path)["counts"]["running"] == 1, what="first run")
    write_list(lst, [["sh", "-c", "while [ ! -e go ]; do sleep 0.01; done"]]
               + [appender(i) for i in range(5)])
    (tmp_path / "go").touch()
    assert worker.wait(timeout=60) == 0
    assert len((tmp_path / "ran.txt").read_text().split()) == 5


def test_string_and_object_entries_run_without_a_shell(tmp_path):
    (tmp_path / "sub").mkdir()
    write_list(tmp_path / "l.json", [
        "printf '%s|' 'a b' $HOME;",
        {"cmd": ["sh", "-c", 'pwd > where; echo "$X" > x'], "cwd": "sub", "env": {"X": "42"},
         "name": "in sub"},
        ["executed", "python", "main.py"],
    ])
    result = run("run", "l.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["done"] == 3, "the executed entry counts as done"
    logs = tmp_path / "l.json.cooperate" / "logs"
    outs = [p.read_text() for p in logs.glob("*/*.out")]
    # no shell: `$HOME` and `;` reach printf as they are
    assert "a b|$HOME;|" in outs
    assert (tmp_path / "sub" / "where").read_text().strip() == str(tmp_path / "sub")
    assert (tmp_path / "sub" / "x").read_text() == "42\n"
    # the executed entry never ran, the silent one left no log
    assert len(list(logs.glob("*/*"))) == 1


def test_runs_see_their_entry_attempt_and_worker(tmp_path):
    write_list(tmp_path / "l.json", [
        ["sh", "-c", 'echo "$COOPERATE_ENTRY $COOPERATE_ATTEMPT $COOPERATE_WORKER" > env.txt']])
    assert run("run", "l.json", cwd=tmp_path).returncode == 0
    entry, attempt, worker = (tmp_path / "env.txt").read_text().split()
    claim = [r for r in journal(tmp_path / "l.json.cooperate") if r[0] == "c"][0]
    assert [entry, int(attempt), worker] == claim[1:4]


def test_a_failed_command_is_recorded_and_the_worker_goes_on(tmp_path):
    write_list(tmp_path / "l.json", [["sh", "-c", "echo oops >&2; exit 3"],
                                     ["no-such-program-here"], appender(1)])
    result = run("run", "l.json", cwd=tmp_path)
    assert result.returncode == 1
    assert (tmp_path / "ran.txt").read_text().split(), "the entry after the failures ran"
    report = status("l.json", cwd=tmp_path)
    assert report["counts"] == {"pending": 0, "running": 0, "claimed": 0, "done": 1, "failed": 2,
                                "stale": 0, "aborted": 0, "held": 0}
    codes = sorted(f["code"] for f in report["failed"])
    assert codes == [3, 127]
    for f in report["failed"]:
        assert os.path.exists(tmp_path / f["err"])
    errs = {f["code"]: (tmp_path / f["err"]).read_text() for f in report["failed"]}
    assert errs[3] == "oops\n"
    assert "no-such-program-here" in errs[127]
    text = run("status", "l.json", cwd=tmp_path).stdout
    assert "exit 3" in text and "exit 127" in text and report["failed"][0]["err"] in text


def test_stop_on_error_and_max_runs(tmp_path):
    write_list(tmp_path / "l.json", [["false"]] + [appender(i) for i in range(4)])
    assert run("run", "l.json", "--stop-on-error", cwd=tmp_path).returncode == 1
    assert not (tmp_path / "ran.txt").exists()
    assert run("run", "l.json", "--max-runs", "2", cwd=tmp_path).returncode == 0
    assert len((tmp_path / "ran.txt").read_text().split()) == 2
    assert status("l.json", cwd=tmp_path)["counts"]["pending"] == 2


def test_retry_makes_failed_entries_pending_again(tmp_path):
    write_list(tmp_path / "l.json", [["sh", "-c", "echo try >&2; [ -e fixed ] || exit 1"],
                                     appender(1)])
    assert run("run", "l.json", cwd=tmp_path).returncode == 1
    failed = status("l.json", cwd=tmp_path)["failed"]
    (tmp_path / "fixed").touch()
    result = run("retry", "l.json", "--failed", cwd=tmp_path)
    assert result.returncode == 0 and failed[0]["id"] in result.stdout
    assert status("l.json", cwd=tmp_path)["counts"]["pending"] == 1
    assert run("run", "l.json", cwd=tmp_path).returncode == 0
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["done"] == 2
    # both attempts' logs are kept
    logs = sorted(p.name for p in (tmp_path / "l.json.cooperate" / "logs").glob(
        "*/%s.*.err" % failed[0]["id"]))
    assert logs == [failed[0]["id"] + ".1.err", failed[0]["id"] + ".2.err"]
    # by id prefix; unknown ids are an error
    assert run("retry", "l.json", failed[0]["id"][:6], cwd=tmp_path).returncode == 0
    bad = run("retry", "l.json", "ffffffffffff", cwd=tmp_path)
    assert bad.returncode == 2 and "no entry 'ffffffffffff' in l.json" in bad.stderr


def test_no_detach_prints_to_the_terminal(tmp_path):
    write_list(tmp_path / "l.json", [["echo", "to-terminal"]])
    result = run("run", "l.json", "--no-detach", cwd=tmp_path)
    assert result.returncode == 0
    assert "to-terminal" in result.stdout
    assert not list((tmp_path / "l.json.cooperate" / "logs").glob("**/*.out"))


def test_worker_killed_while_holding_the_lock_and_running_a_command(tmp_path):
    entries = [["sh", "-c", "echo $$ > long.pid; exec sleep 60"]] + [["true", str(i)] for i in range(20000)]
    write_list(tmp_path / "l.json", entries)
    lock = tmp_path / "l.json.cooperate" / "lock"
    guard = start("run", "l.json", "-q", "--procs-no", "2", cwd=tmp_path)
    try:
        wait_for(lambda: (tmp_path / "long.pid").exists(), what="the long command to start")
        worker = worker_pid(guard.pid)
        freeze_holding_lock(worker, lock)
        os.kill(worker, signal.SIGKILL)
        # its guard kills its runs, then exits
        assert guard.wait(timeout=60) == 128 + signal.SIGKILL
    finally:
        if guard.poll() is None:
            guard.kill()
    pid = int((tmp_path / "long.pid").read_text())
    assert not os.path.exists("/proc/%d" % pid), "the long command died with its worker"
    report = status("l.json", cwd=tmp_path)
    long_id = [r for r in report["running"] if "sleep 60" in r["command"]]
    assert long_id and long_id[0]["stale"], "the entry it held shows as stale"
    assert report["counts"]["stale"] >= 1
    assert "unreadable_records" not in report
    text = run("status", "l.json", cwd=tmp_path)
    assert text.returncode == 0 and "STALE" in text.stdout
    # a new worker takes the lock the dead one held and goes on
    result = run("run", "l.json", "-q", "--max-runs", "5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert run("retry", "l.json", "--failed", cwd=tmp_path).returncode == 0


def test_a_torn_last_record_is_ignored_and_repaired(tmp_path):
    write_list(tmp_path / "l.json", [appender(i) for i in range(3)])
    assert run("run", "l.json", "--max-runs", "1", cwd=tmp_path).returncode == 0
    path = tmp_path / "l.json.cooperate" / "journal"
    good = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'["c","abc')
    assert status("l.json", cwd=tmp_path)["counts"] == {
        "pending": 2, "running": 0, "claimed": 0, "done": 1, "failed": 0, "stale": 0, "aborted": 0,
        "held": 0}
    assert run("run", "l.json", cwd=tmp_path).returncode == 0
    data = path.read_bytes()
    assert data.startswith(good) and b'["c","abc' not in data
    assert all(json.loads(line) for line in data.splitlines())
    assert status("l.json", cwd=tmp_path)["counts"]["done"] == 3


def test_records_of_the_wrong_shape_are_skipped_as_unreadable(tmp_path):
    # records that are JSON but not what their readers need: a hand edit, a
    # disk that lied, another version's writer
    from cooperate.queue.listfile import entry_id

    write_list(tmp_path / "l.json", [appender(i) for i in range(4)])
    assert run("run", "l.json", "--max-runs", "1", cwd=tmp_path).returncode == 0
    first = (tmp_path / "ran.txt").read_text().split()
    ids = [entry_id(appender(i)) for i in range(4) if entry_id(appender(i)) != first[0]]
    bad = [7, [], ["c"], ["c", 5, 1, "w", 1.0], ["c", ids[0], "1", "w", 1.0],
           ["c", ids[1], 1, "w", "noon"], ["e", ids[0]], ["e", [ids[0]], 1, "w", 1.0, "done", 0],
           ["e", first[0], 1, "w", 1.0, "done", "0"], ["w", "w"], ["w", "w", {"pid": "1"}],
           ["w", "w", {"host": ["h"]}],
           ["p", ids[2], 1, "1", None], ["h", ids[2], "now"], ["a", None, 1.0], ["q", "w", 1.0, "0"]]
    path = tmp_path / "l.json.cooperate" / "journal"
    body = b"".join(json.dumps(r).encode() + b"\n" for r in bad)
    with open(path, "ab") as f:
        # one batch, as a writer holding the lock appends it
        f.write(b'["o",%d,%d]\n' % (f.tell(), len(body)) + body)
    report = status("l.json", cwd=tmp_path)
    assert report["unreadable_records"] == len(bad)
    assert report["counts"]["pending"] == 3 and report["counts"]["done"] == 1
    text = run("status", "l.json", cwd=tmp_path)
    assert text.returncode == 0 and "%d unreadable records" % len(bad) in text.stdout
    result = run("report", "l.json", "-o", "r.html", cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    result = run("run", "l.json", "-q", cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    ran = (tmp_path / "ran.txt").read_text().split()
    assert sorted(ran) == sorted(set(ran)) and len(ran) == 4
    assert status("l.json", cwd=tmp_path)["counts"]["done"] == 4


def test_sigterm_stops_runs_as_groups_and_makes_them_pending(tmp_path):
    # each run starts a child that ignores TERM: only the group KILL ends it
    script = "trap '' TERM; sh -c 'trap \"\" TERM; echo $$ >> kids; exec sleep 60' & wait"
    write_list(tmp_path / "l.json", [["sh", "-c", script, str(i)] for i in range(2)])
    worker = start("run", "l.json", "--procs-no", "2", "--grace", "0.5", cwd=tmp_path,
                   stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (tmp_path / "kids").exists() and
             len((tmp_path / "kids").read_text().split()) == 2, what="two runs")
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=30)
    assert worker.returncode == 128 + signal.SIGTERM
    assert "pending again" in err
    for pid in (tmp_path / "kids").read_text().split():
        assert not os.path.exists("/proc/%s" % pid) or \
            open("/proc/%s/stat" % pid).read().split(") ")[1].startswith("Z"), "no orphan survives"
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["pending"] == 2
    ends = [r for r in journal(tmp_path / "l.json.cooperate") if r[0] == "e"]
    assert [r[5] for r in ends] == ["interrupted", "interrupted"]


def test_wait_mode_runs_entries_appended_later(tmp_path):
    lst = tmp_path / "l.json"
    write_list(lst, [])
    worker = start("run", "l.json", "--wait", "--poll", "0.05", "-q", cwd=tmp_path)
    try:
        wait_for(lambda: (tmp_path / "l.json.cooperate" / "journal").exists(), what="worker start")
        write_list(lst, [appender(1), appender(2)])
        wait_for(lambda: (tmp_path / "ran.txt").exists() and
                 len((tmp_path / "ran.txt").read_text().split()) == 2, what="appended entries")
        assert worker.poll() is None, "a waiting worker keeps waiting"
    finally:
        worker.send_signal(signal.SIGINT)
        assert worker.wait(timeout=30) == 128 + signal.SIGINT


GPU_PROBE = r"""
import fcntl, json, os, sys, time
gpu = os.environ["CUDA_VISIBLE_DEVICES"]
def change(delta):
    with open("gpus.json", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        data = json.loads(f.read() or "{}")
        now = data.setdefault("now", {}); peak = data.setdefault("peak", {})
        now[gpu] = now.get(gpu, 0) + delta
        peak[gpu] = max(peak.get(gpu, 0), now[gpu])
        f.seek(0); f.truncate(); f.write(json.dumps(data))
change(1)
time.sleep(0.1)  # the run's work: it must overlap with others to test the limit
change(-1)
"""


def test_gpu_slots_are_shared_by_all_workers_on_the_host(tmp_path):
    (tmp_path / "probe.py").write_text(GPU_PROBE)
    import sys
    write_list(tmp_path / "l.json", [[sys.executable, "probe.py", str(i)] for i in range(24)])
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path / "runtime"))
    args = ("run", "l.json", "-q", "--gpus", "0,1", "--per-gpu", "2", "--procs-no", "8",
            "--poll", "0.02")
    workers = [start(*args, cwd=tmp_path, env=env) for _ in range(2)]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    data = json.loads((tmp_path / "gpus.json").read_text())
    assert data["now"] == {"0": 0, "1": 0}
    assert max(data["peak"].values()) <= 2
    assert status("l.json", cwd=tmp_path)["counts"]["done"] == 24


def test_exit_if_busy_never_stacks_workers_up(tmp_path):
    write_list(tmp_path / "l.json", [["sh", "-c", "while [ ! -e go ]; do sleep 0.01; done", str(i)]
                                     for i in range(4)])
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path / "runtime"))
    args = ("run", "l.json", "--gpus", "0", "--exit-if-busy", "--wait", "--poll", "0.1")
    first = start(*args, cwd=tmp_path, env=env)
    try:
        wait_for(lambda: status("l.json", cwd=tmp_path)["counts"]["running"] == 1, what="a run")
        # as cron would: the same line again and again, while the first works
        for _ in range(5):
            again = run(*args, cwd=tmp_path, env=env)
            assert again.returncode == 0
            # with the time it was said, as every worker line
            assert re.fullmatch(r"\d\d:\d\d:\d\d GPU slots 0 busy on this host: not starting "
                                r"another worker", again.stderr.strip()), again.stderr
        assert status("l.json", cwd=tmp_path)["counts"]["running"] == 1
        # without --gpus: one worker per list on this host
        alone = run("run", "l.json", "--exit-if-busy", cwd=tmp_path)
        assert alone.returncode == 0 and "l.json busy on this host" in alone.stderr
    finally:
        (tmp_path / "go").touch()
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)


def test_status_watch_repeats_until_interrupted(tmp_path):
    # pending, and no worker: not finished, so --watch goes on (a finished
    # list ends it: tests/test_wait.py)
    write_list(tmp_path / "l.json", [["true"]])
    watcher = start("status", "l.json", "--watch", "0.05", cwd=tmp_path, stdout=subprocess.PIPE,
                    text=True)
    try:
        lines = []
        wait_for(lambda: lines.append(watcher.stdout.readline()) or
                 sum(line.startswith("l.json: 1 entry:") for line in lines) >= 2,
                 what="two reports")
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=30) == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert sum(line.startswith("--- ") for line in lines) >= 2, "off a terminal: plain blocks"


def test_status_says_which_worker_made_what(tmp_path):
    write_list(tmp_path / "l.json", [["true", str(i)] for i in range(3)] + [["false"]])
    assert run("run", "l.json", cwd=tmp_path).returncode == 1
    report = status("l.json", cwd=tmp_path)
    (worker,) = report["workers"]
    assert worker["entries"] == {"done": 3, "failed": 1}
    assert worker["worker"] in run("status", "l.json", cwd=tmp_path).stdout
