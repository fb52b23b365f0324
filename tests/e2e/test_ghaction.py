"""The action's logic (``python -m conn_reconcile.github.action``) end to end, run as a runner runs
it (``ghrunner.action``): in the connectors repo, with the emulator as the Cohere org and a fake
GitHub API on loopback; in process, except in the test marked ``cli_subprocess``, where the module
and its CLI runs are child processes, exactly as on a runner."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e import Project, count, remote_by_name
from fakegithub import FakeGitHub
from ghrunner import SHA, action, commit, head, pr_event, pr_plan, publish_plan


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


def test_validate_annotates_a_broken_file(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    assert action(project, "validate").code == 0
    project.write("bad.yaml", "name: bad\nurl: 12\nsurprise: true\n")
    run = action(project, "validate")
    assert run.code == 1 and "::error file=connectors/bad.yaml" in run.out + run.err, run


def test_plan_writes_outputs_summary_and_one_sticky_comment(project: Project, github: FakeGitHub) -> None:
    github.comments[1] = {
        "issue": 7,
        "body": "<!-- conn-reconcile-plan --> quoted by a human",
        "user": {"login": "bob"},
    }
    project.write("docs.yaml", project.service("docs"))
    assert project.run("snapshot").code == 0
    run = pr_plan(project, github)
    assert run.code == 0, run
    assert "against the org snapshot taken" in body_of(project)
    assert run.outputs == {
        "has_changes": "true",
        "plan_path": "conn-reconcile-plan.json",
        "comment_path": "conn-reconcile-comment.md",
    }
    assert (project.root / "conn-reconcile-plan.json").is_file()
    assert "### conn-reconcile plan" in run.summary and "docs" in run.summary
    body = (project.root / "conn-reconcile-comment.md").read_text(encoding="utf-8")
    assert body.startswith("<!-- conn-reconcile-plan -->\n**conn-reconcile plan** (has changes) for `" + SHA)
    ours = [c for c in github.comments.values() if c["user"]["login"] == "github-actions[bot]"]
    assert [c["body"] for c in ours] == [body] and github.comments[1]["body"].endswith("by a human")
    # the next push updates the same comment
    project.write("docs.yaml", project.service("docs", description="Docs v2"))
    assert pr_plan(project, github).code == 0
    ours = [c for c in github.comments.values() if c["user"]["login"] == "github-actions[bot]"]
    assert len(ours) == 1 and "Docs v2" in ours[0]["body"]
    assert [r[0] for r in github.requests].count("POST") == 1 and [r[0] for r in github.requests].count("PATCH") == 1


def test_plan_without_changes_and_without_posting(project: Project, github: FakeGitHub) -> None:
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    run = action(project, "plan", event=pr_event(), github=github, post="false")
    assert run.code == 0 and run.outputs["has_changes"] == "false"
    assert github.requests == []
    assert "(no changes)" in (project.root / "conn-reconcile-comment.md").read_text(encoding="utf-8")


def test_plan_fails_on_an_error(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    run = action(project, "plan", env="nope")
    assert run.code == 1 and "::error::conn-reconcile plan failed" in run.err and run.outputs == {}


def body_of(project: Project) -> str:
    return (project.root / "conn-reconcile-comment.md").read_text(encoding="utf-8")


def _reviewed(project: Project, name: str = "reviewed.json") -> None:
    """A pull request's plan of docs and wiki, saved as ``name``."""
    project.write("docs.yaml", project.service("docs"))
    project.write("wiki.yaml", project.service("wiki"))
    assert project.run("snapshot").code == 0
    run = pr_plan(project, plan_path=name)
    assert run.code == 0, run


def test_apply_applies_the_plan_it_makes_when_it_is_the_reviewed_one(project: Project) -> None:
    _reviewed(project)
    commit(project)
    run = action(project, "apply", reviewed_plan="reviewed.json", trusted=True)
    assert run.code == 0, run
    assert run.outputs == {"plan_matches": "true", "applied": "true"}
    assert set(remote_by_name(project)) == {"docs", "wiki"}
    assert project.run("plan", "--detailed-exitcode").code == 0
    assert project.state()["applied_commit"] == head(project)


def test_apply_refuses_before_any_write_when_another_change_was_merged(project: Project) -> None:
    _reviewed(project)
    project.write("wiki.yaml", project.service("wiki", description="edited after the review"))
    commit(project)
    run = action(project, "apply", reviewed_plan="reviewed.json", trusted=True)
    assert run.code == 1 and "the plan made now is not what was reviewed" in run.err
    assert run.outputs == {"applied": "false", "plan_matches": "false"}
    assert "is out of date" in run.summary and "| wiki |" in run.summary
    assert "edited after the review" in run.out
    assert count(project, "POST") == 0 and project.emulator.connectors == []


def test_apply_refuses_when_the_org_drifted(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    assert project.run("snapshot").code == 0
    project.write("docs.yaml", project.service("docs", excludes=["raw"]))
    assert pr_plan(project, plan_path="reviewed.json").code == 0
    docs = remote_by_name(project)["docs"]
    project.remote_patch(docs["id"], {"active": False})
    patches = count(project, "PATCH", f"/v1/connectors/{docs['id']}")
    commit(project)
    run = action(project, "apply", reviewed_plan="reviewed.json", trusted=True)
    assert run.code == 1 and run.outputs["applied"] == "false"
    assert count(project, "PATCH", f"/v1/connectors/{docs['id']}") == patches


@pytest.mark.slow
@pytest.mark.cli_subprocess  # the whole chain as on a runner: the module and its CLI runs as processes
def test_apply_on_a_push_checks_its_plan_against_the_verified_artifact_of_the_merged_pull_request(
    project: Project, github: FakeGitHub
) -> None:
    _reviewed(project)
    reviewed = (project.root / "reviewed.json").read_bytes()
    sha = commit(project)
    publish_plan(github, 3, "f" * 40, b"{}")
    publish_plan(github, 9, sha, b"{}", created_at="2026-01-01T00:00:00Z")  # an older push of the PR
    github.runs[max(github.runs)]["head_sha"] = "e" * 40
    github.artifacts[-1]["workflow_run"]["head_sha"] = "e" * 40
    publish_plan(github, 9, sha, reviewed)
    # a plan file committed to the repository is never taken for the reviewed one
    (project.root / "conn-reconcile-plan.json").write_text("planted", encoding="utf-8")
    run = action(project, "apply", github=github, post="false", trusted=True)
    assert run.code == 0, run
    assert "Reviewed plan of pull request #9: artifact conn-reconcile-plan-pr9 of run" in run.out
    assert set(remote_by_name(project)) == {"docs", "wiki"}
    assert github.storage_auth and set(github.storage_auth) == {None}, "the token must not follow the redirect"
    assert (project.root / "conn-reconcile-plan.json").read_text(encoding="utf-8") == "planted"


def test_apply_on_a_push_without_a_merged_pull_request_fails(project: Project, github: FakeGitHub) -> None:
    project.write("docs.yaml", project.service("docs"))
    sha = commit(project)
    run = action(project, "apply", github=github, trusted=True)
    assert run.code == 1 and f"no pull request was merged as {sha}" in run.err
    github.pulls[sha] = [{"number": 9, "merge_commit_sha": sha}]
    github.pulls_by_number[9] = {
        "merged": True,
        "merge_commit_sha": sha,
        "head": {"sha": "9" * 40, "ref": "b", "repo": {"full_name": "acme/connectors"}},
    }
    run = action(project, "apply", github=github, trusted=True)
    assert run.code == 1 and "pull request #9 has no plan artifact conn-reconcile-plan-pr9" in run.err
    assert project.emulator.connectors == []


def test_apply_without_a_reviewed_plan_fails(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    assert action(project, "plan").code == 0  # a plan, but nobody said it was reviewed
    commit(project)
    run = action(project, "apply", trusted=True)
    assert run.code == 1 and "no reviewed plan: give the reviewed-plan input" in run.err
    run = action(project, "apply", reviewed_plan="missing.json", trusted=True)
    assert run.code == 1 and "no reviewed plan at missing.json" in run.err
    assert project.emulator.connectors == []


def test_drift_opens_updates_and_closes_one_labelled_issue_and_refreshes_the_snapshot(
    project: Project, github: FakeGitHub
) -> None:
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    commit(project)
    run = action(project, "drift", github=github, trusted=True)
    assert run.code == 0 and run.outputs == {"drift": "false", "issue": "close", "label": "conn-reconcile-drift"}
    assert github.issues == {} and project.state()["org"]["by"] == "snapshot"
    docs = remote_by_name(project)["docs"]
    project.remote_patch(docs["id"], {"url": project.endpoint.url + "/elsewhere"})
    for _ in range(2):
        run = action(project, "drift", github=github, trusted=True)
        assert run.code == 0 and run.outputs["drift"] == "true" and run.outputs["issue"] == "open"
    (issue,) = github.issues.values()
    assert issue["labels"] == ["conn-reconcile-drift"] and issue["state"] == "open"
    body = Path(run.outputs["issue_path"]).read_text(encoding="utf-8")
    assert body.startswith("<!-- conn-reconcile-drift -->") and issue["body"] == body and "docs" in body
    assert not Path(run.outputs["issue_path"]).is_relative_to(project.root)  # never written into the checkout
    snapshot = {c["id"]: c for c in project.state()["org"]["connectors"]}
    assert snapshot[docs["id"]]["url"].endswith("/elsewhere")  # the pull requests now plan against this
    assert project.run("apply", "--auto-approve").code == 0
    run = action(project, "drift", github=github, trusted=True)
    assert run.outputs["issue"] == "close" and issue["state"] == "closed"


def test_a_bad_token_fails_without_printing_it(project: Project, github: FakeGitHub) -> None:
    project.write("docs.yaml", project.service("docs"))
    run = action(project, "plan", event=pr_event(), github=github, token="ghs-a-wrong-token")
    assert run.code == 1 and "HTTP 401" in run.err
    assert "ghs-a-wrong-token" not in run.out + run.err and github.comments == {}


def test_an_unknown_command_is_a_usage_error(project: Project) -> None:
    run = action(project, "destroy")
    assert run.code == 64 and "usage" in run.err


def test_no_absolute_path_of_the_runner_leaks_into_outputs(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    run = action(project, "plan")
    assert all(not os.path.isabs(v) for v in run.outputs.values()), run.outputs
    assert not Path(run.outputs["plan_path"]).is_absolute()


def test_a_manual_apply_needs_the_typed_confirmation_then_applies_a_fresh_plan(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    commit(project)
    refused = action(project, "apply", event_name="workflow_dispatch", confirm="yes", trusted=True)
    assert refused.code != 0
    assert "type 'apply a fresh plan' into the confirm input" in refused.err
    assert count(project, "POST") == 0 and project.emulator.connectors == []

    done = action(project, "apply", event_name="workflow_dispatch", confirm="apply a fresh plan", trusted=True)
    assert done.code == 0, done.out + done.err
    assert done.outputs["applied"] == "true" and done.outputs["plan_matches"] == "false"
    assert set(remote_by_name(project)) == {"docs"}


def test_secrets_are_mapped_by_name_from_the_secrets_input(project: Project) -> None:
    """A trusted job may pass secrets as JSON: the action takes the variables the files need
    (and the API key) by name, and nothing else reaches the CLI."""
    from e2e import API_KEY, TOKEN

    project.write("docs.yaml", project.service("docs"))
    commit(project)
    secrets = {"CO_API_KEY": API_KEY, "CONN_TOKEN": TOKEN, "UNRELATED": "CANARY-unrelated-3f9a", "github_token": "x"}
    missing = action(project, "plan", unset=("CO_API_KEY", "CONN_TOKEN"))
    assert missing.code != 0  # no key and no token: strict secrets (or the missing key) stop it

    run = action(
        project,
        "apply",
        event_name="workflow_dispatch",
        confirm="apply a fresh plan",
        unset=("CO_API_KEY", "CONN_TOKEN"),
        secrets=json.dumps(secrets),
        trusted=True,
    )
    assert run.code == 0, run.out + run.err
    assert set(remote_by_name(project)) == {"docs"}  # created: the endpoint accepted CONN_TOKEN
    assert "CANARY-unrelated-3f9a" not in run.out + run.err

    # what the CLI gets: the needed names only, and never the input itself
    from conn_reconcile.github.action import map_secrets

    base = {k: v for k, v in project.full_env().items() if k not in ("CO_API_KEY", "CONN_TOKEN")}
    with contextlib.chdir(project.root):
        mapped = map_secrets({**base, "INPUT_SECRETS": json.dumps(secrets)})
    assert mapped["CO_API_KEY"] == API_KEY and mapped["CONN_TOKEN"] == TOKEN
    assert "UNRELATED" not in mapped and "github_token" not in mapped and "INPUT_SECRETS" not in mapped


def test_a_secrets_input_that_is_not_a_json_object_is_refused(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    run = action(project, "plan", secrets="[1, 2]")
    assert run.code != 0 and "not a JSON object" in run.err


def test_a_refused_apply_comments_the_differences_on_the_merged_pull_request(
    project: Project, github: FakeGitHub
) -> None:
    _reviewed(project)
    reviewed = (project.root / "reviewed.json").read_bytes()
    project.write("wiki.yaml", project.service("wiki", description="merged after the review"))
    sha = commit(project)
    publish_plan(github, 9, sha, reviewed)
    run = action(project, "apply", github=github, trusted=True)
    assert run.code == 1 and "the plan made now is not what was reviewed" in run.err
    (comment,) = github.comments.values()
    assert comment["issue"] == 9 and "conn-reconcile apply refused" in comment["body"]
    assert "| wiki |" in comment["body"]
    assert project.emulator.connectors == []  # nothing applied
