"""``plan --compare REVIEWED.json``: the reviewed plan is still the plan (exit 0), or the
differences are listed (exit 1) -- against the emulator, with a real saved plan."""

from __future__ import annotations

import json

from e2e import Project, remote_by_name

from conn_reconcile.diff import FieldChange
from conn_reconcile.plan import Action, Plan, ResourceChange
from conn_reconcile.planmatch import compare, render_markdown, render_text


def _reviewed(project: Project) -> None:
    """Two connectors applied, then a change to one of them planned and saved for review."""
    project.write("docs.yaml", project.service("docs"))
    project.write("wiki.yaml", project.service("wiki"))
    assert project.run("apply", "--auto-approve").code == 0
    project.write("docs.yaml", project.service("docs", description="Team docs"))
    saved = project.run("plan", "--out", "reviewed.json")
    assert saved.code == 0, saved.both


def test_an_unchanged_org_and_files_match_the_reviewed_plan(project: Project) -> None:
    _reviewed(project)
    again = project.run("plan", "--compare", "reviewed.json")
    assert again.code == 0, again.both
    assert "matches the reviewed plan" in again.out
    md = project.run("plan", "--compare", "reviewed.json", "--format", "markdown")
    assert md.code == 0 and "still holds" in md.out


def test_another_merged_change_makes_the_plan_differ(project: Project) -> None:
    _reviewed(project)
    project.write("wiki.yaml", project.service("wiki", excludes=["raw_html"]))
    again = project.run("plan", "--compare", "reviewed.json")
    assert again.code == 1, again.both
    assert "~ wiki (" in again.out and ": action" in again.out and "Nothing was applied" in again.out
    as_json = json.loads(project.run("plan", "--compare", "reviewed.json", "--format", "json").out)
    assert as_json["match"] is False
    assert [d["what"] for d in as_json["differences"]] == ["action", "changes"]
    assert as_json["differences"][0]["reviewed"] == "noop" and as_json["differences"][0]["current"] == "update"


def test_drift_in_the_org_makes_the_plan_differ(project: Project) -> None:
    _reviewed(project)
    docs = remote_by_name(project)["docs"]
    project.remote_patch(docs["id"], {"url": project.endpoint.url + "/elsewhere"})
    again = project.run("plan", "--compare", "reviewed.json")
    assert again.code == 1, again.both
    assert "~ docs" in again.out
    md = project.run("plan", "--compare", "reviewed.json", "--format", "markdown")
    assert md.code == 1 and "is out of date" in md.out and "| docs (" in md.out


def test_a_missing_reviewed_plan_is_an_error(project: Project) -> None:
    project.write("wiki.yaml", project.service("wiki"))
    run = project.run("plan", "--compare", "nope.json")
    assert run.code == 1 and "plan file not found" in run.err


# ---- the pure comparison ---------------------------------------------------------------------


def _change(name: str, **kw: object) -> ResourceChange:
    base: dict[str, object] = {
        "action": Action.UPDATE,
        "name": name,
        "file": f"connectors/{name}.yaml",
        "remote_id": "r1",
    }
    base.update(kw)
    return ResourceChange(**base)  # type: ignore[arg-type]


def test_meta_timestamps_unchanged_hashes_and_ordering_are_ignored() -> None:
    a = Plan(
        (_change("a", stored_hash="h1"), _change("b", action=Action.NOOP, remote_id="r2", stored_hash="x")),
        notes=("one", "two"),
        meta={"created_at": "2020-01-01T00:00:00Z", "git_commit": "abc", "api_url": "http://o"},
    )
    b = Plan(
        (
            _change("b", action=Action.NOOP, remote_id="r2", stored_hash="y", remote_updated_at="t"),
            _change("a", stored_hash="h1"),
        ),
        notes=("two", "one"),
        meta={"created_at": "2030-01-01T00:00:00Z", "git_commit": "def", "api_url": "http://o"},
    )
    assert compare(a, b) == []


def test_payloads_field_changes_hashes_of_changed_things_and_options_count() -> None:
    a = Plan((_change("a", payload={"url": "u1"}, stored_hash="h1"),), meta={"options": {"prune": False}})
    assert [
        d.what for d in compare(a, Plan((_change("a", payload={"url": "u2"}, stored_hash="h1"),), meta=a.meta))
    ] == ["payload"]
    assert [
        d.what for d in compare(a, Plan((_change("a", payload={"url": "u1"}, stored_hash="h2"),), meta=a.meta))
    ] == ["remote"]
    fc = (FieldChange("url", "x", "y"),)
    assert [
        d.what
        for d in compare(a, Plan((_change("a", payload={"url": "u1"}, stored_hash="h1", changes=fc),), meta=a.meta))
    ] == ["changes"]
    other = Plan(a.changes, meta={"options": {"prune": True}})
    assert [(d.subject, d.what) for d in compare(a, other)] == [("plan", "meta.options")]
    extra = Plan((*a.changes, _change("new", action=Action.CREATE, remote_id=None)), meta=a.meta)
    assert [d.what for d in compare(a, extra)] == ["create only in the current plan"]


def test_the_listing_escapes_remote_data() -> None:
    hostile = "evil\x1b[31m|<img src=x>@team"
    a = Plan((_change(hostile, payload={"url": "a"}),))
    b = Plan((_change(hostile, payload={"url": "b`|\x1b[0m"}),))
    diffs = compare(a, b)
    text, md = render_text(diffs), render_markdown(diffs)
    assert "\x1b" not in text and "\x1b" not in md
    assert "<img" not in md and "@team" not in md
    row = next(line for line in md.splitlines() if line.startswith("| evil"))
    assert row.count(" | ") == 3, row


def test_a_signed_reviewed_plan_that_was_edited_is_refused(project: Project) -> None:
    from e2e import FP_KEY

    project.env["CONN_RECONCILE_FINGERPRINT_KEY"] = FP_KEY
    _reviewed(project)
    assert project.run("plan", "--compare", "reviewed.json").code == 0
    path = project.root / "reviewed.json"
    doc = json.loads(path.read_text())
    doc["changes"][0]["reasons"] = ["edited"]
    path.write_text(json.dumps(doc))
    run = project.run("plan", "--compare", "reviewed.json")
    assert run.code == 1 and "signature does not match" in run.err
