"""What a sweep produced: one table of every run's parameters, status and
results (collect.py), the summary status and the report both show
(summary.py), and the self-contained HTML report (report.py). Reading
never writes: the report and collect's output go where the user says, and
nothing in a queue's state or an experiment's folders is touched.

Imports: the queue (to read lists and their state), the grid (to open
experiments and match --where filters on their configs) and the shared
top-level modules; never run or the commands.
"""
