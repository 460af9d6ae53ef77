"""Workers on other machines: as a Slurm job array (slurm.py: a batch script
that starts the archive by its real path) and over ssh (spawn.py: detached
workers, every word quoted, the archive's and list's paths checked on the
remote side). Each remote worker is an ordinary worker of the same queue:
the queue's guarantees hold there unchanged.

Imports: the queue (host identity, files) and the shared top-level modules;
never run, grid, results or the commands.
"""
