"""cooperate-spawn: start workers on other machines over ssh."""

import argparse
import os
import shlex
import sys

from cooperate.cli.args import Parser, positive_seconds
from cooperate.grid.source import open_queue
from cooperate.cli import targets
from cooperate.cli import workeropts as common

DESCRIPTION = """\
Start one worker on TARGET (a list or a liftoff experiment) on each host,
through ssh, detached: it goes on after ssh returns, until the list is
drained, like a `cooperate-run TARGET WORKER_OPTIONS` started there by hand
(WORKER_OPTIONS: what follows `--`, the options `run` takes).
Prints, for each host, the worker's pid there, that host's name and the
worker's log, which is in the state folder (STATE/spawn/HOST.TIME.PID.log);
a host where no worker started is named with the reason (ssh's message, or
the toolkit's from there).

Nothing is copied: the toolkit (this archive, or checkout), the list and the
folder you run this from must have the same paths on every host, as on a
shared filesystem; a host where one of them is missing says which. The
worker runs as you, in that folder, with the environment an ssh login there
gives (not this shell's: give entries full paths, or set things up in the
remote shell's startup files). ssh runs without a terminal and in BatchMode:
a host that would ask for a password or a host key confirmation fails at
once; use keys (ssh-agent) and known hosts.

The workers are like any other: `cooperate-procs -a TARGET` lists them,
`cooperate-status` counts their runs, `cooperate-drain TARGET --host HOST`
(the host's name as printed) lets a host's workers finish their runs and
stop, `cooperate-abort TARGET` stops the runs and so the workers."""

EPILOG = """\
exit status: 0 a worker started on every host, 1 on some hosts none did,
2 bad input or usage.

examples:
  cooperate-spawn exps.json --hosts node1,node2,node3 -- --procs-no 4 --gpus 0,1
  cooperate-spawn exps.json --hosts-file hosts.txt    (one host per line, # comments)
  cooperate-spawn exps.json --hosts alice@gpu1 --ssh "ssh -p 2222 -i ~/.ssh/lab"
  cooperate-spawn exps.json --hosts node1,node2 --dry-run    (print the ssh commands)"""


def main(argv, prog):
    p = Parser(prog, DESCRIPTION, EPILOG)
    targets.add_target(p)
    p.add_argument("--hosts", action="append", default=[], metavar="A,B",
                   help="hosts to start a worker on, HOST or USER@HOST, comma-separated "
                        "(repeatable; a host named twice gets two workers)")
    p.add_argument("--hosts-file", metavar="FILE",
                   help="more hosts, one per line (# starts a comment)")
    p.add_argument("--ssh", default="ssh", metavar="CMD",
                   help="the ssh command, split like a shell would, ~ included (never run "
                        "by one), e.g. \"ssh -F ~/.ssh/cluster_config\" (default ssh)")
    p.add_argument("--timeout", type=positive_seconds, default=60.0, metavar="S",
                   help="give up on a host that has not answered after S seconds (default 60)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the ssh command for each host, start nothing")
    p.add_argument("--python", default="python3", metavar="PYTHON",
                   help="the Python that runs the toolkit on the hosts: a name on their PATH "
                        "or a path there (default python3)")
    # what the ssh command runs on the other host (see spawn.py)
    p.add_argument("--remote", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cwd", help=argparse.SUPPRESS)
    p.add_argument("--as", dest="label", help=argparse.SUPPRESS)
    if "--" in argv:
        argv, worker_args = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    else:
        worker_args = []
    args = p.parse_args(argv)

    from cooperate.remote import spawn

    if args.remote:
        spawn.check_here(args.cwd, args.target)
        queue = open_queue(args.target, args.state, history=False, trusted=args.trust_writable,
                           change=True)
        print(spawn.start_here(queue, args.target, args.label, worker_args))
        return 0

    names = spawn.hosts(args.hosts, args.hosts_file)
    ssh = spawn.ssh_program(args.ssh)
    target = targets.target(args)
    queue = open_queue(target, args.state, history=False, trusted=args.trust_writable,
                       change=True)
    common.experiment_hooks(queue)
    state = os.path.abspath(args.state) if args.state else None
    worker_args = ((["--state", state] if state else []) +
                   (["--trust-writable"] if args.trust_writable else []) + worker_args)
    commands = [(name, spawn.ssh_argv(ssh, name, spawn.remote_command(
        os.path.abspath(target), os.getcwd(), name, state, args.trust_writable, worker_args,
        args.python)))
        for name in names]
    if args.dry_run:
        for _, command in commands:
            print(spawn.show(command))
        return 0

    results = spawn.start_all(commands, args.timeout)
    for r in results:
        if r.error is None:
            print("%s: worker pid %d on %s, log %s%s" % (
                r.host, r.pid, r.node, r.log,
                "" if r.joined else " (it has not joined the queue yet: see its log)"))
        else:
            print("%s: failed: %s" % (r.host, r.error), file=sys.stderr)
    started = [r for r in results if r.error is None]
    if started:
        shown = shlex.quote(target)
        nodes = sorted({r.node for r in started})
        print("%d worker%s on %s: `cooperate-procs -a %s` lists them, `cooperate-drain %s "
              "--host %s` lets %s finish their runs and stop" % (
                  len(started), "" if len(started) == 1 else "s", ", ".join(nodes), shown,
                  shown, nodes[0] if len(nodes) == 1 else "HOST",
                  "them" if len(nodes) == 1 else "a host's"))
    failed = [r.host for r in results if r.error is not None]
    if failed:
        print("no worker started on %s" % ", ".join(failed), file=sys.stderr)
        return 1
    return 0
