"""cooperate-log: a run's output, from its log in the state folder; -f
follows it while the run goes on."""

import sys
import time

from cooperate.cli.args import Parser, positive_int
from cooperate.cli.targets import add_target, target
from cooperate.errors import UserError

DESCRIPTION = """\
Print what a run wrote: the stdout log of the entry's latest attempt
(--err: its stderr log; --attempt N: that attempt). Name the entry by its
id (or a unique prefix, as status shows it), its "name", or an
experiment's run folder (0003_lr_0.1/0). With -f, go on printing what the
run writes until it ends, as `tail -f` does, whatever machine runs it
(the logs are in the shared state folder). A run that printed nothing has
no log: that is said on stderr, and the exit status is 0."""

# how often -f looks for more output and for the run's end
FOLLOW_EVERY = 0.5


def main(argv, prog):
    p = Parser(prog, DESCRIPTION)
    add_target(p)
    p.add_argument("entry", metavar="ID|NAME", help="the entry: its id (or a unique prefix), "
                   "its name, or an experiment's run folder")
    p.add_argument("--err", action="store_true", help="the run's stderr (default: stdout)")
    p.add_argument("-f", "--follow", action="store_true",
                   help="keep printing what the run writes until it ends")
    p.add_argument("--attempt", type=positive_int, metavar="N",
                   help="attempt N (1 is the first; default: the latest)")
    args = p.parse_args(argv)
    from cooperate.grid.source import open_queue

    queue = open_queue(target(args), args.state, reader=True, trusted=args.trust_writable,
                       packed=True)
    queue.read()
    id_ = find_entry(queue, args.entry)
    attempt = attempt_of(queue, id_, args.attempt)
    stream = "err" if args.err else "out"
    from cooperate.queue import logs

    # where it is, for the logs of older state folders; else where it will be
    found = logs.of_attempt(queue, id_, attempt)[1 if args.err else 0]
    path = found or queue.log_paths(id_, attempt.number)[1 if args.err else 0]
    out = getattr(sys.stdout, "buffer", sys.stdout)
    offset = copy(path, None, out)
    while args.follow and running(queue, id_, attempt.number):
        time.sleep(FOLLOW_EVERY)
        queue.read()
        offset = copy(path, offset, out)
    if args.follow:
        offset = copy(path, offset, out)  # what it wrote as it ended
    if offset is None:
        print("%s#%d: %s" % (id_, attempt.number, no_log(queue, id_, attempt, stream)),
              file=sys.stderr)
    return 0


def find_entry(queue, name):
    """The id of the entry `name` names: an id or unique prefix, a run
    folder, or an entry's "name"."""
    try:
        found = queue.select([name])
    except UserError:
        found = []
        for i, entry in enumerate(queue.list.each_entry()):
            if isinstance(entry, dict) and entry.get("name") == name:
                found.append(queue.list.ids[i])
        if not found:
            raise UserError("no entry %r in %s: give its id (cooperate-status %s --all lists "
                            "them) or its name" % (name, queue.list.path,
                                                   queue.experiment or queue.list.path))
    if len(found) > 1:
        raise UserError("%r names %d entries (%s...): give one id"
                        % (name, len(found), ", ".join(found[:3])))
    return found[0]


def attempt_of(queue, id_, number):
    """The entry's Attempt `number` (default: its latest)."""
    from cooperate.queue.state import PENDING

    last = queue.state.last(id_)
    if last is None:
        status = queue.status_of(id_)
        raise UserError("%s has not run yet (%s): no log" % (
            id_, "pending" if status == PENDING else status))
    if number is None:
        return last
    for a in last.chain():
        if a.number == number:
            return a
    raise UserError("%s has no attempt %d (its attempts: 1 to %d)" % (id_, number, last.number))


def running(queue, id_, number):
    """Is attempt `number` of the entry still the one that runs?"""
    from cooperate.queue.state import RUNNING

    last = queue.state.last(id_)
    return (last is not None and last.number == number
            and queue.status_of(id_) == RUNNING
            and not queue.leases.is_stale(last))


def copy(path, offset, out):
    """Write what `path` holds past `offset` to `out`; the new offset, or
    None while there is no such file."""
    try:
        with open(path, "rb") as f:
            f.seek(offset or 0)
            while True:
                block = f.read(1 << 16)
                if not block:
                    break
                out.write(block)
                offset = f.tell()
    except FileNotFoundError:
        return offset
    except OSError as error:
        raise UserError("cannot read %s: %s" % (path, error.strerror))
    out.flush()
    return offset or 0


def no_log(queue, id_, attempt, stream):
    """Why an attempt has no log to show."""
    from cooperate.queue import logs

    out, err, detached = logs.of_attempt(queue, id_, attempt)
    other = err if stream == "out" else out
    if not detached and attempt.end is not None:
        return "no log: its worker ran it with --no-detach (its output went to that terminal)"
    if running(queue, id_, attempt.number):
        return "no %s yet (it runs; -f follows it)" % ("stderr" if stream == "err" else "output")
    hint = " (it wrote to %s: %s)" % ("stderr" if stream == "out" else "stdout",
                                     "--err" if stream == "out" else "without --err") \
        if other else ""
    return "printed nothing to %s%s" % ("stderr" if stream == "err" else "stdout", hint)
