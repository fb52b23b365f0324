"""The loader: connector files loaded into validated connectors, every problem of every file located
at file:line:col (hardened YAML, strict models, cross-file checks), and no secret ever echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
from connfiles import BAD_FILES, GOOD, HEAD, check_canary_secrets, errors, put

from conn_reconcile.errors import InputError
from conn_reconcile.files.loader import discover, load

REPO = Path(__file__).resolve().parents[3]
TAGS = "YAML tags (e.g. !Ref, !!binary, !!python/...) are not allowed"


def test_repo_connectors_load_with_field_locations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    desired = load(["connectors"])
    by_file = {d.file: d for d in desired}
    assert list(by_file) == [
        "connectors/internal-docs.yaml",
        "connectors/support-tickets.yaml",
        "connectors/team-drive.yaml",
    ]
    docs = by_file["connectors/internal-docs.yaml"]
    assert docs.spec.excludes == ["raw_html", "author_email"] and docs.spec.continue_on_failure is True
    assert docs.where("name") == (2, 1) and docs.where("excludes.1") == (7, 5)
    assert docs.where("service_auth.token") == (11, 3) and docs.where("") == (1, 1)
    assert docs.where("service_auth.missing") == (9, 1)  # falls back to the parent
    drive = by_file["connectors/team-drive.yaml"]
    assert drive.where("name") == (3, 1) and drive.where("oauth.scope") == (11, 3)
    assert drive.spec.oauth is not None and drive.spec.oauth.client_secret == "${TEAM_DRIVE_CLIENT_SECRET}"
    assert by_file["connectors/support-tickets.yaml"].spec.active is True


def test_core_types_are_kept_and_core_tags_allowed(cwd: Path) -> None:
    put("c.yaml", "---\n" + HEAD + "active: false\ndescription: !!str 12\nexcludes: [x, 'y']\n")
    (d,) = load(["c.yaml"])
    assert d.spec.active is False and d.spec.description == "12" and d.spec.excludes == ["x", "y"]


def test_empty_directory_is_fine_unless_files_are_required(cwd: Path) -> None:
    put("c/README.md", "hi")
    assert load(["c"]) == []
    assert errors("c", require_files=True) == ["c: no connector files found under c"]


# --- one bad file: exact file:line:col: field: message ---------------------------------------


@pytest.mark.parametrize("content,expected", list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_bad_file_gives_one_located_diagnostic(cwd: Path, content: str | bytes, expected: str) -> None:
    put("c.yaml", content)
    assert errors("c.yaml") == ["c.yaml:" + expected]


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "n", "Yes", "OFF"])
def test_yaml11_booleans_are_rejected_with_a_hint(cwd: Path, word: str) -> None:
    put("c.yaml", HEAD + f"active: {word}\n")
    assert errors("c.yaml") == [
        f"c.yaml:3:1: active: Input should be a valid boolean; YAML 1.2 reads {word!r} as a string: use true or false"
    ]


@pytest.mark.parametrize(
    "value",
    [
        "!Ref other",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
        "!!omap [a: 1]",
        "!!python/object:os.system {}",
        "!!python/object/apply:os.system ['true']",
        "!!timestamp 2020-01-01",
        "! plain",
        "!<tag:example.com,2000:x> y",
    ],
)
def test_non_core_tags_are_rejected(cwd: Path, value: str) -> None:
    put("c.yaml", HEAD + f"description: {value}\n")
    (msg,) = errors("c.yaml")
    assert msg.startswith(f"c.yaml:3:14: {TAGS}")


def test_billion_laughs_is_refused_at_the_first_anchor(cwd: Path) -> None:
    lol = ['a: &a ["lol","lol"]'] + [
        f"{c}: &{c} [*{p},*{p},*{p},*{p}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    put("c.yaml", HEAD + "\n".join(lol) + "\n")
    assert errors("c.yaml") == ["c.yaml:3:4: anchors and aliases are not allowed"]


def test_nesting_at_the_limit_is_not_a_depth_error(cwd: Path) -> None:
    put("c.yaml", HEAD + "description: " + "[" * 19 + "]" * 19 + "\n")
    assert errors("c.yaml") == ["c.yaml:3:1: description: Input should be a valid string"]


# --- several files -----------------------------------------------------------------------------


def test_all_problems_of_all_files_are_collected(cwd: Path) -> None:
    put("c/a.yaml", HEAD + "  bad: 1\n")
    put("c/b.yaml", GOOD.format(n="b") + "colour: red\n")
    put("c/ok.yaml", GOOD.format(n="ok"))
    assert errors("c", "missing.yaml", "c/notes.txt") == [
        "c/a.yaml:3:6: YAML syntax error: mapping values are not allowed here",
        "c/b.yaml:3:1: colour: unknown field",
        "c/notes.txt: no such file or directory",
        "missing.yaml: no such file or directory",
    ]
    with pytest.raises(InputError, match="no such file or directory"):
        discover(["missing.yaml"])


def test_duplicate_names_across_files_name_both_files(cwd: Path) -> None:
    put("c/a.yaml", GOOD.format(n="same"))
    put("c/sub/b.yaml", "# first line\n" + GOOD.format(n="same"))
    put("c/x.yaml", GOOD.format(n="Case"))
    put("c/y.yaml", GOOD.format(n="case"))
    assert errors("c") == [
        "c/sub/b.yaml:2:1: name: duplicate connector name 'same': also defined in c/a.yaml",
        "c/y.yaml:1:1: name: duplicate connector name 'case' (differing only in case): also defined in c/x.yaml",
    ]


def test_canary_secrets_never_appear_in_any_diagnostic(cwd: Path) -> None:
    check_canary_secrets()
