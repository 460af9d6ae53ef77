"""Collect a list's or an experiment's runs into one table: one row per
entry with what the queue knows of it and the results the run wrote.

Columns, in this order:

  id, run (experiments only), status, attempts, host, duration
      the entry's id, its run folder, its status, how many attempts it had,
      the host of its latest attempt and the seconds its latest finished
      attempt took (None while it never finished)
  parameters
      experiments: every dotted path of the entries' "cfg" (queue.json; no
      cfg.yaml is read) whose value differs between runs; plain lists: the
      entry's command, as `command`
  results
      the keys of the results file the run wrote, nested mappings as dotted
      columns (a result named like an earlier column is `result.NAME`)

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

Nothing here prints: warnings are returned (collect) or appended to the
`warnings` list given to rows().
"""

import json
import os

from .errors import UserError

FIXED = ("id", "status", "attempts", "host", "duration")
DEFAULT_RESULTS_FILE = "results.json"
_MISSING = object()


def rows(target, results_file=DEFAULT_RESULTS_FILE, where=None, results_dir=None,
         state_dir=None, warnings=None):
    """One dict per entry of `target` (a list file or an experiment folder),
    every dict with every column in the same order (None: an empty cell).
    Warnings (malformed results files) are appended to `warnings` if given."""
    table = collect(target, results_file, where, results_dir, state_dir)
    if warnings is not None:
        warnings.extend(table.warnings)
    return table.rows


class Table:
    """The columns, the rows (dicts with every column) and the warnings."""

    def __init__(self, columns, rows, warnings):
        self.columns, self.rows, self.warnings = columns, rows, warnings


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
    values, counts, n = {}, {}, 0
    differs = _MISSING
    for cfg in flat_cfgs:
        n += 1
        for path, value in cfg.items():
            key = _key(value)
            if values.setdefault(path, key) != key:
                values[path] = differs
            counts[path] = counts.get(path, 0) + 1
    return [path for path in values if values[path] is differs or counts[path] < n]


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
            from .limits import load_yaml

            value = load_yaml(text, path)
        else:
            from .limits import load_json

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


def _command(entry):
    if isinstance(entry, dict):
        entry = entry.get("cmd", "")
    if isinstance(entry, list):
        import shlex

        return " ".join(shlex.quote(word) for word in entry)
    return entry


def _duration(attempt):
    while attempt is not None:
        if attempt.end is not None:
            return round(attempt.end - attempt.start, 3)
        attempt = attempt.previous
    return None


def _parse_where(where):
    if not where:
        return []
    if isinstance(where, dict):
        return list(where.items())
    if isinstance(where, str):
        where = [where]
    from .grid import parse_filters

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


def collect(target, results_file=DEFAULT_RESULTS_FILE, where=None, results_dir=None,
            state_dir=None, trusted=True):
    """The Table of `target`'s entries (see the module's doc). Unless
    `trusted`, a list or state that other users can change is refused (see
    trust.py); reading from Python trusts it."""
    from .grid import _same
    from .queue import Queue

    if not results_file or os.sep in results_file:
        raise UserError("--results-file %r: expected a file name, like results.json" % results_file)
    filters = _parse_where(where)
    queue = Queue(target, state_dir, reader=True, trusted=trusted)
    queue.read()
    experiment = queue.experiment
    if results_dir is not None:
        _check_pattern(results_dir, experiment)
    entries = queue.list.entries()
    ids = list(queue.list.ids)
    state, workers = queue.state, queue.state.workers

    fixed = ("id", "run") + FIXED[1:] if experiment else FIXED
    if experiment:
        flat_cfgs = [_flatten(e.get("cfg") or {}, "", {}) if isinstance(e, dict) else {}
                     for e in entries]
        params = varied(flat_cfgs)
    else:
        flat_cfgs, params = None, ["command"]
    taken = set(fixed) | set(params)

    base_rows, results, warnings, result_columns = [], [], [], {}
    for i, id_ in enumerate(ids):
        entry = entries[i]
        last = state.last(id_)
        row = {"id": id_}
        if experiment:
            run = entry.get("run") if isinstance(entry, dict) else None
            row["run"] = run
        row["status"] = queue.status_of(id_)
        row["attempts"] = last.number if last is not None else 0
        row["host"] = workers.get(last.worker, {}).get("host") if last is not None else None
        row["duration"] = _duration(last)
        if experiment:
            cfg = flat_cfgs[i]
            for path in params:
                row[path] = cfg.get(path)
        else:
            row["command"] = _command(entry)

        path = None
        if results_dir is not None:
            path = results_dir.format(id=id_, run=row.get("run") or "")
            if os.path.isdir(path):
                path = os.path.join(path, results_file)
        elif experiment and row["run"]:
            path = os.path.join(experiment, row["run"], results_file)
        found = None
        if path is not None:
            found, warning = read_results(path)
            if warning:
                warnings.append(warning)
            if found:
                for name in found:
                    if name not in result_columns:
                        result_columns[name] = "result." + name if name in taken else name
        base_rows.append(row)
        results.append(found)

    columns = list(fixed) + list(params) + list(result_columns.values())
    names = list(result_columns.items())
    if filters:
        # a parameter that does not vary is no column, but may be asked for
        paths = set(columns)
        if experiment:
            for cfg in flat_cfgs:
                paths.update(cfg)
        unknown = [k for k, _ in filters if k not in paths]
        if unknown:
            raise UserError("--where %s: no such column (columns: %s)"
                            % (unknown[0], ", ".join(columns)))
    out = []
    for i, (row, found) in enumerate(zip(base_rows, results)):
        if found:
            for name, column in names:
                row[column] = found.get(name)
        else:
            for _, column in names:
                row[column] = None
        if filters and not all(_same(row[k], v) if k in row else
                               _same(flat_cfgs[i].get(k, _MISSING), v) for k, v in filters):
            continue
        out.append(row)
    return Table(columns, out, warnings)


def _cell(value):
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def to_csv(table):
    """The table as CSV text (a header line, then one line per row)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    columns = table.columns
    writer.writerows([_cell(row.get(c)) for c in columns] for row in table.rows)
    return buffer.getvalue()


def to_jsonl(table):
    """The table as JSON lines, one object per row."""
    dumps = json.dumps
    return "".join(dumps(row, default=str) + "\n" for row in table.rows)
