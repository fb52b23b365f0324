"""Deciding the plan (pure core): ``build_plan`` matches desired connectors to remote ones, diffs
each pair, decides an :class:`~conn_reconcile.plan.model.Action` for it, and applies the prune
safeguards (nothing is deleted unless managed, unprotected and within limits)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from conn_reconcile.errors import RefusedError
from conn_reconcile.model.connector import Desired, RemoteConnector
from conn_reconcile.model.state import ManagedRecord, State
from conn_reconcile.plan import lifecycle
from conn_reconcile.plan.bodies import CreateBody, create_body, patch_body
from conn_reconcile.plan.diff import (
    VIEW_TOPS,
    FieldChange,
    Flat,
    Origin,
    added,
    diff_views,
    normalize_desired,
    normalize_remote,
    plain_view,
    with_origin,
)
from conn_reconcile.plan.matching import Matcher
from conn_reconcile.plan.model import Action, Plan, PlanOptions, ResourceChange, Twin, Unmanaged
from conn_reconcile.plan.recovery import Examined, after_matching, examine


def _tupled(applied: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in applied.items()}


def _secret_changes(
    d: Desired, record_fps: Mapping[str, str] | None, current: Mapping[str, str] | None, rotate: bool
) -> tuple[list[FieldChange], bool]:
    """Sensitive changes for ``d``'s secrets, and whether they could be compared at all."""
    refs = d.spec.secret_refs
    if rotate:
        return [_secret_change(refs, p, "git") for p in sorted(refs)], True
    if record_fps is None or current is None:
        return [], not refs
    # Only a secret we sent has a recorded fingerprint; one we never sent cannot be compared.
    comparable_paths = [p for p in sorted(refs) if current.get(p) is not None and record_fps.get(p) is not None]
    changed = [p for p in comparable_paths if current[p] != record_fps[p]]
    comparable = len(comparable_paths) == len(refs)
    return [_secret_change(refs, p, "git") for p in changed], comparable


def _decide(d: Desired, r: RemoteConnector, changes: list[FieldChange], views: tuple[Flat, Flat]) -> ResourceChange:
    remote_view, desired_view = views
    noop = ResourceChange(
        Action.NOOP,
        d.spec.name,
        d.file,
        r.id,
        remote_updated_at=r.updated_at,
        remote=r,
        applied=plain_view(desired_view),
    )
    if not changes:  # nothing differs (a removed authentication differs in auth_type)
        return noop
    reasons = [f"{c.path} cannot be updated in place" for c in changes if c.forces_replacement]
    if desired_view.get("auth_type") is None and remote_view.get("auth_type") is not None:
        reasons.append("authentication cannot be removed in place")
    if reasons:
        refs = d.spec.secret_refs
        secrets = [_secret_change(refs, p) for p in sorted(refs)]
        changes = [c for c in changes if not c.sensitive] + secrets
        return dataclasses.replace(
            noop, action=Action.REPLACE, changes=tuple(changes), reasons=tuple(reasons), payload=create_body(d.spec)
        )
    payload = patch_body(d.spec, {c.top for c in changes})
    return dataclasses.replace(
        noop, action=Action.UPDATE, changes=tuple(_with_sent_secrets(d, changes, payload)), payload=payload
    )


def _with_sent_secrets(d: Desired, changes: list[FieldChange], payload: Mapping[str, Any]) -> list[FieldChange]:
    """``changes`` plus a sensitive change (no origin: sent, not known to have changed) for each
    secret the PATCH body sends whole with its auth object: the plan shows every variable it sends."""
    refs = d.spec.secret_refs
    shown = {c.path for c in changes}
    sent = [p for p in sorted(refs) if p.partition(".")[0] in payload and p not in shown]
    if not sent:
        return changes
    return [c for c in changes if not c.sensitive] + sorted(
        [c for c in changes if c.sensitive] + [_secret_change(refs, p) for p in sent], key=lambda c: c.path
    )


def _secret_change(refs: Mapping[str, str], path: str, origin: Origin | None = None) -> FieldChange:
    """The sensitive change of the secret at ``path``; ``refs``: the spec's :meth:`secret_refs`."""
    return FieldChange(path, sensitive=True, origin=origin, ref=refs.get(path))


def decide_create(d: Desired) -> ResourceChange:
    view = normalize_desired(d.spec)
    set_fields = d.spec.model_fields_set
    created = added(view, [k for k in sorted(view) if VIEW_TOPS[k] in set_fields])
    refs = d.spec.secret_refs
    if refs:
        created += [_secret_change(refs, p) for p in sorted(refs)]
    return ResourceChange(
        Action.CREATE,
        d.spec.name,
        d.file,
        changes=tuple(created),
        payload=CreateBody(d.spec),
        applied=plain_view(view),
    )


def field_changes(
    d: Desired, r: RemoteConnector, record: ManagedRecord | None, views: tuple[Flat, Flat] | None = None
) -> list[FieldChange]:
    """What differs between the file and the remote connector (no secrets); tagged with
    its origin, and with the state-only ``service_auth.type``, when the state has a record.
    ``views`` are (remote, desired) already normalised."""
    remote_view, desired_view = views or (normalize_remote(r), normalize_desired(d.spec))
    changes = diff_views(remote_view, desired_view)
    if record is None:
        return changes
    applied = _tupled(record.applied)
    changes = with_origin(changes, remote_view, applied)
    wanted = d.spec.service_auth.type if d.spec.service_auth is not None else None
    before = applied.get("service_auth.type")
    if wanted is not None and before not in (None, wanted):
        changes.append(FieldChange("service_auth.type", before, wanted, origin="git"))
    return changes


def decide_pair(
    d: Desired, r: RemoteConnector, record: ManagedRecord | None, current: Mapping[str, str] | None, rotate: bool
) -> tuple[ResourceChange, bool]:
    """The change for a matched pair, and whether its secrets could be compared."""
    d = lifecycle.kept(d, r)  # lifecycle.ignore_changes: those fields as the org has them
    views = (normalize_remote(r), normalize_desired(d.spec))
    secret_changes, compared = _secret_changes(d, record.fingerprints if record else None, current, rotate)
    return _decide(d, r, field_changes(d, r, record, views) + secret_changes, views), compared


def build_plan(
    desired: Sequence[Desired],
    remote: Sequence[RemoteConnector],
    *,
    state: State | None = None,
    fingerprints: Mapping[str, Mapping[str, str]] | None = None,
    options: PlanOptions = PlanOptions(),
    meta: Mapping[str, Any] | None = None,
    now: _dt.datetime | None = None,
    renames: Mapping[str, str] | None = None,
) -> Plan:
    """Decide what to do. ``fingerprints`` maps a desired file to its current secret
    fingerprints (path -> fingerprint), when rotation detection is on; ``now`` is the time
    intents are judged against (default: the current time); ``renames``: old file -> new
    file, the renames git found since the files were last applied."""
    ex = examine(state, remote, now or _dt.datetime.now(_dt.UTC))
    hints = {key: rid for key, (rid, _) in ex.adopt.items()}
    matcher = Matcher(remote, state, hints=hints, excluded=set(ex.finish) | set(ex.ours), renames=renames)
    ordered = sorted(desired, key=lambda d: (d.spec.name.casefold(), d.file))
    matched = matcher.match_all(ordered)
    matcher.refuse_unproven_renames(ordered, matched, options.targeted)
    adopted = {rid: intent.id for rid, intent in ex.adopt.values()}

    # every file is matched (a file out of scope still claims its connector: never a prune
    # candidate), but only targeted connectors are planned
    targeted = [d for d in ordered if options.targeted(d.spec.name)] if options.targets else ordered
    changes, uncompared = _decide_all(targeted, matched, state, fingerprints or {}, options, adopted)
    changes = lifecycle.flagged([_with_known_ids(c, matcher.named) for c in changes], targeted)

    if ex.adopt or ex.ours or ex.missing:  # what the intents an interrupted apply left have become
        _settle(ex, ordered, matched, matcher.claimed, changes)

    finishing = {k: c for k, c in _finish_deletes(ex, {r.id: r for r in remote}).items() if options.targeted(c.name)}
    twins = _twins(targeted, matched, matcher.named, state, ex, set(finishing))
    unmanaged, deletes = _unmatched(remote, set(matcher.claimed) | set(finishing), state, ex, options)
    lifecycle.refuse_destroys([*changes, *deletes], desired, state)
    unmanaged = lifecycle.left_alone(unmanaged, state)
    _safeguards(desired, deletes, options)
    changes.extend(finishing.values())
    changes.extend(deletes)
    return Plan(
        changes=tuple(sorted(changes, key=_plan_order)),
        unmanaged=tuple(unmanaged),
        notes=_notes(options, len(targeted), len(ordered), uncompared)
        + tuple(matcher.notes)
        + lifecycle.notes(targeted, matched, state),
        seen_ids=tuple(sorted(r.id for r in remote)),
        twins=twins,
        recovery=tuple(ex.recovery),
        meta=dict(meta or {}),
    )


def _plan_order(c: ResourceChange) -> tuple[str, str, str]:
    """A plan's order: by name (case-folded), action (a ``StrEnum``: as its value), remote id."""
    return (c.name.casefold(), c.action, c.remote_id or "")


def _settle(
    ex: Examined,
    ordered: Sequence[Desired],
    matched: Mapping[str, RemoteConnector | None],
    claimed: Mapping[str, Desired],
    changes: Sequence[ResourceChange],
) -> None:
    """What became of each intent an interrupted apply left, now that the files are matched."""
    by_key = {
        key: (r.id if r else None)
        for d in ordered
        for key in (d.file, f"name:{d.spec.name}")
        for r in [matched[d.file]]
    }
    planned = {
        key for c in changes if c.action in (Action.CREATE, Action.REPLACE) for key in (c.file or "", f"name:{c.name}")
    }
    after_matching(ex, {rid: d.file for rid, d in claimed.items()}, by_key, planned)


def _decide_all(
    targeted: Sequence[Desired],
    matched: Mapping[str, RemoteConnector | None],
    state: State | None,
    fingerprints: Mapping[str, Mapping[str, str]],
    options: PlanOptions,
    adopted: Mapping[str, str],
) -> tuple[list[ResourceChange], int]:
    """Each targeted file's change (create, or what its matched connector needs), and how many
    connectors' secrets could not be compared."""
    changes: list[ResourceChange] = []
    uncompared = 0
    for d in targeted:
        r = matched[d.file]
        if r is None:
            changes.append(decide_create(d))
            continue
        record = state.connectors.get(r.id) if state is not None else None
        change, compared = decide_pair(d, r, record, fingerprints.get(d.file), options.rotate_secrets)
        uncompared += not compared
        if r.id in adopted:
            change = dataclasses.replace(change, intent=adopted[r.id])
        changes.append(change)
    return changes, uncompared


def _notes(options: PlanOptions, targeted: int, files: int, uncompared: int) -> tuple[str, ...]:
    notes = []
    if options.targets:
        notes.append(
            f"targeted: {targeted} of {files} connectors (a partial plan; prune considers "
            "only remote connectors whose name matches a target)"
        )
    if uncompared:
        notes.append(
            f"secrets of {uncompared} connector(s) were not compared (write-only: no state fingerprint "
            f"or CONN_RECONCILE_FINGERPRINT_KEY/variable unset); --rotate-secrets sends them"
        )
    return tuple(notes)


def _with_known_ids(change: ResourceChange, named: Mapping[str, Sequence[RemoteConnector]]) -> ResourceChange:
    same_name = named.get(change.name)
    if not same_name or change.action not in (Action.CREATE, Action.REPLACE):
        return change
    return dataclasses.replace(change, known_ids=tuple(sorted(r.id for r in same_name)))


def _delete(r: RemoteConnector, file: str | None, cause: str, reason: str, intent: str | None = None) -> ResourceChange:
    return ResourceChange(
        Action.DELETE,
        r.name,
        file,
        remote_id=r.id,
        reasons=(reason,),
        remote_updated_at=r.updated_at,
        remote=r,
        cause=cause,
        intent=intent,
    )


def _finish_deletes(ex: Examined, by_id: Mapping[str, RemoteConnector]) -> dict[str, ResourceChange]:
    return {
        old: _delete(
            by_id[old],
            intent.file,
            "replace",
            f"finishes a replacement an earlier apply left unfinished (intent {intent.id})",
            intent.id,
        )
        for old, intent in ex.finish.items()
        if old in by_id
    }


def _twins(
    ordered: Sequence[Desired],
    matched: Mapping[str, RemoteConnector | None],
    named: Mapping[str, Sequence[RemoteConnector]],
    state: State | None,
    ex: Examined,
    finishing: set[str],
) -> tuple[Twin, ...]:
    managed_ids = state.managed_ids() if state is not None else frozenset()
    twins = []
    for d in ordered:
        namesakes = named.get(d.spec.name, ())
        if len(namesakes) < 2:  # the common case: no twin to sort out
            continue
        same = sorted(r.id for r in namesakes if r.id not in finishing)
        if len(same) < 2:
            continue
        found = matched[d.file]
        mine = found.id if found is not None else None
        others = [i for i in same if i != mine]
        ours = tuple(i for i in others if i in managed_ids or i in ex.ours)
        foreign = tuple(i for i in others if i not in ours)
        twins.append(Twin(d.spec.name, tuple(same), mine, ours, foreign))
    return tuple(twins)


def _unmatched(
    remote: Sequence[RemoteConnector], claimed: set[str], state: State | None, ex: Examined, options: PlanOptions
) -> tuple[list[Unmanaged], list[ResourceChange]]:
    managed_ids = state.managed_ids() if state is not None else frozenset()
    unmanaged: list[Unmanaged] = []
    deletes: list[ResourceChange] = []
    unclaimed = [r for r in remote if r.id not in claimed]
    for r in sorted(unclaimed, key=lambda r: (r.name.casefold(), r.id)):
        if not options.targeted(r.name):
            continue
        twin = ex.ours.get(r.id)
        managed = (
            r.id in managed_ids
            or twin is not None
            or bool(options.manage_prefix and r.name.startswith(options.manage_prefix))
        )
        protected = any(fnmatch.fnmatchcase(r.name, p) or fnmatch.fnmatchcase(r.id, p) for p in options.protect)
        record = state.connectors.get(r.id) if state is not None else None
        if managed and options.prune and not protected:
            if twin is not None:
                reason = f"created by an interrupted apply (intent {twin.id}): a twin of a managed connector"
                deletes.append(_delete(r, twin.file, "twin", reason, twin.id))
            else:
                deletes.append(_delete(r, record.file if record else None, "prune", "managed, but no longer in git"))
        elif protected:
            unmanaged.append(Unmanaged(r.id, r.name, "protected"))
        elif twin is not None:
            unmanaged.append(Unmanaged(r.id, r.name, "created by an interrupted apply; --prune deletes it"))
        elif managed:
            unmanaged.append(Unmanaged(r.id, r.name, "managed, removed from git; --prune deletes it"))
        else:
            unmanaged.append(Unmanaged(r.id, r.name, "not managed by conn-reconcile"))
    return unmanaged, deletes


def _safeguards(desired: Sequence[Desired], deletes: list[ResourceChange], options: PlanOptions) -> None:
    if not options.prune or options.force:
        return
    if not desired:
        raise RefusedError(
            "refusing to prune: no connector files were found, which would delete every managed "
            "connector; check --dir, or pass --force if that is really intended"
        )
    if len(deletes) > options.max_deletes:
        raise RefusedError(
            f"refusing to prune: the plan deletes {len(deletes)} connectors, more than "
            f"--max-deletes {options.max_deletes}; raise the limit or pass --force"
        )
