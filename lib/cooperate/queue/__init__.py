"""The shared queue: a JSON list of commands that workers on many machines
drain together, and the records of what happened to each entry.

Promises, whatever the filesystem between the machines (see
docs/guarantees.md): a claimed entry is held by one attempt of one worker at a time;
a record once appended is never lost or changed (journal.py, snapshot.py);
a worker that dies gives its entries back after its lease (lease.py); no
file that decides what runs can be changed by another user (trust.py);
opening a queue reads, only a transaction under the lock (lock.py) writes.

Imports: nothing of the toolkit but itself and the shared top-level modules
(errors, fmt, limits). It knows list files and Sources (source.py), never
experiments, runs or commands.
"""
