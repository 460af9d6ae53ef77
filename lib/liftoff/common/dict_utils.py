"""``liftoff.common.dict_utils``: the dict helpers of liftoff 0.3.3
(liftoff-prepare built its grid with them), with the same results, quirks
included:

- ``uniqstr(obj)``: a string for a config that does not depend on the order
  of its keys: a dict gives ``<key>_<value>`` items sorted by key and joined
  with commas, a list its items joined with commas, anything else its
  ``repr``. Keys that cannot be compared with each other raise TypeError.
- ``hashstr(string)``: the hex SHA-224 of the string's UTF-8 bytes.
- ``deep_update_dict(dct1, dct2, delete_entries=False)``: merges ``dct2``
  into ``dct1`` in place and returns ``dct1``. A key starting with ``_``
  replaces the value under the key without its first character; a dict
  merges into a dict already there; anything else replaces. Values from
  ``dct2`` are put in ``dct1`` as they are, not copied. As in liftoff: with
  ``delete_entries``, a value ``"delete"`` under a key ``dct1`` has removes
  the entry named ``"key"`` (KeyError if there is none), not that key; and
  nested dicts are merged without ``delete_entries``.
- ``clean_dict(dct)``: removes, in place and at every depth of nested
  dicts (not inside lists), the entries whose value is ``"delete"``;
  returns None.
- ``dict_to_namespace(dct)``: the package's own (see ``liftoff``).
"""

import hashlib

from .. import dict_to_namespace

__all__ = ["uniqstr", "hashstr", "deep_update_dict", "clean_dict", "dict_to_namespace"]


def _first(pair):
    return pair[0]


def uniqstr(obj):
    """A string for ``obj`` that does not depend on the order of its keys."""
    if isinstance(obj, dict):
        return ",".join("%s_%s" % (uniqstr(key), uniqstr(value))
                        for key, value in sorted(obj.items(), key=_first))
    if isinstance(obj, list):
        return ",".join([uniqstr(item) for item in obj])
    return repr(obj)


def hashstr(string):
    """The hex SHA-224 digest of ``string`` encoded in UTF-8."""
    return hashlib.sha224(string.encode()).hexdigest()


def deep_update_dict(dct1, dct2, delete_entries=False):
    """``dct1`` with ``dct2`` merged into it, in place (see the module's
    docstring for the rules and liftoff's quirks kept here)."""
    for key, value in dct2.items():
        if delete_entries and value == "delete" and key in dct1:
            # liftoff's: the entry named "key" goes, whatever the key
            del dct1["key"]
            continue
        if key.startswith("_"):
            dct1[key[1:]] = value
            continue
        merge = isinstance(value, dict) and key in dct1 and isinstance(dct1[key], dict)
        if merge:
            deep_update_dict(dct1[key], value)  # liftoff's: delete_entries not passed on
        else:
            dct1[key] = value
    return dct1


def clean_dict(dct):
    """Removes the entries whose value is ``"delete"`` from ``dct`` and the
    dicts nested in it, in place."""
    if not isinstance(dct, dict):
        return
    doomed = []
    for key, value in dct.items():
        if value == "delete":
            doomed.append(key)
        elif isinstance(value, dict):
            clean_dict(value)
    for key in doomed:
        del dct[key]
