"""``conn-reconcile init``: a connectors repository written from ``templates/`` (package data: the
files of examples/connectors-repo/, pins included; a ``dot-`` prefix stands for a leading dot),
only where nothing exists yet: an existing path refuses the whole scaffold before any write."""

from __future__ import annotations

import os
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path

from conn_reconcile.errors import RefusedError
from conn_reconcile.escape import escape

TEMPLATES = "templates"
DOT = "dot-"


def templates() -> list[tuple[str, bytes]]:
    """(path in the new repository, content) of every file ``init`` writes, sorted by path."""
    out: list[tuple[str, bytes]] = []

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            if child.name == "__pycache__":
                continue
            name = "." + child.name.removeprefix(DOT) if child.name.startswith(DOT) else child.name
            if child.is_dir():
                walk(child, f"{prefix}{name}/")
            else:
                out.append((prefix + name, child.read_bytes()))

    walk(files("conn_reconcile.workflows") / TEMPLATES, "")
    return sorted(out)


def _in_the_way(directory: Path, names: list[str]) -> list[str]:
    """The paths that would be overwritten or written through: the files themselves, and any
    directory on their way that is a file or a symlink."""
    blocked: dict[str, None] = {}
    if os.path.lexists(directory) and (directory.is_symlink() or not directory.is_dir()):
        return [str(directory)]
    for name in names:
        parts = Path(name).parts
        for i in range(1, len(parts) + 1):
            path = directory.joinpath(*parts[:i])
            is_file = i == len(parts)
            if os.path.lexists(path) and (is_file or path.is_symlink() or not path.is_dir()):
                blocked[str(path)] = None
                break
    return list(blocked)


def init_repository(directory: Path) -> list[Path]:
    """Write the scaffold into ``directory`` (made if missing); refused, with nothing written,
    when any of its paths exists. Each file is created exclusively: never replaced."""
    scaffold = templates()
    existing = _in_the_way(directory, [name for name, _ in scaffold])
    if existing:
        raise RefusedError(
            f"refusing to overwrite {len(existing)} existing path(s): {', '.join(map(escape, existing))}; "
            "nothing was written"
        )
    written = []
    for name, data in scaffold:
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as fh:
            fh.write(data)
        written.append(path)
    return written
