"""The quick walk over libyaml's events for the common file: plain dicts, lists and core-schema
scalars, no marks kept. Anything the located walk (:mod:`yamlwalk`) would stop at or report stops
this one (:class:`Unusual`), so that walk words it; its data is then that walk's data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ruamel.yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from conn_reconcile.files.yamlscalar import NUMBER_START, WORDS, resolve_plain
from conn_reconcile.files.yamlwalk import MAX_DEPTH


class Unusual(Exception):
    """The file has something the quick walk leaves to the located walk."""


_SEQ = object()  # the pending "key" of an open sequence
_QUIET = frozenset((StreamStartEvent, DocumentEndEvent, StreamEndEvent))


def fold(events: Iterator[Any]) -> dict[str, Any]:
    """The top-level mapping of one document without anchors, aliases, tags, directives,
    duplicate or merge keys, non-string or empty keys, or nesting deeper than ``MAX_DEPTH``;
    :class:`Unusual` otherwise (and for an empty file or a top level that is not a mapping)."""
    stack: list[Any] = []  # the open collections
    keys: list[Any] = []  # per open collection: _SEQ, or a mapping's pending key (None: a key comes next)
    root: Any = None
    documents = 0
    for ev in events:
        kind = type(ev)
        if kind is ScalarEvent:
            if ev.anchor is not None or ev.tag is not None:
                raise Unusual
            value = ev.value
            if not ev.style:  # plain: resolved (ValueError for a number too large)
                value = WORDS.get(value, value) if value and value[0] not in NUMBER_START else resolve_plain(value)
            if not stack:
                root = value
                continue
            key = keys[-1]
            if key is _SEQ:
                stack[-1].append(value)
            elif key is not None:
                stack[-1][key] = value
                keys[-1] = None
            elif type(value) is not str or not value or value in stack[-1] or (value == "<<" and not ev.style):
                raise Unusual
            else:
                keys[-1] = value
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if ev.anchor is not None or ev.tag is not None or len(stack) >= MAX_DEPTH:
                raise Unusual
            node: Any = {} if kind is MappingStartEvent else []
            if not stack:
                root = node
            elif keys[-1] is _SEQ:
                stack[-1].append(node)
            elif keys[-1] is None:  # a collection as a key
                raise Unusual
            else:
                stack[-1][keys[-1]] = node
                keys[-1] = None
            stack.append(node)
            keys.append(None if kind is MappingStartEvent else _SEQ)
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            stack.pop()
            keys.pop()
        elif kind is DocumentStartEvent:
            documents += 1
            if documents > 1 or ev.version is not None or ev.tags:
                raise Unusual
        elif kind not in _QUIET:  # an alias
            raise Unusual
    if type(root) is not dict:
        raise Unusual
    return root
