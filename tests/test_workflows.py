"""The GitHub Actions workflows: linted by actionlint, and checked for the properties we rely on.

actionlint comes from the ``test`` extra (a wheel that ships the binary); it checks the
workflow syntax, expressions, action inputs, the shell scripts' use of ``${{ }}`` with
untrusted input, and deprecated action runtimes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from ruamel.yaml import YAML

from conn_reconcile.cli import cli

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
EXPECTED = ("ci.yml", "plan.yml", "apply.yml")


def _actionlint() -> str:
    venv_bin = str(Path(sys.executable).parent)
    found = shutil.which("actionlint", path=os.pathsep.join([venv_bin, os.environ.get("PATH", "")]))
    if found is None:
        pytest.fail("actionlint not found: install the test extra (pip install -e '.[test]')")
    return found


def _run_actionlint(*files: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_actionlint(), "-no-color", *map(str, files)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _load(name: str) -> dict[str, Any]:
    return YAML(typ="safe").load((WORKFLOWS / name).read_text(encoding="utf-8"))


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _scripts(workflow: dict[str, Any]) -> list[str]:
    """Every piece of code a step runs: shell ``run:`` and github-script ``script:``."""
    out = []
    for step in _steps(workflow):
        if "run" in step:
            out.append(step["run"])
        if str(step.get("uses", "")).startswith("actions/github-script@"):
            out.append(step["with"]["script"])
    return out


def _commands(workflow: dict[str, Any]) -> list[list[str]]:
    """The argument lists of the ``conn-reconcile`` invocations in ``run:`` scripts."""
    commands = []
    for step in _steps(workflow):
        for line in step.get("run", "").replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            tokens = list(lexer)
            while "conn-reconcile" in tokens:
                tokens = tokens[tokens.index("conn-reconcile") + 1 :]
                end = next((i for i, t in enumerate(tokens) if set(t) <= set("|&;<>()")), len(tokens))
                commands.append(tokens[:end])
    return commands


@pytest.fixture(scope="module")
def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def test_the_three_workflows_exist(workflow_files: list[Path]) -> None:
    assert {p.name for p in workflow_files} >= set(EXPECTED)


def test_actionlint_passes_on_every_workflow(workflow_files: list[Path]) -> None:
    proc = _run_actionlint(*(p.relative_to(ROOT) for p in workflow_files), cwd=ROOT)
    assert proc.returncode == 0, f"actionlint found problems:\n{proc.stdout}{proc.stderr}"


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: pull_request\n"
        "jobs:\n"
        "  greet:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
        "  after:\n"
        "    needs: nonexistent\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - run: true\n",
        encoding="utf-8",
    )
    proc = _run_actionlint(broken.relative_to(tmp_path), cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "broken.yml:6:" in output and "potentially untrusted" in output, output
    assert "nonexistent" in output, output


@pytest.mark.parametrize("name", EXPECTED)
def test_actions_are_pinned_to_a_major_version(name: str) -> None:
    uses = [step["uses"] for step in _steps(_load(name)) if "uses" in step]
    assert uses, name
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", ref), f"{name}: {ref} is not pinned to a major version tag"


@pytest.mark.parametrize("name", EXPECTED)
def test_no_expression_is_expanded_inside_a_script(name: str) -> None:
    for script in _scripts(_load(name)):
        assert "${{" not in script, f"{name}: pass values to scripts through env:, not ${{{{ }}}}:\n{script}"


@pytest.mark.parametrize("name", EXPECTED)
def test_conn_reconcile_commands_parse_with_the_real_cli(name: str) -> None:
    """Every ``conn-reconcile ...`` line is accepted by the CLI's own option parser."""
    commands = _commands(_load(name))
    if name != "ci.yml":
        assert commands, name
    for args in commands:
        at = next((i for i, token in enumerate(args) if token in cli.commands), None)
        assert at is not None, f"{name}: no known command in conn-reconcile {shlex.join(args)}"
        try:
            ctx = cli.make_context("conn-reconcile", args[: at + 1])
            cli.commands[args[at]].make_context(args[at], args[at + 1 :], parent=ctx)
        except click.UsageError as exc:
            pytest.fail(f"{name}: conn-reconcile {shlex.join(args)}: {exc.format_message()}")


def test_plan_workflow() -> None:
    wf = _load("plan.yml")
    assert "connectors/**" in wf["on"]["pull_request"]["paths"]
    assert wf["permissions"] == {"contents": "read"}
    jobs = wf["jobs"]
    assert all(
        set(job.get("permissions", {}).items()) <= {("contents", "read"), ("pull-requests", "write")}
        for job in jobs.values()
    )
    assert jobs["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    commands = _commands(wf)
    assert ["validate", "--format", "github", "connectors"] in commands
    (plan,) = (c for c in commands if c[0] == "plan")
    assert "--detailed-exitcode" in plan and plan[plan.index("--out") + 1] == "plan.json"
    plan_step = next(s for s in jobs["plan"]["steps"] if "conn-reconcile plan" in s.get("run", ""))
    assert "|| code=$?" in plan_step["run"], "the exit code must be captured without tripping bash -e"
    assert plan_step["env"]["CO_API_KEY"] == "${{ secrets.CO_API_KEY }}"
    scripts = "\n".join(_scripts(wf))
    assert "<!-- conn-reconcile-plan -->" in scripts
    upload = next(s for s in jobs["plan"]["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "plan.json"
    assert "pull_request_target" not in wf["on"]


def test_apply_workflow() -> None:
    wf = _load("apply.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    assert "connectors/**" in wf["on"]["push"]["paths"]
    assert "workflow_dispatch" in wf["on"]
    assert wf["concurrency"] == {"group": "conn-reconcile-apply", "cancel-in-progress": False}
    (job,) = wf["jobs"].values()
    assert job["environment"] == "production"
    assert ["apply", "--auto-approve"] in _commands(wf)
    assert wf["env"]["STATE_FILE"] == ".conn-reconcile/state.json"
    save = next(s for s in job["steps"] if s.get("name") == "Save state")
    assert save["if"].startswith("always()"), "the state must be saved after a partial apply too"
    assert "--force" not in save["run"] and "git push" in save["run"]


def test_ci_workflow() -> None:
    wf = _load("ci.yml")
    assert {"push", "pull_request"} <= set(wf["on"])
    (job,) = wf["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert job["strategy"]["matrix"]["python-version"] == ["3.11", "3.12"]
    assert any(s.get("run") == "bash .ci/run" for s in job["steps"])
