"""The state kept on a git branch (an edge): read it into the local snapshot, push it back.

The rest of the tool works on a local snapshot + journal (:mod:`conn_reconcile.statefile`)
exactly as with ``--state PATH``; this module only moves the snapshot between that file and
the branch. :func:`pull` fetches the branch and writes its file over the local snapshot;
:func:`publish` commits the local state on top of the commit that was fetched and pushes it
with compare-and-swap (``--force-with-lease`` on that commit), so a push never overwrites a
state another run wrote: it is rejected, reported, and the local state is kept.

Next to the snapshot, ``<snapshot>.git.json`` remembers the commit the local files come from
and a digest of the snapshot as fetched or pushed. Local changes that were not pushed (a
journal left by a killed run, a snapshot whose push was rejected or failed) are never
overwritten: they are used while the branch has not moved since, and otherwise the run stops
and says what to do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from conn_reconcile import statefile
from conn_reconcile.atomicfile import write_atomic
from conn_reconcile.errors import ExitCode, StateError
from conn_reconcile.gitrepo import GitError, ScratchRepo, oid
from conn_reconcile.state import State
from conn_reconcile.statespec import GitStateSpec


class StatePushError(GitError):
    """The apply's state could not be pushed: it is kept locally, nothing was overwritten."""

    exit_code = ExitCode.PARTIAL


class DivergedError(StateError):
    """The local state has changes that were never pushed, and the branch moved since."""


@dataclass(frozen=True)
class Base:
    """What the local snapshot was last in step with: a commit of the branch (None: no branch)
    and the sha256 of the snapshot's bytes then (None: no file)."""

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
    from; the new commit, or None when the branch already holds it."""
    base = read_base(local)
    if base is None:
        raise StatePushError(f"the state in {local} was not read from {spec.describe()} by this run: not pushed")
    state = statefile.load(local) or State()
    content = statefile.render(state).encode()
    if _digest(content) == base.digest or (base.commit is None and not state.connectors and not state.intents):
        return None
    repo = repo_for(spec, scratch)
    message = (
        f"conn-reconcile: state after apply (lock {run_id})\n\n{len(state.connectors)} managed connector(s), "
        f"{len(state.intents)} unresolved intent(s).\n"
    )
    commit = repo.commit_file(base.commit, spec.path, content, message)
    result = repo.push(spec.branch_ref, commit, base.commit)
    if result.ok:
        if not _read_bytes(statefile.journal_path(local)):
            _write_base(local, Base(commit, _digest(content)))
        else:  # calls still in flight append to the journal: it stays ahead of the branch
            _write_base(local, Base(commit, base.digest))
        return commit
    kept = f"This run's state is kept in {local} (with {statefile.journal_path(local).name} if any); nothing was lost."
    if result.stale:
        raise StatePushError(
            f"the state was not saved to {spec.describe()}: the push was rejected because the branch is no longer "
            f"at commit {base.commit[:12] if base.commit else 'none (it did not exist)'}: another run wrote the "
            f"state meanwhile. Nothing was overwritten. {kept} The next run stops until you reconcile the two "
            "(it prints how)."
        )
    raise StatePushError(
        f"the state could not be pushed to {spec.describe()}: {result.message}\n{kept} "
        "The next run pushes it if the branch has not moved."
    )
