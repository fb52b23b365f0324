"""The strict shape of a saved plan file: what :mod:`conn_reconcile.apply.planfile` accepts before
it builds a :class:`~conn_reconcile.plan.model.Plan` (unknown keys refused, each change checked for
what its action needs, request bodies validated as connector files are), and the checks that
a body is what ``show`` displays (:func:`payload_disagreement`, :func:`remote_disagreement`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from conn_reconcile.model.connector import SECRET_PATHS, ConnectorSpec, RemoteId, parse_spec
from conn_reconcile.model.state import IntentOp
from conn_reconcile.plan.diff import STATE_ONLY, FieldChange, normalize_desired
from conn_reconcile.plan.model import Action, ResourceChange, plain

Text = Annotated[str, Field(max_length=4096)]
Count = Annotated[int, Field(ge=0)]
#: Unknown keys refused, inputs never echoed in an error; built only when a plan file is read.
_CONFIG = ConfigDict(extra="forbid", hide_input_in_errors=True, defer_build=True)
_PLACEHOLDER_URL = "https://placeholder.invalid"  # a PATCH body's view is read field by field
_AUTH = ("oauth", "service_auth")
_PATCHABLE = frozenset({"name", "url", "excludes", "active", "continue_on_failure", "oauth", "service_auth"})


class FieldChangeDoc(BaseModel):
    model_config = _CONFIG

    path: Text
    old: Any = None
    new: Any = None
    sensitive: bool = False
    ref: Text | None = None
    origin: Literal["git", "remote", "both"] | None = None
    forces_replacement: bool = False


class RemoteDoc(BaseModel):
    model_config = _CONFIG

    updated_at: Text | None = None
    hash: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")] | None = None


def _body_problem(action: Action, name: str, payload: dict[str, Any]) -> str | None:
    if action is Action.UPDATE:
        unknown = sorted(set(payload) - _PATCHABLE)
        if unknown:
            return f"payload: fields the API cannot PATCH: {', '.join(unknown)}"
        body = {"name": name, "url": _PLACEHOLDER_URL, **payload}
    else:
        body = dict(payload)
    if "id" in body:
        return "payload: a request body has no id"
    spec, errors = parse_spec(body)
    if errors:
        path, msg = errors[0]
        return f"payload.{path}: {msg}" if path else f"payload: {msg}"
    assert isinstance(spec, ConnectorSpec)
    if spec.name != name:
        return "payload.name: differs from the change's name"
    return None


class ChangeDoc(BaseModel):
    model_config = _CONFIG

    action: Action
    name: Annotated[str, Field(min_length=1, max_length=256)]
    file: Text | None = None
    remote_id: RemoteId | None = None
    changes: list[FieldChangeDoc] = Field(default_factory=list)
    reasons: list[Text] = Field(default_factory=list)
    payload: dict[str, Any] | None = None
    remote: RemoteDoc = Field(default_factory=RemoteDoc)
    applied: dict[str, Any] | None = None
    cause: Literal["prune", "twin", "replace"] | None = None
    intent: Annotated[str, Field(pattern=r"^[0-9a-f]{8,64}$")] | None = None
    known_ids: list[RemoteId] = Field(default_factory=list)
    prevent_destroy: bool = False

    @model_validator(mode="after")
    def _fits_action(self) -> ChangeDoc:
        a = self.action
        needs_remote = a is not Action.CREATE
        if needs_remote != (self.remote_id is not None):
            raise ValueError(f"a {a.value} {'needs' if needs_remote else 'has no'} remote_id")
        has_body = a in (Action.CREATE, Action.UPDATE, Action.REPLACE)
        if has_body != (self.payload is not None):
            raise ValueError(f"a {a.value} {'needs' if has_body else 'has no'} payload")
        if (a is Action.DELETE) != (self.cause is not None):
            raise ValueError("a delete needs a cause, and only a delete has one")
        if self.cause in ("twin", "replace") and self.intent is None:
            raise ValueError(f"a {self.cause} delete names the intent that backs it")
        if self.payload is not None:
            problem = _body_problem(a, self.name, self.payload)
            if problem:
                raise ValueError(problem)
        return self


class UnmanagedDoc(BaseModel):
    model_config = _CONFIG

    id: RemoteId
    name: Text
    reason: Text


class OptionsDoc(BaseModel):
    model_config = _CONFIG

    prune: bool
    manage_prefix: Text | None
    protect: list[Text]
    max_deletes: Count
    force: bool
    rotate_secrets: bool


class TargetsDoc(BaseModel):
    """A targeted plan: the ``--target`` globs and ``--file`` paths, and how many of the
    connector files they selected."""

    model_config = _CONFIG

    names: list[Text]
    files: list[Text]
    planned: Count
    total: Count


class SnapshotDoc(BaseModel):
    model_config = _CONFIG

    taken_at: Text
    by: Text


class MetaDoc(BaseModel):
    model_config = _CONFIG

    tool_version: Text
    git_commit: Text | None
    created_at: Text
    api_url: Annotated[str, Field(pattern=r"^https?://", max_length=2048)]
    options: OptionsDoc
    #: the environment of conn-reconcile.yaml the plan was made for (apply refuses another)
    environment: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] | None = None
    targets: TargetsDoc | None = None
    #: a plan made against the org snapshot in the state (a pull request's plan), not the live org
    org_snapshot: SnapshotDoc | None = None


class TwinDoc(BaseModel):
    model_config = _CONFIG

    name: Text
    ids: list[RemoteId]
    managed: RemoteId | None
    ours: list[RemoteId]
    foreign: list[RemoteId]


class RecoveryDoc(BaseModel):
    model_config = _CONFIG

    intent: Text
    op: IntentOp
    name: Text
    resolution: Literal["adopted", "finish", "retry", "watch", "twin", "settled"]
    detail: Text
    remote_id: RemoteId | None


class ToolDoc(BaseModel):
    model_config = _CONFIG

    name: Literal["conn-reconcile"]
    version: Text


class PlanDocument(BaseModel):
    model_config = _CONFIG

    format_version: Literal[2]
    meta: MetaDoc
    summary: dict[str, int]
    changes: list[ChangeDoc]
    unmanaged: list[UnmanagedDoc] = Field(default_factory=list)
    notes: list[Annotated[str, Field(max_length=65536)]] = Field(default_factory=list)
    seen_ids: list[RemoteId] = Field(default_factory=list)
    twins: list[TwinDoc] = Field(default_factory=list)
    recovery: list[RecoveryDoc] = Field(default_factory=list)
    tool: ToolDoc
    signature: Annotated[str, Field(pattern=r"^hmac-sha256:[0-9a-f]{64}$")] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PlanDocument:
        counts = {a.value: 0 for a in Action}
        for c in self.changes:
            counts[c.action.value] += 1
        if self.summary != counts:
            raise ValueError("summary does not match the changes")
        seen: set[tuple[str, str | None]] = set()
        for c in self.changes:
            if (c.name, c.remote_id) in seen:  # apply would carry out each; a comparison by connector, one
                raise ValueError(f"more than one change for {c.name} ({c.remote_id or 'to create'})")
            seen.add((c.name, c.remote_id))
        return self


# ---- what show displays is what apply sends ----------------------------------------------------


#: ``json.dumps(value, sort_keys=True)`` without a new encoder per call: values compared as JSON
#: (``true`` is not ``1``)
_JSON = json.JSONEncoder(sort_keys=True)


def _canon(value: Any) -> str:
    return _JSON.encode(plain(value))


def _top(path: str) -> str:
    return path.partition(".")[0]


def payload_disagreement(change: ResourceChange) -> str | None:
    """The first field at which ``change``'s request body disagrees with the field changes it
    displays (or with its applied view), or None. A create shows every field it sends; a
    replacement shows what differs from the connector (the rest is checked against it by
    :func:`remote_disagreement`); an update's PATCH body holds exactly the fields it shows
    changing (an auth object whole). Each shown secret names the variable the body sends."""
    if change.payload is None:
        return None
    shown: dict[str, FieldChange] = {}
    for c in change.changes:
        if c.path in shown or c.sensitive != (c.path in SECRET_PATHS):
            return c.path
        shown[c.path] = c
    if change.action is Action.UPDATE:
        return _patch_disagreement(change, dict(change.payload), shown)
    return _body_disagreement(change, dict(change.payload), shown)


def _body_disagreement(change: ResourceChange, payload: dict[str, Any], shown: dict[str, FieldChange]) -> str | None:
    """A create or replacement: the body's view, field by field, against what is shown."""
    spec = ConnectorSpec.model_validate(payload)  # validated already
    view = normalize_desired(spec)
    refs = spec.secret_refs
    create = change.action is Action.CREATE
    for path, c in shown.items():
        if c.sensitive:
            if refs.get(path) != c.ref:
                return path
        elif _canon(c.new) != _canon(view.get(path)) or (create and (c.old is not None or path not in view)):
            return path
    unshown = [p for p in refs if p not in shown]  # every secret sent is shown, with its variable
    if create:  # and every field a create sends
        unshown += [p for p in view if _top(p) in payload and p not in shown]
    if unshown:
        return sorted(unshown)[0]
    return None if _canon(change.applied) == _canon(view) else "applied"


def _patch_disagreement(change: ResourceChange, payload: dict[str, Any], shown: dict[str, FieldChange]) -> str | None:
    """An update: the PATCH body's fields are those shown changing (``auth_type`` sends the
    auth object the applied view has), each with the applied view's values."""
    applied = change.applied
    if applied is None:
        return "applied"
    auth = applied.get("auth_type")
    tops: set[str] = set()
    for c in shown.values():
        if c.top == "auth_type":
            tops.update(a for a in _AUTH if a == auth)
        elif c.top not in _AUTH or c.top == auth:
            tops.add(c.top)
    extra = sorted(set(payload) ^ tops)
    if extra:
        return extra[0]
    spec = ConnectorSpec.model_validate({"name": change.name, "url": _PLACEHOLDER_URL, **payload})  # validated already
    view = normalize_desired(spec)
    for key in sorted(view.keys() | applied.keys()):
        if _top(key) in payload and _canon(view.get(key)) != _canon(applied.get(key)):
            return key
    refs = spec.secret_refs
    for path, c in shown.items():
        if c.sensitive:
            if refs.get(path) != c.ref:
                return path
        elif _canon(c.new) != _canon(applied.get(path)):
            return path
    unshown = sorted(p for p in refs if p not in shown)  # every variable the body sends is shown
    return unshown[0] if unshown else None


def remote_disagreement(change: ResourceChange, remote_view: Mapping[str, Any]) -> str | None:
    """The first field at which the connector as planned (``remote_view``, normalised), with
    the changes ``change`` displays made to it, is not its applied view (what apply sends and
    records), or at which a displayed old value is not the connector's; None when they agree.
    For an update, replacement or no-op of a connector that has not changed since the plan."""
    if change.applied is None:
        return "applied"
    before = {k: v for k, v in remote_view.items() if k not in STATE_ONLY}
    after = dict(before)
    for c in change.changes:
        if c.sensitive or c.path in STATE_ONLY:
            continue
        if _canon(c.old) != _canon(before.get(c.path)):
            return c.path
        if c.new is None:
            after.pop(c.path, None)
        else:
            after[c.path] = c.new
    wanted = {k: v for k, v in change.applied.items() if k not in STATE_ONLY}
    for key in sorted(after.keys() | wanted.keys()):
        if _canon(after.get(key)) != _canon(wanted.get(key)):
            return key
    return None
