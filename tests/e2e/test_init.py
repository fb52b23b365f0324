"""``conn-reconcile init``: a connectors repository in one command (the files of
examples/connectors-repo/, byte for byte: the same pins), which validates as written, and which
never overwrites anything: an existing path is named and nothing is written."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from gitfixtures import git, git_env  # noqa: F401

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "connectors-repo"
#: what init writes: every file of the example but its README
WRITTEN = sorted(p.relative_to(EXAMPLE).as_posix() for p in EXAMPLE.rglob("*") if p.is_file() and p.name != "README.md")


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts[:1]
    }


def test_the_example_readme_starts_with_init() -> None:
    steps = re.findall(r"^\d+\. (.*)$", (EXAMPLE / "README.md").read_text(encoding="utf-8"), re.M)
    assert "`conn-reconcile init`" in steps[0]


def test_init_writes_the_example_repository_which_validates(project, git_env):  # noqa: F811
    project.env.update(git_env)
    git(project.root, "init", "-q")  # a new, empty repository
    run = project.run("init")

    assert run.code == 0, run.both
    assert set(WRITTEN) == {
        ".github/workflows/apply.yml",
        ".github/workflows/drift.yml",
        ".github/workflows/plan.yml",
        ".gitignore",
        ".pre-commit-config.yaml",
        "conn-reconcile.yaml",
        "connectors/handbook.yaml",
    }
    example = {name: (EXAMPLE / name).read_bytes() for name in WRITTEN}
    assert _tree(project.root) == example  # the same files and pins as the example, byte for byte
    assert run.out == "".join(f"wrote {name}\n" for name in WRITTEN), run.out
    assert "conn-reconcile validate" in run.err  # what to do next
    assert "#" in (project.root / "connectors" / "handbook.yaml").read_text().splitlines()[0]  # commented

    validate = project.run("validate")
    assert validate.code == 0 and "1 connector file(s) valid." in validate.err, validate.both
    secrets = project.run("secrets")
    assert secrets.code == 0 and "HANDBOOK_CONNECTOR_TOKEN" in secrets.out, secrets.both
    (project.root / ".conn-reconcile").mkdir()
    (project.root / ".conn-reconcile" / "state.json").write_text("{}")
    ignored = subprocess.run(["git", "check-ignore", "-q", ".conn-reconcile/state.json"], cwd=project.root)
    assert ignored.returncode == 0  # the tool's scratch directory is never committed
    git(project.root, "add", "-A")
    committed = git(project.root, "diff", "--cached", "--name-only").split()
    assert sorted(committed) == WRITTEN  # everything init wrote, and nothing of the tool's scratch


def test_init_refuses_to_overwrite_anything_and_writes_nothing(project):
    assert project.run("init").code == 0
    (project.root / ".github" / "workflows" / "drift.yml").unlink()
    (project.root / "connectors" / "handbook.yaml").unlink()
    (project.root / ".gitignore").write_text("mine\n")
    before = _tree(project.root)

    run = project.run("init")

    assert run.code == 1, run.both
    existing = [n for n in WRITTEN if n not in (".github/workflows/drift.yml", "connectors/handbook.yaml")]
    for name in existing:
        assert name in run.err, run.err
    assert "drift.yml" not in run.err and "handbook.yaml" not in run.err
    assert "nothing was written" in run.err
    assert _tree(project.root) == before and run.out == ""


def test_init_into_a_new_directory(project):
    run = project.run("init", "infra/connectors-repo")
    assert run.code == 0, run.both
    target = project.root / "infra" / "connectors-repo"
    assert sorted(_tree(target)) == WRITTEN
    assert "wrote infra/connectors-repo/conn-reconcile.yaml" in run.out
    validate = project.run("validate", cwd=target)
    assert validate.code == 0, validate.both


@pytest.mark.slow
def test_init_from_an_installed_wheel_writes_the_same_files(tmp_path: Path, hook_build, precommit_env) -> None:
    """The pre-commit hook's environment holds conn-reconcile as pip installs it from this checkout
    (a wheel built by flit_core, not an editable install): its init finds the package data."""
    hook_build.wait()
    found = sorted(Path(precommit_env["PRE_COMMIT_HOME"]).glob("repo*/py_env-*/bin/conn-reconcile"))
    assert found, "no installed conn-reconcile in the hook's environment"
    proc = subprocess.run(
        [str(found[0]), "init", "repo"], cwd=tmp_path, env=precommit_env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _tree(tmp_path / "repo") == {name: (EXAMPLE / name).read_bytes() for name in WRITTEN}
