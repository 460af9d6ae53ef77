"""cooperate: one queue of commands on a shared filesystem, drained by workers
on every machine that can see it; liftoff-style YAML grids on the same queue."""

__version__ = "0.1.0"
