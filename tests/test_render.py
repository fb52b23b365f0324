import json

from conn_reconcile.errors import Diagnostic
from conn_reconcile.plan import PlanOptions
from conn_reconcile.planner import build_plan
from conn_reconcile.render import (
    render_github,
    render_github_diagnostics,
    render_json,
    render_markdown,
    render_text,
)
from conn_reconcile.secrets import Redactor

from helpers import desired, remote

CANARY = "CANARY-render-9d1c7e"


def sample_plan():
    return build_plan(
        [
            desired(name="new", service_auth={"type": "bearer", "token": "${TOK}"}),
            desired(name="moved", url="https://b"),
            desired(name="described", description="new"),
        ],
        [remote("moved-1", "moved", url="https://a"), remote("described-1", "described", description="old"), remote("o-1", "other")],
        options=PlanOptions(rotate_secrets=True),
    )


def test_text_is_terraform_like():
    text = render_text(sample_plan())
    assert "  + create new  connectors/new.yaml" in text
    assert '      ~ url = "https://a" -> "https://b"' in text
    assert "-/+ replace described (described-1)" in text and "# forces replacement" in text
    assert "service_auth.token = (sensitive)" in text
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
    data = r.data({"service_auth": {"type": "bearer", "token": "literal"}, "oauth": {"client_secret": "${S}"}, "x": [CANARY]})
    assert data == {"service_auth": {"type": "bearer", "token": "(sensitive)"}, "oauth": {"client_secret": "${S}"}, "x": ["(sensitive)"]}


def test_every_format_goes_through_the_redactor():
    plan = build_plan([desired(name="x", description=f"has {CANARY} inside")], [])
    r = Redactor([CANARY])
    for out in (render_text(plan, redactor=r), render_json(plan, redactor=r), render_markdown(plan, redactor=r), render_github(plan, redactor=r)):
        assert CANARY not in out


def test_json_is_documented_shape():
    doc = json.loads(render_json(sample_plan()))
    assert doc["format_version"] == 1 and doc["tool"]["name"] == "conn-reconcile"
    assert set(doc) >= {"summary", "changes", "unmanaged", "notes", "meta", "seen_ids"}
    create = next(c for c in doc["changes"] if c["action"] == "create")
    assert create["payload"]["service_auth"]["token"] == "${TOK}"
    assert {"path": "service_auth.token", "sensitive": True} in create["changes"]


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
