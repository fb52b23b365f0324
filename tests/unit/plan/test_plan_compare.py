"""``plan --compare REVIEWED.json``: the reviewed plan is still the plan (exit 0), or the
differences are listed (exit 1) -- against the emulator, with a real saved plan."""

from __future__ import annotations

import json

from e2e import Project, remote_by_name

from conn_reconcile.plan.compare import compare, compare_reviewed, render_markdown, render_text
from conn_reconcile.plan.diff import FieldChange
from conn_reconcile.plan.model import Action, Plan, ResourceChange, Unmanaged

#: a pull request's plan is made without the secrets (and the current plan is compared as one)
BLIND = {"CONN_TOKEN": ""}


def _save_reviewed(project: Project, name: str = "reviewed.json") -> None:
    saved = project.run("plan", "--allow-unbound", "--out", name, env=BLIND)
    assert saved.code == 0, saved.both


def _reviewed(project: Project) -> None:
    """Two connectors applied, then a change to one of them planned and saved for review."""
    project.write("docs.yaml", project.service("docs"))
    project.write("wiki.yaml", project.service("wiki"))
    assert project.run("apply", "--auto-approve").code == 0
    project.write("docs.yaml", project.service("docs", description="Team docs"))
    _save_reviewed(project)


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


def test_an_added_noop_for_an_unmanaged_connector_differs_and_is_never_adopted(project: Project) -> None:
    """The attack: a no-op entry for a connector the tool does not manage, added to a saved
    reviewed plan, would make apply record it as managed and the next prune delete it."""
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    project.emulator.seed({"name": "legacy", "url": "https://legacy.example.com/search"}, id="legacy-abc123")
    _save_reviewed(project)
    path = project.root / "reviewed.json"
    doc = json.loads(path.read_text())
    assert [u["id"] for u in doc["unmanaged"]] == ["legacy-abc123"]
    (docs,) = doc["changes"]
    view = {"name": "legacy", "url": "https://legacy.example.com/search", "description": "", "excludes": []}
    legacy = {**docs, "name": "legacy", "file": "connectors/legacy.yaml", "remote_id": "legacy-abc123"}
    legacy.update(applied={**view, "active": True, "continue_on_failure": False}, remote={"updated_at": None})
    doc["changes"].append(legacy)
    doc["summary"]["noop"] = 2
    path.write_text(json.dumps(doc))

    compared = project.run("plan", "--compare", "reviewed.json")
    assert compared.code == 1, compared.both
    assert "~ legacy (legacy-abc123): noop only in the reviewed plan" in compared.out

    applied = project.run("apply", "reviewed.json")
    assert applied.code == 1, applied.both
    assert "noop of legacy (legacy-abc123): it would record a connector the state does not manage" in applied.err
    assert "legacy-abc123" not in project.state()["connectors"]
    pruned = json.loads(project.run("plan", "--prune", "--format", "json").out)
    assert [c["action"] for c in pruned["changes"]] == ["noop"]
    assert [u["id"] for u in pruned["unmanaged"]] == ["legacy-abc123"]
    assert "legacy" in remote_by_name(project)


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


def test_an_entry_in_one_plan_only_is_a_difference_whatever_its_action() -> None:
    docs = _change("docs", payload={"url": "u1"})
    legacy = _change("legacy", action=Action.NOOP, remote_id="legacy-1")
    assert [d.what for d in compare(Plan((docs, legacy)), Plan((docs,)))] == ["noop only in the reviewed plan"]
    assert [d.what for d in compare(Plan((docs,)), Plan((docs, legacy)))] == ["noop only in the current plan"]
    twice = Plan((docs, _change("docs", payload={"url": "evil"})))
    assert ("docs (r1)", "2 changes in the reviewed plan") in [
        (d.subject, d.what) for d in compare(twice, Plan((docs,)))
    ]


# ---- several reviewed plans (merged since the last apply, in merge order) ---------------------

META = {"api_url": "http://o", "options": {"prune": False}}
URL = (FieldChange("url", "u0", "u1"),)
EXCLUDES = (FieldChange("excludes", (), ("raw",)),)


def _update(name: str, rid: str, changes: tuple[FieldChange, ...], payload: dict[str, object]) -> ResourceChange:
    return _change(name, remote_id=rid, changes=changes, payload=payload, stored_hash=f"h-{rid}")


def _noop(name: str, rid: str) -> ResourceChange:
    return _change(name, action=Action.NOOP, remote_id=rid)


def test_one_reviewed_plan_is_compared_as_compare_does() -> None:
    a = Plan((_update("docs", "r1", URL, {"url": "u1"}), _noop("legacy", "r9")), meta=META)
    b = Plan((_update("docs", "r1", EXCLUDES, {"excludes": ["raw"]}),), meta={**META, "environment": "prod"})
    assert compare_reviewed([a], b) == compare(a, b) != []
    assert compare_reviewed([a], a) == []


def test_two_pull_requests_changing_different_connectors_cover_the_plan_of_both() -> None:
    pr1 = Plan((_update("docs", "r1", URL, {"url": "u1"}), _noop("wiki", "r2")), meta=META)
    pr2 = Plan((_noop("docs", "r1"), _update("wiki", "r2", EXCLUDES, {"excludes": ["raw"]})), meta=META)
    current = Plan((pr1.changes[0], pr2.changes[1]), meta={**META, "created_at": "later"})
    assert compare_reviewed([pr1, pr2], current) == []
    # the meta is the last reviewed plan's
    assert [d.what for d in compare_reviewed([pr1, Plan(pr2.changes, meta={})], current)] == [
        "meta.api_url",
        "meta.options",
    ]
    # and so are twins, recovery and unmanaged connectors
    unmanaged = Plan(pr2.changes, meta=META, unmanaged=(Unmanaged("x1", "x", "not managed by conn-reconcile"),))
    assert [(d.subject, d.what) for d in compare_reviewed([pr1, unmanaged], current)] == [("plan", "unmanaged")]
    # a note of the current plan is one some reviewed plan shows (notes are per branch)
    notes = ("unbound: ${A} (connectors/docs.yaml)", "unbound: ${B} (connectors/wiki.yaml)")
    pr1_noted, pr2_noted = Plan(pr1.changes, meta=META, notes=notes[:1]), Plan(pr2.changes, meta=META, notes=notes[1:])
    assert compare_reviewed([pr1_noted, pr2_noted], Plan(current.changes, meta=META, notes=notes)) == []
    extra = Plan(current.changes, meta=META, notes=(*notes, "unseen"))
    diffs = compare_reviewed([pr1_noted, pr2_noted], extra)
    assert [(d.what, d.current) for d in diffs] == [("notes: not covered by any reviewed plan", ["unseen"])]


def test_one_connector_changed_by_both_pull_requests_in_a_way_neither_shows_differs() -> None:
    pr1 = Plan((_update("docs", "r1", URL, {"url": "u1"}),), meta=META)
    pr2 = Plan((_update("docs", "r1", EXCLUDES, {"excludes": ["raw"]}),), meta=META)
    both = _update("docs", "r1", URL + EXCLUDES, {"url": "u1", "excludes": ["raw"]})
    diffs = compare_reviewed([pr1, pr2], Plan((both,), meta=META))
    assert {d.subject for d in diffs} == {"docs (r1)"}
    assert [d.what for d in diffs] == [
        "changes: not covered by any reviewed plan",
        "payload: not covered by any reviewed plan",
    ]
    # shown against the latest reviewed entry of the connector
    assert diffs[0].reviewed == [c.to_dict() for c in EXCLUDES]
    assert diffs[0].current == [c.to_dict() for c in EXCLUDES + URL]


def test_a_noop_for_a_connector_absent_from_the_current_plan_in_one_reviewed_plan_differs() -> None:
    pr1 = Plan((_update("docs", "r1", URL, {"url": "u1"}),), meta=META)
    pr2 = Plan((_noop("docs", "r1"), _noop("legacy", "legacy-1")), meta=META)
    diffs = compare_reviewed([pr1, pr2], Plan(pr1.changes, meta=META))
    assert [(d.subject, d.what) for d in diffs] == [("legacy (legacy-1)", "noop only in reviewed plan 2")]
    extra = Plan((*pr1.changes, _noop("legacy", "legacy-1")), meta=META)
    diffs = compare_reviewed([pr1, Plan(pr2.changes[:1], meta=META)], extra)
    assert [d.what for d in diffs] == ["noop only in the current plan: not covered by any reviewed plan"]


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


def test_a_signed_reviewed_plan_that_was_edited_never_matches(project: Project) -> None:
    from e2e import FP_KEY

    project.env["CONN_RECONCILE_FINGERPRINT_KEY"] = FP_KEY
    _reviewed(project)
    assert project.run("plan", "--compare", "reviewed.json").code == 0
    path = project.root / "reviewed.json"
    doc = json.loads(path.read_text())
    doc["changes"][0]["reasons"] = ["edited"]
    path.write_text(json.dumps(doc))
    run = project.run("plan", "--compare", "reviewed.json")
    # refused for its signature, or (a reviewed plan read as evidence, unsigned) for the edit itself
    assert run.code == 1, run.both
    assert "signature does not match" in run.err or ("~ docs (" in run.out and ": reasons" in run.out)
