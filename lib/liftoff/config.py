"""``liftoff.config``, where liftoff's older scripts import from
(``from liftoff.config import read_config, config_to_string``): the same
functions as the ``liftoff`` package, plus liftoff's two small helpers."""

from argparse import Namespace

from . import ConfigError, dict_to_namespace, namespace_to_dict, read_config

__all__ = ["ConfigError", "read_config", "dict_to_namespace", "namespace_to_dict",
           "config_to_string", "value_of"]


def value_of(cfg, name, default=None):
    """getattr with a default, as liftoff had it."""
    return getattr(cfg, name, default)


def config_to_string(cfg, indent=0, color=True):
    """The Namespace as indented ``key: value`` lines. ``color`` is accepted
    for liftoff's callers and ignored: the text is plain."""
    text = ""
    for key, value in vars(cfg).items():
        text += " " * indent + key + ": "
        if isinstance(value, Namespace):
            text += "\n" + config_to_string(value, indent + 2, color=color)
        else:
            text += str(value) + "\n"
    return text
