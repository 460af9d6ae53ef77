"""What the commands that act on chosen entries share: the target (a list,
an experiment folder, or an experiment's name under the results folder),
--filters, liftoff's option forms (positionals among the options, --do dry
runs, .__journal lines), and the hold/release commands (liftoff-lock and
liftoff-unlock)."""

import os

from cooperate import fmt
from cooperate.queue import host

TIMESTAMP_FMT = "%Y%b%d-%H%M%S"  # liftoff's (experiment.TIMESTAMP_FMT)


def add_target(p, optional=False):
    p.add_argument("target", nargs="?" if optional else None, metavar="TARGET",
                   help="a list file, an experiment folder, or (part of) an experiment's name")
    p.add_argument("--results-path", default="results", metavar="DIR",
                   help="where experiments are (default ./results)")
    p.add_argument("--state", metavar="DIR",
                   help="the state folder (default LIST.cooperate beside the list)")
    add_trust(p)


def add_trust(p):
    p.add_argument("--trust-writable", action="store_true",
                   help="use a list or state that other users can change (whoever can change "
                        "them can make your workers run any command as you)")


def add_filters(p):
    p.add_argument("--filters", nargs="*", default=[], metavar="KEY.PATH=VALUE",
                   help="only experiment runs whose config (cfg.yaml) has these values "
                        "(read as liftoff reads them: None or null, 1e-3, False, abc)")


def add_timestamp_fmt(p, what):
    p.add_argument("--timestamp-fmt", default=TIMESTAMP_FMT, metavar="FMT",
                   help="%s (liftoff's option; default %s)"
                        % (what, TIMESTAMP_FMT.replace("%", "%%")))


def called_as(prog, *names):
    """Was the command run under one of these program names (a symlink)?"""
    return os.path.basename(prog) in names


def parse_mixed(p, argv):
    """parse_args, with the positional arguments anywhere among the options,
    as liftoff's users write them (`liftoff train.py --max-runs 1 EXP`)."""
    if hasattr(p, "parse_intermixed_args"):  # Python 3.7+
        return p.parse_intermixed_args(argv)
    return _parse_mixed_36(p, argv)


def _parse_mixed_36(p, argv):
    """Python 3.6 has no parse_intermixed_args: positionals that argparse
    left over (after options) fill the positionals it left empty. (This
    reads argparse's list of positionals, frozen in 3.6.)"""
    args, extra = p.parse_known_args(argv)
    for i, text in enumerate(extra):
        if text.startswith("-"):
            p.error("unrecognized arguments: %s" % " ".join(extra[i:]))
    for action in p._get_positional_actions():
        if extra and getattr(args, action.dest) in (None, []):
            if action.nargs in ("*", "+"):
                setattr(args, action.dest, extra)
                extra = []
            else:
                setattr(args, action.dest, extra.pop(0))
    if extra:
        p.error("unrecognized arguments: %s" % " ".join(extra))
    return args


def is_path(target, results_path="results"):
    """A target that is a path, not a name to look up: a file, an
    experiment folder, what looks like a path, or another folder unless
    experiments under results_path have it in their names (as liftoff
    takes EXPERIMENT: `liftoff-status configs` in a project that has a
    configs/ folder finds the experiments made from it)."""
    if os.sep in target or target.endswith(".json") or os.path.isfile(target):
        return True
    if not os.path.isdir(target):
        return False
    from cooperate.grid.experiment import is_experiment, list_experiments

    return is_experiment(target) or not any(
        target in os.path.basename(e) for e in list_experiments(results_path))


def worked_on(exp_dir):
    """Has any worker joined this experiment's queue (is there a state
    folder)? One that none has joined has no workers to show or stop."""
    from cooperate.grid.experiment import QUEUE_FILE

    return os.path.isdir(os.path.join(exp_dir, QUEUE_FILE + ".cooperate"))


def target(args):
    """The list file or experiment folder the arguments name."""
    if args.target is not None and is_path(args.target, args.results_path):
        return args.target
    from cooperate.grid.experiment import find

    return find(args.target or "", args.results_path)


def filters(args):
    if not args.filters:
        return None
    from cooperate.grid.config import parse_filters

    return parse_filters(args.filters)


def by():
    """Who writes a record on the user's behalf."""
    return "%s-%d-user" % (host.hostname(), os.getpid())


def run_matcher(experiment, wanted):
    """A test of queue entries against --filters ([(dotted path, value)]):
    on the entry's config, or, for a filter on a field that the layout adds
    to cfg.yaml (run_id, cfg_id, title, ...), on the run's cfg.yaml, as
    liftoff matches filters on cfg.yaml."""
    from cooperate.grid.experiment import ADDED_FIELDS
    from cooperate.grid.config import matches

    on_file = experiment is not None and any(
        path.split(".")[0] in ADDED_FIELDS for path, _ in wanted)

    def accept(entry):
        if not isinstance(entry, dict):
            return False
        if not on_file:
            return matches(entry.get("cfg", {}), wanted)
        cfg = run_config(experiment, entry.get("run"))
        return cfg is not None and matches(cfg, wanted)

    return accept


def run_config(experiment, run):
    """A run's cfg.yaml as a dict, or None if it does not read."""
    from cooperate.errors import UserError
    from cooperate.grid.experiment import cfg_path
    from cooperate.limits import load_yaml

    try:
        path = cfg_path(experiment, run)
        with open(path, "rb") as handle:
            data = load_yaml(handle.read(), path)
    except (OSError, UserError, ValueError):
        return None
    except Exception:  # yaml.YAMLError, imported lazily
        return None
    return data if isinstance(data, dict) else None


def run_id_of(entry):
    """The R of an experiment entry's run "NNNN_title/R" (an int), or None."""
    run = entry.get("run") if isinstance(entry, dict) else None
    if not isinstance(run, str):
        return None
    tail = run.rpartition("/")[2]
    return int(tail) if tail.isdigit() else None


def run_dir(experiment, run):
    return os.path.join(experiment, *run.split("/"))


class Journal:
    """liftoff's .__journal: one line per change, appended to the run
    folder's file, "[timestamp][session] what"."""

    def __init__(self, timestamp_fmt):
        import datetime  # here: `status` starts without it

        try:
            stamp = datetime.datetime.now().strftime(timestamp_fmt)
        except ValueError:
            stamp = datetime.datetime.now().strftime(TIMESTAMP_FMT)
        self.prefix = "[%s][%s]" % (stamp, by())

    def write(self, folder, lines):
        if not lines:
            return
        text = "".join("%s %s\n" % (self.prefix, line) for line in lines)
        try:
            fd = os.open(os.path.join(folder, ".__journal"),
                         os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError:
            return  # liftoff's files are for liftoff's tools: not worth failing for
        try:
            os.write(fd, text.encode("utf-8", "replace"))
        except OSError:
            pass
        finally:
            os.close(fd)


SIMULATION = "\nThis was only a simulation: nothing changed. Add --do to %s for real."


HOLD_HELP = """\
Keep pending entries of TARGET from being started (liftoff-lock): no
worker claims a held entry until it is released (liftoff-unlock). Running
entries are not affected. Name entries by id or run folder, choose them
with --runs (run ids: the R of NNNN_title/R) and --filters, or take every
pending one with --all. A held run of an experiment gets liftoff's marks
(.__lock and .__seal in its folder).

As liftoff-lock, nothing changes without --do: it shows what would."""

RELEASE_HELP = """\
Let held entries of TARGET be started again (liftoff-unlock). Name them
by id or run folder, choose them with --runs (run ids: the R of
NNNN_title/R) and --filters, or take every held one with --all. liftoff's
marks (.__lock and .__seal) go.

As liftoff-unlock, nothing changes without --do: it shows what would."""


def hold_or_release(argv, prog, release):
    """The `hold` and `release` commands, which differ only in direction."""
    from cooperate.cli.args import Parser, seconds
    from cooperate.errors import UserError
    from cooperate.grid.experiment import mark_held
    from cooperate.grid.source import open_queue
    from cooperate.queue.core import DEFAULT_LOCK_TIMEOUT, HELD, PENDING

    liftoff = called_as(prog, "liftoff-lock", "liftoff-unlock")
    p = Parser(prog, RELEASE_HELP if release else HOLD_HELP)
    add_target(p)
    p.add_argument("names", nargs="*", metavar="ID",
                   help="entry ids (or unique prefixes), or an experiment's run folders")
    p.add_argument("--all", action="store_true",
                   help="every %s entry" % ("held" if release else "pending"))
    p.add_argument("--runs", nargs="+", type=int, metavar="N",
                   help="the runs whose run id (the R of NNNN_title/R) is one of these")
    add_filters(p)
    p.add_argument("--do", action="store_true",
                   help="change things (liftoff-%s without --do only shows what would change; "
                        "`cooperate %s` acts at once)" % ("unlock" if release else "lock",
                                                          "release" if release else "hold"))
    p.add_argument("-v", dest="verbose", action="count", default=0,
                   help="name every run that changes")
    add_timestamp_fmt(p, "time stamps of the lines written to each run's .__journal")
    p.add_argument("--lock-timeout", type=seconds, default=DEFAULT_LOCK_TIMEOUT, metavar="S",
                   help="give up after waiting S seconds for the queue lock")
    args = parse_mixed(p, argv)
    if not (args.names or args.all or args.filters or args.runs):
        raise UserError("name entries, or choose them with --runs or --filters, or --all")
    wanted = filters(args)
    queue = open_queue(target(args), args.state, args.lock_timeout, history=False,
                       trusted=args.trust_writable, change=True, packed=True)
    queue.read()
    experiment = queue.experiment
    ids = queue.list.ids
    entries = queue.list.entries() if (args.runs or wanted or experiment) else None
    index = {id_: i for i, id_ in enumerate(ids)} if entries is not None else {}
    pool = queue.select(args.names) if args.names else list(ids)
    if args.runs:
        runs = set(args.runs)
        pool = [i for i in pool if run_id_of(entries[index[i]]) in runs]
    if wanted:
        accept = run_matcher(experiment, wanted)
        pool = [i for i in pool if accept(entries[index[i]])]
    status = HELD if release else PENDING
    chosen = [i for i in pool if queue.status_of(i) == status]
    others = len(pool) - len(chosen)

    def run_of(id_):
        entry = entries[index[id_]] if entries is not None else None
        run = entry.get("run") if isinstance(entry, dict) else None
        return run if experiment is not None and isinstance(run, str) else None

    verb = "released" if release else "held"
    if liftoff and not args.do:
        print("%s would be %s%s" % (fmt.count(len(chosen), "entry", "entries"), verb,
                                     _listing(chosen, run_of, args.verbose)))
        if others:
            print("%d left alone (%s)" % (others, "not held" if release
                                          else "already started, ended or held"))
        print(SIMULATION % ("unlock them" if release else "lock them"))
        return 0
    journal = Journal(args.timestamp_fmt)
    session = by()
    def mark(ids, held):
        for id_ in ids:
            run = run_of(id_)
            if run is not None:
                _mark(mark_held, experiment, run, held, session)
                journal.write(run_dir(experiment, run), ["%s %s." % (
                    "Locked and sealed" if held else "Unlocked and unsealed",
                    run_dir(experiment, run))])

    if release:
        # the marks go first: once released, a worker may start the run and
        # write its own .__lock
        mark(chosen, False)
        changed = queue.release(chosen)
    else:
        changed = queue.hold(chosen)
        mark(changed, True)
    print("%s %s%s" % (fmt.count(len(changed), "entry", "entries"), verb,
                       _listing(changed, run_of, args.verbose)))
    if others:
        print("%d left alone (%s)" % (others, "not held" if release
                                      else "already started, ended or held"))
    return 0


def _listing(ids, run_of, verbose):
    if not ids or not verbose:
        return ""
    return ":\n" + "\n".join("  %s" % (run_of(i) or i) for i in ids)


def _mark(mark, *args):
    """liftoff's marks are for liftoff's tools and analysis code: a failure
    to write them does not undo what the queue recorded."""
    try:
        mark(*args)
    except OSError:
        pass
