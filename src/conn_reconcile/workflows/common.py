"""What the commands' workflows share: loading the connector files and the state, binding the
files' secrets once, planning (``plan``: :func:`compute_plan`, the org listed once the
files have loaded) and the probe. Each workflow takes the command's :class:`~.session.Session`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from conn_reconcile.errors import SecretError
from conn_reconcile.files.gcpause import paused
from conn_reconcile.model.binding import BoundSecrets
from conn_reconcile.model.connector import Desired, RemoteConnector
from conn_reconcile.model.secrets import fingerprint
from conn_reconcile.model.state import State
from conn_reconcile.plan.model import Plan, PlanOptions, plan_meta
from conn_reconcile.plan.selection import check_targets, needed_unbound, scope
from conn_reconcile.workflows.session import Session

if TYPE_CHECKING:
    from conn_reconcile.plan.preflight import ProbeResult


class Planned(NamedTuple):
    """``plan``'s result: the plan, and the probes' results when it was asked to probe."""

    plan: Plan
    probes: list[ProbeResult] | None = None


def load_desired(
    session: Session, paths: Sequence[str | Path], *, require_files: bool = False, policy: bool = True
) -> list[Desired]:
    """The connector files as they are in the session's environment (``exclude`` skipped); with
    ``policy``, each follows the environment's policy rules."""
    from conn_reconcile.files.configfile import check_overrides, check_policy
    from conn_reconcile.files.loader import load

    settings = session.settings
    desired = load(
        paths,
        require_files=require_files,
        exclude=settings.exclude,
        exclude_root=settings.directory.as_posix(),
        context=settings.context,
    )
    check_overrides(settings, paths, (settings.context,), {settings.context.name: desired})
    if policy:
        check_policy((settings.context,), {settings.context.name: desired})
    return desired


def check_plan_policy(session: Session, plan: Plan) -> None:
    """A saved plan follows the policy rules in effect now (they may have changed since it was
    made): every connector it creates, updates, replaces or keeps, else an error naming each."""
    policy = session.settings.context.policy
    if policy is None:
        return
    from conn_reconcile.config.policy import check_planned
    from conn_reconcile.errors import InputError

    planned = [(c.file or c.name, c.action.value, c.name, c.applied) for c in plan.changes if c.applied is not None]
    problems = check_planned(policy, planned)
    if problems:
        raise InputError(problems)


def load_state(session: Session) -> State | None:
    from conn_reconcile.state import file as statefile

    if session.git_state is not None:
        from conn_reconcile.state.git.branch import pull

        pull(session.git_state, session.git_scratch, session.state_path)
    return statefile.load(session.state_path)


def _listed(session: Session) -> list[RemoteConnector]:
    """Every connector in the org, listed with the session's client."""
    with session.client() as client:
        return client.list_connectors()


def plan_from(
    session: Session,
    desired: Sequence[Desired],
    bound: BoundSecrets,
    options: PlanOptions,
    state: State | None,
    *,
    listed: Callable[[], list[RemoteConnector]],
    targets: dict[str, object] | None = None,
    allow_unbound: bool = True,
    blind: bool = False,
) -> Plan:
    """Plan ``desired`` (its secrets ``bound``) against the org ``listed()`` and ``state``.
    Without ``allow_unbound``, a plan whose apply would send a secret whose variable is unset
    is an error, and so is a ``--target`` (``targets["names"]``) matching no connector of the
    files nor of the state. ``blind``: plan as a run that holds no secret would (a pull
    request's plan): no secret value, no fingerprint key."""
    from conn_reconcile.plan.planner import build_plan
    from conn_reconcile.workflows.renames import git_renames

    names = targets.get("names") if targets else None
    if isinstance(names, list):
        check_targets(names, desired, state)
    renames = git_renames(desired, state)
    if blind:
        bound = bound.blind()
    key = None if blind else session.fingerprint_key
    fingerprints = None
    if key and state is not None:
        fingerprints = {f: {p: fingerprint(key, v) for p, v in vals.items()} for f, vals in bound.by_file().items()}
    with paused():  # thousands of connectors listed and planned, free of cycles (see gcpause)
        remote = listed()
        meta = plan_meta(session.settings.api_url, options, environment=session.settings.environment, targets=targets)
        plan = build_plan(
            desired, remote, state=state, fingerprints=fingerprints, options=options, meta=meta, renames=renames
        )
    if not allow_unbound:
        missing = needed_unbound(plan, bound)
        if missing:
            raise SecretError(
                "the plan needs variables that are not set (pass --allow-unbound to plan anyway):\n  "
                + "\n  ".join(missing)
            )
    extra = bound.notes(options.targeted)
    return dataclasses.replace(plan, notes=plan.notes + tuple(extra)) if extra else plan


def compute_plan(
    session: Session,
    paths: Sequence[str | Path],
    options: PlanOptions,
    *,
    files: Sequence[str | Path] = (),
    allow_unbound: bool = False,
    against_snapshot: bool = False,
    blind: bool = False,
    probe: bool = False,
) -> Planned:
    """``plan``: load the files and the state (no lock: plan writes nothing), bind the files'
    secrets once, plan, and with ``probe`` run the registration test of what it creates or
    re-points. ``options.targets`` (``--target``) and ``files`` (``--file``) limit the plan.
    ``against_snapshot``: against the org snapshot in the state, with no API key and no
    secret (see :mod:`orgsnapshot`); ``blind``: as :func:`plan_from`.

    The org is listed once the files have loaded, their secrets are bound and the state is
    read, as apply does: bad files, a policy violation or a bad state stop the plan before any
    request."""
    if against_snapshot:
        return Planned(_plan_against_snapshot(session, paths, options, files))
    desired = load_desired(session, paths)
    bound = session.bind_secrets(desired, blind=blind)
    options, targets = scope(options, desired, options.targets, files)
    state = load_state(session)
    plan = plan_from(
        session,
        desired,
        bound,
        options,
        state,
        targets=targets,
        allow_unbound=allow_unbound,
        listed=lambda: _listed(session),
        blind=blind,
    )
    return Planned(plan, probe_plan(session, plan, desired, bound) if probe else None)


def _plan_against_snapshot(
    session: Session, paths: Sequence[str | Path], options: PlanOptions, files: Sequence[str | Path]
) -> Plan:
    from conn_reconcile.state import snapshot as orgsnapshot

    desired = load_desired(session, paths)
    bound = session.bind_secrets(desired, blind=True)
    options, targets = scope(options, desired, options.targets, files)
    state = load_state(session)
    settings = session.settings
    remote, org = orgsnapshot.listed(settings.api_url, settings.environment, state, command=session.command("snapshot"))
    plan = plan_from(session, desired, bound, options, state, targets=targets, listed=lambda: remote, blind=True)
    return dataclasses.replace(plan, meta={**plan.meta, "org_snapshot": orgsnapshot.meta(org)})


def probe_plan(session: Session, plan: Plan, desired: Sequence[Desired], bound: BoundSecrets) -> list[ProbeResult]:
    """Cohere's registration test, run now for the plan's targets with the bound tokens."""
    from conn_reconcile.api.probe import run_probes
    from conn_reconcile.plan.preflight import targets

    found = targets(plan, desired)
    return run_probes(found, bound, redactor=session.redactor, timeout=session.settings.timeout)
