"""The text plan's words for what it leaves alone and for secrets: managed connectors removed
from git, those an interrupted apply created and unmanaged ones each under their own heading; a
rotated secret called rotated, a secret sent by --rotate-secrets called sent again."""

from conn_reconcile.output.render import render_text
from conn_reconcile.plan.diff import FieldChange
from conn_reconcile.plan.model import Action, Plan, ResourceChange, Unmanaged


def _lines_under(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].strip())
    return lines[start:end]


def test_each_kind_of_connector_left_alone_has_its_heading() -> None:
    plan = Plan(
        changes=(),
        unmanaged=(
            Unmanaged("a-1", "a", "managed, removed from git; --prune deletes it"),
            Unmanaged("b-1", "b", "created by an interrupted apply; --prune deletes it"),
            Unmanaged("c-1", "c", "not managed by conn-reconcile"),
            Unmanaged("d-1", "d", "protected"),
        ),
    )
    text = render_text(plan)
    assert _lines_under(text, "Managed connectors removed from git (--prune deletes them):") == [
        "  a (a-1): managed, removed from git"
    ]
    assert _lines_under(text, "Created by an interrupted apply, not in git (--prune deletes them):") == [
        "  b (b-1): created by an interrupted apply"
    ]
    assert _lines_under(text, "Unmanaged connectors (in the org, not in git; left alone):") == [
        "  c (c-1): not managed by conn-reconcile",
        "  d (d-1): protected",
    ]
    assert "removed from git" not in render_text(plan, quiet=True)


def _secret_update(rotate: bool) -> Plan:
    change = ResourceChange(
        Action.UPDATE,
        "docs",
        "connectors/docs.yaml",
        remote_id="docs-1",
        changes=(
            FieldChange("service_auth.token", sensitive=True, origin="git", ref="DOCS_TOKEN"),
            FieldChange("url", "https://a", "https://b", origin="git"),
        ),
    )
    return Plan(changes=(change,), meta={"options": {"rotate_secrets": rotate}})


def test_a_rotated_secret_is_rotated_and_a_forced_one_sent_again() -> None:
    rotated = render_text(_secret_update(rotate=False))
    assert "(sensitive, changed, from ${DOCS_TOKEN})   # rotated (its value changed)" in rotated
    assert '"https://a" -> "https://b"   # changed in git' in rotated  # a field in the file keeps its label
    forced = render_text(_secret_update(rotate=True))
    assert "(sensitive, changed, from ${DOCS_TOKEN})   # sent again (--rotate-secrets)" in forced
