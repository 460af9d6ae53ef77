"""``liftoff.common.options_parser``: OptionParser, the command-line parser
liftoff 0.3.3's commands were built with, with the same arguments and the
same results.

``OptionParser(name, arguments)`` makes an ``argparse.ArgumentParser(name)``
(``.arg_parser``) and adds, for each name in ``arguments`` (``.arguments``,
as strings), the argument liftoff's ``_add_<name>`` method added; a name
without such a method raises AttributeError. ``parse_args(args=None,
strict=True)`` parses ``args`` (default ``sys.argv[1:]``), sets each of the
parser's arguments left None to its value in ``.liftoff_config`` (a
LiftoffConfig, which has none), turns the list of ``-v`` into their count,
sets ``session_id`` to a fresh uuid4 string whatever was given, and returns
the Namespace.

As in liftoff 0.3.3, ``strict=False`` parses with ``parse_known_args`` and
then treats the (namespace, unknown arguments) pair it returns as the
namespace, so after parsing it raises AttributeError (``'tuple' object has
no attribute ...``); argparse's own errors and ``-h`` exit first, as usual.
The help texts are this package's own.
"""

import argparse
import uuid

from .liftoff_config import LiftoffConfig

__all__ = ["OptionParser"]


class OptionParser(object):
    """liftoff 0.3.3's command-line parser (see the module's docstring)."""

    def __init__(self, name, arguments):
        self.liftoff_config = LiftoffConfig()
        self.arg_parser = argparse.ArgumentParser(name)
        self.arguments = [str(argument) for argument in arguments]
        for argument in self.arguments:
            getattr(self, "_add_" + argument)()

    def parse_args(self, args=None, strict=True):
        """The options in ``args`` (default: the command line's), completed
        as liftoff did (see the module's docstring)."""
        if strict:
            opts = self.arg_parser.parse_args(args=args)
        else:
            # liftoff's: the pair, not its namespace, goes on (and fails below)
            opts = self.arg_parser.parse_known_args(args=args)
        for argument in self.arguments:
            if getattr(opts, argument, None) is None:
                setattr(opts, argument, self.liftoff_config.get(argument))
        if isinstance(getattr(opts, "verbose", None), list):
            opts.verbose = len(opts.verbose)
        opts.session_id = str(uuid.uuid4())
        return opts

    # ------------------------------------------------------------ helpers

    def _add(self, *flags, **settings):
        self.arg_parser.add_argument(*flags, **settings)

    def _switch(self, flag, dest, text):
        self._add(*(flag if isinstance(flag, tuple) else (flag,)),
                  action="store_true", dest=dest, help=text)

    def _configured(self, name, fallback, convert):
        """The default of option ``name``: liftoff's settings' value, else
        ``fallback``, converted."""
        value = self.liftoff_config.get(name)
        return convert(fallback if value is None else value)

    # ------------------------------------------------------------ the arguments

    def _add_all(self):
        self._switch(("-a", "--all"), "all", "every experiment, not only the latest one")

    def _add_append_to(self):
        self._add("--append-to", dest="append_to", required=False, type=str,
                  help="add the new runs to this existing experiment")

    def _add_args(self):
        self._add("--args", dest="args", type=str, nargs="*",
                  help="key=value items that override the config file "
                       "(e.g. --args model.name=AlexNet)")

    def _add_copy_to_clipboard(self):
        self._switch("--cc", "copy_to_clipboard", "copy the experiment's path to the clipboard")

    def _add_config_path(self):
        self._add("config_path", type=str, help="the config file or folder")

    def _add_do(self):
        self._switch("--do", "do", "act, rather than only show what would be done")

    def _add_crashed_only(self):
        self._switch("--crashed-only", "crashed_only", "only the runs that crashed")

    def _add_experiment(self):
        self._add("experiment", nargs="?", type=str, help="the experiment (a part of its name)")

    def _add_filters(self):
        self._add("--filters", dest="filters", type=str, nargs="*",
                  help="key=value items a run's config must match "
                       "(e.g. --filters optim.lr=0.001 model.name=AlexNet)")

    def _add_gpus(self):
        self._add("--gpus", dest="gpus", nargs="*", default=[],
                  help="the GPUs to use, e.g. --gpus 0 1")

    def _add_name(self):
        self._add("--name", dest="name", required=False, type=str,
                  help="the experiment's name")

    def _add_optimize(self):
        self._switch("-O", "optimize", "run the script with python -OO")

    def _add_overwrite(self):
        self._switch("--overwrite", "overwrite", "overwrite files that are there "
                     "(but not those of ended runs)")

    def _add_no_detach(self):
        self._switch("--no-detach", "no_detach", "stay in the foreground (no nohup)")

    def _add_per_gpu(self):
        self._add("--per-gpu", dest="per_gpu", nargs="*", type=int, default=[],
                  help="how many runs each GPU takes at most")

    def _add_pid(self):
        self._add("pid", type=int, help="the process id of the liftoff to stop")

    def _add_procs_no(self):
        self._add("--procs-no", dest="procs_no", required=False, type=int,
                  default=self._configured("procs_no", 1, int),
                  help="how many runs at once (default: %(default)s)")

    def _add_results_path(self):
        self._add("--results-path", dest="results_path", required=False, type=str,
                  default=self._configured("results_path", "./results", str),
                  help="the folder of the experiments (default: %(default)s)")

    def _add_runs_no(self):
        self._add("--runs-no", dest="runs_no", required=False, type=int,
                  default=self._configured("runs_no", 1, int),
                  help="how many runs of each configuration (default: %(default)s)")

    def _add_runs(self):
        self._add("--runs", dest="runs", required=True, type=int, nargs="+",
                  help="the runs meant")

    def _add_safe(self):
        self._switch("--safe", "safe", "leave alone the runs that ended but are locked")

    def _add_script(self):
        self._add("script", type=str, help="the script to run with each config")

    def _add_clean_all(self):
        self._switch("--clean-all", "clean_all", "remove every file a run made")

    def _add_timestamp_fmt(self):
        self._add("--timestamp-fmt", type=str, dest="timestamp_fmt",
                  default=self._configured("timestamp_fmt", "%Y%b%d-%H%M%S", str),
                  help="the strftime format of the experiments' timestamps")

    def _add_verbose(self):
        self._add("-v", const=1, dest="verbose", action="append_const",
                  help="more output; repeat for more (-vv, -vvv)")

    def _add_session_id(self):
        self._add("--session-id", type=str, dest="session_id", required=True,
                  help="the id of the launching session (it marks its processes)")

    def _add_time_limit(self):
        self._add("--time-limit", type=int, dest="time_limit", default=0,
                  help="stop after this many minutes (0: no limit)")

    def _add_start_by(self):
        self._add("--start-by", type=int, dest="start_by", default=0,
                  help="start no run after this many seconds (0: no limit)")

    def _add_end_by(self):
        self._add("--end-by", type=int, dest="end_by", default=0,
                  help="handed to the runs as ENDBY")

    def _add_max_runs(self):
        self._add("--max-runs", type=int, dest="max_runs", default=0,
                  help="start at most this many runs (0: all)")

    def _add_shuffle(self):
        self._switch("--shuffle", "shuffle", "start the runs in a random order")
