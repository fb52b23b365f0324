"""Writing an artifact's file out: a private file, never through a symlink nor over another file,
named by a plain file name only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from conn_reconcile.github.artifact import write_safely

PLAN = "conn-reconcile-plan.json"


def test_write_safely_creates_a_private_file(tmp_path: Path) -> None:
    path = write_safely(tmp_path, PLAN, b"plan")
    assert path == tmp_path / PLAN and path.read_bytes() == b"plan"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_safely_never_overwrites_nor_follows_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "existing.json").write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        write_safely(tmp_path, "existing.json", b"plan")
    assert (tmp_path / "existing.json").read_bytes() == b"keep"
    target = tmp_path / "elsewhere"
    (tmp_path / "dangling.json").symlink_to(target)
    with pytest.raises(FileExistsError):
        write_safely(tmp_path, "dangling.json", b"plan")
    assert not target.exists(), "nothing was written through the symlink"
    (tmp_path / "to-existing.json").symlink_to(tmp_path / "existing.json")
    with pytest.raises(FileExistsError):
        write_safely(tmp_path, "to-existing.json", b"plan")
    assert (tmp_path / "existing.json").read_bytes() == b"keep"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "/etc/passwd", "../x", "nul\0byte"])
def test_write_safely_takes_a_plain_file_name_only(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        write_safely(tmp_path / "sub", name, b"plan")
