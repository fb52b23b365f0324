"""A small harness for end-to-end tests: a project directory with connector files, the emulator and
a real connector endpoint on loopback, and the CLI, run in this process through click's CliRunner
or as a process of its own (:class:`Project`)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from conn_reconcile.emulator.endpoint import ConnectorEndpoint

TOKEN = "CANARY-e2e-token-5f1b9a3c"
CLIENT_SECRET = "CANARY-e2e-oauth-secret-77d0e2"
API_KEY = "CANARY-e2e-api-key-c4a8"
FP_KEY = "CANARY-e2e-fingerprint-key-19be"
CANARIES = (TOKEN, CLIENT_SECRET, API_KEY, FP_KEY)


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


def wait_for(condition: Any, what: str, timeout: float = 30) -> None:
    """Poll ``condition()`` until it is true; fail if it is not within ``timeout`` seconds
    (a guard against hanging, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


class Background:
    """A CLI process started by :meth:`Project.start`; its output is read as it comes."""

    def __init__(self, proc: subprocess.Popen[str], outputs: list[str]):
        self.proc = proc
        self._outputs = outputs
        self._out: list[str] = []
        self._err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, sink), daemon=True)
            for stream, sink in ((proc.stdout, self._out), (proc.stderr, self._err))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, sink: list[str]) -> None:
        for line in stream:
            sink.append(line)

    @property
    def err_so_far(self) -> str:
        return "".join(self._err)

    def wait_until(self, condition: Any, what: str, timeout: float = 30) -> None:
        """Poll ``condition()`` while the CLI runs; fail the test (and kill the CLI) if the CLI
        exits or the timeout passes first."""
        try:
            wait_for(lambda: condition() or self.proc.poll() is not None, what, timeout)
            if not condition():
                raise AssertionError(f"the CLI exited before {what}")
        except AssertionError as exc:
            self.proc.kill()
            self.finish()
            raise AssertionError(f"{exc}; stderr so far:\n{self.err_so_far}") from None

    def finish(self, timeout: float = 60) -> Run:
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        run = Run(code, "".join(self._out), "".join(self._err))
        self._outputs.append(run.out + run.err)
        return run


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "conn_reconcile", *args]


def restore_default_sigint() -> None:
    """In the child, before exec: take Ctrl-C the default way even when the test runner was
    started with SIGINT ignored (``nohup``, ``trap '' INT``): an ignored disposition is
    inherited across exec, and ``restore_signals`` only covers SIGPIPE, SIGXFZ and SIGXFSZ."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def popen_cli(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    """Start ``python -m conn_reconcile *args`` as a new process, in text mode, with Ctrl-C
    handled the default way (:func:`restore_default_sigint`); ``kwargs`` go to ``Popen``."""
    return subprocess.Popen(cli_command(*args), preexec_fn=restore_default_sigint, text=True, **kwargs)


class InProcessExit(BaseException):
    """Raised instead of ``os._exit`` in an in-process run: ending the process (abandoning
    calls still in flight) cannot be tested in the test runner's own process."""


@contextlib.contextmanager
def _no_os_exit() -> Iterator[None]:
    real = os._exit

    def refuse(code: int) -> None:
        raise InProcessExit(f"the CLI called os._exit({code}) in process: run this test with project.run_process")

    os._exit = refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        os._exit = real


def invoke_cli(args: list[str], env: dict[str, str], *, stdin: str | None = None, cwd: Path) -> Run:
    """Run the CLI in this process with click's CliRunner: ``os.environ`` is exactly ``env``
    during the run (and restored after it), the working directory is ``cwd``,
    stdin/stdout/stderr are not terminals, as for a subprocess."""
    from click.testing import CliRunner

    from conn_reconcile.cli.main import cli

    # the runner sets the given variables and removes those mapped to None: the rest of
    # os.environ must go too, so the CLI sees the same environment as a subprocess.
    overlay: dict[str, str | None] = {k: None for k in os.environ if k not in env}
    overlay.update(env)
    with contextlib.chdir(cwd), _no_os_exit():
        result = CliRunner().invoke(cli, args, input=stdin, env=overlay, catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


@dataclass
class Project:
    """A project directory with the CLI's environment. :meth:`run` runs the CLI in this process
    through click's CliRunner (the same ``main`` entry point, arguments, environment and working
    directory as the installed command) unless ``in_process`` is off; :meth:`run_process` and
    :meth:`start` always run it as a process of its own (:func:`popen_cli`), for tests that send
    signals, kill, race two processes, hold locks across processes or need a TTY."""

    root: Path
    api_url: str
    endpoint_url: str
    env: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    in_process: bool = True

    @property
    def connectors(self) -> Path:
        return self.root / "connectors"

    def write(self, name: str, doc: dict[str, Any] | str) -> Path:
        path = self.connectors / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(doc, str):
            path.write_text(doc, encoding="utf-8")
        else:
            yaml = YAML()
            with path.open("w", encoding="utf-8") as fh:
                yaml.dump(doc, fh)
        return path

    def connector(self, name: str, **fields: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": name, "url": f"{self.endpoint_url}/{name}/search"}
        doc.update(fields)
        return doc

    def service(self, name: str, **fields: Any) -> dict[str, Any]:
        return self.connector(name, service_auth={"type": "bearer", "token": "${CONN_TOKEN}"}, **fields)

    def full_env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        full_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("CO_", "CONN_")) and k != "GITHUB_STEP_SUMMARY"
        }
        full_env.update({"CO_API_URL": self.api_url, "CO_API_KEY": API_KEY, "CONN_TOKEN": TOKEN, "NO_COLOR": "1"})
        full_env.update(self.env)
        full_env.update(env or {})
        return full_env

    def start(self, *args: str, env: dict[str, str] | None = None) -> Background:
        """Start the CLI without waiting for it (e.g. to send it signals); see :class:`Background`."""
        proc = popen_cli(
            list(args),
            cwd=self.root,
            env=self.full_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return Background(proc, self.outputs)

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 60,
        cwd: Path | None = None,
    ) -> Run:
        """Run the CLI to completion (in ``cwd``, default the project root): in process unless
        ``in_process`` is off (``timeout`` applies to a subprocess only)."""
        if not self.in_process:
            return self.run_process(*args, env=env, stdin=stdin, timeout=timeout, cwd=cwd)
        return self.run_in_process(*args, env=env, stdin=stdin, cwd=cwd)

    def run_process(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 60,
        cwd: Path | None = None,
    ) -> Run:
        """Run ``python -m conn_reconcile`` as a subprocess and wait for it."""
        proc = popen_cli(
            list(args),
            cwd=cwd or self.root,
            env=self.full_env(env),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        self.outputs.append(out + err)
        return Run(proc.returncode, out, err)

    def run_in_process(
        self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None, cwd: Path | None = None
    ) -> Run:
        """Run the CLI's ``main`` in this process (see :func:`invoke_cli`) with :meth:`full_env`,
        in ``cwd`` (default the project root)."""
        run = invoke_cli(list(args), self.full_env(env), stdin=stdin, cwd=cwd or self.root)
        self.outputs.append(run.out + run.err)
        return run

    def remote_patch(self, connector_id: str, body: dict[str, Any]) -> None:
        """Change a connector behind the tool's back, through the API (drift)."""
        import httpx
        from helpers import LOOPBACK_SSL

        resp = httpx.patch(
            f"{self.api_url}/v1/connectors/{connector_id}",
            json=body,
            headers={"Authorization": f"Bearer {API_KEY}"},
            verify=LOOPBACK_SSL,
        )
        resp.raise_for_status()

    def state(self) -> dict[str, Any]:
        return json.loads((self.root / ".conn-reconcile" / "state.json").read_text())

    def assert_no_canary(self) -> None:
        """No secret value in anything printed so far or in any file under the project."""
        for text in self.outputs:
            for canary in CANARIES:
                assert canary not in text, f"secret leaked into output:\n{text}"
        for path in self.root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for canary in CANARIES:
                    assert canary.encode() not in data, f"secret leaked into {path}"


def remote_by_name(project: Project) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in project.emulator.connectors}


def converged(project: Project, *extra: str) -> Run:
    """A second plan is clean."""
    second = project.run("plan", "--detailed-exitcode", *extra)
    assert second.code == 0, second.both
    assert "No changes." in second.out
    return second


def names(project: Project) -> Counter:
    return Counter(c["name"] for c in project.emulator.connectors)


def count(project: Project, method: str, path: str = "/v1/connectors") -> int:
    return project.emulator.requests.count(method, path)


def table(out: str) -> list[list[str]]:
    """The rows of the final apply table (after its header), split on runs of 2+ spaces."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("CONNECTOR "))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def state_matches_remote(project: Project) -> None:
    """state.json records exactly the connectors that exist remotely, with their names."""
    remote = {c["id"]: c["name"] for c in project.emulator.connectors}
    assert {i: r["name"] for i, r in project.state()["connectors"].items()} == remote


class HeldEndpoint(ConnectorEndpoint):
    """A connector endpoint that holds its registration tests until ``gate`` is set, while
    ``holding`` is true; otherwise it answers at once. ``held`` counts the tests it held."""

    def __init__(self, **kwargs: Any):
        super().__init__(auth_type="bearer", token=TOKEN, **kwargs)
        self.holding = True
        self.gate = threading.Event()
        self.held = 0
        self._held_lock = threading.Lock()

    def record(self, body: dict[str, Any]) -> None:
        super().record(body)
        if self.holding:
            with self._held_lock:
                self.held += 1
            self.gate.wait(60)

    def stop(self) -> None:
        self.gate.set()
        super().stop()
