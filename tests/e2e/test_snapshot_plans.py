"""Plans without the API key (against the org snapshot a trusted run keeps in the state) and
applies that carry out only the plan they make, checked against reviewed plans: the CLI
against the emulator."""

from __future__ import annotations

import json

from e2e import FP_KEY, Project, count, remote_by_name

NO_SECRETS = {"CO_API_KEY": "", "CONN_TOKEN": "", "CONN_RECONCILE_FINGERPRINT_KEY": ""}


def test_a_plan_against_the_snapshot_needs_no_key_and_sends_no_request(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    missing = project.run("plan", "--against-snapshot", env=NO_SECRETS)
    assert missing.code == 1 and "holds no snapshot of the org" in missing.err
    stored = project.run("snapshot")
    assert stored.code == 0 and "Stored a snapshot of 0 connector(s), taken" in stored.out, stored.both
    requests = len(project.emulator.requests)
    run = project.run("plan", "--against-snapshot", "--detailed-exitcode", env=NO_SECRETS)
    assert run.code == 2, run.both
    assert "+ create docs" in run.out and "Planned without the API key, against the org snapshot taken" in run.out
    assert "by snapshot (0 min old)" in run.out
    assert len(project.emulator.requests) == requests  # not one request to the API


def test_an_apply_refreshes_the_snapshot_so_the_next_plan_sees_its_changes(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    assert project.run("snapshot").code == 0
    assert project.run("apply", "--auto-approve").code == 0
    assert project.state()["org"]["by"] == "apply"
    run = project.run("plan", "--against-snapshot", "--detailed-exitcode", env=NO_SECRETS)
    assert run.code == 0 and "No changes." in run.out, run.both
    project.write("docs.yaml", project.service("docs", excludes=["raw"]))
    run = project.run("plan", "--against-snapshot", "--format", "markdown", env=NO_SECRETS)
    assert run.code == 0 and "update" in run.out and "[!NOTE]" in run.out


def test_a_snapshot_of_another_org_is_refused(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    assert project.run("snapshot").code == 0
    run = project.run("plan", "--against-snapshot", env={**NO_SECRETS, "CO_API_URL": "https://api.example.invalid"})
    assert run.code == 1 and "the org snapshot in the state is of" in run.err


def test_probe_is_refused_with_the_snapshot(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    assert project.run("snapshot").code == 0
    run = project.run("plan", "--against-snapshot", "--probe", env=NO_SECRETS)
    assert run.code == 1 and "cannot run with --against-snapshot" in run.err


def _reviewed_plan(project: Project, name: str = "reviewed.json") -> None:
    assert project.run("snapshot").code == 0
    run = project.run("plan", "--against-snapshot", "--out", name, env=NO_SECRETS)
    assert run.code == 0, run.both


def test_apply_carries_out_its_own_plan_when_it_is_the_reviewed_one(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    _reviewed_plan(project)
    run = project.run("apply", "--auto-approve", "--reviewed-plan", "reviewed.json")
    assert run.code == 0, run.both
    assert set(remote_by_name(project)) == {"docs"}


def test_apply_refuses_before_any_write_when_its_plan_is_not_the_reviewed_one(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    _reviewed_plan(project)
    project.write("wiki.yaml", project.service("wiki"))  # merged after the review
    run = project.run("apply", "--auto-approve", "--reviewed-plan", "reviewed.json")
    assert run.code == 1 and "wiki" in run.err and "differs from the reviewed plan" in run.err, run.both
    assert count(project, "POST") == 0 and project.emulator.connectors == []


def test_a_rotated_secret_is_sent_by_apply_and_named_though_no_reviewed_plan_could_see_it(project: Project) -> None:
    fp = {"CONN_RECONCILE_FINGERPRINT_KEY": FP_KEY}
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve", env=fp).code == 0
    _reviewed_plan(project)
    docs = remote_by_name(project)["docs"]
    patches = count(project, "PATCH", f"/v1/connectors/{docs['id']}")
    rotated = {**fp, "CONN_TOKEN": "CANARY-e2e-token-5f1b9a3c-rotated"}
    run = project.run("apply", "--auto-approve", "--reviewed-plan", "reviewed.json", env=rotated)
    assert run.code == 0, run.both
    assert "sends secrets whose values changed" in run.err and "docs" in run.err
    assert count(project, "PATCH", f"/v1/connectors/{docs['id']}") == patches + 1


def test_a_saved_plan_and_reviewed_plans_do_not_mix(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    _reviewed_plan(project)
    run = project.run("apply", "reviewed.json", "--reviewed-plan", "reviewed.json")
    assert run.code == 1 and "--reviewed-plan checks the plan apply makes now" in run.err


def test_snapshot_json_names_what_it_stored(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    run = project.run("snapshot", "--format", "json")
    doc = json.loads(run.out)
    assert doc["connectors"] == 1 and doc["taken_at"].endswith("Z")
