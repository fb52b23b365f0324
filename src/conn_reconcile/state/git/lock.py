"""The state lock of the git backend (an edge): a ref on the remote,
``refs/conn-reconcile/lock/BRANCH``, for runs on any machine; its commit's ``lock.json`` says who
holds it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from conn_reconcile.config import defaults
from conn_reconcile.errors import ConnReconcileError
from conn_reconcile.state.git.branch import repo_for
from conn_reconcile.state.git.repo import GitError, ScratchRepo
from conn_reconcile.state.lock import LockedError, LockInfo
from conn_reconcile.state.spec import DEFAULT_REMOTE, REMOTE_VAR, GitStateSpec

LOCK_FILE = "lock.json"
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
FIRST_WAIT = 0.2
MAX_WAIT = 5.0


class GitLock:
    """The state lock for ``spec``, kept as a ref on its remote (through a scratch repo).

    Taking it pushes the ref, pointing at a commit whose ``lock.json`` (and message) says who holds
    it (id, user, host, pid, since, CI run URL), with ``--force-with-lease=REF:`` (empty: the ref
    must not exist). The remote checks that under its ref lock, so of two runs exactly one creates
    it; the other waits as for any busy lock. Releasing deletes it with a lease on the commit
    pushed, so a run never deletes a lock it does not hold. A holder that dies (kill -9, a lost
    runner) leaves the ref: the next run names the holder and the ``force-unlock`` command.
    """

    def __init__(
        self,
        spec: GitStateSpec,
        scratch: Path,
        *,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        command: str | None = None,
    ):
        self.spec = spec
        remote = "" if spec.remote == DEFAULT_REMOTE else f"{REMOTE_VAR}={spec.remote} "
        #: the command line that names this state, for the hints (``force-unlock``)
        self.command = command or f"{remote}conn-reconcile --state {spec}"
        self.scratch = scratch
        self.env = os.environ if env is None else env
        self._sleep = sleep
        self._held: tuple[LockInfo, str] | None = None

    def _repo(self) -> ScratchRepo:
        return repo_for(self.spec, self.scratch)

    def acquire(self, operation: str, *, timeout: float = defaults.LOCK_TIMEOUT) -> LockInfo:
        repo = self._repo()
        info = LockInfo.new(operation, env=self.env)
        body = json.dumps(asdict(info), indent=2).encode() + b"\n"
        commit = repo.commit_file(None, LOCK_FILE, body, f"conn-reconcile lock {info.id}\n\n{info.describe()}\n")
        deadline = time.monotonic() + max(0.0, timeout)
        wait = FIRST_WAIT
        while True:
            result = repo.push(self.spec.lock_ref, commit, None)
            if result.ok:
                self._held = (info, commit)
                return info
            if not result.stale:
                raise GitError(
                    f"cannot take the state lock {self.spec.lock_ref} on remote {self.spec.remote}: {result.message}"
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockedError(self._locked_message(timeout))
            self._sleep(min(wait, left))
            wait = min(wait * 2, MAX_WAIT)

    def holder(self) -> tuple[LockInfo | None, str] | None:
        """(the holder's description if readable, the lock commit), or None when unlocked."""
        repo = self._repo()
        commit = repo.fetch(self.spec.lock_ref)
        if commit is None:
            return None
        try:
            raw = repo.read(commit, LOCK_FILE, limit=64 * 1024)
        except GitError:
            raw = None
        info = LockInfo.parse(raw) if raw is not None else None
        if info is not None and not _ID.fullmatch(info.id):
            info = None
        return info, commit

    def _command(self, lock_id: str) -> str:
        return f"{self.command} force-unlock {lock_id}"

    def _locked_message(self, timeout: float) -> str:
        found = self.holder()
        waited = f" after waiting {timeout:g}s" if timeout > 0 else ""
        if found is None:
            return f"the state lock {self.spec.lock_ref} was busy{waited}; try again"
        info, commit = found
        who = info.describe() if info else f"an unreadable lock (commit {commit})"
        unlock = self._command(info.id if info else commit)
        return (
            f"the state is locked{waited}: {who} (ref {self.spec.lock_ref} on remote {self.spec.remote}). "
            "Another apply is running: wait for it (--lock-timeout SECONDS waits), or, if you are sure it is "
            f"gone, run: {unlock}"
        )

    def release(self) -> None:
        if self._held is None:
            return
        info, commit = self._held
        self._held = None
        result = self._repo().push(self.spec.lock_ref, None, commit)
        if not result.ok:
            raise GitError(
                f"could not release the state lock {self.spec.lock_ref} ({info.id}): {result.message}\n"
                f"If it is still there, remove it with: {self._command(info.id)}"
            )

    def force_unlock(self, lock_id: str) -> str:
        found = self.holder()
        if found is None:
            raise ConnReconcileError(
                f"no state lock {self.spec.lock_ref} on remote {self.spec.remote}: nothing to unlock"
            )
        info, commit = found
        current = info.id if info else commit
        if lock_id not in (current, commit):
            raise ConnReconcileError(f"lock id mismatch: {self.spec.lock_ref} holds lock {current}, not {lock_id}")
        result = self._repo().push(self.spec.lock_ref, None, commit)
        if not result.ok:
            raise GitError(f"could not remove the lock {current} (it changed meanwhile?): {result.message}")
        who = info.describe() if info else f"lock {commit}"
        return (
            f"Removed {who}. A lock on a git remote cannot tell whether its holder is still running: "
            "make sure that run has stopped."
        )

    @contextmanager
    def held(self, operation: str, *, timeout: float = defaults.LOCK_TIMEOUT) -> Iterator[LockInfo]:
        info = self.acquire(operation, timeout=timeout)
        try:
            yield info
        except BaseException:
            # the first error is the one to report; the lock is named on the next run
            with contextlib.suppress(ConnReconcileError):
                self.release()
            raise
        self.release()
