"""The state on disk (snapshot + journal) and the local state lock, against the real file
system: replay, torn lines, group commit, compaction, lock waits and holders."""

from __future__ import annotations

import threading

import pytest

from conn_reconcile.errors import StateError
from conn_reconcile.model.state import Intent, ManagedRecord, Mutation, State
from conn_reconcile.state import file as statefile
from conn_reconcile.state.lock import FileLock, LockedError, LockInfo, lock_path


def _record(i: int) -> ManagedRecord:
    return ManagedRecord(id=f"c-{i}", name=f"n{i}", file=f"connectors/n{i}.yaml")


def _intent(iid: str, name: str = "x") -> Intent:
    return Intent(id=iid, op="create", name=name, started_at="2026-01-01T00:00:00Z")


def test_the_journal_is_replayed_over_the_snapshot_and_compaction_folds_it(tmp_path):
    path = tmp_path / "state.json"
    statefile.compact(path, State(connectors={"c-0": _record(0)}))
    journal = statefile.Journal(path)
    journal.append(Mutation(intents=[_intent("aa11")]))
    journal.append(Mutation(put=[_record(1)], clear=["aa11"]))
    journal.append(Mutation(drop=["c-0"]))
    journal.close()

    state = statefile.load(path)
    assert state is not None and set(state.connectors) == {"c-1"} and state.intents == {}
    assert statefile.load(path) == state  # loading twice replays the same way

    statefile.compact(path, state)
    assert not statefile.journal_path(path).exists()
    assert statefile.load(path) == state
    assert path.read_text().count("\n") == 6 + 1  # six lines of frame, one line per record


def test_a_torn_last_line_is_ignored_and_a_bad_complete_line_is_an_error(tmp_path):
    path = tmp_path / "state.json"
    journal = statefile.Journal(path)
    journal.append(Mutation(put=[_record(1)]))
    journal.close()
    with statefile.journal_path(path).open("ab") as fh:
        fh.write(b'{"put": [{"id": "c-2", "na')  # a crash in the middle of an append
    state = statefile.load(path)
    assert state is not None and set(state.connectors) == {"c-1"}

    with statefile.journal_path(path).open("ab") as fh:
        fh.write(b"\nnot json\n")
    with pytest.raises(StateError, match=r"state\.json\.journal:\d+: not a conn-reconcile journal entry"):
        statefile.load(path)


def test_concurrent_appends_all_reach_the_disk(tmp_path):
    path = tmp_path / "state.json"
    journal = statefile.Journal(path)
    start = threading.Barrier(8)

    def worker(k: int) -> None:
        start.wait()
        for i in range(50):
            journal.append(Mutation(put=[_record(k * 1000 + i)]))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    journal.close()
    state = statefile.load(path)
    assert state is not None and len(state.connectors) == 400


def test_a_version_1_state_file_is_read(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "connectors": {"c-1": {"id": "c-1", "name": "n1"}}}')
    state = statefile.load(path)
    assert state is not None and set(state.connectors) == {"c-1"} and state.intents == {}


def test_a_second_holder_fails_at_once_naming_the_first(tmp_path):
    path = lock_path(tmp_path / "state.json")
    first = FileLock(path)
    info = first.acquire("apply")
    with pytest.raises(LockedError) as exc:
        FileLock(path).acquire("apply")
    message = str(exc.value)
    assert f"lock {info.id} held by" in message and f"pid {info.pid}" in message
    assert f"conn-reconcile force-unlock {info.id}" in message
    first.release()
    FileLock(path).acquire("apply")  # free again


def test_a_waiting_holder_gets_the_lock_when_it_is_released(tmp_path):
    path = lock_path(tmp_path / "state.json")
    first = FileLock(path)
    first.acquire("apply")
    got = threading.Event()
    errors: list[BaseException] = []

    def wait_for_lock() -> None:
        try:
            FileLock(path).acquire("apply", timeout=30)
            got.set()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    waiter = threading.Thread(target=wait_for_lock)
    waiter.start()
    assert not got.is_set()
    first.release()
    waiter.join(30)
    assert got.is_set() and not errors


def test_a_lock_timeout_names_the_wait(tmp_path):
    path = lock_path(tmp_path / "state.json")
    FileLock(path).acquire("apply")
    with pytest.raises(LockedError, match=r"the state is locked after waiting 0\.2s"):
        FileLock(path).acquire("apply", timeout=0.2)


def test_force_unlock_of_a_live_lock_warns_and_the_next_run_locks_a_new_file(tmp_path):
    path = lock_path(tmp_path / "state.json")
    holder = FileLock(path)
    info = holder.acquire("apply")
    message = FileLock(path).force_unlock(info.id)
    assert "It was still held" in message and not path.exists()
    FileLock(path).acquire("apply")  # a new lock file, while the old holder keeps its own


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "Invalid JSON"),
        ('{"connectors": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ('{"version": 3}', "version: Input should be 1 or 2"),
        ('{"connectors": {"c-1": {"id": "c-1"}}}', "connectors.c-1.name: Field required"),
        ('{"connectors": {}, "extra": 1}', "extra: Extra inputs are not permitted"),
    ],
)
def test_a_state_file_that_is_not_one_is_a_clear_error(tmp_path, text, why):
    path = tmp_path / "state.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StateError, match="not a conn-reconcile state file") as info:
        statefile.load(path)
    assert why in str(info.value)


def test_a_journal_line_nested_too_deeply_is_an_error(tmp_path):
    path = tmp_path / "state.json"
    statefile.journal_path(path).write_bytes(b'{"put": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n")
    with pytest.raises(StateError, match=r"state\.json\.journal:1: not a conn-reconcile journal entry"):
        statefile.load(path)


def test_a_lock_record_that_is_not_one_reads_as_none() -> None:
    good = b'{"id": "i", "operation": "apply", "who": "w", "host": "h", "pid": 1, "created": "t"}'
    assert LockInfo.parse(good) is not None
    for bad in (b"not json", b"[]", b'{"id": 1}', b'{"id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"):
        assert LockInfo.parse(bad) is None
