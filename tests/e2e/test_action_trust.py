"""The CI flow, tried as an attacker with push access to a branch (or a fork): each test is one
finding of the threat model (docs/SECURITY.md), run end to end - the action's logic with a fake
GitHub API on loopback, the emulator as the org, real git, and, where a process matters, the
action as action.yml runs it."""

from __future__ import annotations

import json
import subprocess
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
from e2e import Project, count, remote_by_name
from fakegithub import FakeGitHub
from ghrunner import SECRETS, action, commit, git_in, head, pr_event, pr_plan, publish_plan
from helpers import serving

CANARY_NPM = "CANARY-npm-publish-token-8e21"


class Recorder(BaseHTTPRequestHandler):
    """An attacker's server: records every request it gets (path and headers)."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _any(self) -> None:
        type(self).seen.append({"path": self.path, "headers": dict(self.headers)})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        body = b'{"connectors": [], "total_count": 0, "results": []}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = _any


@pytest.fixture
def attacker() -> Any:
    Recorder.seen = []
    with serving(Recorder) as url:
        yield url, Recorder.seen


@pytest.fixture
def github() -> Any:
    with FakeGitHub() as fake:
        yield fake


def _trusted_snapshot(project: Project) -> None:
    """What the trusted jobs leave: an applied docs connector and the org snapshot."""
    project.write("docs.yaml", project.service("docs"))
    assert project.run("snapshot").code == 0
    assert project.run("apply", "--auto-approve").code == 0


# -- 2: a branch points the API URL and a probe at itself, and names another secret -----------


def _hostile_branch(project: Project, attacker_url: str) -> None:
    (project.root / "conn-reconcile.yaml").write_text(f"api_url: {attacker_url}\nprobe: true\n", encoding="utf-8")
    project.write(
        "steal.yaml",
        {
            "name": "steal",
            "url": f"{attacker_url}/probe",
            "service_auth": {"type": "bearer", "token": "${NPM_PUBLISH_TOKEN}"},
        },
    )


def test_a_pull_request_plan_holding_secrets_is_refused_before_anything_is_sent(
    project: Project, attacker: Any
) -> None:
    url, seen = attacker
    _trusted_snapshot(project)
    _hostile_branch(project, url)
    env_secret = action(
        project,
        "plan",
        event=pr_event(),
        event_name="pull_request",
        unset=("CO_API_URL",),
        NPM_PUBLISH_TOKEN=CANARY_NPM,
    )
    assert env_secret.code == 1 and "refusing to run on a pull_request event with secrets" in env_secret.err
    assert "CO_API_KEY" in env_secret.err and CANARY_NPM not in env_secret.out + env_secret.err
    as_input = action(
        project,
        "plan",
        event=pr_event(),
        event_name="pull_request",
        unset=(*SECRETS, "CO_API_URL"),
        secrets=json.dumps({"NPM_PUBLISH_TOKEN": CANARY_NPM}),
    )
    assert as_input.code == 1 and "(the secrets input)" in as_input.err
    assert seen == []


def test_a_pull_request_plan_without_secrets_never_reaches_the_branchs_url(project: Project, attacker: Any) -> None:
    url, seen = attacker
    _trusted_snapshot(project)
    _hostile_branch(project, url)
    run = action(project, "plan", event=pr_event(), event_name="pull_request", unset=(*SECRETS, "CO_API_URL"))
    assert run.code == 1 and "the org snapshot in the state is of" in run.err  # not the org it names
    assert seen == []
    (project.root / "conn-reconcile.yaml").unlink()
    run = pr_plan(project)
    assert run.code == 0, run
    assert "+ create steal" in run.out + (project.root / "conn-reconcile-comment.md").read_text(encoding="utf-8")
    assert seen == []  # no probe: the registration test runs where the secrets are (apply, drift)


def test_apply_probes_before_any_write_where_the_secrets_are(project: Project) -> None:
    """``probe: true``: the registration test runs in apply, before any write; a connector
    whose endpoint refuses the token is never created."""
    (project.root / "conn-reconcile.yaml").write_text("probe: true\n", encoding="utf-8")
    project.write("docs.yaml", project.service("docs"))
    project.write("bad.yaml", project.connector("bad", service_auth={"type": "bearer", "token": "${CONN_TOKEN}"}))
    (project.connectors / "bad.yaml").write_text(
        (project.connectors / "bad.yaml").read_text(encoding="utf-8").replace(project.endpoint.url, project.api_url),
        encoding="utf-8",
    )
    run = project.run("apply", "--auto-approve")
    assert run.code == 1 and "nothing was applied" in run.err, run.both
    assert count(project, "POST") == 0 and project.emulator.connectors == []


# -- 1: a fork's artifact, and a plan path planted as a symlink into .git ---------------------


def test_a_forks_artifact_is_refused_and_nothing_is_written_through_a_planted_symlink(
    project: Project, github: FakeGitHub
) -> None:
    _trusted_snapshot(project)
    project.write("wiki.yaml", project.service("wiki"))
    assert pr_plan(project, plan_path="reviewed.json").code == 0
    reviewed = (project.root / "reviewed.json").read_bytes()
    sha = commit(project)
    (project.root / "conn-reconcile-plan.json").symlink_to(".git/config")
    git_in(project, "add", "-f", "conn-reconcile-plan.json")
    sha = commit(project, "the merged commit carries a symlink")
    config_before = (project.root / ".git" / "config").read_bytes()
    posts = count(project, "POST")
    hostile = b"[core]\n\tsshCommand = touch PWNED\n\tfsmonitor = touch PWNED\n"
    publish_plan(github, 9, sha, hostile, head_repo="mallory/connectors")  # the fork's run: same name
    run = action(project, "apply", github=github, post="false", trusted=True)
    assert run.code == 1 and "pull request #9 has no plan artifact" in run.err
    assert "Skipped: artifact" in run.out
    assert (project.root / ".git" / "config").read_bytes() == config_before
    assert not (project.root / "PWNED").exists() and count(project, "POST") == posts
    publish_plan(github, 9, sha, reviewed)  # the pull request's own run
    github.pulls[sha] = github.pulls[sha][:1]
    run = action(project, "apply", github=github, post="false", trusted=True)
    assert run.code == 0, run
    assert (project.root / ".git" / "config").read_bytes() == config_before
    assert set(remote_by_name(project)) == {"docs", "wiki"}


def test_a_checkout_carrying_the_scratch_directory_is_refused(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    commit(project)
    planted = project.root / ".conn-reconcile" / "git" / "repo.git"
    planted.mkdir(parents=True)
    (planted / "config").write_text("[core]\n\tsshCommand = touch PWNED\n", encoding="utf-8")
    git_in(project, "add", "-f", ".conn-reconcile")
    commit(project, "plant")
    run = action(project, "apply", event_name="workflow_dispatch", confirm="apply a fresh plan", trusted=True)
    assert run.code == 1 and "the checkout carries .conn-reconcile/" in run.err
    assert project.emulator.connectors == []


def test_trusted_commands_run_only_on_the_default_branchs_commit(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    sha = commit(project)
    for command in ("apply", "drift"):
        on_pr = action(project, command, event_name="pull_request", unset=SECRETS)
        assert on_pr.code == 1 and "never runs for a pull request" in on_pr.err
        elsewhere = action(project, command, event={"repository": {"default_branch": "main"}}, sha=sha)
        assert elsewhere.code == 1 and "runs only on the default branch" in elsewhere.err
    other = action(project, "apply", reviewed_plan="x.json", trusted=True, sha="a" * 40)
    assert other.code == 1 and f"the checkout is at {sha}" in other.err
    assert project.emulator.connectors == []


# -- 3: a branch plants the action's module in the checkout ------------------------------------


@pytest.mark.cli_subprocess
def test_the_action_runs_the_installed_tool_never_a_module_of_the_checkout(project: Project) -> None:
    marker = project.root / "PLANTED-RAN"
    package = project.root / "conn_reconcile"
    package.mkdir()
    code = f"open({str(marker)!r}, 'w').write('ran')\n"
    for name in ("__init__.py", "__main__.py", "ghaction.py", "cli.py"):
        (package / name).write_text(code, encoding="utf-8")
    project.write("docs.yaml", project.service("docs"))
    assert action(project, "validate").code == 0
    run = action(project, "plan")
    assert run.code == 0, run
    assert not marker.exists()


# -- 4 and 5: reviewed plans edited after the review -------------------------------------------


def _edited(project: Project, edit: Any) -> bytes:
    doc = json.loads((project.root / "reviewed.json").read_text(encoding="utf-8"))
    edit(doc)
    return json.dumps(doc).encode()


def test_a_noop_entry_added_for_an_unmanaged_connector_is_a_difference(project: Project, github: FakeGitHub) -> None:
    _trusted_snapshot(project)
    created = project.emulator.seed({"name": "hr-secret", "url": "https://hr.example.com/search"}, id="hr-secret-x1")
    assert project.run("snapshot").code == 0
    assert pr_plan(project, plan_path="reviewed.json").code == 0

    def add_noop(doc: dict[str, Any]) -> None:
        doc["changes"].append(
            {**doc["changes"][0], "action": "noop", "name": "hr-secret", "remote_id": created["id"], "changes": []}
        )
        doc["summary"]["noop"] += 1
        doc["unmanaged"] = []

    sha = commit(project)
    publish_plan(github, 5, sha, _edited(project, add_noop))
    run = action(project, "apply", github=github, post="false", trusted=True)
    assert run.code == 1, run
    assert "hr-secret" in run.out + run.err
    assert created["id"] not in project.state()["connectors"]
    prune = project.run("plan", "--prune")
    assert "hr-secret" not in prune.out.split("Unmanaged")[0]


def test_an_edited_payload_in_a_reviewed_plan_is_never_sent(
    project: Project, github: FakeGitHub, attacker: Any
) -> None:
    url, seen = attacker
    _trusted_snapshot(project)
    project.write("wiki.yaml", project.service("wiki"))
    assert pr_plan(project, plan_path="reviewed.json").code == 0

    def repoint(doc: dict[str, Any]) -> None:
        (create,) = [c for c in doc["changes"] if c["action"] == "create"]
        create["payload"]["url"] = f"{url}/steal"
        create["payload"]["service_auth"]["token"] = "${NPM_PUBLISH_TOKEN}"

    sha = commit(project)
    publish_plan(github, 6, sha, _edited(project, repoint))
    run = action(project, "apply", github=github, post="false", trusted=True, NPM_PUBLISH_TOKEN=CANARY_NPM)
    assert run.code == 1, run
    assert seen == [] and "wiki" not in remote_by_name(project)
    assert CANARY_NPM not in run.out + run.err


# -- 8: three merges within a minute, the middle run dropped -----------------------------------


def _compare(github: FakeGitHub, project: Project, base: str, head_sha: str) -> None:
    """The compare GitHub would answer, from the project's real history."""
    ahead = git_in(project, "rev-list", "--count", f"{base}..{head_sha}")
    behind = git_in(project, "rev-list", "--count", f"{head_sha}..{base}")
    status = {(True, False): "ahead", (False, True): "behind", (False, False): "identical"}.get(
        (ahead != "0", behind != "0"), "diverged"
    )
    commits = git_in(project, "rev-list", "--reverse", f"{base}..{head_sha}").split()
    github.compare[(base, head_sha)] = {"status": status, "commits": commits}


def test_back_to_back_merges_are_all_applied_each_traced_to_its_review_and_none_twice(
    project: Project, github: FakeGitHub
) -> None:
    _trusted_snapshot(project)
    c1 = commit(project, "pull request 1: docs")
    assert project.run("apply", "--auto-approve").code == 0
    assert project.state()["applied_commit"] == c1
    # pull requests 2 and 3 are planned on their own branches, both from c1
    project.write("wiki.yaml", project.service("wiki"))
    assert pr_plan(project, plan_path="pr2.json").code == 0
    (project.connectors / "wiki.yaml").unlink()
    project.write("notes.yaml", project.service("notes"))
    assert pr_plan(project, plan_path="pr3.json").code == 0
    (project.connectors / "notes.yaml").unlink()
    project.write("wiki.yaml", project.service("wiki"))
    c2 = commit(project, "merge pull request 2")
    project.write("notes.yaml", project.service("notes"))
    c3 = commit(project, "merge pull request 3")
    publish_plan(github, 2, c2, (project.root / "pr2.json").read_bytes())
    publish_plan(github, 3, c3, (project.root / "pr3.json").read_bytes())
    # the run of c2 was dropped by GitHub; the run of c3 covers both
    _compare(github, project, c1, c3)
    run = action(project, "apply", trusted=True, github=github, post="false")
    assert run.code == 0, run
    assert "pull request #2" in run.out and "pull request #3" in run.out
    assert set(remote_by_name(project)) == {"docs", "wiki", "notes"}
    assert project.state()["applied_commit"] == c3
    posts = count(project, "POST")
    # a re-run of the dropped run finds its commit applied: nothing is applied twice
    git_in(project, "checkout", "-q", c2)
    _compare(github, project, c3, c2)
    again = action(project, "apply", trusted=True, github=github, post="false", sha=c2)
    assert again.code == 0 and "is already applied" in again.out, again
    assert count(project, "POST") == posts
    # a direct push no pull request reviewed is refused
    git_in(project, "checkout", "-q", "main")
    project.write("rogue.yaml", project.service("rogue"))
    c4 = commit(project, "pushed directly")
    _compare(github, project, c3, c4)
    rogue = action(project, "apply", trusted=True, github=github, post="false")
    assert rogue.code == 1 and f"no pull request was merged as {c4}" in rogue.err
    assert "rogue" not in remote_by_name(project) and head(project) == c4


def test_a_change_no_reviewed_plan_covers_is_refused(project: Project, github: FakeGitHub) -> None:
    """Two pull requests planned from the same base change one connector in two ways: the merged
    result is an update neither reviewed plan shows."""
    _trusted_snapshot(project)
    c1 = commit(project, "base")
    assert project.run("apply", "--auto-approve").code == 0
    project.write("docs.yaml", project.service("docs", excludes=["raw"]))
    assert pr_plan(project, plan_path="pr2.json").code == 0
    project.write("docs.yaml", project.service("docs", active=False))
    assert pr_plan(project, plan_path="pr3.json").code == 0
    project.write("docs.yaml", project.service("docs", excludes=["raw"]))
    c2 = commit(project, "merge pull request 2")
    project.write("docs.yaml", project.service("docs", excludes=["raw"], active=False))
    c3 = commit(project, "merge pull request 3")
    publish_plan(github, 2, c2, (project.root / "pr2.json").read_bytes())
    publish_plan(github, 3, c3, (project.root / "pr3.json").read_bytes())
    _compare(github, project, c1, c3)
    patches = count(project, "PATCH")
    run = action(project, "apply", trusted=True, github=github, post="false")
    assert run.code == 1 and "not covered by any reviewed plan" in run.out + run.err, run
    assert count(project, "PATCH") == patches


def test_subprocess_isolated_flag_is_in_action_yml() -> None:
    text = (Path(__file__).resolve().parents[2] / "action.yml").read_text(encoding="utf-8")
    assert "python -I -m conn_reconcile.github.action" in text and "python -I -m pip install" in text
    proc = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0


# -- 5: a failed apply's state is never lost with the runner -----------------------------------


def test_a_failed_apply_keeps_its_state_for_an_artifact_and_in_the_summary(project: Project) -> None:
    project.write("docs.yaml", project.service("docs"))
    project.write("bad.yaml", project.service("bad", url=f"{project.api_url}/nowhere"))  # its registration fails
    commit(project)
    run = action(project, "apply", event_name="workflow_dispatch", confirm="apply a fresh plan", trusted=True)
    assert run.code == 3, run
    kept = Path(run.outputs["state_dir"])
    assert not kept.is_relative_to(project.root)
    state = json.loads((kept / "state.json").read_text(encoding="utf-8"))
    (docs,) = (c["id"] for c in project.emulator.connectors if c["name"] == "docs")
    assert list(state["connectors"]) == [docs]
    assert "### conn-reconcile: the state this run kept" in run.summary and docs in run.summary
