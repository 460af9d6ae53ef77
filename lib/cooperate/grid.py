"""liftoff-style YAML config grids: read, expand, name. A pure module: it
reads YAML files and returns plain data; it never prints and never writes.

A config folder holds ``default.yaml`` (the base, required) and one or more
``config*.yaml`` files (read in sorted order). In a ``config*.yaml`` every
leaf is a list: the values of one variable. Each file gives the cartesian
product of its variables, filtered by its constraints; the grids of all files
are concatenated in file order and duplicate merged configs dropped (the
first one is kept).

Merging a variation into (a copy of) the defaults, key by key:
  ``key``      dicts merge recursively into the default's dict; anything
               else replaces the default's value.
  ``_key``     replaces the default's whole ``key`` subtree; the merged
               config has ``key`` without the underscore.
  ``key_``     an ordinary key: merged as usual and kept *with* its trailing
               underscore in the merged config (as liftoff keeps it in
               cfg.yaml), so that the script-side loader hands it over as a
               plain dict rather than a namespace.
  ``delete``   (the string value) removes the key from the merged config.
               Keys whose value is ``delete`` in default.yaml are removed too.
Inside a dict value (a value of a variable, or a ``_key`` subtree) the same
rules apply recursively (liftoff left ``_`` keys there unstripped; here the
rule is the same at every depth).

Constraints: a top-level ``liftoff:`` key in a config*.yaml holds a list of
``{vars: [a, b], OP: [[va, vb], ...], ...}``; OP is one of
  ``->``   a = va implies b = vb (several pairs with the same va: b must be
           one of their vb)
  ``<=>``  a = va exactly when b = vb
  ``v``    a = va or b = vb
  ``!!``   not (a = va and b = vb)
and every pair of every OP must hold. ``a`` and ``b`` name variables by their
full dotted path as written (``optim.lr``, ``_optim``) or by any unambiguous
dotted suffix of it (``lr``); a full path that is itself a variable wins over
longer paths ending in it. A constraint value must be one of the variable's
listed values, except ``delete`` (liftoff's rule): a ``delete`` that the
list does not have is added to it, and a variation may use it only where an
``->`` / ``<=>`` pair whose other side holds names it (``{vars: [optim.name,
momentum], "->": [[adam, delete]]}`` drops momentum exactly for adam). Quote
``"!!"`` in YAML (a bare ``!!`` starts a tag).

Titles are ``path=value`` joined by ``"; "`` over all variables of the file,
in the order they appear in it (``path`` as written, e.g. ``_optim``;
``value`` as Python's ``str`` shows it, ``delete`` included). The folder name
is the title with every character outside ``[-_.()A-Za-z0-9]`` turned into
``_`` (``model.name_mlp__optim.lr_0.1``), ``..`` broken up, no leading dot,
at most NAME_MAX characters (longer ones: a prefix plus ``_`` and 12 hex
digits of the title's sha256). Names are folder-safe but not unique (``a/b``
and ``a b`` give the same name): prefix them with an index.

Merged configs share unchanged sub-dicts and values with each other and with
``Grid.default`` (copying every config is what made liftoff slow). Each
``Variation.config`` is a fresh top-level dict, so adding top-level keys to
it is safe; copy.deepcopy it before changing anything nested.
"""

import glob
import hashlib
import json
import os
import re

from .errors import UserError

DELETE = "delete"
OPERATORS = ("->", "<=>", "v", "!!")
CONSTRAINTS_KEY = "liftoff"
NAME_MAX = 100
HASH_DIGITS = 12

_UNSAFE = re.compile(r"[^-_.()A-Za-z0-9]")


# ---------------------------------------------------------------- data


class Variable(object):
    """One varied leaf of a config*.yaml file."""

    __slots__ = ("name", "path", "values", "added_delete")

    def __init__(self, path, values):
        self.path = path  # tuple of keys as written
        self.name = ".".join(str(k) for k in path)  # dotted, as written
        self.values = values  # list; may end with a constraint-added "delete"
        self.added_delete = None  # index of that added "delete", if any

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

    __slots__ = ("config", "assignment", "title", "name", "key", "source")

    def __init__(self, config, assignment, title, name, key, source):
        self.config = config  # merged config: plain dict
        self.assignment = assignment  # {dotted variable name: value}, file order
        self.title = title  # "optim.lr=0.1; model.name=mlp"
        self.name = name  # folder-safe form of the title
        self.key = key  # canonical JSON of config (config_key)
        self.source = source  # the config*.yaml (or single yaml) path

    @property
    def digest(self):
        """sha256 hex digest of key: a short fixed-size form of it."""
        return hashlib.sha256(self.key.encode("utf-8")).hexdigest()

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

    from .limits import load_yaml

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
    if title.endswith(".yaml"):
        title = title[:-5]
    elif title.endswith(".yml"):
        title = title[:-4]
    variation = Variation(config, {}, title, safe_name(title), config_key(config), path)
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
    files = []
    variations = []
    seen = set()
    duplicates = 0
    for source, data in configs:
        gfile, found = _expand_file(base, data, source)
        files.append(gfile)
        for variation in found:
            if variation.key in seen:
                duplicates += 1
            else:
                seen.add(variation.key)
                variations.append(variation)
    return Grid(path, default_path, base, files, variations, duplicates)


def _collect(node, prefix, out, source):
    for key, value in node.items():
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


def _expand_file(base, data, source):
    import itertools

    data = dict(data)
    raw_constraints = data.pop(CONSTRAINTS_KEY, None)
    variables = []
    _collect(data, (), variables, source)
    if not variables:
        raise UserError("%s: no variables: every leaf of a config file must be a list"
                        " of values" % source)
    checks, forced, described = _compile_constraints(raw_constraints, variables, source)

    plan = _plan(variables)
    frags = [["%s=%s" % (var.name, _show(v)) for v in var.values] for var in variables]
    raw = [var.values for var in variables]
    # dict values with the rules applied, for where they replace (no dict to merge into)
    prepared = [[_merge(None, v) if isinstance(v, dict) else v for v in var.values]
                for var in variables]
    names = [var.name for var in variables]
    size = 1
    for var in variables:
        size *= len(var.values)

    found = []
    append = found.append
    build = _build
    for choice in itertools.product(*[range(len(var.values)) for var in variables]):
        if checks and not _passes(choice, checks, forced):
            continue
        config = build(base, plan, choice, raw, prepared)
        title = "; ".join([frags[i][j] for i, j in enumerate(choice)])
        key = config_key(config)
        assignment = dict(zip(names, [var.values[j] for var, j in zip(variables, choice)]))
        append(Variation(config, assignment, title, safe_name(title), key, source))
    if not found:
        raise UserError("%s: the constraints under '%s:' rule out all %d variations"
                        % (source, CONSTRAINTS_KEY, size))
    return GridFile(source, variables, described, size, len(found)), found


def _plan(variables):
    """A tree of merge steps: [(target key, replace?, variable index or None,
    sub-plan or None)], in file order."""
    root = []
    index = {}  # id(plan list) -> {key: sub-plan list}
    for i, var in enumerate(variables):
        node = root
        for key in var.path[:-1]:
            children = index.setdefault(id(node), {})
            sub = children.get(key)
            if sub is None:
                sub = children[key] = []
                target, replace = _target(key)
                node.append((target, replace, None, sub))
            node = sub
        target, replace = _target(var.path[-1])
        node.append((target, replace, i, None))
    return root


def _build(base, plan, choice, raw, prepared):
    """The merged config of one variation: base copied only along the paths
    the plan changes."""
    out = {} if base is None else base.copy()
    for target, replace, i, sub in plan:
        if sub is None:
            j = choice[i]
            value = prepared[i][j]
            if value.__class__ is str and value == DELETE:
                out.pop(target, None)
            elif replace or value.__class__ is not dict:
                out[target] = value
            else:
                cur = out.get(target)
                out[target] = _merge(cur, raw[i][j]) if cur.__class__ is dict else value
        else:
            cur = None if replace else out.get(target)
            out[target] = _build(cur if cur.__class__ is dict else None, sub, choice, raw,
                                 prepared)
    return out


def _passes(choice, checks, forced):
    for ia, ib, width, allowed in checks:
        if not allowed[choice[ia] * width + choice[ib]]:
            return False
    for iv, jdel, rules in forced:
        if choice[iv] == jdel:
            for io, jset in rules:
                if choice[io] in jset:
                    break
            else:
                return False
    return True


# ---------------------------------------------------------------- constraints


def _same(a, b):
    """Equality as a YAML user means it: True is not 1, 1 is 1.0."""
    if a.__class__ is bool or b.__class__ is bool:
        return a is b
    if isinstance(a, dict):
        return (isinstance(b, dict) and len(a) == len(b)
                and all(k in b and _same(v, b[k]) for k, v in a.items()))
    if isinstance(a, list):
        return (isinstance(b, list) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    if isinstance(b, (dict, list)):
        return False
    return a == b


def _index(values, value):
    for j, v in enumerate(values):
        if _same(v, value):
            return j
    return None


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


def _compile_constraints(raw, variables, source):
    """Checks for _passes: ([(ia, ib, width, allowed flags)], [(iv, delete
    index, [(other index, {other value indexes that allow the delete})])],
    [readable lines])."""
    if raw is None:
        return [], [], []
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
        ops = [(op, pairs) for op, pairs in item.items() if op != "vars"]
        if not ops:
            raise UserError("%s: no operator; use one of %s" % (where, ", ".join(OPERATORS)))
        for op, pairs in ops:
            if op not in OPERATORS:
                raise UserError("%s: unknown operator %r; use one of %s"
                                % (where, op, ", ".join(OPERATORS)))
            if not isinstance(pairs, list) or not pairs or not all(
                    isinstance(p, list) and len(p) == 2 for p in pairs):
                raise UserError("%s: '%s' must be a list of [%s value, %s value] pairs"
                                % (where, op, va.name, vb.name))
            parsed.append((where, va, vb, op, pairs))

    # Values named by constraints; a missing "delete" is added to its variable.
    resolved = []
    for where, va, vb, op, pairs in parsed:
        index_pairs = []
        for pair in pairs:
            index_pairs.append((_value_index(va, pair[0], where),
                                _value_index(vb, pair[1], where)))
        resolved.append((where, va, vb, op, pairs, index_pairs))

    checks = []
    forcing = {}  # id(variable) -> [(other index, set of other value indexes)]
    described = []
    for where, va, vb, op, pairs, index_pairs in resolved:
        na, nb = len(va.values), len(vb.values)
        ia, ib = position[id(va)], position[id(vb)]
        allowed = [True] * (na * nb)
        if op == "->":
            groups = {}
            for ja, jb in index_pairs:
                groups.setdefault(ja, set()).add(jb)
            for ja, jbs in groups.items():
                for y in range(nb):
                    if y not in jbs:
                        allowed[ja * nb + y] = False
        elif op == "<=>":
            left, right = {}, {}
            for (ja, jb), pair in zip(index_pairs, pairs):
                if ja in left and left[ja] != jb or jb in right and right[jb] != ja:
                    raise UserError("%s: '<=>' pairs contradict each other at %s"
                                    % (where, _pair_text(va, vb, pair)))
                left[ja], right[jb] = jb, ja
            for x in range(na):
                for y in range(nb):
                    for ja, jb in index_pairs:
                        if (x == ja) != (y == jb):
                            allowed[x * nb + y] = False
                            break
        elif op == "v":
            for x in range(na):
                for y in range(nb):
                    for ja, jb in index_pairs:
                        if x != ja and y != jb:
                            allowed[x * nb + y] = False
                            break
        else:  # "!!"
            for ja, jb in index_pairs:
                allowed[ja * nb + jb] = False
        checks.append((ia, ib, nb, allowed))
        if op in ("->", "<=>"):
            for ja, jb in index_pairs:
                if jb == vb.added_delete:
                    _add_forcing(forcing, vb, ia, ja)
                if op == "<=>" and ja == va.added_delete:
                    _add_forcing(forcing, va, ib, jb)
        joiner = {"->": " -> ", "<=>": " <=> ", "v": " or "}.get(op)
        if joiner:
            text = " and ".join("(%s=%s%s%s=%s)" % (va.name, _show(p[0]), joiner, vb.name,
                                                   _show(p[1])) for p in pairs)
        else:
            text = " and ".join("not (%s=%s and %s=%s)" % (va.name, _show(p[0]), vb.name,
                                                          _show(p[1])) for p in pairs)
        described.append(text)

    forced = []
    for i, var in enumerate(variables):
        if var.added_delete is not None:
            forced.append((i, var.added_delete, forcing.get(id(var), [])))
    return checks, forced, described


def _add_forcing(forcing, var, other, j):
    rules = forcing.setdefault(id(var), [])
    for o, jset in rules:
        if o == other:
            jset.add(j)
            return
    rules.append((other, set([j])))


def _pair_text(va, vb, pair):
    return "[%s, %s]" % (_show(pair[0]), _show(pair[1]))


def _value_index(var, value, where):
    j = _index(var.values, value)
    if j is not None:
        return j
    if _is_delete(value):
        var.values.append(DELETE)
        var.added_delete = len(var.values) - 1
        return var.added_delete
    raise UserError("%s: %s is not one of the values of %s (%s)" % (
        where, _show(value), var.name, ", ".join(_show(v) for v in var.values)))


# ---------------------------------------------------------------- names, keys


def safe_name(title, limit=NAME_MAX):
    """A folder-safe name for a title: characters outside [-_.()A-Za-z0-9]
    become "_", no "..", no leading ".", at most limit characters (a longer
    one keeps a prefix and ends with "_" + 12 hex digits of sha256(title))."""
    name = _UNSAFE.sub("_", title)
    if ".." in name:
        name = name.replace("..", "._")
    if name.startswith("."):
        name = "_" + name[1:]
    if not name:
        name = "_"
    if len(name) > limit:
        digest = hashlib.sha256(title.encode("utf-8", "surrogatepass")).hexdigest()
        name = name[:limit - HASH_DIGITS - 1] + "_" + digest[:HASH_DIGITS]
    return name


def _json_default(value):
    import datetime

    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (set, frozenset, tuple)):
        return sorted((_canonical(v) for v in value), key=repr)
    raise TypeError("%r is not JSON serialisable" % (value,))


def _canonical(value):
    """value with every dict key a string (so keys of mixed types sort)."""
    if isinstance(value, dict):
        return dict((k if k.__class__ is str else json.dumps(k, default=str), _canonical(v))
                    for k, v in value.items())
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


_ENCODER = []


def config_key(config):
    """A stable string identity of a config: canonical JSON (sorted keys, no
    spaces). Identical for a config written to YAML and read back, so an
    existing experiment's cfg.yaml (minus the fields the layout adds) can be
    matched against Variation.key."""
    if not _ENCODER:
        _ENCODER.append(json.JSONEncoder(sort_keys=True, separators=(",", ":"),
                                         ensure_ascii=False, default=_json_default))
    try:
        return _ENCODER[0].encode(config)
    except TypeError:  # dict keys of mixed types do not sort
        return _ENCODER[0].encode(_canonical(config))


# ---------------------------------------------------------------- command line


def parse_value(text):
    """A command-line value read like a YAML scalar: "False" -> False, "0.1"
    -> 0.1, "abc" -> "abc", "[1,2]" -> [1, 2], "null" -> None, "" -> "".
    Text YAML cannot read is kept as a string, except an unbalanced [ or {,
    which is a UserError."""
    import yaml

    from .limits import load_yaml

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


def parse_filters(texts):
    """["a.b=1", "c=x"] -> [("a.b", 1), ("c", "x")], for matches()."""
    return [parse_setting(t) for t in texts]


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
        if found is _MISSING or not _same(found, value):
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
