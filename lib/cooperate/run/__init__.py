"""Workers and their processes: the loop that claims entries and runs them
(worker.py), starting, stopping and collecting runs as process groups in
slots and GPU slots (runs.py, launcher.py), keeping the lease (lease.py),
waiting for the host's resources (admission.py, resources.py), telling the
user (notices.py), and the guard process that kills a worker's runs if it
dies (guard.py).

Promises: a run never outlives its recorded end or its worker; a run whose
claim was taken back is killed, never recorded; an experiment's own doings
come in through hooks (hooks.py), never by importing it.

Imports: the queue and the shared top-level modules; never the grid,
results or the commands.
"""
