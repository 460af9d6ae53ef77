"""cooperate-report: the HTML page of a sweep, checked in headless Chromium.

The sweep is made by the real commands: three simulated hosts (as in
test_faults.py) run entries that succeed, fail in two different ways, one
that is aborted while it runs, and one whose host dies under it (lost, then
done elsewhere). Chromium (Debian: chromium) loads the page from the file
with no network; the page's own script writes any error into #js-errors and
the computed colour of a bar of each outcome into #self-check."""

import collections
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from util import Host, can_unshare, command, run, start, status, wait_for, write_list

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cooperate import report  # noqa: E402

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def browse(page, tmp_path, *extra):
    """Chromium's output for a local page (the DOM after its scripts ran with
    --dump-dom), or skip the test saying why Chromium could not be used."""
    binary = chromium()
    if binary is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium chromium-driver)")
    profile = tmp_path / ("profile%d" % len(list(tmp_path.glob("profile*"))))
    try:
        result = subprocess.run([binary] + CHROMIUM_FLAGS + ["--user-data-dir=%s" % profile]
                                + list(extra) + ["file://%s" % os.path.abspath(str(page))],
                                capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip("Chromium cannot start here: %s" % error)
    if result.returncode != 0:
        print(result.stderr[-3000:])
        pytest.skip("Chromium cannot start here (exit %d): %s"
                    % (result.returncode, result.stderr.strip()[-300:]))
    return result.stdout


def dump_dom(page, tmp_path):
    dom = browse(page, tmp_path, "--dump-dom")
    assert "</html>" in dom
    return dom


def bars(dom):
    """outcome -> number of timeline bars."""
    return collections.Counter(re.findall(r'class="bar (?:agg )?outcome-(\w+)" data-outcome="\1"', dom))


def intervals(state_dir):
    """Per worker, every attempt's (start, end) from the journal itself."""
    claims, ends = {}, {}
    with open(os.path.join(state_dir, "journal")) as f:
        for line in f:
            r = json.loads(line)
            if r[0] == "c":
                claims[(r[1], r[2])] = (r[3], r[4])
            elif r[0] == "e":
                ends.setdefault((r[1], r[2]), r[4])
    out = collections.defaultdict(list)
    for key, (worker, begun) in claims.items():
        out[worker].append((begun, ends[key]))
    return out


def most_at_once(spans):
    """The largest number of intervals overlapping at once (a sweep, not
    the report's packing)."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def test_packing_uses_as_few_slots_as_overlap_needs():
    spans = [(0, 10), (1, 3), (3, 5), (2, 8), (10, 12), (5, 6), (11, 20)]
    slots = report.pack(spans)
    assert max(slots) + 1 == most_at_once(spans) == 3
    for k in set(slots):
        mine = sorted(s for s, slot in zip(spans, slots) if slot == k)
        assert all(a[1] <= b[0] for a, b in zip(mine, mine[1:]))


def test_normalised_tails_group_runs_that_differ_in_numbers_paths_and_addresses():
    a = report.normalise("ValueError: bad value 17 in /home/x/run_3/cfg.yaml at 0x7f3a2b")
    b = report.normalise("ValueError: bad value 42 in /scratch/y/run_9/cfg.yaml at 0x11aa00")
    assert a == b == "ValueError: bad value <n> in <path> at <hex>"
    assert report.normalise("CUDA out of memory") != a


def sweep_entries():
    ok = [["sh", "-c", "sleep 0.3; echo fine", "ok%d" % i] for i in range(6)]
    bad_a = [["sh", "-c", "echo working; echo 'ValueError: bad value %d in /tmp/run%d/x.yaml' >&2;"
              " exit 1" % (n, n), "bad-a%d" % n] for n in (17, 42)]
    bad_b = [["sh", "-c", "echo 'RuntimeError: CUDA out of memory' >&2; exit 3", "bad-b"]]
    lost = ["sh", "-c", "if [ -e lost.flag ]; then echo again; exit 0; fi; touch lost.flag; sleep 60",
            "lostme"]
    abort = ["sh", "-c", "sleep 60", "abortme"]
    return [lost, abort] + ok + bad_a + bad_b


@pytest.mark.skipif(not can_unshare(), reason="unshare of uts/pid namespaces is not allowed "
                    "here (needs root or user namespaces)")
def test_report_of_a_sweep_over_three_hosts_in_chromium(tmp_path):
    if chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium chromium-driver)")
    write_list(tmp_path / "l.json", sweep_entries())
    args = ("run", "l.json", "-q", "--lease", "1", "--poll", "0.2")
    hosts = [Host("host-a", tmp_path, *args, stderr=subprocess.DEVNULL)]
    try:
        def running(word):
            found = [r for r in status("l.json", cwd=tmp_path)["running"] if word in r["command"]]
            return found[0] if found else None

        lost = wait_for(lambda: running("lostme"), what="host-a to run the lost entry")
        assert lost["host"] == "host-a"
        hosts[0].kill()
        time.sleep(1.5)  # host-a's lease runs out
        hosts += [Host("host-b", tmp_path, *args, "--procs-no", "2", stderr=subprocess.DEVNULL),
                  Host("host-c", tmp_path, *args, stderr=subprocess.DEVNULL)]
        victim = wait_for(lambda: running("abortme"), what="the entry to abort to run")
        result = run("abort", "l.json", victim["id"], "-y", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        for h in hosts[1:]:
            h.process.wait(timeout=90)
    finally:
        for h in hosts:
            h.stop()
    counts = status("l.json", cwd=tmp_path)["counts"]
    assert (counts["done"], counts["failed"], counts["aborted"]) == (7, 3, 1), counts

    page = tmp_path / "report.html"
    result = run("report", "l.json", "-o", page, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = page.read_text()
    # self-contained: nothing fetched from anywhere
    assert not re.search(r'<(script|link|img)[^>]+(src|href)=', text)
    assert "http://" not in text and "https://" not in text

    dom = dump_dom(page, tmp_path)
    assert re.search(r'<pre id="js-errors"></pre>', dom), "a script error in the page"
    check = re.search(r'<div id="self-check"[^>]*>', dom).group(0)
    assert 'data-ready="yes"' in check

    # one lane per host and worker slot: as many slots per worker as its
    # attempts overlap at most
    expected = sum(most_at_once(spans) for spans in intervals(tmp_path / "l.json.cooperate").values())
    lanes = re.findall(r'<div class="lane" data-host="([^"]+)"', dom)
    assert len(lanes) == expected and {"host-a", "host-b", "host-c"} <= set(lanes), lanes
    assert lanes.count("host-a") == 1
    labels = re.findall(r'<div class="lane-label"[^>]*>([^<]+)</div>', dom)
    assert all(re.match(r"host-[abc] / host-[abc]-\S+ slot \d+$", label) for label in labels), labels

    # one bar per attempt, by outcome: 6 + the lost entry's second attempt done
    assert bars(dom) == {"done": 7, "failed": 3, "lost": 1, "aborted": 1}, bars(dom)
    for outcome in ("done", "failed", "lost", "aborted"):
        colour = report.COLOURS[outcome]
        assert ".outcome-%s{background:%s}" % (outcome, colour) in dom
        rgb = "rgb(%d, %d, %d)" % tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
        assert 'data-colour-%s="%s"' % (outcome, rgb) in check, (outcome, check)

    # two failure groups: the two ValueErrors (numbers and paths differ), the CUDA one
    groups = re.findall(r'<details class="failure-group" data-count="(\d+)"', dom)
    assert groups == ["2", "1"]
    assert "ValueError: bad value" in dom and "CUDA out of memory" in dom
    assert len(re.findall(r'<li class="failure-run"', dom)) == 3

    # the sortable table: a row per entry
    assert re.search(r'<table class="sortable" id="runs">', dom)
    assert len(re.findall(r"<tr>", dom)) == 1 + len(sweep_entries())
    assert "Throughput" in dom and '<svg class="throughput"' in dom

    shot = tmp_path / "shot.png"
    browse(page, tmp_path, "--screenshot=%s" % shot, "--window-size=1400,1000")
    assert shot.exists() and shot.stat().st_size > 20000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_table_sorts_by_a_clicked_column_and_an_experiment_shows_its_parameters(tmp_path):
    exp = tmp_path / "exp"
    (exp / ".cooperate").mkdir(parents=True)
    (exp / ".__experiment").write_text("")
    (exp / ".cooperate" / "experiment.json").write_text("{}")
    runs = [{"run": "%04d_lr_%s/0" % (i, lr), "cfg": {"optim": {"lr": lr}, "seed": 7}}
            for i, lr in enumerate((0.3, 0.01, 10, 0.2))]
    write_list(exp / ".cooperate" / "queue.json", runs)
    html = report.build(str(exp))
    # the parameter that varies is a column (from collect's table when there is one)
    heads = re.findall(r'<th data-col="(\d+)">([^<]*)</th>', html)
    col = [int(i) for i, name in heads if name == "optim.lr"]
    assert col, heads
    # a click on the column: the page sorts numerically (10 after 0.3)
    page = tmp_path / "r.html"
    page.write_text(html.replace("</body>", "<script>document.querySelector('th[data-col=\"%d\"]')"
                                            ".click();</script></body>" % col[0]))
    dom = dump_dom(page, tmp_path)
    assert '<pre id="js-errors"></pre>' in dom
    rows = re.findall(r"<tr>((?:<td>[^<]*</td>)+)</tr>", dom)
    column = [re.findall(r"<td>([^<]*)</td>", r)[col[0]] for r in rows]
    assert column == ["0.01", "0.2", "0.3", "10"], column


def test_ten_thousand_runs_are_aggregated_and_the_page_is_well_formed(tmp_path):
    n = 10000
    write_list(tmp_path / "l.json", [["true"]] * n)
    workers = [start("run", "l.json", "-q", cwd=tmp_path) for _ in range(2)]
    for w in workers:
        assert w.wait(timeout=300) == 0
    page = tmp_path / "report.html"
    made = report.write(str(tmp_path / "l.json"), str(page))
    assert made["attempts"] == n
    text = page.read_text()
    drawn = len(re.findall(r'class="bar ', text))
    assert 0 < drawn < 1000 and 'data-aggregated="yes"' in text
    assert sum(int(c) for c in re.findall(r'data-count="(\d+)"', text)) >= n
    assert text.count("<tr>") == n + 1
    if chromium() is not None:
        dom = dump_dom(page, tmp_path)
        assert '<pre id="js-errors"></pre>' in dom
        assert len(re.findall(r'class="bar ', dom)) == drawn
        assert len(re.findall(r'<div class="lane"', dom)) == 2


def test_the_command_without_a_list_is_a_user_error(tmp_path):
    result = run("report", tmp_path / "missing.json", "-o", tmp_path / "r.html")
    assert result.returncode == 2 and "error" in result.stderr
    assert not (tmp_path / "r.html").exists()
    assert command("report")[-1] == "report"
