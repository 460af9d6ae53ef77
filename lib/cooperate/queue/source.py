"""Where a queue's entries come from, as the queue sees it.

The queue knows list files only. A layer above (an experiment folder, see
cooperate.grid.source) describes its entries with a Source: the list file,
the name to show the user, more files that decide what runs (checked for
trust with the list), and, for a folder read as it is without writing
anything, the list's text and the records of what already happened, held
in memory. A plain path is a Source of its own.
"""

import os


class Source:
    """`path`: the list file (for an in-memory source, where it would be);
    `experiment`: the experiment folder it belongs to, or None; `checked`:
    more files whose owner decides what runs; `text` and `records`: the
    list and the journal's records in memory (nothing on disk is read for
    them, and nothing may be written)."""

    def __init__(self, path, experiment=None, checked=(), text=None, records=None):
        self.path = path
        self.experiment = experiment
        self.checked = list(checked)
        self.text = text
        self.records = records

    @property
    def name(self):
        """What to call this queue in messages."""
        return self.experiment or self.path

    @property
    def in_memory(self):
        return self.text is not None


def default_state_dir(path):
    """LIST.cooperate beside the list file itself: through symbolic links
    (as given when there are none, so that messages show the user's path)."""
    real = os.path.realpath(path)
    return (path.rstrip("/") if real == os.path.abspath(path) else real) + ".cooperate"
