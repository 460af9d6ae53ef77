"""The commands: the multi-call edge and one thin module per command.

main picks the command from the program name (a symlink such as
cooperate-run or liftoff-status) or the first argument, runs it, and turns
a UserError into one line on stderr and an exit code: no traceback for bad
input. Each command module parses its arguments (args.py, targets.py and
workeropts.py hold what several share), calls the library and prints.

Imports: anything of the toolkit; nothing imports the commands but the
entry points (cooperate/__main__.py, bin/cooperate, the archive).
"""

import os
import sys

from cooperate import __version__
from cooperate.errors import UserError

# command -> (module, one-line summary); modules are imported only when used,
# because start-up time is a feature (cron, `watch`).
COMMANDS = {
    "run": ("cooperate.cli.run", "be a worker: claim pending entries, run them, record the outcome"),
    "doe": ("cooperate.cli.doe", "write a list of commands from a template and values"),
    "prepare": ("cooperate.cli.prepare", "expand a YAML config grid into an experiment folder and its queue"),
    "status": ("cooperate.cli.status", "show how far lists and experiments are, on every machine"),
    "retry": ("cooperate.cli.retry", "make failed, aborted or stale entries pending again"),
    "launch": ("cooperate.cli.launch", "run a script on an experiment or a yaml config (liftoff)"),
    "abort": ("cooperate.cli.abort", "stop the runs of an experiment or list, on every machine"),
    "procs": ("cooperate.cli.procs", "the workers and their runs, on this machine or all"),
    "submit": ("cooperate.cli.submit", "start workers as a Slurm job array"),
    "spawn": ("cooperate.cli.spawn", "start workers on other machines over ssh"),
    "drain": ("cooperate.cli.drain", "let a host's workers finish their runs and take nothing new"),
    "hold": ("cooperate.cli.hold", "keep pending entries from being started (liftoff-lock)"),
    "release": ("cooperate.cli.release", "let held entries be started again (liftoff-unlock)"),
    "report": ("cooperate.cli.report", "write a self-contained HTML report: timeline, failures, runs"),
    "collect": ("cooperate.cli.collect", "one table of every run's parameters, status and results"),
    "log": ("cooperate.cli.log", "a run's output (its latest attempt, or --attempt N); -f follows it"),
    "completion": ("cooperate.cli.completion", "a bash or zsh completion script, or the man page"),
}

# program names (symlinks to the archive) -> command: cooperate-NAME for
# every command, and liftoff's names
LINKS = dict(("cooperate-" + c, c) for c in COMMANDS)
LINKS.update({
    "liftoff": "launch",
    "liftoff-prepare": "prepare",
    "liftoff-status": "status",
    "liftoff-abort": "abort",
    "liftoff-procs": "procs",
    "liftoff-clean": "retry",
    "liftoff-lock": "hold",
    "liftoff-unlock": "release",
})

PROGRAM = "cooperate"


def usage():
    width = max(len(c) for c in COMMANDS)
    lines = [
        "usage: %s COMMAND [ARGS...]" % PROGRAM,
        "",
        "Run a list of commands on every machine that shares its folder.",
        "",
        "commands:",
    ]
    lines += ["  %-*s  %s" % (width, c, s) for c, (_, s) in COMMANDS.items()]
    lines += [
        "",
        "`%s COMMAND --help` explains each one. Symlinks named after a command"
        % PROGRAM,
        "(%s) run it directly." % ", ".join(sorted(LINKS)),
    ]
    return "\n".join(lines)


def main(argv=None):
    from cooperate.cli import stdio

    stdio.ensure()
    argv = sys.argv if argv is None else argv
    name = os.path.basename(argv[0]) if argv else PROGRAM
    args = list(argv[1:])
    if name in LINKS:
        command, prog = LINKS[name], name
    else:
        if not args or args[0] in ("-h", "--help"):
            print(usage())
            return 0
        if args[0] in ("--version", "-V"):
            print("%s %s" % (PROGRAM, __version__))
            return 0
        command = args.pop(0)
        prog = "%s %s" % (PROGRAM, command)
    if command not in COMMANDS:
        print("%s: error: unknown command %r (one of: %s)"
              % (PROGRAM, command, ", ".join(COMMANDS)), file=sys.stderr)
        return 2
    module = __import__(COMMANDS[command][0], fromlist=["main"])
    try:
        return module.main(args, prog)
    except UserError as error:
        stdio.write(sys.stderr, "%s: error: %s\n" % (prog, error))
        return error.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`status | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
