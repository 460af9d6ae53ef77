"""A damaged or missing snapshot (issue 19, item 8): every changed byte is
found by a checksum, every command says so in one line naming the file and
exits 2, and nothing is changed; a missing snapshot says it is missing."""

import os
import random

import pytest

from cooperate.errors import UserError
from cooperate.queue import snapshot
from util import run, tree_digest, write_list


def compacted(tmp_path):
    """A queue whose journal was compacted: done and failed entries, in a
    snapshot. Returns (the state folder, the snapshot's path)."""
    write_list(tmp_path / "l.json", [["true", str(i)] for i in range(12)]
               + [["sh", "-c", "exit 3", str(i)] for i in range(3)])
    env = dict(os.environ, COOPERATE_COMPACT_AT="400")
    assert run("run", "l.json", "-q", cwd=tmp_path, env=env).returncode == 1
    state = tmp_path / "l.json.cooperate"
    snaps = sorted(state.glob("snapshot.*"))
    assert len(snaps) == 1, "compaction happened"
    return state, snaps[0]


def test_every_changed_byte_of_a_snapshot_is_found(tmp_path):
    state, snap = compacted(tmp_path)
    generation = int(snap.name.split(".")[1])
    good = snap.read_bytes()
    loaded = snapshot.load(str(state), generation)
    assert loaded.head["crc"], "written with checksums"
    for position in range(len(good)):
        for change in (1, 0x80):
            snap.write_bytes(good[:position] + bytes([good[position] ^ change])
                             + good[position + 1:])
            for packed in (False, True):
                with pytest.raises(UserError) as caught:
                    snapshot.load(str(state), generation, packed=packed)
                assert str(caught.value).startswith("%s is damaged" % snap)
    # cut short, or with bytes added
    for damaged in (good[:-1], good[:len(good) // 2], good + b"\0"):
        snap.write_bytes(damaged)
        if damaged.startswith(good):
            continue  # bytes after the last section are not read: nothing changes
        with pytest.raises(UserError):
            snapshot.load(str(state), generation)


COMMANDS = [("status", "l.json"), ("status", "l.json", "--json"), ("collect", "l.json"),
            ("report", "l.json", "-o", "r.html"), ("retry", "l.json", "--failed", "--do"),
            ("run", "l.json", "-q")]


def test_commands_on_a_damaged_snapshot_say_so_in_one_line_and_change_nothing(tmp_path):
    state, snap = compacted(tmp_path)
    good = snap.read_bytes()
    rng = random.Random(19)
    head_end = good.index(b"\n")
    # a byte of the head, of its checksum, and of the arrays
    positions = [rng.randrange(0, head_end - 9), head_end - 3,
                 rng.randrange(head_end + 1, len(good))]
    for position in positions:
        snap.write_bytes(good[:position] + bytes([good[position] ^ 0x20]) + good[position + 1:])
        before = tree_digest(str(state))
        for command in COMMANDS:
            result = run(*command, cwd=tmp_path)
            assert result.returncode == 2, (command, position, result.stderr)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and "l.json.cooperate/%s is damaged" % snap.name in lines[0], \
                (command, result.stderr)
            assert "Traceback" not in result.stderr
            assert tree_digest(str(state)) == before, command
        assert not (tmp_path / "r.html").exists()
    snap.write_bytes(good)
    assert run("status", "l.json", cwd=tmp_path).returncode == 0


def test_a_missing_snapshot_says_it_is_missing(tmp_path):
    state, snap = compacted(tmp_path)
    snap.unlink()
    before = tree_digest(str(state))
    for command in COMMANDS:
        result = run(*command, cwd=tmp_path)
        assert result.returncode == 2, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "l.json.cooperate/%s is missing" % snap.name in lines[0], \
            (command, result.stderr)
        assert tree_digest(str(state)) == before, command


def test_a_compactor_finds_every_changed_byte_and_changes_nothing(tmp_path):
    """Compaction reads the old snapshot a piece at a time: a changed byte
    anywhere in it stops the compaction, in one line, before anything is
    written (the journal and the snapshot as they were, no new snapshot)."""
    from cooperate.queue.lock import QueueLock
    from cooperate.queue.state import State

    state, snap = compacted(tmp_path)
    generation = int(snap.name.split(".")[1])
    # records for the compaction to fold: the failed entries made pending
    assert run("retry", "l.json", "--failed", cwd=tmp_path).returncode == 0
    good = snap.read_bytes()
    for position in range(len(good)):
        snap.write_bytes(good[:position] + bytes([good[position] ^ 0x10]) + good[position + 1:])
        before = tree_digest(str(state))
        with QueueLock(str(state / "lock"), 10, 0o600):
            with pytest.raises(UserError) as caught:
                snapshot.compact(str(state), generation, State, 0o600)
        assert str(caught.value).startswith("%s is damaged" % snap)
        assert tree_digest(str(state)) == before
    snap.write_bytes(good)
    with QueueLock(str(state / "lock"), 10, 0o600):
        assert snapshot.compact(str(state), generation, State, 0o600)[0] == generation + 1
