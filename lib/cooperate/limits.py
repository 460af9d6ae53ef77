"""Limits on what a document may make the toolkit build.

Lists, experiment files, YAML configs and results files come from people and
scripts; reading one must neither exhaust memory nor crash. Past a limit the
reader raises UserError naming the file and the limit, before anything is
written:

  MAX_DEPTH   lists and mappings nested in each other (JSON and YAML)
  MAX_NODES   values a YAML document may expand to through aliases (each
              use of an alias counts its whole value again); a document
              written out without aliases may be larger
  MAX_DIGITS  digits of an integer (reading a longer one takes time that
              grows with the square of its length)
"""

import re

from cooperate.errors import UserError

MAX_DEPTH = 100
MAX_NODES = 100000
MAX_DIGITS = 100

LONG_NUMBER = re.compile(r"[0-9]{%d}" % (MAX_DIGITS + 1))
_INT_TAG = "tag:yaml.org,2002:int"


def too_deep(name):
    return UserError("%s: lists and mappings nested more than %d deep (the limit)"
                     % (name, MAX_DEPTH))


def too_long(name):
    return UserError("%s: an integer of more than %d digits (the limit)" % (name, MAX_DIGITS))


def depth(value, limit=MAX_DEPTH):
    """How deep lists and dicts nest in `value`, counted up to limit + 1."""
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list):
        return 0
    deepest = 0
    for item in value:
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth(item, limit - 1))
            if deepest >= limit:
                break
    return deepest + 1


def bounded_int(name):
    """A json `parse_int` that refuses integers past MAX_DIGITS."""
    def parse(text):
        if len(text.lstrip("-")) > MAX_DIGITS:
            raise too_long(name)
        return int(text)
    return parse


def load_json(text, name):
    """json.loads of `text` within the limits: json's own ValueError for
    what is not JSON, UserError naming `name` past a limit."""
    import json

    try:
        value = json.loads(text, parse_int=bounded_int(name) if LONG_NUMBER.search(text) else None)
    except RecursionError:
        raise too_deep(name)
    if depth(value) > MAX_DEPTH:
        raise too_deep(name)
    return value


def load_yaml(data, name):
    """yaml.safe_load of `data` (text or bytes) within the limits. A syntax
    error is yaml's own exception; a limit is a UserError naming `name`."""
    import yaml

    class Loader(yaml.SafeLoader):
        nesting = composed = 0

        def compose_node(self, parent, index):
            # composing recurses once per level: stop before Python's own limit
            self.composed += 1
            self.nesting += 1
            if self.nesting > MAX_DEPTH:
                raise too_deep(name)
            try:
                return super().compose_node(parent, index)
            finally:
                self.nesting -= 1

    loader = Loader(data)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        # a long document written out without aliases is fine: only what
        # aliases add counts against the limit
        _check(node, name, max(MAX_NODES, loader.composed))
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check(root, name, limit):
    """Refuse a composed YAML document whose aliases make it expand past
    `limit` values or MAX_DEPTH levels, refer to themselves, or that holds
    an over-long integer."""
    expanded = {}
    entered = set()

    def walk(node, level):
        key = id(node)
        if key in expanded:
            size, deepest = expanded[key]
            if level + deepest > MAX_DEPTH:
                raise too_deep(name)
            return size
        if key in entered:
            raise UserError("%s: an alias refers to a value that holds it (a recursive "
                            "alias): it would never end" % name)
        if level > MAX_DEPTH:
            raise too_deep(name)
        if isinstance(node.value, str):
            if node.tag == _INT_TAG and len(node.value) > MAX_DIGITS + 2:
                raise too_long(name)
            expanded[key] = (1, 0)
            return 1
        entered.add(key)
        size, deepest = 1, 0
        children = [n for pair in node.value for n in pair] if node.id == "mapping" else node.value
        for child in children:
            size += walk(child, level + 1)
            deepest = max(deepest, expanded[id(child)][1] + 1)
            if size > limit:
                raise UserError("%s: aliases expand it to more than %d values (the limit; "
                                "a \"billion laughs\"?)" % (name, limit))
        entered.discard(key)
        expanded[key] = (size, deepest)
        return size

    walk(root, 0)
