"""The loader: discovery, hardened YAML, schema errors located at file:line:col, no secret echo."""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
from pathlib import Path

import pytest

from conn_reconcile.errors import InputError
from conn_reconcile.files import discovery as discovery
from conn_reconcile.files.loader import discover, load

REPO = Path(__file__).resolve().parents[3]
GOOD = "name: {n}\nurl: https://example.com/{n}\n"
HEAD = GOOD.format(n="a")  # lines 1-2 of most single-file cases
TAGS = "YAML tags (e.g. !Ref, !!binary, !!python/...) are not allowed"


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Records every os.open; opening a path in ``forbid`` fails the test, in ``deny`` is EACCES."""
    rec: dict[str, set[str]] = {"all": set(), "forbid": set(), "deny": set()}
    real_open = os.open

    def fake(path, flags, *args, **kwargs):
        name = str(Path(path).resolve())
        rec["all"].add(name)
        if name in rec["forbid"]:
            raise AssertionError(f"opened {name}")
        if name in rec["deny"]:
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake)
    return rec


def put(rel: str, content: str | bytes) -> Path:
    path = Path(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def errors(*paths: str | Path, **kwargs: bool) -> list[str]:
    with pytest.raises(InputError) as info:
        load(list(paths), **kwargs)
    assert str(info.value) == "\n".join(d.format() for d in info.value.diagnostics)
    return [d.format() for d in info.value.diagnostics]


# --- happy paths ---------------------------------------------------------------------------


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


def test_discover_is_recursive_sorted_skips_hidden_and_takes_files_as_given(cwd: Path) -> None:
    for rel in ["c/b.yaml", "c/a.yml", "c/sub/z.yaml", "c/sub/deeper/m.YAML", "c/.hidden.yaml", "c/.git/x.yaml"]:
        put(rel, GOOD.format(n=Path(rel).stem.lower()))
    put("c/README.md", "not yaml")
    put("one.yaml", GOOD.format(n="one"))
    got = discover(["c", "./one.yaml"])
    assert [p.as_posix() for p in got] == ["c/a.yml", "c/b.yaml", "c/sub/deeper/m.YAML", "c/sub/z.yaml", "one.yaml"]
    assert [d.file for d in load(["c/", "one.yaml"])] == [p.as_posix() for p in got]


def test_core_types_are_kept_and_core_tags_allowed(cwd: Path) -> None:
    put("c.yaml", "---\n" + HEAD + "active: false\ndescription: !!str 12\nexcludes: [x, 'y']\n")
    (d,) = load(["c.yaml"])
    assert d.spec.active is False and d.spec.description == "12" and d.spec.excludes == ["x", "y"]


def test_empty_directory_is_fine_unless_files_are_required(cwd: Path) -> None:
    put("c/README.md", "hi")
    assert load(["c"]) == []
    assert errors("c", require_files=True) == ["c: no connector files found under c"]


# --- one bad file: exact file:line:col: field: message ---------------------------------------


AUTH = "service_auth:\n  type: bearer\n  token: ${T}\n"
OAUTH = "oauth:\n  authorize_url: https://e.com/a\n  token_url: https://e.com/t\n"
BOOL = "Input should be a valid boolean; use true or false (unquoted)"
QUOTE = "; quote the value if it is meant as text"
DIRECTIVES = "YAML directives (%YAML, %TAG) are not allowed; files are read as YAML 1.2"
EMPTY = "empty file: expected a mapping of connector fields"
TOP = "the top level must be a mapping of connector fields (name: ..., url: ...), not "
# name: (file content, "line:col: [field: ]message" of the one diagnostic for c.yaml)
BAD_FILES = {
    "syntax": (HEAD + "  bad: 1\n", "3:6: YAML syntax error: mapping values are not allowed here"),
    "duplicate key": (HEAD + "name: b\n", "3:1: name: duplicate key 'name': first defined at line 1"),
    "unknown field": (HEAD + "colour: red\n", "3:1: colour: unknown field"),
    "typo": (
        HEAD + "continue_on_failur: true\n",
        "3:1: continue_on_failur: unknown field (did you mean 'continue_on_failure'?)",
    ),
    "nested unknown": (HEAD + AUTH + "  scope: x\n", "6:3: service_auth.scope: unknown field"),
    "both auths": (HEAD + AUTH + OAUTH, "6:1: oauth: oauth and service_auth are mutually exclusive; keep only one"),
    "excludes str": (HEAD + 'excludes: "x"\n', "3:1: excludes: Input should be a valid list"),
    "excludes item": (HEAD + "excludes:\n  - a\n  - 5\n", "5:5: excludes.1: Input should be a valid string" + QUOTE),
    "active 1": (HEAD + "active: 1\n", "3:1: active: " + BOOL),
    "active quoted": (HEAD + 'active: "true"\n', "3:1: active: " + BOOL),
    "name int": ("name: 5\nurl: https://e.com/s\n", "1:1: name: Input should be a valid string" + QUOTE),
    "missing url": ("name: a\n", "1:1: url: required field is missing"),
    "missing nested": (HEAD + "service_auth:\n  token: ${T}\n", "3:1: service_auth.type: required field is missing"),
    "literal secret": (
        HEAD + "service_auth:\n  type: bearer\n  token: hunter2\n",
        "5:3: service_auth.token: literal secrets are not allowed; reference an environment variable, e.g. ${MY_TOKEN}",
    ),
    "anchor": ("name: &n a\nurl: https://e.com/s\n", "1:7: anchors and aliases are not allowed"),
    "alias": (HEAD + "description: *n\n", "3:14: anchors and aliases are not allowed"),
    "yaml 1.1": ("%YAML 1.1\n---\n" + HEAD, "1:1: " + DIRECTIVES),
    "tag directive": ("# x\n%TAG !e! tag:e.com,2000:\n---\n" + HEAD, "2:1: " + DIRECTIVES),
    "tab": (
        HEAD + "service_auth:\n\ttype: bearer\n",
        "4:1: tab character where YAML does not allow one; indent with spaces, not tabs",
    ),
    "bad utf-8": ((HEAD + "description: caf\xe9\n").encode("latin-1"), "3:17: not valid UTF-8; save the file as UTF-8"),
    "bom": (b"\xef\xbb\xbf" + HEAD.encode(), "1:1: starts with a byte-order mark; save as UTF-8 without BOM"),
    "control char": (
        HEAD + "description: a\x07b\n",
        "3:15: contains a control character (U+0007) that YAML does not allow",
    ),
    "two documents": (
        HEAD + "---\n" + GOOD.format(n="b"),
        "3:1: one connector per file: found a second YAML document (---)",
    ),
    "empty": ("", "1:1: " + EMPTY),
    "only comments": ("# nothing\n\n# here\n", "1:1: " + EMPTY),
    "bare document": ("---\n", "1:1: " + EMPTY),
    "top-level list": ("# c\n- name: a\n", "2:1: " + TOP + "a list"),
    "top-level scalar": ("just words\n", "1:1: " + TOP + "a single value"),
    "too deep": (HEAD + "description: " + "[" * 25 + "]" * 25 + "\n", "3:33: nested more than 20 levels deep"),
    "merge key": (HEAD + "<<: {url: https://e.com/x}\n", "3:1: merge keys (<<) are not allowed"),
    "number key": (HEAD + "1: x\n", "3:1: field names must be non-empty strings"),
    "complex key": (HEAD + "? [a]\n: x\n", "3:3: field names must be plain strings, not lists or mappings"),
    "huge number": (HEAD + "description: " + "9" * 5000 + "\n", "3:14: number is too large"),
    "tag mismatch": (HEAD + "active: !!bool 'maybe'\n", "3:9: value does not match its !!bool tag"),
}


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


# --- files and the file system ---------------------------------------------------------------


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


def test_non_yaml_file_named_explicitly_is_an_error(cwd: Path) -> None:
    put("notes.txt", HEAD)
    assert errors("notes.txt") == ["notes.txt: not a YAML file (expected a .yaml or .yml name)"]


def test_duplicate_names_across_files_name_both_files(cwd: Path) -> None:
    put("c/a.yaml", GOOD.format(n="same"))
    put("c/sub/b.yaml", "# first line\n" + GOOD.format(n="same"))
    put("c/x.yaml", GOOD.format(n="Case"))
    put("c/y.yaml", GOOD.format(n="case"))
    assert errors("c") == [
        "c/sub/b.yaml:2:1: name: duplicate connector name 'same': also defined in c/a.yaml",
        "c/y.yaml:1:1: name: duplicate connector name 'case' (differing only in case): also defined in c/x.yaml",
    ]


def test_file_names_differing_only_in_case_are_reported(cwd: Path) -> None:
    put("c/A.yaml", GOOD.format(n="upper"))
    put("c/a.yaml", GOOD.format(n="lower"))
    if len(os.listdir("c")) != 2:
        pytest.skip("case-insensitive file system")
    assert errors("c") == [
        "c/a.yaml: name differs only in case from c/A.yaml; they collide on case-insensitive file systems"
    ]


def test_file_over_one_mib_is_refused_without_opening_it(cwd: Path, opened: dict[str, set[str]]) -> None:
    big = put("c/big.yaml", HEAD + "#" * (discovery.MAX_FILE_BYTES + 1))
    opened["forbid"].add(str(big.resolve()))
    size = big.stat().st_size
    assert errors("c") == [
        f"c/big.yaml: file is larger than 1 MiB ({size} bytes); connector files are small, refusing to read it"
    ]


def test_file_of_exactly_one_mib_loads(cwd: Path) -> None:
    put("c.yaml", HEAD + "#" * (discovery.MAX_FILE_BYTES - len(HEAD) - 1) + "\n")
    assert Path("c.yaml").stat().st_size == discovery.MAX_FILE_BYTES
    assert [d.spec.name for d in load(["c.yaml"])] == ["a"]


def test_unreadable_file_is_an_error(cwd: Path, opened: dict[str, set[str]]) -> None:
    put("c/a.yaml", GOOD.format(n="a"))
    opened["deny"].add(str(Path("c/a.yaml").resolve()))
    assert errors("c") == ["c/a.yaml: permission denied: cannot read the file"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_by_mode_is_an_error(cwd: Path) -> None:
    put("c/a.yaml", GOOD.format(n="a")).chmod(0)
    assert errors("c") == ["c/a.yaml: permission denied: cannot read the file"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_and_never_opened(cwd: Path, opened: dict[str, set[str]]) -> None:
    Path("c").mkdir()
    os.mkfifo("c/pipe.yaml")
    opened["forbid"].add(str(Path("c/pipe.yaml").resolve()))
    assert errors("c") == ["c/pipe.yaml: is a FIFO, not a regular file; refusing to open it"]
    assert errors("c/pipe.yaml") == ["c/pipe.yaml: is a FIFO, not a regular file; refusing to open it"]


@pytest.mark.skipif(os.name != "posix" or not hasattr(socket, "AF_UNIX"), reason="no unix sockets here")
def test_socket_and_device_are_refused(opened: dict[str, set[str]]) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as short, socket.socket(socket.AF_UNIX) as sock:
        sock.bind(f"{short}/s.yaml")
        opened["forbid"].add(str(Path(short, "s.yaml").resolve()))
        assert errors(short) == [f"{short}/s.yaml: is a socket, not a regular file; refusing to open it"]
    if os.path.exists("/dev/null"):
        opened["forbid"].add("/dev/null")
        assert errors("/dev/null") == ["/dev/null: is a device, not a regular file; refusing to open it"]


def test_symlink_outside_the_scanned_directory_is_refused_and_never_opened(
    cwd: Path, opened: dict[str, set[str]]
) -> None:
    outside = put("outside/secret.yaml", GOOD.format(n="outside"))
    opened["forbid"].add(str(outside.resolve()))
    Path("c").mkdir()
    os.symlink("../outside/secret.yaml", "c/link.yaml")
    os.symlink("../outside", "c/dirlink")
    assert errors("c") == [
        "c/dirlink: symlink points outside the scanned directory c; refusing to follow it",
        "c/link.yaml: symlink points outside the scanned directory c; refusing to follow it",
    ]
    os.symlink(outside.resolve(), "top.yaml")
    os.chdir("c")
    assert errors("../top.yaml") == ["../top.yaml: symlink points outside the working directory; refusing to follow it"]


def test_symlinks_inside_the_scanned_directory_are_followed(cwd: Path) -> None:
    put("c/.store/x.yaml", GOOD.format(n="x"))
    os.symlink(".store", "c/live")
    put("c/real.yaml", GOOD.format(n="real"))
    os.symlink("real.yaml", "c/other.yaml")
    assert errors("c") == ["c/real.yaml: same file as c/other.yaml (a symlink or hard link); each file is loaded once"]
    os.remove("c/other.yaml")
    assert [(d.file, d.spec.name) for d in load(["c"])] == [("c/live/x.yaml", "x"), ("c/real.yaml", "real")]


def test_symlink_loops_are_reported(cwd: Path) -> None:
    put("c/sub/a.yaml", GOOD.format(n="a"))
    os.symlink("..", "c/sub/up")
    os.symlink("b.yaml", "c/a.yaml")
    os.symlink("a.yaml", "c/b.yaml")
    os.symlink("nowhere.yaml", "c/broken.yaml")
    assert errors("c") == [
        "c/a.yaml: symlink loop; refusing to follow it",
        "c/b.yaml: symlink loop; refusing to follow it",
        "c/broken.yaml: broken symlink: its target does not exist",
        "c/sub/up: symlink loop: it points to a directory that contains it",
    ]


def test_the_same_path_through_two_arguments_is_loaded_once(cwd: Path) -> None:
    put("c/a.yaml", GOOD.format(n="a"))
    assert [d.file for d in load(["c", "c/a.yaml"])] == ["c/a.yaml"]
    os.link("c/a.yaml", "hard.yaml")
    assert errors("c", "hard.yaml") == [
        "hard.yaml: same file as c/a.yaml (a symlink or hard link); each file is loaded once"
    ]


def test_a_file_replaced_after_discovery_is_not_read(cwd: Path) -> None:
    put("c/a.yaml", GOOD.format(n="a"))
    (found,), problems, _ = discovery.scan(["c"])
    os.replace(put("c/new.yaml", GOOD.format(n="b")), "c/a.yaml")
    assert not problems
    problem = discovery.read_bytes(found)
    assert not isinstance(problem, bytes) and problem.format() == "c/a.yaml: file was replaced while loading; run again"


# --- secrets never echoed --------------------------------------------------------------------


def test_canary_secrets_never_appear_in_any_diagnostic(cwd: Path) -> None:
    random_part = secrets.token_hex(8)
    canary = f"CANARY-loader-{random_part}"
    token = "service_auth:\n  type: bearer\n  token: {}\n"
    cases = {
        "literal.yaml": HEAD + token.format(canary),
        "syntax.yaml": HEAD + token.format(f"{canary}: [oops"),
        "quote.yaml": HEAD + token.format(f"'{canary}"),
        "flow.yaml": HEAD + token.format(f"{{{canary} {canary}"),
        "handle.yaml": HEAD + token.format(f"!{canary}! x"),
        "handle2.yaml": HEAD + token.format(f"!h{random_part}!x y"),
        "tag.yaml": HEAD + token.format(f"!{canary} x"),
        "anchor.yaml": HEAD + token.format(f"&{canary} x"),
        "alias.yaml": HEAD + token.format(f"*{canary}"),
        "tab.yaml": HEAD + f"service_auth:\n\ttoken: {canary}\n",
        "type.yaml": HEAD + f"active: {canary}\nexcludes: {canary}\n",
        "escape.yaml": HEAD + f'description: "\\q{canary}"\n',
        "ref.yaml": HEAD + f"description: ${{{canary}}}\n",
        "dup.yaml": HEAD + token.format("${T}") + f"  token: {canary}\n",
    }
    for name, text in cases.items():
        put(f"c/{name}", text)
    put("c/utf8.yaml", HEAD.encode() + f"description: {canary}".encode() + b"\xff\n")
    put("c/ctrl.yaml", HEAD + f"description: {canary}\x00\n")
    with pytest.raises(InputError) as info:
        load(["c"])
    diags = info.value.diagnostics
    assert {d.file for d in diags} == {f"c/{n}" for n in [*cases, "utf8.yaml", "ctrl.yaml"]}
    assert all(d.line is not None for d in diags)
    assert canary not in str(info.value)
    assert random_part not in repr(diags)  # not even the random part
