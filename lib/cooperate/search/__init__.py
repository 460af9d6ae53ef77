"""Early stopping: rules that read what runs report (cooperate.metrics) and
decide, from the queue's journal alone, which runs go on (asha.py:
asynchronous successive halving, and asynchronous Hyperband, the same rule
in brackets).

Promises: a rule records each value it compares, and its decision, in the
journal under the queue's lock, once per run and rung (an "s" record, kept
by the queue as generic data); it decides from the records before its own,
so any process replaying the journal gets the same answers (asha.replay),
and a sweep resumed after crashes loses nothing. A rule holds no state of
its own between decisions. It reaches the worker through run/'s EarlyStop
interface (cooperate.run.metrics), never the other way round.

Imports: the queue and the shared top-level modules; never run, grid,
results or the commands.
"""
