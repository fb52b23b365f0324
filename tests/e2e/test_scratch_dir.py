"""The scratch directory ``.conn-reconcile/`` (the default local state, its journal and lock, the git
state's scratch repository) sits beside conn-reconcile.yaml, else at the git root, else in the
working directory: runs from a subdirectory use the same one as runs from the root. The CLI
against the emulator, with real git."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from e2e import converged
from gitfixtures import BRANCH, STATE, git_env, make_clone, origin_repo  # noqa: F401

pytestmark = pytest.mark.e2e


def _scratch_dirs(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".conn-reconcile"))


def test_plan_and_apply_from_a_subdirectory_use_the_config_files_scratch_directory(project):
    subprocess.run(["git", "init", "-q", str(project.root)], check=True)
    (project.root / "conn-reconcile.yaml").write_text("dir: connectors\n", encoding="utf-8")
    project.write("docs.yaml", project.service("docs"))

    applied = project.run("apply", "--auto-approve", cwd=project.connectors)
    assert applied.code == 0, applied.both
    assert _scratch_dirs(project.root) == [".conn-reconcile"]
    (created,) = project.emulator.connectors
    assert list(project.state()["connectors"]) == [created["id"]]

    project.write("docs.yaml", project.service("docs", excludes=["raw_html"]))
    for where in (project.connectors, project.root):
        plan = project.run("plan", cwd=where)
        assert plan.code == 0, plan.both
        assert f"~ update docs ({created['id']})" in plan.out
        assert "# changed in git" in plan.out  # known from the state applied from connectors/
    assert project.run("apply", "--auto-approve", cwd=project.connectors).code == 0
    converged(project)
    assert _scratch_dirs(project.root) == [".conn-reconcile"]
    assert not (project.root / ".conn-reconcile" / "state.json.journal").exists()


def test_without_a_config_file_the_scratch_directory_is_at_the_git_root(project):
    subprocess.run(["git", "init", "-q", str(project.root)], check=True)
    project.write("docs.yaml", project.service("docs"))
    sub = project.root / "tools"
    sub.mkdir()
    applied = project.run("apply", "--auto-approve", "--dir", "../connectors", cwd=sub)
    assert applied.code == 0, applied.both
    assert _scratch_dirs(project.root) == [".conn-reconcile"]
    assert project.state()["connectors"]
    converged(project)


def test_a_git_state_from_a_subdirectory_uses_the_one_scratch_repository(project, origin_repo, git_env):  # noqa: F811
    project.root.rmdir()
    make_clone(origin_repo, project.root)
    project.env.update(git_env)
    (project.root / "conn-reconcile.yaml").write_text(f"dir: connectors\nstate: {STATE}\n", encoding="utf-8")
    project.write("docs.yaml", project.service("docs"))
    applied = project.run("apply", "--auto-approve", cwd=project.connectors)
    assert applied.code == 0, applied.both
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.both
    assert _scratch_dirs(project.root) == [".conn-reconcile"]
    assert (project.root / ".conn-reconcile" / "git" / "state" / "origin" / BRANCH / "state.json").is_file()


def test_the_example_repository_ignores_the_scratch_directory_and_the_readme_says_where_it_is(tmp_path):
    root = Path(__file__).resolve().parents[2]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy(root / "examples" / "connectors-repo" / ".gitignore", tmp_path / ".gitignore")
    paths = [".conn-reconcile/state.json", ".conn-reconcile/git/repo.git/HEAD"]
    ignored = subprocess.run(["git", "check-ignore", *paths], cwd=tmp_path, capture_output=True, text=True)
    assert ignored.stdout.splitlines() == paths, ignored.stderr
    readme = " ".join((root / "README.md").read_text(encoding="utf-8").split())
    assert "It sits beside `conn-reconcile.yaml` (the one found or given with `--config`), else, without a config" in (
        readme
    )
