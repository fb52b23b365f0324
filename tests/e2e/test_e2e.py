"""End to end: the CLI's commands against the emulator and a real connector endpoint on loopback
(validate, plan, apply, saved plans, renames, secret rotation, prune, import, drift). Each test
checks the remote state after apply, and convergence (a second plan is clean)."""

from __future__ import annotations

import json

import pytest
from e2e import CLIENT_SECRET, FP_KEY, TOKEN, converged, remote_by_name

pytestmark = pytest.mark.e2e


def test_validate_plan_apply_converges(project):
    project.write("docs.yaml", project.service("docs", description="Docs", excludes=["raw"], continue_on_failure=True))
    project.write("nested/tickets.yml", project.service("tickets", active=False))
    project.write(
        "drive.yaml",
        project.connector(
            "drive",
            oauth={
                "client_id": "cid",
                "client_secret": "${DRIVE_SECRET}",
                "authorize_url": "https://auth.example.com/authorize",
                "token_url": "https://auth.example.com/token",
                "scope": "read",
            },
        ),
    )
    project.env["DRIVE_SECRET"] = CLIENT_SECRET

    v = project.run("validate")
    assert v.code == 0, v.both
    assert "3 connector file(s) valid." in v.err

    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.both
    assert "+ create docs  connectors/docs.yaml" in plan.out
    assert "+ create tickets  connectors/nested/tickets.yml" in plan.out
    assert "+ service_auth.token = (sensitive, from ${CONN_TOKEN})" in plan.out
    assert "Plan: 3 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged." in plan.out
    assert project.emulator.connectors == []  # plan changed nothing

    apply = project.run("apply", "--auto-approve")
    assert apply.code == 0, apply.both
    assert "Apply complete: 3 created, 0 failed." in apply.out
    remote = remote_by_name(project)
    assert set(remote) == {"docs", "tickets", "drive"}
    assert remote["docs"]["description"] == "Docs" and remote["docs"]["excludes"] == ["raw"]
    assert remote["docs"]["continue_on_failure"] is True
    assert remote["tickets"]["active"] is False
    assert remote["docs"]["service_auth"] == {"type": "bearer", "token": TOKEN}
    assert remote["drive"]["oauth"]["client_secret"] == CLIENT_SECRET
    # the registration test reached the real endpoint with the service token (oauth is not tested)
    assert len(project.endpoint.queries) == 2 and all(isinstance(q["query"], str) for q in project.endpoint.queries)
    # the tool identifies itself
    assert all(r.client_name == "conn-reconcile" for r in project.emulator.requests if r.path.startswith("/v1"))

    state = project.state()
    assert {r["name"] for r in state["connectors"].values()} == {"docs", "tickets", "drive"}
    converged(project)


def test_update_shows_field_changes_and_patches_in_place(project):
    project.write("docs.yaml", project.service("docs", excludes=["a"]))
    assert project.run("apply", "--auto-approve").code == 0
    before = remote_by_name(project)["docs"]

    project.write("docs.yaml", project.service("docs", excludes=["a", "b"], active=False))
    plan = project.run("plan")
    assert plan.code == 0, plan.both
    assert f"~ update docs ({before['id']})" in plan.out
    assert "~ active   = true -> false" in plan.out
    assert '~ excludes = ["a"] -> ["a", "b"]' in plan.out
    assert "1 to update" in plan.out

    apply = project.run("apply", "--auto-approve")
    assert apply.code == 0, apply.both
    after = remote_by_name(project)["docs"]
    assert after["id"] == before["id"] and after["active"] is False and after["excludes"] == ["a", "b"]
    converged(project)


def test_description_change_is_a_replacement(project):
    project.write("docs.yaml", project.service("docs", description="old"))
    assert project.run("apply", "--auto-approve").code == 0
    old_id = remote_by_name(project)["docs"]["id"]

    project.write("docs.yaml", project.service("docs", description="new"))
    plan = project.run("plan")
    assert f"-/+ replace docs ({old_id})" in plan.out
    assert "# description cannot be updated in place" in plan.out
    assert '~ description        = "old" -> "new"   # forces replacement' in plan.out

    assert project.run("apply", "--auto-approve").code == 0
    (new,) = project.emulator.connectors
    assert new["id"] != old_id and new["description"] == "new"
    converged(project)


def test_unmanaged_remote_connectors_are_listed_and_left_alone(project):
    project.emulator.seed({"name": "legacy", "url": "https://legacy.example.com/search"}, id="legacy-abc123")
    project.write("docs.yaml", project.service("docs"))
    plan = project.run("plan")
    assert "legacy (legacy-abc123): not managed by conn-reconcile" in plan.out
    assert project.run("apply", "--auto-approve").code == 0
    assert set(remote_by_name(project)) == {"legacy", "docs"}
    # even --prune leaves it: it was never managed
    prune = project.run("plan", "--prune", "--detailed-exitcode")
    assert prune.code == 0 and "0 to delete" not in prune.out and "No changes." in prune.out


def test_apply_without_a_tty_refuses_unless_auto_approved(project):
    project.write("docs.yaml", project.service("docs"))
    refused = project.run("apply", stdin="yes\n")
    assert refused.code == 1
    assert "stdin is not a terminal; pass --auto-approve" in refused.err
    assert project.emulator.connectors == []


def test_registration_failure_fails_that_connector_only_and_a_rerun_converges(project):
    project.write("good.yaml", project.service("good"))
    project.write("bad.yaml", project.connector("bad", service_auth={"type": "bearer", "token": "${BAD_TOKEN}"}))
    project.env["BAD_TOKEN"] = "CANARY-wrong-token-3e1f"  # the endpoint answers 401 to it
    apply = project.run("apply", "--auto-approve")
    assert apply.code == 3, apply.both  # something changed and something failed
    assert "created good" in apply.out
    assert "failed bad" in apply.out and "registration" in apply.out
    assert "Apply finished with errors: 1 created, 1 failed." in apply.out
    assert "CANARY-wrong-token-3e1f" not in apply.both
    assert set(remote_by_name(project)) == {"good"}

    project.env["BAD_TOKEN"] = TOKEN
    rerun = project.run("apply", "--auto-approve")
    assert rerun.code == 0, rerun.both
    assert set(remote_by_name(project)) == {"good", "bad"}
    converged(project)


def test_unset_secret_variable_is_an_error_before_any_change(project):
    project.write("a.yaml", project.service("a"))
    project.write("b.yaml", project.connector("b", service_auth={"type": "basic", "token": "${MISSING_VAR}"}))
    apply = project.run("apply", "--auto-approve")
    assert apply.code == 1
    assert "connectors/b.yaml:5: service_auth.token: ${MISSING_VAR} is not set; the create of b sends it" in apply.err
    assert project.emulator.connectors == []
    # checked against the plan (what it sends), before any write: the org was only listed
    assert {r.method for r in project.emulator.requests} == {"GET"}


def test_saved_plan_applies_exactly_and_refuses_when_stale(project):
    project.write("docs.yaml", project.service("docs", description="d"))
    project.write("wiki.yaml", project.service("wiki"))
    saved = project.run("plan", "--out", "plan.json")
    assert saved.code == 0, saved.both
    doc = json.loads((project.root / "plan.json").read_text())
    assert doc["format_version"] == 2 and doc["summary"]["create"] == 2
    assert doc["changes"][0]["payload"]["service_auth"]["token"] == "${CONN_TOKEN}"

    shown = project.run("show", "plan.json")
    assert "+ create docs" in shown.out and "Plan: 2 to create" in shown.out
    shown_json = project.run("show", "plan.json", "--json")
    assert json.loads(shown_json.out)["summary"] == doc["summary"]

    # the files change after the plan: apply PLANFILE does not re-read them
    (project.connectors / "wiki.yaml").unlink()
    applied = project.run("apply", "plan.json")
    assert applied.code == 0, applied.both
    assert set(remote_by_name(project)) == {"docs", "wiki"}

    # a plan against the new state, then the org moves: stale
    project.write("docs.yaml", project.service("docs", description="d", active=False))
    assert project.run("plan", "--out", "plan2.json").code == 0
    docs_id = remote_by_name(project)["docs"]["id"]
    project.remote_patch(docs_id, {"url": project.endpoint.url + "/elsewhere"})
    stale = project.run("apply", "plan2.json")
    assert stale.code == 1
    assert "stale plan" in stale.err and docs_id in stale.err
    assert remote_by_name(project)["docs"]["active"] is True  # nothing applied


def test_saved_plan_is_stale_when_a_same_named_connector_appeared(project):
    project.write("docs.yaml", project.service("docs"))
    assert project.run("plan", "--out", "plan.json").code == 0
    project.emulator.seed({"name": "docs", "url": "https://x.example.com"}, id="docs-zzz999")
    stale = project.run("apply", "plan.json")
    assert stale.code == 1 and "appeared remotely since the plan" in stale.err
    assert len(project.emulator.connectors) == 1


def test_rename_with_state_is_a_patch_keeping_the_id(project):
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    (before,) = project.emulator.connectors

    project.write("docs.yaml", project.service("handbook"))
    plan = project.run("plan")
    assert f"~ update handbook ({before['id']})" in plan.out
    assert '~ name = "docs" -> "handbook"' in plan.out
    assert project.run("apply", "--auto-approve").code == 0
    (after,) = project.emulator.connectors
    assert after["id"] == before["id"] and after["name"] == "handbook"
    converged(project)


def test_rename_with_pinned_id_and_no_state(project):
    seeded = project.emulator.seed({"name": "old-name", "url": project.endpoint.url + "/x"}, id="old-name-q1w2e3")
    project.write("x.yaml", {"id": seeded["id"], **project.connector("new-name")})
    plan = project.run("plan")
    assert '~ name = "old-name" -> "new-name"' in plan.out
    assert project.run("apply", "--auto-approve").code == 0
    (after,) = project.emulator.connectors
    assert after["id"] == "old-name-q1w2e3" and after["name"] == "new-name"


def test_secret_rotation_with_fingerprints(project):
    project.env["CONN_RECONCILE_FINGERPRINT_KEY"] = FP_KEY
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    fps = next(iter(project.state()["connectors"].values()))["fingerprints"]
    assert fps["service_auth.token"].startswith("hmac-sha256:")
    converged(project)

    new_token = "CANARY-rotated-token-8a2d"
    project.endpoint.token = new_token
    plan = project.run("plan", env={"CONN_TOKEN": new_token})
    assert "~ service_auth.token = (sensitive, changed, from ${CONN_TOKEN})" in plan.out
    apply = project.run("apply", "--auto-approve", env={"CONN_TOKEN": new_token})
    assert apply.code == 0, apply.both
    assert project.emulator.connectors[0]["service_auth"]["token"] == new_token
    assert new_token not in "".join(project.outputs)
    clean = project.run("plan", "--detailed-exitcode", env={"CONN_TOKEN": new_token})
    assert clean.code == 0, clean.both


def test_without_state_secrets_are_not_compared_and_rotate_secrets_sends_them(project):
    project.emulator.seed(
        {
            "name": "docs",
            "url": project.endpoint.url + "/docs/search",
            "service_auth": {"type": "bearer", "token": "old"},
        },
        id="docs-aaa111",
    )
    project.write("docs.yaml", project.service("docs"))
    plan = project.run("plan")
    assert "secrets of 1 connector(s) were not compared" in plan.out
    rotate = project.run("apply", "--auto-approve", "--rotate-secrets")
    assert rotate.code == 0, rotate.both
    assert project.emulator.connectors[0]["service_auth"]["token"] == TOKEN


def test_prune_deletes_only_managed_connectors_with_safeguards(project):
    for name in ("a", "b", "c"):
        project.write(f"{name}.yaml", project.service(name))
    assert project.run("apply", "--auto-approve").code == 0
    project.emulator.seed({"name": "handmade", "url": "https://h.example.com"}, id="handmade-h1h1h1")

    (project.connectors / "b.yaml").unlink()
    (project.connectors / "c.yaml").unlink()
    plain = project.run("plan")
    assert "Managed connectors removed from git (--prune deletes them):\n  b (" in plain.out
    assert "managed, removed from git" in plain.out
    assert "No changes." in plain.out

    limited = project.run("plan", "--prune", "--max-deletes", "1")
    assert limited.code == 1 and "more than --max-deletes 1" in limited.err

    protected = project.run("plan", "--prune", "--protect", "c*")
    assert "- delete b" in protected.out and "1 to delete" in protected.out
    assert "c (" in protected.out and "protected" in protected.out

    apply = project.run("apply", "--auto-approve", "--prune")
    assert apply.code == 0, apply.both
    assert "2 deleted" in apply.out
    assert set(remote_by_name(project)) == {"a", "handmade"}
    converged(project, "--prune")


def test_prune_refuses_an_empty_desired_set(project):
    project.write("a.yaml", project.service("a"))
    assert project.run("apply", "--auto-approve").code == 0
    (project.connectors / "a.yaml").unlink()
    refused = project.run("apply", "--auto-approve", "--prune")
    assert refused.code == 1 and "no connector files were found" in refused.err
    assert len(project.emulator.connectors) == 1


def test_import_then_plan_shows_only_unbound_placeholders(project):
    project.emulator.seed(
        {
            "name": "Team Docs",
            "description": "d",
            "url": "https://docs.example.com/s",
            "excludes": ["x"],
            "service_auth": {"type": "bearer", "token": "server-side"},
        },
        id="team-docs-abc123",
    )
    project.emulator.seed(
        {
            "name": "drive",
            "url": "https://drive.example.com/s",
            "oauth": {
                "client_id": "c",
                "client_secret": "s",
                "authorize_url": "https://a.example.com/a",
                "token_url": "https://a.example.com/t",
            },
        },
        id="drive-def456",
    )
    imported = project.run("import", "--dir", "connectors")
    assert imported.code == 0, imported.both
    text = (project.connectors / "team-docs.yaml").read_text()
    assert "id: team-docs-abc123" in text and "${TEAM_DOCS_TOKEN}" in text
    assert project.run("validate").code == 0
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.both
    assert "No changes." in plan.out
    assert "unbound: ${TEAM_DOCS_TOKEN}" in plan.out and "unbound: ${DRIVE_CLIENT_SECRET}" in plan.out


def test_drift_is_told_apart_from_git_changes(project):
    project.write("docs.yaml", project.service("docs", excludes=["a"]))
    assert project.run("apply", "--auto-approve").code == 0
    (remote,) = project.emulator.connectors
    project.remote_patch(remote["id"], {"active": False})
    project.write("docs.yaml", project.service("docs", excludes=["a", "b"]))
    plan = project.run("plan")
    assert "~ active   = false -> true   # changed remotely since last apply" in plan.out
    assert '~ excludes = ["a"] -> ["a", "b"]   # changed in git' in plan.out


def test_plan_json_and_markdown_are_secret_free(project, tmp_path):
    project.write("docs.yaml", project.service("docs"))
    summary = tmp_path / "summary.md"
    md = project.run("plan", "--format", "markdown", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert md.code == 0 and "<!-- conn-reconcile-plan -->" in md.out
    assert summary.read_text() == md.out
    js = project.run("plan", "--json")
    doc = json.loads(js.out)
    assert doc["changes"][0]["action"] == "create"
    assert TOKEN not in summary.read_text()
