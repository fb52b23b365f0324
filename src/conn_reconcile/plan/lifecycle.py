"""``lifecycle:`` of connector files in a plan (pure core): ``ignore_changes`` (those fields kept as
the org has them) and ``prevent_destroy`` (no plan deletes or replaces a protected connector: one
whose file says so, or whose state record does, which outlives the file until false is applied).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from conn_reconcile.errors import RefusedError
from conn_reconcile.model.connector import ConnectorSpec, Desired, OAuthSpec, RemoteConnector
from conn_reconcile.model.state import State
from conn_reconcile.plan.diff import normalize_desired, normalize_remote
from conn_reconcile.plan.model import Action, ResourceChange, Unmanaged

#: how every note on ignored fields begins after the connector's name (``plan --compare`` skips
#: them: they say what the org holds, never what apply does)
IGNORED_NOTE = ": lifecycle.ignore_changes left "
#: the reason a protected connector whose file was removed is left alone
KEPT_REASON = "protected by lifecycle.prevent_destroy (its file was removed; the state remembers it)"


def is_ignored_note(note: str) -> bool:
    return IGNORED_NOTE in note and note.endswith(" as they are in the org")


def protects(spec: ConnectorSpec) -> bool:
    return spec.lifecycle is not None and spec.lifecycle.prevent_destroy


def kept(d: Desired, remote: RemoteConnector) -> Desired:
    """``d`` with its ``ignore_changes`` fields as ``remote`` has them, so that the plan neither
    shows nor sends a change of them (``d`` itself when it ignores nothing)."""
    lifecycle = d.spec.lifecycle
    if lifecycle is None or not lifecycle.ignore_changes:
        return d
    update: dict[str, Any] = {}
    oauth: dict[str, Any] = {}
    for path in lifecycle.ignore_changes:
        top, _, sub = path.partition(".")
        if not sub:
            value = getattr(remote, top)
            update[top] = list(value) if isinstance(value, tuple) else value
        elif d.spec.oauth is not None and remote.oauth is not None:
            value = getattr(remote.oauth, sub)
            if value is not None or not OAuthSpec.model_fields[sub].is_required():
                oauth[sub] = value
    if oauth and d.spec.oauth is not None:
        update["oauth"] = d.spec.oauth.model_copy(update=oauth)
    return d._replace(spec=d.spec.model_copy(update=update))


def flagged(changes: Sequence[ResourceChange], desired: Sequence[Desired]) -> list[ResourceChange]:
    """``changes`` with ``prevent_destroy`` set on those of a file that says so (apply records it)."""
    files = {d.file for d in desired if protects(d.spec)}
    if not files:
        return list(changes)
    return [dataclasses.replace(c, prevent_destroy=True) if c.file in files else c for c in changes]


def notes(
    desired: Sequence[Desired], matched: Mapping[str, RemoteConnector | None], state: State | None
) -> tuple[str, ...]:
    """One note per connector whose ignored fields differ from the org's, and one per connector
    whose ``prevent_destroy`` in git is not what the state records (apply records it)."""
    out: list[str] = []
    records = state.connectors if state is not None else {}
    for d in desired:
        r = matched.get(d.file)
        if d.spec.lifecycle is None or r is None:
            continue
        ignored = _differing(d.spec, r, d.spec.lifecycle.ignore_changes)
        if ignored:
            out.append(f"{d.spec.name}{IGNORED_NOTE}{', '.join(ignored)} as they are in the org")
        record = records.get(r.id)
        if record is not None and record.prevent_destroy and not d.spec.lifecycle.prevent_destroy:
            out.append(
                f"{d.spec.name}: lifecycle.prevent_destroy is off in git; the state protects it until this is applied"
            )
        elif record is not None and not record.prevent_destroy and d.spec.lifecycle.prevent_destroy:
            out.append(f"{d.spec.name}: lifecycle.prevent_destroy is on in git; apply records it in the state")
    return tuple(out)


def _differing(spec: ConnectorSpec, remote: RemoteConnector, paths: Sequence[str]) -> list[str]:
    if not paths:
        return []
    mine, theirs = normalize_desired(spec), normalize_remote(remote)
    return [p for p in paths if mine.get(p) != theirs.get(p)]


def left_alone(unmanaged: Sequence[Unmanaged], state: State | None) -> list[Unmanaged]:
    """``unmanaged`` with the connectors the state protects said to be protected (not "--prune deletes it")."""
    if state is None or not any(r.prevent_destroy for r in state.connectors.values()):
        return list(unmanaged)
    return [
        dataclasses.replace(u, reason=KEPT_REASON)
        if (record := state.connectors.get(u.id)) is not None and record.prevent_destroy
        else u
        for u in unmanaged
    ]


def state_protects(change: ResourceChange, state: State) -> bool:
    """Whether the state protects the connector a delete or replacement acts on (a twin: a
    connector of its name)."""
    record = state.connectors.get(change.remote_id or "")
    if record is not None and record.prevent_destroy:
        return True
    return change.cause == "twin" and any(
        r.prevent_destroy and r.name == change.name for r in state.connectors.values()
    )


def refuse_destroys(changes: Sequence[ResourceChange], desired: Sequence[Desired], state: State | None) -> None:
    """Refuse a plan that deletes (a prune, a twin clean-up) or replaces a protected connector.
    The delete that finishes a replacement is not refused: a plan allowed that replacement."""
    destroys = [c for c in changes if c.action is Action.REPLACE or c.cause in ("prune", "twin")]
    if not destroys:
        return
    by_file = {d.file: d for d in desired}
    by_name = {d.spec.name: d for d in desired}
    problems = []
    for c in destroys:
        if c.action is Action.REPLACE:
            problems.extend(_replace_problem(c, by_file.get(c.file or ""), state))
        elif c.action is Action.DELETE and c.cause in ("prune", "twin"):
            problems.extend(_delete_problem(c, by_name.get(c.name), state))
    if problems:
        raise RefusedError(
            "refusing a plan that deletes or replaces connectors protected by lifecycle.prevent_destroy; "
            "nothing was changed:\n  " + "\n  ".join(problems)
        )


def _replace_problem(c: ResourceChange, d: Desired | None, state: State | None) -> list[str]:
    in_file = d is not None and protects(d.spec)
    if not in_file and (state is None or not state_protects(c, state)):
        return []
    where = c.file or "its file"
    if d is not None:
        line, _ = d.where("lifecycle.prevent_destroy")
        where = f"{d.file}:{line}" if line else d.file
    what = f"{where}: {c.name} ({c.remote_id}): the plan would replace it ({'; '.join(c.reasons)}), which deletes it"
    if in_file:
        return [f"{what}; to replace it, set prevent_destroy: false in it, apply that, then make this change"]
    return [
        f"{what}, and the state still records prevent_destroy: true from the last apply; apply prevent_destroy: "
        "false on its own first (without this change), then make this change"
    ]


def _delete_problem(c: ResourceChange, d: Desired | None, state: State | None) -> list[str]:
    file = c.file or "its file"
    if c.cause == "twin":
        if not ((d is not None and protects(d.spec)) or (state is not None and state_protects(c, state))):
            return []
        return [
            f"{d.file if d else file}: {c.name} ({c.remote_id}): the plan would delete this twin of a protected "
            f"connector; delete it by hand, or set prevent_destroy: false in {d.file if d else file}, apply that, "
            "then prune"
        ]
    if state is None or not state_protects(c, state):
        return []
    return [
        f"{file}: {c.name} ({c.remote_id}): the plan would delete it (its file was removed, and the state remembers "
        f"prevent_destroy: true from the last apply); to delete it, restore {file} with prevent_destroy: false, "
        "apply that, then remove the file"
    ]
