"""The central promise under overlapping runs and kill -9: one connector per name, nothing lost.
Every run that is killed, or holds the state lock while another tries it, is a real CLI process;
timing is driven by endpoints that hold a registration test until released and by emulator
faults: the tests wait for requests to arrive, never sleep."""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e import HeldEndpoint, converged, count, names, state_matches_remote, wait_for

from conn_reconcile.state import file as statefile

pytestmark = pytest.mark.e2e

ITEM = "/v1/connectors/.+"


@pytest.fixture
def held(project):
    with HeldEndpoint() as ep:
        yield ep


def _state(project) -> Any:
    return statefile.load(project.root / ".conn-reconcile" / "state.json")


# ---- overlapping runs: the lock ------------------------------------------------------------


@pytest.mark.slow
def test_a_second_apply_refuses_at_once_or_waits_for_the_lock_and_nothing_is_duplicated(project, held):
    for i in (1, 2, 3):
        project.write(f"c{i}.yaml", project.service(f"c{i}", url=f"{held.url}/c{i}/search"))
    first = project.start("apply", "--auto-approve", "--parallelism", "1")
    first.wait_until(lambda: held.held == 1, "the first apply's create in flight")
    requests_before = len(project.emulator.requests)

    refused = project.run("apply", "--auto-approve")
    assert refused.code == 1, refused.both
    assert "the state is locked" in refused.err and f"pid {first.proc.pid}" in refused.err
    assert "conn-reconcile force-unlock " in refused.err
    assert len(project.emulator.requests) == requests_before  # it asked the org nothing

    waiting = project.start("--lock-timeout", "60", "apply", "--auto-approve")
    held.gate.set()  # the first apply finishes; only then can the waiting one take the lock
    assert first.finish().code == 0
    second = waiting.finish()
    assert second.code == 0, second.both
    assert "No changes." in second.out
    assert names(project) == {"c1": 1, "c2": 1, "c3": 1}
    assert count(project, "POST") == 3
    state_matches_remote(project)
    converged(project)


@pytest.mark.slow
def test_plan_takes_no_lock(project, held):
    project.write("c1.yaml", project.service("c1", url=f"{held.url}/c1/search"))
    running = project.start("apply", "--auto-approve")
    running.wait_until(lambda: held.held == 1, "the create in flight")
    plan = project.run("plan")
    assert plan.code == 0, plan.both
    held.gate.set()
    assert running.finish().code == 0


def test_force_unlock_needs_the_lock_id_and_removes_a_lock_file(project):
    lock = project.root / ".conn-reconcile" / "state.json.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(
        json.dumps(
            {
                "id": "abc123",
                "operation": "apply",
                "who": "ci",
                "host": "runner-1",
                "pid": 1,
                "created": "2026-01-01T00:00:00Z",
            }
        )
    )
    wrong = project.run("force-unlock", "nope")
    assert wrong.code == 1 and "lock id mismatch" in wrong.err and lock.exists()
    done = project.run("force-unlock", "abc123")
    assert done.code == 0, done.both
    assert "Removed lock abc123 held by ci@runner-1" in done.out and not lock.exists()


# ---- kill -9 -------------------------------------------------------------------------------


@pytest.mark.slow
def test_kill_9_during_a_create_then_an_immediate_reapply_never_leaves_a_silent_twin(project):
    with HeldEndpoint() as ep:
        project.write("docs.yaml", project.service("docs", url=f"{ep.url}/docs/search"))
        killed = project.start("apply", "--auto-approve")
        killed.wait_until(lambda: ep.held == 1, "the create in flight")
        killed.proc.kill()
        killed.finish()
        pending = _state(project)
        assert [i.op for i in pending.intents.values()] == ["create"]  # written before the POST

        ep.holding = False  # the next run's create is not held
        rerun = project.run("apply", "--auto-approve")
        assert rerun.code == 0, rerun.both
        assert "Recovery (retry): create of 'docs'" in rerun.out
        (mine,) = project.emulator.connectors

        ep.gate.set()  # the killed run's POST lands after the re-apply listed the org
        wait_for(lambda: names(project)["docs"] == 2, "the killed run's create to land")
    late = next(c["id"] for c in project.emulator.connectors if c["id"] != mine["id"])

    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.both
    assert "2 connectors in the org are named 'docs'" in plan.out
    assert f"created by conn-reconcile, deleted by --prune: {late}" in plan.out
    doc = json.loads(project.run("plan", "--format", "json").out)
    assert doc["twins"] == [
        {"name": "docs", "ids": sorted([late, mine["id"]]), "managed": mine["id"], "ours": [late], "foreign": []}
    ]
    md = project.run("plan", "--format", "markdown").out
    assert "[!WARNING]" in md and late in md

    fixed = project.run("apply", "--auto-approve", "--prune")
    assert fixed.code == 0, fixed.both
    assert [c["id"] for c in project.emulator.connectors] == [mine["id"]]
    assert _state(project).intents == {}
    converged(project)


@pytest.mark.slow
def test_kill_9_never_loses_a_created_id(project, held):
    for i in range(1, 6):
        project.write(f"c{i}.yaml", project.service(f"c{i}"))
    project.write("c6.yaml", project.service("c6", url=f"{held.url}/c6/search"))
    run = project.start("apply", "--auto-approve", "--parallelism", "2")
    run.wait_until(lambda: held.held == 1 and len(project.emulator.connectors) == 5, "c1..c5 created, c6 held")
    run.wait_until(lambda: "created c5 (" in "".join(run._out), "c5 reported")
    run.proc.kill()
    run.finish()
    state = _state(project)
    created = {c["id"] for c in project.emulator.connectors}
    assert set(state.connectors) == created  # every id the server gave back is on disk
    assert [(i.op, i.name) for i in state.intents.values()] == [("create", "c6")]

    held.gate.set()
    wait_for(lambda: len(project.emulator.connectors) == 6, "c6 to land")
    plan = project.run("plan")
    assert "Recovery (adopted): create of 'c6'" in plan.out
    rerun = project.run("apply", "--auto-approve")
    assert rerun.code == 0, rerun.both
    assert names(project) == {f"c{i}": 1 for i in range(1, 7)}
    assert _state(project).intents == {}
    state_matches_remote(project)
    converged(project)


@pytest.mark.slow
def test_kill_9_inside_a_replace_finishes_it_on_the_next_run(project):
    project.write("docs.yaml", project.service("docs", description="old"))
    assert project.run("apply", "--auto-approve").code == 0
    (old,) = project.emulator.connectors

    project.write("docs.yaml", project.service("docs", description="new"))
    project.emulator.faults.add("DELETE", ITEM, delay=60, drop=True)  # the old one is never deleted
    killed = project.start("apply", "--auto-approve")
    killed.wait_until(lambda: count(project, "DELETE", ITEM) == 1, "the replacement's delete in flight")
    killed.proc.kill()
    killed.finish()
    assert names(project) == {"docs": 2}

    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.both
    assert f"- delete docs ({old['id']})" in plan.out
    assert "Recovery (finish): replace of 'docs'" in plan.out
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.both
    (new,) = project.emulator.connectors
    assert new["id"] != old["id"] and new["description"] == "new"
    assert _state(project).intents == {}
    state_matches_remote(project)
    converged(project)


@pytest.mark.slow
def test_kill_9_during_a_replacements_create_adopts_it_and_deletes_the_old_one(project):
    with HeldEndpoint() as ep:
        project.write("docs.yaml", project.service("docs", description="old", url=f"{ep.url}/docs/search"))
        ep.holding = False
        assert project.run("apply", "--auto-approve").code == 0
        (old,) = project.emulator.connectors
        ep.holding = True
        project.write("docs.yaml", project.service("docs", description="new", url=f"{ep.url}/docs/search"))
        killed = project.start("apply", "--auto-approve")
        killed.wait_until(lambda: ep.held == 1, "the replacement's create in flight")
        killed.proc.kill()
        killed.finish()
        ep.gate.set()
        wait_for(lambda: names(project)["docs"] == 2, "the new connector to land")

    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.both
    assert "Recovery (adopted): replace of 'docs'" in plan.out
    assert f"- delete docs ({old['id']})" in plan.out
    assert count(project, "POST") == 2
    assert project.run("apply", "--auto-approve").code == 0
    (new,) = project.emulator.connectors
    assert new["description"] == "new" and count(project, "POST") == 2  # adopted, never created again
    state_matches_remote(project)
    converged(project)


@pytest.mark.slow
def test_a_create_that_times_out_is_sent_once_and_adopted_when_it_lands(project, held):
    project.write("docs.yaml", project.service("docs", url=f"{held.url}/docs/search"))
    slow = project.run("--timeout", "1", "apply", "--auto-approve")
    assert slow.code == 3, slow.both  # outcome unknown: never re-sent in the same run
    assert "outcome unknown" in slow.out and count(project, "POST") == 1
    (intent,) = _state(project).intents.values()
    assert (intent.op, intent.status) == ("create", "unknown")

    held.gate.set()  # Cohere finishes the registration test and stores the connector
    wait_for(lambda: len(project.emulator.connectors) == 1, "the slow create to land")
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2 and "Recovery (adopted): create of 'docs'" in plan.out, plan.both
    assert project.run("apply", "--auto-approve").code == 0
    assert names(project) == {"docs": 1} and count(project, "POST") == 1
    assert _state(project).intents == {}
    converged(project)


# ---- twins are never silent ----------------------------------------------------------------


def test_a_twin_made_by_hand_is_reported_on_every_plan_and_never_pruned(project):
    project.write("docs.yaml", project.service("docs"))
    assert project.run("apply", "--auto-approve").code == 0
    (mine,) = project.emulator.connectors
    project.emulator.seed({"name": "docs", "url": "https://x.example.com/search"}, id="docs-byhand1")
    for _ in range(2):
        plan = project.run("plan", "--detailed-exitcode", "--prune")
        assert plan.code == 2, plan.both
        assert "not created by conn-reconcile, delete by hand" in plan.out and "docs-byhand1" in plan.out
    github = project.run("plan", "--format", "github").out
    assert any(line.startswith("::warning") and "docs-byhand1" in line for line in github.splitlines())
    assert project.run("apply", "--auto-approve", "--prune").code == 0
    assert {c["id"] for c in project.emulator.connectors} == {mine["id"], "docs-byhand1"}
