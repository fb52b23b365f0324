"""conn_reconcile.escape: data is printed visibly, never as terminal controls, workflow commands or
markup, in every form (a value, a whole output, markdown, annotations)."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from conn_reconcile.escape import escape, gh_data, gh_property, guard_lines, md_code, md_fence, md_text, neutralise

HOSTILE = "a\x1b[31mb\x07c\x7fd\x9be\u202ef\u2066g\u200bh\ufeffi\u061cj\u200ek\n::warning file=x::pwned\r\u2028"
UNSAFE_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


def raw_unsafe(text: str) -> list[str]:
    return [hex(ord(c)) for c in text if unicodedata.category(c) in UNSAFE_CATEGORIES]


@pytest.mark.slow
def test_every_control_format_and_separator_character_is_made_visible():
    bad = [
        hex(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in UNSAFE_CATEGORIES and raw_unsafe(escape(chr(c)))
    ]
    assert bad == []


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b", "\\x1b"),
        ("\x07", "\\x07"),
        ("\x7f", "\\x7f"),
        ("\x85", "\\x85"),
        ("\n", "\\n"),
        ("\r", "\\r"),
        ("\t", "\\t"),
        ("\u202e", "\\u202e"),
        ("\u2069", "\\u2069"),
        ("\u200f", "\\u200f"),
        ("\u061c", "\\u061c"),
        ("\u200d", "\\u200d"),
        ("\u2060", "\\u2060"),
        ("\ufeff", "\\ufeff"),
        ("\U000e0041", "\\U000e0041"),
        ("\ud800", "\\ud800"),
        ("\u2028", "\\u2028"),
    ],
)
def test_characters_are_shown_as_escapes(raw, shown):
    assert escape(f"x{raw}y") == f"x{shown}y"


def test_ordinary_text_is_untouched_and_escaping_is_idempotent():
    for text in ("internal-docs", "Café 文档 ✓", "C:\\path\\x1b", "a::b", "#1 [x]"):
        assert escape(text) == text
    once = escape(HOSTILE)
    assert escape(once) == once and raw_unsafe(once) == []


@pytest.mark.parametrize("text", ["::error::x", "  ::warning file=a::b", "\u3000::notice::x", "\u00a0::x"])
def test_a_leading_workflow_command_is_defused(text):
    out = escape(text)
    assert not out.lstrip().startswith("::") and "\\x3a:" in out


def test_legacy_workflow_commands_anywhere_are_defused():
    assert escape("name ##[error]x") == "name #\\x23[error]x"
    assert guard_lines("ok ##[add-mask]x") == "ok #\\x23[add-mask]x"


def test_guard_lines_checks_every_line():
    text = "fine\n  ::error::x\n::stop-commands::t\nend::"
    assert [line.lstrip()[:2] for line in guard_lines(text).split("\n")] == ["fi", "\\x", "\\x", "en"]


def test_neutralise_keeps_newlines_and_sgr_colours_but_nothing_else():
    text = "\x1b[1;31mred\x1b[0m\nnext \x1b]0;title\x07 \x1b[2J \u202e"
    assert neutralise(text) == "\x1b[1;31mred\x1b[0m\nnext \\x1b]0;title\\x07 \\x1b[2J \\u202e"
    assert neutralise(neutralise(text)) == neutralise(text)
    assert neutralise('{"name": "##[error]x"}') == '{"name": "#\\u0023[error]x"}'  # still the same JSON


def test_neutralise_finds_every_ascii_control_in_a_long_ascii_output():
    # plain ASCII text takes a quicker look for what to escape: every C0 control but the newline,
    # and DEL, must still be found anywhere in it
    body = "line of plain text\n" * 500
    for code in [*range(0x0A), *range(0x0B, 0x20), 0x7F]:
        ch = chr(code)
        named = {"\r": "\\r", "\t": "\\t"}.get(ch, f"\\x{code:02x}")
        assert neutralise(body + ch + body) == body + named + body
    assert neutralise(body + "\x1b[1mbold\x1b[0m") == body + "\x1b[1mbold\x1b[0m"
    assert neutralise(body) == body


def test_markdown_text_has_no_markup_html_pipes_or_mentions():
    out = md_text("@org/team <img src=x> a|b [l](http://e) `c` *d* #12 &amp; \\")
    assert "@org" not in out and "@&#8203;org/team" in out and "#&#8203;12" in out
    assert "<" not in out and ">" not in out and "&amp;amp;" in out
    assert "\\|" in out and "\\[l\\]" in out and "\\`c\\`" in out and "\\*d\\*" in out


def test_markdown_code_spans_cannot_be_closed_by_data():
    assert md_code("url") == "`url`"
    assert md_code("a``b|c") == "```a``b\\|c```"
    assert md_code("`x") == "`` `x ``"
    assert md_fence("a\n```\nb ````` c") == "``````" and md_fence("plain") == "```"


def test_github_encoding_of_data_and_properties():
    assert gh_data("50% \n::error::x") == "50%25 \\n::error::x"
    assert gh_property("a:b,c%d") == "a%3Ab%2Cc%25d"
    assert "\n" not in gh_data(HOSTILE) and raw_unsafe(gh_data(HOSTILE)) == []


def test_the_printable_ascii_shortcut_agrees_with_the_expression_for_every_ascii_character():
    """escape() skips its regular expression for printable ASCII: that must change nothing."""
    from conn_reconcile.escape import _UNSAFE_RE, _visible

    for code in range(128):
        text = f"a{chr(code)}b"
        assert escape(text) == _UNSAFE_RE.sub(lambda m: _visible(m.group(0)), text), hex(code)
