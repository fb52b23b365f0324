"""Printing data safely (pure): remote names, descriptions, ids and messages, and local file names
and values, are data, never terminal controls, workflow commands or markup. :func:`escape` for a
value, :func:`neutralise` and :func:`guard_lines` for a whole output, ``md_text``/``md_code`` for
markdown, ``gh_data``/``gh_property`` for annotations (the runner's %-encoding)."""

from __future__ import annotations

import re

#: Unicode category Cf (format characters), as ranges: bidi embeddings, overrides, isolates and
#: marks, zero-width characters, invisible operators, the BOM, interlinear annotations, tags...
_FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
#: DEL, C1, line and paragraph separators, lone surrogates, format characters (and C0, below).
_NOT_C0 = f"\x7f-\x9f\u2028\u2029\ud800-\udfff{_FORMAT}"
_UNSAFE_RE = re.compile(f"[\x00-\x1f{_NOT_C0}]")
# neutralise(): our SGR colour sequences are kept whole, newlines kept, the rest escaped
_CONSOLE_RE = re.compile(f"\x1b\\[[0-9;]*m|[\x00-\x09\x0b-\x1f{_NOT_C0}]")
_WORKFLOW_RE = re.compile(r"^(\s*):(?=:)|##\[")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(ch: str) -> str:
    named = _NAMED.get(ch)
    if named:
        return named
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _defuse(match: re.Match[str]) -> str:
    if match.group(0) == "##[":
        return "#\\x23["
    return f"{match.group(1)}\\x3a"


def escape(text: str) -> str:
    """``text`` with every unsafe character made visible and workflow commands defused.

    Unsafe: what a terminal, a bidi-aware viewer or the GitHub Actions runner could act on: C0 and
    C1 controls, DEL, line/paragraph separators, lone surrogates and the invisible format characters
    (category Cf: bidi overrides, isolates and marks, zero-width and tag characters...), shown as
    ``\\x1b``, ``\\u202e``, ``\\n``... Defused: a leading ``::`` (after whitespace; the runner's
    ``ActionCommand.TryParseV2`` reads a line after ``TrimStart()``) and ``##[`` anywhere (its legacy
    ``TryParse``). Idempotent, and backslashes are left alone: text escaped twice reads as once.
    """
    # printable ASCII (space to ~) holds none of _UNSAFE_RE's characters: two scans in C, no regex
    if not (text.isascii() and text.isprintable()) and _UNSAFE_RE.search(text) is not None:
        text = _UNSAFE_RE.sub(lambda m: _visible(m.group(0)), text)
    if "::" in text or "##[" in text:  # what _WORKFLOW_RE can match; most text holds neither
        text = _WORKFLOW_RE.sub(_defuse, text)
    return text


def neutralise(text: str) -> str:
    """The console's last line of defence, :func:`escape` for a whole output: the same characters,
    but newlines and SGR colour sequences (``ESC [ digits ; m``) are kept, and ``##[`` becomes
    ``#\\u0023[`` (still the same string inside JSON, which may be printed)."""
    # Every match starts with one character of the class; in ASCII text, one of _ASCII_CONSOLE.
    # Looking for those few (memchr) is much cheaper than the regular expression over a long output.
    if not text.isascii() or any(ch in text for ch in _ASCII_CONSOLE):
        text = _CONSOLE_RE.sub(lambda m: m.group(0) if len(m.group(0)) > 1 else _visible(m.group(0)), text)
    return text.replace("##[", "#\\u0023[") if "#" in text else text  # "#": one memchr, then the search


#: the ASCII characters _CONSOLE_RE can match first: C0 controls but the newline (ESC included), and DEL
_ASCII_CONSOLE = tuple(chr(c) for c in (*range(0x0A), *range(0x0B, 0x20), 0x7F))


def guard_lines(text: str) -> str:
    """No line of ``text`` starts (after whitespace) with ``::``, none holds ``##[``."""
    if "::" not in text and ("#" not in text or "##[" not in text):  # "#": one memchr before the search
        return text
    return "\n".join(_WORKFLOW_RE.sub(_defuse, line) for line in text.split("\n"))


# -- markdown --------------------------------------------------------------------------------
_MD_PUNCT_RE = re.compile(r"([\\`*_\[\]~|])")
_MD_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def md_text(text: str) -> str:
    """Data as markdown text (a table cell, a quote): escaped, no markup, HTML, pipes or
    mentions. ``@`` and ``#`` get a zero-width space *entity* after them (GitHub links
    ``@user``/``@org/team`` and ``#123`` even after a backslash or an ``&#64;``)."""
    text = _MD_PUNCT_RE.sub(r"\\\1", escape(text))
    text = re.sub(r"[&<>]", lambda m: _MD_ENTITY[m.group(0)], text)
    return re.sub(r"([@#])", r"\1&#8203;", text)


def md_code(text: str) -> str:
    """Data as an inline code span inside a table: a fence longer than any backtick run in it,
    pipes escaped (GFM splits table cells before inline parsing)."""
    text = escape(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_fence(body: str) -> str:
    """A backtick fence that no line of ``body`` can close (longer than any run in it)."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


# -- GitHub workflow-command annotations -----------------------------------------------------
def gh_data(text: str) -> str:
    """An annotation message: escaped, then the runner's data %-encoding."""
    return escape(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def gh_property(text: str) -> str:
    """An annotation property value (file, title): also ``:`` and ``,`` %-encoded."""
    return gh_data(text).replace(":", "%3A").replace(",", "%2C")
