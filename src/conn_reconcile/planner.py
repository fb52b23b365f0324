"""Deciding the plan. Pure core.

``build_plan`` matches desired connectors to remote ones (pinned id, then state, then
name), diffs each pair, decides an :class:`~conn_reconcile.plan.Action` for it, and applies
the prune safeguards (nothing is deleted unless managed, unprotected and within limits).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from conn_reconcile.diff import (
    DEFAULTS,
    FieldChange,
    diff_flat,
    normalize_desired,
    normalize_remote,
    with_origin,
)
from conn_reconcile.errors import Diagnostic, InputError, RefusedError
from conn_reconcile.models import ConnectorSpec, Desired, RemoteConnector
from conn_reconcile.plan import Action, Plan, PlanOptions, ResourceChange, Unmanaged, plain, remote_hash
from conn_reconcile.state import State


def create_body(spec: ConnectorSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"id"}, exclude_none=True)


def patch_body(spec: ConnectorSpec, tops: set[str]) -> dict[str, Any]:
    """The PATCH body carrying ``tops`` (top-level fields); auth objects are sent whole."""
    full = create_body(spec)
    body: dict[str, Any] = {}
    for top in sorted(tops):
        if top == "auth_type":
            body.update({k: full[k] for k in ("oauth", "service_auth") if k in full})
        elif top in ("oauth", "service_auth"):
            if top in full:
                body[top] = full[top]
        elif top in full:
            body[top] = full[top]
        elif top in DEFAULTS:
            default = DEFAULTS[top]
            body[top] = list(default) if isinstance(default, tuple) else default
    return body


def _tupled(applied: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in applied.items()}


class _Matcher:
    """Pairs desired connectors with remote ones: pinned id, then state, then name."""

    def __init__(self, remote: Sequence[RemoteConnector], state: State | None):
        self.by_id = {r.id: r for r in remote}
        self.named: dict[str, list[RemoteConnector]] = {}
        for r in remote:
            self.named.setdefault(r.name, []).append(r)
        # state records indexed once by name and by file (the first record wins)
        self.state_by_name: dict[str, str] = {}
        self.state_by_file: dict[str, str] = {}
        for record in (state.connectors.values() if state is not None else ()):
            self.state_by_name.setdefault(record.name, record.id)
            if record.file is not None:
                self.state_by_file.setdefault(record.file, record.id)
        self.claimed: dict[str, Desired] = {}
        self.problems: list[Diagnostic] = []

    def _claim(self, d: Desired, r: RemoteConnector, how: str) -> RemoteConnector | None:
        other = self.claimed.setdefault(r.id, d)
        if other is not d:
            self.problems.append(
                d.diagnostic("name", f"remote connector {r.id} ({how}) is already matched by {other.file}")
            )
            return None
        return r

    def first_pass(self, d: Desired) -> tuple[bool, RemoteConnector | None]:
        """Match by pinned id or state. Returns (decided, remote)."""
        if d.spec.id is not None:
            r = self.by_id.get(d.spec.id)
            if r is None:
                self.problems.append(
                    d.diagnostic(
                        "id",
                        f"pinned id {d.spec.id!r} does not exist in the org; "
                        "remove the id line to create the connector anew",
                    )
                )
                return True, None
            return True, self._claim(d, r, "pinned id")
        for rid in (self.state_by_name.get(d.spec.name), self.state_by_file.get(d.file)):
            if rid is not None and rid in self.by_id and rid not in self.claimed:
                return True, self._claim(d, self.by_id[rid], "state")
        return False, None

    def by_name(self, d: Desired) -> RemoteConnector | None:
        candidates = [r for r in self.named.get(d.spec.name, ()) if r.id not in self.claimed]
        if len(candidates) > 1:
            ids = ", ".join(sorted(r.id for r in candidates))
            self.problems.append(
                d.diagnostic(
                    "name",
                    f"{len(candidates)} connectors in the org are named {d.spec.name!r} ({ids}); "
                    "pin the one to manage with an 'id:' line",
                )
            )
            return None
        return self._claim(d, candidates[0], "name") if candidates else None


def _secret_changes(
    d: Desired, record_fps: Mapping[str, str] | None, current: Mapping[str, str] | None, rotate: bool
) -> tuple[list[FieldChange], bool]:
    """Sensitive changes for ``d``'s secrets, and whether they could be compared at all."""
    refs = d.spec.secret_refs()
    if rotate:
        return [FieldChange(p, sensitive=True, origin="git") for p in sorted(refs)], True
    if record_fps is None or current is None:
        return [], not refs
    # Only a secret we sent has a recorded fingerprint; one we never sent cannot be compared.
    comparable_paths = [p for p in sorted(refs) if current.get(p) is not None and record_fps.get(p) is not None]
    changed = [p for p in comparable_paths if current[p] != record_fps[p]]
    comparable = len(comparable_paths) == len(refs)
    return [FieldChange(p, sensitive=True, origin="git") for p in changed], comparable


def _decide(d: Desired, r: RemoteConnector, changes: list[FieldChange]) -> ResourceChange:
    desired_view = normalize_desired(d.spec)
    common = dict(
        name=d.spec.name,
        file=d.file,
        remote_id=r.id,
        remote_updated_at=r.updated_at,
        remote_hash=remote_hash(r),
        applied=plain(desired_view),
    )
    reasons = [f"{c.path} cannot be updated in place" for c in changes if c.forces_replacement]
    if desired_view.get("auth_type") is None and normalize_remote(r).get("auth_type") is not None:
        reasons.append("authentication cannot be removed in place")
    if reasons:
        secrets = [FieldChange(p, sensitive=True) for p in sorted(d.spec.secret_refs())]
        changes = [c for c in changes if not c.sensitive] + secrets
        return ResourceChange(
            Action.REPLACE, changes=tuple(changes), reasons=tuple(reasons), payload=create_body(d.spec), **common
        )
    if not changes:
        return ResourceChange(Action.NOOP, **common)
    tops = {c.top for c in changes}
    return ResourceChange(Action.UPDATE, changes=tuple(changes), payload=patch_body(d.spec, tops), **common)


def build_plan(
    desired: Sequence[Desired],
    remote: Sequence[RemoteConnector],
    *,
    state: State | None = None,
    fingerprints: Mapping[str, Mapping[str, str]] | None = None,
    options: PlanOptions = PlanOptions(),
    meta: Mapping[str, Any] | None = None,
) -> Plan:
    """Decide what to do. ``fingerprints`` maps a desired file to its current secret
    fingerprints (path -> fingerprint), when rotation detection is on."""
    matcher = _Matcher(remote, state)
    ordered = sorted(desired, key=lambda d: (d.spec.name.casefold(), d.file))
    matched: dict[str, RemoteConnector | None] = {}
    for d in ordered:
        decided, r = matcher.first_pass(d)
        if decided:
            matched[d.file] = r
    for d in ordered:
        if d.file not in matched:
            matched[d.file] = matcher.by_name(d)
    if matcher.problems:
        raise InputError(matcher.problems)

    changes: list[ResourceChange] = []
    uncompared = 0
    for d in ordered:
        r = matched[d.file]
        if r is None:
            secrets = [FieldChange(p, sensitive=True) for p in sorted(d.spec.secret_refs())]
            view = normalize_desired(d.spec)
            set_fields = d.spec.model_fields_set
            created = [
                FieldChange(k, None, v) for k, v in sorted(view.items()) if k.split(".")[0] in set_fields
            ]
            changes.append(
                ResourceChange(
                    Action.CREATE,
                    d.spec.name,
                    d.file,
                    changes=tuple(created + secrets),
                    payload=create_body(d.spec),
                    applied=plain(view),
                )
            )
            continue
        record = state.connectors.get(r.id) if state is not None else None
        remote_view = normalize_remote(r)
        desired_view = normalize_desired(d.spec)
        field_changes = diff_flat(remote_view, desired_view, ignore=("service_auth.type",))
        if record is not None:
            applied = _tupled(record.applied)
            field_changes = with_origin(field_changes, remote_view, applied)
            if "service_auth.type" in desired_view and applied.get("service_auth.type") not in (
                None,
                desired_view["service_auth.type"],
            ):
                field_changes.append(
                    FieldChange(
                        "service_auth.type", applied["service_auth.type"], desired_view["service_auth.type"], origin="git"
                    )
                )
        current = (fingerprints or {}).get(d.file)
        secret_changes, compared = _secret_changes(
            d, record.fingerprints if record else None, current, options.rotate_secrets
        )
        uncompared += not compared
        changes.append(_decide(d, r, field_changes + secret_changes))

    unmanaged, deletes = _unmatched(remote, set(matcher.claimed), state, options)
    _safeguards(desired, deletes, options)
    changes.extend(deletes)
    notes = []
    if uncompared:
        notes.append(
            f"secrets of {uncompared} connector(s) were not compared (write-only: no state fingerprint "
            f"or CONN_RECONCILE_FINGERPRINT_KEY/variable unset); --rotate-secrets sends them"
        )
    return Plan(
        changes=tuple(sorted(changes, key=lambda c: (c.name.casefold(), c.action.value, c.remote_id or ""))),
        unmanaged=tuple(unmanaged),
        notes=tuple(notes),
        seen_ids=tuple(sorted(r.id for r in remote)),
        meta=dict(meta or {}),
    )


def _unmatched(
    remote: Sequence[RemoteConnector], claimed: set[str], state: State | None, options: PlanOptions
) -> tuple[list[Unmanaged], list[ResourceChange]]:
    managed_ids = state.managed_ids() if state is not None else frozenset()
    unmanaged: list[Unmanaged] = []
    deletes: list[ResourceChange] = []
    for r in sorted(remote, key=lambda r: (r.name.casefold(), r.id)):
        if r.id in claimed:
            continue
        managed = r.id in managed_ids or bool(options.manage_prefix and r.name.startswith(options.manage_prefix))
        protected = any(fnmatch.fnmatchcase(r.name, p) or fnmatch.fnmatchcase(r.id, p) for p in options.protect)
        if managed and options.prune and not protected:
            record = state.connectors.get(r.id) if state is not None else None
            deletes.append(
                ResourceChange(
                    Action.DELETE,
                    r.name,
                    record.file if record else None,
                    remote_id=r.id,
                    reasons=("managed, but no longer in git",),
                    remote_updated_at=r.updated_at,
                    remote_hash=remote_hash(r),
                )
            )
        elif protected:
            unmanaged.append(Unmanaged(r.id, r.name, "protected"))
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
