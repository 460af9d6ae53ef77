"""What a layer above the worker does as runs come and go.

The worker knows list entries, processes and logs. An experiment (see
cooperate.grid.hooks) also keeps marks and links in its run folders, runs
its script on each run's cfg.yaml and gives the runs its own environment:
it hands the worker a Hooks object whose methods the worker calls at each
step. The default does nothing. Marks are for other tools to read, so an
OSError from a hook is never the run's failure: the worker ignores it.
"""


class Hooks:
    # the runs' log files made as each starts (for links to them), rather
    # than with the first byte to each (see output.py)
    logs_at_start = False

    def command(self, entry, worker):
        """(argv, cwd, env) for an entry this layer runs its own way, or
        None (the entry is a command: see launcher.command_of)."""
        return None

    def environment(self, env):
        """Change the environment every run starts from (a dict), in place."""

    def launched(self, worker, pid):
        """A worker began (its pid), or ended (pid None)."""

    def started(self, claim, worker):
        """A claimed entry is about to start."""

    def logs(self, claim, written):
        """The attempt's logs: the paths of those written (see Claim.out/err)."""

    def log_dropped(self, claim, path):
        """A log the attempt left empty is about to be removed."""

    def ended(self, claim, outcome):
        """An attempt ended with this outcome."""
