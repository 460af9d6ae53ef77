"""The list file: the user's JSON list of commands. The toolkit only reads it.

An entry is one of
  ["python", "main.py", "--lr", "0.1"]   an argv list (cooperate's format)
  "python main.py --lr 0.1"              split like a shell would, never run by one
  {"cmd": ..., "cwd": ..., "env": {...}, "name": ..., "retries": N, "timeout": S,
   "gpus": N}
  {"cmd": "make -j4 && ./run | tee log", "shell": true}   only this runs a shell
  {"run": "0003_lr_0.1/0", "cfg": {...}}   a run of a liftoff experiment (the
                                         experiment's script runs its cfg.yaml)

An entry's id comes from its content, so users may append, reorder or
regenerate the list while workers run: what already ran keeps its id and is
not run again. Identical entries stay distinct by occurrence: the second copy
of an entry whose id is ``3fa9c2d1e0b4`` is ``3fa9c2d1e0b4-1``.
An entry whose first word is "executed" (how cooperate marked started
entries) counts as done and never runs.

An object entry's "after" lists entries, by their "name" or their id, that
must be done before it starts. A name it uses must be unique in the list; a
name or id that no entry has, a name several entries have, or a cycle is a
bad "after", so a bad entry (see `resolve_after`).

What cannot be started (a NUL character, `=` in an environment variable's
name, text that is not valid Unicode, quotes that do not close) is a bad
entry: reading a list with one is an error. A worker that re-reads a list
that changed under it is lenient instead: a bad entry gets an id and is
recorded as failed, with the reason, when its turn comes; a list that does
not read at all (being rewritten, say) is kept at its last version, and the
worker tries again.
"""

import json
import os
import re
import sys
import time
from json.decoder import WHITESPACE

from cooperate import limits
from cooperate.errors import UserError
from cooperate.queue.files import atomic_write
from cooperate.fmt import printable, quote_command

# the keys of a list's object entries; an experiment's own list
# (.cooperate/queue.json, written by prepare) has "run" and "cfg" too
USER_KEYS = ("after", "cmd", "cwd", "env", "gpus", "name", "retries", "shell", "timeout")
OBJECT_KEYS = USER_KEYS + ("run", "cfg")
ID_LENGTH = 12
CACHE_VERSION = 4
# a list that does not read and is changing is being written: its first
# read waits up to this many seconds for it to read
SETTLE = 2.0
# a list that changed and does not read is tried again at most this often
RETRY = 0.5


class Unreadable(UserError):
    """A list file that cannot be read as a JSON list at all."""


def entry_key(entry):
    """The identity of an entry's content, as a string (cheap for argv lists,
    which are the common case in large lists)."""
    if isinstance(entry, list) and all(isinstance(word, str) for word in entry):
        return "a\0" + "\0".join(entry)
    if isinstance(entry, str):
        return "s\0" + entry
    return "o\0" + json.dumps(entry, sort_keys=True, separators=(",", ":"))


def entry_id(entry):
    """The id of the first (or only) copy of an entry in a list."""
    return _digest(entry_key(entry))


def sha1_type():
    """SHA-1: the interpreter's built-in one where there is one (hashlib
    loads OpenSSL: a few milliseconds of every `status`)."""
    try:
        from _sha1 import sha1
    except ImportError:
        from hashlib import sha1
    return sha1


def _digest(key, sha1=None):
    if sha1 is None:
        sha1 = sha1_type()
    try:
        data = key.encode()
    except UnicodeEncodeError:
        # JSON allows lone surrogates ("\ud800"); they still need an id
        data = key.encode("utf-8", "surrogatepass")
    return sha1(data).hexdigest()[:ID_LENGTH]


class Ids:
    """Entry ids in list order. The 12-digit digests are packed into one
    string (100,000 ids as separate strings take 7 MB, packed 1.2 MB). When
    the list holds identical entries, `occurrence[i]` (an array, 4 bytes an
    entry) says which copy entry i is: the N-th copy's id is DIGEST-N."""

    def __init__(self, packed, occurrence=None):
        self.packed = packed
        self.occurrence = occurrence

    @classmethod
    def from_digests(cls, digests):
        if len(set(digests)) == len(digests):
            return cls("".join(digests))
        from array import array

        seen = {}
        occurrence = array("i", bytes(4 * len(digests)))
        for i, digest in enumerate(digests):
            n = seen.get(digest, 0)
            seen[digest] = n + 1
            occurrence[i] = n
        return cls("".join(digests), occurrence)

    def __len__(self):
        return len(self.packed) // ID_LENGTH

    def __getitem__(self, i):
        digest = self.packed[i * ID_LENGTH:(i + 1) * ID_LENGTH]
        n = self.occurrence[i] if self.occurrence is not None else 0
        return "%s-%d" % (digest, n) if n else digest

    def __iter__(self):
        return self.iter_from(0)

    def iter_from(self, start):
        """The ids from index `start` on (faster than indexing one by one)."""
        packed, n, occurrence = self.packed, ID_LENGTH, self.occurrence
        if occurrence is None:
            return (packed[i:i + n] for i in range(start * n, len(packed), n))
        if start:
            # a view, not islice: islice would step over the first `start`
            # (a worker asks from its cursor at every claim)
            occurrence = memoryview(occurrence)[start:]
        # an f-string: a fifth fewer instructions than "%s-%d" and indexing
        # (status walks a million ids)
        return (f"{packed[i * n:i * n + n]}-{k}" if k else packed[i * n:i * n + n]
                for i, k in enumerate(occurrence, start))

    def index(self, id_):
        """Where an id is (a scan: for rare calls), or None."""
        digest, _, copy = id_.partition("-")
        wanted = int(copy) if copy.isdigit() else 0
        if len(digest) != ID_LENGTH or (copy and not wanted):
            return None
        pos = self.packed.find(digest)
        if wanted and pos >= 0 and self.occurrence is not None:
            # the copies of an entry mostly follow each other: the wanted one
            # is then that far on (else each copy before it is looked at)
            guess = pos // ID_LENGTH + wanted
            if self.packed.startswith(digest, guess * ID_LENGTH) and \
                    self.occurrence[guess] == wanted:
                return guess
        while pos >= 0:
            i = pos // ID_LENGTH
            if pos % ID_LENGTH == 0 and (
                    self.occurrence[i] if self.occurrence is not None else 0) == wanted:
                return i
            pos = self.packed.find(digest, pos + 1)
        return None


def _text_problem(text, what):
    """What keeps `text` from reaching a program, or None."""
    if "\0" in text:
        return "%s holds a NUL character, which no program can be given" % what
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "%s holds text that is not valid Unicode (a lone surrogate such as \\ud800)" % what
    return None


def _command_problem(entry, shell=False):
    if isinstance(entry, list):
        if not entry:
            return "empty command"
        if not all(isinstance(word, str) for word in entry):
            return "a command list must hold only strings"
        if not entry[0]:
            return "empty program name"
        return next(filter(None, (_text_problem(word, "a word") for word in entry)), None)
    if not entry.strip():
        return "empty command"
    problem = _text_problem(entry, "the command")
    if problem is None and not shell and any(c in entry for c in "'\"\\"):
        import shlex

        try:
            shlex.split(entry)
        except ValueError as error:
            return "cannot split the command into words: %s" % str(error).lower()
    return problem


def _problem(entry):
    """What is wrong with an entry, or None."""
    if isinstance(entry, (list, str)):
        return _command_problem(entry)
    if isinstance(entry, dict):
        unknown = [k for k in entry if k not in OBJECT_KEYS]
        if unknown:
            return "unknown key %r (an entry's keys: %s)" % (unknown[0], ", ".join(USER_KEYS))
        if ("cmd" in entry) == ("run" in entry):
            return "an object entry needs a 'cmd' (or, in an experiment, a 'run')"
        if limits.depth(entry) > limits.MAX_DEPTH:
            return "nested more than %d deep (the limit)" % limits.MAX_DEPTH
        if "run" in entry:
            run = entry["run"]
            if (not isinstance(run, str) or not run or run.startswith("/") or "\\" in run
                    or ".." in run.split("/") or _text_problem(run, "'run'")):
                return "'run' must be a run folder inside the experiment, like 0003_lr_0.1/0"
            if "cfg" in entry and not isinstance(entry["cfg"], dict):
                return "'cfg' must be an object"
        elif not isinstance(entry["cmd"], (list, str)):
            return "'cmd' must be a list of strings or a string, not %s" % _kind(entry["cmd"])
        if "shell" in entry and (not isinstance(entry["shell"], bool) or
                                 entry["shell"] and not isinstance(entry.get("cmd"), str)):
            return "'shell' must be true or false, and a shell needs 'cmd' as one string"
        problem = "run" not in entry and _command_problem(entry["cmd"], entry.get("shell"))
        if problem:
            return "'cmd': " + problem
        for key in ("cwd", "name"):
            if key in entry:
                if not isinstance(entry[key], str):
                    return "%r must be a string, not %s" % (key, _kind(entry[key]))
                problem = _text_problem(entry[key], repr(key))
                if problem:
                    return problem
        after = entry.get("after", [])
        if not isinstance(after, list):
            return "'after' must be a list of entries' names or ids, not %s" % _kind(after)
        for ref in after:
            if not isinstance(ref, str) or not ref:
                return "'after' must hold entries' names or ids (strings), not %s" % (
                    "an empty string" if ref == "" else _kind(ref))
            problem = _text_problem(ref, "'after'")
            if problem:
                return problem
        env = entry.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            return "'env' must be an object of string values"
        for name, value in env.items():
            if not name or "=" in name:
                return "'env': %r cannot be the name of a variable (empty, or holds '=')" % name
            problem = _text_problem(name, "'env' name %r" % name) or _text_problem(
                value, "'env' value of %s" % name)
            if problem:
                return problem
        retries = entry.get("retries", 0)
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            return "'retries' must be a whole number >= 0"
        if "timeout" in entry and not _positive_seconds(entry["timeout"]):
            value = entry["timeout"]
            return "'timeout' must be a number of seconds > 0, not %s" % (
                value if isinstance(value, (int, float)) and not isinstance(value, bool)
                else _kind(value))
        gpus = entry.get("gpus", 1)
        if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 1:
            return "'gpus' must be a whole number of GPUs >= 1, not %s" % (
                gpus if isinstance(gpus, (int, float)) and not isinstance(gpus, bool)
                else _kind(gpus))
        return None
    return "must be a list of strings, a string or an object with 'cmd', not %s" % _kind(entry)


def _positive_seconds(value):
    # JSON's NaN and Infinity read as floats too: neither is a time limit
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0 < value < float("inf"))


def _kind(value):
    return {bool: "true/false", int: "a number", float: "a number", type(None): "null",
            dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def is_executed(entry):
    """cooperate's old marker: a started entry's first word became "executed"."""
    if isinstance(entry, dict):
        if "run" in entry:
            return False
        entry = entry["cmd"]
    if isinstance(entry, list):
        return entry[0] == "executed"
    return entry.split(None, 1)[0] == "executed"


def _is_ascii(text):
    """str.isascii(), which takes no time but is Python 3.7's."""
    try:
        return text.isascii()
    except AttributeError:
        return len(text) == len(text.encode("utf-8", "surrogatepass"))


def read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise Unreadable("%s: no such list file" % path)
    except IsADirectoryError:
        raise UserError("%s: is a folder, not a list file" % path)
    except OSError as error:
        raise Unreadable("%s: cannot read: %s" % (path, error.strerror))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Unreadable("%s: not UTF-8 text (byte %d)" % (path, error.start))


def _whole_file_error(path, text):
    """The error for a text that is not a JSON list, in json's own words."""
    try:
        value = limits.load_json(text, path)
    except ValueError as error:
        return Unreadable("%s:%d:%d: invalid JSON: %s" % (path, error.lineno, error.colno, error.msg))
    except UserError as error:
        return Unreadable(str(error))
    return Unreadable("%s: the top level must be a JSON list of commands, not %s"
                      % (path, _kind(value)))


def scan(path, text, strict=True):
    """Validate a list's text and give each entry its id, one entry at a
    time so that a large list is never held as Python objects all at once.
    Returns (offsets of the entries in the text, ids, indexes of entries
    marked executed, {index: problem} of bad entries, the dependencies as
    resolve_after gives them). A bad entry is an error if `strict`; JSON
    that does not read always is."""
    from array import array

    sha1 = sha1_type()
    parse_int = limits.bounded_int(path) if limits.LONG_NUMBER.search(text) else None
    decode = json.JSONDecoder(parse_int=parse_int).raw_decode
    skip = WHITESPACE.match
    offsets, digests, executed, problems = array("q"), [], [], {}
    # for "after": {name: index}, {name: [indexes]} of names given several
    # times, and [(index, its "after")]
    names, doubled, wanted = {}, {}, []
    pos = skip(text, 0).end()
    if not text.startswith("[", pos):
        raise _whole_file_error(path, text)
    pos = skip(text, pos + 1).end()
    closed = text.startswith("]", pos)
    # the text of the last argv list read, its id, and whether it is marked
    # executed: the copies of an entry follow each other in most lists
    copied = digest = marked = None
    while not closed:
        if copied and text.startswith(copied, pos):
            end = pos + len(copied)
            if marked:
                executed.append(len(offsets))
            offsets.append(pos)
            digests.append(digest)
        else:
            try:
                entry, end = decode(text, pos)
            except (ValueError, RecursionError):
                raise _whole_file_error(path, text)
            data = None
            if type(entry) is list and entry:
                # fast path for argv lists: join() rejects non-strings, a word
                # holding a NUL shows as one separator too many, and encode()
                # rejects lone surrogates
                try:
                    key = "a\0" + "\0".join(entry)
                    if key.count("\0") == len(entry) and entry[0]:
                        data = key.encode()
                except (TypeError, UnicodeEncodeError):
                    pass
            problem = None if data is not None else _problem(entry)
            if problem:
                if strict:
                    raise UserError("%s:%d: entry %d: %s"
                                    % (path, text.count("\n", 0, pos) + 1, len(offsets), problem))
                problems[len(offsets)] = problem
            elif is_executed(entry):
                executed.append(len(offsets))
            if type(entry) is dict:
                index, name = len(offsets), entry.get("name")
                if type(name) is str and names.setdefault(name, index) != index:
                    doubled.setdefault(name, [names[name]]).append(index)
                if entry.get("after") and not problem:
                    wanted.append((index, entry["after"]))
            offsets.append(pos)
            if data is not None:
                # an argv list: its copies that follow are known by their text
                copied, digest = text[pos:end], sha1(data).hexdigest()[:ID_LENGTH]
                marked = entry[0] == "executed"
                digests.append(digest)
            else:
                copied = None
                digests.append(_digest(entry_key(entry), sha1))
        pos = skip(text, end).end()
        if text.startswith(",", pos):
            pos = skip(text, pos + 1).end()
        elif text.startswith("]", pos):
            closed = True
        else:
            raise _whole_file_error(path, text)
    if skip(text, pos + 1).end() != len(text):
        raise _whole_file_error(path, text)
    ids = Ids.from_digests(digests)
    after, bad = resolve_after(wanted, names, doubled, ids) if wanted else ({}, {})
    if bad and strict:
        index = min(bad)
        raise UserError("%s:%d: entry %d: %s"
                        % (path, text.count("\n", 0, offsets[index]) + 1, index, bad[index]))
    problems.update(bad)
    return offsets, ids, executed, problems, after


# an id as status shows it, or the N-th copy's: DIGEST-N
_ID = re.compile(r"[0-9a-f]{%d}(-[1-9][0-9]*)?\Z" % ID_LENGTH)


def resolve_after(wanted, names, doubled, ids):
    """The dependencies of the entries with "after", [(index, [name or id,
    ...])] in list order, given the names ({name: index}; {name: [indexes]}
    of those several entries have) and the ids. Returns ({index: (indexes
    of the entries it waits for)}, in an order where an entry comes after
    those it waits for, {index: problem} of the entries whose "after" is
    bad: a name or id no entry has, a name several have, or a cycle (each
    entry on it is bad, and those behind it only wait for bad entries)."""
    by_id, after, bad = None, {}, {}
    for index, refs in wanted:
        deps = []
        for ref in refs:
            if ref in doubled:
                bad[index] = "'after': %r is the name of entries %s (a name waited for must be unique)" % (
                    ref, ", ".join(map(str, doubled[ref])))
                break
            found = names.get(ref)
            if found is None and _ID.match(ref):
                if by_id is None:
                    # ids are rarely given: mapped only then
                    by_id = {id_: i for i, id_ in enumerate(ids)}
                found = by_id.get(ref)
            if found is None:
                bad[index] = "'after': no entry is named %r%s" % (
                    ref, " or has that id" if _ID.match(ref) else "")
                break
            deps.append(found)
        else:
            # waiting twice for an entry is waiting for it
            after[index] = tuple(dict.fromkeys(deps))
    if any(d >= i for i, deps in after.items() for d in deps):
        # some wait for an entry further down the list: order them (which
        # finds cycles); list order is such an order otherwise
        after = _ordered(after, bad, names)
    return after, bad


def _ordered(after, bad, names):
    """`after` ordered so that each entry comes after those it waits for
    (Kahn's algorithm). The entries on a cycle go to `bad` and out of
    `after`, and the rest is ordered again."""
    while True:
        waits = {i: sum(d in after for d in deps) for i, deps in after.items()}
        behind = {}
        for i, deps in after.items():
            for d in deps:
                if d in after:
                    behind.setdefault(d, []).append(i)
        free = [i for i, n in waits.items() if not n]
        order = []
        while free:
            i = free.pop()
            order.append(i)
            for j in behind.get(i, ()):
                waits[j] -= 1
                if not waits[j]:
                    free.append(j)
        if len(order) == len(after):
            return {i: after[i] for i in order}
        # what is left waits for itself through a cycle: find one (each of
        # them waits for at least one other of them)
        left = set(after).difference(order)
        path, at = [], {}
        i = min(left)
        while i not in at:
            at[i] = len(path)
            path.append(i)
            i = next(d for d in after[i] if d in left)
        cycle = path[at[i]:]
        name_of = {i: name for name, i in names.items() if i in at}
        for k, i in enumerate(cycle):
            round_ = ["entry %d %r" % (j, name_of[j]) if j in name_of else "entry %d" % j
                      for j in cycle[k:] + cycle[:k + 1]]
            bad[i] = "'after' makes a cycle: %s waits for %s" % (
                round_[0], ", which waits for ".join(round_[1:]) if len(cycle) > 1 else "itself")
            del after[i]


def parse(path, text):
    """The validated entries of a list file's text, as Python objects."""
    scan(path, text)
    return json.loads(text)


class CommandList:
    """A list file and the ids of its entries, re-read when the file changes.

    Writers keep each entry's offset and read an entry from the file when
    they claim it (a list of 100,000 commands as Python objects would take
    several times the memory; only a list with non-ASCII text is kept, as its
    character offsets are not byte offsets). There is no id -> index map:
    claims walk the list in order, and looking an id up is rare (retries,
    interrupted runs).
    With `cache`, the ids (and, for a list in ASCII, the entries' offsets)
    are also kept in that file, keyed by the list's inode, size and
    modification time, so that `status` and a newly started worker find them
    without parsing and hashing the whole list again. A stale cache cannot
    make a worker run the wrong entry: an entry read at its offset is
    checked against its id, and a mismatch reads the whole list again.
    A `reader` (status) takes no offsets: it never reads an entry by them.

    The first read is strict (a bad entry is an error); later ones, after
    the file changed, are lenient (see the module's docstring). A file that
    does not read at first but is still changing is read again, for up to
    SETTLE seconds: it is being written. `check(path)`, if given, is called
    before every read: a UserError from it makes the file unusable, as one
    that does not read.
    """

    def __init__(self, path, cache=None, reader=False, check=None, text=None):
        self.path = path
        # the list's text, when it is held in memory instead of read from path
        self.fixed = text
        self.cache = None if text is not None else cache
        self.check = check
        self.reader = reader
        # the list file kept open to read entries from, while it is the
        # version read (see entry)
        self._fd = None
        # (message, since): the file changed and does not read; the last
        # version that did stays in use
        self.unreadable = None
        self._tried = 0.0
        if check is not None:
            check(path)
        if not (cache and self._load_cache(self._stat())):
            self._settle()

    def _stat(self):
        if self.fixed is not None:
            return "in memory"
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return [st.st_ino, st.st_size, st.st_mtime_ns]

    def text(self):
        """The list file's text (or the text held in memory)."""
        return read_text(self.path) if self.fixed is None else self.fixed

    def _settle(self):
        deadline = time.monotonic() + SETTLE
        while True:
            signature = self._stat()
            try:
                return self.load(strict=True)
            except Unreadable:
                time.sleep(0.05)
                if self._stat() == signature or time.monotonic() >= deadline:
                    raise

    def _close(self):
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def load(self, strict=False):
        self._close()
        signature = self._stat()
        text = self.text()
        offsets, ids, executed, problems, after = scan(self.path, text, strict)
        self._offsets, self.ids, self.problems = offsets, ids, problems
        self._text = None if self.fixed is None and _is_ascii(text) else text
        self.executed = {ids[i] for i in executed}
        self._keep_after(after)
        self.signature = signature
        self._entries = None
        self._cached = False

    def _load_cache(self, signature, offsets=None):
        """The ids (and offsets) from the cache, if it is of this version of
        the list: a JSON line, then the packed ids, the copies' occurrence
        numbers, the dependencies (see _flatten) and the offsets as machine
        arrays. `offsets`: take them (default: unless a reader)."""
        from array import array

        with_offsets = not self.reader if offsets is None else offsets
        self._close()
        try:
            with open(self.cache, "rb") as f:
                head = json.loads(f.readline())
                if head["version"] != CACHE_VERSION or head["signature"] != signature:
                    return False
                count = head["count"]
                # a few thousand ids at a time, and the arrays read straight
                # into place: a large block read and dropped makes the C
                # library keep later ones in its heap (see snapshot._read_array)
                parts, left = [], count * ID_LENGTH
                while left:
                    part = f.read(min(left, 1 << 16)).decode("ascii")
                    if not part:
                        return False
                    parts.append(part)
                    left -= len(part)
                packed = "".join(parts)
                del parts
                arrays = []
                for length, code in ((count if head["copies"] else 0, "i"), (head["after"], "i"),
                                     (count if head["offsets"] and with_offsets else 0, "q")):
                    if not length:
                        arrays.append(None)
                        continue
                    values = array(code, [0]) * length
                    if f.readinto(memoryview(values).cast("B")) != length * values.itemsize:
                        return False
                    if head["byteorder"] != sys.byteorder:
                        values.byteswap()
                    arrays.append(values)
            if len(packed) != count * ID_LENGTH:
                return False
            self.ids = Ids(packed, arrays[0])
            self.executed = set(head["executed"])
            self._keep_after(_unflatten(arrays[1]) if arrays[1] else {})
        except (OSError, ValueError, TypeError, KeyError, AttributeError, IndexError):
            return False
        self._offsets, self._text, self._entries = arrays[2], None, None
        self.problems = {}
        self.signature = signature
        self._cached = True
        return True

    def save_cache(self):
        """Keep the ids for readers and new workers (best effort: it is only
        a cache; nothing to do when they came from it)."""
        if self._cached or self.problems:
            return
        offsets = self._offsets if self._text is None else None
        occurrence = self.ids.occurrence
        after = _flatten(self.after) if self.after else None
        head = {"version": CACHE_VERSION, "signature": self.signature, "count": len(self.ids),
                "executed": sorted(self.executed), "copies": occurrence is not None,
                "after": len(after) if after else 0,
                "offsets": offsets is not None, "byteorder": sys.byteorder}
        data = b"".join([json.dumps(head).encode(), b"\n", self.ids.packed.encode()]
                        + [a.tobytes() for a in (occurrence, after, offsets) if a is not None])
        try:
            # the state's modes: its folder's group's too only in a team's folder
            atomic_write(self.cache, data, durable=False, mode=0o660 if os.stat(
                os.path.dirname(self.cache)).st_mode & 0o020 else 0o600)
        except UserError:
            return
        self._cached = True

    def _keep_after(self, after):
        """The dependencies ({index: (indexes it waits for)}, resolve_after's
        order), and the other way round by id, as ends are recorded:
        {id: [indexes of the entries that wait for it]}."""
        self.after = after
        self.dependents = {}
        for i, deps in after.items():
            for d in deps:
                self.dependents.setdefault(self.ids[d], []).append(i)

    def refresh(self, force=False):
        """Re-read the file if it changed since it was read (or if `force`);
        True if a new version was read. One that does not read is tried
        again at most every RETRY seconds, meanwhile `unreadable` says why."""
        if not force and self._stat() == self.signature:
            return False
        now = time.monotonic()
        if self.unreadable is not None and now - self._tried < RETRY:
            return False
        self._tried = now
        try:
            if self.check is not None:
                self.check(self.path)
            self.load()
        except UserError as error:
            if self.unreadable is None:
                self.unreadable = (str(error), now)
            return False
        self.unreadable = None
        # readers trust the cache: never give them a list with bad entries
        if self.cache:
            self.save_cache()
        return True

    def entry(self, i):
        """The entry at index i; None when the file changed since it was read
        (it has been read again if it could be: look for the entry anew)."""
        if self._offsets is None and self._entries is None and self._cached and self.reader:
            # a reader took the ids alone from the cache: the offsets too now
            # (parsing a million entries would take 250 MB)
            self._load_cache(self.signature, offsets=True)
        if self._offsets is None or self._entries is not None:
            # the ids came from the cache: parse the list now that an entry is needed
            return self.entries()[i]
        if self._text is not None:
            return json.JSONDecoder().raw_decode(self._text, self._offsets[i])[0]
        start = self._offsets[i]
        size = self._offsets[i + 1] - start if i + 1 < len(self._offsets) else -1
        try:
            # one system call (a round trip on NFS) per entry: the file stays
            # open while refresh finds it unchanged (a new version is opened
            # afresh: on NFS only an open is sure to read what another
            # machine wrote), and what is read must have the entry's id
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            fd = self._fd
            data = os.pread(fd, size if size >= 0 else os.fstat(fd).st_size - start, start)
            entry = json.JSONDecoder().raw_decode(data.decode())[0]
            if _digest(entry_key(entry)) == self.ids[i].split("-")[0]:
                return entry
        except (OSError, ValueError, TypeError, RecursionError):
            pass
        self._close()
        self.refresh(force=True)
        return None

    def entries(self):
        """Every entry, parsed (for selections over the whole list)."""
        if self._entries is None:
            entries = json.loads(self.text())
            if self._stat() != self.signature or len(entries) != len(self.ids):
                self.load()
                return self.entries()
            self._entries = entries
        return self._entries

    def each_entry(self):
        """Every entry, parsed one at a time (a pass over a large list that
        does not hold it all as objects)."""
        if self._entries is not None:
            return iter(self._entries)
        text = self.text()
        if self._stat() != self.signature:
            return iter(self.entries())
        return self._each(text)

    def _each(self, text):
        decode, skip = json.JSONDecoder().raw_decode, WHITESPACE.match
        pos = skip(text, skip(text, 0).end() + 1).end()
        for _ in range(len(self.ids)):
            entry, pos = decode(text, pos)
            yield entry
            pos = skip(text, pos).end()
            pos = skip(text, pos + 1).end()

    def describe(self, i):
        """A short human label for the entry at index i."""
        return label(self.entry(i))


def _flatten(after):
    """Dependencies as one array of ints (for the cache): per entry that
    waits, its index, how many it waits for, and their indexes."""
    from array import array

    flat = array("i")
    for i, deps in after.items():
        flat.append(i)
        flat.append(len(deps))
        flat.extend(deps)
    return flat


def _unflatten(flat):
    after, k = {}, 0
    while k < len(flat):
        n = flat[k + 1]
        after[flat[k]] = tuple(flat[k + 2:k + 2 + n])
        k += 2 + n
    return after


def label(entry):
    """A short human label for an entry, printable whatever it holds."""
    if entry is None:
        return "(the list changed)"
    if isinstance(entry, dict):
        if entry.get("name") or entry.get("run"):
            entry = entry.get("name") or entry["run"]
        else:
            entry = entry.get("cmd", "")
    if isinstance(entry, list):
        # quoted as a shell would need it (fmt.quote_command), as every
        # command shows an entry
        return quote_command([w.encode("utf-8", "backslashreplace").decode("utf-8")
                              if isinstance(w, str) else json.dumps(w) for w in entry])
    elif not isinstance(entry, str):
        entry = json.dumps(entry)
    return printable(entry.encode("utf-8", "backslashreplace").decode("utf-8"))
