"""Renames in the planner: ``renamed_from:`` and git's renames pair a renamed file with the managed
connector its old file described (an update of ``name``, same id); a ``renamed_from`` naming no
managed connector is an error, one left after its rename a note; a removed managed connector next to
exactly one new file, with nothing to tell them apart, is refused."""

import pytest
from helpers import desired, remote

from conn_reconcile.errors import InputError
from conn_reconcile.model.state import ManagedRecord, State
from conn_reconcile.plan.bodies import create_body
from conn_reconcile.plan.model import Action, PlanOptions
from conn_reconcile.plan.planner import build_plan

HANDBOOK = remote("hb-1", "handbook", url="https://hb.example.com/search")
STATE = State(connectors={"hb-1": ManagedRecord(id="hb-1", name="handbook", file="connectors/handbook.yaml")})


def eng(**fields):
    return desired("connectors/eng-handbook.yaml", name="eng-handbook", url="https://hb.example.com/search", **fields)


def test_renamed_from_is_an_update_of_the_name_keeping_the_id_and_never_sent():
    plan = build_plan([eng(renamed_from="handbook")], [HANDBOOK], state=STATE, options=PlanOptions(prune=True))
    (change,) = plan.changes
    assert (change.action, change.remote_id, change.payload) == (Action.UPDATE, "hb-1", {"name": "eng-handbook"})
    assert plan.unmanaged == () and plan.notes == ()
    assert "renamed_from" not in create_body(eng(renamed_from="handbook").spec)


def test_git_renames_pair_the_new_file_with_the_old_files_connector():
    renames = {"connectors/handbook.yaml": "connectors/eng-handbook.yaml"}
    plan = build_plan([eng()], [HANDBOOK], state=STATE, renames=renames)
    (change,) = plan.changes
    assert (change.action, change.remote_id) == (Action.UPDATE, "hb-1")
    assert [(f.path, f.old, f.new) for f in change.changes] == [("name", "handbook", "eng-handbook")]


def test_a_rename_nothing_proves_is_refused_with_the_line_to_add():
    with pytest.raises(InputError) as caught:
        build_plan([eng()], [HANDBOOK], state=STATE)
    (problem,) = caught.value.diagnostics
    assert problem.file == "connectors/eng-handbook.yaml" and problem.field == "name"
    assert "add the line 'renamed_from: handbook' to it" in problem.message
    assert "connectors/handbook.yaml is gone" in problem.message and "(--target eng-handbook)" in problem.message


def test_no_refusal_when_targeted_away_with_two_new_files_or_without_state():
    other = desired(name="tickets")
    assert {c.action for c in build_plan([eng(), other], [HANDBOOK], state=STATE).changes} == {Action.CREATE}
    targeted = build_plan([eng()], [HANDBOOK], state=STATE, options=PlanOptions(targets=("eng-handbook",)))
    assert [c.action for c in targeted.changes] == [Action.CREATE]
    assert [c.action for c in build_plan([eng()], [HANDBOOK]).changes] == [Action.CREATE]
    gone = build_plan([eng()], [], state=STATE)  # the managed connector is gone from the org too
    assert [c.action for c in gone.changes] == [Action.CREATE]


def test_renamed_from_a_name_not_managed_is_an_error_with_the_nearest_name():
    with pytest.raises(InputError) as caught:
        build_plan([eng(renamed_from="handbok")], [HANDBOOK], state=STATE)
    (problem,) = caught.value.diagnostics
    assert problem.field == "renamed_from"
    assert problem.message == "'handbok' is not a connector managed by conn-reconcile; did you mean 'handbook'?"
    with pytest.raises(InputError, match="remove the line to create it as a new connector"):
        build_plan([eng(renamed_from="zzz")], [], state=None)


def test_a_renamed_from_left_after_the_rename_is_a_note():
    done = State(
        connectors={"hb-1": ManagedRecord(id="hb-1", name="eng-handbook", file="connectors/eng-handbook.yaml")}
    )
    renamed = remote("hb-1", "eng-handbook", url="https://hb.example.com/search")
    for state in (done, None):
        plan = build_plan([eng(renamed_from="handbook")], [renamed], state=state)
        assert [c.action for c in plan.changes] == [Action.NOOP]
        assert plan.notes == (
            "connectors/eng-handbook.yaml: renamed_from: handbook has nothing left to rename (eng-handbook is its "
            "name in the org); the line can be removed",
        )


def test_two_files_renamed_from_one_connector_are_an_error():
    twice = desired("connectors/b.yaml", name="b", renamed_from="handbook")
    with pytest.raises(InputError, match=r"eng-handbook\.yaml: renamed_from: 'handbook' is already matched by"):
        build_plan([eng(renamed_from="handbook"), twice], [HANDBOOK], state=STATE)
