"""Saved plan files are verified, not trusted: edited files are refused before any change,
every malformed file is one plan-file error, and no plan file deletes an unmanaged connector.
End to end: the CLI as a subprocess against the emulator."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from e2e import FP_KEY, count, remote_by_name

pytestmark = pytest.mark.e2e

ITEM = "/v1/connectors/.+"


def _load(project) -> dict[str, Any]:
    return json.loads((project.root / "plan.json").read_text())


def _save(project, doc: dict[str, Any], name: str = "plan.json") -> Path:
    path = project.root / name
    path.write_text(json.dumps(doc))
    return path


def _fix_summary(doc: dict[str, Any]) -> None:
    counts = {a: 0 for a in ("create", "update", "replace", "delete", "noop")}
    for c in doc["changes"]:
        counts[c["action"]] += 1
    doc["summary"] = counts


def _deleted(project) -> int:
    return count(project, "DELETE", ITEM)


@pytest.fixture
def applied(project):
    """docs (managed, in git) and legacy (unmanaged) exist; plan.json is a no-change plan."""
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    project.emulator.seed({"name": "legacy", "url": "https://legacy.example.com/search"}, id="legacy-abc123")
    assert project.run("plan", "--out", "plan.json").code == 0
    return project


def _as_delete(change: dict[str, Any], cause: str = "prune") -> dict[str, Any]:
    return {**change, "action": "delete", "payload": None, "changes": [], "cause": cause, "applied": None}


def test_a_noop_turned_into_a_delete_needs_prune_and_fails_the_signature(applied):
    doc = _load(applied)
    doc["changes"] = [_as_delete(doc["changes"][0])]
    _fix_summary(doc)
    _save(applied, doc)
    refused = applied.run("apply", "plan.json")
    assert refused.code == 1, refused.both
    assert "pass --prune to apply a plan that prunes" in refused.err and _deleted(applied) == 0

    # signed plans: any edit breaks the signature, whatever the flags
    env = {"CONN_RECONCILE_FINGERPRINT_KEY": FP_KEY}
    assert applied.run("plan", "--out", "plan.json", env=env).code == 0
    doc = _load(applied)
    assert doc["signature"].startswith("hmac-sha256:")
    doc["changes"] = [_as_delete(doc["changes"][0])]
    _fix_summary(doc)
    _save(applied, doc)
    tampered = applied.run("apply", "--prune", "plan.json", env=env)
    assert tampered.code == 1 and "signature does not match" in tampered.err
    assert _deleted(applied) == 0 and set(remote_by_name(applied)) == {"docs", "legacy"}


def test_a_signed_plan_applies_and_an_unsigned_one_is_refused_when_the_key_is_set(applied):
    env = {"CONN_RECONCILE_FINGERPRINT_KEY": FP_KEY}
    applied.write("wiki.yaml", applied.service("wiki"))
    assert applied.run("plan", "--out", "signed.json", env=env).code == 0
    assert applied.run("plan", "--out", "unsigned.json").code == 0
    unsigned = applied.run("apply", "unsigned.json", env=env)
    assert unsigned.code == 1 and "not signed" in unsigned.err
    no_key = applied.run("apply", "signed.json")
    assert no_key.code == 1 and "set CONN_RECONCILE_FINGERPRINT_KEY to verify it" in no_key.err
    ok = applied.run("apply", "signed.json", env=env)
    assert ok.code == 0, ok.both
    assert set(remote_by_name(applied)) == {"docs", "legacy", "wiki"}


def test_an_added_delete_of_an_unmanaged_connector_is_refused_even_with_prune(applied):
    doc = _load(applied)
    legacy = {
        "action": "delete",
        "name": "legacy",
        "file": None,
        "remote_id": "legacy-abc123",
        "changes": [],
        "reasons": ["x"],
        "payload": None,
        "remote": {"updated_at": None, "hash": None},
        "applied": None,
        "cause": "prune",
        "intent": None,
        "known_ids": [],
    }
    doc["changes"].append(legacy)
    doc["meta"]["options"]["prune"] = True
    _fix_summary(doc)
    _save(applied, doc)
    refused = applied.run("apply", "--prune", "plan.json")
    assert refused.code == 1, refused.both
    assert "delete of legacy (legacy-abc123): the state does not record it as managed" in refused.err
    assert _deleted(applied) == 0 and "legacy" in remote_by_name(applied)


def test_an_edited_payload_is_refused(applied):
    applied.write("wiki.yaml", applied.service("wiki"))
    assert applied.run("plan", "--out", "plan.json").code == 0
    doc = _load(applied)
    create = next(c for c in doc["changes"] if c["action"] == "create")
    create["payload"]["name"] = "other"
    _save(applied, doc)
    renamed = applied.run("apply", "plan.json")
    assert renamed.code == 1 and "payload.name: differs from the change's name" in renamed.err

    create["payload"]["name"] = "wiki"
    create["payload"]["service_auth"]["token"] = "a-literal-token"
    _save(applied, doc)
    literal = applied.run("apply", "plan.json")
    assert literal.code == 1 and "payload.service_auth.token: literal secrets are not allowed" in literal.err
    assert "a-literal-token" not in literal.both
    assert count(applied, "POST") == 1  # only the first apply's create


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("meta"), "malformed plan file: meta: Field required"),
        (lambda d: d.update(changes={}), "malformed plan file: changes: Input should be a valid list"),
        (lambda d: d["changes"][0].update(action="explode"), "malformed plan file: changes.0.action"),
        (lambda d: d["changes"][0].update(remote_id="../../v1"), "malformed plan file: changes.0.remote_id"),
        (lambda d: d.update(extra=1), "malformed plan file: extra: Extra inputs are not permitted"),
        (lambda d: d.update(summary={"create": 9}), "summary does not match the changes"),
        (
            lambda d: (d["changes"].append(dict(d["changes"][0])), d["summary"].update(noop=2)),
            "malformed plan file: plan: more than one change for docs (docs-",
        ),
        (lambda d: d.update(format_version=1), "unsupported plan format_version 1 (this conn-reconcile reads 2)"),
    ],
)
def test_a_malformed_plan_file_is_one_plan_file_error(applied, edit, message):
    doc = _load(applied)
    edit(doc)
    _save(applied, doc)
    result = applied.run("apply", "plan.json")
    assert result.code == 1, result.both
    (line,) = result.err.strip().splitlines()
    assert line.startswith("Error: plan.json: ") and message in line, line
    assert "unexpected" not in line


def test_deep_nesting_and_garbage_are_plan_file_errors(applied):
    (applied.root / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    deep = applied.run("apply", "deep.json")
    assert deep.code == 1 and deep.err.strip() == "Error: deep.json: not a plan file: nested too deeply"
    (applied.root / "bin.json").write_bytes(b"\xff\xfe")
    garbage = applied.run("show", "bin.json")
    assert garbage.code == 1 and "bin.json: not a readable plan file" in garbage.err
    assert _deleted(applied) == 0


# ---- what show prints is what apply sends ------------------------------------------------------

OTHER_SECRET = "CANARY-other-variable-6e0b3d"
DISAGREES = "its payload disagrees with its displayed changes"


def _planned(project, env: dict[str, str] | None = None) -> dict[str, Any]:
    run = project.run("plan", "--out", "plan.json", env=env)
    assert run.code == 0, run.both
    shown = project.run("show", "plan.json", env=env)
    assert shown.code == 0, shown.both
    return _load(project)


def _refused_by_show_and_apply(project, message: str, env: dict[str, str] | None = None) -> None:
    writes = count(project, "POST") + count(project, "PATCH", ITEM) + _deleted(project)
    for command in ("show", "apply"):
        run = project.run(command, "plan.json", env=env)
        assert run.code == 1, run.both
        assert run.err.startswith("Error: plan.json: ") and message in run.err, run.err
        assert "attacker" not in run.both
    assert count(project, "POST") + count(project, "PATCH", ITEM) + _deleted(project) == writes


def test_a_create_whose_payload_url_was_edited_is_refused_by_show_and_apply(applied):
    applied.write("wiki.yaml", applied.service("wiki"))
    doc = _planned(applied)
    create = next(c for c in doc["changes"] if c["action"] == "create")
    create["payload"]["url"] = "https://attacker.example.com/search"
    _save(applied, doc)
    _refused_by_show_and_apply(applied, f"the create of wiki: {DISAGREES} at url")
    assert "wiki" not in remote_by_name(applied)


def test_a_payload_secret_pointed_at_another_variable_is_refused_and_that_value_goes_nowhere(applied):
    env = {"OTHER_SECRET": OTHER_SECRET}
    applied.write("wiki.yaml", applied.service("wiki"))
    doc = _planned(applied, env)
    create = next(c for c in doc["changes"] if c["action"] == "create")
    create["payload"]["service_auth"]["token"] = "${OTHER_SECRET}"
    _save(applied, doc)
    _refused_by_show_and_apply(applied, f"the create of wiki: {DISAGREES} at service_auth.token", env)
    assert "wiki" not in remote_by_name(applied)
    assert OTHER_SECRET not in json.dumps(applied.emulator.connectors)
    assert not any(OTHER_SECRET in text for text in applied.outputs)
    assert not any(OTHER_SECRET.encode() in p.read_bytes() for p in applied.root.rglob("*") if p.is_file())


def test_an_update_whose_patch_body_sends_a_field_it_does_not_show_is_refused(applied):
    applied.write("docs.yaml", applied.service("docs", excludes=["raw"]))
    doc = _planned(applied)
    update = next(c for c in doc["changes"] if c["action"] == "update")
    assert update["payload"] == {"excludes": ["raw"]}
    update["payload"]["url"] = "https://attacker.example.com/search"
    _save(applied, doc)
    _refused_by_show_and_apply(applied, f"the update of docs: {DISAGREES} at url")


def test_an_update_sending_an_auth_object_whole_shows_its_secret_and_a_swapped_variable_is_refused(applied):
    """An update of an auth object sends it whole, its secret with it: the plan shows that
    variable (as sent), so pointing the body at another variable disagrees with what is shown."""
    from e2e import CLIENT_SECRET

    env = {"DRIVE_SECRET": CLIENT_SECRET, "OTHER_SECRET": OTHER_SECRET}
    oauth = {"client_id": "cid", "client_secret": "${DRIVE_SECRET}", "scope": "read"}
    oauth |= {"authorize_url": "https://auth.example.com/authorize", "token_url": "https://auth.example.com/token"}
    applied.write("drive.yaml", applied.connector("drive", oauth=oauth))
    assert applied.run("apply", "--auto-approve", env=env).code == 0
    applied.write("drive.yaml", applied.connector("drive", oauth={**oauth, "scope": "read write"}))
    doc = _planned(applied, env)
    update = next(c for c in doc["changes"] if c["name"] == "drive")
    assert {c["path"]: c.get("ref") for c in update["changes"]} == {
        "oauth.scope": None,
        "oauth.client_secret": "DRIVE_SECRET",
    }
    update["payload"]["oauth"]["client_secret"] = "${OTHER_SECRET}"
    _save(applied, doc)
    _refused_by_show_and_apply(applied, f"the update of drive: {DISAGREES} at oauth.client_secret", env)
    assert OTHER_SECRET not in json.dumps(applied.emulator.connectors)
    assert not any(OTHER_SECRET in text for text in applied.outputs)


def test_a_replacement_that_sends_an_unshown_field_is_refused_before_any_write(applied):
    """A replacement shows only what differs from the connector: the other fields of its body
    (edited here together with its applied view, so the file agrees with itself) are checked
    against the connector as apply finds it."""
    applied.write("docs.yaml", applied.service("docs", description="Team docs"))
    doc = _planned(applied)
    replace = next(c for c in doc["changes"] if c["action"] == "replace")
    assert [c["path"] for c in replace["changes"]] == ["description", "service_auth.token"]
    replace["payload"]["url"] = replace["applied"]["url"] = "https://attacker.example.com/search"
    _save(applied, doc)
    assert applied.run("show", "plan.json").code == 0  # it shows no url: apply must not send one
    writes = count(applied, "POST") + _deleted(applied)
    refused = applied.run("apply", "plan.json")
    assert refused.code == 1, refused.both
    assert f"replace of docs ({replace['remote_id']}): {DISAGREES} and the connector at url" in refused.err
    assert count(applied, "POST") + _deleted(applied) == writes

    _planned(applied)  # the file as planned is applied
    ok = applied.run("apply", "plan.json")
    assert ok.code == 0, ok.both
    assert remote_by_name(applied)["docs"]["description"] == "Team docs"


def test_a_plan_file_of_every_action_round_trips_through_show_and_apply(applied):
    from e2e import CLIENT_SECRET, converged

    oauth = {
        "client_id": "cid",
        "client_secret": "${DRIVE_SECRET}",
        "authorize_url": "https://auth.example.com/authorize",
        "token_url": "https://auth.example.com/token",
        "scope": "read",
    }
    applied.env["DRIVE_SECRET"] = CLIENT_SECRET
    applied.write("drive.yaml", applied.connector("drive", oauth=oauth))
    applied.write("tickets.yaml", applied.service("tickets"))
    assert applied.run("apply", "--auto-approve").code == 0
    applied.write("drive.yaml", applied.connector("drive", oauth={**oauth, "scope": "read write"}))
    applied.write("docs.yaml", applied.service("docs", excludes=["raw", "a"], active=False))
    applied.write("tickets.yaml", applied.service("tickets", description="Tickets"))
    applied.write("wiki.yaml", applied.service("wiki", description="", excludes=[], continue_on_failure=True))
    doc = _planned(applied)
    assert doc["summary"] == {"create": 1, "update": 2, "replace": 1, "delete": 0, "noop": 0}
    drive = next(c for c in doc["changes"] if c["name"] == "drive")
    assert drive["payload"]["oauth"]["client_secret"] == "${DRIVE_SECRET}"  # sent whole, with its secret
    shown = applied.run("show", "plan.json")
    assert re.search(r'~ oauth\.scope +=  ?"read" -> "read write"', shown.out), shown.out
    # the client secret is sent whole with its object: shown with its variable, as sent, not changed
    assert re.search(r"~ oauth\.client_secret += \(sensitive, sent, from \$\{DRIVE_SECRET\}\)", shown.out)
    done = applied.run("apply", "plan.json")
    assert done.code == 0, done.both
    remote = remote_by_name(applied)
    assert remote["drive"]["oauth"]["scope"] == "read write" and remote["docs"]["active"] is False
    assert remote["tickets"]["description"] == "Tickets" and remote["wiki"]["continue_on_failure"] is True
    converged(applied)
