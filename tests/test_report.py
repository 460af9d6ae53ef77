"""cooperate-report: the HTML page of a sweep, checked in headless Chromium.

The sweep is made by the real commands: three simulated hosts (as in
test_faults.py) run entries that succeed, fail in two different ways, one
that is aborted while it runs, and one whose host dies under it (lost, then
done elsewhere). Chromium (Debian: chromium) loads the page from the file
with no network; the page's own script writes any error into #js-errors and
the computed colour of a bar of each outcome into #self-check."""

import collections
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from urllib.parse import urljoin, urlparse
from urllib.request import url2pathname

import pytest

from util import Host, can_unshare, command, run, start, status, wait_for, write_list

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cooperate.results import report  # noqa: E402

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


def table_html(page, id_):
    """The HTML of the table with this id."""
    start = page.index('<table class="sortable" id="%s">' % id_)
    return page[start:page.index("</table>", start)]


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
            elif r[0] == "e" and (r[1], r[2]) not in ends:
                # a run claimed in a batch says when it started (r[8])
                ends[(r[1], r[2])] = (r[4], r[8] if len(r) > 8 else None)
    out = collections.defaultdict(list)
    for key, (worker, claimed) in claims.items():
        end, begun = ends[key]
        out[worker].append((claimed if begun is None else begun, end))
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


def test_packing_from_arrays_gives_each_interval_its_slot_in_any_order():
    """pack_spans (the binned timeline's, from a worker's arrays) gives what
    a greedy packing in order of start, end and place gives: whether the
    intervals come in that order (no sort) or not, with equal intervals
    (same start and end: the earlier in place takes the lower slot)."""
    import random
    from array import array

    def greedy(intervals):
        slots, free = [0] * len(intervals), []
        for i in sorted(range(len(intervals)), key=lambda i: (intervals[i], i)):
            start, end = intervals[i]
            k = next((k for k, t in enumerate(free) if t <= start), len(free))
            free[k:k + 1] = [end]
            slots[i] = k
        return slots

    rng = random.Random(7)
    for n in (1, 2, 5, 50, 400):
        starts = [float(rng.randrange(20)) for _ in range(n)]
        intervals = [(s, s + rng.randrange(4)) for s in starts]
        for these in (intervals, sorted(intervals), sorted(intervals, reverse=True)):
            expected = greedy(these)
            assert report.pack(these) == expected
            assert report.pack_spans(array("d", [s for s, _ in these]),
                                     array("d", [e for _, e in these])) == expected
    assert report.pack([(1.0, 2.0), (1.0, 2.0), (1.0, 1.5)]) == [1, 2, 0]


def test_text_is_escaped_as_the_html_module_escapes_it():
    """The page escapes text as html.escape(text, quote=True) does (the report
    does without the html module, whose table of entities costs memory)."""
    import html

    from cooperate.results import learned

    for text in ["", "plain", "<a href=\"x\">'b' & c</a>", "&amp; &lt;", "\u00e9\u20ac<>", 3.5, None]:
        assert learned.escape(text) == html.escape(str(text), quote=True)


def test_normalised_tails_group_runs_that_differ_in_numbers_paths_and_addresses():
    a = report.normalise("ValueError: bad value 17 in /home/x/run_3/cfg.yaml at 0x7f3a2b")
    b = report.normalise("ValueError: bad value 42 in /scratch/y/run_9/cfg.yaml at 0x11aa00")
    assert a == b == "ValueError: bad value <n> in <path> at <hex>"
    assert report.normalise("CUDA out of memory") != a


def sweep_entries():
    # every run takes 0.3 s at least, the lost entry's second attempt too:
    # runs that long are claimed one by one (shorter ones in batches, which
    # may leave a host of the sweep nothing); the ones that end well wait
    # for the file `gate` too, made once every host runs one (a host started
    # late on a busy machine would find nothing left)
    ok = [["sh", "-c", "while [ ! -e gate ]; do sleep 0.05; done; sleep 0.3; echo fine",
           "ok%d" % i] for i in range(6)]
    bad_a = [["sh", "-c", "sleep 0.3; echo working; echo 'ValueError: bad value %d in "
              "/tmp/run%d/x.yaml' >&2; exit 1" % (n, n), "bad-a%d" % n] for n in (17, 42)]
    bad_b = [["sh", "-c", "sleep 0.3; echo 'RuntimeError: CUDA out of memory' >&2; exit 3",
              "bad-b"]]
    lost = ["sh", "-c", "if [ -e lost.flag ]; then sleep 0.3; echo again; exit 0; fi; touch lost.flag; "
            "sleep 60", "lostme"]
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
        wait_for(lambda: {"host-b", "host-c"} <= {
            r["host"] for r in status("l.json", cwd=tmp_path)["running"]},
            timeout=120, what="host-b and host-c to run an entry each")
        (tmp_path / "gate").write_text("")
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

    # the progress bar: a part per outcome, as many entries as it counts
    parts = dict(re.findall(r'<div class="seg outcome-(\w+)" data-part="\1" data-count="(\d+)"', dom))
    assert parts == {"done": "7", "failed": "3", "aborted": "1"}, parts

    # the sortable table: a row per entry; the table per variation: each
    # entry is one (no seed)
    assert re.search(r'<table class="sortable" id="runs">', dom)
    assert len(re.findall(r"<tr>", table_html(dom, "runs"))) == 1 + len(sweep_entries())
    assert len(re.findall(r"<tr>", table_html(dom, "variations"))) == 1 + len(sweep_entries())
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
    rows = re.findall(r"<tr>((?:<td>[^<]*</td>)+)</tr>", table_html(dom, "runs"))
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
    assert table_html(text, "runs").count("<tr>") == n + 1
    # identical entries: one variation of n runs
    assert table_html(text, "variations").count("<tr>") == 2
    assert made["variations"] == 1
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


# -- what the page shows, measured in Chromium ---------------------------------

def probe(page, tmp_path, script, *flags):
    """Run `script` (the body of a function returning something JSON can
    write) in Chromium after the page's own script, in a copy of the page
    beside it (so that its relative links stay right); its result."""
    page = str(page)
    copy = page[:-len(".html")] + "-probe.html"
    with open(page) as f:
        text = f.read()
    with open(copy, "w") as f:
        f.write(text.replace("</body>", '<pre id="probe"></pre><script>'
                             "document.getElementById('probe').textContent=JSON.stringify("
                             "(function(){%s})());</script></body>" % script))
    dom = browse(copy, tmp_path, "--dump-dom", *flags)
    assert re.search(r'<pre id="js-errors"></pre>', dom), "a script error in the page"
    found = re.search(r'<pre id="probe">([^<]*)</pre>', dom)
    assert found and found.group(1), "the probe wrote nothing"
    return json.loads(html.unescape(found.group(1)))


def drained(folder, entries):
    """A list of `entries` in `folder`, run to the end by one worker; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    write_list(folder / "l.json", entries)
    result = run("run", "l.json", "-q", cwd=folder)
    assert result.returncode in (0, 1), result.stderr
    return folder / "l.json"


def rgb(colour):
    return "rgb(%d, %d, %d)" % tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def test_the_progress_bar_shows_failed_runs_in_their_colour(tmp_path):
    """4 of 18 failed: not a solid green bar at 100%, but 14/18 green and
    4/18 red, as wide as their counts."""
    path = drained(tmp_path, [["true", str(i)] for i in range(14)]
                   + [["false", str(i)] for i in range(4)])
    page = tmp_path / "report.html"
    assert run("report", path, "-o", page).returncode == 0
    got = probe(page, tmp_path, """
        var bar=document.querySelector('.progress');
        return {width: bar.getBoundingClientRect().width,
                legend: document.querySelector('.progress-legend').textContent,
                parts: [].map.call(bar.querySelectorAll('.seg'), function(s){
                  return {part: s.getAttribute('data-part'), title: s.title,
                          width: s.getBoundingClientRect().width,
                          colour: getComputedStyle(s).backgroundColor};})};""")
    parts = {p["part"]: p for p in got["parts"]}
    assert list(parts) == ["done", "failed"], got
    for part, count in (("done", 14), ("failed", 4)):
        assert abs(parts[part]["width"] - got["width"] * count / 18) <= 1.5, got
        assert parts[part]["colour"] == rgb(report.COLOURS[part])
        assert parts[part]["title"].startswith("%d %s" % (count, part))
    assert "14 done" in got["legend"] and "4 failed" in got["legend"]


def test_progress_parts_tell_lost_and_interrupted_apart(tmp_path):
    """Every part of the bar, from a journal written by hand: an entry's
    status, and for done, failed and pending ones how their latest attempt
    ended."""
    from cooperate.queue.core import Queue

    write_list(tmp_path / "l.json", [["true", str(i)] for i in range(11)])
    queue = Queue(str(tmp_path / "l.json"), reader=True)
    queue.read()
    ids = list(queue.list.ids)
    t = time.time() - 100
    info = {"host": "gone", "pid": 1, "boot": "another-boot", "pidns": "x", "start": 1,
            "since": t, "cwd": "/", "lease": 1.0, "slots": 1}
    records = [["w", "w1", info]]
    ends = [("done", 0, False), ("failed", 1, False), ("lost", None, False),
            ("interrupted", None, False), ("lost", None, True), ("aborted", None, False),
            ("timeout", -15, False), ("pruned", None, False)]
    for id_, (outcome, code, again) in zip(ids, ends):
        records += [["c", id_, 1, "w1", t], ["e", id_, 1, "w1", t + 1, outcome, code, again]]
    # the pruned one was judged by a rule first
    records.insert(-1, ["s", ids[7], 1, "w1", t + 0.5, "asha:min:loss:1",
                        {"metric": "loss", "mode": "min", "eta": 3, "rung": 1, "step": 1,
                         "value": 2.0, "keep": False, "rank": 2, "of": 2, "cutoff": 1.0,
                         "reason": "rung 1: loss 2, rank 2 of 2, cut-off 1"}])
    records += [["h", ids[8], t], ["c", ids[9], 1, "w1", t]]  # held; running on a dead worker
    (tmp_path / "l.json.cooperate").mkdir(exist_ok=True)
    with open(str(tmp_path / "l.json.cooperate" / "journal"), "a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))
    model = report.gather(str(tmp_path / "l.json"))
    # lost: one failed for good, one pending again; nothing runs, nor is
    # claimed (by a live worker: see test_exactly_once)
    expected = dict(dict.fromkeys(report.PROGRESS, 1), lost=2, running=0, claimed=0)
    assert model["progress"] == expected, model["progress"]
    page = report.render(model)
    segs = re.findall(r'<div class="seg outcome-(\w+)" data-part="\1" data-count="(\d)" '
                      r'style="width:([\d.]+)%"', page)
    assert [p for p, _, _ in segs] == [p for p in report.PROGRESS if expected[p]]
    assert all(int(k) == expected[p] and abs(float(w) - 100.0 * int(k) / 11) < 1e-3
               for p, k, w in segs)
    for part in report.PROGRESS:
        assert ".outcome-%s{background:%s}" % (part, report.COLOURS[part]) in page


def experiment(tmp_path, runs, results):
    """An experiment folder made by hand: runs (run folder, cfg) and the
    results.json of each run folder (None: none)."""
    exp = tmp_path / "exp"
    (exp / ".cooperate").mkdir(parents=True)
    (exp / ".__experiment").write_text("")
    (exp / ".cooperate" / "experiment.json").write_text("{}")
    write_list(exp / ".cooperate" / "queue.json", [{"run": r, "cfg": c} for r, c in runs])
    for (folder, _), found in zip(runs, results):
        (exp / folder).mkdir(parents=True)
        if found is not None:
            (exp / folder / "results.json").write_text(json.dumps(found))
    return exp


def test_floats_show_six_significant_digits_and_keep_the_whole_value(tmp_path):
    results = [{"acc": 0.1 + 0.2, "big": 1234567.891, "even": 100.0, "k": 7, "x": 0.1234561},
               {"acc": 0.2, "big": 2.5, "even": 3.0, "k": 8, "x": 0.1234559}]
    exp = experiment(tmp_path, [("0000_a/0", {"a": 1}), ("0000_a/1", {"a": 1})], results)
    page = report.build(str(exp))
    runs = table_html(page, "runs")
    assert results[0]["acc"] == 0.30000000000000004
    assert '<td title="0.30000000000000004" data-v="0.30000000000000004">0.3</td>' in runs
    assert '<td title="1234567.891" data-v="1234567.891">1.23457e+06</td>' in runs
    assert "<td>100</td>" in runs and "<td>7</td>" in runs and "<td>2.5</td>" in runs
    assert not re.search(r">[^<]*0\.30000000000000004", page)  # shown nowhere as text
    # the variation's mean, as collect --aggregate gives it: no noise either
    variations = table_html(page, "variations")
    assert "<td>0.25</td>" in variations and "<td>7.5</td>" in variations
    # sorting uses the whole value: 0.123456 and 0.123456 in order
    path = tmp_path / "r.html"
    path.write_text(page)
    got = probe(path, tmp_path, """
        var th=[].filter.call(document.querySelectorAll('#runs th'),
                              function(h){return h.textContent==='x';})[0];
        th.click();
        return [].map.call(document.querySelectorAll('#runs tbody tr'), function(r){
          return r.cells[th.cellIndex].getAttribute('data-v');});""")
    assert got == ["0.1234559", "0.1234561"]


def test_the_table_per_variation_in_chromium(tmp_path):
    runs, results = [], []
    for v, lr in enumerate((0.1, 0.01)):
        for r, acc in enumerate((0.5, 0.6, 0.7)):
            runs.append(("%04d_lr_%s/%d" % (v, lr, r), {"lr": lr, "seed": 1}))
            results.append({"acc": acc + v, "note": "text"})
    exp = experiment(tmp_path, runs, results)
    page = tmp_path / "r.html"
    report.write(str(exp), str(page))
    script = """
        function shown(id){var t=document.getElementById(id);
          return t.getBoundingClientRect().height>0;}
        function cells(id){return [].map.call(document.querySelectorAll('#'+id+' tr'),
          function(r){return [].map.call(r.cells,function(c){return c.textContent;});});}
        var before=[shown('runs'),shown('variations')];
        document.getElementById('view-variations').click();
        return {before: before, after: [shown('runs'), shown('variations')],
                table: cells('variations')};"""
    got = probe(page, tmp_path, script)
    assert got["before"] == [True, False] and got["after"] == [False, True], got
    table = got["table"]
    assert table[0] == ["variation", "lr", "runs", "status", "acc.mean", "acc.std", "acc.n"]
    assert table[1:] == [["0000_lr_0.1", "0.1", "3", "3 pending", "0.6", "0.1", "3"],
                         ["0001_lr_0.01", "0.01", "3", "3 pending", "1.6", "0.1", "3"]]


LONG = "x" * 300


def long_named_sweep(folder):
    """A list with very long words everywhere: commands, entry names,
    result names and values, stderr lines; some entries fail."""
    script = ("import json, os, sys; os.makedirs('out', exist_ok=True); "
              "r = {'metric_%%d_%s' %% i: 'v' * 200 for i in range(12)}; "
              "r.update(('score_%%d_%s' %% i, i / 2) for i in range(12)); json.dump(r, "
              "open('out/' + os.environ['COOPERATE_ENTRY'] + '.json', 'w')); "
              "print('epoch 1'); sys.stderr.write('RuntimeError: ' + 'y' * 500 + '\\n'); "
              "sys.exit(int(sys.argv[1]))" % (LONG[:40], LONG[:40]))
    entries = [{"cmd": [sys.executable, "-c", script, str(i % 2), "--path=" + LONG, "--seed", "1"],
                "name": "entry-%d-%s" % (i, LONG)} for i in range(6)]
    return drained(folder, entries)


def test_the_page_fits_a_1000_px_window(tmp_path):
    path = long_named_sweep(tmp_path / LONG[:100])
    script = """
        var root=document.documentElement, out={inner: window.innerWidth};
        function measure(name){
          var box=document.querySelector('.view-' + name + ' .scroll');
          out[name]={scroll: root.scrollWidth, client: root.clientWidth,
                     table: box ? box.scrollWidth : null, box: box ? box.clientWidth : null};}
        measure('runs');
        var other=document.getElementById('view-variations');
        if(other){other.click(); measure('variations');}
        return out;"""
    # the entries' table (long commands), then with the results (many columns)
    for extra in ([], ["--results-dir", "out/{id}.json"]):
        page = tmp_path / ("report%d.html" % len(extra))
        result = run("report", path, "-o", page, *extra, cwd=path.parent)
        assert result.returncode == 0, result.stderr
        got = probe(page, tmp_path, script, "--window-size=1000,800")
        assert got["inner"] == 1000, got
        for view in ("runs", "variations"):
            m = got[view]
            assert m["scroll"] <= m["client"], (view, got)
            if extra:
                # the wide table is there, scrolling in its own box
                assert m["table"] > m["box"] > 0, (view, got)


def test_log_links_are_relative_to_where_the_report_is(tmp_path):
    long_named_sweep(tmp_path / "my lists")
    out = tmp_path / "reports here" / "deep"
    out.mkdir(parents=True)
    # -o relative to the current folder, which is neither the list's nor the page's
    result = run("report", "my lists/l.json", "-o", "reports here/deep/r.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = out / "r.html"
    text = page.read_text()
    hrefs = re.findall(r'<a class="(log|log-err|log-out)" href="([^"]+)"', text)
    assert len([h for k, h in hrefs if k == "log-err"]) == 3 and len(hrefs) == 7, hrefs
    base = page.as_uri()
    for kind, href in hrefs:
        assert not href.startswith(("/", "file:")), href
        target = url2pathname(urlparse(urljoin(base, html.unescape(href))).path)
        assert os.path.isfile(target), (href, target)
        # logs/PRE/ID.ATTEMPT.err, PRE the id's first three digits
        logs, shard = os.path.split(os.path.dirname(target))
        assert os.path.samefile(logs, str(tmp_path / "my lists" / "l.json.cooperate" / "logs"))
        assert os.path.basename(target)[:3] == shard
        if kind != "log-out":
            assert "RuntimeError: yyy" in open(target).read()
    # and as Chromium resolves them
    got = probe(page, tmp_path, """
        return [].map.call(document.querySelectorAll('a.log, a.log-err, a.log-out'),
                           function(a){return a.href;});""")
    assert len(got) == 7
    for url in got:
        assert url.startswith("file:///") and os.path.isfile(url2pathname(urlparse(url).path)), url


def test_the_throughput_chart_has_a_labelled_y_axis(tmp_path):
    path = drained(tmp_path, [["sh", "-c", "sleep 0.05", str(i)] for i in range(12)]
                   + [["false", str(i)] for i in range(3)])
    page = tmp_path / "report.html"
    assert run("report", path, "-o", page).returncode == 0
    got = probe(page, tmp_path, """
        var svg=document.querySelector('svg.throughput').getBoundingClientRect();
        return {label: document.querySelector('.chart .ylabel').textContent,
                unit: document.querySelector('.chart').getAttribute('data-unit'),
                svg: {top: svg.top, bottom: svg.bottom},
                ticks: [].map.call(document.querySelectorAll('.yaxis .tick'), function(t){
                  var r=t.getBoundingClientRect();
                  return {value: parseFloat(t.getAttribute('data-value')), text: t.textContent,
                          middle: (r.top + r.bottom) / 2, width: r.width};}),
                bars: [].map.call(document.querySelectorAll('svg.throughput rect'), function(b){
                  var r=b.getBoundingClientRect();
                  return {rate: parseFloat(b.getAttribute('data-rate')), height: r.height};})};""")
    assert got["unit"] in ("minute", "hour") and got["label"] == "runs / " + got["unit"], got
    ticks = got["ticks"]
    assert len(ticks) >= 3 and all(t["text"] and t["width"] > 0 for t in ticks), ticks
    assert ticks[0]["value"] == 0
    values = [t["value"] for t in ticks]
    assert values == sorted(values) and len(set(values)) == len(values)
    # higher values higher up, from the chart's bottom to its top
    middles = [t["middle"] for t in ticks]
    assert middles == sorted(middles, reverse=True)
    assert abs(middles[0] - got["svg"]["bottom"]) <= 2 and abs(middles[-1] - got["svg"]["top"]) <= 2
    # every bar below the top tick, drawn to its scale
    height = got["svg"]["bottom"] - got["svg"]["top"]
    top = values[-1]
    assert got["bars"] and all(b["rate"] <= top for b in got["bars"])
    for b in got["bars"]:
        assert abs(b["height"] - height * b["rate"] / top) <= 1.5, (b, top)


def test_axis_ticks_are_round_numbers():
    assert report.nice_ticks(7) == [0, 2, 4, 6, 8]
    assert report.nice_ticks(10) == [0, 2, 4, 6, 8, 10]
    assert report.nice_ticks(0.3) == [0, 0.1, 0.2, 0.3]  # not 0.30000000000000004
    assert report.nice_ticks(1234) == [0, 250, 500, 750, 1000, 1250]
    assert report.nice_ticks(1) == [0, 0.2, 0.4, 0.6, 0.8, 1]


def test_slow_runs_are_counted_per_hour():
    t0 = 1700000000.0
    runs = [{"outcome": "done", "end": t0 + h * 3600, "start": t0} for h in range(0, 10, 3)]
    chart = report._throughput({"runs": runs, "t0": t0, "t1": t0 + 10 * 3600})
    assert 'data-unit="hour"' in chart and ">runs / hour<" in chart


# -- large lists: one pass over the list, attempts binned, tables capped -------

def hand_history(folder, n=240):
    """A list of n identical entries (ids DIGEST-N) and a journal written by
    hand: three workers on two other machines whose attempts overlap (so
    several slots), every outcome, a lost attempt run again, entries held,
    aborted, never claimed, and two running: one on a worker whose
    heartbeat is fresh, one on a worker that looks dead. Returns the path."""
    from cooperate.queue.core import Queue

    folder.mkdir(parents=True, exist_ok=True)
    write_list(folder / "l.json", [["true"]] * n)
    queue = Queue(str(folder / "l.json"), reader=True)
    ids = list(queue.list.ids)
    t = time.time() - 2000
    (folder / "l.json.cooperate" / "workers").mkdir(parents=True, exist_ok=True)
    records = []
    for name, host in (("w1", "h1"), ("w2", "h1"), ("w3", "h2")):
        records.append(["w", name, {"host": host, "pid": 1, "boot": "another-boot", "pidns": "x",
                                    "start": 1, "since": t, "cwd": "/", "lease": 120.0,
                                    "slots": 2}])
        if name != "w3":  # w3 looks dead: no heartbeat
            (folder / "l.json.cooperate" / "workers" / name).touch()
    ends = [("done", 0, False)] * 5 + [("failed", 1, False), ("timeout", -15, False),
                                       ("interrupted", None, False), ("aborted", None, False)]
    for i, id_ in enumerate(ids[:n - 20]):
        worker, begun = ("w1", "w2", "w3")[i % 3], t + i * 0.5
        outcome, code, again = ends[i % len(ends)]
        if i % 17 == 3:  # lost, then done at its second attempt
            records += [["c", id_, 1, worker, begun], ["e", id_, 1, "w1", begun + 4, "lost", None, True],
                        ["c", id_, 2, "w2", begun + 6]]
            records.append(["e", id_, 2, "w2", begun + 9, "done", 0, False])
            continue
        records += [["c", id_, 1, worker, begun],
                    ["e", id_, 1, worker, begun + 3 + i % 11, outcome, code, again]]
    records += [["c", ids[-1], 1, "w1", t + 1990], ["c", ids[-2], 1, "w3", t + 1000],
                ["h", ids[-3], t], ["a", ids[-4], t]]
    with open(str(folder / "l.json.cooperate" / "journal"), "a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))
    return folder / "l.json"


def compacted(path):
    """Fold the journal into a snapshot, as workers do as they go."""
    from cooperate.queue.core import Queue

    queue = Queue(str(path))
    queue.compact_at = 1
    queue.sync()
    assert (path.parent / "l.json.cooperate" / "snapshot.1").exists()


def test_the_summary_is_what_status_says(tmp_path):
    """The report counts, in its one pass over the list, what status's
    summarise counts (and the time left, from the done entries' run time),
    before and after compaction."""
    from cooperate.results.summary import summarise
    from cooperate.queue.core import Queue

    path = hand_history(tmp_path)
    for _ in range(2):
        queue = Queue(str(path), reader=True)
        queue.read()
        expected = summarise(queue)
        got = report.gather(str(path))["summary"]
        assert got["counts"] == expected["counts"] and got["total"] == expected["total"]
        assert (got["counts"]["running"], got["counts"]["stale"]) == (1, 1)
        assert got["progress"] == expected["progress"]
        assert expected["left"] and got["left"] == pytest.approx(expected["left"], rel=1e-9)
        compacted(path)


def test_binned_attempts_draw_what_every_attempt_drew(tmp_path, monkeypatch):
    """Past MAX_BARS the timeline and the throughput chart come from a few
    binned attempts: the same page as from a dict per attempt, from the
    journal and from a snapshot."""
    from cooperate.queue.core import Queue

    monkeypatch.setattr(report, "MAX_BARS", 10)
    path = hand_history(tmp_path)
    now = time.time()
    pages = []
    for _ in range(2):
        model = report.gather(str(path), now=now)
        assert model["attempts"] > 200 and len(model["runs"]) < model["attempts"]
        queue = Queue(str(path), reader=True)
        queue.read()
        runs = report.attempts(queue, now, list(enumerate(queue.list.ids)))
        assert report.lanes(queue, runs) == model["lanes"] and len(runs) == model["attempts"]
        assert len({host for host, _, _ in model["lanes"]}) == 2 and len(model["lanes"]) > 3
        each = dict(model, runs=runs)
        page = report._timeline(model) + report._throughput(model)
        assert page == report._timeline(each) + report._throughput(each)
        assert 'data-aggregated="yes"' in page
        pages.append(page)
        compacted(path)
    assert pages[0] == pages[1]


def test_a_long_list_shows_its_first_entries(tmp_path, monkeypatch):
    """The tables show the first MAX_TABLE_ROWS entries and say how many
    more collect gives; the rest of the page counts them all."""
    monkeypatch.setattr(report, "MAX_TABLE_ROWS", 50)
    path = hand_history(tmp_path)
    model = report.gather(str(path))
    header, rows, note = model["table"]
    assert [r[0] for r in rows] == list(range(50))
    assert note == "the first 50 of 240 entries (190 more: cooperate-collect %s gives them all)" % path
    assert [r[header.index("command")] for r in rows] == ["true"] * 50
    # one variation: the first 50 entries (identical), as collect --aggregate
    assert [row[:3] for row in model["variations"][1]] == [
        ["true", 50, "5 pending, 30 done, 10 failed, 5 aborted"]]
    assert model["variations"][2] == note.replace("gives", "--aggregate gives")
    assert sum(model["progress"].values()) == 240 == model["summary"]["total"]
    page = report.render(model)
    assert table_html(page, "runs").count("<tr>") == 51
    assert "190 more: cooperate-collect" in page
