"""The state lock: one run at a time may write a given state. :class:`StateLock` is the interface
every state backend provides; :class:`FileLock` is the local one, an OS lock next to the state file."""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import getpass
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from conn_reconcile.config import defaults
from conn_reconcile.errors import ConnReconcileError

POLL_SECONDS = 0.1


class LockedError(ConnReconcileError):
    """Another run holds the state lock."""


@dataclass(frozen=True)
class LockInfo:
    """Who holds the state lock: written into the lock when it is taken, shown to a run that finds it held."""

    id: str
    operation: str
    who: str
    host: str
    pid: int
    created: str
    #: the CI run holding the lock (GitHub Actions), "" elsewhere
    run_url: str = ""

    def describe(self) -> str:
        run = f", run {self.run_url}" if self.run_url else ""
        since = f"since {self.created}{run}"
        return f"lock {self.id} held by {self.who}@{self.host} (pid {self.pid}, {self.operation}, {since})"

    @classmethod
    def new(cls, operation: str, env: Mapping[str, str] | None = None) -> LockInfo:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = str(os.getuid())
        now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cls(
            uuid.uuid4().hex[:16],
            operation,
            who,
            socket.gethostname(),
            os.getpid(),
            now,
            run_url(os.environ if env is None else env),
        )

    @classmethod
    def parse(cls, raw: bytes) -> LockInfo | None:
        try:
            data = json.loads(raw)
            fields = {k: data[k] for k in ("id", "operation", "who", "host", "pid", "created")}
            fields["run_url"] = data.get("run_url", "")
            if not isinstance(fields["pid"], int) or not all(
                isinstance(v, str) for k, v in fields.items() if k != "pid"
            ):
                return None
            return cls(**fields)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None


def run_url(env: Mapping[str, str]) -> str:
    """The URL of the GitHub Actions run, when running in one."""
    parts = [env.get(k, "").strip() for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0].rstrip('/')}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else ""


class StateLock(Protocol):
    def acquire(self, operation: str, *, timeout: float = defaults.LOCK_TIMEOUT) -> LockInfo: ...
    def release(self) -> None: ...
    def force_unlock(self, lock_id: str) -> str: ...
    def held(self, operation: str, *, timeout: float = defaults.LOCK_TIMEOUT) -> AbstractContextManager[LockInfo]: ...


class FileLock:
    """An exclusive ``flock`` on ``path`` (``<state>.lock``). The kernel releases it when its
    holder exits, however it exits (kill -9 included), so it is never left stale by a dead
    process; the file keeps the last holder's description (id, who, host, pid, operation, since)
    for the "locked by" message. ``force-unlock ID`` removes the file: a run still holding the old
    lock keeps it on the removed file and the next run locks a new one, which is why it asks for
    the lock id and warns."""

    def __init__(self, path: Path, *, command: str = "conn-reconcile"):
        self.path = path
        #: the command line that names this state (``--env``, ``--state``...), for the hint
        self.command = command
        self._fd: int | None = None

    def _try(self) -> int | None:
        """A locked descriptor of the current lock file, or None when someone holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return None
            raise
        try:  # the file may have been removed (force-unlock) between open and flock
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return self._try()
        return fd

    def holder(self) -> LockInfo | None:
        try:
            return LockInfo.parse(self.path.read_bytes())
        except OSError:
            return None

    def acquire(self, operation: str, *, timeout: float = defaults.LOCK_TIMEOUT) -> LockInfo:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            fd = self._try()
            if fd is not None:
                break
            if time.monotonic() >= deadline:
                raise LockedError(self._locked_message(timeout))
            time.sleep(POLL_SECONDS)
        info = LockInfo.new(operation)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(info)).encode() + b"\n", 0)
        os.fsync(fd)
        self._fd = fd
        return info

    def _locked_message(self, timeout: float) -> str:
        holder = self.holder()
        who = holder.describe() if holder else "a lock held by another run"
        waited = f" after waiting {timeout:g}s" if timeout > 0 else ""
        unlock = f"{self.command} force-unlock {holder.id if holder else 'LOCK_ID'}"
        return (
            f"the state is locked{waited}: {who} ({self.path}). Another apply is running: wait for it "
            f"(--lock-timeout SECONDS waits), or, if you are sure it is gone, run: {unlock}"
        )

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def force_unlock(self, lock_id: str) -> str:
        holder = self.holder()
        if not self.path.exists():
            raise ConnReconcileError(f"no lock file at {self.path}: nothing to unlock")
        if holder is None or holder.id != lock_id:
            current = holder.id if holder else "unreadable"
            raise ConnReconcileError(f"lock id mismatch: {self.path} holds lock {current}, not {lock_id}")
        fd = self._try()
        live = fd is None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self.path.unlink(missing_ok=True)
        if live:
            return (
                f"Removed {holder.describe()}. It was still held: if that run is alive it keeps writing; "
                "make sure it is stopped."
            )
        return f"Removed {holder.describe()} (no process held it any more)."

    @contextmanager
    def held(self, operation: str, *, timeout: float = defaults.LOCK_TIMEOUT) -> Iterator[LockInfo]:
        info = self.acquire(operation, timeout=timeout)
        try:
            yield info
        finally:
            self.release()


def lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")
