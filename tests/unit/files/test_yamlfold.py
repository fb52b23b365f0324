"""The quick walk: an ordinary file gives the located walk's data, its locations are found only
when asked for, and everything the located walk would stop at or report goes to that walk."""

from __future__ import annotations

import pytest
from connfiles import BAD_FILES, HEAD, VALID

from conn_reconcile.files import yamlsafe as yamlsafe
from conn_reconcile.files.loader import load_bytes
from conn_reconcile.files.yamlfold import Unusual, fold
from conn_reconcile.model.binding import bind
from conn_reconcile.model.secrets import Redactor

TEXTS = {**VALID, **{f"bad {k}": v[0] for k, v in BAD_FILES.items()}}


def _located_only(text: str | bytes) -> yamlsafe.Parsed:
    raw = text if isinstance(text, bytes) else text.encode()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(yamlsafe, "_quick", lambda text: None)
        return yamlsafe.parse_yaml(raw, "c.yaml")


@pytest.mark.parametrize("text", list(TEXTS.values()), ids=list(TEXTS))
def test_the_quick_walk_gives_what_the_located_walk_gives(text: str | bytes) -> None:
    raw = text if isinstance(text, bytes) else text.encode()
    quick, located = yamlsafe.parse_yaml(raw, "c.yaml"), _located_only(text)
    assert repr(quick.data) == repr(located.data)  # repr: 1 vs 1.0 vs True differ
    assert dict(quick.locations) == dict(located.locations)
    assert quick.problems == located.problems


ORDINARY = ["block", "flow", "comments and markers", "block scalars", "escapes", "unicode", "numbers", "nested"]


@pytest.mark.parametrize("name", ORDINARY)
def test_an_ordinary_file_takes_the_quick_walk_and_is_located_on_first_use(name: str) -> None:
    parsed = yamlsafe.parse_yaml(VALID[name].encode(), "c.yaml")
    assert isinstance(parsed.locations, yamlsafe.Located)
    assert parsed.locations._found is None  # nothing located yet
    assert parsed.locations == _located_only(VALID[name]).locations
    assert parsed.locations._found is not None


UNUSUAL = {
    "anchor": "a: &x 1\n",
    "alias": "a: &x 1\nb: *x\n",
    "scalar tag": "a: !!str 5\n",
    "collection tag": "a: !!map {b: 1}\n",
    "duplicate key": "a: 1\na: 2\n",
    "merge key": "<<: {a: 1}\n",
    "number key": "1: a\n",
    "empty key": "'': a\n",
    "null key": "~: a\n",
    "collection key": "? [a]\n: b\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "top-level list": "- a\n",
    "empty": "",
    "too deep": "a: " + "[" * 25 + "]" * 25 + "\n",
}


@pytest.mark.parametrize("text", list(UNUSUAL.values()), ids=list(UNUSUAL))
def test_what_the_located_walk_would_word_stops_the_quick_walk(text: str) -> None:
    parser = yamlsafe._CParser(text)
    try:
        with pytest.raises(Unusual):
            fold(parser.get_event)
    finally:
        parser.dispose()
    assert not isinstance(yamlsafe.parse_yaml(text.encode(), "c.yaml").locations, yamlsafe.Located)


def test_a_quoted_merge_key_is_an_ordinary_key() -> None:
    parsed = yamlsafe.parse_yaml(b"'<<': a\n", "c.yaml")
    assert parsed.data == {"<<": "a"} and isinstance(parsed.locations, yamlsafe.Located)


def test_a_secret_reference_read_by_the_quick_walk_still_names_its_line() -> None:
    text = HEAD + "description: d\nservice_auth:\n  type: bearer\n  token: ${T}\n"
    desired, problems = load_bytes(text.encode(), "c.yaml")
    assert desired is not None and not problems
    assert isinstance(desired.locations, yamlsafe.Located) and desired.locations._found is None
    (ref,) = bind([desired], {"T": "tok"}, key_vars=(), redactor=Redactor()).refs
    assert ref.line == 6 and ref.at == "c.yaml:6"
