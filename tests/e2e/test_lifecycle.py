"""``lifecycle:`` in a connector file, end to end against the emulator: ``prevent_destroy`` refuses
every plan that would delete or replace the connector, before any write, in every apply path (also
after its file is deleted: the state remembers it), and ``ignore_changes`` leaves fields alone;
``lifecycle`` itself is never sent to the API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e import count, remote_by_name
from ghrunner import action, commit, pr_plan

pytestmark = pytest.mark.e2e

ITEM = "/v1/connectors/.+"
PROTECTED = {"prevent_destroy": True}
WAY_OUT = "set prevent_destroy: false in it, apply that, then"


def _writes(project) -> int:
    return sum(
        count(project, method, path) for method, path in (("POST", "/v1/connectors"), ("PATCH", ITEM), ("DELETE", ITEM))
    )


def _record(project, name: str) -> dict[str, Any]:
    (record,) = [r for r in project.state()["connectors"].values() if r["name"] == name]
    return record


@pytest.fixture
def protected(project):
    """docs (prevent_destroy: true) and wiki, applied; the state records docs as protected."""
    project.write("docs.yaml", project.service("docs", description="The docs", lifecycle=PROTECTED))
    project.write("wiki.yaml", project.service("wiki"))
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.both
    assert _record(project, "docs")["prevent_destroy"] is True
    assert _record(project, "wiki")["prevent_destroy"] is False
    return project


def test_lifecycle_is_never_sent_and_a_create_sends_the_ignored_fields(project):
    """The emulator refuses an unknown field in a body (a 400): a create that sent lifecycle would fail."""
    lifecycle = {"prevent_destroy": True, "ignore_changes": ["description", "excludes"]}
    project.write("docs.yaml", project.service("docs", description="Docs", excludes=["raw"], lifecycle=lifecycle))
    run = project.run("apply", "--auto-approve")
    assert run.code == 0, run.both
    docs = remote_by_name(project)["docs"]
    assert (docs["description"], docs["excludes"]) == ("Docs", ["raw"])
    assert "lifecycle" not in docs
    doc = json.loads(project.run("plan", "--format", "json").out)
    (change,) = doc["changes"]
    assert change["action"] == "noop" and change["prevent_destroy"] is True


def test_prevent_destroy_refuses_a_replace_forced_by_a_description_change(protected):
    project = protected
    project.write("docs.yaml", project.service("docs", description="New docs", lifecycle=PROTECTED))
    before = remote_by_name(project)["docs"]
    writes, state = _writes(project), project.state()
    plan = project.run("plan")
    assert plan.code == 1, plan.both
    assert "connectors/docs.yaml" in plan.err and "lifecycle.prevent_destroy" in plan.err
    assert f"docs ({before['id']}): the plan would replace it (description cannot be updated in place)" in plan.err
    assert WAY_OUT in plan.err
    for args in (("apply", "--auto-approve"), ("plan", "--out", "p.json")):
        refused = project.run(*args)
        assert refused.code == 1 and "lifecycle.prevent_destroy" in refused.err, refused.both
    assert not (project.root / "p.json").exists()
    assert _writes(project) == writes and project.state() == state and remote_by_name(project)["docs"] == before

    # false in the same change is not enough: the state still protects it until false is applied
    project.write("docs.yaml", project.service("docs", description="New docs", lifecycle={"prevent_destroy": False}))
    still = project.run("apply", "--auto-approve")
    assert still.code == 1 and "the state still records prevent_destroy: true" in still.err, still.both

    # the way out: false applied first, then the change
    project.write("docs.yaml", project.service("docs", description="The docs", lifecycle={"prevent_destroy": False}))
    noted = project.run("plan")
    assert noted.code == 0 and "No changes." in noted.out, noted.both
    assert "docs: lifecycle.prevent_destroy is off in git" in noted.out
    assert project.run("apply", "--auto-approve").code == 0
    assert _record(project, "docs")["prevent_destroy"] is False
    project.write("docs.yaml", project.service("docs", description="New docs", lifecycle={"prevent_destroy": False}))
    replaced = project.run("apply", "--auto-approve")
    assert replaced.code == 0, replaced.both
    assert remote_by_name(project)["docs"]["description"] == "New docs"


def test_a_deleted_protected_file_is_refused_by_apply_prune_and_by_saved_plans(protected):
    project = protected
    assert project.run("plan", "--out", "before.json").code == 0  # no changes: docs and wiki as they are
    docs = remote_by_name(project)["docs"]
    (project.connectors / "docs.yaml").unlink()
    writes, state = _writes(project), project.state()

    listed = project.run("plan")
    assert listed.code == 0 and "protected by lifecycle.prevent_destroy" in listed.out, listed.both
    direct = project.run("apply", "--prune", "--auto-approve")
    assert direct.code == 1, direct.both
    assert f"connectors/docs.yaml: docs ({docs['id']}): the plan would delete it" in direct.err
    assert "the state remembers prevent_destroy: true from the last apply" in direct.err
    assert "restore connectors/docs.yaml with prevent_destroy: false, apply that, then remove the file" in direct.err

    saved = project.run("plan", "--prune", "--out", "p.json")
    assert saved.code == 1 and "lifecycle.prevent_destroy" in saved.err and not (project.root / "p.json").exists()

    # a plan file edited to delete it (the no-op of docs turned into a prune delete)
    doc = json.loads((project.root / "before.json").read_text())
    noop = next(c for c in doc["changes"] if c["name"] == "docs")
    noop.update(action="delete", payload=None, changes=[], cause="prune", applied=None, prevent_destroy=False)
    doc["summary"] = {**doc["summary"], "noop": doc["summary"]["noop"] - 1, "delete": 1}
    (project.root / "edited.json").write_text(json.dumps(doc))
    edited = project.run("apply", "--prune", "edited.json")
    assert edited.code == 1, edited.both
    assert f"delete of docs ({docs['id']}): lifecycle.prevent_destroy protects it" in edited.err
    assert _writes(project) == writes and project.state() == state and "docs" in remote_by_name(project)


def test_the_flag_outlives_the_file_until_false_is_applied(protected):
    project = protected
    (project.connectors / "docs.yaml").unlink()
    assert project.run("apply", "--prune", "--auto-approve").code == 1
    assert "docs" in remote_by_name(project)

    project.write("docs.yaml", project.service("docs", description="The docs", lifecycle={"prevent_destroy": False}))
    assert project.run("apply", "--prune", "--auto-approve").code == 0
    assert _record(project, "docs")["prevent_destroy"] is False
    (project.connectors / "docs.yaml").unlink()
    saved = project.run("plan", "--prune", "--out", "p.json")
    assert saved.code == 0, saved.both
    pruned = project.run("apply", "--prune", "p.json")
    assert pruned.code == 0, pruned.both
    assert set(remote_by_name(project)) == {"wiki"}


def test_the_actions_apply_on_merge_keeps_a_protected_connector_whose_file_was_deleted(protected):
    project = protected
    (project.root / "conn-reconcile.yaml").write_text("prune: true\n", encoding="utf-8")
    assert project.run("snapshot").code == 0
    assert project.run("plan", "--out", "reviewed.json").code == 0  # a plan reviewed before the removal
    commit(project)
    (project.connectors / "docs.yaml").unlink()
    commit(project, "remove docs")

    pr = pr_plan(project, plan_path="pr.json")
    assert pr.code == 1 and "lifecycle.prevent_destroy" in pr.err, pr
    doc = json.loads((project.root / "reviewed.json").read_text())
    noop = next(c for c in doc["changes"] if c["name"] == "docs")
    noop.update(action="delete", payload=None, changes=[], cause="prune", applied=None, prevent_destroy=False)
    doc["summary"] = {**doc["summary"], "noop": doc["summary"]["noop"] - 1, "delete": 1}
    (project.root / "reviewed.json").write_text(json.dumps(doc))
    writes, state = _writes(project), project.state()

    merged = action(project, "apply", reviewed_plan="reviewed.json", trusted=True)
    assert merged.code == 1 and "lifecycle.prevent_destroy" in merged.err, merged
    assert merged.outputs.get("applied") != "true"
    manual = action(project, "apply", event_name="workflow_dispatch", confirm="apply a fresh plan", trusted=True)
    assert manual.code == 1 and "lifecycle.prevent_destroy" in manual.err, manual
    reviewed = project.run("apply", "--auto-approve", "--reviewed-plan", "reviewed.json")
    assert reviewed.code == 1 and "lifecycle.prevent_destroy" in reviewed.err, reviewed.both
    assert _writes(project) == writes and project.state() == state and "docs" in remote_by_name(project)


def test_ignore_changes_leaves_drift_and_git_changes_of_those_fields_alone(project):
    lifecycle = {"ignore_changes": ["description", "excludes"]}
    project.write("docs.yaml", project.service("docs", description="Docs", excludes=["raw"], lifecycle=lifecycle))
    assert project.run("apply", "--auto-approve").code == 0
    docs = remote_by_name(project)["docs"]
    project.remote_patch(docs["id"], {"excludes": ["author"], "active": False})
    project.write("docs.yaml", project.service("docs", description="Docs v2", excludes=["raw"], lifecycle=lifecycle))

    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.both
    assert (
        "~ active" in plan.out
        and "excludes =" not in plan.out
        and "replace" not in plan.out.replace("0 to replace", "")
    )
    notes = [line for line in plan.out.splitlines() if "lifecycle.ignore_changes" in line]
    assert notes == ["Note: docs: lifecycle.ignore_changes left description, excludes as they are in the org"], plan.out
    saved = project.run("plan", "--out", "p.json")
    assert saved.code == 0, saved.both
    applied = project.run("apply", "p.json")
    assert applied.code == 0, applied.both
    after = remote_by_name(project)["docs"]
    assert (after["id"], after["active"], after["excludes"], after["description"]) == (
        docs["id"],
        True,
        ["author"],
        "Docs",
    )
    again = project.run("plan", "--detailed-exitcode")
    assert again.code == 0 and "No changes." in again.out, again.both


def test_validate_refuses_fields_that_cannot_be_ignored_at_their_line(project):
    project.write(
        "docs.yaml",
        "name: docs\n"
        "url: https://docs.example.com/search\n"
        "service_auth: {type: bearer, token: '${CONN_TOKEN}'}\n"
        "lifecycle:\n"
        "  prevent_destroy: yes\n"
        "  ignore_changes:\n"
        "    - service_auth.token\n"
        "    - name\n"
        "    - lifecycle\n"
        "    - descripton\n",
    )
    run = project.run("validate")
    assert run.code == 1, run.both
    lines = run.out.splitlines() + run.err.splitlines()
    expected = [
        "connectors/docs.yaml:5:3: lifecycle.prevent_destroy: Input should be a valid boolean",
        "connectors/docs.yaml:7:7: lifecycle.ignore_changes.0: service_auth.token cannot be ignored: a secret",
        "connectors/docs.yaml:8:7: lifecycle.ignore_changes.1: name cannot be ignored",
        "connectors/docs.yaml:9:7: lifecycle.ignore_changes.2: lifecycle cannot be ignored",
        "connectors/docs.yaml:10:7: lifecycle.ignore_changes.3: 'descripton' is not a field that can be ignored "
        "(did you mean 'description'?)",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in lines), (start, run.both)
    project.write("docs.yaml", project.service("docs", lifecycle={"prevent_destroy": True, "ignore_changes": ["url"]}))
    assert project.run("validate").code == 0


def test_the_twins_of_a_protected_connector_are_not_pruned(protected):
    """A twin: a second connector of the name, made by an apply that was interrupted (its intent is in the state)."""
    import datetime as _dt

    from conn_reconcile.model.state import Intent
    from conn_reconcile.state import file as statefile

    project = protected
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    twin = project.emulator.seed(project.service("docs", description="The docs"), created_at=now)
    path = project.root / ".conn-reconcile" / "state.json"
    state = statefile.load(path)
    intent = Intent(id="0123456789abcdef", op="create", name="docs", file="connectors/docs.yaml", started_at=now)
    state.intents[intent.id] = intent
    statefile.compact(path, state)
    writes, state = _writes(project), project.state()

    refused = project.run("apply", "--prune", "--auto-approve")
    assert refused.code == 1, refused.both
    assert f"docs ({twin['id']}): the plan would delete this twin of a protected connector" in refused.err
    assert (
        _writes(project) == writes
        and project.state() == state
        and twin["id"] in {c["id"] for c in project.emulator.connectors}
    )

    project.write("docs.yaml", project.service("docs", description="The docs", lifecycle={"prevent_destroy": False}))
    assert project.run("apply", "--auto-approve").code == 0  # false applied (without --prune)
    pruned = project.run("apply", "--prune", "--auto-approve")
    assert pruned.code == 0, pruned.both
    assert twin["id"] not in {c["id"] for c in project.emulator.connectors}
    assert sorted(remote_by_name(project)) == ["docs", "wiki"]
