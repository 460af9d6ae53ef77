"""The cfg.yaml of every run, written as liftoff wrote it, fast.

liftoff wrote each run's config with PyYAML's
``yaml.safe_dump(cfg, default_flow_style=False)``: keys sorted, every list
in block style, strings plain where YAML reads them back as strings, long
plain strings folded at spaces past column 80. Analysis code that turns a
config into text (``str(opts)``, a ``results.json`` holding
``str(params)``) sees the key order, so the same config must give the same
text. ``dumps(data)`` gives exactly that text.

yaml.safe_dump in pure Python takes about a millisecond per config; an
experiment of 10,000 variations must be written in well under a second.
So the common data (dicts, lists, str, int, float, bool, None) are written
here, the way PyYAML's emitter writes them, and each top-level entry that
holds anything else (a string that would be quoted, a date, a key of 128
characters or more, ...) is handed to yaml.safe_dump: the text is the same
either way, the fast path is only faster. ``entries(mapping)`` gives the
text of each top-level entry apart, so that a run's own fields can be put
among a variation's shared ones in their sorted places.

PyYAML's rules kept here: a mapping's items are sorted when its keys can be
compared, else left in their order; floats as ``repr`` with a dot before an
exponent (``1.0e-05``), ``.inf``, ``-.inf``, ``.nan``; a plain string is
folded at a single space once the line is past column 80, the next line
indented two past its key (or at its item's text); ``{}`` and ``[]`` for empty
dicts and lists.
"""

import re

__all__ = ["dumps", "dump_bytes", "entries", "sort_items"]

WIDTH = 80  # PyYAML's best_width: plain strings fold past it
SIMPLE_KEY = 128  # PyYAML writes longer keys as "? key"

# what may be in a plain string that this module writes itself: printable
# ASCII (PyYAML escapes anything else), and no first character that YAML
# reads as an indicator
_PRINTABLE = re.compile(r"[\x20-\x7e]+\Z")
_FIRST = frozenset("#,[]{}&*!|>'\"%@` ")

_plain_cache = {}
_resolvers = None


class _Slow(Exception):
    """Something this module leaves to yaml.safe_dump."""


def _resolves_to_str(text):
    """Does YAML read this plain text back as a string (not a number, a
    bool, null, a date, ...)?"""
    global _resolvers
    if _resolvers is None:
        from yaml.resolver import Resolver

        _resolvers = Resolver.yaml_implicit_resolvers
    for _, regexp in _resolvers.get(text[0], []) + _resolvers.get(None, []):
        if regexp.match(text):
            return False
    return True


def _plain(text):
    """Would PyYAML write this string plain (in block context)?"""
    known = _plain_cache.get(text)
    if known is not None:
        return known
    ok = bool(text) and text[0] not in _FIRST and text[-1] != " " and bool(
        _PRINTABLE.match(text)) and not (
        text[0] in "-?:" and (len(text) == 1 or text[1] == " ")) and not (
        text.startswith(("---", "...")) or ": " in text or " #" in text
        or text[-1] == ":") and _resolves_to_str(text)
    if len(_plain_cache) < 100000:
        _plain_cache[text] = ok
    return ok


def _float(value):
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value).lower()
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)
    return text


def _scalar(value):
    """The text of a scalar that is not a string, or _Slow."""
    cls = value.__class__
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value)
    if cls is float:
        return _float(value)
    if value is None:
        return "null"
    raise _Slow


def _fold(text, column, indent):
    """A plain string written from `column` on, as PyYAML's write_plain
    folds it: at a single space once the column is past WIDTH, going on
    at `indent`."""
    if column + len(text) <= WIDTH or " " not in text:
        return text
    out = []
    spaces = False
    start = 0
    for end in range(len(text) + 1):
        ch = text[end] if end < len(text) else None
        if spaces:
            if ch != " ":
                if start + 1 == end and column > WIDTH:
                    out.append("\n" + indent)
                    column = len(indent)
                else:
                    out.append(text[start:end])
                    column += end - start
                start = end
        elif ch is None or ch == " ":
            out.append(text[start:end])
            column += end - start
            start = end
        if ch is not None:
            spaces = ch == " "
    return "".join(out)


def _key(key):
    if key.__class__ is str:
        if len(key) < SIMPLE_KEY and _plain(key):
            return key
        raise _Slow
    return _scalar(key)


def sort_items(mapping):
    """A mapping's items in PyYAML's order: sorted, unless the keys cannot
    be compared (then as they are)."""
    items = list(mapping.items())
    try:
        return sorted(items)
    except TypeError:
        return items


def _pair(key, value, indent, out):
    head = indent + _key(key) + ":"
    cls = value.__class__
    if cls is str:
        if not _plain(value):
            raise _Slow
        out.append(head + " " + _fold(value, len(head) + 1, indent + "  ") + "\n")
    elif cls is dict:
        if not value:
            out.append(head + " {}\n")
            return
        out.append(head + "\n")
        inner = indent + "  "
        for k, v in sort_items(value):
            _pair(k, v, inner, out)
    elif cls is list:
        if not value:
            out.append(head + " []\n")
            return
        out.append(head + "\n")
        _items(value, indent, out)
    else:
        out.append(head + " " + _scalar(value) + "\n")


def _items(items, indent, out):
    """A block sequence, its dashes at `indent`."""
    inner = indent + "  "
    for item in items:
        cls = item.__class__
        if cls is str:
            if not _plain(item):
                raise _Slow
            out.append(indent + "- " + _fold(item, len(inner), inner) + "\n")
            continue
        if cls is dict or cls is list:
            if not item:
                out.append(indent + ("- {}\n" if cls is dict else "- []\n"))
                continue
            sub = []
            if cls is dict:
                for k, v in sort_items(item):
                    _pair(k, v, inner, sub)
            else:
                _items(item, inner, sub)
            # the first line of the nested block goes on the "- " line
            sub[0] = indent + "- " + sub[0][len(inner):]
            out.extend(sub)
            continue
        out.append(indent + "- " + _scalar(item) + "\n")


def _safe_dump(data):
    import yaml

    return yaml.safe_dump(data, default_flow_style=False)


def entry(key, value):
    """The text of one top-level entry `key: value` of a mapping."""
    out = []
    try:
        _pair(key, value, "", out)
    except _Slow:
        return _safe_dump({key: value})
    return "".join(out)


def entries(mapping):
    """[(key, text)] of a mapping's top-level entries, in PyYAML's order."""
    return [(key, entry(key, value)) for key, value in sort_items(mapping)]


def dumps(data):
    """yaml.safe_dump(data, default_flow_style=False), faster."""
    if data.__class__ is dict and data:
        return "".join(text for _, text in entries(data))
    return _safe_dump(data)


def dump_bytes(data):
    """dumps(data) encoded as UTF-8, for writing to a file."""
    return dumps(data).encode("utf-8")
