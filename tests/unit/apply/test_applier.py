"""Unit tests of the applier with a fake client: ordering, failures, Ctrl-C, state records.

The fake calls synchronise on events (never on sleeps), so every interleaving here is forced.
"""

from __future__ import annotations

import copy
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import pytest
from e2e import wait_for
from helpers import desired, remote

from conn_reconcile.apply.applier import Applier
from conn_reconcile.apply.recorder import StateRecorder
from conn_reconcile.apply.results import ApplyReport, Outcome
from conn_reconcile.errors import ApiError, AuthError, NotFoundError
from conn_reconcile.model.connector import RemoteConnector
from conn_reconcile.model.state import ManagedRecord, State
from conn_reconcile.plan.model import Plan, PlanOptions
from conn_reconcile.plan.planner import build_plan

WAIT = 10  # seconds: a guard against a hang, never a measurement


class FakeClient:
    """Records calls; ``hooks[name]`` runs inside the call for connector ``name`` (it may
    block on events or raise). Created connectors get the id ``<name>-new``."""

    def __init__(self, hooks: dict[str, Callable[[], None]] | None = None):
        self.hooks = hooks or {}
        self.calls: list[tuple[str, str]] = []
        self.finished: list[str] = []
        self._lock = threading.Lock()

    def _call(self, kind: str, name: str) -> None:
        with self._lock:
            self.calls.append((kind, name))
        hook = self.hooks.get(name)
        if hook is not None:
            hook()
        with self._lock:
            self.finished.append(name)

    def create_connector(self, body: dict, *, known_ids: Any = ()) -> RemoteConnector:
        self._call("create", body["name"])
        return remote(f"{body['name']}-new", body["name"])

    def update_connector(self, connector_id: str, body: dict) -> RemoteConnector:
        name = connector_id.rsplit("-", 1)[0]
        self._call("update", name)
        return remote(connector_id, body.get("name", name))

    def delete_connector(self, connector_id: str) -> None:
        self._call("delete", connector_id.rsplit("-", 1)[0])


def creates(*names: str) -> Plan:
    return build_plan([desired(name=n) for n in names], [])


def run(
    plan: Plan, client: FakeClient, state: State | None = None, **kwargs: Any
) -> tuple[ApplyReport, list[Outcome], list[State]]:
    seen: list[Outcome] = []
    saves: list[State] = []
    applier = Applier(client, recorder=recording(state or State(), saves), on_outcome=seen.append, **kwargs)
    return applier.apply(plan), seen, saves


def recording(state: State, saves: list[State]) -> StateRecorder:
    """A recorder whose journal keeps a snapshot of the state after every mutation."""
    recorder = StateRecorder(state, lambda mutation: saves.append(copy.deepcopy(state)))
    return recorder


def test_results_are_reported_in_plan_order_whatever_finishes_first() -> None:
    names = ["a", "b", "c", "d", "e"]
    done = {n: threading.Event() for n in names}

    def finish_after(later: str | None, me: str) -> Callable[[], None]:
        def hook() -> None:
            if later is not None:
                assert done[later].wait(WAIT)
            done[me].set()

        return hook

    # each waits for the next one in plan order: e finishes first, a last
    hooks = {n: finish_after(names[i + 1] if i + 1 < len(names) else None, n) for i, n in enumerate(names)}
    client = FakeClient(hooks)
    report, seen, saves = run(creates(*names), client, parallelism=5)
    assert client.finished == names[::-1]
    assert [(o.name, o.status) for o in seen] == [(n, "created") for n in names]
    assert report.outcomes == seen and report.exit_code == 0
    assert set(saves[-1].connectors) == {f"{n}-new" for n in names}


def test_fail_fast_skips_what_has_not_started() -> None:
    def boom() -> None:
        raise ApiError("connector registration test failed: the connector answered HTTP 401", status=400)

    client = FakeClient({"b": boom})
    report, seen, _ = run(creates("a", "b", "c", "d"), client, parallelism=1, fail_fast=True)
    assert [(o.name, o.status) for o in seen] == [("a", "created"), ("b", "failed"), ("c", "skipped"), ("d", "skipped")]
    assert seen[1].message == "connector registration test failed: the connector answered HTTP 401"
    assert seen[2].message == "not started: --fail-fast after an earlier failure"
    assert client.calls == [("create", "a"), ("create", "b")]
    assert report.exit_code == 3

    report, seen, _ = run(creates("a", "b", "c"), FakeClient({"b": boom}), parallelism=1)
    assert [o.status for o in seen] == ["created", "failed", "created"]  # without --fail-fast: the rest goes on


def test_all_failed_is_exit_1_and_an_auth_error_stops_everything() -> None:
    def denied() -> None:
        raise AuthError("forbidden", status=403, method="POST", path="/v1/connectors")

    client = FakeClient({"a": denied})
    report, seen, saves = run(creates("a", "b", "c"), client, parallelism=1)
    assert [o.status for o in seen] == ["failed", "skipped", "skipped"]
    assert seen[1].message.startswith("not started: API error 403 on POST /v1/connectors: forbidden")
    assert client.calls == [("create", "a")] and report.exit_code == 1
    assert all(not s.connectors for s in saves) and saves[-1].intents == {}  # the refused create left nothing


def test_an_unexpected_exception_fails_only_that_connector() -> None:
    def bug() -> None:
        raise RuntimeError("boom")

    report, seen, _ = run(creates("a", "b"), FakeClient({"a": bug}), parallelism=2)
    assert [(o.status, o.message) for o in seen] == [("failed", "unexpected RuntimeError: boom"), ("created", "")]
    assert report.exit_code == 3


def _managed(*pairs: tuple[str, str]) -> State:
    return State(connectors={i: ManagedRecord(id=i, name=n, file=f"connectors/{n}.yaml") for i, n in pairs})


def test_delete_of_a_connector_already_gone_counts_as_deleted() -> None:
    def gone() -> None:
        raise NotFoundError("connector not found", status=404, method="DELETE", path="/v1/connectors/b-1")

    state = _managed(("a-1", "a"), ("b-1", "b"))
    plan = build_plan(
        [], [remote("a-1", "a"), remote("b-1", "b")], state=state, options=PlanOptions(prune=True, force=True)
    )
    report, seen, saves = run(plan, FakeClient({"b": gone}), state=state)
    assert [(o.name, o.status) for o in seen] == [("a", "deleted"), ("b", "deleted")]
    assert report.exit_code == 0 and saves[-1].connectors == {}


def test_patch_of_a_connector_deleted_meanwhile_fails_clearly_and_forgets_it() -> None:
    def gone() -> None:
        raise NotFoundError("connector not found", status=404, method="PATCH", path="/v1/connectors/a-1")

    state = _managed(("a-1", "a"), ("b-1", "b"))
    plan = build_plan(
        [desired(name="a", active=False), desired(name="b", active=False)],
        [remote("a-1", "a"), remote("b-1", "b")],
        state=state,
    )
    report, seen, saves = run(plan, FakeClient({"a": gone}), state=state)
    assert [(o.name, o.status) for o in seen] == [("a", "failed"), ("b", "updated")]
    assert seen[0].message == (
        "connector a-1 no longer exists remotely (deleted since the plan was made); nothing was changed, run plan again"
    )
    assert set(saves[-1].connectors) == {"b-1"} and report.exit_code == 3


def test_a_create_drops_the_record_of_a_connector_that_was_gone_at_plan_time() -> None:
    state = _managed(("a-old", "a"), ("b-1", "b"))  # a-old was deleted by hand
    plan = build_plan([desired(name="a"), desired(name="b")], [remote("b-1", "b")], state=state)
    _, seen, saves = run(plan, FakeClient(), state=state)
    assert [(o.name, o.status) for o in seen] == [("a", "created")]  # b needs no change
    assert set(saves[-1].connectors) == {"a-new", "b-1"}


# ---- Ctrl-C ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def default_sigint():
    """Python's own Ctrl-C handler for each test, even when pytest was started with SIGINT
    ignored (under nohup, or in a background job): that is what a user's terminal gives."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_first_ctrl_c_finishes_calls_in_flight_and_skips_the_rest() -> None:
    entered = threading.Barrier(2, timeout=WAIT)
    noticed = threading.Event()
    handler_installed: list[bool] = []

    def in_flight(send: bool) -> Callable[[], None]:
        def hook() -> None:
            entered.wait()
            if send:
                handler_installed.append(signal.getsignal(signal.SIGINT) is not signal.default_int_handler)
                os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, delivered to the main thread
            assert noticed.wait(WAIT)  # the applier has taken it in before these calls finish

        return hook

    notices: list[str] = []

    def notice(text: str) -> None:
        notices.append(text)
        noticed.set()

    client = FakeClient({"a": in_flight(True), "b": in_flight(False)})
    report, seen, saves = run(creates("a", "b", "c", "d", "e"), client, parallelism=2, on_notice=notice)
    assert handler_installed == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    assert notices == [
        "Interrupted: no further changes will be started; waiting for 2 call(s) in flight to finish "
        "(Ctrl-C again: stop waiting)."
    ]
    assert [(o.name, o.status) for o in seen] == [
        ("a", "created"),
        ("b", "created"),
        ("c", "skipped"),
        ("d", "skipped"),
        ("e", "skipped"),
    ]
    assert all(o.message == "not started: interrupted" for o in seen[2:])
    assert sorted(client.calls) == [("create", "a"), ("create", "b")]
    assert report.interrupted and not report.abandoned and report.exit_code == 130
    assert set(saves[-1].connectors) == {"a-new", "b-new"}


def test_second_ctrl_c_stops_waiting_and_reports_calls_in_flight_unknown() -> None:
    release = threading.Event()
    holder: list[Applier] = []

    def stuck() -> None:
        holder[0].interrupt.trigger()
        holder[0].interrupt.trigger()
        assert release.wait(WAIT)

    client = FakeClient({"b": stuck})
    saves: list[State] = []
    seen: list[Outcome] = []
    applier = Applier(client, recorder=recording(State(), saves), parallelism=1, on_outcome=seen.append)
    holder.append(applier)
    report = applier.apply(creates("a", "b", "c"))
    assert [(o.name, o.status) for o in seen] == [("a", "created"), ("b", "unknown"), ("c", "skipped")]
    assert seen[1].message == "interrupted while in flight: the outcome is unknown; run plan to check"
    assert report.abandoned and report.exit_code == 130
    assert "b" not in client.finished

    release.set()  # the abandoned call still completes in its thread, and is recorded
    wait_for(lambda: "b-new" in saves[-1].connectors, "the abandoned call to be recorded", WAIT)
    assert set(saves[-1].connectors) == {"a-new", "b-new"}


@pytest.mark.parametrize("count", [1, 2])
def test_ctrl_c_before_any_call_starts_nothing(count: int) -> None:
    client = FakeClient()
    applier = Applier(client, recorder=StateRecorder(State()))
    for _ in range(count):
        applier.interrupt.trigger()
    report = applier.apply(creates("a", "b"))
    assert [o.status for o in report.outcomes] == ["skipped", "skipped"]
    assert client.calls == [] and report.exit_code == 130
