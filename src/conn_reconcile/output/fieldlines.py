"""A planned change's field lines in the text plan: each field's path, what it becomes (a
secret by its reference, never a value) and why, values written as JSON and escaped."""

from __future__ import annotations

import json
from typing import Any

from conn_reconcile.escape import escape
from conn_reconcile.model.connector import SECRET_PATHS
from conn_reconcile.plan.diff import VIEW_TOPS, FieldChange
from conn_reconcile.plan.model import Action, ResourceChange

_ORIGIN = {
    "git": "changed in git",
    "remote": "changed remotely since last apply",
    "both": "changed in git and remotely",
}


def _fmt(value: Any) -> str:
    kind = type(value)
    if kind is str:  # the common cases first, each exactly what the encoder writes
        return escape(_JSON_STR(value))
    if kind is bool:
        return "true" if value else "false"
    if isinstance(value, tuple):
        try:  # a list of text (excludes): as the encoder writes it
            return escape("[" + ", ".join(map(_JSON_STR, value)) + "]")
        except TypeError:  # an item that is not text
            value = list(value)
    return escape(_JSON.encode(value))


#: ``json.dumps(value, ensure_ascii=False)``, without a new encoder per value
_JSON = json.JSONEncoder(ensure_ascii=False)
#: a string as ``_JSON`` encodes it (the encoder's own function for a top-level string)
_JSON_STR = json.encoder.encode_basestring


def field_lines(change: ResourceChange, rotate: bool = False) -> list[str]:  # rotate: --rotate-secrets
    paths = [c.path if c.path in _PLAIN_PATHS else escape(c.path) for c in change.changes]
    width = max(map(len, paths), default=0)
    create = change.action is Action.CREATE
    lines = []
    for c, path in zip(change.changes, paths, strict=True):
        _, old, new, sensitive, origin, forces_replacement, _ = c
        if sensitive:
            sym, value = ("+" if create else "~"), _secret(c, create)
        elif old is None:
            sym, value = "+", _fmt(new)
        elif new is None:
            sym, value = "-", f"{_fmt(old)} -> null"
        else:
            sym, value = "~", f"{_fmt(old)} -> {_fmt(new)}"
        suffix = _notes(c, rotate) if origin or forces_replacement else ""
        lines.append(f"      {sym} {path.ljust(width)} = {value}{suffix}")
    return lines


#: the paths a change can have, none of which :func:`escape` would change
_PLAIN_PATHS = frozenset((*VIEW_TOPS, *SECRET_PATHS))


def _secret(c: FieldChange, create: bool) -> str:
    """A secret's value: never shown, only where it comes from; outside a create, with an origin
    it is known to have changed, without one it is sent whole with its object."""
    source = f", from ${{{c.ref}}}" if c.ref else ""
    return f"(sensitive{source})" if create else f"(sensitive, {'changed' if c.origin else 'sent'}{source})"


def _notes(c: FieldChange, rotate: bool) -> str:
    """Why a field changes, as the line's trailing comment."""
    note = []
    if c.forces_replacement:
        note.append("forces replacement")
    if c.origin and c.sensitive:  # a fingerprint changed: the ${VAR} in git may well be the same
        note.append("sent again (--rotate-secrets)" if rotate else "rotated (its value changed)")
    elif c.origin:
        note.append(_ORIGIN[c.origin])
    return f"   # {', '.join(note)}"
