"""Carry out a :class:`Plan` through the API client: in the order of
:func:`~conn_reconcile.plan.model.phases`, up to ``parallelism`` calls at once, each bracketed by
the state recorder, results reported in plan order, Ctrl-C as a counter (see :class:`Applier`).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from conn_reconcile.apply.interrupt import Interrupt
from conn_reconcile.apply.recorder import StateRecorder
from conn_reconcile.apply.results import DONE, ApplyReport, Outcome, Status
from conn_reconcile.config import defaults as defaults
from conn_reconcile.errors import (
    ApiError,
    AuthError,
    ConnReconcileError,
    NotFoundError,
    OutcomeUnknownError,
    SecretError,
)
from conn_reconcile.model.binding import BoundSecrets
from conn_reconcile.model.connector import RemoteConnector
from conn_reconcile.plan.model import Action, Plan, ResourceChange, phases

POLL_SECONDS = 0.1  # how often the main thread looks at finished calls and at Ctrl-C


class Client(Protocol):
    def create_connector(self, body: dict[str, Any], *, known_ids: Any = ()) -> RemoteConnector: ...
    def update_connector(self, connector_id: str, body: dict[str, Any]) -> RemoteConnector: ...
    def delete_connector(self, connector_id: str) -> None: ...


def request_bodies(plan: Plan, bound: BoundSecrets) -> dict[int, dict[str, Any]]:
    """Every request body the plan sends, its secrets the ``bound`` values, by plan index.
    Raises one :class:`SecretError` naming every variable without a value, before any call."""
    bodies: dict[int, dict[str, Any]] = {}
    problems: list[str] = []
    for i, change in enumerate(plan.changes):
        if change.payload is None or change.action in (Action.NOOP, Action.DELETE):
            continue
        try:
            bodies[i] = bound.resolve(change.payload, where=change.file or change.name)
        except SecretError as exc:
            problems.append(str(exc))
    if problems:
        raise SecretError("\n".join(problems))
    return bodies


class Applier:
    """Order is :func:`conn_reconcile.plan.model.phases`: updates, then creates, then replacements
    (create the new connector, then delete the old one), then deletes; inside a phase up to
    ``parallelism`` calls run at once, and results are reported in plan order as soon as
    everything before them is done, so the output is the same whatever the timing. Every
    secret is resolved before the first call (an unset variable changes nothing). Each call is
    bracketed by the :class:`~conn_reconcile.apply.recorder.StateRecorder`: an intent is made durable
    before it, the outcome right after it. A failure of one connector does not stop the others
    unless ``fail_fast``; a create whose outcome is unknown stops everything (exit 3).

    Ctrl-C (SIGINT) never raises inside a call: while ``apply`` runs in the main thread it is
    only counted (:class:`Interrupt`). The first one stops new calls from starting (those are
    reported ``skipped``) and waits for the calls in flight, whose results are reported and
    recorded in state as usual; a second one stops waiting and reports the calls still in
    flight as ``unknown`` (``ApplyReport.abandoned``).
    """

    def __init__(
        self,
        client: Client,
        *,
        recorder: StateRecorder,
        parallelism: int = defaults.PARALLELISM,
        fail_fast: bool = False,
        on_outcome: Callable[[Outcome], None] | None = None,
        interrupt: Interrupt | None = None,
        on_notice: Callable[[str], None] | None = None,
    ):
        self.client = client
        self.recorder = recorder
        self.parallelism = max(1, parallelism)
        self.fail_fast = fail_fast
        self.on_outcome = on_outcome or (lambda o: None)
        self.interrupt = interrupt or Interrupt()
        self.on_notice = on_notice or (lambda text: None)
        self._stop = threading.Event()  # fail-fast, or a failure that makes going on pointless
        self._fatal: ConnReconcileError | None = None
        self._started: set[int] = set()  # plan indexes whose remote call began
        self._noticed = 0  # interrupts already announced
        self._abandoned = False

    # ---- execution ---------------------------------------------------------------------

    def apply(self, plan: Plan, bodies: Mapping[int, dict[str, Any]] | None = None) -> ApplyReport:
        """Carry out ``plan``. ``bodies``: its request bodies, secrets resolved
        (:func:`request_bodies`); without them, a plan that sends no secret."""
        if bodies is None:
            bodies = request_bodies(plan, BoundSecrets())
        known_ids = frozenset(plan.seen_ids)
        self.recorder.start(plan)
        report = ApplyReport()
        with self.interrupt.catch_sigint():
            for _, work in phases(plan):
                self._run_phase(work, bodies, known_ids, report)
            self.recorder.adopt_unchanged(plan)
            self._announce(lambda: 0)
        report.interrupted = self.interrupt.count > 0
        report.abandoned = self._abandoned
        return report

    def _halted(self) -> bool:
        return self._stop.is_set() or self.interrupt.count > 0

    def _not_started(self, change: ResourceChange) -> Outcome:
        if self.interrupt.count:
            why = "not started: interrupted"
        elif self._fatal is not None:
            why = f"not started: {self._fatal}"
        else:
            why = "not started: --fail-fast after an earlier failure"
        return Outcome(change.name, change.action, Status.SKIPPED, change.remote_id, why, file=change.file)

    def _announce(self, in_flight: Callable[[], int]) -> None:
        """Tell the user, once per Ctrl-C, what happens now. Runs in the main thread;
        ``in_flight`` counts the calls running (only asked when there is news)."""
        count = self.interrupt.count
        if count <= self._noticed:
            return
        self._noticed = count
        running = in_flight()
        if count == 1:
            wait = (
                f"; waiting for {running} call(s) in flight to finish (Ctrl-C again: stop waiting)" if running else ""
            )
            self.on_notice(f"Interrupted: no further changes will be started{wait}.")
        elif running:
            self.on_notice(
                f"Interrupted again: not waiting for {running} call(s) in flight; "
                "their outcome is unknown (run plan to check)."
            )

    def _run_phase(
        self,
        work: list[tuple[int, ResourceChange]],
        bodies: Mapping[int, dict[str, Any]],
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

        self._announce(lambda: 0)
        if self._halted():  # nothing of this phase may start
            results.update((i, self._not_started(change)) for i, change in work)
            flush()
            return
        intents = dict(zip(order, self.recorder.begin_all([change for _, change in work]), strict=True))
        pool = ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="apply")
        # finished calls arrive on a queue: waiting costs the same whatever the number pending
        finished: queue.SimpleQueue[Future[Outcome]] = queue.SimpleQueue()
        futures: dict[Future[Outcome], tuple[int, ResourceChange]] = {}
        for i, change in work:
            fut = pool.submit(self._one, i, change, bodies.get(i), known_ids, intents[i])
            futures[fut] = (i, change)
            fut.add_done_callback(finished.put)
        pending: set[Future[Outcome]] = set(futures)

        def in_flight() -> int:
            return sum(1 for fut in pending if futures[fut][0] in self._started)

        try:
            while pending:
                for fut in self._next_done(finished):
                    pending.discard(fut)
                    results[futures[fut][0]] = fut.result()
                flush()
                self._announce(in_flight)
                if self.interrupt.count >= 2 and pending:
                    self._abandon(pending, futures, results)
                    pending = set()
                    flush()
        finally:
            pool.shutdown(wait=not self._abandoned, cancel_futures=True)
            self.recorder.abandon(*(intents[i] for i in order if i not in self._started))
        flush()

    def _next_done(self, finished: queue.SimpleQueue[Future[Outcome]]) -> list[Future[Outcome]]:
        """The calls finished since the last look: waits up to :data:`POLL_SECONDS` for the
        first (so that Ctrl-C is looked at that often), then takes every one already there."""
        try:
            done = [finished.get(timeout=POLL_SECONDS)]
        except queue.Empty:
            return []
        except KeyboardInterrupt:  # only when no SIGINT handler could be installed
            self.interrupt.trigger()
            return []
        while True:
            try:
                done.append(finished.get_nowait())
            except queue.Empty:
                return done

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
                results[i] = Outcome(
                    change.name, change.action, Status.UNKNOWN, change.remote_id, why, file=change.file
                )

    def _one(
        self, index: int, change: ResourceChange, body: dict[str, Any] | None, known_ids: frozenset[str], intent: str
    ) -> Outcome:
        if self._halted():
            return self._not_started(change)
        self._started.add(index)
        started = time.monotonic()

        def failed(message: str, status: Status = Status.FAILED) -> Outcome:
            return Outcome(
                change.name,
                change.action,
                status,
                change.remote_id,
                message,
                time.monotonic() - started,
                file=change.file,
            )

        try:
            remote_id = self._call(change, body, known_ids, intent)
        except (AuthError, OutcomeUnknownError) as exc:
            self._fatal = exc
            self._stop.set()
            return failed(str(exc), Status.UNKNOWN if isinstance(exc, OutcomeUnknownError) else Status.FAILED)
        except Exception as exc:  # this connector failed; a bug must not lose the others' report either
            if self.fail_fast:
                self._stop.set()
            if isinstance(exc, NotFoundError) and change.action is Action.UPDATE:
                return failed(
                    f"connector {change.remote_id} no longer exists remotely (deleted since the plan was made); "
                    "nothing was changed, run plan again"
                )
            if isinstance(exc, ApiError) and exc.status == 400:
                return failed(exc.api_message)  # e.g. Cohere's "connector registration test failed: ..."
            if isinstance(exc, ConnReconcileError):
                return failed(str(exc))
            return failed(f"unexpected {type(exc).__name__}: {exc}")
        return Outcome(
            change.name, change.action, DONE[change.action], remote_id, "", time.monotonic() - started, file=change.file
        )

    def _call(
        self, change: ResourceChange, body: dict[str, Any] | None, known_ids: frozenset[str], intent: str
    ) -> str | None:
        """One change, bracketed by its intent (opened for the whole phase before any call
        of it was sent), settled right after the call."""
        known: Collection[str] = change.known_ids or known_ids  # the set itself: no copy per call
        try:
            if change.action is Action.DELETE:
                assert change.remote_id is not None
                self._delete(change.remote_id)
                self.recorder.deleted(change, change.remote_id, intent)
                return change.remote_id
            assert body is not None
            if change.action is Action.UPDATE:
                assert change.remote_id is not None
                remote = self.client.update_connector(change.remote_id, body)
            else:
                remote = self.client.create_connector(body, known_ids=known)
        except OutcomeUnknownError:
            self.recorder.unknown(intent)  # it may have acted: the next plan resolves it
            raise
        except NotFoundError:
            if change.action is Action.UPDATE and change.remote_id:
                self.recorder.forget(change.remote_id, intent)
            else:
                self.recorder.abandon(intent)
            raise
        except ConnReconcileError:
            self.recorder.abandon(intent)  # a definite answer: nothing was created (updates are idempotent)
            raise
        except BaseException:
            self.recorder.unknown(intent)  # an unforeseen failure: let the next plan check
            raise
        self.recorder.written(change, remote, body, intent)
        if change.action is Action.REPLACE and change.remote_id is not None:
            self._delete(change.remote_id)  # a failure here leaves the intent: the next plan finishes it
            self.recorder.deleted(change, change.remote_id, intent)
        return remote.id

    def _delete(self, remote_id: str) -> None:
        with contextlib.suppress(NotFoundError):  # already gone (by hand, or an earlier run): the goal is reached
            self.client.delete_connector(remote_id)
