"""The git state backend against real git, a bare repository on disk as ``origin`` and clones of it:
the spec parser, the remote compare-and-swap the lock and the pushes rely on (racing pushes
included), reading and pushing the state with its local copy, and the lock. Merging a rejected
push: test_gitstate_merge.py; end to end: tests/e2e/test_gitstate_e2e.py."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from contextlib import chdir
from pathlib import Path

import pytest
from gitfixtures import (  # noqa: F401 (fixtures)
    branch_commit,
    clone,
    git,
    git_env,
    make_clone,
    origin_repo,
    rendezvous_hook,
    scratch,
)

from conn_reconcile.errors import ConfigError, ConnReconcileError, StateError
from conn_reconcile.model.state import ManagedRecord, Mutation, State
from conn_reconcile.state import file as statefile
from conn_reconcile.state.git import branch as gitstate
from conn_reconcile.state.git.branch import StatePushError, repo_for, sidecar_path
from conn_reconcile.state.git.lock import GitLock
from conn_reconcile.state.git.repo import GitError, ScratchRepo
from conn_reconcile.state.lock import LockedError, LockInfo
from conn_reconcile.state.spec import GitStateSpec, parse

SPEC = GitStateSpec("origin", "conn-reconcile-state", "state.json")


# ---- the spec ------------------------------------------------------------------------------


def test_a_git_spec_is_parsed_and_a_path_is_not_one():
    assert parse(".conn-reconcile/state.json") is None
    assert parse("git:conn-reconcile-state:state.json") == SPEC
    assert parse("git:ci/state:env/prod/state.json", "upstream") == GitStateSpec(
        "upstream", "ci/state", "env/prod/state.json"
    )
    assert SPEC.lock_ref == "refs/conn-reconcile/lock/conn-reconcile-state"
    assert str(parse("git:a/b:c.json")) == "git:a/b:c.json"


@pytest.mark.parametrize(
    "value",
    [
        "git:",
        "git:branch",
        "git:branch:",
        "git::state.json",
        "git:-b:state.json",
        "git:a..b:x",
        "git:a/../b:x",
        "git:b:../x",
        "git:b:/abs",
        "git:b:a//c",
        "git:b:.hidden",
        "git:x.lock:s",
        "git:b:s.lock",
        "git:a b:s",
        "git:b:s\nx",
        "git:b@{1}:s",
        "git:b:-x",
        "git:b/:s",
        "git:refs/heads/x:s" + "a" * 300,
    ],
)
def test_a_bad_spec_is_refused(value):
    with pytest.raises(ConfigError):
        parse(value)


@pytest.mark.parametrize("remote", ["-x", "https://example.com/r.git", "a b", "..", "a/b", ""])
def test_a_bad_remote_name_is_refused(remote):
    with pytest.raises(ConfigError):
        parse("git:b:s.json", remote or "\n")


# ---- compare-and-swap on the remote, as git does it -----------------------------------------


def test_force_with_lease_is_a_compare_and_swap_on_the_remote(clone, monkeypatch):
    monkeypatch.chdir(clone)
    repo = ScratchRepo(clone / ".conn-reconcile" / "git" / "repo.git", "origin").ensure()
    ref = "refs/conn-reconcile/lock/x"
    one = repo.commit_file(None, "lock.json", b"1\n", "one")
    two = repo.commit_file(None, "lock.json", b"2\n", "two")
    assert repo.fetch(ref) is None
    assert repo.push(ref, one, None).ok  # empty expected value: only if it does not exist
    refused = repo.push(ref, two, None)
    assert (refused.ok, refused.stale) == (False, True)
    assert repo.fetch(ref) == one
    assert repo.push(ref, None, two).stale  # a delete with the wrong lease is refused
    assert repo.push(ref, two, one).ok  # the right lease: replaced (not even a fast-forward)
    assert repo.push(ref, None, two).ok
    assert repo.fetch(ref) is None
    assert repo.push(ref, None, two).stale  # nothing to delete
    assert repo.read(one, "lock.json") == b"1\n" and repo.read(one, "missing.json") is None


def test_a_push_the_remote_refuses_is_stale_only_when_another_writer_has_the_ref(clone, origin_repo, monkeypatch):
    monkeypatch.chdir(clone)
    repo = ScratchRepo(clone / ".conn-reconcile" / "git" / "repo.git", "origin").ensure()
    ref = "refs/conn-reconcile/lock/x"
    one, two, three = (repo.commit_file(None, "lock.json", f"{i}\n".encode(), str(i)) for i in (1, 2, 3))
    assert repo.push(ref, one, None).ok and repo.push("refs/other/two", two, None).ok
    moving = origin_repo / "move"  # while it exists, the hook moves the ref (another writer) before declining
    hook = origin_repo / "hooks" / "pre-receive"
    hook.write_text(
        f'#!/bin/sh\n[ -f "{moving}" ] && env -u GIT_QUARANTINE_PATH git update-ref {ref} {two}\n'
        'echo "declined by policy" >&2\nexit 1\n'
    )
    hook.chmod(0o755)
    declined = repo.push(ref, three, one)
    assert (declined.ok, declined.stale) == (False, False) and "declined by policy" in declined.message
    assert branch_commit(origin_repo, ref) == one
    moving.touch()
    moved = repo.push(ref, three, one)
    assert (moved.ok, moved.stale) == (False, True) and "hook declined" in moved.message
    assert branch_commit(origin_repo, ref) == two
    assert repo.remote_ref(ref) == two and repo.remote_ref("refs/conn-reconcile/lock/none") is None


def test_a_push_to_an_unreachable_remote_is_a_failure_but_not_a_rejection(clone, tmp_path, monkeypatch):
    monkeypatch.chdir(clone)
    repo = ScratchRepo(clone / ".conn-reconcile" / "git" / "repo.git", "origin").ensure()
    commit = repo.commit_file(None, "x", b"x", "x")
    git(clone, "remote", "set-url", "origin", str(tmp_path / "nowhere.git"))
    result = repo.push("refs/heads/b", commit, None)
    assert not result.ok and not result.stale and "nowhere.git" in result.message


# ---- pull and publish ------------------------------------------------------------------------


def _local(clone: Path) -> Path:
    return clone / ".conn-reconcile" / "git" / "state" / "origin" / "conn-reconcile-state" / "state.json"


def _record(i: int) -> ManagedRecord:
    return ManagedRecord(id=f"c-{i}", name=f"n{i}", file=f"connectors/n{i}.yaml")


def _branch_state(origin: Path) -> dict | None:
    proc = subprocess.run(
        ["git", "--git-dir", str(origin), "show", "conn-reconcile-state:state.json"], capture_output=True, text=True
    )
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def pull(spec: GitStateSpec, scratch: Path, local: Path) -> str | None:
    with chdir(scratch.parent.parent):  # the clone: the scratch repository uses its remote
        return gitstate.pull(spec, scratch, local)


def publish(spec: GitStateSpec, scratch: Path, local: Path, run_id: str) -> str | None:
    with chdir(scratch.parent.parent):
        return gitstate.publish(spec, scratch, local, run_id)


def _apply(local: Path, *records: ManagedRecord) -> None:
    state = statefile.load(local) or State()
    for r in records:
        state.connectors[r.id] = r
    statefile.compact(local, state)


def test_publish_pushes_on_top_of_the_fetched_commit_and_pull_reads_it_elsewhere(clone, origin_repo, tmp_path):
    scratch, local = clone / ".conn-reconcile" / "git", _local(clone)
    assert pull(SPEC, scratch, local) is None and not local.exists()  # no branch yet: no state
    assert publish(SPEC, scratch, local, "run1") is None  # nothing to save: no empty branch is made
    _apply(local, _record(1))
    first = publish(SPEC, scratch, local, "run1")
    assert first is not None and set(_branch_state(origin_repo)["connectors"]) == {"c-1"}

    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(origin_repo), str(other))
    other_scratch, other_local = other / ".conn-reconcile" / "git", _local(other)
    assert pull(SPEC, other_scratch, other_local) == first
    _apply(other_local, _record(2))
    second = publish(SPEC, other_scratch, other_local, "run2")
    log = git(other, "--git-dir", str(origin_repo), "log", "--format=%P", "-1", "conn-reconcile-state")
    assert log.strip() == first  # a child of the commit read: history is kept

    assert pull(SPEC, scratch, local) == second  # clean local copy: replaced by the branch's
    assert set((statefile.load(local) or State()).connectors) == {"c-1", "c-2"}


def test_a_push_that_failed_on_the_way_is_kept_and_pushed_by_the_next_run(clone, origin_repo, tmp_path):
    scratch, local = clone / ".conn-reconcile" / "git", _local(clone)
    pull(SPEC, scratch, local)
    _apply(local, _record(1))
    url = git(clone, "remote", "get-url", "origin").strip()
    git(clone, "remote", "set-url", "origin", str(tmp_path / "nowhere.git"))
    with pytest.raises(StatePushError, match="could not be pushed"):
        publish(SPEC, scratch, local, "r1")
    git(clone, "remote", "set-url", "origin", url)
    assert pull(SPEC, scratch, local) is None  # the branch did not move: the local state is the newest
    assert set((statefile.load(local) or State()).connectors) == {"c-1"}
    assert publish(SPEC, scratch, local, "r2") is not None
    assert set(_branch_state(origin_repo)["connectors"]) == {"c-1"}


def test_a_left_journal_is_replayed_and_pushed_and_a_bad_branch_file_is_an_error(clone, origin_repo):
    scratch, local = clone / ".conn-reconcile" / "git", _local(clone)
    pull(SPEC, scratch, local)
    journal = statefile.Journal(local)  # a run killed before it could compact and push
    journal.append(Mutation(put=[_record(7)]))
    journal.close()
    assert pull(SPEC, scratch, local) is None and set((statefile.load(local) or State()).connectors) == {"c-7"}
    publish(SPEC, scratch, local, "r")
    assert set(_branch_state(origin_repo)["connectors"]) == {"c-7"}

    for bad in ("not json", '{"commit": ' + "[" * 100_000 + "]" * 100_000 + "}"):  # the latter: nested too deeply
        sidecar_path(local).write_text(bad)
        with pytest.raises(StateError, match="git state record"):
            pull(SPEC, scratch, local)


# ---- the lock ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_lock_ref_has_one_holder_a_wait_times_out_and_a_stale_release_never_deletes_anothers(
    clone, origin_repo, tmp_path, monkeypatch
):
    monkeypatch.chdir(clone)
    scratch = clone / ".conn-reconcile" / "git"
    first = GitLock(
        SPEC, scratch, env={"GITHUB_SERVER_URL": "https://gh.example", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "7"}
    )
    info = first.acquire("apply")
    assert info.run_url == "https://gh.example/o/r/actions/runs/7"
    waits: list[float] = []
    with pytest.raises(LockedError, match=r"after waiting 0\.5s") as caught:
        GitLock(SPEC, scratch, env={}, sleep=waits.append).acquire("apply", timeout=0.5)
    assert f"lock {info.id} held by" in str(caught.value) and "run https://gh.example/o/r/actions/runs/7" in str(
        caught.value
    )
    assert waits and waits[0] == 0.2 and all(w <= 5.0 for w in waits)  # backoff, bounded by the timeout

    assert "Removed lock" in GitLock(SPEC, scratch, env={}).force_unlock(info.id)
    second = GitLock(SPEC, scratch, env={})
    taken = second.acquire("apply")
    with pytest.raises(GitError, match="could not release"):
        first.release()  # its lock was forced away and taken by another run: that one stays
    assert branch_commit(origin_repo, SPEC.lock_ref) is not None
    with pytest.raises(ConnReconcileError, match="lock id mismatch"):
        GitLock(SPEC, scratch, env={}).force_unlock(info.id)
    second.release()
    assert branch_commit(origin_repo, SPEC.lock_ref) is None
    assert taken.id != info.id


def _until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


@pytest.mark.slow
def test_two_runs_taking_the_lock_at_the_same_instant_one_holds_it_and_the_other_waits_for_it(origin_repo, tmp_path):
    """Both pushes pass the client's lease check (the ref did not exist) and meet in the
    remote's pre-receive hook; the remote then refuses the second one under its ref lock
    ("reference already exists"): that run waits like for any busy lock."""
    markers = rendezvous_hook(origin_repo, SPEC.lock_ref)
    clones = [make_clone(origin_repo, tmp_path / name) for name in ("runner-a", "runner-b")]
    for c in clones:
        with chdir(c):  # each scratch repository includes its clone's config
            repo_for(SPEC, scratch(c))
    waiting, go = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:  # the waiting run's back-off: until the test lets it go
        waiting.set()
        assert go.wait(30)

    locks = [GitLock(SPEC, scratch(c), env={}, sleep=sleep) for c in clones]
    outcome: dict[int, LockInfo | BaseException] = {}

    def take(i: int) -> None:
        try:
            outcome[i] = locks[i].acquire("apply", timeout=60)
        except BaseException as exc:
            outcome[i] = exc

    threads = [threading.Thread(target=take, args=(i,), daemon=True) for i in range(2)]
    for t in threads:
        t.start()
    _until(lambda: len(outcome) == 2 or (len(outcome) == 1 and waiting.is_set()), "one holder and one waiter")
    errors = [o for o in outcome.values() if isinstance(o, BaseException)]
    assert not errors, f"a run failed instead of waiting for the lock: {errors[0]}"
    assert (markers / "2").is_dir()  # both pushes met in the hook: a real race, not a busy lock
    (winner,) = outcome
    loser = 1 - winner
    held = locks[loser].holder()
    assert held is not None and held[0] is not None and held[0].id == outcome[winner].id  # type: ignore[union-attr]

    locks[winner].release()
    go.set()
    threads[loser].join(30)
    taken = outcome[loser]
    assert isinstance(taken, LockInfo), taken
    held = locks[winner].holder()
    assert held is not None and held[0] is not None and held[0].id == taken.id
    locks[loser].release()
    assert branch_commit(origin_repo, SPEC.lock_ref) is None
