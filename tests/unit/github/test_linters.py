"""The linters of the workflows and the action, from the ``test`` extra: actionlint (syntax,
expressions, action inputs, ``${{ }}`` with untrusted input in scripts, deprecated runtimes),
shellcheck on the action's shell steps, and zizmor; each also shown to catch a broken file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from repofiles import ACTION, ALL_YAML, EXAMPLE, ROOT, WORKFLOWS
from ruamel.yaml import YAML


def _tool(name: str) -> str:
    """A linter the test extra installs (this interpreter's bin directory first, then PATH)."""
    venv_bin = str(Path(sys.executable).parent)
    found = shutil.which(name, path=os.pathsep.join([venv_bin, os.environ.get("PATH", "")]))
    if found is None:
        pytest.fail(f"{name} not found: install the test extra (pip install -e '.[test]')")
    return found


def _actionlint() -> str:
    return _tool("actionlint")


def _run_actionlint(*files: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_actionlint(), "-no-color", *map(str, files)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_actionlint_passes_on_every_workflow() -> None:
    proc = _run_actionlint(*(p.relative_to(ROOT) for p in sorted(WORKFLOWS.glob("*.yml"))), cwd=ROOT)
    assert proc.returncode == 0, f"actionlint found problems:\n{proc.stdout}{proc.stderr}"


def _workflow(root: Path, name: str, text: str) -> Path:
    """The workflow file ``name`` of the repository at ``root``, holding ``text``."""
    path = root / ".github" / "workflows" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = _workflow(
        tmp_path,
        "broken.yml",
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
    )
    proc = _run_actionlint(broken.relative_to(tmp_path), cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "broken.yml:6:" in output and "potentially untrusted" in output, output
    assert "nonexistent" in output, output


def test_zizmor_and_actionlint_are_clean_on_the_action_the_workflows_and_the_example_together() -> None:
    example = EXAMPLE / ".github" / "workflows"
    proc = _zizmor("--config", ".github/zizmor.yml", ".github/workflows", "action.yml", str(example), cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in [*ALL_YAML, EXAMPLE / ".pre-commit-config.yaml"]:
        for line in path.read_text(encoding="utf-8").splitlines():
            ignored = re.findall(r"zizmor: ignore\[([^\]]+)\]", line)
            assert all(rule == "artipacked" for rule in ignored), f"{path.name}: {line.strip()}"
    lint = _run_actionlint(*(p.relative_to(EXAMPLE) for p in sorted(example.glob("*.yml"))), cwd=EXAMPLE)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_actionlint_checks_the_inputs_of_the_local_action(tmp_path: Path) -> None:
    """actionlint reads action.yml for `uses: ./`: an unknown input or a missing required one fails."""
    shutil.copy(ACTION, tmp_path / "action.yml")
    (tmp_path / ".git").mkdir()  # actionlint finds the project (and ./) by its .git
    wf = _workflow(
        tmp_path,
        "use.yml",
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: ./\n        with:\n          comand: plan\n",
    )
    proc = _run_actionlint(wf.relative_to(tmp_path), cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "comand" in output and '"command"' in output, output


def _shellcheck() -> str:
    return _tool("shellcheck")


def test_shellcheck_passes_on_the_actions_shell_steps(tmp_path: Path) -> None:
    steps = YAML(typ="safe").load(ACTION.read_text(encoding="utf-8"))["runs"]["steps"]
    scripts = [s["run"] for s in steps if "run" in s]
    assert scripts and all("${{" not in s for s in scripts)
    for i, script in enumerate([*scripts, "echo $UNQUOTED_PATH\n"]):
        path = tmp_path / f"step{i}.sh"
        path.write_text(script, encoding="utf-8")
        proc = subprocess.run([_shellcheck(), "-s", "bash", str(path)], capture_output=True, text=True, timeout=60)
        if i < len(scripts):
            assert proc.returncode == 0, proc.stdout
        else:  # the check is not vacuous
            assert proc.returncode == 1 and "SC2086" in proc.stdout


def _zizmor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", "--format", "plain", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_zizmor_finds_nothing_in_the_workflows_and_the_action() -> None:
    proc = _zizmor("--config", ".github/zizmor.yml", ".github/workflows", "action.yml", cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _zizmor(".github/workflows", cwd=EXAMPLE)  # with zizmor's default policies
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_rejects_an_injectable_unpinned_workflow(tmp_path: Path) -> None:
    _workflow(
        tmp_path,
        "bad.yml",
        "on: pull_request_target\npermissions: write-all\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v5\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n',
    )
    proc = _zizmor(".github/workflows", cwd=tmp_path)
    assert proc.returncode != 0
    for audit in ("template-injection", "unpinned-uses", "dangerous-triggers"):
        assert audit in proc.stdout, proc.stdout


def test_zizmor_and_actionlint_are_clean_on_the_workflows_init_writes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from conn_reconcile.cli.main import cli

    result = CliRunner().invoke(cli, ["init", str(tmp_path / "repo")])
    assert result.exit_code == 0, result.output
    workflows = tmp_path / "repo" / ".github" / "workflows"
    assert sorted(p.name for p in workflows.glob("*.yml")) == ["apply.yml", "drift.yml", "plan.yml"]
    proc = _zizmor(".github/workflows", cwd=tmp_path / "repo")  # with zizmor's default policies
    assert proc.returncode == 0, proc.stdout + proc.stderr
    repo = tmp_path / "repo"
    lint = _run_actionlint(*(p.relative_to(repo) for p in sorted(workflows.glob("*.yml"))), cwd=repo)
    assert lint.returncode == 0, lint.stdout + lint.stderr
