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
