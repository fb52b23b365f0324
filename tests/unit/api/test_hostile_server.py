"""The CLI against a hostile or misbehaving API, end to end: crafted answers from the emulator's
``body`` fault, slow ones from ``dribble``. Each test asserts the safe outcome: the exit code, no
write after a bad listing, no request outside ``/v1/connectors[/{id}]``, one connector per name,
and (the ``project`` fixture) no canary secret in any output or file."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from e2e import HeldEndpoint, converged, count, names, state_matches_remote, table, wait_for

pytestmark = pytest.mark.e2e

LIST = "/v1/connectors"
ITEM = "/v1/connectors/.+"
MARGIN = 5.0  # interpreter start-up and a loaded machine; the unbounded cases take minutes


def item(cid: Any, name: str | None = None) -> dict[str, Any]:
    return {
        "id": cid,
        "name": name or f"n-{cid}",
        "url": "https://x.example.com/search",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }


def no_writes_and_safe_paths(project) -> None:
    for method, path in (("POST", LIST), ("PATCH", ITEM), ("DELETE", ITEM), ("DELETE", "/v1.*")):
        assert count(project, method, path) == 0, (method, path)
    for record in project.emulator.requests:
        assert record.path == LIST or re.fullmatch(r"/v1/connectors/[A-Za-z0-9_-]+", record.path), record.path


def managed_docs(project) -> None:
    """docs is created and recorded in state; wiki is a new file, so a plan would create it
    and, with --prune, delete docs' stale twin if it were listed."""
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    project.write("wiki.yaml", project.service("wiki"))
    project.emulator.requests.clear()


FULL = [item(f"c{i}") for i in range(100)]  # one full page for the CLI's page size (100)


@pytest.mark.parametrize(
    ("pages", "message"),
    [
        (
            [{"connectors": FULL, "total_count": 150}, {"connectors": [], "total_count": 150}],
            "the connector list is incomplete: 100 distinct connectors read, total_count says 150",
        ),
        (
            [{"connectors": [item("a"), item("b"), item("c")], "total_count": 2}],
            "the connector list does not match its total_count: 3 distinct connectors read, total_count says 2",
        ),
        (
            [{"connectors": [item("a"), item("b"), item("a")], "total_count": 3}],
            "the connector list has connector id 'a' twice (again as item 2)",
        ),
    ],
    ids=["page-2-empty", "total-too-small", "same-id-twice"],
)
def test_a_listing_that_does_not_add_up_fails_plan_and_apply_without_writes(project, pages, message):
    managed_docs(project)
    for command in (["plan"], ["apply", "--auto-approve", "--prune", "--force"]):
        for _ in range(2):  # the first pass and the one re-read
            for page in pages:
                project.emulator.faults.add("GET", LIST, body=page)
        result = project.run(*command)
        assert result.code == 1, result.both
        assert result.err.strip() == f"Error: API error on GET /v1/connectors: {message} (read twice)"
        assert len(project.emulator.faults) == 0
    assert count(project, "GET") == 4 * len(pages)
    no_writes_and_safe_paths(project)
    assert names(project) == {"docs": 1}


# the unit tests (test_client.py) cover more shapes; these are ids that would make the request
# DELETE /v1/connectors or DELETE /v1, and one that would colour the terminal
@pytest.mark.parametrize("bad_id", ["..", "a/../../x", "esc\x1b[31mred"])
def test_a_listed_id_that_is_not_a_slug_fails_before_any_request_uses_it(project, bad_id):
    managed_docs(project)
    (project.connectors / "docs.yaml").unlink()  # with --prune, docs' listed twin would be deleted
    page = {"connectors": [item("wiki-9"), item(bad_id, "docs")], "total_count": 2}
    for command in (["plan", "--prune"], ["apply", "--auto-approve", "--prune"]):
        project.emulator.faults.add("GET", LIST, body=page)
        result = project.run(*command)
        assert result.code == 1, result.both
        assert result.err.startswith(
            "Error: API error on GET /v1/connectors: the response is not a valid connector list (item 1: id: "
        ), result.err
        assert "\x1b" not in result.both and (len(bad_id) < 3 or bad_id not in result.err)
    no_writes_and_safe_paths(project)
    assert names(project) == {"docs": 1}


@pytest.mark.parametrize(
    "answer",
    [{"connector": item("../../v1", "docs")}, {"connector": {"name": "docs"}}, "not a connector"],
    ids=["path-id", "no-id", "not-an-object"],
)
def test_a_create_answered_with_a_bad_connector_is_adopted_by_relisting_once(project, answer):
    project.write("docs.yaml", project.service("docs"))
    project.emulator.faults.add("POST", LIST, after=True, body=answer)  # the create did happen
    apply = project.run("apply", "--auto-approve")
    assert apply.code == 0, apply.both
    assert "created docs" in apply.out
    assert count(project, "POST") == 1 and count(project, "GET") == 2  # plan's list, one re-list
    assert names(project) == {"docs": 1}
    state_matches_remote(project)
    converged(project)


# ---- deadlines --------------------------------------------------------------------------------


@pytest.mark.slow
def test_plan_timeout_bounds_a_dribbled_answer_as_a_whole(project):
    project.write("docs.yaml", project.service("docs"))
    project.emulator.faults.add("GET", LIST, dribble=1.0)  # ~200 bytes, 1 s apart: minutes per attempt
    started = time.monotonic()
    plan = project.run("--timeout", "3", "plan")
    elapsed = time.monotonic() - started
    assert plan.code == 0, plan.both  # the retry is answered at once
    assert "Plan: 1 to create" in plan.out
    assert elapsed < 3 + MARGIN
    assert count(project, "GET") == 2
    wait_for(lambda: project.emulator.dribbling == 0, "the emulator to notice the client left", timeout=5)


@pytest.mark.slow
def test_plan_deadline_stops_retries_and_fails_clearly(project):
    project.write("docs.yaml", project.service("docs"))
    project.emulator.faults.add("GET", LIST, dribble=1.0, times=100)
    started = time.monotonic()
    plan = project.run("--timeout", "2", "plan", env={"CONN_RECONCILE_DEADLINE": "4"})
    elapsed = time.monotonic() - started
    assert plan.code == 1, plan.both
    *retries, line = plan.err.strip().splitlines()
    assert re.fullmatch(r"Error: deadline exceeded: the --deadline passed (during|before) GET /v1/connectors.*", line)
    for retry in retries:  # each retry said as it starts
        assert re.fullmatch(r"conn-reconcile: GET /v1/connectors: timed out after 2s; retrying in .*", retry)
    assert elapsed < 4 + MARGIN
    assert 1 <= count(project, "GET") <= 3 and count(project, "POST") == 0


@pytest.mark.slow
def test_apply_deadline_during_a_create_is_unknown_then_converges(project):
    project.write("docs.yaml", project.service("docs"))
    project.write("wiki.yaml", project.service("wiki"))
    project.emulator.faults.add("POST", LIST, dribble=1.0)  # the first create happens, its answer crawls
    run = project.start("--deadline", "6", "apply", "--auto-approve", "--parallelism", "1")
    run.wait_until(lambda: project.emulator.dribbling == 1, "the create's answer to be dribbled")
    result = run.finish()
    assert result.code == 3, result.both
    rows = {row[0]: row[2] for row in table(result.out)}
    assert rows == {"docs": "unknown", "wiki": "skipped"}  # nothing else starts once an outcome is unknown
    assert "the --deadline passed before it could be checked" in result.out
    assert count(project, "POST") == 1  # never resent
    assert len(project.emulator.connectors) == 1

    rerun = project.run("apply", "--auto-approve")
    assert rerun.code == 0, rerun.both
    assert names(project) == {"docs": 1, "wiki": 1}
    converged(project)


# ---- the pool follows --parallelism ------------------------------------------------------------


@pytest.mark.slow
def test_apply_parallelism_above_32_really_runs_that_many_requests_at_once(project):
    with HeldEndpoint() as held:  # every create is held (its registration test) until all 40 are in flight
        for i in range(40):
            project.write(f"c{i:02d}.yaml", project.service(f"c{i:02d}", url=f"{held.url}/c{i:02d}/search"))
        run = project.start("apply", "--auto-approve", "--parallelism", "40")
        run.wait_until(lambda: held.held == 40, "40 creates in flight at once", timeout=20)
        assert count(project, "POST") == 40
        held.gate.set()
        result = run.finish()
    assert result.code == 0, result.both
    assert names(project) == {f"c{i:02d}": 1 for i in range(40)}
    state_matches_remote(project)
