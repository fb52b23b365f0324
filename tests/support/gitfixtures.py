"""Fixtures for the git state backend's tests: an isolated git configuration, a bare
repository on disk as ``origin``, clones of it, the state read and pushed in a clone, and a
``pre-receive`` hook that makes two pushes meet on the remote."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import chdir
from pathlib import Path
from typing import Any

import pytest

from conn_reconcile.state.git import branch as gitstate
from conn_reconcile.state.spec import GitStateSpec

STATE = "git:conn-reconcile-state:state.json"
BRANCH = "conn-reconcile-state"
LOCK_REF = f"refs/conn-reconcile/lock/{BRANCH}"
SPEC = GitStateSpec("origin", BRANCH, "state.json")


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


def branch_state(origin: Path) -> dict[str, Any] | None:
    """The state file on the origin's state branch, parsed (None: no branch)."""
    proc = subprocess.run(
        ["git", "--git-dir", str(origin), "show", f"{BRANCH}:state.json"], capture_output=True, text=True
    )
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def scratch(clone: Path) -> Path:
    return clone / ".conn-reconcile" / "git"


def local_state(clone: Path) -> Path:
    """Where a run in ``clone`` keeps its local copy of the branch's state."""
    return scratch(clone) / "state" / "origin" / BRANCH / "state.json"


def pull_in(clone: Path) -> str | None:
    with chdir(clone):  # the scratch repository takes its remote from the clone's config
        return gitstate.pull(SPEC, scratch(clone), local_state(clone))


def publish_in(clone: Path, run_id: str = "run") -> str | None:
    with chdir(clone):
        return gitstate.publish(SPEC, scratch(clone), local_state(clone), run_id)


def rendezvous_hook(origin: Path, ref: str, wait: float = 20.0) -> Path:
    """Install a ``pre-receive`` hook in ``origin``: the first two pushes to ``ref`` each
    leave a marker and wait (at most ``wait`` seconds) until both are there, so both pass the
    client's lease check (the ref was read, commands sent) before either updates the ref.
    Later pushes go through at once. The directory of the markers is returned."""
    markers = origin / "rendezvous"
    markers.mkdir()
    hook = origin / "hooks" / "pre-receive"
    polls = int(wait / 0.05)
    hook.write_text(
        "#!/bin/sh\n"
        f'grep -q " {ref}$" || exit 0\n'
        f'mkdir "{markers}/1" 2>/dev/null || mkdir "{markers}/2" 2>/dev/null || exit 0\n'
        "i=0\n"
        f'while [ ! -d "{markers}/2" ] && [ $i -lt {polls} ]; do sleep 0.05; i=$((i + 1)); done\n'
        "exit 0\n"
    )
    hook.chmod(0o755)
    return markers
