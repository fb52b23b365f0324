"""The strict shape of a saved plan file (pure core): what :mod:`conn_reconcile.planfile`
accepts before it builds a :class:`~conn_reconcile.plan.Plan`.

Every object forbids unknown keys; every change is checked for what its action needs (a
create has a create body and no remote id, a delete a remote id, a cause and no body...);
request bodies are validated as connector files are, so a body cannot carry a literal
secret, a reserved variable or a field the API does not take.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from conn_reconcile.models import REMOTE_ID_RE, ConnectorSpec, parse_spec
from conn_reconcile.plan import Action

RemoteId = Annotated[str, Field(pattern=REMOTE_ID_RE.pattern)]
Text = Annotated[str, Field(max_length=4096)]
_STRICT = ConfigDict(extra="forbid")
_PATCHABLE = frozenset({"name", "url", "excludes", "active", "continue_on_failure", "oauth", "service_auth"})


class FieldChangeDoc(BaseModel):
    model_config = _STRICT

    path: Text
    old: Any = None
    new: Any = None
    sensitive: bool = False
    ref: Text | None = None
    origin: Literal["git", "remote", "both"] | None = None
    forces_replacement: bool = False


class RemoteDoc(BaseModel):
    model_config = _STRICT

    updated_at: Text | None = None
    hash: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")] | None = None


def _body_problem(action: Action, name: str, payload: dict[str, Any]) -> str | None:
    if action is Action.UPDATE:
        unknown = sorted(set(payload) - _PATCHABLE)
        if unknown:
            return f"payload: fields the API cannot PATCH: {', '.join(unknown)}"
        body = {"name": name, "url": "https://placeholder.invalid", **payload}
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
    model_config = _STRICT

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
    model_config = _STRICT

    id: RemoteId
    name: Text
    reason: Text


class OptionsDoc(BaseModel):
    model_config = _STRICT

    prune: bool
    manage_prefix: Text | None
    protect: list[Text]
    max_deletes: Annotated[int, Field(ge=0)]
    force: bool
    rotate_secrets: bool


class TargetsDoc(BaseModel):
    """A targeted plan: the ``--target`` globs and ``--file`` paths, and how many of the
    connector files they selected."""

    model_config = _STRICT

    names: list[Text]
    files: list[Text]
    planned: Annotated[int, Field(ge=0)]
    total: Annotated[int, Field(ge=0)]


class MetaDoc(BaseModel):
    model_config = _STRICT

    tool_version: Text
    git_commit: Text | None
    created_at: Text
    api_url: Annotated[str, Field(pattern=r"^https?://", max_length=2048)]
    options: OptionsDoc
    #: the environment of conn-reconcile.yaml the plan was made for (apply refuses another)
    environment: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] | None = None
    targets: TargetsDoc | None = None


class TwinDoc(BaseModel):
    model_config = _STRICT

    name: Text
    ids: list[RemoteId]
    managed: RemoteId | None
    ours: list[RemoteId]
    foreign: list[RemoteId]


class RecoveryDoc(BaseModel):
    model_config = _STRICT

    intent: Text
    op: Literal["create", "replace", "update", "delete"]
    name: Text
    resolution: Literal["adopted", "finish", "retry", "watch", "twin", "settled"]
    detail: Text
    remote_id: RemoteId | None


class ToolDoc(BaseModel):
    model_config = _STRICT

    name: Literal["conn-reconcile"]
    version: Text


class PlanDocument(BaseModel):
    model_config = _STRICT

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
    def _summary_matches(self) -> PlanDocument:
        counts = {a.value: 0 for a in Action}
        for c in self.changes:
            counts[c.action.value] += 1
        if self.summary != counts:
            raise ValueError("summary does not match the changes")
        return self
