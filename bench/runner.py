"""Running whole processes and the loopback servers they talk to (the emulator, a slow connector
endpoint), alternating tool and floor runs, and generating the connector files."""

from __future__ import annotations

import http.client
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

API_KEY = "bench-api-key"
BENCH_DIR = Path(__file__).resolve().parent


@dataclass
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds
    max_rss_mib: float
    returncode: int


@dataclass
class Timing:
    """Medians over the runs of one command."""

    wall: float
    cpu: float
    max_rss_mib: float
    runs: int


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: bytecode cached
    return {**env, **(extra or {})}


def run(cmd: list[str], env: dict[str, str], expect: tuple[int, ...] = (0,)) -> Run:
    """Run ``cmd`` to the end; its own wall time, CPU time and peak RSS (``wait4``)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in expect:
        raise SystemExit(f"bench: {' '.join(cmd[:4])}... exited {proc.returncode}: {err.decode()[-2000:]}")
    rss_kib = usage.ru_maxrss  # KiB on Linux
    return Run(wall, usage.ru_utime + usage.ru_stime, rss_kib / 1024, proc.returncode)


Command = tuple[list[str], dict[str, str], tuple[int, ...]]  # argv, environment, expected exit codes


def alternate(
    commands: dict[str, Command],
    repeat: int,
    before: Callable[[], None] | None = None,
    after: Callable[[str], None] | None = None,
) -> dict[str, Timing]:
    """Run the commands in turn (A B A B ...), ``repeat`` times each after one untimed warm-up round.

    ``before`` prepares every run (e.g. empties the org); ``after(name)`` checks its outcome."""
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    for round_ in range(repeat + 1):
        for name, (cmd, env, expect) in commands.items():
            if before is not None:
                before()
            result = run(cmd, env, expect)
            if after is not None:
                after(name)
            if round_:
                runs[name].append(result)
    return {
        name: Timing(
            statistics.median(r.wall for r in rs),
            statistics.median(r.cpu for r in rs),
            max(r.max_rss_mib for r in rs),
            len(rs),
        )
        for name, rs in runs.items()
    }


def tool() -> list[str]:
    exe = Path(sys.executable).with_name("conn-reconcile")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "conn_reconcile"]


def _imported(module: str, *args: str) -> list[str]:
    """Run bench/<module>.py's ``main`` by importing it, so its bytecode is cached like the tool's
    modules (a script run by name is compiled on every run, which the timings would show)."""
    code = f"import sys; sys.path.insert(0, {str(BENCH_DIR)!r}); import {module}; sys.exit({module}.main())"
    return [sys.executable, "-c", code, *args]


def floor(*args: str) -> list[str]:
    return _imported("floor", *args)


def start_floor(*args: str) -> list[str]:
    return _imported("startfloor", *args)


def check_jsonschema() -> list[str] | None:
    """check-jsonschema from the bench's virtualenv, or None when it is not installed."""
    exe = Path(sys.executable).with_name("check-jsonschema")
    return [str(exe)] if exe.exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(module_args: list[str]) -> Iterator[str]:
    """A loopback server (``python -m ...``) in its own process, for the duration of the block."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", *module_args, "--port", str(port)],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"bench: {module_args[0]} exited with {proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"bench: {module_args[0]} is not listening") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def emulator() -> Iterator[str]:
    return server(["conn_reconcile.emulator", "--api-key", API_KEY])


def endpoint(delay: float) -> Iterator[str]:
    """A connector endpoint answering Cohere's registration test after ``delay`` seconds (no auth check)."""
    return server(["conn_reconcile.emulator.endpoint", "--delay", str(delay)])


class Control:
    """The emulator's control and list API over plain keep-alive connections."""

    def __init__(self, api_url: str):
        parts = urlsplit(api_url)
        self.address = (parts.hostname, parts.port)

    def _call(self, conn: http.client.HTTPConnection, method: str, path: str, body: object = None) -> dict:
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        conn.request(method, path, None if body is None else json.dumps(body), headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise SystemExit(f"bench: {method} {path}: HTTP {response.status} {data[:200]!r}")
        return json.loads(data)

    def call(self, method: str, path: str, body: object = None) -> dict:
        conn = http.client.HTTPConnection(*self.address, timeout=60)
        try:
            return self._call(conn, method, path, body)
        finally:
            conn.close()

    def reset(self) -> None:
        self.call("POST", "/_emulator/reset")

    def count(self) -> int:
        return int(self.call("GET", "/v1/connectors?limit=1")["total_count"])

    def seed(self, bodies: list[dict], threads: int = 4) -> None:
        def chunk(part: list[dict]) -> None:
            conn = http.client.HTTPConnection(*self.address, timeout=60)
            try:
                for body in part:
                    self._call(conn, "POST", "/_emulator/seed", body)
            finally:
                conn.close()

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(chunk, [bodies[i::threads] for i in range(threads)]))


def token_var(i: int) -> str:
    return f"BENCH_TOKEN_{i:05d}"


def token_value(i: int) -> str:
    return f"tok{i:05d}x{(i * 2654435761) % 2**32:08x}"


def connector(i: int, endpoint_url: str) -> dict:
    return {
        "name": f"bench-{i:05d}",
        "description": f"Benchmark connector {i}",
        "url": f"{endpoint_url}/c{i}/search",
        "excludes": ["raw_html", "author_email"],
        "continue_on_failure": i % 2 == 0,
        "service_auth": {"type": "bearer", "token": "${" + token_var(i) + "}"},
    }


def write_files(directory: Path, n: int, endpoint_url: str) -> None:
    """N connector files, 100 to a sub-directory, each with its own secret variable."""
    for i in range(n):
        c = connector(i, endpoint_url)
        path = directory / f"g{i // 100:03d}" / f"c{i:05d}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"name: {c['name']}\ndescription: {c['description']}\nurl: {c['url']}\n"
            f"excludes:\n  - raw_html\n  - author_email\ncontinue_on_failure: {str(c['continue_on_failure']).lower()}\n"
            f"service_auth:\n  type: bearer\n  token: {c['service_auth']['token']}\n",
            encoding="utf-8",
        )


def secrets_env(n: int) -> dict[str, str]:
    return {token_var(i): token_value(i) for i in range(n)}


def remote_bodies(n: int, endpoint_url: str) -> list[dict]:
    bodies = []
    for i in range(n):
        body = connector(i, endpoint_url)
        body["service_auth"] = {"type": "bearer", "token": token_value(i)}
        bodies.append(body)
    return bodies


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "?"


def self_rss_note() -> str:
    return f"bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
