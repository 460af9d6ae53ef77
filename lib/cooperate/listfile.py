"""The list file: the user's JSON list of commands. The toolkit only reads it.

An entry is one of
  ["python", "main.py", "--lr", "0.1"]   an argv list (cooperate's format)
  "python main.py --lr 0.1"              split like a shell would, never run by one
  {"cmd": ..., "cwd": ..., "env": {...}, "name": ..., "retries": N}

An entry's id comes from its content, so users may append, reorder or
regenerate the list while workers run: what already ran keeps its id and is
not run again. Identical entries stay distinct by occurrence: the second copy
of an entry whose id is ``3fa9c2d1e0b4`` is ``3fa9c2d1e0b4-1``.
An entry whose first word is "executed" (how cooperate marked started
entries) counts as done and never runs.
"""

import hashlib
import json
import os

from .errors import UserError

OBJECT_KEYS = ("cmd", "cwd", "env", "name", "retries")
ID_LENGTH = 12


def entry_key(entry):
    """The identity of an entry's content, as a string (cheap for argv lists,
    which are the common case in large lists)."""
    if isinstance(entry, list):
        return "a\0" + "\0".join(entry)
    if isinstance(entry, str):
        return "s\0" + entry
    return "o\0" + json.dumps(entry, sort_keys=True, separators=(",", ":"))


def assign_ids(entries):
    """Ids for a sequence of entries, in order."""
    ids = []
    seen = {}
    sha1 = hashlib.sha1
    for entry in entries:
        digest = sha1(entry_key(entry).encode("utf-8", "surrogatepass")).hexdigest()[:ID_LENGTH]
        n = seen.get(digest, 0)
        seen[digest] = n + 1
        ids.append("%s-%d" % (digest, n) if n else digest)
    return ids


def _problem(entry):
    """What is wrong with an entry, or None."""
    if isinstance(entry, list):
        if not entry:
            return "empty command"
        if not all(isinstance(word, str) for word in entry):
            return "a command list must hold only strings"
        if not entry[0]:
            return "empty program name"
        if any("\0" in word for word in entry):
            return "a NUL character cannot be passed to a program"
        return None
    if isinstance(entry, str):
        return None if entry.strip() else "empty command"
    if isinstance(entry, dict):
        unknown = [k for k in entry if k not in OBJECT_KEYS]
        if unknown:
            return "unknown key %r (allowed: %s)" % (unknown[0], ", ".join(OBJECT_KEYS))
        if "cmd" not in entry:
            return "an object entry needs a 'cmd'"
        if not isinstance(entry["cmd"], (list, str)):
            return "'cmd' must be a list of strings or a string, not %s" % _kind(entry["cmd"])
        problem = _problem(entry["cmd"])
        if problem:
            return "'cmd': " + problem
        for key in ("cwd", "name"):
            if key in entry and not isinstance(entry[key], str):
                return "%r must be a string, not %s" % (key, _kind(entry[key]))
        env = entry.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            return "'env' must be an object of string values"
        retries = entry.get("retries", 0)
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            return "'retries' must be a whole number >= 0"
        return None
    return "must be a list of strings, a string or an object with 'cmd', not %s" % _kind(entry)


def _kind(value):
    return {bool: "true/false", int: "a number", float: "a number", type(None): "null",
            dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def is_executed(entry):
    """cooperate's old marker: a started entry's first word became "executed"."""
    if isinstance(entry, dict):
        entry = entry["cmd"]
    if isinstance(entry, list):
        return entry[0] == "executed"
    return entry.split(None, 1)[0] == "executed"


def _line_of(text, index):
    """1-based line where top-level element `index` starts (error path only)."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    for i in range(index + 1):
        while text[pos] in " \t\r\n,":
            pos += 1
        if i == index:
            return text.count("\n", 0, pos) + 1
        pos = decoder.raw_decode(text, pos)[1]
    return None


def read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise UserError("%s: no such list file" % path)
    except IsADirectoryError:
        raise UserError("%s: is a folder, not a list file" % path)
    except OSError as error:
        raise UserError("%s: cannot read: %s" % (path, error.strerror))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError("%s: not UTF-8 text (byte %d)" % (path, error.start))


def parse(path, text):
    """The validated entries of a list file's text."""
    try:
        entries = json.loads(text)
    except ValueError as error:
        raise UserError("%s:%d:%d: invalid JSON: %s" % (path, error.lineno, error.colno, error.msg))
    if not isinstance(entries, list):
        raise UserError("%s: the top level must be a JSON list of commands, not %s"
                        % (path, _kind(entries)))
    for i, entry in enumerate(entries):
        problem = _problem(entry)
        if problem:
            raise UserError("%s:%s: entry %d: %s" % (path, _line_of(text, i), i, problem))
    return entries


class CommandList:
    """A list file and the ids of its entries, re-read when the file changes."""

    def __init__(self, path):
        self.path = path
        self.signature = None
        self.entries = []
        self.ids = []
        self.position = {}
        self.executed = set()
        self.load()

    def _stat(self):
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def load(self):
        signature = self._stat()
        self.entries = parse(self.path, read_text(self.path))
        self.ids = assign_ids(self.entries)
        self.position = {id_: i for i, id_ in enumerate(self.ids)}
        self.executed = {self.ids[i] for i, e in enumerate(self.entries) if is_executed(e)}
        self.signature = signature

    def refresh(self):
        """Re-read the file if it changed since it was read; True if it did."""
        if self._stat() == self.signature:
            return False
        self.load()
        return True

    def entry(self, id_):
        return self.entries[self.position[id_]]

    def describe(self, id_):
        """A short human label for an entry."""
        entry = self.entry(id_)
        if isinstance(entry, dict):
            if "name" in entry:
                return entry["name"]
            entry = entry["cmd"]
        return entry if isinstance(entry, str) else " ".join(entry)
