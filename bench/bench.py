"""conn-reconcile benchmark (not a test): `make bench` or `python bench/bench.py`.

For each N it generates N connector files and an emulator (a separate process, on loopback)
holding N matching remote connectors, then prints:

* validate time and plan time, next to the *floor*: parsing the same files with a bare
  ruamel.yaml safe load plus fetching every page with bare httpx; the ratio plan/floor has
  a target of <= 1.5 at N = 5,000;
* apply time for N creates against a connector endpoint that answers the registration test
  after a fixed latency L, at parallelism 1 and 8, next to the ideal N*L/p; target <= 1.3;
* the median wall time of `conn-reconcile --help` (target < 150 ms: lazy imports).

Everything runs on this machine; nothing but loopback is contacted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from ruamel.yaml import YAML

API_KEY = "bench-api-key"
TOKEN = "bench-connector-token"
PLAN_TARGET = 1.5
APPLY_TARGET = 1.3
HELP_TARGET_MS = 150.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench: server on port {port} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench: nothing listening on port {port}")


@contextmanager
def server(args: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", *args, "--port", str(port)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def connector_doc(i: int, endpoint: str) -> dict:
    return {
        "name": f"bench-{i:05d}",
        "description": f"Benchmark connector {i}",
        "url": f"{endpoint}/c{i}/search",
        "excludes": ["raw_html", "author_email"],
        "continue_on_failure": i % 2 == 0,
        "service_auth": {"type": "bearer", "token": "${BENCH_TOKEN}"},
    }


def write_files(directory: Path, n: int, endpoint: str) -> None:
    yaml = YAML()
    directory.mkdir(parents=True)
    for i in range(n):
        with (directory / f"c{i:05d}.yaml").open("w", encoding="utf-8") as fh:
            yaml.dump(connector_doc(i, endpoint), fh)


def seed(api_url: str, n: int, endpoint: str) -> None:
    with httpx.Client(base_url=api_url, timeout=30) as http:
        http.post("/_emulator/reset").raise_for_status()
        for i in range(n):
            body = connector_doc(i, endpoint)
            body["service_auth"] = {"type": "bearer", "token": TOKEN}
            http.post("/_emulator/seed", json=body).raise_for_status()


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def floor(directory: Path, api_url: str) -> None:
    """The least any tool must do: parse every file, fetch every page."""
    yaml = YAML(typ="safe")
    for path in sorted(directory.rglob("*.yaml")):
        yaml.load(path.read_text(encoding="utf-8"))
    with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        offset = 0
        while True:
            page = http.get("/v1/connectors", params={"limit": 100, "offset": offset}).json()
            offset += len(page["connectors"])
            if len(page["connectors"]) < 100 or offset >= page["total_count"]:
                break


def bench_plan(sizes: list[int], repeat: int, work: Path) -> list[str]:
    from conn_reconcile.plan import PlanOptions
    from conn_reconcile.workflow import Settings, compute_plan, validate

    rows = []
    endpoint = "http://127.0.0.1:9"  # never contacted: plan makes no registration test
    with server(["conn_reconcile.emulator", "--api-key", API_KEY], free_port()) as api_url:
        for n in sizes:
            directory = work / f"plan-{n}" / "connectors"
            write_files(directory, n, endpoint)
            seed(api_url, n, endpoint)
            settings = Settings(
                api_url=api_url, api_key=API_KEY, env={"BENCH_TOKEN": TOKEN}, state_path=work / f"state-{n}.json"
            )
            t_validate = best_of(repeat, lambda: validate([directory]))
            result: list = []
            t_plan = best_of(repeat, lambda: result.append(compute_plan(settings, [directory], PlanOptions())))
            plan = result[-1][0]
            assert not plan.has_changes and len(plan.changes) == n, "bench: the plan should be all no-ops"
            t_floor = best_of(repeat, lambda: floor(directory, api_url))
            ratio = t_plan / t_floor
            verdict = "ok" if ratio <= PLAN_TARGET or n < 5000 else "MISSED"
            rows.append(
                f"| {n:>5} | {t_validate:7.2f} s | {t_plan:7.2f} s | {t_floor:7.2f} s | {ratio:5.2f}x | {verdict} |"
            )
            print(rows[-1], flush=True)
    return rows


def bench_apply(sizes: list[int], latency: float, parallelisms: list[int], work: Path) -> list[str]:
    from conn_reconcile.plan import PlanOptions
    from conn_reconcile.workflow import Settings, apply_plan, compute_plan

    rows = []
    env = {"BENCH_TOKEN": TOKEN}
    endpoint_args = ["conn_reconcile.emulator.endpoint", "--auth-type", "bearer", "--token-env", "BENCH_TOKEN",
                     "--delay", str(latency)]
    with server(endpoint_args, free_port(), env) as endpoint, \
            server(["conn_reconcile.emulator", "--api-key", API_KEY], free_port()) as api_url:
        for n in sizes:
            directory = work / f"apply-{n}" / "connectors"
            write_files(directory, n, endpoint)
            for p in parallelisms:
                httpx.post(f"{api_url}/_emulator/reset").raise_for_status()
                state = work / f"apply-state-{n}-{p}.json"
                settings = Settings(api_url=api_url, api_key=API_KEY, env=env, state_path=state)
                plan, _ = compute_plan(settings, [directory], PlanOptions())
                started = time.perf_counter()
                report = apply_plan(settings, plan, parallelism=p)
                took = time.perf_counter() - started
                assert report.count("created") == n, f"bench: {report.count('created')} of {n} created"
                ideal = n * latency / p
                ratio = took / ideal
                verdict = "ok" if ratio <= APPLY_TARGET else "MISSED"
                rows.append(f"| {n:>5} | {p:>2} | {took:7.2f} s | {ideal:7.2f} s | {ratio:5.2f}x | {verdict} |")
                print(rows[-1], flush=True)
    return rows


def bench_help(runs: int = 15) -> str:
    exe = shutil.which("conn-reconcile") or str(Path(sys.executable).with_name("conn-reconcile"))
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([exe, "--help"], check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    verdict = "ok" if median < HELP_TARGET_MS else "MISSED"
    return f"`conn-reconcile --help`: median {median:.0f} ms over {runs} runs (target < {HELP_TARGET_MS:.0f} ms): {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,5000", help="N for validate/plan (comma-separated)")
    parser.add_argument("--apply-sizes", default="100,1000", help="N for apply (comma-separated; empty: skip)")
    parser.add_argument("--latency", type=float, default=0.05, help="registration latency L in seconds")
    parser.add_argument("--parallelism", default="1,8", help="apply parallelism values")
    parser.add_argument("--repeat", type=int, default=3, help="plan/validate runs per N (best is kept)")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x]
    apply_sizes = [int(x) for x in args.apply_sizes.split(",") if x]
    parallelisms = [int(x) for x in args.parallelism.split(",") if x]

    print(f"conn-reconcile benchmark on {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}\n")
    print(bench_help())
    with tempfile.TemporaryDirectory(prefix="conn-reconcile-bench-") as tmp:
        work = Path(tmp)
        if sizes:
            print(f"\nplan (target: plan <= {PLAN_TARGET}x floor at N = 5,000)\n")
            print("|     N | validate  | plan      | floor     | plan/floor | |")
            print("|------:|----------:|----------:|----------:|-----------:|---|")
            bench_plan(sizes, args.repeat, work)
        if apply_sizes:
            print(f"\napply of N creates, registration latency L = {args.latency * 1000:.0f} ms "
                  f"(target: <= {APPLY_TARGET}x N*L/p)\n")
            print("|     N |  p | apply     | N*L/p     | ratio | |")
            print("|------:|---:|----------:|----------:|------:|---|")
            bench_apply(apply_sizes, args.latency, parallelisms, work)


if __name__ == "__main__":
    main()
