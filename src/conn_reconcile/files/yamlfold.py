"""The quick walk over libyaml's events for the common file: plain dicts, lists and core-schema
scalars, no marks kept. Anything the located walk (:mod:`yamlwalk`) would stop at or report stops
this one (:class:`Unusual`), so that walk words it; its data is then that walk's data."""

from __future__ import annotations

from collections.abc import Callable
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

#: a parser's next event (None after the stream's end)
NextEvent = Callable[[], Any]


class Unusual(Exception):
    """The file has something the quick walk leaves to the located walk."""


def fold(next_event: NextEvent) -> dict[str, Any]:
    """The top-level mapping of one document without anchors, aliases, tags, directives,
    duplicate or merge keys, non-string or empty keys, or nesting deeper than ``MAX_DEPTH``;
    :class:`Unusual` otherwise (and for an empty file or a top level that is not a mapping).
    Each collection is read by its own loop, which knows what comes next in it."""
    if type(next_event()) is not StreamStartEvent:
        raise Unusual
    ev = next_event()
    if type(ev) is not DocumentStartEvent or ev.version is not None or ev.tags:
        raise Unusual
    ev = next_event()
    if type(ev) is not MappingStartEvent or ev.anchor is not None or ev.ctag is not None:
        raise Unusual
    root = _mapping(next_event, 1)
    if type(next_event()) is not DocumentEndEvent or type(next_event()) is not StreamEndEvent:
        raise Unusual  # a second document
    return root


def _collection(next_event: NextEvent, ev: Any, depth: int) -> dict[str, Any] | list[Any]:
    """The collection ``ev`` opens, ``depth`` collections deep."""
    kind = type(ev)
    if kind is not MappingStartEvent and kind is not SequenceStartEvent:
        raise Unusual  # an alias
    # ctag: the tag as parsed (tag: a property over it)
    if ev.anchor is not None or ev.ctag is not None or depth >= MAX_DEPTH:
        raise Unusual
    if kind is MappingStartEvent:
        return _mapping(next_event, depth + 1)
    return _sequence(next_event, depth + 1)


def _mapping(next_event: NextEvent, depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    while True:
        ev = next_event()
        if type(ev) is not ScalarEvent:
            if type(ev) is MappingEndEvent:
                return node
            raise Unusual  # a collection or an alias as a key
        if ev.anchor is not None or ev.ctag is not None:
            raise Unusual
        key = ev.value
        if not ev.style:  # plain: resolved (ValueError for a number too large)
            if key == "<<":
                raise Unusual
            key = WORDS.get(key, key) if key and key[0] not in NUMBER_START else resolve_plain(key)
        if type(key) is not str or not key or key in node:
            raise Unusual
        ev = next_event()
        if type(ev) is ScalarEvent:
            node[key] = _scalar(ev)
        else:
            node[key] = _collection(next_event, ev, depth)


def _sequence(next_event: NextEvent, depth: int) -> list[Any]:
    node: list[Any] = []
    while True:
        ev = next_event()
        if type(ev) is ScalarEvent:
            node.append(_scalar(ev))
        elif type(ev) is SequenceEndEvent:
            return node
        else:
            node.append(_collection(next_event, ev, depth))


def _scalar(ev: Any) -> Any:
    if ev.anchor is not None or ev.ctag is not None:
        raise Unusual
    value = ev.value
    if ev.style:  # quoted, literal or folded: text as it is
        return value
    return WORDS.get(value, value) if value and value[0] not in NUMBER_START else resolve_plain(value)
