"""yamlsafe's two parsers: libyaml's C parser (the default) and ruamel's pure-Python fallback.

Both must give the same data, the same field locations and the same diagnostics; syntax
errors are always worded (and scrubbed) by the pure YAML 1.2 parser.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from connfiles import BAD_FILES, VALID, check_canary_secrets, errors, put

from conn_reconcile.files import yamlsafe as yamlsafe
from conn_reconcile.files import yamltext as yamltext


@pytest.fixture
def pure_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on an installation without ruamel.yaml.clib."""
    monkeypatch.setattr(yamlsafe, "_CParser", None)


@pytest.fixture
def c_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a valid file reaches the pure parser."""

    def refuse(text: str):
        raise AssertionError("the pure parser was used")

    monkeypatch.setattr(yamlsafe, "_pure_events", refuse)


def _parse_all(text: str) -> yamlsafe.Parsed:
    return yamlsafe.parse_yaml(text.encode(), "c.yaml")


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("text", list(VALID.values()), ids=list(VALID))
def test_both_parsers_read_valid_files_identically(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _parse_all(text)
    monkeypatch.setattr(yamlsafe, "_CParser", None)
    pure = _parse_all(text)
    assert fast.data is not None or fast.problems
    assert repr(fast.data) == repr(pure.data)  # repr: 1 vs 1.0 vs True differ
    assert fast.locations == pure.locations
    assert fast.problems == pure.problems


def test_the_c_parser_reads_plain_connector_files(c_only: None) -> None:
    assert yamlsafe._CParser is not None, "ruamel.yaml.clib is a dependency"
    parsed = _parse_all(VALID["block"])
    assert parsed.data == {
        "name": "a",
        "url": "https://e.com/a",
        "excludes": ["x", "y", "z"],
        "active": True,
    }
    assert parsed.locations["excludes.1"] == (5, 5)


def test_yaml12_only_syntax_loads_through_the_fallback() -> None:
    parsed = _parse_all(VALID["colon in flow plain"])
    assert parsed.data["oauth"]["token_url"] == "https://e.com/t"
    parsed = _parse_all(VALID["1.1 line breaks"])
    assert parsed.data["description"].startswith("one\u2028two\u2029three")  # libyaml would fold them


@pytest.mark.parametrize("content,expected", list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_bad_files_without_the_c_parser(cwd: Path, pure_only: None, content: str | bytes, expected: str) -> None:
    put("c.yaml", content)
    assert errors("c.yaml") == ["c.yaml:" + expected]


def test_canary_secrets_without_the_c_parser(cwd: Path, pure_only: None) -> None:
    check_canary_secrets()


def test_one_pure_yaml_instance_is_reused(pure_only: None) -> None:
    for _ in range(3):
        assert _parse_all(VALID["block"]).data["name"] == "a"
    assert yamlsafe._pure_yaml is not None and not yamlsafe._pure_yaml.doc_infos


def test_non_printable_is_exactly_the_complement_of_yamls_printable_set() -> None:
    """The forbidden characters are written as ranges (fast to compile): every code point is
    checked against the negation of YAML 1.2's printable set, c-printable, as the spec writes it."""
    import re

    not_printable = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    every = "".join(map(chr, range(0x110000)))
    forbidden = [m.start() for m in yamltext._NON_PRINTABLE_RE.finditer(every)]
    assert forbidden == [m.start() for m in not_printable.finditer(every)]
    assert len(forbidden) == 2111 and forbidden[:3] == [0, 1, 2] and forbidden[-1] == 0xFFFF
    assert 0x09 not in forbidden and 0x85 not in forbidden and 0xD800 in forbidden
