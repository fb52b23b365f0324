"""Reading and writing the state file (default ``.conn-reconcile/state.json``), atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from pydantic import ValidationError

from conn_reconcile.errors import StateError
from conn_reconcile.state import State

DEFAULT_STATE_PATH = Path(".conn-reconcile/state.json")


def load(path: Path) -> State | None:
    """The state at ``path``, or None when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{path}: cannot read state file: {exc.strerror}") from None
    try:
        return State.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StateError(f"{path}: not a conn-reconcile state file (version 1): {where}: {first['msg']}") from None


def write_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render(state: State, cache: dict[str, tuple[object, str]] | None = None) -> str:
    """The state file's text: one JSON document, one line per connector record (sorted by id).

    ``cache`` maps a record id to (record object, its JSON) from an earlier call: records are
    replaced, never mutated, so an unchanged object is not serialised again. That keeps a save
    after every change cheap when thousands of connectors are managed.
    """
    cache = cache if cache is not None else {}
    lines = []
    for rid in sorted(state.connectors):
        record = state.connectors[rid]
        hit = cache.get(rid)
        if hit is None or hit[0] is not record:
            hit = (record, json.dumps(record.model_dump(mode="json"), sort_keys=True))
            cache[rid] = hit
        lines.append(f"    {json.dumps(rid)}: {hit[1]}")
    for gone in cache.keys() - state.connectors.keys():
        del cache[gone]
    body = ",\n".join(lines)
    return f'{{\n  "connectors": {{\n{body}\n  }},\n  "version": {state.version}\n}}\n' if lines else (
        f'{{\n  "connectors": {{}},\n  "version": {state.version}\n}}\n'
    )


def save(path: Path, state: State) -> None:
    write_atomic(path, render(state))


class StateWriter:
    """Saves the state after each change, re-serialising only the records that changed."""

    def __init__(self, path: Path):
        self.path = path
        self._cache: dict[str, tuple[object, str]] = {}

    def __call__(self, state: State) -> None:
        write_atomic(self.path, render(state, self._cache))
