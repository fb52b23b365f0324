"""Every command the tool prints for the user to run runs as printed: the lock's ``force-unlock``
hint (a local lock and a lock on a git remote) and the ``apply PLANFILE`` hint of ``plan --out``,
in a repository with environments, a config file given with ``--config`` and a ``--state``. The
printed line is run by bash, as pasted, with the CLI against the emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from contextlib import chdir
from pathlib import Path

import pytest
from e2e import Project
from gitfixtures import LOCK_REF, SPEC, STATE, branch_commit, git_env, make_clone, origin_repo  # noqa: F401

from conn_reconcile.state.git.lock import GitLock
from conn_reconcile.state.lock import FileLock, lock_path

pytestmark = pytest.mark.e2e

HINT = re.compile(r"(?:run|with): ((?:[A-Z_]+=\S+ )?conn-reconcile [^\n]*)")


#: the README as one line (its prose wraps anywhere)
README = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8").split())


def _config(project: Project, name: str = "conn-reconcile.yaml", state: str = ".state/staging.json") -> Path:
    path = project.root / name
    path.write_text(
        f"dir: connectors\nenvironments:\n  staging:\n    api_url: {project.api_url}\n    state: {state}\n"
        "  prod:\n    api_url: https://prod.invalid\n",
        encoding="utf-8",
    )
    project.env.update({"CO_API_URL": ""})  # the environment's api_url, as a user of environments has it
    return path


def run_hint(project: Project, text: str) -> subprocess.CompletedProcess[str]:
    """The one hint in ``text``, run by bash in the project as the user would paste it."""
    (hint,) = HINT.findall(text)
    env = project.full_env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    proc = subprocess.run(["bash", "-c", hint], cwd=project.root, env=env, capture_output=True, text=True, timeout=60)
    project.outputs.append(proc.stdout + proc.stderr)
    return proc


def test_the_local_lock_hint_runs_as_printed_with_env_config_and_state(project):
    _config(project, "deploy.yaml")
    project.write("docs.yaml", project.service("docs"))
    for where in (("--env", "staging"), ("--env", "staging", "--config", "deploy.yaml", "--state", "s.json")):
        state = project.root / (where[-1] if "--state" in where else ".state/staging.json")
        holder = FileLock(lock_path(state))
        holder.acquire("apply")  # another run, holding the lock
        try:
            refused = project.run(*where, "apply", "--auto-approve", env={"CONN_RECONCILE_CONFIG": "deploy.yaml"})
            assert refused.code == 1, refused.both
            assert "the state is locked" in refused.err
            forced = run_hint(project, refused.err)
            assert forced.returncode == 0, forced.stdout + forced.stderr
            assert "Removed lock" in forced.stdout
            assert not lock_path(state).exists()
            if "--state" in where:  # the README's example is this hint
                (hint,) = HINT.findall(refused.err)
                assert hint.rsplit(" ", 1)[0] + " 0f3c…`" in README
        finally:
            holder.release()
    assert project.emulator.connectors == []


def test_the_saved_plans_apply_hint_runs_as_printed(project):
    _config(project)
    project.write("docs.yaml", project.service("docs"))
    saved = project.run("--env", "staging", "plan", "--out", "p.json")
    assert saved.code == 0, saved.both
    applied = run_hint(project, saved.err)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert [c["name"] for c in project.emulator.connectors] == ["docs"]


def test_the_git_lock_hint_runs_as_printed_in_an_environment(project, origin_repo, git_env):  # noqa: F811
    project.root.rmdir()
    make_clone(origin_repo, project.root)
    project.env.update(git_env)
    _config(project, state=STATE)
    project.write("docs.yaml", project.service("docs"))
    with chdir(project.root):
        GitLock(SPEC, project.root / ".conn-reconcile" / "git", env={}).acquire("apply")  # a killed run's
    refused = project.run("--env", "staging", "apply", "--auto-approve")
    assert refused.code == 1 and "the state is locked" in refused.err, refused.both
    forced = run_hint(project, refused.err)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert branch_commit(origin_repo, LOCK_REF) is None
