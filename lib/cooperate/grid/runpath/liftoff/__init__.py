"""The `liftoff` that a run of an experiment finds on its PYTHONPATH, where
cooperate.grid.hooks puts this folder's parent: after the user's own
entries, and holding nothing but this package, so that nothing of the
toolkit's (its vendored PyYAML in particular) comes before the user's
packages.

Importing it gives, in its place:
- a `liftoff` found on sys.path after this folder (one the user installed
  in the Python's site-packages, real liftoff for instance), as if this
  folder were not there;
- else the toolkit's liftoff shim (lib/liftoff of a checkout, or the
  archive's), with the toolkit's own folders appended to the end of
  sys.path, after everything of the user's: the shim's imports (PyYAML,
  cooperate) take the user's copies where there are some, the toolkit's
  only where there are none.
"""

import importlib.machinery
import importlib.util
import os
import sys


def _toolkit_roots(here):
    """The folders the toolkit runs from: the one holding cooperate/ (lib/
    of a checkout, or the archive), and a checkout's build/vendor."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    roots = [root]
    vendor = os.path.join(os.path.dirname(root), "build", "vendor")
    if not os.path.isfile(root) and os.path.isdir(vendor):
        roots.append(vendor)
    return roots


def _replace_me():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    places = [os.path.abspath(p or os.curdir) for p in sys.path]
    after = sys.path[places.index(here) + 1:] if here in places else [
        p for p, place in zip(sys.path, places) if place != here]
    spec = importlib.machinery.PathFinder.find_spec(__name__, after)
    if spec is None:
        roots = _toolkit_roots(here)
        sys.path.extend(r for r in roots if r not in sys.path)
        spec = importlib.machinery.PathFinder.find_spec(__name__, roots[:1])
        if spec is None:
            raise ImportError("the toolkit's liftoff package is not in %s" % roots[0],
                              name=__name__)
    module = importlib.util.module_from_spec(spec)
    # the import that loads this module gives what sys.modules holds once
    # it has run: the module loaded here
    sys.modules[__name__] = module
    if hasattr(spec.loader, "exec_module"):
        spec.loader.exec_module(module)
    else:
        # zipimport before Python 3.10: loads into the module sys.modules holds
        spec.loader.load_module(__name__)


_replace_me()
