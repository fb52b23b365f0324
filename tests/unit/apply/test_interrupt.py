"""Ctrl-C during apply and parallel apply (end to end) against the emulator and real connector
endpoints on loopback: every run that gets a signal is a real CLI process (``project.start``); the
runs that set up or check the result run in process. Remote state and state.json are checked
after each run; requests are counted, never timed."""

from __future__ import annotations

import re
import signal
import threading
from typing import Any

import pytest
from e2e import TOKEN, converged, count, names, state_matches_remote, table, wait_for

from conn_reconcile.emulator.endpoint import ConnectorEndpoint

pytestmark = pytest.mark.e2e

LIST = "/v1/connectors"  # GET: list, POST: create (the fault regex matches the whole path)


# ---- 5. Ctrl-C during apply ----------------------------------------------------------------


class GatedEndpoint(ConnectorEndpoint):
    """A connector endpoint whose answers to the registration test wait for ``gate`` (at
    most ``hold`` seconds) and that counts how many registrations are in flight at once."""

    def __init__(self, *, hold: float, gate: threading.Event | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.hold = hold
        self.gate = gate or threading.Event()
        self._count_lock = threading.Lock()
        self.entered = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def record(self, body: dict[str, Any]) -> None:
        super().record(body)
        with self._count_lock:
            self.entered += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self.gate.wait(self.hold)
        finally:
            with self._count_lock:
                self.in_flight -= 1

    def stop(self) -> None:
        self.gate.set()
        super().stop()


@pytest.fixture
def gated(project):
    with GatedEndpoint(hold=60, auth_type="bearer", token=TOKEN) as ep:
        for i in range(1, 7):
            project.write(f"c{i}.yaml", project.service(f"c{i}", url=f"{ep.url}/c{i}/search"))
        yield ep


def _interrupted(project, gated, notice: str):
    """An apply of the six connectors, two at a time, sent Ctrl-C once two creates are in
    flight; returned once its stderr shows ``notice``."""
    run = project.start("apply", "--auto-approve", "--parallelism", "2")
    run.wait_until(lambda: gated.entered == 2, "two creates in flight")
    run.proc.send_signal(signal.SIGINT)
    run.wait_until(lambda: notice in run.err_so_far, "the interrupt notice")
    return run


@pytest.mark.slow
def test_ctrl_c_finishes_calls_in_flight_records_them_and_skips_the_rest(project, gated):
    run = _interrupted(project, gated, "waiting for 2 call(s) in flight")
    assert count(project, "POST") == 2  # nothing new started after Ctrl-C
    gated.gate.set()  # let the two registrations finish
    result = run.finish()
    assert result.code == 130, result.both
    assert "created c1 (" in result.out and "created c2 (" in result.out
    rows = table(result.out)
    assert [row[:3] for row in rows] == [
        ["c1", "create", "created"],
        ["c2", "create", "created"],
        *[[f"c{i}", "create", "skipped"] for i in range(3, 7)],
    ]
    assert all(row[3:] == ["-", "not started: interrupted"] for row in rows[2:])
    assert "Apply interrupted: 2 created, 0 failed, 4 skipped." in result.out
    assert "Traceback" not in result.both and "KeyboardInterrupt" not in result.both
    assert count(project, "POST") == 2 and names(project) == {"c1": 1, "c2": 1}
    state_matches_remote(project)

    rerun = project.run("apply", "--auto-approve")
    assert rerun.code == 0, rerun.both
    assert names(project) == {f"c{i}": 1 for i in range(1, 7)}
    state_matches_remote(project)
    converged(project)


@pytest.mark.slow
def test_a_second_ctrl_c_stops_waiting_reports_unknown_and_never_duplicates(project, gated):
    run = _interrupted(project, gated, "Ctrl-C again")
    run.proc.send_signal(signal.SIGINT)
    result = run.finish()  # exits while both registrations are still held by the gate
    assert not gated.gate.is_set() and gated.in_flight == 2
    assert result.code == 130, result.both
    assert "not waiting for 2 call(s) in flight" in result.err
    rows = table(result.out)
    assert [row[2] for row in rows] == ["unknown", "unknown", "skipped", "skipped", "skipped", "skipped"]
    assert "the outcome is unknown; run plan to check" in rows[0][4]
    assert "Apply interrupted: 0 failed, 2 unknown, 4 skipped." in result.out
    assert "Traceback" not in result.both
    assert project.emulator.connectors == []

    gated.gate.set()  # the server finishes the two creates the tool stopped waiting for
    wait_for(lambda: len(project.emulator.connectors) == 2, "the abandoned creates to land")
    rerun = project.run("apply", "--auto-approve")
    assert rerun.code == 0, rerun.both
    assert names(project) == {f"c{i}": 1 for i in range(1, 7)}  # adopted by name, no duplicates
    state_matches_remote(project)
    converged(project)


# ---- 6. parallelism, deterministic output, shared rate limit -------------------------------


def _progress(out: str) -> list[tuple[str, str]]:
    return re.findall(r"^\s*\S+ (created|failed|skipped) (\S+)", out, flags=re.M)


@pytest.mark.slow
def test_parallel_apply_reports_in_plan_order_whatever_finishes_first(project, make_endpoint):
    gate = threading.Event()
    count_ = 8
    # the first connectors in plan order answer the registration test last
    endpoints = [GatedEndpoint(hold=0.1 * (count_ - i), gate=gate).start() for i in range(count_)]
    try:
        for i, ep in enumerate(endpoints):
            project.write(f"p{i}.yaml", project.service(f"p{i}", url=f"{ep.url}/search"))
        plan_order = [f"p{i}" for i in range(count_)]
        reports = []
        for _ in range(2):
            project.emulator.reset()
            (project.root / ".conn-reconcile" / "state.json").unlink(missing_ok=True)
            apply = project.run("apply", "--auto-approve", "--parallelism", "8")
            assert apply.code == 0, apply.both
            finished = [c["name"] for c in project.emulator.connectors]  # oldest first
            assert sorted(finished) == plan_order and finished != plan_order
            reports.append((_progress(apply.out), [row[:3] for row in table(apply.out)]))
        assert reports[0] == reports[1]
        assert reports[0][0] == [("created", n) for n in plan_order]
        assert reports[0][1] == [[n, "create", "created"] for n in plan_order]
        assert sum(ep.entered for ep in endpoints) == 2 * count_
    finally:
        for ep in endpoints:
            ep.stop()
    state_matches_remote(project)
    converged(project)


@pytest.mark.slow
def test_parallelism_runs_creates_at_once_and_the_rate_limit_is_shared(project):
    gate = threading.Event()
    with GatedEndpoint(hold=5, gate=gate) as ep:
        for i in range(4):
            project.write(f"r{i}.yaml", project.service(f"r{i}", url=f"{ep.url}/r{i}"))
        run = project.start("apply", "--auto-approve", "--parallelism", "8")
        run.wait_until(lambda: ep.in_flight == 4, "four registrations in flight at once")
        gate.set()
        assert run.finish().code == 0
        assert ep.max_in_flight == 4

        # --rate-limit 2: requests are at least 0.5 s apart, far longer than one registration
        project.emulator.reset()
        (project.root / ".conn-reconcile" / "state.json").unlink()
        ep.hold, ep.max_in_flight, ep.gate = 0.05, 0, threading.Event()
        limited = project.run("apply", "--auto-approve", "--parallelism", "8", "--rate-limit", "2")
        assert limited.code == 0, limited.both
        assert ep.max_in_flight == 1 and names(project) == {f"r{i}": 1 for i in range(4)}
    state_matches_remote(project)
