"""Running the GitHub Action's logic as a runner runs it, for the e2e tests: the runner's files and
variables, the module in process or as action.yml's command, a pull request's plan job, the
connectors repo's git, and a merged pull request with its plan artifact on the fake GitHub API."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e import Project, invoke_cli
from fakegithub import FakeGitHub

SHA = "0123456789abcdef0123456789abcdef01234567"
#: what a pull request's run must not hold (the project's environment sets them)
SECRETS = ("CO_API_KEY", "CONN_TOKEN", "CONN_RECONCILE_FINGERPRINT_KEY")


@dataclass
class ActionRun:
    code: int
    out: str
    err: str
    outputs: dict[str, str]
    summary: str


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
    trusted: bool = False,
    **inputs: str,
) -> ActionRun:
    """Run the action's ``command`` in ``project``. ``trusted``: as a run on the default branch
    (main) of the commit the project's checkout is at (see :func:`commit`).

    The module's ``main`` runs in this process (same arguments, environment and working directory),
    each CLI run it makes in process too (``e2e.invoke_cli``): the logic under test is the same,
    without two Python start-ups per step. Where the project's runs are processes
    (``cli_subprocess``), the module is a child process, whose CLI runs are child processes too."""
    if trusted:
        event = {**(event or {}), "repository": {"default_branch": "main"}}
        sha = sha or head(project)
    gh = _runner_files(project, event or {})
    env = _runner_env(project, gh, github=github, token=token, sha=sha, trusted=trusted, event_name=event_name)
    for name in unset:
        env.pop(name, None)
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    proc = _in_process(command, env, project.root) if project.in_process else _as_process(command, env, project.root)
    project.outputs.append(proc.stdout + proc.stderr)
    lines = (gh / "output").read_text(encoding="utf-8").splitlines()
    outputs = dict(line.split("=", 1) for line in lines)
    if github is not None:
        assert env["GITHUB_TOKEN"] not in proc.stdout + proc.stderr
    return ActionRun(proc.returncode, proc.stdout, proc.stderr, outputs, (gh / "summary").read_text(encoding="utf-8"))


def _runner_files(project: Project, event: dict[str, Any]) -> Path:
    """The runner's output, summary and event files, fresh, in the directory returned."""
    gh = project.root / ".github-runner"  # under the project: the canary check reads these files too
    gh.mkdir(exist_ok=True)
    for name in ("output", "summary"):
        (gh / name).write_text("", encoding="utf-8")
    (gh / "event.json").write_text(json.dumps(event), encoding="utf-8")
    return gh


def _runner_env(
    project: Project,
    gh: Path,
    *,
    github: FakeGitHub | None,
    token: str | None,
    sha: str | None,
    trusted: bool,
    event_name: str | None,
) -> dict[str, str]:
    """The project's environment without the runner's variables, then the runner's as a run sets them."""
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
    if trusted:
        env["GITHUB_REF"] = "refs/heads/main"
    if event_name:
        env["GITHUB_EVENT_NAME"] = event_name
    return env


def _as_process(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The module as action.yml runs it, a child process."""
    return subprocess.run(
        [*action_command(), command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def action_command() -> list[str]:
    """The command action.yml runs, with this interpreter as its ``python``."""
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load((Path(__file__).resolve().parents[2] / "action.yml").read_text(encoding="utf-8"))
    (run,) = [s["run"] for s in doc["runs"]["steps"] if "conn_reconcile.github.action" in s.get("run", "")]
    words = shlex.split(run)
    assert words[0] == "python" and words[-1] == "$INPUT_COMMAND", run
    return [sys.executable, *words[1:-1]]


def _in_process(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``ghaction.main`` in this process, its CLI runs in process too (``run_cli``: stdout
    returned, stderr straight to the log, as in the child process)."""
    from conn_reconcile.github import action as ghaction

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


def pr_event(number: int = 7, sha: str = SHA) -> dict[str, Any]:
    return {"pull_request": {"number": number, "head": {"sha": sha}}}


def pr_plan(project: Project, github: FakeGitHub | None = None, **inputs: str) -> ActionRun:
    """The plan job of a pull request: no secret, against the org snapshot."""
    return action(project, "plan", event=pr_event(), event_name="pull_request", github=github, unset=SECRETS, **inputs)


def git_in(project: Project, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    config = ["-c", "user.name=tests", "-c", "user.email=tests@example.invalid", "-c", "commit.gpgsign=false"]
    proc = subprocess.run(["git", *config, *args], cwd=project.root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def commit(project: Project, message: str = "change") -> str:
    """Commit the project's files on main (a git repository from the first call); the new HEAD."""
    if not (project.root / ".git").exists():
        git_in(project, "init", "-q", "-b", "main")
        ignored = ".conn-reconcile/\n.github-runner/\nconn-reconcile-*\n*.json\n"
        (project.root / ".gitignore").write_text(ignored, encoding="utf-8")
    git_in(project, "add", "-A")
    git_in(project, "commit", "-q", "--allow-empty", "-m", message)
    return head(project)


def head(project: Project) -> str:
    return git_in(project, "rev-parse", "HEAD")


def _zip(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(name, data)
    return buf.getvalue()


def publish_plan(
    github: FakeGitHub,
    number: int,
    merged_as: str,
    plan: bytes,
    *,
    head_sha: str | None = None,
    run_id: int | None = None,
    event: str = "pull_request",
    path: str = ".github/workflows/plan.yml",
    head_repo: str = "acme/connectors",
    pr_head_repo: str = "acme/connectors",
    created_at: str = "2026-01-02T00:00:00Z",
) -> None:
    """Pull request ``number`` merged as commit ``merged_as``, and a run of ``path`` on its
    head (by default the PR's final head) that uploaded ``plan`` as its plan artifact."""
    final = f"{number:040x}"
    github.pulls.setdefault(merged_as, []).append({"number": number, "merge_commit_sha": merged_as})
    github.pulls_by_number[number] = {
        "merged": True,
        "merge_commit_sha": merged_as,
        "head": {"sha": final, "ref": f"branch-{number}", "repo": {"full_name": pr_head_repo}},
    }
    run_id = run_id or 500 + len(github.runs)
    sha = head_sha or final
    repo_ids = {"acme/connectors": 1}
    github.runs[run_id] = {
        "event": event,
        "path": path,
        "head_sha": sha,
        "head_branch": f"branch-{number}",
        "repository": {"id": 1, "full_name": "acme/connectors"},
        "head_repository": {"id": repo_ids.get(head_repo, 2), "full_name": head_repo},
    }
    github.artifacts.append(
        {
            "id": 900 + len(github.artifacts),
            "name": f"conn-reconcile-plan-pr{number}",
            "created_at": created_at,
            "expired": False,
            "zip": _zip("conn-reconcile-plan.json", plan),
            "workflow_run": {
                "id": run_id,
                "repository_id": 1,
                "head_repository_id": repo_ids.get(head_repo, 2),
                "head_branch": f"branch-{number}",
                "head_sha": sha,
            },
        }
    )
