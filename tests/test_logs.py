"""The runs' logs (issue 13): in shard folders, logs/PRE/ID.ATTEMPT.out and
.err with PRE the id's first three hex digits, so that no folder fills up
(an AFS folder holds about 64,000 names); none for a run that printed
nothing, and `status` and `report` say "no output" for it. A shard folder
that is a symbolic link or that others could change fails the run that
would write there, and the worker goes on. Logs of older state folders,
directly in logs/, are still found.

Real workers from this checkout on real lists; what ran is checked on the
files the runs leave (a marker per run, what they printed), not only on the
queue's records."""

import html
import json
import os
import pwd
import re
import subprocess
from urllib.parse import unquote

from cooperate.queue.listfile import CommandList
from test_liftoff_launch import prepare, write_grid, write_script
from util import run, start, status, write_list

N = 300


def entry(i):
    """Entry i: every run touches ran/i; by i % 10 it prints nothing (0-3),
    to stdout (4, 5), to stderr (6, 7), fails silently (8), or prints to
    stderr and fails (9)."""
    kind = i % 10
    say = {4: "echo out-$1", 5: "echo out-$1", 6: "echo err-$1 >&2", 7: "echo err-$1 >&2",
           9: "echo boom-$1 >&2; exit 4"}.get(kind, ":")
    if kind == 8:
        say = "exit 3"
    return ["sh", "-c", "touch ran/$1; " + say, "sh", str(i)]


def ids_of(path):
    return list(CommandList(str(path)).ids)


def logs_on_disk(logs):
    """{shard/name} of every file under logs/, checking that each is in a
    folder named after its id's first three hex digits, and that nothing
    else is there."""
    found = set()
    for shard in os.listdir(str(logs)):
        folder = logs / shard
        assert re.fullmatch("[0-9a-f]{3}", shard), shard
        assert folder.is_dir() and not folder.is_symlink(), folder
        for name in os.listdir(str(folder)):
            assert name[:3] == shard and (folder / name).is_file(), (shard, name)
            found.add(shard + "/" + name)
    return found


def test_only_runs_that_printed_leave_logs_each_in_its_shard(tmp_path):
    (tmp_path / "ran").mkdir()
    write_list(tmp_path / "l.json", [entry(i) for i in range(N)])
    workers = [start("run", "l.json", "-q", "--procs-no", "3", cwd=tmp_path,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for w in workers:
        w.communicate(timeout=300)
    assert [w.returncode for w in workers] in ([1, 1], [0, 1], [1, 0])
    # every entry ran, once
    assert sorted(os.listdir(str(tmp_path / "ran")), key=int) == [str(i) for i in range(N)]

    ids = ids_of(tmp_path / "l.json")
    logs = tmp_path / "l.json.cooperate" / "logs"
    expected = {}
    for i, id_ in enumerate(ids):
        kind = i % 10
        if kind in (4, 5):
            expected["%s/%s.1.out" % (id_[:3], id_)] = "out-%d\n" % i
        elif kind in (6, 7, 9):
            expected["%s/%s.1.err" % (id_[:3], id_)] = "%s-%d\n" % ("boom" if kind == 9 else "err", i)
    assert logs_on_disk(logs) == set(expected)
    for path, text in expected.items():
        assert (logs / path).read_text() == text, path

    # status: the log of a failure that printed, "no output" for a silent one
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["done"] == N - 60 and report["counts"]["failed"] == 60
    failed = {f["id"]: f for f in report["failed"]}
    silent = [ids[i] for i in range(8, N, 10)]
    loud = [ids[i] for i in range(9, N, 10)]
    assert set(failed) == set(silent) | set(loud)
    for id_ in silent:
        f = failed[id_]
        assert (f["code"], f["out"], f["err"], f["detached"]) == (3, None, None, True), f
    for id_ in loud:
        assert failed[id_]["err"] == "l.json.cooperate/logs/%s/%s.1.err" % (id_[:3], id_)
    text = run("status", "l.json", cwd=tmp_path).stdout
    lines = {line.split()[0].split("#")[0]: line for line in text.splitlines()
             if line.startswith("  ") and "#" in line}
    for id_ in silent:
        assert lines[id_].split("  ")[2:4] == ["exit 3", "no output"], lines[id_]
    for id_ in loud:
        assert "/logs/%s/%s.1.err" % (id_[:3], id_) in lines[id_], lines[id_]
    assert "--no-detach" not in text

    # the report: links to the logs that are there, "no output" for the others
    assert run("report", "l.json", "-o", "r.html", cwd=tmp_path).returncode == 0
    page = (tmp_path / "r.html").read_text()
    items = dict(re.findall(r'<li class="failure-run" data-id="([0-9a-f]+)">(.*?)</li>', page))
    assert set(items) == set(silent) | set(loud)
    for id_ in silent:
        assert items[id_].endswith('<span class="logs">(no output)</span>'), items[id_]
    for id_ in loud:
        assert re.findall(r'<a class="(log-\w+)"', items[id_]) == ["log-err"], items[id_]
    hrefs = re.findall(r'<a class="log[^"]*" href="([^"]+)"', page)
    assert len(hrefs) == len(loud) + 1  # and one group's tail
    for href in hrefs:
        assert (tmp_path / unquote(html.unescape(href))).is_file(), href
    assert "(no output)" in page

    # collect reads the same queue
    rows = [json.loads(line) for line in run("collect", "l.json", "--format", "jsonl",
                                             cwd=tmp_path).stdout.splitlines()]
    assert sorted(r["outcome"] for r in rows) == ["done"] * (N - 60) + ["failed"] * 60


def entries_in_distinct_shards(path, n):
    """A list of n entries (each touches ran/i and prints) whose ids are in
    n distinct shards; their ids."""
    entries, shards = [], set()
    i = 0
    while len(entries) < n:
        e = ["sh", "-c", "touch ran/$1; echo hi-$1", "sh", str(i)]
        write_list(path, [e])
        shard = ids_of(path)[0][:3]
        if shard not in shards:
            shards.add(shard)
            entries.append(e)
        i += 1
    write_list(path, entries)
    return ids_of(path)


def test_a_shard_folder_others_could_change_fails_its_run_and_the_worker_goes_on(tmp_path):
    (tmp_path / "ran").mkdir()
    root = os.getuid() == 0
    ids = entries_in_distinct_shards(tmp_path / "l.json", 4 if root else 3)
    logs = tmp_path / "l.json.cooperate" / "logs"
    logs.mkdir(parents=True)
    for folder in (logs.parent, logs):
        os.chmod(str(folder), 0o755)
    victim = tmp_path / "victim"
    victim.mkdir()
    # a link to a folder of the user's: the logs would land there
    os.symlink(str(victim), str(logs / ids[0][:3]))
    os.mkdir(str(logs / ids[1][:3]))
    os.chmod(str(logs / ids[1][:3]), 0o777)
    reasons = ["is a symbolic link", "every user can write it"]
    if root:
        os.mkdir(str(logs / ids[3][:3]))
        os.chown(str(logs / ids[3][:3]), 65534, 65534)
        reasons.append("it belongs to user %s" % pwd.getpwuid(65534).pw_name)
    result = run("run", "l.json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    for reason in reasons:
        assert reason in result.stderr
    # every run ran (its output goes to its log through the worker, which
    # makes the log with the first byte); nothing went through the link or
    # into a refused folder, and the runs whose output was dropped failed
    assert os.listdir(str(victim)) == []
    assert sorted(os.listdir(str(tmp_path / "ran"))) == [str(i) for i in range(len(ids))]
    assert os.listdir(str(logs / ids[1][:3])) == []
    if root:
        assert os.listdir(str(logs / ids[3][:3])) == []
    assert (logs / ids[2][:3] / ("%s.1.out" % ids[2])).read_text() == "hi-2\n"
    assert result.stderr.count("its output was dropped") == len(ids) - 1
    report = status("l.json", cwd=tmp_path)
    assert report["counts"]["done"] == 1
    assert sorted(f["id"] for f in report["failed"]) == sorted(ids[:2] + ids[3:])


def test_shard_folders_of_a_shared_queue_are_group_writable(tmp_path):
    team = tmp_path / "team"
    team.mkdir()
    os.chmod(str(team), 0o2775)
    write_list(team / "l.json", [["echo", "hi"]])
    os.chmod(str(team / "l.json"), 0o664)
    result = run("run", "l.json", "--trust-writable", cwd=team)
    assert result.returncode == 0, result.stderr
    (id_,) = ids_of(team / "l.json")
    shard = team / "l.json.cooperate" / "logs" / id_[:3]
    # the team's alone: its group, nobody else
    assert os.stat(str(shard)).st_mode & 0o7777 == 0o2770
    assert (shard / ("%s.1.out" % id_)).read_text() == "hi\n"


def test_logs_of_an_older_state_folder_directly_in_logs_are_still_found(tmp_path):
    write_list(tmp_path / "l.json", [["sh", "-c", "echo old >&2; exit 2"]])
    assert run("run", "l.json", cwd=tmp_path).returncode == 1
    (id_,) = ids_of(tmp_path / "l.json")
    logs = tmp_path / "l.json.cooperate" / "logs"
    # as an older version left it: logs/ID.ATTEMPT.err, no shard folder, a
    # worker record without "detach", and no batch headers ("o") in the journal
    os.rename(str(logs / id_[:3] / ("%s.1.err" % id_)), str(logs / ("%s.1.err" % id_)))
    os.rmdir(str(logs / id_[:3]))
    journal = logs.parent / "journal"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    records = [r for r in records if r[0] != "o"]
    for r in records:
        if r[0] == "w":
            del r[2]["detach"]
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    flat = "l.json.cooperate/logs/%s.1.err" % id_
    (failed,) = status("l.json", cwd=tmp_path)["failed"]
    assert failed["err"] == flat
    assert flat in run("status", "l.json", cwd=tmp_path).stdout
    assert run("report", "l.json", "-o", "r.html", cwd=tmp_path).returncode == 0
    page = (tmp_path / "r.html").read_text()
    assert 'href="l.json.cooperate/logs/%s.1.err"' % id_ in page
    # a new attempt goes to the shard folder, the old one stays found
    assert run("retry", "l.json", cwd=tmp_path).returncode == 0
    assert run("run", "l.json", cwd=tmp_path).returncode == 1
    (failed,) = status("l.json", cwd=tmp_path)["failed"]
    assert failed["err"] == "l.json.cooperate/logs/%s/%s.2.err" % (id_[:3], id_)
    assert [t["err"] for t in failed["attempts"]] == [flat, failed["err"]]


BODY = """
if opts.x % 2:
    print("x is", opts.x)
if opts.x > 2:
    sys.stderr.write("failing\\n")
    sys.exit(1)
"""


def test_experiment_run_folders_keep_out_and_err_without_dangling_links(tmp_path):
    write_grid(tmp_path / "configs", {"x": 0}, {"x": [1, 2, 3, 4]})
    script = write_script(tmp_path / "run.py", BODY)
    exp = prepare(tmp_path, "configs", script=script)
    result = run("run", exp, "--procs-no", "2", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    with open(os.path.join(exp, ".cooperate", "queue.json")) as f:
        runs = {e["cfg"]["x"]: e["run"] for e in json.load(f)}
    kept = set()
    for x, name in runs.items():
        folder = os.path.join(exp, name)
        for log, printed in (("out", x % 2), ("err", x > 2)):
            path = os.path.join(folder, log)
            assert os.path.isfile(path), (x, log)  # a link that does not dangle, or a file
            if printed:
                assert os.path.islink(path), (x, log)
                kept.add(os.path.realpath(path))
            else:
                assert not os.path.islink(path) and os.path.getsize(path) == 0, (x, log)
    # the state's logs are those the links lead to: x=1 out; x=3 out, err; x=4 err
    logs = os.path.join(exp, ".cooperate", "queue.json.cooperate", "logs")
    assert {os.path.realpath(os.path.join(d, n)) for d, _, names in os.walk(logs)
            for n in names} == kept
    assert len(kept) == 4, kept


def test_a_log_holds_every_byte_the_run_wrote_in_order(tmp_path):
    # far more than a pipe holds, on both streams at once, written in pieces
    # of every size; and a run that writes to a log only after a long silence
    program = ("import os, sys\n"
               "for i in range(20000):\n"
               "    os.write(1, b'%d:' % i + b'o' * (i % 300) + b'\\n')\n"
               "    if i % 7 == 0: os.write(2, b'%d\\n' % i)\n")
    write_list(tmp_path / "l.json", [["python3", "-c", program],
                                     ["sh", "-c", "sleep 1; echo late >&2; exit 5"]])
    result = run("run", "l.json", "--procs-no", "2", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    big, late = ids_of(tmp_path / "l.json")
    logs = tmp_path / "l.json.cooperate" / "logs"
    out = (logs / big[:3] / ("%s.1.out" % big)).read_bytes()
    assert out == b"".join(b"%d:" % i + b"o" * (i % 300) + b"\n" for i in range(20000))
    err = (logs / big[:3] / ("%s.1.err" % big)).read_bytes()
    assert err == b"".join(b"%d\n" % i for i in range(0, 20000, 7))
    assert logs_on_disk(logs) == {"%s/%s.1.out" % (big[:3], big), "%s/%s.1.err" % (big[:3], big),
                                  "%s/%s.1.err" % (late[:3], late)}
    assert (logs / late[:3] / ("%s.1.err" % late)).read_text() == "late\n"
