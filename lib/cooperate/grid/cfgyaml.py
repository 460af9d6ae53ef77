"""A small, fast YAML writer for configs (the cfg.yaml of every run).

yaml.safe_dump in pure Python takes about a millisecond per config; an
experiment of 10,000 variations must be written in well under a second. This
writes the data yaml.safe_load gives (dicts, lists, str, int, float, bool,
None; also dates, datetimes, bytes and sets) in block style, like liftoff's
cfg.yaml, and everything it writes loads back with yaml.safe_load (PyYAML,
YAML 1.1) to equal data:

  None -> null, bools -> true / false, ints as Python writes them;
  floats always with a dot (1e-05 -> 1.0e-05, which YAML 1.1 needs) and
  .inf / -.inf / .nan;
  strings plain when that is unambiguous: a letter, "_" or "/" first, then
  only [-A-Za-z0-9_./=;()+ ], no trailing space, and not one of YAML 1.1's
  bool / null words (yes, no, on, off, y, n, true, false, null, in any case);
  every other string double-quoted with JSON's escapes (YAML accepts them),
  characters YAML may not hold raw (C1 controls, U+2028/2029, surrogates,
  U+FFFE/FFFF) escaped as \\uXXXX;
  {} and [] for empty dicts and lists; short lists of scalars in flow style
  ([1, 2, abc]); dict keys in insertion order; keys longer than YAML's
  1024-character limit for simple keys as explicit "? key" entries.

It does not handle shared or self-referencing structures specially: a value
used twice is written twice.
"""

import json
import re

__all__ = ["dumps", "dump_bytes", "scalar"]

_PLAIN = re.compile(r"[A-Za-z_/][-A-Za-z0-9_./=;()+ ]*\Z")
# YAML 1.1 words that load as bools or null (PyYAML knows fewer; quoting a
# few more costs nothing and keeps the file readable by other parsers)
_WORDS = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null"])
# characters YAML may not hold raw inside a quoted scalar (json.dumps with
# ensure_ascii=False leaves them raw): C1 controls and DEL, the line and
# paragraph separators (line breaks in YAML 1.1), surrogates, U+FFFE/FFFF
_RAW_BAD = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
_QUOTE = json.JSONEncoder(ensure_ascii=False).encode

KEY_LIMIT = 1000  # PyYAML refuses simple keys longer than 1024 characters
FLOW_WIDTH = 72  # lists of scalars up to this long are written [a, b, c]

_key_cache = {}
_value_cache = {}


def _escape(match):
    return "\\u%04x" % ord(match.group())


def _string(text):
    if _PLAIN.match(text) and text[-1] != " " and text.lower() not in _WORDS:
        return text
    quoted = _QUOTE(text)
    if _RAW_BAD.search(quoted):
        quoted = _RAW_BAD.sub(_escape, quoted)
    return quoted


def _float(value):
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(float(value))
    if "." not in text:
        # "1e-05" loads as a string in YAML 1.1: it needs a dot
        mantissa, _, exponent = text.partition("e")
        text = mantissa + ".0" + ("e" + exponent if exponent else "")
    return text


def scalar(value):
    """The YAML text of one scalar (anything but a non-empty dict or list)."""
    cls = value.__class__
    if cls is str:
        return _string(value)
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value)
    if cls is float:
        return _float(value)
    if value is None:
        return "null"
    return _other(value)


def _other(value):
    import datetime

    if isinstance(value, str):
        return _string(str(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        raise TypeError("a non-empty dict is not a scalar")
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        raise TypeError("a non-empty list is not a scalar")
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        import base64

        return '!!binary "%s"' % base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return "!!set {%s}" % ", ".join(
            sorted("%s: null" % _key_text(v) for v in value))
    raise TypeError("cannot write %s %r as YAML" % (type(value).__name__, value))


def _key_text(key):
    if key.__class__ is str:
        text = _key_cache.get(key)
        if text is None:
            text = _string(key)
            if len(_key_cache) < 50000:
                _key_cache[key] = text
        return text
    if isinstance(key, (tuple, list, dict)):
        raise TypeError("cannot write the key %r as YAML" % (key,))
    return scalar(key)


def _flow(items):
    """'[a, b, c]' for a short list of plain scalars, else None."""
    parts = []
    width = 2
    for item in items:
        cls = item.__class__
        if cls is str:
            text = _string(item)
        elif cls is int or cls is float or cls is bool or item is None:
            text = scalar(item)
        else:
            return None
        width += len(text) + 2
        if width > FLOW_WIDTH:
            return None
        parts.append(text)
    return "[" + ", ".join(parts) + "]"


def _mapping(data, indent, out):
    append = out.append
    for key, value in data.items():
        ktext = _key_cache.get(key) if key.__class__ is str else None
        if ktext is None:
            ktext = _key_text(key)
        if len(ktext) > KEY_LIMIT:
            append(indent + "? " + ktext + "\n")
            head = indent + ":"
        else:
            head = indent + ktext + ":"
        cls = value.__class__
        if cls is str:
            text = _value_cache.get(value)
            if text is None:
                text = _string(value)
                if len(value) < 100 and len(_value_cache) < 50000:
                    _value_cache[value] = text
            append(head + " " + text + "\n")
        elif cls is int:
            append(head + " " + str(value) + "\n")
        elif cls is float:
            append(head + " " + _float(value) + "\n")
        elif cls is dict:
            if value:
                append(head + "\n")
                _mapping(value, indent + "  ", out)
            else:
                append(head + " {}\n")
        elif cls is list:
            if not value:
                append(head + " []\n")
            else:
                flow = _flow(value)
                if flow is not None:
                    append(head + " " + flow + "\n")
                else:
                    # an indentless sequence, as PyYAML writes it
                    append(head + "\n")
                    _sequence(value, indent, out)
        else:
            _value(value, head, indent, out)


def _value(value, head, indent, out):
    """`head` plus value, for a value that may be a dict or list subclass."""
    if isinstance(value, dict) and value:
        out.append(head + "\n")
        _mapping(value, indent + "  ", out)
    elif isinstance(value, (list, tuple)) and value:
        out.append(head + "\n")
        _sequence(list(value), indent, out)
    else:
        out.append(head + " " + scalar(value) + "\n")


def _sequence(items, indent, out):
    inner = indent + "  "
    cut = len(inner)
    for item in items:
        if isinstance(item, dict) and item:
            sub = []
            _mapping(item, inner, sub)
        elif isinstance(item, (list, tuple)) and item:
            flow = _flow(item)
            if flow is not None:
                out.append(indent + "- " + flow + "\n")
                continue
            sub = []
            _sequence(list(item), inner, sub)
        else:
            out.append(indent + "- " + scalar(item) + "\n")
            continue
        # the first line of the nested block goes on the "- " line
        sub[0] = sub[0][cut:]
        out.append(indent + "- ")
        out.extend(sub)


def dumps(data):
    """The YAML text of data (a str ending with a newline)."""
    out = []
    if isinstance(data, dict) and data:
        _mapping(data, "", out)
    elif isinstance(data, (list, tuple)) and data:
        _sequence(list(data), "", out)
    else:
        return scalar(data) + "\n"
    return "".join(out)


def dump_bytes(data):
    """dumps(data) encoded as UTF-8, for writing to a file."""
    return dumps(data).encode("utf-8")
