"""OAuth connectors end to end, against the emulator: ``conn-reconcile authorize NAME`` prints the
URL the API key's user opens (escaped: remote data), refusing an unknown name (did you mean) and a
connector without OAuth before any call; ``plan`` and ``apply`` show each OAuth connector's
``auth_status`` for the key's user, and apply lists the OAuth connectors it created with the
command that authorizes each, as it runs pasted (``--env``, ``--config``)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from e2e import CLIENT_SECRET, Project, remote_by_name

pytestmark = pytest.mark.e2e

OAUTH = {
    "client_id": "drive-client",
    "client_secret": "${DRIVE_SECRET}",
    "authorize_url": "https://idp.example.com/o/auth",
    "token_url": "https://idp.example.com/o/token",
    "scope": "drive.readonly",
}
AUTHORIZE = r"/v1/connectors/[^/]+/oauth/authorize"


def _oauth(project: Project, name: str) -> None:
    project.env["DRIVE_SECRET"] = CLIENT_SECRET
    project.write(f"{name}.yaml", project.connector(name, oauth=OAUTH))


@pytest.fixture
def org(project: Project) -> Project:
    """Two OAuth connectors and one service_auth connector, applied."""
    _oauth(project, "team-drive")
    _oauth(project, "wiki-drive")
    project.write("docs.yaml", project.service("docs"))
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.both
    return project


def _state_of(url: str) -> dict[str, str]:
    raw = parse_qs(urlsplit(url).query)["state"][0]
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


# ---- authorize ---------------------------------------------------------------------------------


def test_authorize_prints_the_url_the_keys_user_opens(org: Project) -> None:
    drive = remote_by_name(org)["team-drive"]
    run = org.run("authorize", "team-drive")
    assert run.code == 0, run.both
    url = run.out.strip()
    assert run.out == url + "\n"  # stdout is the URL alone: `open "$(conn-reconcile authorize team-drive)"`
    assert url.startswith("https://idp.example.com/o/auth?")
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == ["drive-client"] and query["scope"] == ["drive.readonly"]
    assert _state_of(url)["connector_id"] == drive["id"]
    assert f"team-drive ({drive['id']})" in run.err and "not authorized" in run.err
    assert org.emulator.requests.count("POST", AUTHORIZE) == 1

    redirected = org.run("authorize", "team-drive", "--redirect", "https://intranet.example.com/done")
    assert redirected.code == 0, redirected.both
    assert _state_of(redirected.out.strip())["after_token_redirect"] == "https://intranet.example.com/done"
    (last,) = [r for r in org.emulator.requests if r.method == "POST" and r.path.endswith("/oauth/authorize")][1:]
    assert last.query == {"after_token_redirect": "https://intranet.example.com/done"}

    org.emulator.set_auth_status(drive["id"], "expired")
    again = org.run("authorize", "team-drive", "-q")
    assert again.code == 0 and again.out.startswith("https://idp.example.com/") and again.err == "", again.both


def test_authorize_refuses_an_unknown_name_and_a_connector_without_oauth_before_any_call(org: Project) -> None:
    typo = org.run("authorize", "team-driv")
    assert typo.code == 1, typo.both
    assert "Error: no connector named 'team-driv' in the org; did you mean 'team-drive'?" in typo.err
    assert typo.out == ""
    far = org.run("authorize", "zzzzzz")
    assert far.code == 1 and "no connector named 'zzzzzz'" in far.err and "did you mean" not in far.err

    docs = org.run("authorize", "docs")
    assert docs.code == 1 and docs.out == "", docs.both
    assert (
        f"docs ({remote_by_name(org)['docs']['id']}) uses service_auth, not OAuth: there is nothing to authorize"
        in (docs.err)
    )
    for bad in ("ftp://idp.example.com/x", "/done", "not a url"):
        usage = org.run("authorize", "team-drive", "--redirect", bad)
        assert usage.code == 64 and "--redirect" in usage.err and "absolute http(s) URL" in usage.err, usage.both
    assert org.emulator.requests.count("POST", AUTHORIZE) == 0


def test_authorize_prints_the_remote_url_escaped_and_refuses_one_that_is_not_http(org: Project) -> None:
    hostile = "https://idp.example.com/o/auth?x=1\x1b]8;;https://evil.example/\x07\u202egnp.exe"
    org.emulator.faults.add("POST", AUTHORIZE, body={"redirect_url": hostile})
    run = org.run("authorize", "wiki-drive")
    assert run.code == 0, run.both
    assert "\x1b" not in run.out and "\u202e" not in run.out and "\x07" not in run.out
    assert run.out.strip() == r"https://idp.example.com/o/auth?x=1\x1b]8;;https://evil.example/\x07\u202egnp.exe"
    org.emulator.faults.add("POST", AUTHORIZE, body={"redirect_url": "javascript:alert(1)"})
    refused = org.run("authorize", "wiki-drive")
    assert refused.code == 1 and "not an absolute http(s) URL" in refused.err and "javascript" not in refused.out
    org.emulator.faults.add("POST", AUTHORIZE, body={"url": "https://idp.example.com/"})
    shapeless = org.run("authorize", "wiki-drive")
    assert shapeless.code == 1 and "no 'redirect_url'" in shapeless.err, shapeless.both


# ---- plan: the auth_status of the key's user ---------------------------------------------------


def test_plan_shows_the_auth_status_of_each_oauth_connector_in_text_and_markdown(org: Project) -> None:
    remote = remote_by_name(org)
    org.emulator.set_auth_status(remote["team-drive"]["id"], "valid")
    org.emulator.set_auth_status(remote["wiki-drive"]["id"], "expired")
    org.emulator.set_auth_status(remote["wiki-drive"]["id"], "valid", api_key="another-users-key")
    _oauth(org, "new-drive")
    plan = org.run("plan")
    assert plan.code == 0, plan.both
    section = plan.out[plan.out.index("OAuth connectors, authorization of the API key's user:") :]
    assert f"  team-drive ({remote['team-drive']['id']}): valid\n" in section
    assert f"  wiki-drive ({remote['wiki-drive']['id']}): expired - run: conn-reconcile authorize wiki-drive\n" in (
        section
    )
    assert "  new-drive: created by this plan, not authorized yet - after apply, run: conn-reconcile authorize " in (
        section
    )
    assert "docs" not in section  # service_auth: nothing to authorize

    org.emulator.set_auth_status(remote["team-drive"]["id"], "")
    markdown = org.run("plan", "--format", "markdown")
    assert markdown.code == 0, markdown.both
    assert "#### OAuth authorization of the API key's user" in markdown.out
    assert "| team-drive | not authorized - run `conn-reconcile authorize team-drive` |" in markdown.out
    assert "| wiki-drive | expired - run `conn-reconcile authorize wiki-drive` |" in markdown.out
    assert markdown.out.index("#### OAuth") > markdown.out.index("| create | update |")

    as_json = org.run("plan", "--format", "json")  # the documented JSON document is unchanged
    assert as_json.code == 0 and "auth_status" not in as_json.out and "conn-reconcile authorize" not in as_json.out
    assert "OAuth" not in org.run("plan", "-q").out  # -q: the changes only


def test_apply_shows_the_statuses_then_lists_the_oauth_connectors_it_created_with_their_command(
    project: Project,
) -> None:
    project.write("docs.yaml", project.service("docs"))
    _oauth(project, "team-drive")
    run = project.run("apply", "--auto-approve")
    assert run.code == 0, run.both
    drive = remote_by_name(project)["team-drive"]
    created = run.out[run.out.index("OAuth connectors created") :]
    assert created.startswith(
        "OAuth connectors created: each user (the API key's too) authorizes them once before using them:\n"
        f"  team-drive ({drive['id']}) - run: conn-reconcile authorize team-drive\n"
    ), run.out
    assert "authorize docs" not in run.out
    assert "team-drive: created by this plan, not authorized yet" in run.out  # the plan it showed

    project.emulator.set_auth_status(drive["id"], "valid")
    again = project.run("apply", "--auto-approve")
    assert again.code == 0 and "OAuth connectors created" not in again.out, again.both
    assert f"team-drive ({drive['id']}): valid" in again.out


def test_apply_in_json_and_markdown_keeps_stdout_one_document(project: Project, tmp_path: Path) -> None:
    _oauth(project, "team-drive")
    summary = tmp_path / "summary.md"
    run = project.run("apply", "--auto-approve", "--format", "markdown", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert run.code == 0, run.both
    drive = remote_by_name(project)["team-drive"]
    for text in (run.out, summary.read_text(encoding="utf-8")):
        assert "#### OAuth connectors created\n\nEach user (the API key's too) authorizes them once" in text
        assert f"| team-drive | {drive['id']} | `conn-reconcile authorize team-drive` |" in text
    _oauth(project, "wiki-drive")
    as_json = project.run("apply", "--auto-approve", "--format", "json")
    assert as_json.code == 0, as_json.both
    assert json.loads(as_json.out)["totals"]["created"] == 1
    assert "wiki-drive (" in as_json.err and "run: conn-reconcile authorize wiki-drive" in as_json.err


def test_apply_of_a_saved_plan_lists_the_oauth_connectors_it_created(project: Project) -> None:
    _oauth(project, "team-drive")
    saved = project.run("plan", "--out", "p.json")
    assert saved.code == 0 and "team-drive: created by this plan, not authorized yet" in saved.out, saved.both
    run = project.run("apply", "p.json")
    assert run.code == 0, run.both
    drive = remote_by_name(project)["team-drive"]
    assert f"  team-drive ({drive['id']}) - run: conn-reconcile authorize team-drive\n" in run.out
    shown = project.run("show", "p.json")  # a saved plan holds no listing: no status is guessed
    assert shown.code == 0 and "OAuth" not in shown.out, shown.both


HINT = re.compile(r"run: (conn-reconcile [^\n]*)")


def test_the_authorize_hint_of_apply_names_the_env_and_config_and_runs_as_printed(project: Project) -> None:
    (project.root / "deploy.yaml").write_text(
        f"dir: connectors\nenvironments:\n  staging:\n    api_url: {project.api_url}\n    state: .state/staging.json\n"
        "  prod:\n    api_url: https://prod.invalid\n",
        encoding="utf-8",
    )
    project.env.update({"CO_API_URL": ""})
    _oauth(project, "team-drive")
    run = project.run("--env", "staging", "--config", "deploy.yaml", "apply", "--auto-approve")
    assert run.code == 0, run.both
    created = run.out[run.out.index("OAuth connectors created") :]
    (hint,) = HINT.findall(created)
    assert hint == "conn-reconcile --config deploy.yaml --env staging authorize team-drive"
    env = project.full_env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    proc = subprocess.run(["bash", "-c", hint], cwd=project.root, env=env, capture_output=True, text=True, timeout=60)
    project.outputs.append(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("https://idp.example.com/o/auth?")


# ---- the action: the pull request's comment, the apply on merge -------------------------------


def test_the_pr_comment_shows_the_statuses_and_the_apply_on_merge_lists_what_it_created(project: Project) -> None:
    from fakegithub import FakeGitHub
    from ghrunner import SECRETS, action, commit, pr_event

    _oauth(project, "team-drive")
    assert project.run("apply", "--auto-approve").code == 0
    project.emulator.set_auth_status(remote_by_name(project)["team-drive"]["id"], "expired")
    assert project.run("snapshot").code == 0  # the trusted run's listing: its key's user's statuses
    _oauth(project, "new-drive")
    with FakeGitHub() as github:
        run = action(
            project,
            "plan",
            event=pr_event(),
            event_name="pull_request",
            github=github,
            unset=(*SECRETS, "DRIVE_SECRET"),  # a pull request's run holds no secret
            plan_path="reviewed.json",
        )
    assert run.code == 0, run
    body = (project.root / "conn-reconcile-comment.md").read_text(encoding="utf-8")
    assert "#### OAuth authorization of the API key's user, as of the org snapshot" in body
    assert "| team-drive | expired - run `conn-reconcile authorize team-drive` |" in body
    assert "| new-drive | created by this plan, not authorized yet - after apply, run " in body

    commit(project)
    applied = action(project, "apply", reviewed_plan="reviewed.json", trusted=True)
    assert applied.code == 0, applied
    new = remote_by_name(project)["new-drive"]
    for text in (applied.out, applied.summary):
        assert f"| new-drive | {new['id']} | `conn-reconcile authorize new-drive` |" in text
    assert "authorize team-drive` |" not in applied.summary.split("#### OAuth connectors created")[1]
