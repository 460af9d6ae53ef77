"""Clocks that disagree (issue 19, item 4): simulated hosts (their own host
name and pid namespace, so that leases are judged by heartbeats, not by
pids) whose clocks are 10 minutes ahead or behind, through libfaketime.
A live run is never taken back, a dead host's run is taken back after the
lease (not 10 minutes later), and commands run once on a machine whose
clock is ahead neither record a live remote run as lost nor show it stale.
Counted by what ran."""

import glob
import os

import pytest

import effects
import util
from util import check_ran_once, needs_unshare, run, status, wait_for

LIBS = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
              + glob.glob("/usr/lib/faketime/libfaketime.so.1")
              + glob.glob("/usr/local/lib/faketime/libfaketime.so.1"))
needs_faketime = pytest.mark.skipif(not LIBS, reason="libfaketime is not installed "
                                    "(apt-get install faketime)")


def skewed(offset):
    """An environment whose processes see the time `offset` ("+600s") away."""
    return dict(os.environ, LD_PRELOAD=LIBS[0], FAKETIME=offset, FAKETIME_NO_CACHE="1")


def executions(tmp_path):
    return effects.executions(str(tmp_path / "ran.txt"))


@needs_unshare
@needs_faketime
def test_clocks_ahead_and_behind_never_take_a_live_run_back(tmp_path):
    util.write_list(tmp_path / "l.json", [effects.effect("a", ticks=150, tick=0.04)])
    args = ("run", "l.json", "-q", "--lease", "2", "--poll", "0.1")
    holder = util.Host("behind", tmp_path, *args, env=skewed("-600s"))
    other = None
    try:
        wait_for(lambda: executions(tmp_path), 60, what="the run to start")
        other = util.Host("ahead", tmp_path, *args, "--wait", env=skewed("+600s"))
        # commands run once here, 10 minutes ahead: the remote run is running
        shown = run("status", "l.json", "--json", cwd=tmp_path, env=skewed("+600s"))
        assert '"stale": false' in shown.stdout and '"stale": true' not in shown.stdout
        again = run("retry", "l.json", cwd=tmp_path, env=skewed("+600s"))
        assert again.returncode == 0, again.stderr
        assert holder.process.wait(timeout=120) == 0
        wait_for(lambda: status(tmp_path / "l.json")["counts"]["done"] == 1, 60,
                 what="the entry to be done")
    finally:
        holder.stop()
        if other is not None:
            other.stop()
    ran, repeats = check_ran_once(str(tmp_path / "ran.txt"), tmp_path / "l.json.cooperate",
                                  ["a"])
    assert len(ran) == 1 and not repeats


@needs_unshare
@needs_faketime
def test_a_dead_host_s_run_is_taken_back_after_the_lease_whatever_the_clocks(tmp_path):
    # the first attempt would run for 5 minutes, a later one ends at once
    script = ('e() { echo "$1 a $COOPERATE_ENTRY $COOPERATE_ATTEMPT $COOPERATE_WORKER $$" '
              '>> ran.txt; }; e start; [ "$COOPERATE_ATTEMPT" = 1 ] && sleep 300; e end')
    util.write_list(tmp_path / "l.json", [["sh", "-c", script], effects.effect("b")])
    args = ("run", "l.json", "-q", "--lease", "2", "--poll", "0.1")
    dead = util.Host("dead", tmp_path, *args, env=skewed("+600s"))
    wait_for(lambda: executions(tmp_path), 60, what="the run to start")
    dead.kill()
    taker = util.Host("behind", tmp_path, *args, env=skewed("-600s"))
    try:
        # the lease is 2 s: 10 minutes would be far past this deadline
        assert taker.process.wait(timeout=120) == 0
    finally:
        taker.stop()
    counts = status(tmp_path / "l.json")["counts"]
    assert counts["done"] == 2, counts
    attempts = [e.attempt for e in executions(tmp_path) if e.key == "a"]
    assert attempts == [1, 2]
