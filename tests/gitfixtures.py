"""Fixtures for the git state backend's tests: an isolated git configuration, a bare
repository on disk as ``origin`` and a clone of it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

STATE = "git:conn-reconcile-state:state.json"
BRANCH = "conn-reconcile-state"
LOCK_REF = f"refs/conn-reconcile/lock/{BRANCH}"


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"git {' '.join(args)} failed in {cwd}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


@pytest.fixture
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A git configuration of the test's own (no user or system config), in os.environ and
    returned for the CLI's environment."""
    config = tmp_path / "gitconfig"
    config.write_text(
        "[init]\n\tdefaultBranch = main\n[user]\n\tname = tests\n\temail = tests@example.invalid\n"
        "[commit]\n\tgpgsign = false\n[advice]\n\tdetachedHead = false\n"
    )
    env = {"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1"}
    for name in list(os.environ):
        if name.startswith("GIT_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env


@pytest.fixture
def origin_repo(tmp_path: Path, git_env: dict[str, str]) -> Path:
    path = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(path))
    return path


def make_clone(origin: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(dest.parent, "clone", "-q", str(origin), str(dest))
    return dest


@pytest.fixture
def clone(tmp_path: Path, origin_repo: Path) -> Path:
    return make_clone(origin_repo, tmp_path / "clone-a")


def branch_commit(origin: Path, ref: str = f"refs/heads/{BRANCH}") -> str | None:
    proc = subprocess.run(
        ["git", "--git-dir", str(origin), "rev-parse", "--verify", "--quiet", ref], capture_output=True, text=True
    )
    return proc.stdout.strip() if proc.returncode == 0 else None
