"""workflows.renames: the renames git saw among the connector files, read with a real git: since
the commit last applied, else since HEAD (a ``git mv`` not committed yet); nothing when no managed
file is gone, outside git, or for an ``applied_commit`` that is not a commit id."""

from __future__ import annotations

from contextlib import chdir

from gitfixtures import git, git_env  # noqa: F401
from helpers import desired

from conn_reconcile.model.state import ManagedRecord, State
from conn_reconcile.workflows.renames import git_renames

TEXT = "name: {}\nurl: https://hb.example.com/search\ndescription: The engineering handbook, searched.\n"


def _state(commit: str | None = None) -> State:
    record = ManagedRecord(id="hb-1", name="handbook", file="connectors/handbook.yaml")
    return State(connectors={"hb-1": record}, applied_commit=commit)


def _setup(root, name: str = "handbook"):
    (root / "connectors").mkdir(exist_ok=True)
    (root / "connectors" / f"{name}.yaml").write_text(TEXT.format(name))


def test_renames_since_the_applied_commit_and_since_head(tmp_path, git_env):  # noqa: F811
    git(tmp_path, "init", "-q")
    _setup(tmp_path)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "one")
    applied = git(tmp_path, "rev-parse", "HEAD").strip()
    git(tmp_path, "mv", "connectors/handbook.yaml", "connectors/eng-handbook.yaml")
    (tmp_path / "connectors" / "eng-handbook.yaml").write_text(TEXT.format("eng-handbook"))
    files = [desired("connectors/eng-handbook.yaml", name="eng-handbook")]
    expected = {"connectors/handbook.yaml": "connectors/eng-handbook.yaml"}
    with chdir(tmp_path):
        assert git_renames(files, _state()) == expected  # not committed: since HEAD
        git(tmp_path, "commit", "-q", "-m", "renamed")
        assert git_renames(files, _state()) == {}  # committed, and no commit applied to go by
        assert git_renames(files, _state(applied)) == expected
        assert git_renames(files, _state("--output=x")) == {}  # never an option
        assert git_renames(files, _state("0" * 40)) == {}  # an unknown commit: HEAD, which has it all
        assert git_renames([*files, desired("connectors/handbook.yaml", name="handbook")], _state(applied)) == {}
    with chdir(tmp_path / "connectors"):  # from a subdirectory, the files named from there
        here = [desired("eng-handbook.yaml", name="eng-handbook")]
        state = State(connectors={"hb-1": ManagedRecord(id="hb-1", name="handbook", file="handbook.yaml")})
        state.applied_commit = applied
        assert git_renames(here, state) == {"handbook.yaml": "eng-handbook.yaml"}


def test_outside_git_nothing(tmp_path, git_env):  # noqa: F811
    _setup(tmp_path, "eng-handbook")
    with chdir(tmp_path):
        assert git_renames([desired("connectors/eng-handbook.yaml", name="eng-handbook")], _state("a" * 40)) == {}
