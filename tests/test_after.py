"""Dependencies: an entry's "after" names entries (by name or id) that must
be done before it starts; one that waits for a failed or aborted entry is
blocked until that one is retried and succeeds.

What ran is read from the runs' side effects: each appends "KEY start TIME
PID" and, if it succeeds, "KEY end TIME PID" to ran.txt (O_APPEND: the
file's order is the order in which they happened). Nothing here sleeps to
order events: the tests wait on conditions with deadlines."""

import json
import random
import signal

import pytest

import util
from util import run, status, tree_digest, wait_for, write_list

WAIT = 60  # seconds any one wait here may take


def job(key, after=(), seconds=0.0, needs=None):
    """An entry named `key` that records its start and end in ran.txt,
    taking `seconds`; with `needs`, it fails (no end line) unless that file
    exists."""
    stamp = 'echo "%s %%s $(date +%%%%s.%%%%N) $$" >> ran.txt' % key
    script = "; ".join([stamp % "start"]
                       + (["[ -e %s ] || exit 1" % needs] if needs else [])
                       + ["sleep %s" % seconds, stamp % "end"])
    entry = {"cmd": ["sh", "-c", script, key], "name": key}
    if after:
        entry["after"] = list(after)
    return entry


def events(tmp_path):
    """[(key, "start" or "end", time)] in the order they happened."""
    path = tmp_path / "ran.txt"
    if not path.exists():
        return []
    return [(key, what, float(t)) for key, what, t, _ in
            (line.split() for line in path.read_text().splitlines())]


def started(tmp_path):
    return [key for key, what, _ in events(tmp_path) if what == "start"]


def check_after(tmp_path, pairs):
    """Each (dependency, dependent): the dependent started once, after the
    dependency's (last) end, by the file's order and by the clock."""
    seen = events(tmp_path)
    for dependency, dependent in pairs:
        ends = [(n, t) for n, (key, what, t) in enumerate(seen)
                if key == dependency and what == "end"]
        starts = [(n, t) for n, (key, what, t) in enumerate(seen)
                  if key == dependent and what == "start"]
        assert ends and len(starts) == 1, (dependency, dependent, seen)
        assert ends[-1][0] < starts[0][0] and ends[-1][1] <= starts[0][1], (
            "%s started before %s ended" % (dependent, dependency), seen)


class Workers:
    """Workers started side by side in the background, each with its output
    in a file."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.started = []

    def start(self, *args):
        out = self.tmp_path / ("worker%d.out" % len(self.started))
        with open(str(out), "w") as f:
            process = util.start("run", "l.json", *args, cwd=str(self.tmp_path),
                                 stdout=f, stderr=f)
        self.started.append((process, out))
        return process

    def output(self, n):
        return self.started[n][1].read_text()

    def stop_all(self):
        for process, _ in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            process.wait(timeout=WAIT)


@pytest.fixture
def workers(tmp_path):
    w = Workers(tmp_path)
    yield w
    for process, _ in w.started:
        if process.poll() is None:
            process.kill()
            process.wait()


def all_done(tmp_path, total):
    return status("l.json", cwd=str(tmp_path))["counts"]["done"] == total


# ---------------------------------------------------------------- ordering


def test_a_chain_runs_in_order_among_workers_with_other_work(tmp_path, workers):
    # c after b after a, written in the reverse order; independent entries
    # keep the other workers busy meanwhile
    entries = [job("c", ["b"], 0.2), job("b", ["a"], 0.2), job("a", [], 0.3)]
    entries += [job("x%d" % i, [], 0.1) for i in range(6)]
    write_list(tmp_path / "l.json", entries)
    for _ in range(3):
        workers.start("--poll", "0.1")
    for process, _ in workers.started:
        assert process.wait(timeout=WAIT) == 0
    check_after(tmp_path, [("a", "b"), ("b", "c")])
    assert sorted(started(tmp_path)) == sorted(e["name"] for e in entries)
    assert status("l.json", cwd=str(tmp_path))["counts"]["done"] == 9


def test_a_diamond_runs_its_middle_in_parallel(tmp_path, workers):
    # top, then left and right side by side on two workers, then bottom
    write_list(tmp_path / "l.json", [
        job("bottom", ["left", "right"]), job("left", ["top"], 1.5),
        job("right", ["top"], 1.5), job("top", [], 0.3)])
    for _ in range(3):
        workers.start("--wait", "--poll", "0.1")
    wait_for(lambda: all_done(tmp_path, 4), WAIT, what="the diamond")
    workers.stop_all()
    check_after(tmp_path, [("top", "left"), ("top", "right"), ("left", "bottom"),
                           ("right", "bottom")])
    seen = events(tmp_path)
    # both middle entries started before either ended: they ran at once
    first_end = min(n for n, (key, what, _) in enumerate(seen)
                    if key in ("left", "right") and what == "end")
    assert {key for key, what, _ in seen[:first_end] if what == "start"} >= {"left", "right"}


def test_ids_name_entries_too(tmp_path):
    from cooperate.queue.listfile import entry_id

    first = job("first")
    # an unnamed copy of one entry: its second copy's id is DIGEST-1
    twice = ["sh", "-c", 'echo "twice start 0 $$" >> ran.txt; echo "twice end 0 $$" >> ran.txt']
    last = job("last", [entry_id(first), entry_id(twice) + "-1"])
    write_list(tmp_path / "l.json", [last, twice, first, twice])
    assert run("run", "l.json", cwd=str(tmp_path)).returncode == 0
    seen = [(key, what) for key, what, _ in events(tmp_path)]
    assert seen.index(("first", "end")) < seen.index(("last", "start"))
    # the second copy of `twice` ended before `last` started
    assert [n for n, e in enumerate(seen) if e == ("twice", "end")][1] < seen.index(
        ("last", "start"))


# ------------------------------------------------------------ blocked entries


def test_a_failed_dependency_blocks_until_it_is_retried_and_succeeds(tmp_path):
    write_list(tmp_path / "l.json", [
        job("flaky", needs="fixed"), job("next", ["flaky"]), job("last", ["next"]),
        job("other")])
    result = run("run", "l.json", cwd=str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert sorted(started(tmp_path)) == ["flaky", "other"]
    assert ("nothing more to start: l.json has 2 pending, 1 done, 1 failed; the rest waits "
            "for dependencies: 2 blocked by a failed or aborted one") in result.stderr

    report = status("l.json", cwd=str(tmp_path))
    assert report["counts"]["blocked"] == 2 and report["counts"]["pending"] == 0
    from cooperate.queue.listfile import entry_id

    flaky, next_ = entry_id(job("flaky", needs="fixed")), entry_id(job("next", ["flaky"]))
    assert report["blocked"] == [
        {"id": next_, "waits_for": flaky, "name": "flaky", "status": "failed"},
        {"id": entry_id(job("last", ["next"])), "waits_for": next_, "name": "next",
         "status": "blocked"}]
    text = run("status", "l.json", cwd=str(tmp_path)).stdout
    assert "0 pending, 0 running, 1 done, 1 failed, 2 blocked" in text
    assert "blocked:\n  %s  waits for flaky (failed)\n" % next_ in text
    assert "waits for next (blocked)" in text

    # still blocked: another worker runs nothing
    assert run("run", "l.json", cwd=str(tmp_path)).returncode == 0
    assert sorted(started(tmp_path)) == ["flaky", "other"]

    (tmp_path / "fixed").write_text("")
    assert run("retry", "l.json", "--failed", cwd=str(tmp_path)).returncode == 0
    result = run("run", "l.json", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    check_after(tmp_path, [("flaky", "next"), ("next", "last")])
    report = status("l.json", cwd=str(tmp_path))
    assert report["counts"]["done"] == 4 and report["counts"]["blocked"] == 0
    assert report["blocked"] == []


def test_an_aborted_dependency_blocks_too(tmp_path):
    write_list(tmp_path / "l.json", [job("first"), job("second", ["first"])])
    from cooperate.queue.listfile import entry_id

    first = entry_id(job("first"))
    assert run("abort", "l.json", first, "-y", cwd=str(tmp_path)).returncode == 0
    result = run("run", "l.json", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert started(tmp_path) == []
    assert "1 blocked by a failed or aborted one" in result.stderr
    report = status("l.json", cwd=str(tmp_path))
    assert report["counts"]["blocked"] == 1 and report["counts"]["aborted"] == 1
    assert report["blocked"][0]["status"] == "aborted"
    assert run("retry", "l.json", first, cwd=str(tmp_path)).returncode == 0
    assert run("run", "l.json", cwd=str(tmp_path)).returncode == 0
    check_after(tmp_path, [("first", "second")])


def test_a_worker_with_only_waiting_entries_left_says_so(tmp_path, workers):
    # `slow` runs until the test lets it end; `then` waits for it
    slow = {"cmd": ["sh", "-c", 'echo "slow start 0 $$" >> ran.txt; '
                                "while [ ! -e go ]; do sleep 0.05; done; "
                                'echo "slow end 0 $$" >> ran.txt'], "name": "slow"}
    write_list(tmp_path / "l.json", [slow, job("then", ["slow"])])
    first = workers.start("--poll", "0.1")
    wait_for(lambda: started(tmp_path) == ["slow"], WAIT, what="slow to start")
    # nothing another worker may take: it ends at once and says why
    result = run("run", "l.json", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert ("nothing more to start: l.json has 1 pending, 1 running; the rest waits for "
            "dependencies: 1 for entries not done yet") in result.stderr
    # one with --wait waits, and takes it when it may
    waiting = workers.start("--wait", "--poll", "0.1")
    (tmp_path / "go").write_text("")
    assert first.wait(timeout=WAIT) == 0
    wait_for(lambda: all_done(tmp_path, 2), WAIT, what="then to run")
    assert waiting.poll() is None
    workers.stop_all()
    check_after(tmp_path, [("slow", "then")])


# ---------------------------------------------------------------- bad input


def check_refused(tmp_path, args, message):
    """One line, exit status 2, the list and the state as they were."""
    files = [tmp_path / "l.json", tmp_path / "l.json.cooperate"]
    before = [tree_digest(f) for f in files]
    result = run(*args, cwd=str(tmp_path))
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert message in lines[0], lines[0]
    assert [tree_digest(f) for f in files] == before
    return lines[0]


@pytest.mark.parametrize("entries,message", [
    ([job("a"), job("a"), job("b", ["a"])],
     "l.json:4: entry 2: 'after': 'a' is the name of entries 0, 1 (a name waited for must be "
     "unique)"),
    ([job("a"), job("b", ["a", "nobody"])], "l.json:3: entry 1: 'after': no entry is named 'nobody'"),
    ([job("a"), job("b", ["0123456789ab"])],
     "l.json:3: entry 1: 'after': no entry is named '0123456789ab' or has that id"),
    ([job("a", ["c"]), job("b", ["a"]), job("c", ["b"])],
     "l.json:2: entry 0: 'after' makes a cycle: entry 0 'a' waits for entry 2 'c', which waits "
     "for entry 1 'b', which waits for entry 0 'a'"),
    ([job("a"), job("b", ["b"])], "l.json:3: entry 1: 'after' makes a cycle: entry 1 'b' waits "
                                  "for itself"),
    ([dict(job("a"), after="b")], "entry 0: 'after' must be a list of entries' names or ids, "
                                  "not a string"),
    ([dict(job("a"), after=[1])], "entry 0: 'after' must hold entries' names or ids (strings), "
                                  "not a number"),
    ([dict(job("a"), after=[""])], "entry 0: 'after' must hold entries' names or ids (strings), "
                                   "not an empty string"),
], ids=["duplicate-name", "unknown-name", "unknown-id", "cycle", "self", "not-a-list",
        "not-strings", "empty-name"])
@pytest.mark.parametrize("reader", ["run", "status"])
def test_bad_dependencies_are_refused(tmp_path, entries, message, reader):
    # a list already worked on: there is state to leave alone
    write_list(tmp_path / "l.json", [["true"]])
    assert run("run", "l.json", cwd=str(tmp_path)).returncode == 0
    with open(tmp_path / "l.json", "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(e) for e in entries) + "\n]\n")
    check_refused(tmp_path, [reader, "l.json"], message)
    assert not (tmp_path / "ran.txt").exists()


def test_a_bad_dependency_appended_under_a_worker_fails_that_entry(tmp_path, workers):
    write_list(tmp_path / "l.json", [job("a")])
    workers.start("--wait", "--poll", "0.1")
    wait_for(lambda: all_done(tmp_path, 1), WAIT, what="a to run")
    write_list(tmp_path / "l.json", [job("a"), job("lost", ["nobody"]), job("b", ["a"]),
                                     job("c", ["lost"])])
    from cooperate.queue.listfile import entry_id

    lost = entry_id(job("lost", ["nobody"]))

    def ended():
        return {r[1]: r[5] for r in util.journal(str(tmp_path / "l.json.cooperate"))
                if r[0] == "e"}

    wait_for(lambda: ended().get(lost) == "failed" and ended().get(entry_id(job("b", ["a"]))),
             WAIT, what="the appended entries")
    workers.stop_all()
    assert "'after': no entry is named 'nobody'" in workers.output(0)
    # c waits for the bad entry: blocked, never run
    assert sorted(started(tmp_path)) == ["a", "b"]


# ------------------------------------------------------- claims, in the library


@pytest.mark.parametrize("shuffled", [False, True], ids=["list-order", "shuffled"])
def test_claims_from_several_queues_respect_a_random_graph(tmp_path, shuffled):
    from cooperate.queue.core import Queue

    rng = random.Random(7)
    n = 300
    entries = [{"cmd": ["true", str(i)], "name": "e%d" % i} for i in range(n)]
    for i in range(n):
        # dependencies on entries before and after it, but no cycles: on
        # entries with a higher rank only
        entries[i]["after"] = ["e%d" % j for j in rng.sample(range(n), 3) if j > i]
    rng.shuffle(entries)
    write_list(tmp_path / "l.json", entries)
    queues = [Queue(str(tmp_path / "l.json"), history=False) for _ in range(3)]
    for k, q in enumerate(queues):
        if shuffled:
            q.shuffle()
        q.join("w%d" % k, {"host": "test", "pid": k})
    after = {e["name"]: set(e.get("after", ())) for e in entries}
    done, holding, claimed = set(), [[] for _ in queues], []
    for _ in range(50 * n):
        if len(done) == n:
            break
        k = rng.randrange(3)
        ends = []
        if holding[k] and rng.random() < 0.6:
            claim = holding[k].pop(rng.randrange(len(holding[k])))
            ends.append((claim.id, claim.attempt, "done", 0, False))
            done.add(claim.entry["name"])
        claim = queues[k].take("w%d" % k, ends)
        if claim is not None:
            name = claim.entry["name"]
            assert after[name] <= done, "%s claimed before %s" % (name, after[name] - done)
            claimed.append(name)
            holding[k].append(claim)
    assert sorted(claimed) == sorted(after) and len(done) == n


def test_the_readme_example_reads(tmp_path):
    from cooperate.queue.listfile import scan

    readme = util.documentation()
    section = readme[readme.index("\n## Dependencies\n"):]
    start = section.index("```text\n") + 8
    text = section[start:section.index("\n```", start)]
    after = scan("README.md", text)[4]
    assert after == {1: (0,), 2: (0,), 3: (1, 2)}
