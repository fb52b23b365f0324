"""Deciding the plan: the action for each pair, matching by pinned id, state and name, the prune
safeguards, secrets compared by fingerprint, and a plan's freshness against the org."""

import pytest
from helpers import desired, remote

from conn_reconcile.errors import InputError, RefusedError
from conn_reconcile.model.secrets import fingerprint
from conn_reconcile.model.state import ManagedRecord, State
from conn_reconcile.plan.model import Action, Plan, PlanOptions, check_fresh
from conn_reconcile.plan.planner import build_plan


def actions(plan):
    return {(c.name, c.action.value) for c in plan.changes}


def test_create_update_replace_noop_and_unmanaged():
    plan = build_plan(
        [
            desired(name="new"),
            desired(name="moved", url="https://b"),
            desired(name="described", description="new"),
            desired(name="same"),
        ],
        [
            remote("moved-1", "moved", url="https://a"),
            remote("described-1", "described", description="old"),
            remote("same-1", "same"),
            remote("other-1", "other"),
        ],
    )
    assert actions(plan) == {("new", "create"), ("moved", "update"), ("described", "replace"), ("same", "noop")}
    assert [u.id for u in plan.unmanaged] == ["other-1"]
    update = next(c for c in plan.changes if c.action is Action.UPDATE)
    assert update.payload == {"url": "https://b"} and update.remote_id == "moved-1"
    replace = next(c for c in plan.changes if c.action is Action.REPLACE)
    assert replace.payload["description"] == "new" and "description cannot be updated in place" in replace.reasons
    assert plan.summary() == {"create": 1, "update": 1, "replace": 1, "delete": 0, "noop": 1}


def test_plan_is_sorted_and_deterministic():
    ds = [desired(name=n) for n in ("b", "A", "c")]
    assert [c.name for c in build_plan(ds, []).changes] == ["A", "b", "c"]
    assert build_plan(ds, []) == build_plan(list(reversed(ds)), [])


def test_patch_resets_an_omitted_field_to_its_default():
    plan = build_plan([desired(name="x")], [remote("x-1", "x", active=False, excludes=["a"])])
    assert plan.changes[0].payload == {"active": True, "excludes": []}


def test_secret_change_sends_the_whole_auth_object_with_references():
    state = State(
        connectors={
            "x-1": ManagedRecord(id="x-1", name="x", fingerprints={"service_auth.token": fingerprint("k", "old")})
        }
    )
    d = desired(name="x", service_auth={"type": "bearer", "token": "${TOK}"})
    fps = {d.file: {"service_auth.token": fingerprint("k", "new")}}
    (change,) = build_plan([d], [remote("x-1", "x", auth_type="service_auth")], state=state, fingerprints=fps).changes
    assert change.action is Action.UPDATE
    assert change.payload == {"service_auth": {"type": "bearer", "token": "${TOK}"}}
    assert change.secret_paths == ("service_auth.token",)
    same = {d.file: {"service_auth.token": fingerprint("k", "old")}}
    (change,) = build_plan([d], [remote("x-1", "x", auth_type="service_auth")], state=state, fingerprints=same).changes
    assert change.action is Action.NOOP


def test_without_state_secrets_are_not_compared_and_a_note_says_so():
    d = desired(name="x", service_auth={"type": "bearer", "token": "${TOK}"})
    plan = build_plan([d], [remote("x-1", "x", auth_type="service_auth")])
    assert plan.changes[0].action is Action.NOOP
    assert any("not compared" in n for n in plan.notes)
    rotated = build_plan([d], [remote("x-1", "x", auth_type="service_auth")], options=PlanOptions(rotate_secrets=True))
    assert (
        rotated.changes[0].action is Action.UPDATE and rotated.changes[0].payload["service_auth"]["token"] == "${TOK}"
    )


def test_removing_auth_needs_replacement():
    plan = build_plan([desired(name="x")], [remote("x-1", "x", auth_type="service_auth")])
    assert plan.changes[0].action is Action.REPLACE
    assert "authentication cannot be removed in place" in plan.changes[0].reasons


def test_rename_with_pinned_id_is_a_patch_of_name():
    plan = build_plan(
        [desired(name="new-name", id="old-name-abc123", url="https://u")],
        [remote("old-name-abc123", "old-name", url="https://u")],
    )
    (change,) = plan.changes
    assert change.action is Action.UPDATE and change.payload == {"name": "new-name"}


def test_rename_via_state_matches_by_file():
    state = State(connectors={"a-1": ManagedRecord(id="a-1", name="a", file="connectors/a.yaml")})
    plan = build_plan(
        [desired("connectors/a.yaml", name="b", url="https://u")], [remote("a-1", "a", url="https://u")], state=state
    )
    assert [(c.action, c.payload) for c in plan.changes] == [(Action.UPDATE, {"name": "b"})]


def test_pinned_id_missing_is_an_input_error_with_location():
    with pytest.raises(InputError) as err:
        build_plan([desired(name="x", id="gone-abc123")], [])
    assert "pinned id 'gone-abc123' does not exist" in str(err.value)


def test_ambiguous_remote_names_are_an_error():
    with pytest.raises(InputError, match="2 connectors in the org are named 'x'"):
        build_plan([desired(name="x")], [remote("x-1", "x"), remote("x-2", "x")])


def test_prune_deletes_only_managed_and_unprotected():
    state = State(connectors={i: ManagedRecord(id=i, name=i) for i in ("gone-1", "kept-1")})
    remotes = [
        remote("gone-1", "gone"),
        remote("kept-1", "kept"),
        remote("foreign-1", "foreign"),
        remote("team-x-1", "team-x"),
    ]
    opts = PlanOptions(prune=True, protect=("kept*",), manage_prefix="team-")
    plan = build_plan([desired(name="keep-me")], remotes, state=state, options=opts)
    assert {c.remote_id for c in plan.changes if c.action is Action.DELETE} == {"gone-1", "team-x-1"}
    assert {u.id: u.reason for u in plan.unmanaged} == {
        "kept-1": "protected",
        "foreign-1": "not managed by conn-reconcile",
    }
    no_prune = build_plan([desired(name="keep-me")], remotes, state=state)
    assert not any(c.action is Action.DELETE for c in no_prune.changes)


def test_prune_safeguards():
    state = State(connectors={f"c{i}": ManagedRecord(id=f"c{i}", name=f"c{i}") for i in range(7)})
    remotes = [remote(f"c{i}", f"c{i}") for i in range(7)]
    with pytest.raises(RefusedError, match="no connector files"):
        build_plan([], remotes, state=state, options=PlanOptions(prune=True))
    with pytest.raises(RefusedError, match="deletes 7 connectors, more than --max-deletes 5"):
        build_plan([desired(name="z")], remotes, state=state, options=PlanOptions(prune=True))
    forced = build_plan([desired(name="z")], remotes, state=state, options=PlanOptions(prune=True, force=True))
    assert forced.summary()["delete"] == 7


def test_plan_round_trips_through_its_dict_form():
    plan = build_plan(
        [
            desired(name="a", excludes=["x"], service_auth={"type": "basic", "token": "${T}"}),
            desired(name="b", description="d"),
        ],
        [remote("b-1", "b", description="old")],
        meta={"api_url": "http://x"},
    )
    assert Plan.from_dict(plan.to_dict()) == plan


def test_check_fresh_detects_changes_deletions_and_appearances():
    remotes = [remote("a-1", "a", url="https://old")]
    plan = build_plan([desired(name="a", url="https://new"), desired(name="b")], remotes)
    assert check_fresh(plan, remotes) == []
    moved = [remote("a-1", "a", url="https://other", updated_at="2026-02-02T00:00:00Z")]
    assert "changed remotely since the plan" in check_fresh(plan, moved)[0]
    assert "was deleted remotely" in check_fresh(plan, [])[0]
    appeared = [*remotes, remote("b-9", "b")]
    assert "appeared remotely" in check_fresh(plan, appeared)[0]


def test_the_remote_hash_is_computed_when_first_asked_for_and_saved_with_the_plan():
    from conn_reconcile.plan.model import remote_hash

    r = remote("c-1", "docs", url="https://old.example.com/search")
    plan = build_plan([desired(name="docs")], [r])
    (change,) = plan.changes
    assert change.stored_hash is None  # a text plan never computes it
    assert change.remote_hash == remote_hash(r) and change.stored_hash == remote_hash(r)
    saved = Plan.from_dict(plan.to_dict())
    assert saved.changes[0].remote_hash == remote_hash(r) and saved.changes[0].remote is None
    assert check_fresh(saved, [r]) == []
    assert check_fresh(saved, [remote("c-1", "docs", url="https://new.example.com/search")]) != []
