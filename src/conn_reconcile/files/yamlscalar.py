"""The YAML 1.2 core schema for one scalar event: a plain scalar resolved to null, a boolean,
an integer, a float or a string; a quoted or block one kept a string; a ``!!str/int/float/bool/null``
tag checked against the value, and every other tag refused."""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.events import ScalarEvent

from conn_reconcile.files.yamltext import Fatal as _Fatal
from conn_reconcile.files.yamltext import pos as _pos

#: the prefix of the core schema's tags (``!!str`` is ``tag:yaml.org,2002:str``)
CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {CORE + t for t in ("str", "int", "float", "bool", "null")}

TAG_MESSAGE = (
    "YAML tags (e.g. !Ref, !!binary, !!python/...) are not allowed; "
    "write plain strings, numbers, booleans, lists and mappings"
)

# The YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
# null and the booleans: the plain scalars that are not strings and do not start like a number
WORDS: dict[str, Any] = {w: None for w in ("", "~", "null", "Null", "NULL")}
WORDS.update({w: w.lower() == "true" for w in ("true", "True", "TRUE", "false", "False", "FALSE")})
_INT10_RE = re.compile(r"[-+]?[0-9]+")
_INT8_RE = re.compile(r"0o[0-7]+")
_INT16_RE = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF_RE = re.compile(r"([-+]?)\.(?:inf|Inf|INF)")
_NAN_RE = re.compile(r"\.(?:nan|NaN|NAN)")
# The first characters of every plain scalar that the number patterns above can match.
NUMBER_START = frozenset("0123456789+-.")


def resolve_plain(value: str) -> Any:
    if not value or value[0] not in NUMBER_START:  # most plain scalars: no regex needed
        return WORDS.get(value, value)
    if _INT10_RE.fullmatch(value):
        return int(value, 10)
    if _INT8_RE.fullmatch(value):
        return int(value[2:], 8)
    if _INT16_RE.fullmatch(value):
        return int(value[2:], 16)
    if _FLOAT_RE.fullmatch(value):
        return float(value)
    inf = _INF_RE.fullmatch(value)
    if inf:
        return float(f"{inf.group(1)}inf")
    if _NAN_RE.fullmatch(value):
        return float("nan")
    return value


_TAG_TYPES: dict[str, type | tuple[type, ...]] = {"int": int, "float": (int, float), "bool": bool, "null": type(None)}


def _matches_tag(value: object, name: str) -> bool:
    """Whether a resolved plain scalar is of the core-schema type its ``!!name`` tag says."""
    return isinstance(value, _TAG_TYPES[name]) and (name == "bool" or not isinstance(value, bool))


def scalar(ev: ScalarEvent) -> Any:
    """The value of a scalar event, or :class:`~conn_reconcile.files.yamltext.Fatal` at its mark."""
    tag = ev.tag
    if tag is None:  # the common case first, without computing a position
        value = ev.value
        if ev.style:  # quoted or block; plain is None (pure parser) or "" (libyaml)
            return value
        if value and value[0] not in NUMBER_START:  # resolve_plain's first case, without a call
            return WORDS.get(value, value)
        try:
            return resolve_plain(value)
        except ValueError:  # more digits than int() accepts
            raise _Fatal(*_pos(ev.start_mark), "number is too large") from None
    line, col = _pos(ev.start_mark)
    try:
        if tag not in _SCALAR_TAGS:
            raise _Fatal(line, col, TAG_MESSAGE)
        if tag == CORE + "str":
            return ev.value
        value = resolve_plain(ev.value)
    except ValueError:  # more digits than int() accepts
        raise _Fatal(line, col, "number is too large") from None
    name = tag[len(CORE) :]
    if not _matches_tag(value, name):
        raise _Fatal(line, col, f"value does not match its !!{name} tag")
    return float(value) if name == "float" else value
