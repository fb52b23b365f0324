"""Hardened YAML parsing: bytes -> plain data + the line/col of every field.

We never let ruamel construct Python objects. We walk its *event* stream (which carries
a mark for every key and value) and build plain ``dict``/``list``/``str``/``int``/``float``/
``bool``/``None`` ourselves, resolving plain scalars with the YAML 1.2 core schema. That
makes the hardening explicit rather than a matter of loader configuration:

* anchors and aliases are rejected (no billion-laughs, no shared nodes);
* any tag other than the core ``!!str/int/float/bool/null/map/seq`` is rejected;
* directives (``%YAML 1.1``, ``%TAG``...) are rejected, so every file reads as YAML 1.2;
* one document per file; nesting depth is bounded; duplicate keys are reported with both lines;
* a BOM, invalid UTF-8 and control characters are reported with their line.

Error messages are built from ruamel's problem text and mark only; its ``str()`` quotes the
offending source line, which may hold a secret, so it is never used.

Events come from libyaml's C parser (``ruamel.yaml.clib``), about 7x faster than ruamel's
pure-Python parser, with the same marks and the same walk below. libyaml reads YAML 1.1: where
it finds a syntax error (``{url: https://x}`` is valid only in 1.2), or where it would read a
value differently (U+0085, U+2028 and U+2029 are line breaks only in 1.1), the pure-Python
YAML 1.2 parser reads the file instead, so every syntax error is still worded and located by
it. Without the C extension every file goes that way. Not thread-safe (one pure parser is reused).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator
from typing import Any

from ruamel.yaml.error import MarkedYAMLError, YAMLError
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

from conn_reconcile.errors import Diagnostic
from conn_reconcile.files.yamltext import Fatal as _Fatal
from conn_reconcile.files.yamltext import decode
from conn_reconcile.files.yamltext import line_col as _line_col
from conn_reconcile.files.yamltext import pos as _pos
from conn_reconcile.files.yamltext import syntax_error as _syntax_error

try:  # ruamel.yaml.clib: libyaml's C parser
    from _ruamel_yaml import CParser as _CParser
except ImportError:  # pragma: no cover - depends on the installation; tests force the fallback
    _CParser = None

MAX_DEPTH = 20

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}

# The YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
# null and the booleans: the plain scalars that are not strings and do not start like a number
_WORDS: dict[str, Any] = {w: None for w in ("", "~", "null", "Null", "NULL")}
_WORDS.update({w: w.lower() == "true" for w in ("true", "True", "TRUE", "false", "False", "FALSE")})
_INT10_RE = re.compile(r"[-+]?[0-9]+")
_INT8_RE = re.compile(r"0o[0-7]+")
_INT16_RE = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF_RE = re.compile(r"([-+]?)\.(?:inf|Inf|INF)")
_NAN_RE = re.compile(r"\.(?:nan|NaN|NAN)")
# The first characters of every plain scalar that the number patterns above can match.
_NUMBER_START = frozenset("0123456789+-.")

# A directive: "%" at the start of a line (of the text before a document starts).
_DIRECTIVE_RE = re.compile(r"^%", re.MULTILINE)
# Line breaks in YAML 1.1 (libyaml) but ordinary characters in YAML 1.2.
_YAML11_BREAK_RE = re.compile("[\x85\u2028\u2029]")


class Parsed:
    """The result of parsing one file. ``data`` is None when parsing had to stop."""

    __slots__ = ("data", "locations", "problems")

    def __init__(
        self,
        data: Any,
        locations: dict[str, tuple[int, int]] | None = None,
        problems: list[Diagnostic] | None = None,
    ):
        self.data = data
        self.locations: dict[str, tuple[int, int]] = {} if locations is None else locations
        self.problems: list[Diagnostic] = [] if problems is None else problems

    def __repr__(self) -> str:
        return f"Parsed(data={self.data!r}, locations={self.locations!r}, problems={self.problems!r})"


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


def _resolve_plain(value: str) -> Any:
    if not value or value[0] not in _NUMBER_START:  # most plain scalars: no regex needed
        return _WORDS.get(value, value)
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


def _scalar(ev: ScalarEvent) -> Any:
    tag = ev.tag
    if tag is None:  # the common case first, without computing a position
        value = ev.value
        if ev.style:  # quoted or block; plain is None (pure parser) or "" (libyaml)
            return value
        if value and value[0] not in _NUMBER_START:  # _resolve_plain's first case, without a call
            return _WORDS.get(value, value)
        try:
            return _resolve_plain(value)
        except ValueError:  # more digits than int() accepts
            raise _Fatal(*_pos(ev.start_mark), "number is too large") from None
    line, col = _pos(ev.start_mark)
    try:
        if tag not in _SCALAR_TAGS:
            raise _Fatal(line, col, _TAG_MESSAGE)
        if tag == _CORE + "str":
            return ev.value
        value = _resolve_plain(ev.value)
    except ValueError:  # more digits than int() accepts
        raise _Fatal(line, col, "number is too large") from None
    name = tag[len(_CORE) :]
    if not _matches_tag(value, name):
        raise _Fatal(line, col, f"value does not match its !!{name} tag")
    return float(value) if name == "float" else value


_TAG_MESSAGE = (
    "YAML tags (e.g. !Ref, !!binary, !!python/...) are not allowed; "
    "write plain strings, numbers, booleans, lists and mappings"
)


_pure_yaml: Any = None


def _pure_events(text: str) -> Generator[Any, None, None]:
    """ruamel's pure-Python YAML 1.2 parser; one ``YAML()`` (it scans for plug-ins) reused."""
    global _pure_yaml
    if _pure_yaml is None:
        from ruamel.yaml import YAML

        _pure_yaml = YAML(typ="safe", pure=True)
    try:
        yield from _pure_yaml.parse(text)
    finally:
        getattr(_pure_yaml, "doc_infos", []).clear()  # parse() appends one per call (ruamel >= 0.18.7)


def _c_events(text: str) -> Generator[Any, None, None]:
    parser = _CParser(text)
    try:
        yield from iter(parser.get_event, None)  # None: after the stream's end
    finally:
        parser.dispose()


#: The events the walk handles inline, by exact type (anything else goes through ``_Builder.other``).
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


class _Builder:
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
                    value = _scalar(ev)
                    if not top.skip:
                        top.container[top.key] = value  # type: ignore[call-overload]
                    top.key = None
                else:
                    container = top.container
                    path = f"{top.path}.{len(container)}" if top.path else str(len(container))
                    if path not in locations:
                        locations[path] = _pos(ev.start_mark)
                    container.append(_scalar(ev))  # type: ignore[union-attr]
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
        m = _DIRECTIVE_RE.search(self.text[self.prev_end : ev.end_mark.index])
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
        key = _scalar(ev)
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
        value: Any = _scalar(ev) if isinstance(ev, ScalarEvent) else self.collection(ev, path)
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
        if ev.tag is not None and ev.tag != _CORE + ("map" if is_map else "seq"):
            raise _Fatal(*_pos(ev.start_mark), _TAG_MESSAGE)
        if len(self.frames) >= MAX_DEPTH:
            raise _Fatal(*_pos(ev.start_mark), f"nested more than {MAX_DEPTH} levels deep")
        container: dict[str, Any] | list[Any] = {} if is_map else []
        self.frames.append(_Frame(container, path, is_map))
        return container


def _walk(text: str, events: Callable[[str], Generator[Any, None, None]]) -> tuple[_Builder, Exception | None]:
    builder = _Builder(text)
    stream = events(text)
    try:
        builder.run(stream)
    except (_Fatal, YAMLError) as exc:
        return builder, exc
    finally:
        stream.close()  # now, not when the traceback goes: the pure parser is reused
    return builder, None


def _build(text: str) -> tuple[_Builder, Exception | None]:
    """Walk the events of ``text``: the builder, and the :class:`_Fatal` or ``YAMLError`` that stopped it.

    libyaml reads YAML 1.1: when it finds no syntax error, its events are those of YAML 1.2
    (its extra line breaks are routed away first); when it does, the pure YAML 1.2 parser
    decides, so a file valid only in 1.2 (``{url: https://x}``) still loads and every syntax
    error is worded and located exactly as before. Our own checks stop either way.
    """
    if _CParser is not None and not _YAML11_BREAK_RE.search(text):
        builder, error = _walk(text, _c_events)
        if not isinstance(error, YAMLError):
            return builder, error
    return _walk(text, _pure_events)


def _as_fatal(error: Exception | None) -> _Fatal | None:
    if error is None or isinstance(error, _Fatal):
        return error
    if isinstance(error, MarkedYAMLError):
        return _syntax_error(error)
    return _Fatal(None, None, "not valid YAML")  # e.g. a reader error without a mark; never echo its text


def parse_yaml(raw: bytes, file: str) -> Parsed:
    """Parse one connector file's bytes. Problems are returned, never raised."""
    builder: _Builder | None = None
    try:
        builder, error = _build(decode(raw))
    except _Fatal as exc:
        error = exc
    fatal = _as_fatal(error)
    problems = [] if builder is None else [Diagnostic(file, *p) for p in builder.problems]
    if fatal is not None or builder is None:
        assert fatal is not None
        problems.append(Diagnostic(file, fatal.line, fatal.col, fatal.field, fatal.message))
        return Parsed(None, problems=problems)
    if builder.documents == 0 or builder.root is None:
        problems.append(Diagnostic(file, 1, 1, None, "empty file: expected a mapping of connector fields"))
        return Parsed(None, builder.locations, problems)
    if not isinstance(builder.root, dict):
        kind = "a list" if isinstance(builder.root, list) else "a single value"
        message = f"the top level must be a mapping of connector fields (name: ..., url: ...), not {kind}"
        problems.append(Diagnostic(file, *builder.root_pos, None, message))
        return Parsed(None, builder.locations, problems)
    return Parsed(builder.root, builder.locations, problems)
