"""The published pre-commit hook (``.pre-commit-hooks.yaml``), run by the real ``pre-commit``: each
consumer is a temporary git repository whose ``.pre-commit-config.yaml`` uses the hook as a
user's does (``repo:`` a snapshot of this checkout, ``rev:`` its commit); ``pre-commit run`` then
builds the hook's environment and runs ``entry`` on the consumer's files."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from helpers import HOOK_ID, HookBuild, git, init_repo, precommit_config

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
HOOK_NAME = "conn-reconcile validate"

MODELINE = "# yaml-language-server: $schema=../docs/connector.schema.json\n"
VALID_SERVICE = (
    MODELINE + "name: {name}\n"
    "description: Search the engineering handbook.\n"
    "url: https://docs.example.com/search\n"
    "service_auth:\n"
    "  type: bearer\n"
    "  token: ${{DOCS_TOKEN}}\n"
)
VALID_OAUTH = (
    MODELINE + "name: team-drive\n"
    "url: https://drive.example.com/search\n"
    "oauth:\n"
    "  client_id: demo\n"
    "  client_secret: ${DRIVE_SECRET}\n"
    "  authorize_url: https://accounts.example.com/auth\n"
    "  token_url: https://accounts.example.com/token\n"
)


@pytest.fixture(scope="session")
def env(precommit_env: dict[str, str]) -> dict[str, str]:
    return precommit_env


@pytest.fixture(scope="session")
def hook_installed(hook_build: HookBuild) -> None:
    """The hook's environment is built (by ``pre-commit install-hooks``, started in the
    background when the session began)."""
    hook_build.wait()


@pytest.fixture
def consumer(tmp_path: Path, env: dict[str, str], hook_installed: None) -> Path:
    """A fresh git repository that uses the hook."""
    repo = tmp_path / "consumer"
    repo.mkdir()
    init_repo(repo, env)
    return repo


def _write(repo: Path, rel: str, text: str) -> Path:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _run_hook(
    consumer: Path,
    hook_repo: Path,
    hook_rev: str,
    env: Mapping[str, str],
    *,
    all_files: bool = True,
    stage: bool = True,
) -> tuple[int, str]:
    """``pre-commit run`` in the consumer with the hook in its config (on the staged files
    unless ``all_files``; ``stage``: stage every change first, else only the config)."""
    _write(consumer, ".pre-commit-config.yaml", precommit_config(hook_repo, hook_rev))
    if stage:
        git(consumer, "add", "-A", env=env)
    else:
        git(consumer, "add", ".pre-commit-config.yaml", env=env)
    cmd = [sys.executable, "-m", "pre_commit", "run", HOOK_ID, "--color", "never"]
    if all_files:
        cmd.append("--all-files")
    proc = subprocess.run(cmd, cwd=consumer, env=dict(env), capture_output=True, text=True, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


def _hook_output(output: str) -> str:
    """What the hook itself printed (pre-commit shows it after the hook id on failure)."""
    marker = f"- hook id: {HOOK_ID}"
    assert marker in output, f"pre-commit did not report the hook as failed:\n{output}"
    return output.split(marker, 1)[1]


def test_manifest_checks_the_files_passed_against_the_whole_directory() -> None:
    from ruamel.yaml import YAML

    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = (h for h in hooks if h["id"] == HOOK_ID)
    assert hook["name"] == HOOK_NAME
    assert hook["entry"] == "conn-reconcile validate"
    assert hook["language"] == "python"
    assert hook["types_or"] == ["yaml"]
    assert hook["files"] == "^connectors/"
    assert hook["pass_filenames"] is True and not hook.get("require_serial", False)
    assert hook["args"] == ["--against", "connectors"]


@pytest.mark.slow
def test_hook_passes_on_valid_connectors(consumer: Path, hook_repo: Path, hook_rev: str, env: dict[str, str]) -> None:
    _write(consumer, "connectors/docs.yaml", VALID_SERVICE.format(name="docs"))
    _write(consumer, "connectors/drive.yaml", VALID_OAUTH)
    _write(consumer, "README.md", "not a connector\n")

    code, output = _run_hook(consumer, hook_repo, hook_rev, env)

    assert code == 0, output
    assert re.search(rf"^{re.escape(HOOK_NAME)}\.+Passed$", output, re.MULTILINE), output


@pytest.mark.slow
def test_hook_reports_unknown_field_with_file_line_and_field(
    consumer: Path, hook_repo: Path, hook_rev: str, env: dict[str, str]
) -> None:
    _write(consumer, "connectors/docs.yaml", VALID_SERVICE.format(name="docs"))
    bad = VALID_SERVICE.format(name="tickets").replace("url:", "colour: blue\nurl:")
    _write(consumer, "connectors/tickets.yaml", bad)
    line = bad.splitlines().index("colour: blue") + 1

    code, output = _run_hook(consumer, hook_repo, hook_rev, env)

    assert code == 1, output
    assert re.search(rf"^{re.escape(HOOK_NAME)}\.+Failed$", output, re.MULTILINE), output
    hook_out = _hook_output(output)
    assert re.search(rf"connectors/tickets\.yaml:{line}\b.*\bcolour\b", hook_out), hook_out
    assert "docs.yaml" not in hook_out, hook_out


@pytest.mark.slow
def test_hook_reports_duplicate_names_naming_both_files(
    consumer: Path, hook_repo: Path, hook_rev: str, env: dict[str, str]
) -> None:
    _write(consumer, "connectors/a.yaml", VALID_SERVICE.format(name="shared-search"))
    _write(consumer, "connectors/b.yaml", VALID_SERVICE.format(name="shared-search"))

    code, output = _run_hook(consumer, hook_repo, hook_rev, env)

    assert code == 1, output
    hook_out = _hook_output(output)
    assert "duplicate" in hook_out.lower() and "shared-search" in hook_out, hook_out
    assert "connectors/a.yaml" in hook_out and "connectors/b.yaml" in hook_out, hook_out


@pytest.mark.slow
def test_hook_checks_what_is_staged_against_the_whole_directory(
    consumer: Path, hook_repo: Path, hook_rev: str, env: dict[str, str]
) -> None:
    """Without --all-files pre-commit passes only the staged files: a staged file clashing
    with an unchanged one is reported on the staged file; an unstaged edit is not checked
    (pre-commit stashes it), and a committed file's problems are not the commit's."""
    _write(consumer, "connectors/zz-existing.yaml", VALID_SERVICE.format(name="shared-search"))
    _write(consumer, "connectors/docs.yaml", VALID_SERVICE.format(name="docs"))
    _write(consumer, "connectors/tickets.yaml", VALID_SERVICE.format(name="tickets"))
    git(consumer, "add", "-A", env=env)
    git(consumer, "commit", "-q", "-m", "first connectors", env=env)
    _write(consumer, "connectors/aa-new.yaml", VALID_SERVICE.format(name="Shared-Search"))  # sorts first
    git(consumer, "add", "connectors/aa-new.yaml", env=env)
    # staged valid, then broken in the working tree only: the commit holds the valid version
    _write(consumer, "connectors/docs.yaml", VALID_SERVICE.format(name="docs").replace("docs\n", "docs2\n"))
    git(consumer, "add", "connectors/docs.yaml", env=env)
    _write(consumer, "connectors/docs.yaml", "name: docs\nurll: nope\n")
    _write(consumer, "connectors/tickets.yaml", "name: tickets\nurll: nope\n")  # unstaged, not committed

    code, output = _run_hook(consumer, hook_repo, hook_rev, env, all_files=False, stage=False)

    assert code == 1, output
    hook_out = _hook_output(output)
    line = VALID_SERVICE.splitlines().index("name: {name}") + 1
    assert re.search(rf"connectors/aa-new\.yaml:{line}:1: name: duplicate connector name 'Shared-Search'", hook_out), (
        hook_out
    )
    assert "also defined in connectors/zz-existing.yaml" in hook_out, hook_out
    assert "zz-existing.yaml:" not in hook_out and "urll" not in hook_out, hook_out
    assert "docs.yaml" not in hook_out and "tickets.yaml" not in hook_out, hook_out
    # pre-commit put the unstaged edits back
    assert "urll" in (consumer / "connectors" / "docs.yaml").read_text(encoding="utf-8")


def test_hook_ignores_yaml_outside_connectors(
    consumer: Path, hook_repo: Path, hook_rev: str, env: dict[str, str]
) -> None:
    _write(consumer, "deploy/values.yaml", "colour: blue\nreplicas: 3\n")

    code, output = _run_hook(consumer, hook_repo, hook_rev, env)

    assert code == 0, output
    assert re.search(rf"^{re.escape(HOOK_NAME)}\.+\(no files to check\)Skipped$", output, re.MULTILINE), output
