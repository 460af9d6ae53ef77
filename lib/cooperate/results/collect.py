"""Collect a list's or an experiment's runs into one table: one row per
entry with what the queue knows of it and the results the run wrote.

Columns, in this order:

  id, run (experiments only), status, outcome, attempts, host, duration
      the entry's id, its run folder, its status, how its latest finished
      attempt ended (done, failed, timeout, aborted, interrupted, lost; None
      while it never finished), how many attempts it had, the host of its
      latest attempt and the seconds its latest finished attempt took
  parameters
      experiments: every dotted path of the entries' "cfg" (queue.json; no
      cfg.yaml is read) whose value differs between runs; plain lists: the
      entry's command, as `command`
  results
      the keys of the results file the run wrote, nested mappings as dotted
      columns (a result named like an earlier column is `result.NAME`)
  metrics
      what the latest attempt reported in its metrics file (curves.py):
      step (the last step), NAME.last and NAME.best for each metric

The results file is `results_file` (default results.json) in the run's
folder for an experiment. A plain list's entries have no folder: their
results are read only when `results_dir` is given, a pattern with {id} in
it (and {run} for experiments, where it replaces the run folder), relative
to the current folder: `results/{id}.json` is that file, and a pattern that
names a folder (`results/{id}`) holds `results_file`. By its name's end the
file is JSON (anything but the two below), YAML (.yaml, .yml: a mapping) or
CSV (.csv: the header names the columns and the last row holds the values;
numbers become numbers). A run without the file has empty (None) result
cells; an unreadable or malformed file gives the same, plus a warning.

`where` keeps only the rows whose columns have the given values: a list of
"KEY=VALUE" strings (values parsed like YAML scalars, as --filters does), of
(key, value) pairs, or a dict. A key names any column: a parameter, a
result, id, status, host...

aggregate(table, over) gives one row per variation (see its doc): the
runs that differ only in the `over` parameters (default seed and run_id)
are one group, and each numeric column has its mean, standard deviation and
count (NAME.mean, NAME.std, NAME.n).

Numbers: a value read from a results file or a config is kept as it was
written (its shortest round-trip text, which is how Python prints a float:
0.30000000000000004 stays so if the run wrote it); a value computed here is
clean: means and standard deviations are computed exactly, then rounded to
15 significant digits (mean of 0.1 and 0.2: 0.15, not the
0.15000000000000002 of float arithmetic or statistics.mean), and durations
to the millisecond.

Nothing here prints: warnings are returned (collect) or appended to the
`warnings` list given to rows().
"""

import json
import math
import os
import re
from itertools import islice

from cooperate.errors import UserError

FIXED = ("id", "status", "outcome", "attempts", "host", "duration")
DEFAULT_RESULTS_FILE = "results.json"
# what aggregate() averages over by default: liftoff's runs of one variation
# (run_id) and a seed given as a parameter
DEFAULT_OVER = ("seed", "run_id")
STATS = ("mean", "std", "n")
_MISSING = object()


def rows(target, results_file=DEFAULT_RESULTS_FILE, where=None, results_dir=None,
         state_dir=None, warnings=None, aggregate=False, over=DEFAULT_OVER, maximise=()):
    """One dict per entry of `target` (a list file or an experiment folder),
    every dict with every column in the same order (None: an empty cell).
    Warnings (malformed results files) are appended to `warnings` if given.
    With `aggregate`, one dict per variation instead (see aggregate()).
    `maximise`: metrics whose best value is the highest (see curves.py)."""
    table = collect(target, results_file, where, results_dir, state_dir, maximise=maximise)
    if aggregate:
        table = _aggregate(table, over)
    if warnings is not None:
        warnings.extend(table.warnings)
    return table.rows


class Table:
    """The columns, the rows (dicts with every column) and the warnings.
    A table of runs also knows what aggregate() needs: whether it is an
    experiment's, its parameter and result columns, and each row's entry."""

    def __init__(self, columns, rows, warnings, experiment=False, params=(), results=(),
                 entries=None):
        self.columns, self.rows, self.warnings = columns, rows, warnings
        self.experiment, self.params, self.results = experiment, list(params), list(results)
        self.entries = entries


def _flatten(value, prefix, out):
    for key, item in value.items():
        path = "%s.%s" % (prefix, key) if prefix else str(key)
        if isinstance(item, dict) and item:
            _flatten(item, path, out)
        else:
            out[path] = item
    return out


def _key(value):
    """A hashable stand-in for a value, telling True from 1."""
    if value.__class__ in (str, int, float) or value is None:
        return (value.__class__ is str, value)
    return ("j", json.dumps(value, sort_keys=True, default=str))


def varied(flat_cfgs):
    """The dotted paths whose value differs between these flat configs (a
    path missing from some counts as differing), in order of appearance."""
    varies = Varied()
    for cfg in flat_cfgs:
        varies.add(cfg)
    return varies.paths()


class Varied:
    """varied() a config at a time: each path's first value (or that it
    differs) and how many configs have it."""

    def __init__(self):
        self.values, self.counts, self.n = {}, {}, 0

    def add(self, cfg):
        values, counts = self.values, self.counts
        self.n += 1
        for path, value in cfg.items():
            key = _key(value)
            if values.setdefault(path, key) != key:
                values[path] = _MISSING
            counts[path] = counts.get(path, 0) + 1

    def paths(self):
        return [path for path in self.values
                if self.values[path] is _MISSING or self.counts[path] < self.n]


def _number(text):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def read_results(path):
    """(flat mapping or None when there is no file, warning or None)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except IsADirectoryError:
        return None, "%s: is a folder, not a results file" % path
    except OSError as error:
        return None, "%s: cannot read: %s" % (path, error.strerror)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, "%s: not UTF-8 text (byte %d)" % (path, error.start)
    lower = path.lower()
    try:
        if lower.endswith(".csv"):
            import csv

            lines = list(csv.reader(text.splitlines()))
            lines = [line for line in lines if line]
            if len(lines) < 2:
                return None, "%s: a CSV results file needs a header and a row of values" % path
            header, last = lines[0], lines[-1]
            if len(last) != len(header):
                return None, "%s: the last row has %d values for %d columns" % (
                    path, len(last), len(header))
            value = {name: _number(cell) for name, cell in zip(header, last)}
        elif lower.endswith((".yaml", ".yml")):
            from cooperate.limits import load_yaml

            value = load_yaml(text, path)
        else:
            from cooperate.limits import load_json

            value = load_json(text, path)
    except UserError as error:
        return None, str(error)
    except ValueError as error:
        return None, "%s: invalid JSON: %s" % (path, error)
    except Exception as error:  # yaml.YAMLError and csv.Error, imported lazily
        return None, "%s: unreadable: %s" % (path, str(error).replace("\n", " "))
    if not isinstance(value, dict):
        return None, "%s: the results must be a mapping, not %s" % (path, type(value).__name__)
    return _flatten(value, "", {}), None


# where a plain list's run writes its results by convention (relative to
# the folder it runs in): found by collect and the report without --results-dir
DEFAULT_LIST_RESULTS = os.path.join("results", "{id}.json")


def default_results(id_, list_dir):
    """A plain list entry's results file by the convention, in the current
    folder or else in the list's, or None when there is none."""
    name = DEFAULT_LIST_RESULTS.format(id=id_)
    for path in (name, os.path.join(list_dir, name)):
        if os.path.isfile(path):
            return path
    return None


def list_shape(words):
    """The commands' shapes, {(how many words, program)}, from each entry's
    words: params_of names each word that is not a parameter argN when all
    have one shape."""
    return {(len(w), w[0] if w else None) for w in words}


def _list_words(entry):
    # entries run by a shell have no parameters
    return [] if isinstance(entry, dict) and entry.get("shell") else _words(entry)


def params_of(words, shape):
    """{name: value} of a plain list entry's command (its words): its
    --NAME VALUE, --NAME=VALUE and NAME=VALUE parameters
    (command_parameters), and, when every command has the same program and
    as many words (`shape`, see list_shape), each other word as argN (N: its
    place), so that a value placed on its own (`train.py {lr}`) is a column
    too."""
    found, used = {}, {0}
    for name, value, index, prefix in command_parameters(words):
        found.setdefault(name, value)
        used.add(index)
    if len(shape) == 1:
        for i, word in enumerate(words):
            if i not in used and not word.startswith("-"):
                found.setdefault("arg%d" % i, _number(word))
    return found


def _command(entry):
    if isinstance(entry, dict):
        entry = entry.get("cmd", "")
    if isinstance(entry, list):
        from cooperate.fmt import quote_command

        return quote_command([w if isinstance(w, str) else json.dumps(w) for w in entry])
    return entry


def _finished(attempt):
    """The latest of the attempts that ended, or None."""
    while attempt is not None and attempt.end is None:
        attempt = attempt.previous
    return attempt


def _parse_where(where):
    if not where:
        return []
    if isinstance(where, dict):
        return list(where.items())
    if isinstance(where, str):
        where = [where]
    from cooperate.grid.config import parse_filters

    return [w if isinstance(w, tuple) else parse_filters([w])[0] for w in where]


def _check_pattern(results_dir, experiment):
    placeholders = ("{id}", "{run}") if experiment else ("{id}",)
    if not any(p in results_dir for p in placeholders):
        raise UserError("--results-dir %r: the pattern needs %s in it, as in results/{id}.json"
                        % (results_dir, " or ".join(placeholders)))
    try:
        results_dir.format(id="x", run="x")
    except (KeyError, IndexError, ValueError) as error:
        raise UserError("--results-dir %r: a bad pattern (%s); only {id}%s may be used"
                        % (results_dir, error, " and {run}" if experiment else ""))


def _check_results_file(results_file):
    if not results_file or os.sep in results_file:
        raise UserError("--results-file %r: expected a file name, like results.json" % results_file)


def collect(target, results_file=DEFAULT_RESULTS_FILE, where=None, results_dir=None,
            state_dir=None, trusted=True, maximise=()):
    """The Table of `target`'s entries (see the module's doc). Unless
    `trusted`, a list or state that other users can change is refused (see
    trust.py); reading from Python trusts it."""
    from cooperate.grid.source import open_queue

    _check_results_file(results_file)
    filters = _parse_where(where)
    queue = open_queue(target, state_dir, reader=True, trusted=trusted, packed=True)
    queue.read()
    return from_queue(queue, results_file, filters, results_dir, maximise=maximise)


# first_entries reads the list file this many bytes at a time (more while an
# entry is longer: a piece is at least as long as the text not yet parsed)
PIECE = 1 << 16


def first_entries(commands, n):
    """The first `n` entries of a CommandList, parsed from the start of its
    file only, read a piece at a time (a list of a million entries takes a
    second and 150 MB to parse whole, and 18 MB to hold as bytes and text,
    for the few thousand a report shows). Each is checked against its id:
    if the file changed since its ids were read (before or while this reads
    it), the list is read again (ids too) and its new first `n` entries
    given."""
    ids = commands.ids
    if n >= len(ids):
        return commands.entries()
    from cooperate.queue.listfile import entry_id

    out = []
    read = _from_start(commands)
    try:
        for entry in read:
            if entry_id(entry) != ids[len(out)].partition("-")[0]:
                raise ValueError("changed")
            out.append(entry)
            if len(out) == n:
                return out
    except (ValueError, RecursionError, UserError, OSError):
        pass
    finally:
        read.close()
    commands.load()
    return commands.entries()[:n]


def _from_start(commands):
    """A list file's entries in order, its text read PIECE bytes at a time
    (or the text the CommandList holds); ValueError where it is not a JSON
    list of them, or not UTF-8."""
    from json.decoder import WHITESPACE

    decode, skip = json.JSONDecoder().raw_decode, WHITESPACE.match
    f = text = None
    if commands.fixed is None:
        import codecs

        f = open(commands.path, "rb")
        utf8 = codecs.getincrementaldecoder("utf-8")()
        text = ""
    else:
        text = commands.fixed
    try:
        # pos: after the "[" or the "," before the next entry
        pos, opened = 0, False
        while True:
            try:
                start = skip(text, pos).end()
                if not opened:
                    if not text.startswith("[", start):
                        raise ValueError("not a list")
                    start = skip(text, start + 1).end()
                entry, end = decode(text, start)
                after = skip(text, end).end()
                last = text.startswith("]", after)
                if not last and not text.startswith(",", after):
                    raise ValueError("not a list")
            except ValueError:
                # an entry cut where the piece ends, or one that does not read
                data = f.read(max(PIECE, len(text) - pos)) if f is not None else b""
                if not data:
                    raise
                text, pos = text[pos:] + utf8.decode(data), 0
                continue
            opened = True
            yield entry
            if last:
                return
            pos = after + 1
    finally:
        if f is not None:
            f.close()


def from_queue(queue, results_file=DEFAULT_RESULTS_FILE, where=None, results_dir=None,
               entries=None, maximise=()):
    """The Table of a Queue already read (the report reads it once); with
    `entries`, the list's first entries as first_entries() gives them (the
    rows a report shows), of those only."""
    made = Rows(queue, results_file, where, results_dir, entries, maximise)
    rows, kept = [], []
    for row, entry in made:
        rows.append(row)
        kept.append(entry)
    return Table(made.columns, rows, made.warnings, bool(made.experiment), made.params,
                 made.results, kept)


class Rows:
    """A Queue's table a row at a time, for a list too large to hold as
    rows: `columns` (and `params`, `results`, `warnings`) are known once
    made, by a first pass over the entries (which parameters vary, which
    results the runs wrote, which metrics they reported); iterating makes
    each row kept by `where` with its entry, (row, entry), reading each
    entry and results file again. Arguments as from_queue takes them."""

    def __init__(self, queue, results_file=DEFAULT_RESULTS_FILE, where=None, results_dir=None,
                 entries=None, maximise=()):
        _check_results_file(results_file)
        self.queue, self.results_file, self.results_dir = queue, results_file, results_dir
        self.filters = _parse_where(where)
        self.experiment = experiment = queue.experiment
        if results_dir is not None:
            _check_pattern(results_dir, experiment)
        self.entries = entries
        self.list_dir = os.path.dirname(queue.list.path)
        self.fixed = ("id", "run") + FIXED[1:] if experiment else FIXED
        # a plain list's commands' shape (see list_shape), then every
        # entry's parameters (the columns of those that vary) and results
        self.shape = None if experiment else list_shape(_list_words(e) for _, e in self._each())
        paths, varies, found_names, self.warnings = set(), Varied(), {}, []
        for id_, entry in self._each():
            cfg = self._cfg(entry)
            paths.update(cfg)
            varies.add(cfg)
            found, warning = self._read(id_, entry)
            if warning:
                self.warnings.append(warning)
            found_names.update(dict.fromkeys(found or ()))
        self.params = varies.paths() if experiment else ["command"] + varies.paths()
        taken = set(self.fixed) | set(self.params)
        # the results, named as columns
        self._names = {name: "result." + name if name in taken else name for name in found_names}
        self.results = list(self._names.values())
        self.columns = list(self.fixed) + self.params + self.results
        # what the runs reported (their metrics files): step, NAME.last, NAME.best
        from cooperate.results import curves

        metric_columns, self._metrics = curves.columns(
            queue, islice(queue.list.ids, len(entries) if entries is not None else None),
            set(self.columns), maximise)
        self.columns += metric_columns
        self.results += metric_columns
        if self.filters:
            # a parameter that does not vary is no column, but may be asked for
            paths.update(self.columns)
            unknown = [k for k, _ in self.filters if k not in paths]
            if unknown:
                raise UserError("--where %s: no such column (columns: %s)"
                                % (unknown[0], ", ".join(self.columns)))

    def _each(self):
        """(id, entry) of each entry, in order (the entries first: a list
        that changed is read again, ids and all)."""
        entries = iter(self.entries) if self.entries is not None else self.queue.list.each_entry()
        ids = self.queue.list.ids
        return zip(ids if self.entries is None else islice(ids, len(self.entries)), entries)

    def _cfg(self, entry):
        """The entry's parameters: its flat cfg (experiment), or what its
        command gives (list: named like a fixed column, param.NAME)."""
        if self.experiment:
            return _flatten(entry.get("cfg") or {}, "", {}) if isinstance(entry, dict) else {}
        cfg = params_of(_list_words(entry), self.shape)
        for name in [n for n in cfg if n in self.fixed or n == "command"]:
            cfg["param." + name] = cfg.pop(name)
        return cfg

    def _read(self, id_, entry):
        """(the run's results, flat, or None; a warning or None)."""
        run = entry.get("run") if self.experiment and isinstance(entry, dict) else None
        if self.results_dir is not None:
            path = self.results_dir.format(id=id_, run=run or "")
            if os.path.isdir(path):
                path = os.path.join(path, self.results_file)
        elif self.experiment and run:
            path = os.path.join(self.experiment, run, self.results_file)
        else:
            path = default_results(id_, self.list_dir)
        return read_results(path) if path is not None else (None, None)

    def __iter__(self):
        queue, state, workers = self.queue, self.queue.state, self.queue.state.workers
        filters, names = self.filters, list(self._names.items())
        if filters:
            # only here: the grid's config module imports hashlib (OpenSSL's 3.6 MB)
            from cooperate.grid.config import same
        for id_, entry in self._each():
            cfg = self._cfg(entry)
            last = state.last(id_)
            row = {"id": id_}
            if self.experiment:
                row["run"] = entry.get("run") if isinstance(entry, dict) else None
            row["status"] = queue.status_of(id_)
            finished = _finished(last)
            row["outcome"] = finished.outcome if finished is not None else None
            row["attempts"] = last.number if last is not None else 0
            row["host"] = workers.get(last.worker, {}).get("host") if last is not None else None
            row["duration"] = (round(finished.end - finished.start, 3) if finished is not None
                               else None)
            if self.experiment:
                for path in self.params:
                    row[path] = cfg.get(path)
            else:
                row["command"] = _command(entry)
                for name in self.params[1:]:
                    row[name] = cfg.get(name)
            found = self._read(id_, entry)[0] if names else None
            for name, column in names:
                row[column] = found.get(name) if found else None
            if self._metrics is not None:
                row.update(self._metrics(id_))
            if filters and not all(same(row[k], v) if k in row else
                                   same(cfg.get(k, _MISSING), v) for k, v in filters):
                continue
            yield row, entry


# -- one row per variation ---------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


def _words(entry):
    """A plain list entry's command as words (a string split as the worker
    splits it; one word if it does not split)."""
    cmd = entry.get("cmd", "") if isinstance(entry, dict) else entry
    if isinstance(cmd, list):
        return [w if isinstance(w, str) else json.dumps(w) for w in cmd]
    if not isinstance(cmd, str):
        return [json.dumps(cmd, default=str)]
    import shlex

    try:
        return shlex.split(cmd)
    except ValueError:
        return [cmd]


def _is_option(word):
    return word.startswith("-") and len(word) > 1 and isinstance(_number(word), str)


def command_parameters(words):
    """The parameters a command gives its program, read from its words:
    `--NAME VALUE`, `--NAME=VALUE` and `NAME=VALUE` (NAME: letters, digits,
    _ . -; a VALUE is any word that is not an option, a negative number is
    a value); `--NAME` followed by an option or nothing is a flag (True).
    A list of (name, value, index of the value's word, prefix): the value's
    word is `prefix + value`. Numbers become numbers."""
    out, i, n = [], 0, len(words)
    while i < n:
        word = words[i]
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word[2:].partition("=")
            if _NAME.match(name):
                if eq:
                    out.append((name, _number(value), i, "--" + name + "="))
                elif i + 1 < n and not _is_option(words[i + 1]):
                    out.append((name, _number(words[i + 1]), i + 1, ""))
                    i += 1
                else:
                    out.append((name, True, None, None))
        elif "=" in word and not word.startswith("-"):
            name, _, value = word.partition("=")
            if _NAME.match(name):
                out.append((name, _number(value), i, name + "="))
        i += 1
    return out


def _matches(name, over):
    """Is the parameter `name` one of the `over` names (or a dotted path
    ending in one: `seed` names `train.seed`)?"""
    return any(name == o or name.endswith("." + o) for o in over)


def _list_variation(entry, over):
    """(group key, command with the `over` values as {NAME}, parameters but
    the `over` ones, whether an `over` parameter was found) of a plain list
    entry."""
    import shlex

    words = _words(entry)
    shown = [shlex.quote(w) for w in words]
    keyed = list(words)
    values, matched = {}, False
    for name, value, index, prefix in command_parameters(words):
        if _matches(name, over):
            matched = True
            if index is not None:
                shown[index] = "%s{%s}" % (shlex.quote(prefix) if prefix else "", name)
                keyed[index] = None
        else:
            values[name] = value
    extra = None
    if isinstance(entry, dict):
        extra = json.dumps([entry.get("cwd"), entry.get("env"), bool(entry.get("shell"))],
                           sort_keys=True, default=str)
    return (tuple(keyed), extra), " ".join(shown), values, matched


def _real(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _clean(value):
    """A computed float rounded to 15 significant digits (what a double
    always holds), so that no binary noise shows: 0.15, not the
    0.15000000000000002 of float arithmetic (or of statistics.mean)."""
    return float("%.15g" % value)


class _Sums:
    """summary_stats() of numbers given one at a time, without holding
    them. Every float is an integer over a power of two: over the largest
    of those powers so far, D (the sums scaled up when a larger one
    comes), the sums S and Q of the integers and their squares are exact,
    and mean = S / (n D), variance = (n Q - S^2) / (n (n-1) D^2), each a
    division of integers, which Python rounds correctly."""

    __slots__ = ("n", "d", "total", "squares", "odd")

    def __init__(self):
        self.n, self.d, self.total, self.squares = 0, 1, 0, 0
        # the NaNs and infinities: they alone decide the mean
        self.odd = []

    def add(self, value):
        self.n += 1
        if not math.isfinite(value):
            self.odd.append(value)
            return
        num, den = value.as_integer_ratio() if isinstance(value, float) else (int(value), 1)
        if den > self.d:
            scale = den // self.d
            self.total *= scale
            self.squares *= scale * scale
            self.d = den
        x = num * (self.d // den)
        self.total += x
        self.squares += x * x

    def stats(self):
        n, d = self.n, self.d
        if not n:
            return None, None, 0
        if self.odd:
            return math.fsum(self.odd) / n, (float("nan") if n > 1 else None), n
        mean = _clean(self.total / (n * d))
        if n < 2:
            return mean, None, n
        var = (n * self.squares - self.total * self.total) / (n * (n - 1) * d * d)
        return mean, _clean(math.sqrt(var)), n


def summary_stats(values):
    """(mean, sample standard deviation, count) of numbers: computed exactly
    (integers and fractions), then rounded to 15 significant digits (_clean). The
    deviation is None for fewer than two values; with a NaN or an infinity
    among them the mean is what float arithmetic gives (nan, inf) and the
    deviation nan."""
    sums = _Sums()
    for value in values:
        sums.add(value)
    return sums.stats()


def aggregate(table, over=DEFAULT_OVER):
    """One row per variation of a Table of runs (collect()'s), or of Rows
    (then in one pass that holds no row: each variation's counts and sums
    only).

    A variation is a group of runs whose parameters are all equal but for
    those named in `over` (default seed and run_id; a name also matches a
    dotted path ending in it: `seed` matches `train.seed`):

      experiment   the parameters are the config keys that vary between runs
                   (the table's parameter columns), so the runs of one
                   variation folder (NNNN_title, one cfg_id: they share one
                   config and differ only in their run_id) are one group; a
                   grid variable named in `over` (seed: [1, 2, 3] in a
                   config*.yaml) also puts the variations that differ only
                   in it into one group
      plain list   the parameters are read from each command
                   (command_parameters: --NAME VALUE, --NAME=VALUE,
                   NAME=VALUE); entries whose commands are the same word for
                   word but for the values of the `over` parameters (and
                   that have the same cwd, env and shell) are one group;
                   identical entries (the same command listed N times) are
                   one group too

    Columns: `variation` (the group's variation folders, space-separated;
    experiments) or `command` (the command with each `over` value written
    {NAME}; plain lists); the parameters that vary between the rows, but for
    the `over` ones; `runs` (rows in the group); `status` (their statuses
    with counts: "3 done, 1 failed"); then for duration and for every result
    column whose values are all numbers (true and false are not), NAME.mean,
    NAME.std (sample standard deviation, n - 1; empty for one value) and
    NAME.n (how many rows of the group have a number there). Result columns
    holding anything else (text, lists) are left out. Groups come in order
    of their first row; filters (where) apply to the runs, before grouping."""
    from cooperate.queue.core import STATUSES

    if isinstance(over, str):
        over = [over]
    over = [o for o in over if o]
    if isinstance(table, Rows):
        pairs = iter(table)
    else:
        pairs = zip(table.rows, table.entries if table.entries is not None else
                    [None] * len(table.rows))
    experiment = bool(table.experiment)
    # the columns that may be averaged: numbers (or nothing) in every row so far
    candidates = ["duration"] + list(table.results)
    seen, other = set(), set()
    groups, order = {}, []
    matched = False
    varies = Varied()
    kept = [p for p in table.params if not _matches(p, over)]
    for row, entry in pairs:
        if experiment:
            key = tuple(_key(row.get(p)) for p in kept)
        else:
            key, command, values, found = _list_variation(
                entry if entry is not None else row.get("command") or "", over)
            varies.add(values)
            matched = matched or found
        group = groups.get(key)
        if group is None:
            order.append(key)
            group = groups[key] = {"runs": 0, "statuses": {}, "sums": {}}
            group.update({"head": {p: row.get(p) for p in kept}, "variations": []} if experiment
                         else {"command": command, "values": values})
        if experiment:
            folder = os.path.dirname(row.get("run") or "")
            if folder and folder not in group["variations"]:
                group["variations"].append(folder)
        group["runs"] += 1
        status = str(row.get("status"))
        group["statuses"][status] = group["statuses"].get(status, 0) + 1
        for column in candidates:
            value = row.get(column)
            if value is None or column in other:
                continue
            if not _real(value):
                other.add(column)
                continue
            seen.add(column)
            sums = group["sums"].get(column)
            if sums is None:
                # made for the columns a group has numbers in only
                sums = group["sums"][column] = _Sums()
            sums.add(value)
    if experiment:
        matched = len(kept) < len(table.params)
        head_columns = ["variation"] + kept
        for key in order:
            group = groups[key]
            group["head"] = dict(group["head"], variation=" ".join(group["variations"]))
    else:
        kept = varies.paths()
        head_columns = ["command"] + kept
        for key in order:
            group = groups[key]
            group["head"] = dict({"command": group["command"]},
                                 **{p: group["values"].get(p) for p in kept})

    numeric = [c for c in candidates if c in seen and c not in other]
    columns = head_columns + ["runs", "status"]
    taken = set(columns)
    names = []
    for column in numeric:
        stat_names = ["%s.%s" % (column, s) for s in STATS]
        if taken.intersection(stat_names):
            stat_names = ["result.%s.%s" % (column, s) for s in STATS]
        taken.update(stat_names)
        names.append((column, stat_names))
        columns += stat_names

    out = []
    for key in order:
        group = groups[key]
        row = dict(group["head"])
        row["runs"] = group["runs"]
        counts = group["statuses"]
        row["status"] = ", ".join("%d %s" % (counts[s], s) for s in
                                  [s for s in STATUSES if s in counts]
                                  + sorted(s for s in counts if s not in STATUSES))
        for column, stat_names in names:
            for name, value in zip(stat_names, group["sums"].get(column, _Sums()).stats()):
                row[name] = value
        out.append({c: row.get(c) for c in columns})
    warnings = list(table.warnings)
    if over and not matched and all(groups[k]["runs"] == 1 for k in order) and out:
        warnings.append("--aggregate: no parameter is named %s, and every row is a group of "
                        "its own (name the parameter that tells the runs of a variation apart "
                        "with --over NAME)" % " or ".join(over))
    return Table(columns, out, warnings, experiment, kept, [], None)


_aggregate = aggregate


def _cell(value):
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return as_text(json.dumps(value, default=str))
    return str(value) if isinstance(value, (int, float)) else as_text(str(value))


# what makes a spreadsheet read a cell as a formula (tab and CR too: some
# strip them and look again)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_text(cell):
    """A CSV cell that a spreadsheet shows as text and never runs as a
    formula: one starting like a formula (=HYPERLINK(...), @SUM(...)) gets a
    leading apostrophe, unless it is a plain number (-0.5)."""
    if cell.startswith(FORMULA_STARTS):
        try:
            float(cell)
            return cell
        except ValueError:
            return "'" + cell
    return cell


def to_csv(table):
    """The table as CSV text (a header line, then one line per row)."""
    return "".join(csv_lines(table.columns, table.rows))


def csv_lines(columns, rows):
    """to_csv's lines, one at a time, from the columns and the rows (an
    iterable: they are written as they are made)."""
    yield ",".join(_quoted(as_text(c)) for c in columns) + "\n"
    for row in rows:
        yield csv_line(columns, row)


def csv_line(columns, row):
    return ",".join(_quoted(_cell(row.get(c))) for c in columns) + "\n"


def _quoted(cell):
    """A CSV field: in double quotes when it holds a comma, a quote or a line
    break, a carriage return too (the csv module leaves that one bare, and
    readers then see two rows)."""
    if any(c in cell for c in ',"\n\r'):
        return '"%s"' % cell.replace('"', '""')
    return cell


def to_jsonl(table):
    """The table as JSON lines, one object per row."""
    return "".join(jsonl_lines(table.columns, table.rows))


def jsonl_lines(columns, rows):
    """to_jsonl's lines, one at a time (see csv_lines)."""
    return (jsonl_line(columns, row) for row in rows)


def jsonl_line(columns, row):
    return json.dumps(row, default=str) + "\n"


# sorted_lines holds the lines of this many rows at a time
SORT_CHUNK = 25000


def sorted_lines(columns, rows, key, mode, line, behind=None, chunk=None):
    """The text of the rows' lines (`line(columns, row)`) in best.order's
    order, in pieces, holding at most `chunk` (SORT_CHUNK) rows at a time:
    each chunk is sorted and waits in a temporary file, and the files are
    merged (a million rows, held as dicts to be sorted, took 650 MB)."""
    import heapq
    import tempfile

    from cooperate.results.best import number

    chunk = chunk or SORT_CHUNK
    reverse = mode == "max"

    def first(pair):
        return pair[0]

    def temporary():
        # no newline translated: a CSV cell may hold a carriage return
        files.append(tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n"))
        return files[-1]

    # the rows with a number, then those `behind` after them: the sorted
    # chunks in files, (value, line) each, and the chunk being filled
    files, runs, held = [], ([], []), ([], [])

    def spill(part):
        held[part].sort(key=first, reverse=reverse)
        f = temporary()
        f.writelines(json.dumps(pair) + "\n" for pair in held[part])
        f.seek(0)
        runs[part].append(map(json.loads, f))
        held[part].clear()

    def cannot(error):
        return UserError("cannot sort the rows in temporary files in %s: %s (TMPDIR names "
                         "another folder)" % (tempfile.gettempdir(), error.strerror or error))

    try:
        try:
            rest = temporary()
        except OSError as error:
            raise cannot(error)
        for row in rows:
            value, text = row.get(key), line(columns, row)
            try:
                if not number(value):
                    rest.write(text)
                    continue
                part = 1 if behind is not None and behind(row) else 0
                held[part].append((value, text))
                if len(held[part]) >= chunk:
                    spill(part)
            except OSError as error:
                raise cannot(error)
        for part in (0, 1):
            held[part].sort(key=first, reverse=reverse)
            for _, text in heapq.merge(*runs[part], held[part], key=first, reverse=reverse):
                yield text
        rest.seek(0)
        yield from rest
    finally:
        for f in files:
            f.close()
