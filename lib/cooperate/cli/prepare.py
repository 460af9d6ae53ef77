"""liftoff-prepare / cooperate prepare: expand a config grid into an
experiment folder (liftoff's layout) with its queue."""

import os
import shlex
import sys

from cooperate.grid import experiment
from cooperate.grid.source import source_of
from cooperate.cli.args import Parser, positive_int
from cooperate.cli.targets import add_trust
from cooperate.errors import UserError

DESCRIPTION = """\
Expand CONFIG_PATH into an experiment, as liftoff 0.3.3 does: one folder
per variation, one run folder with its cfg.yaml per run, and (hidden in
.cooperate/) the queue of runs that `liftoff SCRIPT EXP` (on this machine)
and `cooperate-run EXP` (on any machine that shares the folder) work
through. Without --do it only shows what it would write.

CONFIG_PATH is a folder or one yaml file:
  folder     default.yaml (the base) and config*.yaml files. In a config
             file every leaf is a list: the values of one variable. Each
             file gives every combination of its variables' values, each
             merged into the defaults; the files' variations are added up
             and duplicates dropped.
  yaml file  one variation: the file as it is (lists are values).
config*.yaml files are taken in sorted order.

In a config file, `_key: [...]` replaces the default's whole `key` subtree
instead of merging into it; the value `delete` removes the key. Constraints
go under a top-level `liftoff:` key, naming variables by any unambiguous
dotted suffix:
  liftoff:
    - vars: [model.name, lr]
      "->": [[cnn, 0.1]]          model.name=cnn implies lr=0.1
  operators: "->" implies, "<=>" exactly when, "v" or, "!!" not both.

Example: default.yaml
    model: {name: mlp, hidden: 64}
    optim: {lr: 0.1}
config.yaml
    model:
      name: [mlp, cnn]
    optim:
      lr: [0.1, 0.01]
gives 4 variations, folders 0000_optim.lr_0.1__model.name_mlp ... (the
last key first, as liftoff orders them), each with runs 0 .. N-1 (--runs-no
N) holding cfg.yaml: the merged config plus out_dir, run_id, cfg_id, title
("optim.lr=0.1; model.name=mlp"), full_title ("<experiment folder>_<title>")
and experiment_arguments (the variation's own values)."""

EPILOG = """\
examples:
  liftoff-prepare configs/sweep                      what would be written
  liftoff-prepare configs/sweep --runs-no 3 --do     write it
  liftoff-prepare configs/more --append-to results/2026Nov22-101500_sweep --do
  liftoff-prepare configs/sweep --do --script train.py"""

VALUES_WIDTH = 72


def main(argv, prog):
    p = Parser(prog, DESCRIPTION, EPILOG)
    p.add_argument("config_path", metavar="CONFIG_PATH",
                   help="a config folder (default.yaml + config*.yaml) or one yaml file")
    p.add_argument("--name", help="the experiment's name (default: the folder's or file's name)")
    p.add_argument("--runs-no", type=positive_int, default=None, metavar="N",
                   help="runs of each variation (default 1; with --append-to, as the "
                        "experiment has)")
    p.add_argument("--results-path", default=os.path.join(".", "results"), metavar="DIR",
                   help="where experiments go (default ./results)")
    p.add_argument("--timestamp-fmt", default=experiment.TIMESTAMP_FMT, metavar="FMT",
                   help="strftime format of the folder name's timestamp (default %s)"
                        % experiment.TIMESTAMP_FMT.replace("%", "%%"))
    p.add_argument("--append-to", metavar="EXP_DIR",
                   help="add to this experiment (its folder, or part of its name under "
                        "--results-path) the variations it does not have yet")
    p.add_argument("--do", action="store_true", help="write (without it: a dry run)")
    p.add_argument("--overwrite", action="store_true",
                   help="with --append-to: write the cfg.yaml of runs the experiment has again "
                        "(not of those that started or ended)")
    p.add_argument("--cc", action="store_true", dest="copy_to_clipboard",
                   help="liftoff's copy to the clipboard: the experiment's path is printed "
                        "last, on a line of its own, instead")
    p.add_argument("--script", metavar="SCRIPT",
                   help="record the script the runs execute (python SCRIPT .../cfg.yaml)")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="list every variation")
    add_trust(p)
    args = p.parse_args(argv)

    # Everything is read and checked before anything is written.
    from cooperate.grid import config as gridmod

    if args.script is not None and not os.path.isfile(args.script):
        raise UserError("%s: no such script" % args.script)
    exp_dir = None
    if args.append_to is not None:
        exp_dir = experiment.find(args.append_to, args.results_path)
        if not args.trust_writable:
            # what is added there is what the workers will run
            from cooperate.queue.trust import check_paths

            check_paths([exp_dir, os.path.join(exp_dir, experiment.OWN)] + [
                os.path.join(exp_dir, f) for f in (experiment.QUEUE_FILE, experiment.META_FILE)])
        if args.name is not None:
            print("note: --name is ignored with --append-to", file=sys.stderr)
    g = gridmod.load(args.config_path)

    from cooperate.grid.hello import hello_line

    # liftoff's first line, and its last one (`Experiment configured in
    # PATH`, after ours): what scripts read
    out = [hello_line()]
    describe(g, out, args.verbose)
    if exp_dir is None:
        runs_no = args.runs_no or 1
        out.append("runs: %d (%d variation%s x %d)" % (
            len(g) * runs_no, len(g), _s(len(g)), runs_no))
        target = experiment.plan_path(g, args.results_path, args.name, args.timestamp_fmt)
        if not args.do:
            out.append("would write: %s" % show(target))
            out.append("dry run: nothing written; add --do to write it")
            print("\n".join(out))
            return 0
        print("\n".join(out), flush=True)
        exp_dir = experiment.create(g, args.results_path, name=args.name, runs_no=runs_no,
                                    script=args.script, timestamp_fmt=args.timestamp_fmt)
        print("wrote %s: %d variation%s, %d run%s" % (
            show(exp_dir), len(g), _s(len(g)), len(g) * runs_no, _s(len(g) * runs_no)))
    else:
        plan = experiment.plan_append(exp_dir, g, args.runs_no)
        line = "%s: %d new variation%s, %d already there; %d new run%s" % (
            show(exp_dir), len(plan.new), _s(len(plan.new)), plan.reused,
            plan.new_runs, _s(plan.new_runs))
        if plan.new:
            line += " (indexes %04d..%04d)" % (plan.new[0][0], plan.new[-1][0])
        if not args.do:
            out.append("would add to " + line)
            out.append("dry run: nothing written; add --do to write it")
            print("\n".join(out))
            return 0
        print("\n".join(out), flush=True)
        # a folder liftoff made gets a queue of its own first (if it is yours)
        source_of(exp_dir, change=True, trusted=args.trust_writable)
        experiment.append(exp_dir, g, args.runs_no)
        if args.script is not None:
            experiment.set_script(exp_dir, args.script)
        print("added to " + line)
        if args.overwrite:
            written = experiment.rewrite(exp_dir, g)
            print("wrote again the cfg.yaml of %d run%s that had not started" % (
                written, _s(written)))
    script = args.script or experiment.load_meta(exp_dir).get("script")
    run_here = "liftoff %s %s" % (shlex.quote(show(script)) if script else "SCRIPT",
                                  shlex.quote(show(exp_dir)))
    run_there = "cooperate-run %s" % shlex.quote(show(exp_dir))
    width = max(len(run_here), len(run_there))
    print("next:")
    print("  %-*s  # run it on this machine" % (width, run_here))
    print("  %-*s  # and on every other machine that shares the folder" % (width, run_there))
    if args.append_to is not None:
        configured = args.append_to if os.path.isdir(args.append_to) else show(exp_dir)
    else:
        configured = os.path.join(args.results_path, os.path.basename(exp_dir) + "/")
    print("Experiment configured in %s" % configured)
    if args.copy_to_clipboard:
        print(exp_dir)
    return 0


def describe(g, out, verbose=0):
    """The summary of a grid: files, variables and values, constraints,
    counts."""
    if not g.files or not g.files[0].variables:
        out.append("%s: one configuration (lists are values, not expanded)" % g.path)
    else:
        if g.default_path:
            out.append("defaults: %s" % g.default_path)
        for gfile in g.files:
            out.append("%s: %d variable%s, %d variation%s%s" % (
                gfile.path, len(gfile.variables), _s(len(gfile.variables)), gfile.count,
                _s(gfile.count), " of %d before constraints" % gfile.size
                if gfile.count != gfile.size else ""))
            width = max(len(v.name) for v in gfile.variables)
            for var in gfile.variables:
                values = ", ".join(_show(v) for v in var.values)
                if len(values) > VALUES_WIDTH:
                    values = values[:VALUES_WIDTH - 3] + "..."
                out.append("  %-*s  %d: %s" % (width, var.name, len(var.values), values))
            for text in gfile.constraints:
                out.append("  constraint: %s" % text)
        total = sum(f.size for f in g.files)
        kept = sum(f.count for f in g.files)
        line = "variations: %d" % len(g)
        notes = []
        if total != kept:
            notes.append("%d before constraints" % total)
        if g.duplicates:
            notes.append("%d duplicate%s dropped" % (g.duplicates, _s(g.duplicates)))
        if notes:
            line += " (%s)" % ", ".join(notes)
        out.append(line)
    if verbose:
        for i, variation in enumerate(g.variations):
            out.append("  %04d  %s" % (i, variation.title))


def _show(value):
    return value if value.__class__ is str else str(value)


def _s(n):
    return "" if n == 1 else "s"


def show(path):
    """A path as the user would type it: relative to here if below here."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel
