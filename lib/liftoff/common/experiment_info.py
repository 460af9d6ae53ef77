"""``liftoff.common.experiment_info``: liftoff 0.3.3's helpers to find
experiments and runs, with the same results on the same folders, quirks
included:

- ``is_yaml(path)``: False unless ``path`` is a file; True when the file
  loads as YAML (an empty file does). A file that fails to load, or to be
  read, raises AttributeError, raised while handling that error (its
  ``__context__``): liftoff's meant to
  return False for a scanner error but named a class PyYAML does not export,
  so it raised AttributeError for every such file.
- ``is_experiment(path)``: whether ``path`` is a folder holding a file
  ``.__experiment``.
- ``get_experiment_paths(experiment, results_path, timestamp_fmt,
  latest=False)``: the paths of the experiments in ``results_path`` whose
  name contains ``experiment`` (None: any), in the order ``os.scandir``
  gives; [] when ``results_path`` is not a folder. With ``latest``: a list
  of one path, that of the experiment whose name's part before the first
  ``_`` is the latest time read with ``timestamp_fmt`` (names that do not
  read are skipped; the first one found wins a tie), or ``[None]``.
- ``experiment_matches(run_path, filters)``: whether the config in
  ``run_path``/cfg.yaml matches every ``dotted.key=value`` item of the list
  ``filters``, the value converted with the type of the config's value
  (so ``bool("False")`` is True). As in liftoff: a filter ``key=None`` ends
  the check with whether that value is None, ignoring the filters after it;
  a filter naming a missing key or whose value does not convert prints the
  error and gives False; a path through something other than a dict, a
  filters argument that is not a list, or an item without exactly one
  ``=`` fail an assertion.
"""

import os
from datetime import datetime

__all__ = ["is_yaml", "is_experiment", "get_experiment_paths", "experiment_matches"]


def is_yaml(path):
    """Whether ``path`` is a file that loads as YAML (see the module's
    docstring for liftoff's AttributeError)."""
    if not os.path.isfile(path):
        return False
    import yaml

    try:
        with open(path) as handle:
            yaml.safe_load(handle)
    except Exception as err:
        raise AttributeError(
            "is_yaml(%r): the file does not load as YAML: %s (liftoff 0.3.3's is_yaml "
            "raises AttributeError for such a file)" % (path, " ".join(str(err).split())))
    return True


def is_experiment(path):
    """Whether ``path`` is a folder with a ``.__experiment`` file in it."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, ".__experiment"))


def get_experiment_paths(experiment, results_path, timestamp_fmt, latest=False):
    """The experiments in ``results_path`` named with ``experiment``, or the
    latest of them (see the module's docstring)."""
    if experiment is None:
        experiment = ""
    if not os.path.isdir(results_path):
        return []
    paths = []
    newest = None  # (time, path)
    with os.scandir(results_path) as entries:
        for entry in entries:
            if not (is_experiment(entry.path) and experiment in entry.name):
                continue
            if not latest:
                paths.append(entry.path)
                continue
            try:
                when = datetime.strptime(entry.name.split("_")[0], timestamp_fmt)
            except ValueError:
                continue
            if newest is None or when > newest[0]:
                newest = (when, entry.path)
    if latest:
        return [None if newest is None else newest[1]]
    return paths


def experiment_matches(run_path, filters):
    """Whether the run's cfg.yaml matches the ``key=value`` filters (see the
    module's docstring)."""
    import yaml

    with open(os.path.join(run_path, "cfg.yaml")) as handle:
        config = yaml.safe_load(handle)
    assert isinstance(filters, list)
    assert all(len(item.split("=")) == 2 for item in filters)
    for item in filters:
        dotted, text = item.split("=")
        keys = dotted.split(".")
        node = config
        for key in keys[:-1]:
            if key not in node:
                return False
            assert isinstance(node[key], dict)
            node = node[key]
        last = keys[-1]
        try:
            if text == "None":
                return node[last] is None
            if node[last] != type(node[last])(text):
                return False
        except Exception as err:  # liftoff's: any error means no match
            print(err)
            return False
    return True
