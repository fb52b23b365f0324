"""The published pre-commit hook (``.pre-commit-hooks.yaml``), run by the real ``pre-commit``.

``pre-commit try-repo`` installs the hook the way a user's ``.pre-commit-config.yaml`` would:
it clones the hook repository, builds a virtualenv, pip-installs this project into it and runs
``entry`` in a *consumer* repository (a temporary git repo with a ``connectors/`` directory).

The hook repository is a committed snapshot of this checkout's working tree (tracked files
plus untracked, non-ignored ones). ``try-repo <this checkout>`` would only see committed
and *tracked* modified files, so a hook manifest or module that is not committed yet would
silently be tested at its HEAD version (or not at all).

``PRE_COMMIT_HOME`` is shared by the whole module, so the hook environment is built once.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
HOOK_ID = "conn-reconcile-validate"
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


def _git(cwd: Path, *args: str, env: Mapping[str, str]) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env=dict(env), capture_output=True, text=True)
    assert proc.returncode == 0, f"git {' '.join(args)} failed in {cwd}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def _init_repo(path: Path, env: Mapping[str, str]) -> None:
    _git(path, "init", "-q", env=env)
    _git(path, "config", "user.name", "conn-reconcile tests", env=env)
    _git(path, "config", "user.email", "tests@conn-reconcile.invalid", env=env)
    _git(path, "config", "commit.gpgsign", "false", env=env)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment isolated from the developer's git config and API credentials."""
    base = tmp_path_factory.mktemp("pre-commit-env")
    gitconfig = base / "gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n")
    out = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    # Prove the hook is offline: no API key, no API URL, no secret values.
    for name in ("CO_API_KEY", "CO_API_URL", "CONN_RECONCILE_FINGERPRINT_KEY", "DOCS_TOKEN", "DRIVE_SECRET"):
        out.pop(name, None)
    out.update(
        PRE_COMMIT_HOME=str(base / "pre-commit-home"),
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        NO_COLOR="1",
    )
    return out


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """A one-commit git repository holding this checkout's working tree."""
    if shutil.which("git") is None:
        pytest.fail("git is required to test the pre-commit hook")
    listed = _git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard", env=env)
    assert ".pre-commit-hooks.yaml" in listed.split("\0"), "the hook manifest is missing from the checkout"
    dest = tmp_path_factory.mktemp("hook-repo")
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():  # a tracked file may have been deleted in the working tree
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    _init_repo(dest, env)
    _git(dest, "add", "-A", env=env)
    _git(dest, "commit", "-q", "-m", "snapshot of the working tree", env=env)
    return dest


@pytest.fixture
def consumer(tmp_path: Path, env: dict[str, str]) -> Path:
    """A fresh git repository that uses the hook."""
    repo = tmp_path / "consumer"
    repo.mkdir()
    _init_repo(repo, env)
    return repo


def _write(repo: Path, rel: str, text: str) -> Path:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _try_repo(consumer: Path, hook_repo: Path, env: Mapping[str, str], *, all_files: bool = True) -> tuple[int, str]:
    _git(consumer, "add", "-A", env=env)
    cmd = [sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), HOOK_ID, "--color", "never"]
    if all_files:
        cmd.append("--all-files")
    proc = subprocess.run(cmd, cwd=consumer, env=dict(env), capture_output=True, text=True, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


def _hook_output(output: str) -> str:
    """What the hook itself printed (pre-commit shows it after the hook id on failure)."""
    marker = f"- hook id: {HOOK_ID}"
    assert marker in output, f"pre-commit did not report the hook as failed:\n{output}"
    return output.split(marker, 1)[1]


def test_manifest_runs_once_over_the_whole_directory() -> None:
    from ruamel.yaml import YAML

    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = (h for h in hooks if h["id"] == HOOK_ID)
    assert hook["name"] == HOOK_NAME
    assert hook["entry"] == "conn-reconcile validate"
    assert hook["language"] == "python"
    assert hook["types_or"] == ["yaml"]
    assert hook["files"] == "^connectors/"
    assert hook["pass_filenames"] is False and hook["require_serial"] is True
    assert hook["args"] == ["connectors"]


def test_hook_passes_on_valid_connectors(consumer: Path, hook_repo: Path, env: dict[str, str]) -> None:
    _write(consumer, "connectors/docs.yaml", VALID_SERVICE.format(name="docs"))
    _write(consumer, "connectors/drive.yaml", VALID_OAUTH)
    _write(consumer, "README.md", "not a connector\n")

    code, output = _try_repo(consumer, hook_repo, env)

    assert code == 0, output
    assert re.search(rf"^{re.escape(HOOK_NAME)}\.+Passed$", output, re.MULTILINE), output


def test_hook_reports_unknown_field_with_file_line_and_field(
    consumer: Path, hook_repo: Path, env: dict[str, str]
) -> None:
    _write(consumer, "connectors/docs.yaml", VALID_SERVICE.format(name="docs"))
    bad = VALID_SERVICE.format(name="tickets").replace("url:", "colour: blue\nurl:")
    _write(consumer, "connectors/tickets.yaml", bad)
    line = bad.splitlines().index("colour: blue") + 1

    code, output = _try_repo(consumer, hook_repo, env)

    assert code == 1, output
    assert re.search(rf"^{re.escape(HOOK_NAME)}\.+Failed$", output, re.MULTILINE), output
    hook_out = _hook_output(output)
    assert re.search(rf"connectors/tickets\.yaml:{line}\b.*\bcolour\b", hook_out), hook_out
    assert "docs.yaml" not in hook_out, hook_out


def test_hook_reports_duplicate_names_naming_both_files(consumer: Path, hook_repo: Path, env: dict[str, str]) -> None:
    _write(consumer, "connectors/a.yaml", VALID_SERVICE.format(name="shared-search"))
    _write(consumer, "connectors/b.yaml", VALID_SERVICE.format(name="shared-search"))

    code, output = _try_repo(consumer, hook_repo, env)

    assert code == 1, output
    hook_out = _hook_output(output)
    assert "duplicate" in hook_out.lower() and "shared-search" in hook_out, hook_out
    assert "connectors/a.yaml" in hook_out and "connectors/b.yaml" in hook_out, hook_out


def test_hook_checks_a_new_file_against_unchanged_ones(consumer: Path, hook_repo: Path, env: dict[str, str]) -> None:
    """Without --all-files pre-commit only knows the staged file: the reason for pass_filenames: false."""
    _write(consumer, "connectors/a.yaml", VALID_SERVICE.format(name="shared-search"))
    _git(consumer, "add", "-A", env=env)
    _git(consumer, "commit", "-q", "-m", "first connector", env=env)
    _write(consumer, "connectors/b.yaml", VALID_SERVICE.format(name="Shared-Search"))

    code, output = _try_repo(consumer, hook_repo, env, all_files=False)

    assert code == 1, output
    hook_out = _hook_output(output)
    assert "connectors/a.yaml" in hook_out and "connectors/b.yaml" in hook_out, hook_out


def test_hook_ignores_yaml_outside_connectors(consumer: Path, hook_repo: Path, env: dict[str, str]) -> None:
    _write(consumer, "deploy/values.yaml", "colour: blue\nreplicas: 3\n")

    code, output = _try_repo(consumer, hook_repo, env)

    assert code == 0, output
    assert re.search(rf"^{re.escape(HOOK_NAME)}\.+\(no files to check\)Skipped$", output, re.MULTILINE), output
