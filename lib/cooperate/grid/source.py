"""An experiment as a source of entries for the queue (the adapter between
liftoff's folders and cooperate.queue, which knows list files only).

`open_queue(target)` opens a list file, an experiment folder, or an
experiment's .cooperate/queue.json. A folder that liftoff itself made is
read as it is, in memory, by the commands that only read (nothing is
written anywhere); a command that changes state passes `change=True`, and
the folder is then adopted (see experiment.adopt) once the trust checks have
passed: its owner's, in a folder nobody else can change.
"""

import os

from cooperate.errors import UserError
from cooperate.queue import trust
from cooperate.queue.core import DEFAULT_LOCK_TIMEOUT, Queue, Source

# the experiment's own folder (experiment.OWN), without importing experiment.py
# for a plain list: status and every cron firing start faster
OWN = ".cooperate"


def source_of(target, change=False, trusted=False):
    """The queue Source that `target` names (see the module's docstring)."""
    if os.path.isdir(target):
        from cooperate.grid import experiment as exp

        if not exp.is_experiment(target):
            raise UserError("%s: is a folder, not a list file or an experiment (no %s in it)"
                            % (target, exp.MARKER))
        return _experiment(target, change, trusted)
    folder = os.path.dirname(os.path.abspath(target))
    if os.path.basename(target) == "queue.json" and os.path.basename(folder) == OWN:
        from cooperate.grid import experiment as exp

        exp_dir = os.path.dirname(folder)
        if exp.is_experiment(exp_dir):
            return Source(target, exp_dir, [os.path.join(exp_dir, exp.META_FILE)])
    return Source(target)


def _experiment(exp_dir, change, trusted):
    from cooperate.grid import experiment as exp

    path = os.path.join(exp_dir, exp.QUEUE_FILE)
    if exp.made_by_liftoff(exp_dir):
        if not change:
            text, records, _ = exp.read_made_by_liftoff(exp_dir)
            return Source(path, exp_dir, text=text, records=records)
        if not trusted:
            # adoption writes into the folder: only into one of this user's own
            trust.check_paths([exp_dir, os.path.join(exp_dir, exp.OWN)])
        exp.adopt(exp_dir)
    return Source(path, exp_dir, [os.path.join(exp_dir, exp.META_FILE)])


def open_queue(target, state_dir=None, lock_timeout=DEFAULT_LOCK_TIMEOUT, change=False,
               trusted=False, **options):
    """The Queue of `target` (adopting a folder liftoff made if `change`);
    the rest as Queue takes them."""
    return Queue(source_of(target, change, trusted), state_dir, lock_timeout, trusted=trusted,
                 **options)
