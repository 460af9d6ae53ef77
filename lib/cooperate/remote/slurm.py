"""Workers as a Slurm job array: one worker per array task, on the same list
or experiment, with the same state, claims, retries and leases as any other
worker. Slurm hands out machines; the queue hands out entries.
"""

import os
import re
import shlex
import subprocess
import sys

from cooperate.errors import UserError


# the Python that runs the toolkit on other machines (--python): the one
# on their PATH, not this machine's path, which may not exist there
REMOTE_PYTHON = "python3"


def toolkit_command(python=None):
    """How to start this toolkit again: `python` (default: this Python) and
    the archive (or the checkout's bin/cooperate), by its own name: called
    through a link named after a command (cooperate-submit), the archive
    would run that command."""
    import cooperate

    python = python or sys.executable
    package = os.path.dirname(os.path.abspath(cooperate.__file__))
    root = os.path.dirname(package)
    if os.path.isfile(root):
        return [python, os.path.realpath(root)]
    return [python, os.path.join(os.path.dirname(root), "bin", "cooperate")]


def sbatch_value(option, value):
    """`value` as an #SBATCH line holds it: in double quotes if it has
    spaces (sbatch takes them off). A newline or another control character
    would end the comment, and what follows would run as a command when the
    job starts: refused, as is a double quote, which sbatch cannot escape."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value) or (
            '"' in value and any(c.isspace() for c in value)):
        from cooperate.fmt import printable

        raise UserError("the sbatch option --%s=%s has a control character or a quote that "
                        "an #SBATCH line cannot hold: rename it (or pass --name)"
                        % (option, printable(value)))
    return '"%s"' % value if any(c.isspace() for c in value) else value


def script(target, workers, log_dir, worker_args=(), name=None, partition=None, time=None,
           gres=None, throttle=None, extra=(), python=REMOTE_PYTHON):
    """The sbatch script: an array of `workers` tasks, each one worker run
    by `python` (a name on the nodes' PATH, or a path)."""
    array = "0-%d%s" % (workers - 1, "" if throttle is None else "%%%d" % throttle)
    options = [("job-name", name or "cooperate"), ("array", array),
               ("output", os.path.join(log_dir, "%A_%a.out"))]
    options += [(option, value) for option, value in (
        ("partition", partition), ("time", time), ("gres", gres)) if value]
    lines = ["#!/bin/sh"] + ["#SBATCH --%s=%s" % (option, sbatch_value(option, value))
                             for option, value in options]
    for line in extra:
        if not line.startswith("#SBATCH"):
            line = "#SBATCH " + (line if line.startswith("-") else "--" + line)
        if any(ord(c) < 32 or ord(c) == 127 for c in line):
            sbatch_value("sbatch", line)
        lines.append(line)
    argv = toolkit_command(python) + ["run", os.path.abspath(target)] + list(worker_args)
    lines += ["# SIGTERM (scancel) makes the worker stop its runs and record them as",
              "# interrupted: they are pending again for the next worker.",
              "exec " + " ".join(shlex.quote(a) for a in argv), ""]
    return "\n".join(lines)


def submit(path):
    """sbatch the script; returns the job id."""
    try:
        result = subprocess.run(["sbatch", "--parsable", path], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True)
    except FileNotFoundError:
        raise UserError("sbatch not found: is this a Slurm login node? (--dry-run writes the "
                        "script without submitting)")
    if result.returncode != 0:
        raise UserError("sbatch refused %s: %s" % (path, result.stderr.strip().splitlines()[-1]
                                                   if result.stderr.strip() else result.returncode))
    match = re.match(r"\s*(\d+)", result.stdout)
    if not match:
        raise UserError("sbatch said %r, not a job id" % result.stdout.strip())
    return match.group(1)
