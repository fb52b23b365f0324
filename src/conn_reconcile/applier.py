"""Carry out a :class:`Plan` through the API client.

Order is fixed: updates, then creates, then replacements (create the new connector, then
delete the old one), then deletes; inside a phase up to ``parallelism`` calls run at once,
and results are reported in plan order as soon as everything before them is done, so the
output is the same whatever the timing. Every secret is resolved before the first call
(an unset variable changes nothing), state is written after each successful change, and a
failure of one connector does not stop the others unless ``fail_fast``.

Ctrl-C (SIGINT) never raises inside a call: while ``apply`` runs in the main thread it is
only counted (:class:`Interrupt`). The first one stops new calls from starting (those are
reported ``skipped``) and waits for the calls in flight, whose results are reported and
recorded in state as usual; a second one stops waiting and reports the calls still in
flight as ``unknown`` (``ApplyReport.abandoned``).
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
    NotFoundError,
    OutcomeUnknownError,
    SecretError,
)
from conn_reconcile.interrupt import Interrupt
from conn_reconcile.models import SECRET_PATHS, RemoteConnector
from conn_reconcile.plan import Action, Plan, ResourceChange
from conn_reconcile.secrets import fingerprint, resolve_payload, secret_values
from conn_reconcile.state import ManagedRecord, State

PHASES: tuple[Action, ...] = (Action.UPDATE, Action.CREATE, Action.REPLACE, Action.DELETE)
_DONE = {Action.CREATE: "created", Action.UPDATE: "updated", Action.REPLACE: "replaced", Action.DELETE: "deleted"}
POLL_SECONDS = 0.1  # how often the main thread looks at finished calls and at Ctrl-C


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
    #: a second Ctrl-C: calls still in flight were left running and reported ``unknown``
    abandoned: bool = False

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
        interrupt: Interrupt | None = None,
        on_notice: Callable[[str], None] | None = None,
    ):
        self.client = client
        self.env = env
        self.state = state
        self.save_state = save_state
        self.fingerprint_key = fingerprint_key
        self.parallelism = max(1, parallelism)
        self.fail_fast = fail_fast
        self.on_outcome = on_outcome or (lambda o: None)
        self.interrupt = interrupt or Interrupt()
        self.on_notice = on_notice or (lambda text: None)
        self._lock = threading.Lock()
        self._stop = threading.Event()  # fail-fast, or a failure that makes going on pointless
        self._fatal: ConnReconcileError | None = None
        self._started: set[int] = set()  # plan indexes whose remote call began
        self._noticed = 0  # interrupts already announced
        self._abandoned = False
        self._unseen_records: set[str] = set()

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
        # records of connectors that were already gone when the plan listed the org
        self._unseen_records = {rid for rid in self.state.connectors if rid not in known_ids}
        indexed = list(enumerate(plan.changes))
        report = ApplyReport()
        with self.interrupt.catch_sigint():
            for phase in PHASES:
                work = [(i, c) for i, c in indexed if c.action is phase]
                if work:
                    self._run_phase(work, bodies, known_ids, report)
            self._adopt_unchanged(plan)
            self._announce(0)
        report.interrupted = self.interrupt.count > 0
        report.abandoned = self._abandoned
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

    def _halted(self) -> bool:
        return self._stop.is_set() or self.interrupt.count > 0

    def _not_started(self, change: ResourceChange) -> Outcome:
        if self.interrupt.count:
            why = "not started: interrupted"
        elif self._fatal is not None:
            why = f"not started: {self._fatal}"
        else:
            why = "not started: --fail-fast after an earlier failure"
        return Outcome(change.name, change.action, "skipped", change.remote_id, why)

    def _announce(self, in_flight: int) -> None:
        """Tell the user, once per Ctrl-C, what happens now. Runs in the main thread."""
        count = self.interrupt.count
        if count <= self._noticed:
            return
        self._noticed = count
        if count == 1:
            wait = f"; waiting for {in_flight} call(s) in flight to finish (Ctrl-C again: stop waiting)" if in_flight else ""
            self.on_notice(f"Interrupted: no further changes will be started{wait}.")
        elif in_flight:
            self.on_notice(
                f"Interrupted again: not waiting for {in_flight} call(s) in flight; "
                "their outcome is unknown (run plan to check)."
            )

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

        self._announce(0)
        if self._halted():  # nothing of this phase may start
            results.update((i, self._not_started(change)) for i, change in work)
            flush()
            return
        pool = ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="apply")
        futures = {pool.submit(self._one, i, change, bodies.get(i), known_ids): (i, change) for i, change in work}
        pending: set[Future[Outcome]] = set(futures)
        try:
            while pending:
                try:
                    done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt:  # only when no SIGINT handler could be installed
                    self.interrupt.trigger()
                    done = set()
                for fut in done:
                    results[futures[fut][0]] = fut.result()
                flush()
                self._announce(sum(1 for fut in pending if futures[fut][0] in self._started))
                if self.interrupt.count >= 2 and pending:
                    self._abandon(pending, futures, results)
                    pending = set()
                    flush()
        finally:
            pool.shutdown(wait=not self._abandoned, cancel_futures=True)
        flush()

    def _abandon(
        self,
        pending: set[Future[Outcome]],
        futures: dict[Future[Outcome], tuple[int, ResourceChange]],
        results: dict[int, Outcome],
    ) -> None:
        """Second Ctrl-C: stop waiting. Calls in flight keep running in their threads; their
        outcome is reported unknown (whatever they finish with is still recorded in state)."""
        self._abandoned = True
        for fut in pending:
            i, change = futures[fut]
            if fut.done() and not fut.cancelled():
                results[i] = fut.result()
            elif fut.cancel() or i not in self._started:
                results[i] = self._not_started(change)
            else:
                why = "interrupted while in flight: the outcome is unknown; run plan to check"
                results[i] = Outcome(change.name, change.action, "unknown", change.remote_id, why)

    def _one(
        self, index: int, change: ResourceChange, body: dict[str, Any] | None, known_ids: frozenset[str]
    ) -> Outcome:
        if self._halted():
            return self._not_started(change)
        self._started.add(index)
        started = time.monotonic()

        def failed(message: str, status: str = "failed") -> Outcome:
            return Outcome(change.name, change.action, status, change.remote_id, message, time.monotonic() - started)

        try:
            remote_id = self._call(change, body, known_ids)
        except (AuthError, OutcomeUnknownError) as exc:
            self._fatal = exc
            self._stop.set()
            return failed(str(exc), "unknown" if isinstance(exc, OutcomeUnknownError) else "failed")
        except Exception as exc:  # this connector failed; a bug must not lose the others' report either
            if self.fail_fast:
                self._stop.set()
            if isinstance(exc, NotFoundError) and change.action is Action.UPDATE:
                self._forget(change.remote_id or "")
                return failed(
                    f"connector {change.remote_id} no longer exists remotely (deleted since the plan was made); "
                    "nothing was changed, run plan again"
                )
            if isinstance(exc, ApiError) and exc.status == 400:
                return failed(exc.api_message)  # e.g. Cohere's "connector registration test failed: ..."
            if isinstance(exc, ConnReconcileError):
                return failed(str(exc))
            return failed(f"unexpected {type(exc).__name__}: {exc}")
        return Outcome(change.name, change.action, _DONE[change.action], remote_id, "", time.monotonic() - started)

    def _call(self, change: ResourceChange, body: dict[str, Any] | None, known_ids: frozenset[str]) -> str | None:
        if change.action is Action.DELETE:
            assert change.remote_id is not None
            self._delete(change.remote_id)
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
            self._delete(change.remote_id)
        return remote.id

    def _delete(self, remote_id: str) -> None:
        try:
            self.client.delete_connector(remote_id)
        except NotFoundError:
            pass  # already gone (deleted by hand, or by an earlier run): the goal is reached
        self._forget(remote_id)

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
            if change.action is not Action.UPDATE:  # a new connector: drop records of the one it
                # stands in for if that was already gone at plan time (they would shadow this one)
                for rid in list(self._unseen_records):
                    rec = self.state.connectors.get(rid)
                    same = rec is not None and (
                        (change.file is not None and rec.file == change.file) or rec.name == change.name
                    )
                    if same and rid != remote.id:
                        del self.state.connectors[rid]
                        self._unseen_records.discard(rid)
            self._save()

    def _forget(self, remote_id: str) -> None:
        with self._lock:
            if self.state.connectors.pop(remote_id, None) is not None:
                self._save()

    def _save(self) -> None:
        if self.save_state is not None:
            self.save_state(self.state)
