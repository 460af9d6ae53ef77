"""Tests run the real commands from this checkout: lib/ and the vendored
dependencies that `make` fetched into build/vendor come first on the path.
Workers remember the lists they join in XDG_STATE_HOME (for `procs`): the
tests' workers do so in a folder of their own, removed at the end."""
import atexit
import os
import shutil
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(TOP, "lib"), os.path.join(TOP, "build", "vendor")]

os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="cooperate-tests-state-")
atexit.register(shutil.rmtree, os.environ["XDG_STATE_HOME"], True)

# The slow tier: tests that kill processes, make namespaces (simulated hosts),
# real users, or start services (Slurm, sshd, Chromium, the NFS test bed),
# build the archive or its caches under every Python, or simply take longest
# (launches, waits, GPU slots, golden comparisons), so that the fast tier
# stays near two minutes. `make test` runs the fast tier first (stopping at
# its first failure), then these.
SLOW = {
    # kills, namespaces, users, services, every Python
    "test_asha_hosts.py",
    "test_archive.py", "test_clocks.py", "test_compaction.py", "test_escape.py",
    "test_exactly_once.py", "test_faults.py", "test_first_hour.py", "test_install.py",
    "test_liftoff_interrupt.py", "test_liftoff_launch.py", "test_nfs.py", "test_notify.py",
    "test_output.py", "test_queue.py", "test_read_only.py", "test_report.py",
    "test_report_answers.py", "test_run_limits.py", "test_sleep.py", "test_slurm.py",
    "test_spawn.py", "test_startup.py", "test_trust.py", "test_trust_attacks.py",
    # the longest of the rest
    "test_golden.py", "test_gpus_multi.py", "test_liftoff_cli.py", "test_wait.py",
}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: the slow tier (see conftest.SLOW)")


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        if os.path.basename(str(item.fspath)) in SLOW:
            item.add_marker(pytest.mark.slow)
