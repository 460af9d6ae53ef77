"""liftoff's script-side API, as shipped with cooperate, so that scripts
written for liftoff run unchanged when cooperate launches them.

A run is started as ``python SCRIPT <run folder>/cfg.yaml`` with the user's
PYTHONPATH and, after it, a folder that gives this package where no other
liftoff is installed (see cooperate/grid/runpath/liftoff): ``import liftoff``
works even where nothing is installed, and the user's own PyYAML is used
where there is one. The script does, as it did with liftoff::

    from liftoff import parse_opts
    opts = parse_opts()

The package offers every name of liftoff 0.3.3's (``__version__`` is that
API level, "0.3.3"): ``parse_opts``, ``dict_to_namespace``, ``OptionParser``,
the modules ``liftoff.common`` (``LIFTOFF_FILES``), ``liftoff.common.dict_utils``
(uniqstr, hashstr, deep_update_dict, clean_dict, dict_to_namespace),
``liftoff.common.options_parser`` (OptionParser),
``liftoff.common.experiment_info`` (is_yaml, is_experiment,
get_experiment_paths, experiment_matches), ``liftoff.common.liftoff_config``
(LiftoffConfig) and ``liftoff.version``, which give what liftoff 0.3.3's give,
its quirks included (see each module); and its own: ``read_config``,
``collect_results``, ``ConfigError``, ``namespace_to_dict`` and the module
``liftoff.config``.

Guarantees:

- ``parse_opts(args=None)`` reads ``args`` (default ``sys.argv[1:]``): the
  path of the config file, and options ``-x``, ``--x``, ``--x value`` and
  ``--x=value`` (liftoff's ``--session-id N`` and the like), accepted and
  ignored before or after the path, as are further positional arguments;
  ``--`` ends the options. An option takes the next argument as its value
  unless that starts with ``-``, so the path is the first positional
  argument ending in ``.yaml`` or ``.yml``, else the first option value
  ending so (``--verbose cfg.yaml``), else the first positional argument.
  (liftoff's own parse_opts required ``--session-id``.)
- The file is read with ``yaml.safe_load`` and turned into an
  ``argparse.Namespace`` by ``dict_to_namespace`` (below): ``opts.yz.y``.
- ``opts.out_dir`` is the absolute path of the folder that holds the file,
  computed from the path given, whatever the file says: it is right on a
  machine that mounts the results somewhere else, and for a file written by
  hand. ``run_id``, ``cfg_id``, ``title`` and ``full_title`` are the file's,
  as written (the launcher writes them all; nothing is invented when a
  hand-written file lacks them).
- Errors that are the caller's (no path given, a file that is missing or
  unreadable, bad YAML, a file that is not a mapping, a key that is not a
  string in a mapping that becomes a Namespace) print one line
  ``<prog>: error: ...`` on stderr and raise ``SystemExit(2)``, as argparse
  does: no traceback.
- Importing liftoff imports nothing beyond the standard library's argparse;
  yaml is imported when a file is read, and the other modules of the package
  when they (or ``OptionParser``) are first asked for: ``liftoff.common``,
  ``liftoff.version`` and ``liftoff.OptionParser`` work after a bare
  ``import liftoff``, as they did with liftoff, which imported them all.

``dict_to_namespace(d)``, as liftoff 0.3.3's: the attribute name of a key is
the key without its trailing underscores, and every mapping value becomes a
Namespace except that of a key with a trailing underscore, which stays a
plain dict (``optim_: {lr: 0.1}`` gives ``opts.optim == {"lr": 0.1}``, and
``opts.optim_`` does not exist). Lists stay lists and their items are left
as they are: a mapping inside a list stays a plain dict (scripts index it as
``item["key"]``). When two keys give the same attribute (``optim`` and
``optim_``) the later one wins, silently; ``__`` gives the attribute ``""``.
A key that is not a string in a mapping that becomes a Namespace (write the
mapping's key with a trailing ``_`` to keep such a mapping a dict) raises an
exception that is both the AttributeError liftoff raised and a ValueError;
so does something without ``items()`` in place of the dict, with TypeError.

``namespace_to_dict(ns)`` is the inverse: Namespaces become dicts, and a
plain dict value comes back under its key with a trailing underscore, so
``namespace_to_dict(dict_to_namespace(d)) == d`` whenever no two keys of
``d`` give the same attribute and every key of ``d`` that ends with ``_``
ends with one ``_`` and holds a mapping, and ``dict_to_namespace(
namespace_to_dict(ns)) == ns`` for any Namespace that dict_to_namespace
made. (liftoff's own namespace_to_dict dropped the underscore.) The result
has fresh dicts and lists; Namespaces inside lists become dicts too.

``read_config(path)`` (liftoff's older API): the Namespace of one config
file, as parse_opts gives it, but raising ConfigError (a ValueError with a
one-line message) instead of exiting. ``read_config()`` without a path is
``parse_opts()``, which is what it amounted to under liftoff's launcher.
"""

import argparse
import os
import sys

__version__ = "0.3.3"  # the liftoff API level this package offers

# What ``from liftoff import *`` gives: liftoff 0.3.3's names (it had no
# __all__, so its star import also gave the modules it had imported, os and
# yaml among them), then the shim's own.
__all__ = ["OptionParser", "dict_to_namespace", "parse_opts", "common", "version",
           "os", "yaml",
           "ConfigError", "read_config", "namespace_to_dict"]

Namespace = argparse.Namespace


class ConfigError(ValueError):
    """A config file that cannot be used; the message is one line."""


# ---------------------------------------------------------------- lazy names


class _LazyModule(type(sys)):
    """The class of a module whose table ``_LAZY`` names attributes imported
    the first time they are asked for: ``{name: "module"}`` for a module,
    ``{name: "module:attribute"}`` for something in one. (A module class
    rather than PEP 562's module __getattr__, which Python 3.6 lacks.)"""

    def __getattr__(self, name):
        where = self.__dict__.get("_LAZY", {}).get(name)
        if where is None:
            raise AttributeError("module %r has no attribute %r" % (self.__name__, name))
        module_name, _, attribute = where.partition(":")
        __import__(module_name)
        value = sys.modules[module_name]
        if attribute:
            value = getattr(value, attribute)
        setattr(self, name, value)
        return value

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.__dict__.get("_LAZY", {})))


def _make_lazy(module_name):
    sys.modules[module_name].__class__ = _LazyModule


_LAZY = {
    "OptionParser": __name__ + ".common.options_parser:OptionParser",
    "common": __name__ + ".common",
    "version": __name__ + ".version",
    "config": __name__ + ".config",
    "yaml": "yaml",
    # a run's metrics, for collect, the report and early stopping (the toolkit's)
    "report": "cooperate.metrics:report",
}
_make_lazy(__name__)


# ---------------------------------------------------------------- conversion


class _NotAnAttribute(AttributeError, ValueError):
    """A key that cannot name an attribute: liftoff raised AttributeError,
    the shim documents ValueError; this is both."""


class _NotAMapping(AttributeError, TypeError):
    """dict_to_namespace given something without items(): liftoff raised
    AttributeError, the shim documents TypeError; this is both."""


def _to_namespace(mapping, path):
    namespace = Namespace()
    for key, value in mapping.items():
        try:
            strip = key.rstrip
        except AttributeError:
            raise _NotAnAttribute(
                "%skey %r is not a string, so it cannot be an attribute (end the name of the "
                "mapping holding it with '_' to keep that mapping a plain dict)"
                % ("in %s: " % path if path else "", key)) from None
        name = strip("_")
        if isinstance(value, dict) and not key.endswith("_"):
            value = _to_namespace(value, "%s.%s" % (path, name) if path else str(name))
        # a later key giving the same name wins, as in liftoff
        setattr(namespace, name, value)
    return namespace


def dict_to_namespace(dct):
    """Nested argparse.Namespace of a dict, as liftoff 0.3.3's (see the
    module's docstring)."""
    if not hasattr(dct, "items"):
        raise _NotAMapping("dict_to_namespace takes a dict, not %s" % type(dct).__name__)
    return _to_namespace(dct, "")


def _plain(value):
    if isinstance(value, Namespace):
        return namespace_to_dict(value)
    if isinstance(value, dict):
        return dict((k, _plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def namespace_to_dict(namespace):
    """Nested dict of a Namespace, the inverse of dict_to_namespace: a plain
    dict value comes back under ``name_``."""
    if not isinstance(namespace, Namespace):
        raise TypeError("namespace_to_dict takes an argparse.Namespace, not %s"
                        % type(namespace).__name__)
    out = {}
    for name, value in vars(namespace).items():
        if isinstance(value, dict) and not name.endswith("_"):
            name += "_"
        out[name] = _plain(value)
    return out


# ---------------------------------------------------------------- reading


def _one_line(text):
    return " ".join(str(text).split())


def _load(path):
    """The file's top-level mapping, or ConfigError."""
    try:
        import yaml
    except ImportError as err:
        raise ConfigError(
            "cannot import yaml (%s): install PyYAML, or run the script through the "
            "toolkit (dist/cooperate.pyz, or lib/ and build/vendor/ of a checkout)"
            % _one_line(err))
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise ConfigError("cannot read config file %s: %s"
                          % (path, _one_line(err.strerror or err)))
    from cooperate.errors import UserError
    from cooperate.limits import load_yaml

    try:
        config = load_yaml(data, path)
    except UserError as err:
        raise ConfigError(str(err))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        what = _one_line(err.problem or err.context or "syntax error")
        if mark is None:
            raise ConfigError("bad YAML in %s: %s" % (path, what))
        raise ConfigError("bad YAML in %s, line %d, column %d: %s"
                          % (path, mark.line + 1, mark.column + 1, what))
    except yaml.YAMLError as err:
        raise ConfigError("bad YAML in %s: %s" % (path, _one_line(err)))
    if not isinstance(config, dict):
        what = "empty" if config is None else "a %s" % type(config).__name__
        raise ConfigError("config file %s must hold a mapping of keys to values, not %s"
                          % (path, what))
    return config


def read_config(path=None, strict=False):
    """The Namespace of the config file at ``path`` (out_dir: its folder), or
    ConfigError. Without a path: parse_opts(). ``strict`` is liftoff's and
    ignored."""
    if path is None:
        return parse_opts()
    path = os.fspath(path)
    config = _load(path)
    try:
        opts = dict_to_namespace(config)
    except ValueError as err:
        raise ConfigError("config file %s: %s" % (path, err))
    opts.out_dir = os.path.dirname(os.path.abspath(path))
    return opts


def _config_path(args):
    """The config path among ``args``, or None."""
    positional = []
    values = []  # tokens that followed an option: maybe its value
    index = 0
    while index < len(args):
        token = args[index]
        index += 1
        if token == "--":
            positional.extend(args[index:])
            break
        if token.startswith("-") and token != "-":
            if "=" not in token and index < len(args) and not args[index].startswith("-"):
                values.append(args[index])
                index += 1
            continue
        positional.append(token)
    for token in positional + values:
        if token.lower().endswith((".yaml", ".yml")):
            return token
    return positional[0] if positional else None


def _program():
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name or "liftoff"


def _fail(message):
    sys.stderr.write("%s: error: %s\n" % (_program(), message))
    sys.stderr.flush()
    raise SystemExit(2)


def parse_opts(args=None):
    """The run's options: a nested Namespace of the config file named on the
    command line (see the module's docstring). Exits 2 with a one-line
    message on stderr when that file cannot be used."""
    if args is None:
        args = sys.argv[1:]
    args = [os.fspath(arg) for arg in args]
    path = _config_path(args)
    if path is None:
        _fail("no config file given (usage: %s PATH/cfg.yaml [--option [value]] ...)"
              % _program())
    try:
        return read_config(path)
    except ConfigError as err:
        _fail(str(err))


def collect_results(path, **options):
    """liftoff's collect_results: one dict per run of the experiment (or list)
    at `path`, with its status, varied parameters and results (see
    cooperate.results.collect.rows for the options: results_file, where, ...)."""
    from cooperate.results.collect import rows

    return rows(path, **options)
