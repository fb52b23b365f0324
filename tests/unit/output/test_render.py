"""Rendering plans and diagnostics as text, JSON, markdown and GitHub annotations: every format
through the redactor, data always escaped, never printed raw, and the documented JSON shape."""

import json
import re

from helpers import desired, remote

from conn_reconcile.errors import Diagnostic, InputError
from conn_reconcile.model.secrets import Redactor
from conn_reconcile.output.render import (
    render_github,
    render_github_diagnostics,
    render_json,
    render_markdown,
    render_text,
)
from conn_reconcile.plan.model import PlanOptions
from conn_reconcile.plan.planner import build_plan

CANARY = "CANARY-render-9d1c7e"


def sample_plan():
    return build_plan(
        [
            desired(name="new", service_auth={"type": "bearer", "token": "${TOK}"}),
            desired(name="moved", url="https://b"),
            desired(name="described", description="new"),
        ],
        [
            remote("moved-1", "moved", url="https://a"),
            remote("described-1", "described", description="old"),
            remote("o-1", "other"),
        ],
        options=PlanOptions(rotate_secrets=True),
    )


def test_text_is_terraform_like():
    text = render_text(sample_plan())
    assert "  + create new  connectors/new.yaml" in text
    assert '      ~ url = "https://a" -> "https://b"' in text
    assert "-/+ replace described (described-1)" in text and "# forces replacement" in text
    assert "+ service_auth.token = (sensitive, from ${TOK})" in text
    assert "other (o-1): not managed by conn-reconcile" in text
    assert text.rstrip().endswith("Plan: 1 to create, 1 to update, 1 to replace, 0 to delete, 0 unchanged.")
    assert "\x1b[" not in text
    assert "\x1b[32m" in render_text(sample_plan(), colour=True)


def test_no_changes_line():
    plan = build_plan([desired(name="a")], [remote("a-1", "a")])
    assert "No changes. 1 connector(s) match the configuration." in render_text(plan)


def test_redactor_masks_values_in_text_and_secret_fields_in_data():
    r = Redactor([CANARY, "abc"])  # too short to replace in free text
    assert r(f"token={CANARY}!") == "token=(sensitive)!"
    data = r.data(
        {"service_auth": {"type": "bearer", "token": "literal"}, "oauth": {"client_secret": "${S}"}, "x": [CANARY]}
    )
    assert data == {
        "service_auth": {"type": "bearer", "token": "(sensitive)"},
        "oauth": {"client_secret": "${S}"},
        "x": ["(sensitive)"],
    }


def test_every_format_goes_through_the_redactor():
    plan = build_plan([desired(name="x", description=f"has {CANARY} inside")], [])
    r = Redactor([CANARY])
    for out in (
        render_text(plan, redactor=r),
        render_json(plan, redactor=r),
        render_markdown(plan, redactor=r),
        render_github(plan, redactor=r),
    ):
        assert CANARY not in out


def test_json_is_documented_shape():
    doc = json.loads(render_json(sample_plan()))
    assert doc["format_version"] == 2 and doc["tool"]["name"] == "conn-reconcile"
    assert set(doc) >= {"summary", "changes", "unmanaged", "notes", "meta", "seen_ids", "twins", "recovery"}
    create = next(c for c in doc["changes"] if c["action"] == "create")
    assert create["payload"]["service_auth"]["token"] == "${TOK}"
    assert {"path": "service_auth.token", "sensitive": True, "ref": "TOK"} in create["changes"]


def test_markdown_has_table_details_and_size_cap():
    md = render_markdown(sample_plan())
    assert "| 1 | 1 | 1 | **0** | 0 | 1 |" in md and "<details>" in md
    big = build_plan([desired(name=f"c{i:04d}") for i in range(600)], [])
    capped = render_markdown(big, max_chars=5000)
    assert len(capped) <= 5000 and "truncated" in capped


def test_github_annotations_escape_properties():
    out = render_github_diagnostics([Diagnostic("dir/a,b.yaml", 3, 5, "url", "bad\nvalue 100%\x1b")])
    # data is escaped visibly (a newline shows as \n, never starts a line), then %-encoded
    assert out == "::error file=dir/a%2Cb.yaml,line=3,col=5,title=conn-reconcile%3A url::bad\\nvalue 100%25\\x1b\n"


HOSTILE = "x\x1b[2J\x07\u202e\u200b\n::warning file=a::pwned ##[error]y @org/team | <b> ```"


def hostile_plan():
    return build_plan(
        [desired(name="new", description=HOSTILE), desired(name="kept", id="k-1", url="https://b.example.com")],
        [remote("k-1", HOSTILE, url="https://a.example.com"), remote("u-1", "::error::" + HOSTILE)],
    )


def unsafe(text):
    return [c for c in text if c != "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u202e\u200b")]


def test_text_markdown_and_github_never_print_data_raw():
    plan = hostile_plan()
    for out in (render_text(plan), render_text(plan, colour=True), render_markdown(plan), render_github(plan)):
        assert unsafe(re.sub(r"\x1b\[[0-9;]*m", "", out)) == []  # only our own colour codes
        assert "##[" not in out
        lines = out.split("\n")
        commands = [line for line in lines if line.lstrip().startswith("::")]
        assert all(line.startswith(("::notice file=", "::warning file=")) for line in commands), commands
    text = render_text(plan)
    assert (
        "  \\x3a:error::x\\x1b[2J\\x07\\u202e\\u200b\\n::warning file=a::pwned #\\x23[error]y @org/team | <b> ``` (u-1)"
        in text
    )
    assert '~ name = "x\\u001b[2J\\u0007\\u202e\\u200b\\n::warning file=a::pwned #\\x23[error]y' in text


def test_colour_wraps_escaped_text():
    out = render_text(hostile_plan(), colour=True)
    assert "\x1b[2J" not in out and "\\x1b[2J" in out and "\x1b[33m  ~ update kept (k-1)" in out


def test_json_is_ascii_and_has_no_legacy_commands():
    out = render_json(hostile_plan())
    assert out.isascii() and "##[" not in out and "#\\u0023[error]" in out
    doc = json.loads(out)
    assert doc["unmanaged"][0]["name"] == "::error::" + HOSTILE  # the data itself is intact


def test_markdown_fence_and_table_cannot_be_broken_by_data():
    md = render_markdown(hostile_plan())
    fences = [line for line in md.split("\n") if line.startswith("```")]
    assert fences == ["````diff", "````"]
    row = next(line for line in md.split("\n") if line.startswith("| `~` update"))
    assert row.count(" | ") == 3 and "@&#8203;org/team" not in row  # the name is in the fenced plan, not the row
    assert "&lt;b&gt;" not in row and "`name`" in row


def test_diagnostics_are_one_escaped_line_each():
    # the text the CLI prints for bad input: str(InputError), one Diagnostic.format() per line
    out = str(
        InputError([Diagnostic("a\x1b.yaml", 1, 2, "name", "bad\n::error::x"), Diagnostic("b.yaml", message="x")])
    )
    assert out == "a\\x1b.yaml:1:2: name: bad\\n::error::x\nb.yaml: x"


def test_text_lists_changes_in_the_order_apply_runs_them() -> None:
    from conn_reconcile.plan.model import Action, phases

    plan = sample_plan()
    text = render_text(plan)
    headings = [line for line in text.splitlines() if line[:4].strip() in ("+", "~", "-/+", "-", "=")]
    order = [c.name for _, work in phases(plan) for _, c in work]
    order += [c.name for c in plan.changes if c.action is Action.NOOP]
    names = [h.split()[3] if h.split()[1:3] == ["no", "change"] else h.split()[2] for h in headings]
    assert names == order and len(order) == len(plan.changes)
    assert text.startswith("conn-reconcile will perform the following actions, in this order:")


def test_a_text_plan_reads_no_create_body() -> None:
    plan = build_plan([desired(name="new", service_auth={"type": "bearer", "token": "${TOK}"})], [])
    text = render_text(plan, redactor=Redactor())
    assert "+ create new" in text and "service_auth.token" in text
    assert plan.changes[0].payload._dumped is None  # type: ignore[union-attr]  # still not dumped
