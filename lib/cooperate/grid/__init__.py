"""liftoff's side: YAML config grids expanded into variations and runs
(config.py), `doe`'s templates and values (design.py), experiment folders
in liftoff 0.3.3's layout with their cfg.yaml files (experiment.py,
cfgyaml.py), the marks and links liftoff's launcher kept in run folders
(hooks.py), and the adapter that gives the queue an experiment's entries
(source.py): a folder liftoff made is read in memory by commands that only
read, and adopted only by commands that change it, after the trust checks.

Imports: the queue and the shared top-level modules; never run, results or
the commands (the worker's hooks are passed to it, not imported by it).
"""
