"""The state on disk: ``state.json`` (a snapshot) plus ``state.json.journal`` (the mutations appended
since, one JSON line each), so that every change of an apply is one short durable line and a crash
never loses a created id. Readers take the snapshot and replay the journal; :func:`compact` folds
the journal into a new snapshot."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from pydantic import ValidationError

from conn_reconcile.errors import StateError
from conn_reconcile.files.atomic import fsync_dir, write_atomic
from conn_reconcile.model.state import Mutation, OrgSnapshot, State
from conn_reconcile.model.validation import first_problem, validate_json


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


def _parse_state(path: Path, text: str) -> State:
    try:
        return validate_json(State, text)
    except ValidationError as exc:
        why = first_problem(exc, "")
        raise StateError(f"{path}: not a conn-reconcile state file (version 1 or 2): {why}") from None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{path}: cannot read state file: {exc.strerror}") from None


def load(path: Path) -> State | None:
    """The state at ``path`` with its journal replayed, or None when there is neither."""
    raw = _read(path)
    journal = _read(journal_path(path))
    if raw is None and not journal:
        return None
    state = _parse_state(path, raw.decode("utf-8", "replace")) if raw is not None else State()
    if journal:
        replay(state, journal, journal_path(path))
    return state


def replay(state: State, journal: bytes, where: Path) -> None:
    """Apply the journal's mutations to ``state``; a torn last line (a crash in the middle of an
    append) is ignored, since its call never went on."""
    lines = journal.split(b"\n")
    complete, torn = lines[:-1], lines[-1]
    del torn  # an append cut short by a crash: its remote call never went on
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            state.apply(validate_json(Mutation, line))
        except ValidationError:
            raise StateError(f"{where}:{number}: not a conn-reconcile journal entry") from None


def render(state: State) -> str:
    """The snapshot's text: one JSON document, one line per record and per intent (sorted)."""

    def section(items: dict[str, str]) -> str:
        if not items:
            return "{}"
        body = ",\n".join(f"    {json.dumps(k)}: {items[k]}" for k in sorted(items))
        return "{\n" + body + "\n  }"

    records = {rid: json.dumps(r.model_dump(mode="json"), sort_keys=True) for rid, r in state.connectors.items()}
    intents = {iid: json.dumps(i.model_dump(mode="json"), sort_keys=True) for iid, i in state.intents.items()}
    extra = ""
    if state.applied_commit is not None:
        extra += f',\n  "applied_commit": {json.dumps(state.applied_commit)}'
    if state.org is not None:
        extra += f',\n  "org": {_render_org(state.org)}'
    return (
        f'{{\n  "connectors": {section(records)},\n  "intents": {section(intents)},\n  "version": {json.dumps(2)}'
        f"{extra}\n}}\n"
    )


def _render_org(org: OrgSnapshot) -> str:
    """The org snapshot, one connector per line (its diffs on the state branch stay readable)."""
    head = org.model_dump(mode="json", exclude={"connectors"})
    lines = ",\n".join(f"      {json.dumps(c, sort_keys=True)}" for c in org.connectors)
    items = "".join(f"\n    {json.dumps(k)}: {json.dumps(v)}," for k, v in sorted(head.items()))
    body = f"[\n{lines}\n    ]" if org.connectors else "[]"
    return "{" + items + f'\n    "connectors": {body}\n  }}'


def compact(path: Path, state: State) -> None:
    """Write ``state`` as the new snapshot and remove the journal (in that order: replaying
    an old journal over the new snapshot changes nothing, since mutations are idempotent). Done
    at the end of a run, and whenever a run starts with a journal left behind."""
    state.version = 2
    write_atomic(path, render(state))
    journal_path(path).unlink(missing_ok=True)
    fsync_dir(path.parent)


class Journal:
    """Appends mutations durably: an intent before each remote write, the new record right after
    it. Appends are cheap (one short line, whatever the number of connectors) and thread-safe;
    concurrent appends share one fsync (group commit), so workers never queue behind a rewrite
    of the whole file."""

    def __init__(self, path: Path):
        self.path = journal_path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._write_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0
        self._synced = 0

    def append(self, mutation: Mutation) -> None:
        """Write ``mutation`` (it then survives the process being killed). A mutation that
        opens an intent returns only once it is synced to disk (it survives a machine crash
        too), since its remote call is sent next; outcomes are synced with the next intent or
        at :meth:`close`: should the machine fail before, the intent they settle is on disk
        and the next plan resolves it (it finds and adopts a created connector)."""
        line = mutation.model_dump_json(exclude_defaults=True).encode() + b"\n"
        with self._write_lock:
            os.write(self._fd, line)
            self._written += 1
            mine = self._written
        if any(i.status == "pending" for i in mutation.intents) and not mutation.put:
            self.sync(mine)

    def sync(self, upto: int | None = None) -> None:
        """Make every line up to number ``upto`` (default: all written) durable."""
        mine = self._written if upto is None else upto
        with self._sync_lock:
            if self._synced >= mine:
                return  # another thread's fsync covered this line
            with self._write_lock:
                upto = self._written
            os.fsync(self._fd)
            self._synced = upto

    def close(self) -> None:
        if self._fd >= 0:
            self.sync()
            os.close(self._fd)
            self._fd = -1
