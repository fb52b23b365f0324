"""Hardened YAML parsing: a connector file's bytes -> plain data, the line/col of every field,
and every problem located (never quoting the source, which may hold a secret). The events come
from libyaml's C parser, or ruamel's pure-Python YAML 1.2 parser where libyaml would differ; an
ordinary file is read by the quick walk and its locations found only when a message needs one."""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any

from ruamel.yaml.error import MarkedYAMLError, YAMLError

from conn_reconcile.errors import Diagnostic
from conn_reconcile.files.yamlfold import Unusual, fold
from conn_reconcile.files.yamltext import Fatal as _Fatal
from conn_reconcile.files.yamltext import decode
from conn_reconcile.files.yamltext import syntax_error as _syntax_error
from conn_reconcile.files.yamlwalk import DIRECTIVE_RE, Builder

try:  # ruamel.yaml.clib: libyaml's C parser
    from _ruamel_yaml import CParser as _CParser
except ImportError:  # pragma: no cover - depends on the installation; tests force the fallback
    _CParser = None

# Line breaks in YAML 1.1 (libyaml) but ordinary characters in YAML 1.2.
_YAML11_BREAK_RE = re.compile("[\x85\u2028\u2029]")


def _yaml11_breaks(text: str) -> bool:
    """Whether ``text`` holds a line break only YAML 1.1 has (none in ASCII text, which a str
    knows itself to be without a scan)."""
    return not text.isascii() and _YAML11_BREAK_RE.search(text) is not None


class Parsed:
    """The result of parsing one file. ``data`` is None when parsing had to stop."""

    __slots__ = ("data", "locations", "problems")

    def __init__(
        self,
        data: Any,
        locations: Mapping[str, tuple[int, int]] | None = None,
        problems: list[Diagnostic] | None = None,
    ):
        self.data = data
        self.locations: Mapping[str, tuple[int, int]] = {} if locations is None else locations
        self.problems: list[Diagnostic] = [] if problems is None else problems

    def __repr__(self) -> str:
        return f"Parsed(data={self.data!r}, locations={self.locations!r}, problems={self.problems!r})"


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


def _c_events(text: str) -> tuple[Iterator[Any], Callable[[], None]]:
    """libyaml's events (None after the stream's end), read straight from the parser, and its close."""
    parser = _CParser(text)
    return iter(parser.get_event, None), parser.dispose


def _pure_stream(text: str) -> tuple[Iterator[Any], Callable[[], None]]:
    stream = _pure_events(text)
    return stream, stream.close  # closed now, not when the traceback goes: the pure parser is reused


def _walk(
    text: str, events: Callable[[str], tuple[Iterator[Any], Callable[[], None]]]
) -> tuple[Builder, Exception | None]:
    builder = Builder(text)
    stream, close = events(text)
    try:
        builder.run(stream)
    except (_Fatal, YAMLError) as exc:
        return builder, exc
    finally:
        close()
    return builder, None


class Located(Mapping[str, tuple[int, int]]):
    """The locations of a file the quick walk read: the located walk's, found on first use, with
    the parser that read the file (kept: the module's parser may be another by then)."""

    __slots__ = ("_found", "_parser", "_text")

    def __init__(self, text: str, parser: Any):
        self._text, self._parser = text, parser
        self._found: dict[str, tuple[int, int]] | None = None

    def _locations(self) -> dict[str, tuple[int, int]]:
        if self._found is None:  # the same libyaml events the quick walk read without a problem
            self._found = _walk(self._text, self._events)[0].locations
        return self._found

    def _events(self, text: str) -> tuple[Iterator[Any], Callable[[], None]]:
        parser = self._parser(text)
        return iter(parser.get_event, None), parser.dispose

    def __getitem__(self, path: str) -> tuple[int, int]:
        return self._locations()[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._locations())

    def __len__(self) -> int:
        return len(self._locations())


def _quick(text: str) -> dict[str, Any] | None:
    """The data of an ordinary file by the quick walk; None when the located walk must read it."""
    if _CParser is None or _yaml11_breaks(text) or ("%" in text and DIRECTIVE_RE.search(text)):
        return None
    parser = _CParser(text)
    try:
        return fold(parser.get_event)
    except (Unusual, ValueError, YAMLError):  # ValueError: a number too large
        return None
    finally:
        parser.dispose()


def _build(text: str) -> tuple[Builder, Exception | None]:
    """Walk the events of ``text``: the builder, and the :class:`_Fatal` or ``YAMLError`` that stopped it.

    libyaml reads YAML 1.1: when it finds no syntax error, its events are those of YAML 1.2
    (its extra line breaks, U+0085, U+2028 and U+2029, are routed away first); when it does, the
    pure YAML 1.2 parser decides, so a file valid only in 1.2 (``{url: https://x}``) still loads and
    every syntax error is worded and located by that parser. The walk's own checks stop either way.
    Without the C extension every file goes to the pure parser.
    """
    if _CParser is not None and not _yaml11_breaks(text):
        builder, error = _walk(text, _c_events)
        if not isinstance(error, YAMLError):
            return builder, error
    return _walk(text, _pure_stream)


def _as_fatal(error: Exception | None) -> _Fatal | None:
    if error is None or isinstance(error, _Fatal):
        return error
    if isinstance(error, MarkedYAMLError):
        return _syntax_error(error)
    return _Fatal(None, None, "not valid YAML")  # e.g. a reader error without a mark; never echo its text


def parse_yaml(raw: bytes, file: str) -> Parsed:
    """Parse one connector file's bytes. Problems are returned, never raised; their text is the
    parser's problem and mark, never ruamel's ``str()``, which quotes the source line. Not
    thread-safe (one pure parser is reused)."""
    builder: Builder | None = None
    try:
        text = decode(raw)
        data = _quick(text)
        if data is not None:
            return Parsed(data, Located(text, _CParser))
        builder, error = _build(text)
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
