"""Carry out a :class:`Plan` through the API client.

Order is fixed: updates, then creates, then replacements (create the new connector, then
delete the old one), then deletes; inside a phase up to ``parallelism`` calls run at once,
and results are reported in plan order as soon as everything before them is done, so the
output is the same whatever the timing. Every secret is resolved before the first call
(an unset variable changes nothing), state is written after each successful change, and a
failure of one connector does not stop the others unless ``fail_fast``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from conn_reconcile.errors import (
    ApiError,
    AuthError,
    ConnReconcileError,
    ExitCode,
    OutcomeUnknownError,
    SecretError,
)
from conn_reconcile.models import SECRET_PATHS, RemoteConnector
from conn_reconcile.plan import Action, Plan, ResourceChange
from conn_reconcile.secrets import fingerprint, resolve_payload, secret_values
from conn_reconcile.state import ManagedRecord, State

PHASES: tuple[Action, ...] = (Action.UPDATE, Action.CREATE, Action.REPLACE, Action.DELETE)
_DONE = {Action.CREATE: "created", Action.UPDATE: "updated", Action.REPLACE: "replaced", Action.DELETE: "deleted"}


class Client(Protocol):
    def create_connector(self, body: dict, *, known_ids: Any = ()) -> RemoteConnector: ...
    def update_connector(self, connector_id: str, body: dict) -> RemoteConnector: ...
    def delete_connector(self, connector_id: str) -> None: ...


@dataclass(frozen=True)
class Outcome:
    name: str
    action: Action
    status: str  # created / updated / replaced / deleted / failed / skipped / unknown
    remote_id: str | None = None
    message: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in _DONE.values()


@dataclass
class ApplyReport:
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def changed(self) -> int:
        return sum(1 for o in self.outcomes if o.ok)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if o.status in ("failed", "unknown"))

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.count("unknown") or (self.failed and self.changed):
            return ExitCode.PARTIAL
        return ExitCode.ERROR if self.failed else ExitCode.OK


class Applier:
    def __init__(
        self,
        client: Client,
        *,
        env: Mapping[str, str],
        state: State,
        save_state: Callable[[State], None] | None = None,
        fingerprint_key: str | None = None,
        parallelism: int = 4,
        fail_fast: bool = False,
        on_outcome: Callable[[Outcome], None] | None = None,
    ):
        self.client = client
        self.env = env
        self.state = state
        self.save_state = save_state
        self.fingerprint_key = fingerprint_key
        self.parallelism = max(1, parallelism)
        self.fail_fast = fail_fast
        self.on_outcome = on_outcome or (lambda o: None)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._fatal: ConnReconcileError | None = None

    # ---- preparation -------------------------------------------------------------------

    def resolve_all(self, plan: Plan) -> dict[int, dict[str, Any]]:
        """Resolve every secret the plan needs, before any call. Collects all problems."""
        resolved: dict[int, dict[str, Any]] = {}
        problems: list[str] = []
        for i, change in enumerate(plan.changes):
            if change.payload is None or change.action in (Action.NOOP, Action.DELETE):
                continue
            try:
                resolved[i] = resolve_payload(
                    change.payload, self.env, where=change.file or change.name, paths=SECRET_PATHS
                )
            except SecretError as exc:
                problems.append(str(exc))
        if problems:
            raise SecretError("\n".join(problems))
        return resolved

    def secret_values(self, plan: Plan) -> list[str]:
        """Every secret value the plan may send (for the redactor)."""
        values: list[str] = []
        for change in plan.changes:
            if change.payload is not None:
                values.extend(secret_values(change.payload, self.env, SECRET_PATHS))
        return values

    # ---- execution ---------------------------------------------------------------------

    def apply(self, plan: Plan) -> ApplyReport:
        bodies = self.resolve_all(plan)
        known_ids = frozenset(plan.seen_ids)
        indexed = list(enumerate(plan.changes))
        report = ApplyReport()
        try:
            for phase in PHASES:
                work = [(i, c) for i, c in indexed if c.action is phase]
                if work:
                    self._run_phase(work, bodies, known_ids, report)
            self._adopt_unchanged(plan)
        except KeyboardInterrupt:
            report.interrupted = True
        return report

    def _adopt_unchanged(self, plan: Plan) -> None:
        """Record connectors that matched and needed no change as managed (file, name, view)."""
        with self._lock:
            dirty = False
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
                )
                if record != previous:
                    self.state.connectors[change.remote_id] = record
                    dirty = True
            if dirty:
                self._save()

    def _skip(self, change: ResourceChange, why: str) -> Outcome:
        return Outcome(change.name, change.action, "skipped", change.remote_id, why)

    def _run_phase(
        self,
        work: list[tuple[int, ResourceChange]],
        bodies: dict[int, dict[str, Any]],
        known_ids: frozenset[str],
        report: ApplyReport,
    ) -> None:
        results: dict[int, Outcome] = {}
        order = [i for i, _ in work]
        emitted = 0

        def flush() -> None:
            nonlocal emitted
            while emitted < len(order) and order[emitted] in results:
                outcome = results[order[emitted]]
                report.outcomes.append(outcome)
                self.on_outcome(outcome)
                emitted += 1

        pool = ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="apply")
        futures: dict[Future[Outcome], tuple[int, ResourceChange]] = {}
        try:
            for i, change in work:
                futures[pool.submit(self._one, change, bodies.get(i), known_ids)] = (i, change)
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    i, change = futures[fut]
                    results[i] = fut.result() if not fut.cancelled() else self._skip(change, "cancelled")
                flush()
        except KeyboardInterrupt:
            self._stop.set()
            for fut in futures:
                fut.cancel()
            for fut, (i, change) in futures.items():
                if i in results:
                    continue
                results[i] = self._skip(change, "interrupted") if fut.cancelled() else fut.result()
            flush()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        flush()

    def _one(self, change: ResourceChange, body: dict[str, Any] | None, known_ids: frozenset[str]) -> Outcome:
        if self._stop.is_set():
            why = str(self._fatal) if self._fatal else "not attempted"
            return self._skip(change, f"skipped: {why}" if self._fatal else why)
        started = time.monotonic()
        try:
            remote_id = self._call(change, body, known_ids)
        except (AuthError, OutcomeUnknownError) as exc:
            self._fatal = exc
            self._stop.set()
            status = "unknown" if isinstance(exc, OutcomeUnknownError) else "failed"
            return Outcome(change.name, change.action, status, change.remote_id, str(exc), time.monotonic() - started)
        except ApiError as exc:
            if self.fail_fast:
                self._stop.set()
            msg = exc.api_message if exc.status == 400 else str(exc)
            return Outcome(change.name, change.action, "failed", change.remote_id, msg, time.monotonic() - started)
        except ConnReconcileError as exc:
            if self.fail_fast:
                self._stop.set()
            return Outcome(change.name, change.action, "failed", change.remote_id, str(exc), time.monotonic() - started)
        return Outcome(change.name, change.action, _DONE[change.action], remote_id, "", time.monotonic() - started)

    def _call(self, change: ResourceChange, body: dict[str, Any] | None, known_ids: frozenset[str]) -> str | None:
        if change.action is Action.DELETE:
            assert change.remote_id is not None
            self.client.delete_connector(change.remote_id)
            self._forget(change.remote_id)
            return change.remote_id
        assert body is not None
        if change.action is Action.UPDATE:
            assert change.remote_id is not None
            remote = self.client.update_connector(change.remote_id, body)
            self._record(change, remote, body)
            return remote.id
        remote = self.client.create_connector(body, known_ids=known_ids)
        self._record(change, remote, body)
        if change.action is Action.REPLACE and change.remote_id is not None:
            self.client.delete_connector(change.remote_id)
            self._forget(change.remote_id)
        return remote.id

    # ---- state -------------------------------------------------------------------------

    def _fingerprints(self, body: Mapping[str, Any], previous: Mapping[str, str]) -> dict[str, str]:
        fps = dict(previous)
        if not self.fingerprint_key:
            return fps
        for path in SECRET_PATHS:
            top, leaf = path.split(".")
            value = (body.get(top) or {}).get(leaf) if isinstance(body.get(top), Mapping) else None
            if isinstance(value, str):
                fps[path] = fingerprint(self.fingerprint_key, value)
        return fps

    def _record(self, change: ResourceChange, remote: RemoteConnector, body: Mapping[str, Any]) -> None:
        with self._lock:
            previous = self.state.connectors.get(change.remote_id or remote.id)
            if change.remote_id and change.remote_id != remote.id:
                previous = previous or self.state.connectors.get(remote.id)
            applied = dict(change.applied or {})
            if previous is not None and change.action is Action.UPDATE:
                applied = {**previous.applied, **applied}
            record = ManagedRecord(
                id=remote.id,
                name=remote.name,
                file=change.file,
                fingerprints=self._fingerprints(body, previous.fingerprints if previous else {}),
                applied=applied,
                remote_updated_at=remote.updated_at,
            )
            self.state.connectors[remote.id] = record
            self._save()

    def _forget(self, remote_id: str) -> None:
        with self._lock:
            if self.state.connectors.pop(remote_id, None) is not None:
                self._save()

    def _save(self) -> None:
        if self.save_state is not None:
            self.save_state(self.state)
