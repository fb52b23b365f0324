"""The action's logic (``python -m conn_reconcile.ghaction``), run as the action runs it: in the
connectors repo with ``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``, an event payload, the emulator as
the Cohere org and a fake GitHub API on loopback.

In the test marked ``cli_subprocess`` the module is a real child process, whose CLI runs are child
processes too, exactly as on a runner. The other tests call the module's ``main`` in this process
(same arguments, environment and working directory), with each CLI run it makes in process too
(``e2e.invoke_cli``): the logic under test is the same, without two Python start-ups per step."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e import Project, count, invoke_cli, remote_by_name
from fakegithub import FakeGitHub

SHA = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class ActionRun:
    code: int
    out: str
    err: str
    outputs: dict[str, str]
    summary: str


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


def action(
    project: Project,
    command: str,
    *,
    event: dict[str, Any] | None = None,
    github: FakeGitHub | None = None,
    token: str | None = None,
    sha: str | None = None,
    event_name: str | None = None,
    unset: tuple[str, ...] = (),
    **inputs: str,
) -> ActionRun:
    gh = project.root / ".github-runner"  # under the project: the canary check reads these files too
    gh.mkdir(exist_ok=True)
    for name in ("output", "summary"):
        (gh / name).write_text("", encoding="utf-8")
    (gh / "event.json").write_text(json.dumps(event or {}), encoding="utf-8")
    env = {k: v for k, v in project.full_env().items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    env.update(
        GITHUB_OUTPUT=str(gh / "output"),
        GITHUB_STEP_SUMMARY=str(gh / "summary"),
        GITHUB_EVENT_PATH=str(gh / "event.json"),
        GITHUB_REPOSITORY="acme/connectors",
    )
    if github is not None:
        env.update(GITHUB_API_URL=github.url, GITHUB_TOKEN=token or github.token)
    if sha:
        env["GITHUB_SHA"] = sha
    if event_name:
        env["GITHUB_EVENT_NAME"] = event_name
    for name in unset:
        env.pop(name, None)
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    if project.in_process:
        proc = _in_process(command, env, project.root)
    else:
        proc = subprocess.run(
            [sys.executable, "-m", "conn_reconcile.ghaction", command],
            cwd=project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    project.outputs.append(proc.stdout + proc.stderr)
    lines = (gh / "output").read_text(encoding="utf-8").splitlines()
    outputs = dict(line.split("=", 1) for line in lines)
    if github is not None:
        assert env["GITHUB_TOKEN"] not in proc.stdout + proc.stderr
    return ActionRun(proc.returncode, proc.stdout, proc.stderr, outputs, (gh / "summary").read_text(encoding="utf-8"))


def _in_process(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``ghaction.main`` in this process, its CLI runs in process too (``run_cli``: stdout
    returned, stderr straight to the log, as in the child process)."""
    from conn_reconcile import ghaction

    def run_cli(args: Sequence[str], cli_env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        run = invoke_cli(list(args), dict(cli_env), cwd=Path.cwd())
        sys.stderr.write(run.err)
        return subprocess.CompletedProcess(list(args), run.code, run.out, None)

    out, err = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as mp,
        contextlib.chdir(cwd),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        mp.setattr(ghaction, "run_cli", run_cli)
        code = ghaction.main([command], env)
    return subprocess.CompletedProcess([command], code, out.getvalue(), err.getvalue())


def pr_event(number: int = 7) -> dict[str, Any]:
    return {"pull_request": {"number": number, "head": {"sha": SHA}}}


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
    run = action(project, "plan", event=pr_event(), github=github)
    assert run.code == 0, run
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
    assert action(project, "plan", event=pr_event(), github=github).code == 0
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


def _reviewed(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    project.write("wiki.yaml", project.service("wiki"))
    assert action(project, "plan", plan_path="reviewed.json").code == 0


def test_apply_applies_the_reviewed_plan_when_it_still_holds(project: Project) -> None:
    _reviewed(project)
    run = action(project, "apply", reviewed_plan="reviewed.json")
    assert run.code == 0, run
    assert run.outputs == {"plan_matches": "true", "applied": "true"}
    assert set(remote_by_name(project)) == {"docs", "wiki"}
    assert project.run("plan", "--detailed-exitcode").code == 0


def test_apply_refuses_before_any_write_when_another_change_was_merged(project: Project) -> None:
    _reviewed(project)
    project.write("wiki.yaml", project.service("wiki", description="edited after the review"))
    run = action(project, "apply", reviewed_plan="reviewed.json")
    assert run.code == 1 and "the reviewed plan is out of date" in run.err
    assert run.outputs == {"applied": "false", "plan_matches": "false"}
    assert "is out of date" in run.summary and "| wiki |" in run.summary
    assert "~ wiki: payload" in run.out and "edited after the review" in run.out
    assert count(project, "POST") == 0 and project.emulator.connectors == []


def test_apply_refuses_when_the_org_drifted(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    project.write("docs.yaml", project.service("docs", excludes=["raw"]))
    assert action(project, "plan", plan_path="reviewed.json").code == 0
    docs = remote_by_name(project)["docs"]
    project.remote_patch(docs["id"], {"active": False})
    patches = count(project, "PATCH", f"/v1/connectors/{docs['id']}")
    run = action(project, "apply", reviewed_plan="reviewed.json")
    assert run.code == 1 and run.outputs["applied"] == "false"
    assert count(project, "PATCH", f"/v1/connectors/{docs['id']}") == patches


def _zip(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(name, data)
    return buf.getvalue()


@pytest.mark.slow
@pytest.mark.cli_subprocess  # the whole chain as on a runner: the module and its CLI runs as processes
def test_apply_on_a_push_fetches_the_plan_reviewed_on_the_merged_pull_request(
    project: Project, github: FakeGitHub
) -> None:
    _reviewed(project)
    reviewed = (project.root / "reviewed.json").read_bytes()
    github.pulls[SHA] = [{"number": 3, "merge_commit_sha": "f" * 40}, {"number": 9, "merge_commit_sha": SHA}]
    github.artifacts = [
        {
            "id": 1,
            "name": "conn-reconcile-plan-pr9",
            "created_at": "2026-01-01T00:00:00Z",
            "expired": False,
            "zip": _zip("conn-reconcile-plan.json", b"{}"),
        },
        {
            "id": 2,
            "name": "conn-reconcile-plan-pr9",
            "created_at": "2026-01-02T00:00:00Z",
            "expired": False,
            "zip": _zip("conn-reconcile-plan.json", reviewed),
        },
        {
            "id": 3,
            "name": "conn-reconcile-plan-pr3",
            "created_at": "2026-01-03T00:00:00Z",
            "expired": False,
            "zip": _zip("conn-reconcile-plan.json", b"{}"),
        },
    ]
    # a plan file committed to the repository is never taken for the reviewed one
    (project.root / "conn-reconcile-plan.json").write_text("planted", encoding="utf-8")
    run = action(project, "apply", github=github, sha=SHA, post="false")
    assert run.code == 0, run
    assert "artifact conn-reconcile-plan-pr9 (pull request #9)" in run.out
    assert set(remote_by_name(project)) == {"docs", "wiki"}
    assert github.storage_auth == [None], "the token must not follow the redirect to the artifact storage"


def test_apply_on_a_push_without_a_merged_pull_request_fails(project: Project, github: FakeGitHub) -> None:
    project.write("docs.yaml", project.service("docs"))
    run = action(project, "apply", github=github, sha=SHA)
    assert run.code == 1 and f"no pull request was merged as {SHA}" in run.err
    github.pulls[SHA] = [{"number": 9, "merge_commit_sha": SHA}]
    run = action(project, "apply", github=github, sha=SHA)
    assert run.code == 1 and "no artifact conn-reconcile-plan-pr9" in run.err
    assert project.emulator.connectors == []


def test_apply_without_a_reviewed_plan_fails(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    assert action(project, "plan").code == 0  # a plan, but nobody said it was reviewed
    run = action(project, "apply")
    assert run.code == 1 and "no reviewed plan: give the reviewed-plan input" in run.err
    run = action(project, "apply", reviewed_plan="missing.json")
    assert run.code == 1 and "no reviewed plan at missing.json" in run.err
    assert project.emulator.connectors == []


def test_drift_opens_updates_and_closes_one_labelled_issue(project: Project, github: FakeGitHub) -> None:
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    run = action(project, "drift", github=github)
    assert run.code == 0 and run.outputs == {"drift": "false", "issue": "close", "label": "conn-reconcile-drift"}
    assert github.issues == {}
    docs = remote_by_name(project)["docs"]
    project.remote_patch(docs["id"], {"url": project.endpoint.url + "/elsewhere"})
    for _ in range(2):
        run = action(project, "drift", github=github)
        assert run.code == 0 and run.outputs["drift"] == "true" and run.outputs["issue"] == "open"
    (issue,) = github.issues.values()
    assert issue["labels"] == ["conn-reconcile-drift"] and issue["state"] == "open"
    body = (project.root / run.outputs["issue_path"]).read_text(encoding="utf-8")
    assert body.startswith("<!-- conn-reconcile-drift -->") and issue["body"] == body and "docs" in body
    assert project.run("apply", "--auto-approve").code == 0
    run = action(project, "drift", github=github)
    assert run.outputs["issue"] == "close" and issue["state"] == "closed"


def test_a_bad_token_fails_without_printing_it(project: Project, github: FakeGitHub) -> None:
    project.write("docs.yaml", project.service("docs"))
    run = action(project, "plan", event=pr_event(), github=github, token="ghs-a-wrong-token")
    assert run.code == 1 and "HTTP 401" in run.err
    assert "ghs-a-wrong-token" not in run.out + run.err and github.comments == {}


def test_an_unknown_command_is_a_usage_error(project: Project) -> None:
    run = action(project, "destroy")
    assert run.code == 2 and "usage" in run.err


def test_no_absolute_path_of_the_runner_leaks_into_outputs(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    run = action(project, "plan")
    assert all(not os.path.isabs(v) for v in run.outputs.values()), run.outputs
    assert not Path(run.outputs["plan_path"]).is_absolute()


def test_a_manual_apply_needs_the_typed_confirmation_then_applies_a_fresh_plan(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    refused = action(project, "apply", event_name="workflow_dispatch", confirm="yes")
    assert refused.code != 0
    assert "type 'apply a fresh plan' into the confirm input" in refused.err
    assert count(project, "POST") == 0 and project.emulator.connectors == []

    done = action(project, "apply", event_name="workflow_dispatch", confirm="apply a fresh plan")
    assert done.code == 0, done.out + done.err
    assert done.outputs["applied"] == "true" and done.outputs["plan_matches"] == "false"
    assert set(remote_by_name(project)) == {"docs"}


def test_secrets_are_mapped_by_name_from_the_workflows_secrets(project: Project) -> None:
    """Without one env line per variable: the step passes toJSON(secrets); the action takes the
    variables the files need (and the API key) by name, and nothing else reaches the CLI."""
    from e2e import API_KEY, TOKEN

    project.write("docs.yaml", project.service("docs"))
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
    )
    assert run.code == 0, run.out + run.err
    assert set(remote_by_name(project)) == {"docs"}  # created: the endpoint accepted CONN_TOKEN
    assert "CANARY-unrelated-3f9a" not in run.out + run.err

    # what the CLI gets: the needed names only, and never the input itself
    from conn_reconcile.ghaction import map_secrets

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
    github.pulls[SHA] = [{"number": 9, "merge_commit_sha": SHA}]
    github.artifacts = [
        {
            "id": 1,
            "name": "conn-reconcile-plan-pr9",
            "created_at": "2026-01-02T00:00:00Z",
            "expired": False,
            "zip": _zip("conn-reconcile-plan.json", reviewed),
        }
    ]
    project.write("wiki.yaml", project.service("wiki", description="merged after the review"))
    run = action(project, "apply", github=github, sha=SHA)
    assert run.code == 1 and "the reviewed plan is out of date" in run.err
    (comment,) = github.comments.values()
    assert comment["issue"] == 9 and "conn-reconcile apply refused" in comment["body"]
    assert "| wiki |" in comment["body"]
    assert project.emulator.connectors == []  # nothing applied
