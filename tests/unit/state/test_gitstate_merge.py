"""A state push rejected because another run wrote the branch meanwhile, against real git
(a bare repository on disk as ``origin``, clones of it): the two states are merged per
record against the one this run read and pushed again; records both runs changed
differently fail the push, naming them, and the run's state stays in its local file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitfixtures import (  # noqa: F401 (fixtures)
    BRANCH,
    SPEC,
    branch_commit,
    branch_state,
    clone,
    git,
    git_env,
    local_state,
    make_clone,
    origin_repo,
    publish_in,
    pull_in,
    scratch,
)

from conn_reconcile.model.state import Intent, ManagedRecord, Mutation, OrgSnapshot, State
from conn_reconcile.state import file as statefile
from conn_reconcile.state.git import branch as gitstate
from conn_reconcile.state.git.branch import DivergedError, StatePushError, read_base, sidecar_path
from conn_reconcile.state.git.repo import PushResult, ScratchRepo


def _record(i: int, name: str | None = None) -> ManagedRecord:
    return ManagedRecord(id=f"c-{i}", name=name or f"n{i}", file=f"connectors/n{i}.yaml")


def _intent(iid: str, status: str = "pending") -> Intent:
    return Intent(id=iid, op="create", name="n", started_at="2024-01-01T00:00:00Z", run="r", status=status)


def _change(clone: Path, *put: ManagedRecord, drop: tuple[str, ...] = (), **top: object) -> None:
    """This clone's run changes its local state (as an apply does: journal, then compact)."""
    local = local_state(clone)
    state = statefile.load(local) or State()
    state.apply(Mutation(put=list(put), drop=list(drop)))
    for name, value in top.items():
        setattr(state, name, value)
    statefile.compact(local, state)


def _names(origin: Path) -> dict[str, str]:
    return {rid: r["name"] for rid, r in (branch_state(origin) or {})["connectors"].items()}


def _parent(origin: Path, commit: str) -> str:
    return git(origin, "--git-dir", str(origin), "log", "--format=%P", "-1", commit).strip()


@pytest.fixture
def two(clone: Path, origin_repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Clones A and B of one origin whose state branch holds c-0 and c-9; both read it."""
    pull_in(clone)
    _change(clone, _record(0), _record(9))
    publish_in(clone, "setup")
    other = make_clone(origin_repo, tmp_path / "clone-b")
    assert pull_in(clone) == pull_in(other) == branch_commit(origin_repo)
    return clone, other


def test_a_push_rejected_because_another_run_wrote_is_merged_per_record_and_keeps_both_runs_changes(two, origin_repo):
    a, b = two
    read = branch_commit(origin_repo)
    org = OrgSnapshot(taken_at="2024-01-02T00:00:00Z", api_url="https://api.example", by="apply")
    _change(a, _record(0, "renamed-by-a"), _record(1), _record(7), applied_commit="a" * 40)
    theirs = publish_in(a, "a")
    _change(b, _record(2), _record(7), drop=("c-9",), org=org)  # c-7: the same record as A's
    state = statefile.load(local_state(b)) or State()
    state.intents["i-b"] = _intent("i-b", "unknown")
    statefile.compact(local_state(b), state)

    merged = publish_in(b, "b")
    assert merged is not None and merged != theirs and _parent(origin_repo, merged) == theirs  # on top of A's
    assert branch_commit(origin_repo) == merged and theirs != read
    assert _names(origin_repo) == {"c-0": "renamed-by-a", "c-1": "n1", "c-2": "n2", "c-7": "n7"}  # c-9: dropped by B
    branch = branch_state(origin_repo) or {}
    assert set(branch["intents"]) == {"i-b"} and branch["intents"]["i-b"]["status"] == "unknown"
    assert branch["applied_commit"] == "a" * 40  # changed by A only
    assert branch["org"]["api_url"] == "https://api.example"  # changed by B only

    # B's local copy is the merged state, in step with the branch: the next run of B reads it as is
    assert local_state(b).read_text() == git(origin_repo, "--git-dir", str(origin_repo), "show", f"{merged}:state.json")
    base = read_base(local_state(b))
    assert base is not None and base.commit == merged
    assert pull_in(b) == merged and publish_in(b, "b2") is None
    assert pull_in(a) == merged and set((statefile.load(local_state(a)) or State()).connectors) == set(
        _names(origin_repo)
    )


def test_both_runs_changing_one_record_differently_fail_the_push_naming_it_and_overwrite_nothing(two, origin_repo):
    a, b = two
    state = statefile.load(local_state(a)) or State()
    state.intents["i-1"] = _intent("i-1")
    statefile.compact(local_state(a), state)
    publish_in(a, "a")
    assert pull_in(b) == branch_commit(origin_repo)  # both runs read c-0, c-9 and intent i-1
    _change(a, _record(0, "by-a"), _record(5, "five-by-a"), drop=("c-9",))
    state = statefile.load(local_state(a)) or State()
    state.intents["i-1"] = _intent("i-1", "unknown")
    statefile.compact(local_state(a), state)
    theirs = publish_in(a, "a")
    before = branch_state(origin_repo)

    _change(b, _record(0, "by-b"), _record(5, "five-by-b"), _record(9, "nine-by-b"), _record(6))
    state = statefile.load(local_state(b)) or State()
    del state.intents["i-1"]
    statefile.compact(local_state(b), state)
    kept, sidecar = local_state(b).read_bytes(), sidecar_path(local_state(b)).read_bytes()

    with pytest.raises(StatePushError) as caught:
        publish_in(b, "b")
    message = str(caught.value)
    assert caught.value.exit_code == 3
    for conflict in ("connector c-0", "connector c-5", "connector c-9", "intent i-1"):  # c-9: changed vs dropped
        assert conflict in message, message
    assert "c-6" not in message and str(local_state(b)) in message and "Nothing was overwritten" in message
    assert branch_commit(origin_repo) == theirs and branch_state(origin_repo) == before
    assert local_state(b).read_bytes() == kept and sidecar_path(local_state(b)).read_bytes() == sidecar

    with pytest.raises(DivergedError, match="never pushed"):  # the next run never silently replaces it
        pull_in(b)
    assert local_state(b).read_bytes() == kept


def test_a_branch_that_moves_again_during_the_merge_is_merged_again(two, origin_repo, tmp_path, monkeypatch):
    a, b = two
    c = make_clone(origin_repo, tmp_path / "clone-c")
    pull_in(c)
    _change(a, _record(1))
    publish_in(a, "a")
    _change(b, _record(2))
    _change(c, _record(3))
    real = ScratchRepo.push
    pushes: list[str | None] = []

    def push(self: ScratchRepo, ref: str, new: str | None, expected: str | None) -> PushResult:
        if self.path == scratch(b) / "repo.git" and ref == SPEC.branch_ref:
            pushes.append(expected)
            if len(pushes) == 2:  # B merged A's state: C writes before B pushes the merge
                publish_in(c, "c")
        return real(self, ref, new, expected)

    monkeypatch.setattr(ScratchRepo, "push", push)
    merged = publish_in(b, "b")
    assert len(pushes) == 3 and len(set(pushes)) == 3  # on what B read, on A's commit, on C's
    assert branch_commit(origin_repo) == merged and _parent(origin_repo, merged) == pushes[-1]
    assert set(_names(origin_repo)) == {"c-0", "c-1", "c-2", "c-3", "c-9"}


def test_a_branch_that_keeps_moving_gives_up_after_a_few_merges_keeping_the_merged_state(two, origin_repo, monkeypatch):
    a, b = two
    _change(a, _record(1))
    publish_in(a, "a")
    _change(b, _record(2))
    real = ScratchRepo.push
    refused: list[str | None] = []

    def push(self: ScratchRepo, ref: str, new: str | None, expected: str | None) -> PushResult:
        refused.append(expected)
        return PushResult(False, True, "! ... [rejected] (stale info)")

    monkeypatch.setattr(ScratchRepo, "push", push)
    with pytest.raises(StatePushError, match="kept in") as caught:
        publish_in(b, "b")
    assert len(refused) == gitstate.MAX_PUSHES and str(local_state(b)) in str(caught.value)
    assert set(_names(origin_repo)) == {"c-0", "c-1", "c-9"}  # nothing overwritten

    monkeypatch.setattr(ScratchRepo, "push", real)  # the next run: its local copy is A's state plus B's
    assert pull_in(b) == branch_commit(origin_repo)
    assert publish_in(b, "b2") is not None
    assert set(_names(origin_repo)) == {"c-0", "c-1", "c-2", "c-9"}


def test_a_journal_still_written_by_calls_in_flight_is_merged_and_its_records_count_as_this_runs(two, origin_repo):
    a, b = two
    _change(a, _record(0, "by-a"), _record(1))
    publish_in(a, "a")
    journal = statefile.Journal(local_state(b))  # an interrupted apply: calls still in flight
    journal.append(Mutation(put=[_record(2)]))
    journal.sync()
    merged = publish_in(b, "b")
    assert merged is not None and set(_names(origin_repo)) == {"c-0", "c-1", "c-2", "c-9"}
    journal.append(Mutation(put=[_record(4)]))  # a call that ends after the push
    journal.close()
    state = statefile.load(local_state(b)) or State()
    assert {r.id: r.name for r in state.connectors.values()} == {**_names(origin_repo), "c-4": "n4"}

    # a journal entry that wrote a record again as it was read, which the other run changed
    _change(a, _record(1, "one-by-a"))
    publish_in(a, "a2")
    journal = statefile.Journal(local_state(b))
    journal.append(Mutation(put=[_record(1)]))
    journal.close()
    with pytest.raises(StatePushError, match="connector c-1") as caught:
        publish_in(b, "b2")
    assert "connector c-4" not in str(caught.value)
    assert _names(origin_repo)["c-1"] == "one-by-a"


def test_a_deleted_branch_is_not_merged_into(two, origin_repo):
    _, b = two
    git(origin_repo, "--git-dir", str(origin_repo), "update-ref", "-d", f"refs/heads/{BRANCH}")
    _change(b, _record(2))
    kept = local_state(b).read_bytes()
    with pytest.raises(StatePushError, match="branch was deleted") as caught:
        publish_in(b, "b")
    assert str(local_state(b)) in str(caught.value) and local_state(b).read_bytes() == kept
    assert branch_commit(origin_repo) is None
    assert json.loads(kept)["connectors"].keys() == {"c-0", "c-2", "c-9"}
