"""The markdown plan (PR comment): destructive changes first, whole rows only, under GitHub's
comment limit, with a line saying what was left out."""

from __future__ import annotations

from conn_reconcile.model.secrets import Redactor
from conn_reconcile.output.render import GITHUB_COMMENT_LIMIT, render_markdown
from conn_reconcile.plan.diff import FieldChange
from conn_reconcile.plan.model import Action, Plan, ResourceChange


def _plan(n_creates: int) -> Plan:
    creates = [
        ResourceChange(
            Action.CREATE,
            f"c{i:05d}-{'x' * 40}",
            f"connectors/c{i:05d}.yaml",
            changes=(FieldChange("url", None, "https://e.example.com"),),
        )
        for i in range(n_creates)
    ]
    others = [
        ResourceChange(
            Action.UPDATE,
            "aaa-update",
            "connectors/aaa.yaml",
            "u-1",
            changes=(FieldChange("url", "https://a", "https://b"),),
        ),
        ResourceChange(Action.DELETE, "zzz-delete", "connectors/zzz.yaml", "d-1", cause="prune"),
        ResourceChange(
            Action.REPLACE,
            "zzz-replace",
            "connectors/zzr.yaml",
            "r-1",
            changes=(FieldChange("description", "a", "b", forces_replacement=True),),
        ),
    ]
    return Plan(tuple(sorted(creates + others, key=lambda c: c.name)))


def _rows(md: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith("| `")]


def test_deletes_and_replaces_come_first_in_the_table() -> None:
    rows = _rows(render_markdown(_plan(3)))
    assert [r.split(" | ")[1] for r in rows[:2]] == ["zzz-delete", "zzz-replace"]
    assert rows[-1].split(" | ")[1] == "aaa-update"


def test_a_huge_plan_stays_under_the_comment_limit_with_whole_rows() -> None:
    plan = _plan(3000)
    md = render_markdown(plan)
    assert len(md) <= GITHUB_COMMENT_LIMIT
    rows = _rows(md)
    assert rows[0].split(" | ")[1] == "zzz-delete" and rows[1].split(" | ")[1] == "zzz-replace"
    assert all(r.endswith(" |") and r.count(" | ") == 3 for r in rows)
    not_shown = 3003 - len(rows)
    assert f"_Plan truncated: {not_shown} of 3003 change(s) not shown" in md
    assert "<details>" not in md  # the full plan goes before any row does
    assert md.startswith("<!-- conn-reconcile-plan -->")


def test_the_cap_holds_with_secrets_masked_and_tiny_limits() -> None:
    plan = _plan(200)
    redactor = Redactor(["c0001"])  # masking makes text longer: measured after masking
    for limit in (1000, 5000, 20_000):
        md = render_markdown(plan, redactor=redactor, max_chars=limit)
        assert len(md) <= limit and "truncated" in md and "c0001" not in md
