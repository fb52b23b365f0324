"""Connector files written into the working directory and loaded, for the tests of the files
package: templates, :func:`put`, :func:`errors`, the valid YAML styles, the table of bad files
with the one diagnostic each gives, and the check that no canary secret appears in any diagnostic."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from conn_reconcile.errors import InputError
from conn_reconcile.files.loader import load

GOOD = "name: {n}\nurl: https://example.com/{n}\n"
HEAD = GOOD.format(n="a")  # lines 1-2 of most single-file cases


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


# Valid YAML 1.2 in the styles a connector file may use; each must read the same through both parsers.
VALID = {
    "block": "name: a\nurl: https://e.com/a\nexcludes:\n  - x\n  - 'y'\n  - \"z\"\nactive: true\n",
    "flow": "name: a\nurl: https://e.com/a\nservice_auth: {type: bearer, token: '${T}'}\nexcludes: [a, b]\n",
    "comments and markers": "# head\n---\nname: a # trailing\nurl: https://e.com/a\n...\n",
    "block scalars": "description: |\n  two\n  lines\nnote: >-\n  folded\n  text\nname: a\n",
    "escapes": 'description: "tab\\there \\u00e9 \\x41 \\/ \\\\ \\""\nname: a\n',
    "unicode": "name: a\ndescription: caf\u00e9 \u65e5\u672c \U0001f600\n",
    "core tags": (
        "a: !!str 5\nb: !!int 0x1F\nc: !!float 1\nd: !!bool true\ne: !!null ''\nf: !!map {x: 1}\ng: !!seq [1]\n"
    ),
    "numbers": "a: 0o17\nb: -12\nc: +1.5e3\nd: .inf\ne: -.Inf\nf: 1_000\ng: 0b1\nh: 012\ni: 1.\n",
    "nulls and bools": "a: ~\nb:\nc: Null\nd: FALSE\ne: yes\nf: 'true'\n",
    "nested": "a:\n  b:\n    - c: 1\n      d: [1, {e: f}]\n  g: {}\nh: []\n",
    "multi-line plain": "description: one\n  two\n\n  three\nname: a\n",
    "explicit key": "? name\n: a\nurl: https://e.com/a\n",
    "duplicates (non-fatal)": "name: a\nname: b\nservice_auth:\n  type: x\n  type: y\n",
    # valid YAML 1.2 that libyaml (YAML 1.1) rejects or reads differently
    "colon in flow plain": "name: a\noauth: {authorize_url: https://e.com/a, token_url: https://e.com/t}\n",
    "1.1 line breaks": "name: a\ndescription: one\u2028two\u2029three\x85four\n",
}

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


def check_canary_secrets() -> None:
    """Files whose every kind of problem holds a canary secret: no diagnostic holds it, nor even
    its random part (run in an empty working directory)."""
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
