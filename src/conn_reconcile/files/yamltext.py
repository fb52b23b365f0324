"""The text of a YAML file around the parser: decoding it strictly, and wording the parser's syntax
errors from its problem text (scrubbed of quoted fragments longer than a token) and mark only,
since ruamel's ``str()`` of an error quotes the offending source line, which may hold a secret."""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.error import MarkedYAMLError

BOM = b"\xef\xbb\xbf"

# Characters YAML forbids in a stream: everything outside its printable set
# ``[\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]``, written as the
# complement's ranges (tests/unit/files/test_yamlsafe.py checks every code point): the negated class,
# reaching U+10FFFF, is much slower for ``re`` to compile, on every start of the tool.
_NON_PRINTABLE_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
# Quoted fragments of ruamel's problem text: keep token names ('<block end>') and single
# characters ('\t', ':'), drop anything longer, which could be a piece of the input.
_QUOTED_RE = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_TOKEN_NAME_RE = re.compile(r"<[a-z ]+>")
_TUPLE_RE = re.compile(r"\(('[^']*'),\)")


class Fatal(Exception):
    """A problem that stops the parsing of one file."""

    def __init__(self, line: int | None, col: int | None, message: str, field: str | None = None):
        super().__init__(message)
        self.line, self.col, self.message, self.field = line, col, message, field


def pos(mark: Any) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


def line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _sanitize(problem: str) -> str:
    def keep(m: re.Match[str]) -> str:
        inner = m.group(1) if m.group(1) is not None else m.group(2)
        return m.group(0) if len(inner) <= 2 or _TOKEN_NAME_RE.fullmatch(inner) else "'...'"

    problem = _TUPLE_RE.sub(r"\1", " ".join(problem.split()))
    return _QUOTED_RE.sub(keep, problem)


def syntax_error(exc: MarkedYAMLError) -> Fatal:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    line, col = pos(mark) if mark is not None else (None, None)
    if "'\\t'" in problem:
        return Fatal(line, col, "tab character where YAML does not allow one; indent with spaces, not tabs")
    message = f"YAML syntax error: {_sanitize(problem)}"
    if exc.context and exc.problem and exc.context_mark is not None and exc.context_mark.line + 1 != line:
        message += f" ({_sanitize(exc.context)} started at line {exc.context_mark.line + 1})"
    return Fatal(line, col, message)


def decode(raw: bytes) -> str:
    """UTF-8 without BOM and without characters YAML forbids, or :class:`Fatal`."""
    if raw.startswith(BOM):
        raise Fatal(1, 1, "starts with a byte-order mark; save as UTF-8 without BOM")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        col = len(raw[line_start : exc.start].decode("utf-8")) + 1
        raise Fatal(raw.count(b"\n", 0, exc.start) + 1, col, "not valid UTF-8; save the file as UTF-8") from None
    bad = _NON_PRINTABLE_RE.search(text)
    if bad:
        line, col = line_col(text, bad.start())
        raise Fatal(line, col, f"contains a control character (U+{ord(bad.group()):04X}) that YAML does not allow")
    return text
