"""liftoff's YAML config grids: read, expand, name, as liftoff 0.3.3 does.
A pure module: it reads YAML files and returns plain data; it never prints
and never writes.

A config folder holds ``default.yaml`` (the base, required) and one or more
``config*.yaml`` files, read in sorted order (liftoff took them in the order
the filesystem listed them). In a ``config*.yaml`` every leaf is a list: the
values of one variable. Each file gives the cartesian product of its
variables, filtered by its constraints; the grids of all files are
concatenated in file order and a variation whose merged config another one
already has is dropped (the first is kept).

The variables of a file are taken in liftoff's order: the last key of a
mapping first, depth first (``{seed: [..], optim: {lr: [..], name: [..]}}``
gives optim.name, optim.lr, seed). The first variable varies slowest. A
variation's title is ``path=value`` joined by ``"; "`` over its variables in
that order (``path`` the full dotted path as written, ``value`` as Python's
``str`` shows it), leaving out those whose value is ``delete``.

Merging a variation into the defaults, liftoff's way: the variation's
values form a nested mapping (keys as written), merged key by key:
  ``_key``     replaces the defaults' ``key`` (without the underscore) with
               the value as it is;
  ``key``      a mapping merges into a mapping of the defaults (the same
               rules inside); anything else, or a mapping where the defaults
               have none, replaces (as it is: ``_`` keys inside stay);
  ``key_``     an ordinary key (the script-side loader hands its value over
               as a plain dict).
Then every value ``delete``, at any depth, removes its key (those in
default.yaml too).

Constraints: a top-level ``liftoff:`` key in a config*.yaml holds a list of
``{vars: [a, b], OP: [[va, vb], ...], ...}``; OP is one of
  ``->``   a = va implies b = vb
  ``<=>``  a = va exactly when b = vb
  ``v``    a = va or b = vb
  ``!!``   not (a = va and b = vb)
decided as liftoff decides them: values compare as Python compares them
(True == 1, 1 == 1.0); for ``->`` and ``<=>`` the first pair that names a
value is the one that counts. ``a`` and ``b`` name variables by their full
dotted path or by any unambiguous dotted suffix (``lr``). A constraint value
must be one of the variable's values, except ``delete``, which is then added
to them; a variation may use a ``delete`` value of a variable that a
constraint names only where an ``->`` / ``<=>`` pair of that constraint
leads to it (``{vars: [optim.name, momentum], "->": [[adam, delete]]}``
drops momentum exactly for adam). Quote ``"!!"`` in YAML.

A variation's folder is ``NNNN_<title>`` with every character outside
``[-_.()A-Za-z0-9]`` turned into ``_`` (``0003_model.name_mlp__optim.lr_0.1``),
or ``NNNN_<cfg hash>`` when that is 255 characters or more (folder_name);
its cfg hash (cfg_hash: sha224 of liftoff's uniqstr of the merged config) is
what finds it again when a grid is appended to an experiment.

Merged configs share unchanged sub-dicts and values with each other and with
``Grid.default`` (copying every config is what made liftoff slow). Each
``Variation.config`` is a fresh top-level dict, so adding top-level keys to
it is safe; copy.deepcopy it before changing anything nested.
"""

import glob
import hashlib
import os
import re

from cooperate.errors import UserError

DELETE = "delete"
OPERATORS = ("->", "<=>", "v", "!!")
CONSTRAINTS_KEY = "liftoff"
# a config file's random search (see _search_samples)
SEARCH_KEY = "search"

_UNSAFE = re.compile(r"[^-_.()A-Za-z0-9]")


# ---------------------------------------------------------------- data


class Variable(object):
    """One varied leaf of a config*.yaml file."""

    __slots__ = ("name", "path", "values")

    def __init__(self, path, values):
        self.path = path  # tuple of keys as written
        self.name = ".".join(str(k) for k in path)  # dotted, as written
        self.values = values  # list; may end with a constraint-added "delete"

    def __repr__(self):
        return "Variable(%r, %r)" % (self.name, self.values)


class GridFile(object):
    """What one config*.yaml file contributed."""

    __slots__ = ("path", "variables", "constraints", "size", "count")

    def __init__(self, path, variables, constraints, size, count):
        self.path = path
        self.variables = variables  # [Variable], in file order
        self.constraints = constraints  # [str], one readable line each
        self.size = size  # product of the value counts (before constraints)
        self.count = count  # variations kept by the constraints

    def __repr__(self):
        return "GridFile(%r, %d variables, %d of %d)" % (
            self.path, len(self.variables), self.count, self.size)


class Variation(object):
    """One point of the grid."""

    __slots__ = ("config", "assignment", "title", "source", "arguments", "cfg_hash")

    def __init__(self, config, assignment, title, source, arguments, config_hash):
        self.config = config  # merged config: plain dict
        self.assignment = assignment  # {dotted variable name: value}, variable order
        self.title = title  # "optim.lr=0.1; model.name=mlp"
        self.source = source  # the config*.yaml (or single yaml) path
        # the variation's own values, nested (liftoff's experiment_arguments;
        # empty for a single yaml file)
        self.arguments = arguments
        self.cfg_hash = config_hash  # cfg_hash(config)

    def folder(self, index):
        return folder_name(index, self.title, self.cfg_hash)

    def __repr__(self):
        return "Variation(%r)" % (self.title,)


class Grid(object):
    """A loaded config folder (or single yaml file), fully expanded."""

    __slots__ = ("path", "default_path", "default", "files", "variations",
                 "duplicates")

    def __init__(self, path, default_path, default, files, variations,
                 duplicates):
        self.path = path  # the folder or single file given
        self.default_path = default_path  # default.yaml path, or None
        self.default = default  # the defaults, "delete" keys removed
        self.files = files  # [GridFile]
        self.variations = variations  # [Variation], duplicates removed
        self.duplicates = duplicates  # how many duplicates were removed

    def __len__(self):
        return len(self.variations)

    def __iter__(self):
        return iter(self.variations)

    def __repr__(self):
        return "Grid(%r, %d variations)" % (self.path, len(self.variations))


# ---------------------------------------------------------------- reading


def read_yaml(path):
    """The content of one YAML file (safely loaded, within limits.py's
    limits), or UserError naming the file (and line and column for a syntax
    error)."""
    import yaml

    from cooperate.limits import load_yaml

    try:
        with open(path, "r", encoding="utf-8-sig") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError("%s: cannot read: %s" % (path, getattr(err, "strerror", None) or err))
    try:
        return load_yaml(text, path)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        what = err.problem or err.context or "syntax error"
        if mark is None:
            raise UserError("%s: YAML error: %s" % (path, what))
        raise UserError("%s:%d:%d: YAML error: %s" % (
            path, mark.line + 1, mark.column + 1, what))
    except yaml.YAMLError as err:
        raise UserError("%s: YAML error: %s" % (path, str(err).replace("\n", " ")))


def _read_mapping(path, empty_ok):
    data = read_yaml(path)
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise UserError("%s: the top level must be a mapping of keys to values, not %s"
                        % (path, _kind(data)))
    return data


def _kind(value):
    if value is None:
        return "an empty document"
    if isinstance(value, list):
        return "a list"
    return "%s %r" % (type(value).__name__, value)


def load(path):
    """load_config_dir for a folder, load_single for a file."""
    if os.path.isdir(path):
        return load_config_dir(path)
    if os.path.isfile(path):
        return load_single(path)
    raise UserError("%s: no such file or folder" % path)


def load_config_dir(path):
    """Read ``default.yaml`` and every ``config*.yaml`` in the folder and
    expand them: a Grid."""
    if not os.path.isdir(path):
        raise UserError("%s: not a folder" % path)
    default_path = os.path.join(path, "default.yaml")
    if not os.path.isfile(default_path):
        raise UserError("%s: missing default.yaml (a config folder needs default.yaml"
                        " and config*.yaml files)" % path)
    default = _read_mapping(default_path, empty_ok=True)
    config_paths = sorted(p for p in glob.glob(os.path.join(glob.escape(path), "config*.yaml")))
    if not config_paths:
        raise UserError("%s: no config*.yaml next to default.yaml (give the yaml file"
                        " itself to run one configuration)" % path)
    configs = [(p, _read_mapping(p, empty_ok=True)) for p in config_paths]
    return expand(default, configs, path=path, default_path=default_path)


def load_single(path, default=None):
    """One yaml file as a one-variation Grid; lists are values, not expanded.

    default: None, a dict or a yaml file path. None: the file is the config
    as written (only keys whose value is ``delete`` are removed, as liftoff
    does). Otherwise the file is merged onto the default with the variation
    rules (``_key`` replaces, ``delete`` removes). The title is the file name
    without ``.yaml``; the assignment is empty."""
    default_path = None
    if isinstance(default, str):
        default_path = default
        default = _read_mapping(default_path, empty_ok=True)
    data = _read_mapping(path, empty_ok=True)
    base = _clean(default) if default is not None else {}
    if default is None:
        config = _clean(data)
    else:
        config = _merge(base, data)
    title = os.path.basename(os.path.normpath(path))
    if title.endswith(".yaml"):  # liftoff's rule: a .yml keeps its extension
        title = title[:-5]
    variation = Variation(config, {}, title, path, {}, cfg_hash(config))
    gfile = GridFile(path, [], [], 1, 1)
    return Grid(path, default_path, base, [gfile], [variation], 0)


# ---------------------------------------------------------------- merging


def _is_delete(value):
    return value.__class__ is str and value == DELETE


def _target(key):
    """(merged key, replace?) for a key as written."""
    if key.__class__ is str and key.startswith("_") and len(key) > 1:
        return key[1:], True
    return key, False


def _merge(base, src):
    """A new dict: base (a dict or None) with src merged in by the rules."""
    out = {} if base is None else dict(base)
    for key, value in src.items():
        target, replace = _target(key)
        if _is_delete(value):
            out.pop(target, None)
        elif isinstance(value, dict):
            cur = out.get(target)
            out[target] = _merge(None if replace or not isinstance(cur, dict) else cur, value)
        else:
            out[target] = value
    return out


def _clean(data):
    """Liftoff's clean_dict, without changing data: drop "delete" values from
    dicts at every depth."""
    if not isinstance(data, dict):
        return data
    return dict((k, _clean(v)) for k, v in data.items() if not _is_delete(v))


# ---------------------------------------------------------------- expanding


def expand(default, configs, path=None, default_path=None):
    """Expand already-loaded data: default is a dict, configs a list of
    (source name, dict). Returns a Grid (same as load_config_dir)."""
    base = _clean(default)
    shared = _dict_ids(base)
    files = []
    variations = []
    seen = set()
    duplicates = 0
    for source, data in configs:
        gfile, found = _expand_file(base, shared, data, source)
        files.append(gfile)
        for variation in found:
            if variation.cfg_hash in seen:
                duplicates += 1
            else:
                seen.add(variation.cfg_hash)
                variations.append(variation)
    return Grid(path, default_path, base, files, variations, duplicates)


def _dict_ids(data, out=None):
    """The ids of every dict in data (the shared, already clean defaults)."""
    out = set() if out is None else out
    if isinstance(data, dict):
        out.add(id(data))
        for value in data.values():
            _dict_ids(value, out)
    elif isinstance(data, list):
        for value in data:
            _dict_ids(value, out)
    return out


def _collect(node, prefix, out, source):
    """The variables under node, in liftoff's order: the last key first, and
    depth first (liftoff walks the file with a stack)."""
    for key, value in reversed(list(node.items())):
        path = prefix + (key,)
        if isinstance(value, list):
            if not value:
                raise UserError("%s: %s: empty list; give at least one value"
                                % (source, _dotted(path)))
            out.append(Variable(path, list(value)))
        elif isinstance(value, dict):
            _collect(value, path, out, source)
        else:
            raise UserError("%s: %s: %s is not a list; provide a list of values"
                            " (%s: [%s])" % (source, _dotted(path), _show(value),
                                             str(key), _show(value)))


def _dotted(path):
    return ".".join(str(k) for k in path)


def _show(value):
    """How a value shows in titles and messages (Python's str, as liftoff)."""
    return value if value.__class__ is str else str(value)


def _expand_file(base, shared, data, source):
    import itertools

    data = dict(data)
    raw_constraints = data.pop(CONSTRAINTS_KEY, None)
    samples = _search_samples(data, source)
    variables = []
    _collect(data, (), variables, source)
    clash = [var.name for var in variables for name, _ in samples[0] if var.name == name]
    if clash:
        raise UserError("%s: %s is both a list of values and a distribution under '%s:'"
                        % (source, clash[0], SEARCH_KEY))
    if not variables and not samples[0]:
        raise UserError("%s: no variables: every leaf of a config file must be a list"
                        " of values" % source)
    checks, described = _compile_constraints(raw_constraints, variables, source)
    names = [var.name for var in variables]
    # the variables' dict values, which liftoff's merge may change in place
    changeable = set(id(v) for var in variables for v in var.values if v.__class__ is dict)
    size = len(samples)
    for var in variables:
        size *= len(var.values)

    found = []
    # each sample of the search's distributions (one empty sample without a
    # search) times the grid, the samples varying slowest
    for sample, choice in itertools.product(
            samples, itertools.product(*[range(len(var.values)) for var in variables])):
        if checks and not _passes(choice, checks):
            continue
        values = [var.values[j] for var, j in zip(variables, choice)]
        pairs = list(zip(names, values)) + sample
        # the title as the values show now: liftoff's merge below may change
        # a dict value in place, and the next variations show it changed
        title = "; ".join(["%s=%s" % (name, _show(v)) for name, v in pairs
                           if not _is_delete(v)])
        arguments = {}
        paths = [var.path for var in variables] + [tuple(name.split(".")) for name, _ in sample]
        for path, (_, value) in zip(paths, pairs):
            node = arguments
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
        config = _update(dict(base), arguments, shared)
        _clean_in_place(config, shared)
        if changeable:
            # liftoff wrote each variation out before the next one could
            # change its dict values further: keep them as they are now
            config, arguments = _frozen(config, changeable), _frozen(arguments, changeable)
        found.append(Variation(config, dict(pairs), title, source, arguments,
                               cfg_hash(config)))
    if not found:
        raise UserError("%s: the constraints under '%s:' rule out all %d variations"
                        % (source, CONSTRAINTS_KEY, size))
    return GridFile(source, variables, described, size, len(found)), found


def _search_samples(data, source):
    """The random search of a config file: its top-level `search:` section
    (a mapping with `samples`: a whole number, `seed`: a whole number,
    default 0, and dotted keys whose values are distributions, see
    space.py), taken out of `data`; the samples drawn, each a list of
    (dotted name, value) in the section's order. [[]] without one: a
    `search:` key without `samples` is an ordinary part of the grid."""
    section = data.get(SEARCH_KEY)
    if not isinstance(section, dict) or "samples" not in section:
        return [[]]
    from cooperate.grid import space

    del data[SEARCH_KEY]
    where = "%s: %s:" % (source, SEARCH_KEY)
    samples, seed = section.get("samples"), section.get("seed", 0)
    if samples.__class__ is not int or samples < 1:
        raise UserError("%s samples must be a whole number, 1 or more (how many configurations "
                        "to draw), not %s" % (where, _show(samples)))
    if seed.__class__ is not int:
        raise UserError("%s seed must be a whole number, not %s" % (where, _show(seed)))
    distributions = []
    for name, text in section.items():
        if name in ("samples", "seed"):
            continue
        distribution = space.parse("%s %s" % (where, name), text)
        if distribution is None or not isinstance(name, str) or not name:
            raise UserError("%s %s: %s is no distribution (%s)" % (
                where, name, _show(text), space.SYNTAX))
        distributions.append((name, distribution))
    if not distributions:
        raise UserError("%s no distribution to draw from (optim.lr: loguniform:1e-5:1e-1)"
                        % where)
    return [list(drawn.items()) for drawn in space.sample(distributions, samples, seed)]


def _update(config, values, shared):
    """liftoff's merge of a variation's values into (a copy of) the defaults:
    a key with a leading "_" replaces, without the underscore, whatever is
    there; a dict merges into a dict that is there; anything else replaces.
    config is a fresh dict; the dicts it shares with the defaults (`shared`
    ids) are copied before they change. Like liftoff, a variable's dict
    value is put in as it is, and a later merge into it changes it in place
    (so the next variations see it changed)."""
    for key, value in values.items():
        if key.__class__ is str and key.startswith("_"):
            config[key[1:]] = value
        elif value.__class__ is dict:
            cur = config.get(key)
            if cur.__class__ is dict:
                config[key] = _update(dict(cur) if id(cur) in shared else cur, value, shared)
            else:
                config[key] = value
        else:
            config[key] = value
    return config


def _frozen(data, changeable):
    """data with every dict in it that is one of the `changeable` ones
    replaced by a deep copy."""
    import copy

    if id(data) in changeable:
        return copy.deepcopy(data)
    if data.__class__ is dict:
        return dict((k, _frozen(v, changeable)) for k, v in data.items())
    return data


def _clean_in_place(data, shared):
    """Remove "delete" values from the dicts of data, at every depth, in
    place, as liftoff does after merging (a dict that came from a variable's
    value is cleaned where it is: liftoff's experiment_arguments show it so).
    The shared defaults are clean already."""
    if id(data) in shared:
        return
    gone = [k for k, v in data.items() if _is_delete(v)]
    for key in gone:
        del data[key]
    for value in data.values():
        if value.__class__ is dict:
            _clean_in_place(value, shared)


def _passes(choice, checks):
    for ia, ib, width, allowed in checks:
        if not allowed[choice[ia] * width + choice[ib]]:
            return False
    return True


# ---------------------------------------------------------------- constraints


def same(a, b):
    """Equality as a YAML user means it: True is not 1, 1 is 1.0 (filters).
    A filter value as given on a command line (Given) matches as liftoff
    matches it."""
    if b.__class__ is Given:
        return b.matches(a)
    if a.__class__ is Given:
        return a.matches(b)
    if a.__class__ is bool or b.__class__ is bool:
        return a is b
    if isinstance(a, dict):
        return (isinstance(b, dict) and len(a) == len(b)
                and all(k in b and same(v, b[k]) for k, v in a.items()))
    if isinstance(a, list):
        return (isinstance(b, list) and len(a) == len(b)
                and all(same(x, y) for x, y in zip(a, b)))
    if isinstance(b, (dict, list)):
        return False
    return a == b


def _resolve(name, variables, where):
    if not isinstance(name, str) or not name:
        raise UserError("%s: 'vars' must name two variables, not %r" % (where, name))
    exact = [v for v in variables if v.name == name]
    if len(exact) == 1:
        return exact[0]
    parts = name.split(".")
    n = len(parts)
    hits = exact or [v for v in variables
                     if len(v.path) >= n and [str(k) for k in v.path[-n:]] == parts]
    if not hits:
        raise UserError("%s: '%s' matches no variable (variables: %s)"
                        % (where, name, ", ".join(v.name for v in variables)))
    if len(hits) > 1:
        raise UserError("%s: '%s' is ambiguous: it matches %s; use a longer dotted suffix"
                        % (where, name, ", ".join(v.name for v in hits)))
    return hits[0]


def _holds(rules, a, b):
    """Does the pair of values (a, b) satisfy one constraint, as liftoff
    decides it? rules: [(operator, pairs)] in the order written. Values
    compare as Python compares them (True == 1); for "->" and "<=>" only the
    first pair that names the value counts; a "delete" value is allowed only
    where such a pair of this constraint leads to it."""
    delete_a = delete_b = False
    for op, pairs in rules:
        if op in ("->", "<=>"):
            for va, vb in pairs:
                if va == a:
                    if b != vb:
                        return False
                    delete_b = delete_b or _is_delete(vb)
                    break
                # "<=>" also binds the other way
                if op == "<=>" and vb == b:
                    if a != va:
                        return False
                    delete_a = delete_a or _is_delete(va)
                    break
        elif op == "v":
            if any(va != a and vb != b for va, vb in pairs):
                return False
        elif any(va == a and vb == b for va, vb in pairs):  # "!!"
            return False
    return not (_is_delete(a) and not delete_a or _is_delete(b) and not delete_b)


def _compile_constraints(raw, variables, source):
    """Checks for _passes: [(index a, index b, width, allowed flags per pair
    of value indexes)], and readable lines. A "delete" that a constraint
    names and its variable lacks is added to the variable's values."""
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        raise UserError("%s: '%s:' must be a list of constraints ({vars: [a, b], OP: [[va, vb], ...]}),"
                        " not %s" % (source, CONSTRAINTS_KEY, _kind(raw)))
    position = dict((id(v), i) for i, v in enumerate(variables))
    parsed = []
    for number, item in enumerate(raw, 1):
        where = "%s: %s constraint %d" % (source, CONSTRAINTS_KEY, number)
        if not isinstance(item, dict):
            raise UserError("%s: expected {vars: [a, b], OP: [[va, vb], ...]}, not %s"
                            % (where, _kind(item)))
        names = item.get("vars")
        if not isinstance(names, list) or len(names) != 2:
            raise UserError("%s: 'vars' must be a list of two variable names" % where)
        va, vb = _resolve(names[0], variables, where), _resolve(names[1], variables, where)
        if va is vb:
            raise UserError("%s: both names refer to the variable %s" % (where, va.name))
        rules = []
        for op, pairs in item.items():
            if op == "vars":
                continue
            if op not in OPERATORS:
                raise UserError("%s: unknown operator %r; use one of %s"
                                % (where, op, ", ".join(OPERATORS)))
            if not isinstance(pairs, list) or not pairs or not all(
                    isinstance(p, list) and len(p) == 2 for p in pairs):
                raise UserError("%s: '%s' must be a list of [%s value, %s value] pairs"
                                % (where, op, va.name, vb.name))
            for pair in pairs:
                _known(va, pair[0], where)
                _known(vb, pair[1], where)
            if op == "<=>":
                _consistent(pairs, va, vb, where)
            rules.append((op, [tuple(p) for p in pairs]))
        if not rules:
            raise UserError("%s: no operator; use one of %s" % (where, ", ".join(OPERATORS)))
        parsed.append((va, vb, rules))

    checks, described = [], []
    for va, vb, rules in parsed:
        allowed = [_holds(rules, a, b) for a in va.values for b in vb.values]
        checks.append((position[id(va)], position[id(vb)], len(vb.values), allowed))
        for op, pairs in rules:
            joiner = {"->": " -> ", "<=>": " <=> ", "v": " or "}.get(op)
            if joiner:
                described.append(" and ".join("(%s=%s%s%s=%s)" % (
                    va.name, _show(a), joiner, vb.name, _show(b)) for a, b in pairs))
            else:
                described.append(" and ".join("not (%s=%s and %s=%s)" % (
                    va.name, _show(a), vb.name, _show(b)) for a, b in pairs))
    return checks, described


def _known(var, value, where):
    """A constraint's value must be one of the variable's (compared as
    Python compares, True == 1), or "delete", which is then added to them."""
    if any(value == v for v in var.values):
        return
    if _is_delete(value):
        var.values.append(DELETE)
        return
    raise UserError("%s: %s is not one of the values of %s (%s)" % (
        where, _show(value), var.name, ", ".join(_show(v) for v in var.values)))


def _consistent(pairs, va, vb, where):
    """'<=>' pairs must name each value once (liftoff's rule: a pair that
    repeats one is refused, even the same pair twice)."""
    for i, (a, b) in enumerate(pairs):
        for a2, b2 in pairs[:i]:
            if a == a2 or b == b2:
                raise UserError("%s: '<=>' pairs name a value twice at [%s, %s] (each value "
                                "of %s and of %s at most once)"
                                % (where, _show(a), _show(b), va.name, vb.name))


# ---------------------------------------------------------------- names, keys


# liftoff's limit for a variation's folder name (index included); a longer
# one is the index and the config's hash
NAME_LIMIT = 255
_HASH_NAME = "%04d_%s"


def folder_name(index, title, config_hash):
    """liftoff's folder name for a variation: NNNN_<title> with every
    character outside [-_.()A-Za-z0-9] turned into "_", or NNNN_<hash> when
    that reaches NAME_LIMIT characters."""
    name = _UNSAFE.sub("_", "%04d_%s" % (index, title))
    return name if len(name) < NAME_LIMIT else _HASH_NAME % (index, config_hash)


def safe_name(text):
    """A folder-safe form of a name: characters outside [-_.()A-Za-z0-9]
    become "_", and it neither starts with "." nor is empty (experiment
    names)."""
    name = _UNSAFE.sub("_", text)
    if name.startswith("."):
        name = "_" + name[1:]
    return name or "_"


def uniqstr(value):
    """liftoff's text of a config, the same whatever order its keys are in:
    dict items sorted by key as "key_value" joined by ",", lists' items
    joined by ",", anything else Python's repr."""
    if isinstance(value, dict):
        try:
            items = sorted(value.items(), key=lambda item: item[0])
        except TypeError:  # keys of mixed types (liftoff fails there)
            items = sorted(value.items(), key=lambda item: repr(item[0]))
        return ",".join("%s_%s" % (uniqstr(k), uniqstr(v)) for k, v in items)
    if isinstance(value, list):
        return ",".join(uniqstr(v) for v in value)
    return repr(value)


def cfg_hash(config):
    """What liftoff writes into a variation's .__cfg_hash and uses to find a
    variation that an experiment already has: sha224 of uniqstr(config)."""
    return hashlib.sha224(uniqstr(config).encode("utf-8", "surrogatepass")).hexdigest()


# ---------------------------------------------------------------- command line


def parse_value(text):
    """A command-line value read like a YAML scalar: "False" -> False, "0.1"
    -> 0.1, "abc" -> "abc", "[1,2]" -> [1, 2], "null" -> None, "" -> "".
    Text YAML cannot read is kept as a string, except an unbalanced [ or {,
    which is a UserError."""
    import yaml

    from cooperate.limits import load_yaml

    stripped = text.strip()
    if not stripped:
        return text
    try:
        value = load_yaml(text, repr(text))
    except yaml.YAMLError as err:
        if stripped[0] in "[{":
            raise UserError("%r: not a valid YAML value: %s"
                            % (text, getattr(err, "problem", None) or err))
        return text
    if value is None and stripped not in ("~", "null", "Null", "NULL"):
        return text  # a comment ("#1") or a bare document marker: keep it
    return value


def parse_setting(text):
    """"key.path=value" -> ("key.path", parsed value); UserError if malformed."""
    if not isinstance(text, str) or "=" not in text:
        raise UserError("%r: expected KEY.PATH=VALUE" % (text,))
    path, _, value = text.partition("=")
    path = path.strip()
    if not path or "" in path.split("."):
        raise UserError("%r: expected KEY.PATH=VALUE with a non-empty dotted key" % (text,))
    return path, parse_value(value)


# the texts that mean null in a filter: YAML's words, and Python's, which
# liftoff's users type (liftoff matched "None" with null)
NULL_WORDS = frozenset(["None", "null", "Null", "NULL", "~"])


class Given:
    """A filter's value as typed (`text`), matched against a run's value as
    liftoff matches it, in the type of that value: None/null match null; a
    number the same number (`1e-3` and `0.001` alike, 1 and 1.0); a boolean
    its YAML words (true, False, yes, ...: liftoff took any text but an
    empty one as true); a string the same text (`1` matches the string
    "1"); a list or mapping the same YAML value. `value` is the text read
    as YAML."""

    __slots__ = ("text", "value")

    def __init__(self, text):
        self.text = text
        self.value = None if text.strip() in NULL_WORDS else parse_value(text)

    def matches(self, found):
        text = self.text.strip()
        if found is None or text in NULL_WORDS:
            return found is None and text in NULL_WORDS
        cls = found.__class__
        if cls is bool:
            return self.value is found
        if cls is str:
            return found == self.text or found == self.value
        if isinstance(found, (int, float)):
            if self.value.__class__ is not bool and isinstance(self.value, (int, float)):
                return found == self.value
            try:
                return found == float(text)
            except ValueError:
                return False
        return same(found, self.value)

    def __eq__(self, other):
        return self.matches(other.value if other.__class__ is Given else other)

    __hash__ = None

    def __repr__(self):
        return "Given(%r)" % self.text


def parse_filters(texts):
    """["a.b=1", "c=x"] -> [("a.b", Given("1")), ("c", Given("x"))], for
    matches(): each value matched as liftoff matches it (see Given)."""
    out = []
    for text in texts:
        path, _ = parse_setting(text)
        out.append((path, Given(text.partition("=")[2])))
    return out


_MISSING = object()


def get_path(config, path, default=None):
    """The value at a dotted path of nested dicts, or default."""
    node = config
    for part in path.split("."):
        if not isinstance(node, dict):
            return default
        value = node.get(part, _MISSING)
        if value is _MISSING:
            for key, v in node.items():
                if key.__class__ is not str and str(key) == part:
                    value = v
                    break
            else:
                return default
        node = value
    return node


def matches(config, filters):
    """True if every (dotted path, value) of filters (a dict or a list of
    pairs, e.g. from parse_filters) equals the config's value there (True is
    not 1; a missing path never matches)."""
    items = filters.items() if isinstance(filters, dict) else filters
    for path, value in items:
        found = get_path(config, path, _MISSING)
        if found is _MISSING or not same(found, value):
            return False
    return True


def apply_settings(config, settings):
    """A new config with each (dotted path, value) set, creating nested dicts
    as needed (for --args); UserError when a path runs through a non-dict."""
    out = dict(config)
    items = settings.items() if isinstance(settings, dict) else settings
    for path, value in items:
        parts = path.split(".")
        node = out
        for depth, part in enumerate(parts[:-1]):
            cur = node.get(part)
            if cur is None:
                cur = {}
            elif not isinstance(cur, dict):
                raise UserError("%s: %s is %s, not a mapping" % (
                    path, ".".join(parts[:depth + 1]), _show(cur)))
            else:
                cur = dict(cur)
            node[part] = cur
            node = cur
        node[parts[-1]] = value
    return out
