"""Small builders shared by the unit tests (connectors, clients of the loopback servers, a server
for one test), and the pre-commit hook's test plumbing."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: conftest imports this module in pytest's controller too
    import httpx

    from conn_reconcile.emulator import Emulator
    from conn_reconcile.model.connector import Desired, RemoteConnector


def desired(file: str | None = None, **fields: Any) -> Desired:
    from conn_reconcile.model.connector import ConnectorSpec, Desired

    fields.setdefault("url", f"https://{fields['name']}.example.com/search")
    return Desired(ConnectorSpec.model_validate(fields), file or f"connectors/{fields['name']}.yaml", {"name": (1, 1)})


def remote(id: str, name: str, **fields: Any) -> RemoteConnector:
    from conn_reconcile.model.connector import RemoteConnector

    fields.setdefault("url", f"https://{name}.example.com/search")
    fields.setdefault("updated_at", "2026-01-01T00:00:00Z")
    return RemoteConnector.model_validate({"id": id, "name": name, **fields})


# ---- loopback HTTP ---------------------------------------------------------------------------

# For clients that only talk plain http to loopback servers: an SSL context with no trust
# roots costs nothing to make, where httpx's default loads the CA bundle for every client.
LOOPBACK_SSL = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def loopback_client(key: str | None = None, **kwargs: Any) -> httpx.Client:
    """An ``httpx.Client`` for the loopback test servers: no proxy from the environment (it must
    not see loopback traffic), :data:`LOOPBACK_SSL`; ``key`` is sent as a bearer API key, before
    any ``headers`` given."""
    import httpx

    headers = ({"Authorization": f"Bearer {key}"} if key else {}) | kwargs.pop("headers", {})
    return httpx.Client(headers=headers, trust_env=False, verify=LOOPBACK_SSL, **kwargs)


def emulator_client(emu: Emulator, key: str | None = "any-key", **kwargs: Any) -> httpx.Client:
    """A :func:`loopback_client` of the emulator ``emu``, with an API key it accepts (any, unless
    it was started with one)."""
    return loopback_client(key, base_url=emu.url, **kwargs)


# ---- pre-commit ------------------------------------------------------------------------------

HOOK_ID = "conn-reconcile-validate"


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on loopback with ``handler``, for the block: its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def git(cwd: Path, *args: str, env: Mapping[str, str]) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env=dict(env), capture_output=True, text=True)
    assert proc.returncode == 0, f"git {' '.join(args)} failed in {cwd}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def init_repo(path: Path, env: Mapping[str, str]) -> None:
    git(path, "init", "-q", env=env)
    git(path, "config", "user.name", "conn-reconcile tests", env=env)
    git(path, "config", "user.email", "tests@conn-reconcile.invalid", env=env)
    git(path, "config", "commit.gpgsign", "false", env=env)


def precommit_config(hook_repo: Path, rev: str) -> str:
    """A consumer's ``.pre-commit-config.yaml`` using the hook, as a user writes it."""
    return f"repos:\n  - repo: {hook_repo.as_uri()}\n    rev: {rev}\n    hooks:\n      - id: {HOOK_ID}\n"


class HookBuild:
    """``pre-commit install-hooks`` in a scratch repository whose config uses the hook: builds
    the hook's environment (clone, virtualenv, pip install of this project) into
    ``PRE_COMMIT_HOME``, as a background process; :meth:`wait` fails the caller if it failed."""

    def __init__(self, scratch: Path, hook_repo: Path, rev: str, env: Mapping[str, str]):
        scratch.mkdir(parents=True, exist_ok=True)
        init_repo(scratch, env)
        (scratch / ".pre-commit-config.yaml").write_text(precommit_config(hook_repo, rev), encoding="utf-8")
        git(scratch, "add", "-A", env=env)
        self.log = scratch.parent / f"{scratch.name}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pre_commit", "install-hooks"],
                cwd=scratch,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait(self, timeout: float = 900) -> None:
        code = self.proc.wait(timeout=timeout)
        assert code == 0, f"pre-commit install-hooks failed ({code}):\n{self.log.read_text(errors='replace')}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def read_terminal(master: int, until: bytes | None = None) -> bytes:
    """What a child process wrote to the pseudo-terminal ``master``: up to and including
    ``until`` (when given; an error if the child closes the terminal first), else until it closes
    the terminal (then ``master`` is closed too)."""
    seen = b""
    while until is None or until not in seen:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        if not chunk:
            assert until is None, seen
            os.close(master)
            return seen
        seen += chunk
    return seen
