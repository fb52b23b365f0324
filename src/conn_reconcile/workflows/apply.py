"""The ``apply`` and ``snapshot`` commands' glue: plan under the state lock (or check a plan
file against the state, the apply's safeguards and the org), bind every secret once before any
call, carry the plan out through the applier while journaling each change, fold the journal
into a snapshot and, with a git state, publish it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conn_reconcile.apply.applier import request_bodies
from conn_reconcile.config import defaults
from conn_reconcile.errors import ConnReconcileError, SecretError, StalePlanError
from conn_reconcile.model.binding import BoundSecrets
from conn_reconcile.model.connector import Desired
from conn_reconcile.model.state import State
from conn_reconcile.plan.model import Plan, PlanOptions, check_fresh
from conn_reconcile.plan.selection import bind_plan, needed_unbound, scope
from conn_reconcile.workflows.common import check_plan_policy, load_desired, load_state, plan_from
from conn_reconcile.workflows.session import Session

if TYPE_CHECKING:
    from conn_reconcile.api.client import CohereClient
    from conn_reconcile.apply.interrupt import Interrupt
    from conn_reconcile.apply.results import ApplyReport, Outcome


@dataclass
class ApplyRun:
    """How to run an apply: the callbacks the CLI gives (all optional)."""

    parallelism: int = defaults.PARALLELISM
    fail_fast: bool = False
    rate_limit: float | None = None
    on_outcome: Callable[[Outcome], None] | None = None
    on_notice: Callable[[str], None] | None = None
    interrupt: Interrupt | None = None
    #: called with the plan right before its changes start (not when there is nothing to do)
    on_start: Callable[[Plan], None] | None = None


def apply_files(
    session: Session,
    paths: Sequence[str | Path],
    options: PlanOptions,
    run: ApplyRun,
    *,
    show: Callable[[Plan], None] = lambda plan: None,
    confirm: Callable[[Plan], None] = lambda plan: None,
    files: Sequence[str | Path] = (),
    reviewed: Sequence[Plan] = (),
) -> ApplyReport | None:
    """``apply`` without a plan file: bind the files' secrets, then under the state lock plan
    (every secret the plan sends must be set, and only those), show, confirm, carry out.
    Returns None when there was nothing to change (adopted connectors are still recorded).
    With ``reviewed`` plans, the plan made here is carried out only if it is what they
    reviewed (:func:`check_reviewed`); they are evidence, never executed."""
    desired = load_desired(session, paths)
    bound = session.bind_secrets(desired)
    options, targets = scope(options, desired, options.targets, files)
    with session.lock().held("apply", timeout=session.settings.lock_timeout) as lock:
        state = load_state(session) or State()
        with session.client(rate_limit=run.rate_limit) as client:
            remote = client.list_connectors()
            plan = plan_from(session, desired, bound, options, state, targets=targets, listed=lambda: remote)
            require_sent(plan, bound)
            if reviewed:
                blind = plan_from(
                    session, desired, bound, options, state, targets=targets, listed=lambda: remote, blind=True
                )
                check_reviewed(reviewed, blind, plan, run)
            if session.settings.probe and plan.has_changes:
                check_probes(session, plan, desired, bound)
            show(plan)
            if plan.has_changes:
                confirm(plan)
            bodies = request_bodies(plan, bound)
            return _carry_out(session, plan, state, client, run, lock.id, bodies, record_only=not plan.has_changes)


def apply_saved(session: Session, path: Path, options: PlanOptions, run: ApplyRun) -> ApplyReport:
    """``apply PLANFILE``: verify the file (signature, shape), then carry out exactly that plan,
    after checking it against the state, the apply's own safeguards and the org."""
    from conn_reconcile.apply import planfile as planfile

    plan = planfile.load(path, key=session.fingerprint_key)
    settings = session.settings
    planfile.check_made_for(plan, settings.api_url, settings.environment)  # this environment's policy next
    check_plan_policy(session, plan)
    return apply_plan(session, plan, run, verify_with=options)


def apply_plan(
    session: Session, plan: Plan, run: ApplyRun | None = None, *, verify_with: PlanOptions | None = None
) -> ApplyReport:
    """Carry out a plan made earlier, under the state lock, the variables its payloads reference
    bound once before any call. With ``verify_with`` (a plan that came from a file), refuse it
    when the org moved since, or when its deletes and targets are not backed by the state and
    by those options (the apply's own)."""
    from conn_reconcile.apply import planfile as planfile

    run = run or ApplyRun()
    settings = session.settings
    planfile.check_made_for(plan, settings.api_url, settings.environment)
    bound = bind_plan(plan, session.env, key_vars=settings.key_vars, redactor=session.redactor)
    bodies = request_bodies(plan, bound)  # every variable before any remote call
    with session.lock().held("apply", timeout=settings.lock_timeout) as lock:
        state = load_state(session) or State()
        if verify_with is not None:
            planfile.verify(plan, state, verify_with)
        with session.client(rate_limit=run.rate_limit) as client:
            problems: list[str] = []
            if verify_with is not None:  # a plan from a file: the org may have moved since
                remote = client.list_connectors()
                planfile.verify_targets(plan, state, remote)
                problems = check_fresh(plan, remote)
            if problems:
                raise StalePlanError(
                    "stale plan: the org changed since the plan was made; nothing was applied. "
                    "Run plan again.\n  " + "\n  ".join(problems)
                )
            report = _carry_out(session, plan, state, client, run, lock.id, bodies)
    assert report is not None
    return report


def require_sent(plan: Plan, bound: BoundSecrets) -> None:
    """Every secret the plan sends has its variable set, before any write; a secret it does not
    send may stay unset (a placeholder ``import`` wrote for a secret the API never returns)."""
    missing = needed_unbound(plan, bound)
    if missing:
        raise SecretError(
            "the plan sends secrets whose variables are not set; nothing was applied:\n  " + "\n  ".join(missing)
        )


def check_reviewed(reviewed: Sequence[Plan], blind: Plan, plan: Plan, run: ApplyRun) -> None:
    """Refuse, before any write, a plan that is not what the reviewed plans show. They were
    made without secrets, so they are compared with ``blind`` (this plan made without them);
    what secrets add here (rotated ones, sent again) is named in a notice."""
    from conn_reconcile.errors import RefusedError
    from conn_reconcile.plan import compare as planmatch

    differences = planmatch.compare_reviewed(reviewed, blind)
    if differences:
        raise RefusedError(planmatch.render_text(differences).rstrip("\n"))
    seen = {(c.name, c.remote_id, c.action, repr(c.changes)) for c in blind.changes}
    rotated = sorted(c.name for c in plan.changes if (c.name, c.remote_id, c.action, repr(c.changes)) not in seen)
    if rotated and run.on_notice is not None:
        run.on_notice(
            "The plan matches the reviewed plan(s); it also sends secrets whose values changed (seen with "
            f"the fingerprint key, which a reviewed plan does not hold): {', '.join(rotated)}"
        )


def check_probes(session: Session, plan: Plan, desired: Sequence[Desired], bound: BoundSecrets) -> None:
    """``probe: true``: Cohere's registration test run now for what the plan creates or
    re-points, before any write; one failure refuses the apply."""
    from conn_reconcile.errors import RefusedError
    from conn_reconcile.plan.preflight import failure_message
    from conn_reconcile.workflows.common import probe_plan

    probes = probe_plan(session, plan, desired, bound)
    if not all(p.ok for p in probes):
        raise RefusedError(f"{failure_message(probes)}; nothing was applied")


def _carry_out(
    session: Session,
    plan: Plan,
    state: State,
    client: CohereClient,
    run: ApplyRun,
    run_id: str,
    bodies: Mapping[int, dict[str, Any]],
    *,
    record_only: bool = False,
) -> ApplyReport | None:
    """Run the plan with its request ``bodies`` (or, with ``record_only``, just record what it
    adopts), journaling every change, then fold the journal into a new snapshot - unless calls
    were abandoned in flight (a second Ctrl-C): they may still append, and the next run
    replays the journal."""
    from conn_reconcile.apply.applier import Applier
    from conn_reconcile.apply.recorder import StateRecorder
    from conn_reconcile.state import file as statefile

    journal = statefile.Journal(session.state_path)
    recorder = StateRecorder(state, journal.append, fingerprint_key=session.fingerprint_key, run=run_id)
    report: ApplyReport | None = None
    done = False
    try:
        if record_only:
            recorder.start(plan)
            recorder.adopt_unchanged(plan)
            done = True
            return None
        if run.on_start is not None:
            run.on_start(plan)
        applier = Applier(
            client,
            recorder=recorder,
            parallelism=run.parallelism,
            fail_fast=run.fail_fast,
            on_outcome=run.on_outcome,
            interrupt=run.interrupt,
            on_notice=run.on_notice,
        )
        report = applier.apply(plan, bodies)
        done = True
        return report
    finally:
        if report is None or not report.abandoned:
            journal.close()
            if done:
                _after_apply(session, client, recorder.state, plan, report, run)
            statefile.compact(session.state_path, recorder.state)
        # (abandoned calls may still run: the CLI ends the process at once, so only report there too)
        publish_state(session, run, run_id, failing=not done or (report is not None and report.abandoned))


def _after_apply(
    session: Session, client: CohereClient, state: State, plan: Plan, report: ApplyReport | None, run: ApplyRun
) -> None:
    """Where the state keeps an org snapshot (a git state, or one that has it): the org as it
    is after the apply, and the commit of the files when all of them were applied."""
    if session.git_state is None and state.org is None:
        return
    from conn_reconcile.apply import planfile as planfile
    from conn_reconcile.state import snapshot as orgsnapshot

    try:
        settings = session.settings
        state.org = orgsnapshot.take(settings.api_url, settings.environment, client.list_connectors(), "apply")
    except ConnReconcileError as exc:
        state.org = None  # never a snapshot known to be out of date
        if run.on_notice is not None:
            run.on_notice(f"The org snapshot was not refreshed ({exc}): run {session.command('snapshot')}")
    if plan.meta.get("targets") is None and (report is None or report.exit_code == 0):
        state.applied_commit = str(plan.meta.get("git_commit") or planfile.git_commit() or "") or None


def take_snapshot(session: Session, run: ApplyRun) -> State:
    """``snapshot``: under the state lock, list the org and keep it in the state (published
    with a git state), for the plans that must not hold the API key."""
    from conn_reconcile.state import file as statefile
    from conn_reconcile.state import snapshot as orgsnapshot

    settings = session.settings
    with session.lock().held("snapshot", timeout=settings.lock_timeout) as lock:
        state = load_state(session) or State()
        with session.client() as client:
            state.org = orgsnapshot.take(settings.api_url, settings.environment, client.list_connectors(), "snapshot")
        statefile.compact(session.state_path, state)
        publish_state(session, run, lock.id, failing=False)
    return state


def publish_state(session: Session, run: ApplyRun, run_id: str, *, failing: bool) -> None:
    """With a git state: push the local state to its branch. When the apply is already
    failing, a failed push is reported as a notice and the first error goes on."""
    if session.git_state is None:
        return
    from conn_reconcile.state.git.branch import publish

    try:
        publish(session.git_state, session.git_scratch, session.state_path, run_id)
    except ConnReconcileError as exc:
        if not failing:
            raise
        if run.on_notice is not None:
            run.on_notice(f"Error: {exc}")
