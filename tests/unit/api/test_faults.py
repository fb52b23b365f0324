"""Reliability under faults (end to end): the CLI as a subprocess, or the workflow in process,
against the emulator with injected faults and real connector endpoints on loopback.

Every test checks the remote state (the emulator's internal view) after apply, counts the
requests the emulator received instead of timing anything, and - through the ``project``
fixture of test_e2e - that no canary secret leaked into any output or file.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from e2e import API_KEY, TOKEN, converged, count, names, remote_by_name, state_matches_remote, table
from helpers import LOOPBACK_SSL

from conn_reconcile.config.settings import Settings
from conn_reconcile.plan.model import PlanOptions
from conn_reconcile.workflows.apply import apply_plan
from conn_reconcile.workflows.common import compute_plan
from conn_reconcile.workflows.session import Session

pytestmark = pytest.mark.e2e

LIST = "/v1/connectors"  # GET: list, POST: create (the fault regex matches the whole path)
ITEM = "/v1/connectors/.+"


# ---- 1. 429 / 503 are retried with backoff, attempts are bounded ---------------------------


def test_429_and_503_on_list_patch_delete_and_create_are_retried(project):
    for name in ("docs", "old", "older"):
        project.write(f"{name}.yaml", project.service(name, excludes=["a"]))
    assert project.run("apply", "--auto-approve").code == 0
    ids = {c["name"]: c["id"] for c in project.emulator.connectors}
    project.emulator.requests.clear()

    # plan: the list answers 429 (Retry-After), then 503 without, then 503 with Retry-After
    emu = project.emulator
    emu.faults.add("GET", LIST, statuses=[429], retry_after=0.05)
    emu.faults.add("GET", LIST, statuses=[503, 503])
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.both
    assert count(project, "GET") == 4 and "No changes." in plan.out

    # apply: an update, a create and prune deletes, each refused a few times first (two files
    # gone and one new: not one connector that may have been renamed)
    project.write("docs.yaml", project.service("docs", excludes=["a", "b"]))
    project.write("new.yaml", project.service("new"))
    (project.connectors / "old.yaml").unlink()
    (project.connectors / "older.yaml").unlink()
    emu.requests.clear()
    emu.faults.add("GET", LIST, statuses=[503], retry_after=0.05)
    emu.faults.add("PATCH", ITEM, statuses=[429, 503])
    emu.faults.add("PATCH", ITEM, statuses=[503], retry_after=0.05)
    emu.faults.add("DELETE", ITEM, statuses=[503, 429])
    emu.faults.add("POST", LIST, statuses=[429, 429], retry_after=0.05)
    apply = project.run("apply", "--auto-approve", "--prune")
    assert apply.code == 0, apply.both
    assert "Apply complete: 1 created, 1 updated, 2 deleted, 0 failed." in apply.out
    assert count(project, "GET") == 2  # the plan's list, retried once; a 429 create needs no re-list
    assert count(project, "PATCH", ITEM) == 4
    assert count(project, "DELETE", ITEM) == 4
    assert count(project, "POST") == 3
    assert len(emu.faults) == 0  # every injected fault was met

    remote = remote_by_name(project)
    assert set(remote) == {"docs", "new"} and names(project)["new"] == 1
    assert remote["docs"]["id"] == ids["docs"] and remote["docs"]["excludes"] == ["a", "b"]
    state_matches_remote(project)
    converged(project, "--prune")


def test_a_permanent_503_gives_up_after_the_maximum_attempts(project):
    project.write("docs.yaml", project.service("docs"))
    project.emulator.faults.add("GET", LIST, statuses=[503], times=100)
    plan = project.run("plan")
    assert plan.code == 1, plan.both
    assert plan.err.strip().splitlines()[-1] == (
        "Error: API error 503 on GET /v1/connectors: injected fault: HTTP 503 (gave up after 4 attempts)"
    )
    assert count(project, "GET") == 4

    apply = project.run("apply", "--auto-approve")
    assert apply.code == 1 and "gave up after 4 attempts" in apply.err
    assert count(project, "GET") == 8 and count(project, "POST") == 0
    assert project.emulator.connectors == []


def test_a_permanent_503_on_patch_fails_that_connector_after_the_maximum_attempts(project):
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    project.write("docs.yaml", project.service("docs", active=False))
    project.emulator.faults.add("PATCH", ITEM, statuses=[503], times=100)
    apply = project.run("apply", "--auto-approve")
    assert apply.code == 1, apply.both  # nothing changed, something failed
    assert "failed docs" in apply.out and "(gave up after 4 attempts)" in apply.out
    assert count(project, "PATCH", ITEM) == 4
    assert remote_by_name(project)["docs"]["active"] is True

    project.emulator.faults.clear()
    assert project.run("apply", "--auto-approve").code == 0
    assert remote_by_name(project)["docs"]["active"] is False
    converged(project)


# ---- 2. a create that may have happened is never blindly resent ----------------------------


@pytest.mark.parametrize("fault", [dict(statuses=[500]), dict(drop=True)], ids=["500", "connection-dropped"])
def test_create_that_succeeded_but_failed_on_the_way_back_is_adopted_not_duplicated(project, fault):
    project.write("docs.yaml", project.service("docs"))
    project.emulator.faults.add("POST", LIST, after=True, **fault)
    apply = project.run("apply", "--auto-approve")
    assert apply.code == 0, apply.both
    assert "created docs" in apply.out
    assert names(project) == {"docs": 1}
    assert count(project, "POST") == 1  # not resent
    assert count(project, "GET") == 2  # the plan's list and the re-list that found it
    (remote,) = project.emulator.connectors
    assert list(project.state()["connectors"]) == [remote["id"]]
    converged(project)


@pytest.mark.parametrize(
    "fault, extra",
    [
        (dict(drop=True), ()),
        # the answer would come after the client gave up; the server never stores it
        (dict(delay=3.0, statuses=[503]), ("--timeout", "1")),
    ],
    ids=["connection-dropped", "timed-out"],
)
def test_create_lost_in_flight_is_relisted_once_then_unknown_never_resent(project, fault, extra):
    project.write("docs.yaml", project.service("docs"))
    project.emulator.faults.add("POST", LIST, **fault)
    apply = project.run(*extra, "apply", "--auto-approve")
    assert apply.code == 3, apply.both
    assert "outcome unknown: create of connector 'docs' may or may not have happened" in apply.out
    assert "it was not found when listing again; run plan to check" in apply.out
    assert [row[2] for row in table(apply.out)] == ["unknown"]
    assert count(project, "POST") == 1  # never resent
    assert count(project, "GET") == 2  # the plan's list and one re-list
    assert project.emulator.connectors == []

    rerun = project.run("apply", "--auto-approve")  # the operator checked: it did not happen
    assert rerun.code == 0, rerun.both
    assert names(project) == {"docs": 1}
    state_matches_remote(project)
    converged(project)


def test_create_5xx_is_outcome_unknown_and_never_duplicates(project):
    project.write("docs.yaml", project.service("docs"))
    project.write("wiki.yaml", project.service("wiki"))
    project.emulator.faults.add("POST", LIST, statuses=[500])
    apply = project.run("apply", "--auto-approve", "--parallelism", "1")
    assert apply.code == 3, apply.both
    assert "outcome unknown: create of connector 'docs' may or may not have happened" in apply.both
    rows = {row[0]: row for row in table(apply.out)}
    assert rows["docs"][2] == "unknown"
    assert rows["wiki"][2] == "skipped"  # nothing else starts once an outcome is unknown
    assert count(project, "POST") == 1  # one POST, one re-list, no resend
    assert count(project, "GET") == 2
    assert project.emulator.connectors == []

    rerun = project.run("apply", "--auto-approve")
    assert rerun.code == 0, rerun.both
    assert names(project) == {"docs": 1, "wiki": 1}
    converged(project)


# ---- 3. auth errors stop at once; an unreadable list is never "zero connectors" ------------


def test_a_rejected_api_key_stops_at_once(project):
    project.write("docs.yaml", project.service("docs"))
    for command in (["plan"], ["apply", "--auto-approve"]):
        project.emulator.requests.clear()
        result = project.run(*command, env={"CO_API_KEY": "CANARY-wrong-key-0b7e"})
        assert result.code == 1, result.both
        (line,) = result.err.strip().splitlines()
        assert line == (
            "Error: API error 401 on GET /v1/connectors: invalid api token "
            "(the API key was rejected: check the key in CO_API_KEY)"
        )
        assert len(project.emulator.requests) == 1
    assert "CANARY-wrong-key-0b7e" not in "".join(project.outputs)
    assert project.emulator.connectors == []


def test_403_on_patch_stops_the_apply_without_retrying(project):
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    project.write("docs.yaml", project.service("docs", active=False))
    project.write("wiki.yaml", project.service("wiki"))
    project.emulator.requests.clear()
    project.emulator.faults.add("PATCH", ITEM, statuses=[403])
    apply = project.run("apply", "--auto-approve")
    assert apply.code == 1, apply.both
    assert re.search(
        r"! failed docs \(docs-\w+\) \[\d+\.\ds\]: API error 403 on PATCH \S+: "
        r"injected fault: HTTP 403 \(the API key is not allowed",
        apply.out,
    ), apply.out
    assert count(project, "PATCH", ITEM) == 1 and count(project, "POST") == 0
    rows = {row[0]: row for row in table(apply.out)}
    assert rows["docs"][2] == "failed" and rows["wiki"][2] == "skipped"
    assert set(remote_by_name(project)) == {"docs"} and remote_by_name(project)["docs"]["active"] is True
    assert project.run("apply", "--auto-approve").code == 0
    converged(project)


def _bad_page(payload: Any):
    def answer(query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        return 200, payload, {}

    return answer


@pytest.mark.parametrize(
    "bad",
    [
        "garbage",
        {"connectors": {"id": "x"}, "total_count": 1},
        {"connectors": None, "total_count": 0},
        {"total_count": 0},
    ],
    ids=["not-json", "connectors-is-an-object", "connectors-is-null", "no-connectors-field"],
)
def test_an_unreadable_list_is_an_error_never_zero_connectors(project, monkeypatch, bad):
    project.emulator.seed({"name": "docs", "url": project.endpoint.url}, id="docs-aaa111")
    project.write("docs.yaml", project.service("docs"))
    project.write("wiki.yaml", project.service("wiki"))
    if bad == "garbage":
        project.emulator.faults.add("GET", LIST, garbage=True, times=10)
        why = "not JSON"
    else:
        monkeypatch.setattr(project.emulator, "_list", _bad_page(bad))
        why = "no 'connectors' field" if "connectors" not in bad else "'connectors' is not a list"
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = project.run(*command)
        assert result.code == 1, result.both
        assert result.err.strip() == (
            f"Error: API error on GET /v1/connectors: the response is not a valid connector list ({why}; HTTP 200)"
        )
    assert count(project, "GET") == 2  # once per command: a 200 is not retried
    assert count(project, "POST") == 0
    assert [c["id"] for c in project.emulator.connectors] == ["docs-aaa111"]


# ---- 4. registration test failures, --fail-fast, the table, exit codes ---------------------


def test_registration_failures_fail_fast_all_failed_and_rerun_converges(project, make_endpoint):
    down = make_endpoint()
    down_url = down.url + "/search"
    down.stop()  # nothing listens there any more: the registration test cannot connect
    project.write("a.yaml", project.service("a"))
    project.write("b.yaml", project.service("b", url=down_url))
    project.write("c.yaml", project.connector("c", service_auth={"type": "bearer", "token": "${C_TOKEN}"}))
    project.write("d.yaml", project.service("d"))
    project.env["C_TOKEN"] = "CANARY-wrong-token-91ac"  # the endpoint answers 401 to it
    unreachable = "connector registration test failed: could not reach the connector (ConnectError)"
    rejected = "connector registration test failed: the connector answered HTTP 401"

    fast = project.run("apply", "--auto-approve", "--fail-fast", "--parallelism", "1")
    assert fast.code == 3, fast.both  # something changed, something failed
    assert table(fast.out) == [
        ["a", "create", "created", remote_by_name(project)["a"]["id"]],
        ["b", "create", "failed", "-", unreachable],
        ["c", "create", "skipped", "-", "not started: --fail-fast after an earlier failure"],
        ["d", "create", "skipped", "-", "not started: --fail-fast after an earlier failure"],
    ]
    assert re.search(rf"^  ! failed b( \[\d+\.\ds\])?: {re.escape(unreachable)}$", fast.out, re.M), fast.out
    assert "Apply finished with errors: 1 created, 1 failed, 2 skipped." in fast.out
    assert count(project, "POST") == 2 and set(names(project)) == {"a"}

    partial = project.run("apply", "--auto-approve")
    assert partial.code == 3, partial.both
    assert [row[:3] for row in table(partial.out)] == [
        ["b", "create", "failed"],
        ["c", "create", "failed"],
        ["d", "create", "created"],
    ]
    assert re.search(rf"^  ! failed c( \[\d+\.\ds\])?: {re.escape(rejected)}$", partial.out, re.M), partial.out
    assert set(names(project)) == {"a", "d"}

    all_failed = project.run("apply", "--auto-approve")
    assert all_failed.code == 1, all_failed.both  # nothing changed, everything failed
    assert [row[2] for row in table(all_failed.out)] == ["failed", "failed"]
    assert "Apply finished with errors: 2 failed." in all_failed.out
    assert set(names(project)) == {"a", "d"}

    project.write("b.yaml", project.service("b"))
    project.env["C_TOKEN"] = TOKEN
    fixed = project.run("apply", "--auto-approve")
    assert fixed.code == 0, fixed.both
    assert names(project) == {"a": 1, "b": 1, "c": 1, "d": 1}
    state_matches_remote(project)
    converged(project)


# ---- 7. deletes of connectors already gone, patches of connectors deleted meanwhile ---------


def _session(project) -> Session:
    env = {"CONN_TOKEN": TOKEN, "CONN_RECONCILE_BACKOFF_BASE": "0.01"}
    state = str(project.root / ".conn-reconcile" / "state.json")
    return Session(Settings(api_url=project.api_url, api_key=API_KEY, state=state), env)


def _delete_remotely(project, connector_id: str) -> None:
    r = httpx.delete(
        f"{project.api_url}/v1/connectors/{connector_id}",
        headers={"Authorization": f"Bearer {API_KEY}"},
        verify=LOOPBACK_SSL,
    )
    assert r.status_code == 200


def test_prune_of_a_connector_already_gone_counts_as_deleted(project):
    for name in ("a", "b", "c"):
        project.write(f"{name}.yaml", project.service(name))
    assert project.run("apply", "--auto-approve").code == 0
    ids = {c["name"]: c["id"] for c in project.emulator.connectors}
    (project.connectors / "b.yaml").unlink()
    (project.connectors / "c.yaml").unlink()
    session = _session(project)
    plan = compute_plan(session, [project.connectors], PlanOptions(prune=True)).plan
    assert sorted(c.name for c in plan.changes if c.action.value == "delete") == ["b", "c"]

    _delete_remotely(project, ids["b"])  # someone was faster, between plan and apply
    report = apply_plan(session, plan)
    assert report.exit_code == 0
    assert {o.name: o.status for o in report.outcomes} == {"b": "deleted", "c": "deleted"}
    assert count(project, "DELETE", ITEM) == 3  # b by hand (404 for the tool), then b and c
    assert set(remote_by_name(project)) == {"a"}
    state_matches_remote(project)
    converged(project, "--prune")


def test_patch_of_a_connector_deleted_since_the_plan_fails_that_connector(project):
    for name in ("a", "b"):
        project.write(f"{name}.yaml", project.service(name))
    assert project.run("apply", "--auto-approve").code == 0
    ids = {c["name"]: c["id"] for c in project.emulator.connectors}
    for name in ("a", "b"):
        project.write(f"{name}.yaml", project.service(name, active=False))
    session = _session(project)
    plan = compute_plan(session, [project.connectors], PlanOptions()).plan
    _delete_remotely(project, ids["a"])

    report = apply_plan(session, plan)
    assert report.exit_code == 3  # b changed, a failed
    outcome = {o.name: o for o in report.outcomes}
    assert outcome["b"].status == "updated" and outcome["a"].status == "failed"
    assert outcome["a"].message == (
        f"connector {ids['a']} no longer exists remotely (deleted since the plan was made); "
        "nothing was changed, run plan again"
    )
    assert [c["name"] for c in project.emulator.connectors] == ["b"]
    assert project.emulator.connectors[0]["active"] is False

    rerun = project.run("apply", "--auto-approve")  # a is created again from its file
    assert rerun.code == 0, rerun.both
    assert names(project) == {"a": 1, "b": 1}
    state_matches_remote(project)
    converged(project)


def test_a_connector_deleted_by_hand_is_recreated_and_its_old_record_dropped(project):
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    (old,) = project.emulator.connectors
    _delete_remotely(project, old["id"])

    recreate = project.run("apply", "--auto-approve")
    assert recreate.code == 0, recreate.both
    (new,) = project.emulator.connectors
    assert new["name"] == "docs" and new["id"] != old["id"]
    state_matches_remote(project)  # the record of the vanished connector is gone

    # so a rename is a PATCH of the new connector, never a second create
    project.write("docs.yaml", project.service("handbook"))
    assert f"~ update handbook ({new['id']})" in project.run("plan").out
    assert project.run("apply", "--auto-approve").code == 0
    assert [(c["id"], c["name"]) for c in project.emulator.connectors] == [(new["id"], "handbook")]
    state_matches_remote(project)
    converged(project)
