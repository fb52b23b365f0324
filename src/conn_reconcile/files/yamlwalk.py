"""The walk over ruamel's event stream (which carries a mark for every key and value) that
builds plain ``dict``/``list``/scalars and the line/col of every field: ruamel never constructs a
Python object, and the hardening is this walk's own checks, not a matter of loader configuration."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
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

from conn_reconcile.files.yamlscalar import CORE, TAG_MESSAGE, scalar
from conn_reconcile.files.yamltext import Fatal as _Fatal
from conn_reconcile.files.yamltext import line_col as _line_col
from conn_reconcile.files.yamltext import pos as _pos

MAX_DEPTH = 20

# A directive: "%" at the start of a line (of the text before a document starts).
DIRECTIVE_RE = re.compile(r"^%", re.MULTILINE)


class _Frame:
    """An open mapping or sequence. Mappings: ``key`` is the key whose value comes next,
    ``skip`` drops that value (duplicate or merge key), ``key_lines`` the line of each key."""

    __slots__ = ("container", "is_map", "key", "key_lines", "path", "skip")

    def __init__(self, container: dict[str, Any] | list[Any], path: str, is_map: bool):
        self.container = container
        self.path = path
        self.is_map = is_map
        self.key: str | None = None
        self.skip = False
        self.key_lines: dict[str, int] = {}


#: The events the walk handles inline, by exact type (anything else goes through ``Builder.other``).
_SCALAR, _START, _END, _OTHER = 1, 2, 3, 4
_KINDS: dict[type, int] = {ScalarEvent: _SCALAR, MappingStartEvent: _START, SequenceStartEvent: _START}
_KINDS.update({MappingEndEvent: _END, SequenceEndEvent: _END})
_KINDS.update(dict.fromkeys((StreamStartEvent, DocumentStartEvent, DocumentEndEvent, StreamEndEvent), _OTHER))


def _kind(ev: Any) -> int:
    """The kind of an event whose exact type is not in :data:`_KINDS` (aliases, subclasses)."""
    if isinstance(ev, ScalarEvent):
        return _SCALAR
    if isinstance(ev, CollectionStartEvent):
        return _START
    return _END if isinstance(ev, CollectionEndEvent) else _OTHER


def _anchor_error(ev: Any) -> _Fatal:
    return _Fatal(*_pos(ev.start_mark), "anchors and aliases are not allowed")


class Builder:
    """Plain data from the events of one file, resolving scalars with the YAML 1.2 core schema.

    It stops (:class:`~conn_reconcile.files.yamltext.Fatal`) at an anchor or alias (no billion
    laughs, no shared nodes), a tag other than the core ``!!str/int/float/bool/null/map/seq``, a
    directive (``%YAML 1.1``, ``%TAG``: every file reads as YAML 1.2), a second document, or nesting
    deeper than :data:`MAX_DEPTH`; it reports (``problems``) duplicate keys with both lines, and merge keys.
    """

    def __init__(self, text: str):
        self.text = text
        self.root: Any = None
        self.root_pos = (1, 1)
        self.frames: list[_Frame] = []
        self.locations: dict[str, tuple[int, int]] = {"": (1, 1)}
        self.problems: list[tuple[int, int, str | None, str]] = []
        self.documents = 0
        self.prev_end = 0

    def run(self, events: Iterator[Any]) -> None:
        """The walk. Scalars (most events) are placed here, without a call per event."""
        frames = self.frames
        locations = self.locations
        for ev in events:
            kind = _KINDS.get(type(ev)) or _kind(ev)
            if kind is _SCALAR:
                if ev.anchor is not None:
                    raise _anchor_error(ev)
                if not frames:
                    self.node(ev)
                    continue
                top = frames[-1]
                if top.is_map:
                    if top.key is None:
                        self.key(top, ev)
                        continue
                    value = scalar(ev)
                    if not top.skip:
                        top.container[top.key] = value  # type: ignore[call-overload]
                    top.key = None
                else:
                    container = top.container
                    path = f"{top.path}.{len(container)}" if top.path else str(len(container))
                    if path not in locations:
                        locations[path] = _pos(ev.start_mark)
                    container.append(scalar(ev))  # type: ignore[union-attr]
            elif kind is _START:
                if ev.anchor is not None:
                    raise _anchor_error(ev)
                if frames and frames[-1].is_map and frames[-1].key is None:
                    self.key(frames[-1], ev)
                else:
                    self.node(ev)
            elif kind is _END:
                frames.pop()
            else:
                self.other(ev)

    def other(self, ev: Any) -> None:
        """The events that come once per file or not at all."""
        if isinstance(ev, (StreamStartEvent, DocumentEndEvent)):
            self.prev_end = ev.end_mark.index
        elif isinstance(ev, DocumentStartEvent):
            self.document(ev)
        elif isinstance(ev, AliasEvent):
            raise _anchor_error(ev)
        elif not isinstance(ev, StreamEndEvent):  # pragma: no cover - ruamel has no other events
            raise _Fatal(*_pos(ev.start_mark), "unsupported YAML construct")

    def document(self, ev: DocumentStartEvent) -> None:
        m = DIRECTIVE_RE.search(self.text[self.prev_end : ev.end_mark.index])
        if m is not None:
            line, col = _line_col(self.text, self.prev_end + m.start())
            raise _Fatal(line, col, "YAML directives (%YAML, %TAG) are not allowed; files are read as YAML 1.2")
        if ev.version is not None or ev.tags:
            raise _Fatal(*_pos(ev.start_mark), "YAML directives (%YAML, %TAG) are not allowed")
        self.documents += 1
        if self.documents > 1:
            raise _Fatal(*_pos(ev.start_mark), "one connector per file: found a second YAML document (---)")

    def key(self, frame: _Frame, ev: Any) -> None:
        mark = ev.start_mark
        line, col = mark.line + 1, mark.column + 1
        if not isinstance(ev, ScalarEvent):
            raise _Fatal(line, col, "field names must be plain strings, not lists or mappings")
        key = scalar(ev)
        if not isinstance(key, str) or not key:
            raise _Fatal(line, col, "field names must be non-empty strings")
        path = f"{frame.path}.{key}" if frame.path else key
        frame.key, frame.skip = key, False
        if key == "<<" and not ev.style:
            frame.skip = True
            self.problems.append((line, col, frame.path or None, "merge keys (<<) are not allowed"))
        elif key in frame.key_lines:
            frame.skip = True
            first = frame.key_lines[key]
            self.problems.append((line, col, path, f"duplicate key {key!r}: first defined at line {first}"))
        else:
            frame.key_lines[key] = line
        if path not in self.locations:
            self.locations[path] = (line, col)

    def node(self, ev: Any) -> None:
        """A collection (or the document's root scalar) where a value goes."""
        parent = self.frames[-1] if self.frames else None
        if parent is None:
            path = ""
            self.root_pos = _pos(ev.start_mark)
        elif not parent.is_map:
            index = len(parent.container)
            path = f"{parent.path}.{index}" if parent.path else str(index)
            self.locations.setdefault(path, _pos(ev.start_mark))
        else:
            assert parent.key is not None
            path = f"{parent.path}.{parent.key}" if parent.path else parent.key
        value: Any = scalar(ev) if isinstance(ev, ScalarEvent) else self.collection(ev, path)
        if parent is None:
            self.root = value
        elif not parent.is_map:
            parent.container.append(value)  # type: ignore[union-attr]
        else:
            if not parent.skip:
                assert parent.key is not None  # a mapping's value always follows its key
                parent.container[parent.key] = value  # type: ignore[call-overload]
            parent.key = None

    def collection(self, ev: Any, path: str) -> dict[str, Any] | list[Any]:
        is_map = isinstance(ev, MappingStartEvent)
        assert is_map or isinstance(ev, SequenceStartEvent)
        if ev.tag is not None and ev.tag != CORE + ("map" if is_map else "seq"):
            raise _Fatal(*_pos(ev.start_mark), TAG_MESSAGE)
        if len(self.frames) >= MAX_DEPTH:
            raise _Fatal(*_pos(ev.start_mark), f"nested more than {MAX_DEPTH} levels deep")
        container: dict[str, Any] | list[Any] = {} if is_map else []
        self.frames.append(_Frame(container, path, is_map))
        return container
