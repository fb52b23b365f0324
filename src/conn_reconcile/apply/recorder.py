"""Keeping the state in step with an apply (pure core: the journal is a callable): an intent made
durable before every remote write, and its outcome recorded after it."""

from __future__ import annotations

import datetime as _dt
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from conn_reconcile.model.connector import SECRET_PATHS, RemoteConnector, get_path
from conn_reconcile.model.secrets import fingerprint
from conn_reconcile.model.state import Intent, IntentOp, ManagedRecord, Mutation, State
from conn_reconcile.plan.model import Action, Plan, ResourceChange

_OPS: dict[Action, IntentOp] = {
    Action.CREATE: "create",
    Action.REPLACE: "replace",
    Action.UPDATE: "update",
    Action.DELETE: "delete",
}


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class StateRecorder:
    """Brackets every remote write: :meth:`begin` records an intent (and the journal makes it
    durable) before the call; the outcome then puts or drops records and clears the intent in one
    mutation, or marks the intent ``unknown`` when the call may have acted without the tool
    learning its result. Thread-safe: the workers of one apply share it."""

    def __init__(
        self,
        state: State,
        journal: Callable[[Mutation], None] | None = None,
        *,
        fingerprint_key: str | None = None,
        run: str = "",
        clock: Callable[[], str] = _now,
    ):
        self.state = state
        self._journal = journal or (lambda m: None)
        self._key = fingerprint_key
        self._run = run
        self._clock = clock
        self._lock = threading.Lock()
        self._unseen: set[str] = set()

    @contextmanager
    def _locked(self) -> Iterator[Callable[[Mutation], None]]:
        """Hold the lock while mutations are built and applied to the state in memory; make
        them durable (the journal syncs to disk) after it is released, so that workers share
        one fsync rather than each queueing behind the others'. The caller's call waits for it."""
        done: list[Mutation] = []

        def commit(mutation: Mutation) -> None:
            if mutation:
                self.state.apply(mutation)
                done.append(mutation)

        with self._lock:
            yield commit
        for mutation in done:
            self._journal(mutation)

    def start(self, plan: Plan) -> None:
        """Before any call: clear the intents the plan found settled, and remember the
        records whose connector was already gone when the plan listed the org."""
        seen = frozenset(plan.seen_ids)
        with self._locked() as commit:
            self._unseen = {rid for rid in self.state.connectors if rid not in seen}
            settled = [r.intent for r in plan.recovery if r.resolution == "settled" and r.intent in self.state.intents]
            commit(Mutation(clear=settled))

    # ---- around each call --------------------------------------------------------------

    def begin_all(self, changes: Sequence[ResourceChange]) -> list[str]:
        """Open an intent for each change about to be sent, in one journal entry (one sync
        to disk for a whole phase). An intent whose call never starts is closed with
        :meth:`abandon`; a run killed before that leaves it open, and the next plan checks
        it like any other (finding nothing, it says the create is done again)."""
        intents = [
            Intent(
                id=uuid.uuid4().hex[:16],
                op=_OPS[change.action],
                name=change.name,
                file=change.file,
                remote_id=change.remote_id,
                known_ids=sorted(change.known_ids),
                started_at=self._clock(),
                run=self._run,
            )
            for change in changes
        ]
        with self._locked() as commit:
            commit(Mutation(intents=intents))
        return [intent.id for intent in intents]

    def unknown(self, intent_id: str) -> None:
        """The call may have acted: keep the intent for the next plan to resolve."""
        with self._locked() as commit:
            intent = self.state.intents.get(intent_id)
            if intent is not None:
                commit(Mutation(intents=[intent.model_copy(update={"status": "unknown"})]))

    def abandon(self, *intent_ids: str) -> None:
        """The calls provably did nothing (refused, or never started): forget their intents."""
        with self._locked() as commit:
            commit(Mutation(clear=list(intent_ids)))

    def written(self, change: ResourceChange, remote: RemoteConnector, body: Mapping[str, Any], intent_id: str) -> None:
        """A create or update succeeded (for a replacement: its create step; the intent then
        stays open, naming the new connector, until the old one is deleted)."""
        with self._locked() as commit:
            record = self._record(change, remote, body)
            mutation = Mutation(put=[record])
            if change.action is Action.REPLACE:
                intent = self.state.intents.get(intent_id)
                if intent is not None:
                    mutation.intents.append(intent.model_copy(update={"new_id": remote.id}))
            else:
                mutation.clear.extend(i for i in (intent_id, change.intent) if i)
            if change.action is not Action.UPDATE:
                mutation.drop.extend(self._shadowed(change, remote.id))
            commit(mutation)

    def deleted(self, change: ResourceChange, remote_id: str, intent_id: str) -> None:
        with self._locked() as commit:
            clear = [i for i in (intent_id, change.intent) if i]
            commit(Mutation(drop=[remote_id], clear=clear))

    def forget(self, remote_id: str, intent_id: str | None = None) -> None:
        with self._locked() as commit:
            commit(Mutation(drop=[remote_id], clear=[intent_id] if intent_id else []))

    def adopt_unchanged(self, plan: Plan) -> None:
        """Record connectors that matched and needed no change as managed (file, name, view)."""
        with self._locked() as commit:
            mutation = Mutation()
            for change in plan.changes:
                if change.action is not Action.NOOP or change.remote_id is None:
                    continue
                previous = self.state.connectors.get(change.remote_id)
                record = ManagedRecord(
                    id=change.remote_id,
                    name=change.name,
                    file=change.file,
                    fingerprints=previous.fingerprints if previous else {},
                    applied=dict(change.applied or {}),
                    remote_updated_at=change.remote_updated_at,
                    prevent_destroy=change.prevent_destroy,
                )
                if record != previous:
                    mutation.put.append(record)
                if change.intent:
                    mutation.clear.append(change.intent)
            commit(mutation)

    # ---- records -----------------------------------------------------------------------

    def _record(self, change: ResourceChange, remote: RemoteConnector, body: Mapping[str, Any]) -> ManagedRecord:
        previous = self.state.connectors.get(change.remote_id or remote.id)
        if change.remote_id and change.remote_id != remote.id:
            previous = previous or self.state.connectors.get(remote.id)
        applied = dict(change.applied or {})
        if previous is not None and change.action is Action.UPDATE:
            applied = {**previous.applied, **applied}
        return ManagedRecord(
            id=remote.id,
            name=remote.name,
            file=change.file,
            fingerprints=self._fingerprints(body, previous.fingerprints if previous else {}),
            applied=applied,
            remote_updated_at=remote.updated_at,
            prevent_destroy=change.prevent_destroy,
        )

    def _fingerprints(self, body: Mapping[str, Any], previous: Mapping[str, str]) -> dict[str, str]:
        fps = dict(previous)
        if self._key:
            for path in SECRET_PATHS:
                value = get_path(body, path)
                if isinstance(value, str):
                    fps[path] = fingerprint(self._key, value)
        return fps

    def _shadowed(self, change: ResourceChange, new_id: str) -> list[str]:
        """Records of the connector a new one stands in for, when that one was already gone
        at plan time (they would shadow the new record)."""
        gone = []
        for rid in sorted(self._unseen):
            rec = self.state.connectors.get(rid)
            if (
                rid != new_id
                and rec is not None
                and ((change.file is not None and rec.file == change.file) or rec.name == change.name)
            ):
                gone.append(rid)
                self._unseen.discard(rid)
        return gone
