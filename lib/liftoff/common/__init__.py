"""``liftoff.common``, as in liftoff 0.3.3: the names of the files liftoff
kept in a run's folder, and the modules scripts import from
(``dict_utils``, ``options_parser``, ``experiment_info``, ``liftoff_config``),
each imported the first time it is asked for."""

from .. import _make_lazy

# The files liftoff 0.3.3 wrote in a run's folder (cooperate writes cfg.yaml
# and keeps its own state elsewhere).
LIFTOFF_FILES = [
    ".__leaf",
    ".__seal",
    ".__lock",
    ".__start",
    ".__end",
    ".__crash",
    ".__journal",
    "cfg.yaml",
]

_LAZY = dict((name, __name__ + "." + name) for name in
             ["dict_utils", "options_parser", "experiment_info", "liftoff_config"])
_make_lazy(__name__)
