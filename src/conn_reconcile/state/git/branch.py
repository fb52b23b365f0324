"""The state kept on a git branch (an edge): :func:`pull` brings the branch's file into the local
snapshot + journal; :func:`publish` pushes the local state back with compare-and-swap on the commit
it came from, merging per record (:func:`merge`) when another run wrote the branch meanwhile."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from conn_reconcile.errors import ExitCode, StateError
from conn_reconcile.escape import escape
from conn_reconcile.files.atomic import write_atomic
from conn_reconcile.model.state import State
from conn_reconcile.model.validation import validate_json
from conn_reconcile.state import file as statefile
from conn_reconcile.state.git.repo import GitError, ScratchRepo, oid
from conn_reconcile.state.spec import GitStateSpec

#: pushes of one run's state (each after merging it into the branch's newer state) before it gives up
MAX_PUSHES = 5
_R = TypeVar("_R", bound=BaseModel)


class StatePushError(GitError):
    """The apply's state could not be pushed: it is kept locally, nothing was overwritten."""

    exit_code = ExitCode.PARTIAL


class DivergedError(StateError):
    """The local state has changes that were never pushed, and the branch moved since."""


@dataclass(frozen=True)
class Base:
    """What the local snapshot was last in step with: a commit of the branch (None: no branch)
    and the sha256 of the snapshot's bytes then (None: no file). Kept in ``<snapshot>.git.json``
    (:func:`sidecar_path`), so that unpushed local changes are never overwritten."""

    commit: str | None
    digest: str | None


def repo_for(spec: GitStateSpec, scratch: Path) -> ScratchRepo:
    return ScratchRepo(scratch / "repo.git", spec.remote).ensure()


def sidecar_path(local: Path) -> Path:
    return local.with_name(local.name + ".git.json")


def _digest(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def read_base(local: Path) -> Base | None:
    raw = _read_bytes(sidecar_path(local))
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        commit, digest = data["commit"], data["digest"]
        return Base(oid(commit) if commit is not None else None, str(digest) if digest is not None else None)
    except (ValueError, TypeError, KeyError, GitError, RecursionError):
        raise StateError(f"{sidecar_path(local)}: not a conn-reconcile git state record") from None


def _write_base(local: Path, base: Base) -> None:
    write_atomic(sidecar_path(local), json.dumps(asdict(base)) + "\n")


def unpushed(local: Path, base: Base | None) -> bool:
    """Whether the local files hold changes the branch may not have."""
    journal = _read_bytes(statefile.journal_path(local))
    snapshot = _read_bytes(local)
    if journal:
        return True
    if snapshot is None:
        return False
    return base is None or _digest(snapshot) != base.digest


def _diverged(spec: GitStateSpec, local: Path, base: Base | None, remote: str | None) -> DivergedError:
    was = base.commit[:12] if base is not None and base.commit else "none"
    now = remote[:12] if remote else "none (deleted)"
    return DivergedError(
        f"the local state {local} holds changes that were never pushed to {spec.describe()} (a run stopped "
        f"before it could push, or its push was rejected), and the branch moved since (from commit {was} to "
        f"{now}). Nothing was overwritten. Reconcile them by hand (the branch's file: git fetch {spec.remote} "
        f"{spec.branch} && git show FETCH_HEAD:{spec.path}), then remove the local copy to use the branch's "
        f"state: rm -f {local} {statefile.journal_path(local)} {sidecar_path(local)}"
    )


def pull(spec: GitStateSpec, scratch: Path, local: Path) -> str | None:
    """Bring the branch's state into ``local`` (unless ``local`` holds unpushed changes made
    on top of the branch's current commit); the fetched commit, None when there is no branch."""
    repo = repo_for(spec, scratch)
    commit = repo.fetch(spec.branch_ref)
    base = read_base(local)
    if unpushed(local, base):
        if base is not None and base.commit == commit:
            return commit  # our changes, made on top of exactly this commit: the newest state
        raise _diverged(spec, local, base, commit)
    content = repo.read(commit, spec.path) if commit is not None else None
    if content is None:
        local.unlink(missing_ok=True)
    else:
        try:
            write_atomic(local, content.decode("utf-8"))
        except UnicodeDecodeError:
            raise StateError(f"{spec.describe()} (commit {commit and commit[:12]}): not UTF-8 text") from None
    _write_base(local, Base(commit, _digest(content)))
    return commit


def publish(spec: GitStateSpec, scratch: Path, local: Path, run_id: str) -> str | None:
    """Push the local state (snapshot + journal) to the branch on top of the commit it came
    from; the new commit, or None when the branch already holds it. A push rejected because
    another run wrote the branch meanwhile is merged per record into the branch's new state
    (:func:`_rebase`, three-way) and pushed again, up to :data:`MAX_PUSHES` times; records both
    runs changed differently stop it, keeping the local state."""
    base = read_base(local)
    if base is None:
        raise StatePushError(f"the state in {local} was not read from {spec.describe()} by this run: not pushed")
    repo = repo_for(spec, scratch)
    for _ in range(MAX_PUSHES):
        state = statefile.load(local) or State()
        content = statefile.render(state).encode()
        if _digest(content) == base.digest or (base.commit is None and not state.connectors and not state.intents):
            return None
        commit = repo.commit_file(base.commit, spec.path, content, _message(state, run_id))
        result = repo.push(spec.branch_ref, commit, base.commit)
        if result.ok:
            if not _read_bytes(statefile.journal_path(local)):
                _write_base(local, Base(commit, _digest(content)))
            else:  # calls still in flight append to the journal: it stays ahead of the branch
                _write_base(local, Base(commit, base.digest))
            return commit
        if not result.stale:
            raise StatePushError(
                f"the state could not be pushed to {spec.describe()}: {result.message}\n{_kept(local)} "
                "The next run pushes it if the branch has not moved."
            )
        base = _rebase(spec, repo, local, base, state)
    raise StatePushError(
        f"the state was not saved to {spec.describe()}: other runs kept writing the branch, and {MAX_PUSHES} "
        f"pushes of this run's state, merged into theirs each time, were rejected. Nothing was overwritten. "
        f"{_kept(local)} It is merged into the branch's state as of commit {_short(base.commit)}: "
        "the next run pushes it if the branch has not moved since."
    )


def _message(state: State, run_id: str) -> str:
    return (
        f"conn-reconcile: state after apply (lock {run_id})\n\n{len(state.connectors)} managed connector(s), "
        f"{len(state.intents)} unresolved intent(s).\n"
    )


def _short(commit: str | None) -> str:
    return commit[:12] if commit else "none"


def _kept(local: Path) -> str:
    return f"This run's state is kept in {local} (with {statefile.journal_path(local).name} if any); nothing was lost."


def _rebase(spec: GitStateSpec, repo: ScratchRepo, local: Path, base: Base, ours: State) -> Base:
    """Merge ``ours`` (the local state, made from ``base``) into the branch's state, which
    another run changed meanwhile: write the merged state over the local snapshot and return
    the new base (the branch's commit); every record both changed differently is a conflict."""
    try:
        theirs_commit = repo.fetch(spec.branch_ref)
        if theirs_commit is None:
            raise GitError(f"the branch was deleted since this run read it (at commit {_short(base.commit)})")
        raw = repo.read(theirs_commit, spec.path)
        theirs, read = _parse(spec, theirs_commit, raw), _read_state(spec, repo, base.commit)
    except (StateError, GitError) as exc:
        raise StatePushError(
            f"the state was not saved to {spec.describe()}: its push was rejected (another run wrote the branch) "
            f"and it could not be merged: {exc}\nNothing was overwritten. {_kept(local)}"
        ) from None
    merged, conflicts = merge(read, ours, theirs)
    journal = _read_bytes(statefile.journal_path(local))
    if journal:  # replayed over the merged snapshot by every load: it must not undo the other run's changes
        conflicts = sorted(set(conflicts) | _undone(merged, read, theirs, journal, local))
    if conflicts:
        raise StatePushError(
            f"the state was not saved to {spec.describe()}: another run wrote it meanwhile (commit "
            f"{theirs_commit[:12]}), and both runs changed these records differently: {', '.join(conflicts)}. "
            f"Nothing was overwritten. {_kept(local)} Reconcile the two by hand (the branch's file: git fetch "
            f"{spec.remote} {spec.branch} && git show FETCH_HEAD:{spec.path}): the next run stops until then."
        )
    write_atomic(local, statefile.render(merged))  # before the base: a crash between leaves them diverged
    new = Base(theirs_commit, _digest(raw))
    _write_base(local, new)
    return new


def _parse(spec: GitStateSpec, commit: str, raw: bytes | None) -> State:
    if raw is None:
        return State()
    try:
        return validate_json(State, raw.decode("utf-8"))
    except (UnicodeDecodeError, ValidationError):
        raise StateError(f"{spec.path} in commit {commit[:12]} is not a conn-reconcile state file") from None


def _read_state(spec: GitStateSpec, repo: ScratchRepo, commit: str | None) -> State:
    """The state file in ``commit`` of the branch (None: the branch did not exist)."""
    if commit is None:
        return State()
    if not repo.has(commit):
        raise GitError(f"the commit this run read, {commit[:12]}, is missing from {repo.path}: cannot merge")
    return _parse(spec, commit, repo.read(commit, spec.path))


def _canon(value: object) -> str:
    return json.dumps(value.model_dump(mode="json") if isinstance(value, BaseModel) else value, sort_keys=True)


def _merge_records(
    kind: str, base: Mapping[str, _R], ours: Mapping[str, _R], theirs: Mapping[str, _R]
) -> tuple[dict[str, _R], list[str]]:
    """Per record id: the side that changed it (a deletion is a change), either when both
    made the same change; a conflict (``"KIND ID"``) when both changed it differently."""
    merged: dict[str, _R] = {}
    conflicts: list[str] = []
    for key in sorted(base.keys() | ours.keys() | theirs.keys()):
        was, mine, other = (_canon(side.get(key)) for side in (base, ours, theirs))
        if mine != was and other != was and mine != other:
            conflicts.append(f"{kind} {escape(key)}")
            continue
        pick = theirs.get(key) if mine == was else ours.get(key)
        if pick is not None:
            merged[key] = pick
    return merged, conflicts


def merge(base: State, ours: State, theirs: State) -> tuple[State, list[str]]:
    """The three-way merge of two states made from ``base``: records and intents per id (see
    :func:`_merge_records`); ``applied_commit`` and ``org`` ours if we changed them, else
    theirs. The merged state and the conflicts (``"connector ID"``, ``"intent ID"``)."""
    connectors, conflicts = _merge_records("connector", base.connectors, ours.connectors, theirs.connectors)
    intents, intent_conflicts = _merge_records("intent", base.intents, ours.intents, theirs.intents)
    mine = _canon(ours.applied_commit) != _canon(base.applied_commit)
    applied = ours.applied_commit if mine else theirs.applied_commit
    org = ours.org if _canon(ours.org) != _canon(base.org) else theirs.org
    merged = State(connectors=connectors, intents=intents, applied_commit=applied, org=org)
    return merged, conflicts + intent_conflicts


def _undone(merged: State, base: State, theirs: State, journal: bytes, local: Path) -> set[str]:
    """The records the other run changed that replaying the journal over ``merged`` would
    set back (an entry that wrote one again as this run read it): conflicts too."""
    replayed = validate_json(State, statefile.render(merged))
    statefile.replay(replayed, journal, statefile.journal_path(local))
    found: set[str] = set()
    for kind, name in (("connector", "connectors"), ("intent", "intents")):
        after, before, was, other = (getattr(s, name) for s in (replayed, merged, base, theirs))
        for key in after.keys() | before.keys():
            changed = _canon(other.get(key)) != _canon(was.get(key))
            if changed and _canon(after.get(key)) != _canon(before.get(key)):
                found.add(f"{kind} {escape(key)}")
    return found
