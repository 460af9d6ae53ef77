"""Tests run the real commands from this checkout: lib/ and the vendored
dependencies that `make` fetched into build/vendor come first on the path."""
import os
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(TOP, "lib"), os.path.join(TOP, "build", "vendor")]
