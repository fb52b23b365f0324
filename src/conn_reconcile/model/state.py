"""The shape of the state: a record per connector this tool manages (its id, file, the view
last applied, keyed fingerprints of its secrets), the :class:`Intent` of each remote write whose
outcome is not recorded yet, the org snapshot, and :class:`Mutation`, one idempotent change
(one journal line of :mod:`conn_reconcile.state.file`).
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

STATE_VERSION: Final = 2

IntentOp = Literal["create", "replace", "update", "delete"]
IntentStatus = Literal["pending", "unknown"]

#: Unknown keys refused, inputs never echoed in an error; validators built on first use (a
#: plan without a state file builds none of them).
_CONFIG = ConfigDict(extra="forbid", hide_input_in_errors=True, defer_build=True)


class ManagedRecord(BaseModel):
    model_config = _CONFIG

    id: str
    name: str
    file: str | None = None
    #: secret path -> "hmac-sha256:<hex>"
    fingerprints: dict[str, str] = Field(default_factory=dict)
    #: the normalised desired view (diff.normalize_desired) last applied, lists as lists
    applied: dict[str, Any] = Field(default_factory=dict)
    remote_updated_at: str | None = None
    #: ``lifecycle.prevent_destroy`` as last applied: it protects the connector after its file is deleted
    prevent_destroy: bool = False


class Intent(BaseModel):
    """A remote write that was started and whose outcome is not recorded yet.

    ``pending``: the run stopped (or is still running) before it knew the outcome;
    ``unknown``: the run saw the call fail in a way that may have acted (a timed-out create).
    """

    model_config = _CONFIG

    id: str
    op: IntentOp
    name: str
    file: str | None = None
    #: the connector acted on: updated, deleted, or (replace) the one being replaced
    remote_id: str | None = None
    #: replace: the new connector, once created (its old one is then still to delete)
    new_id: str | None = None
    #: ids of connectors with this name that existed when the plan was made: never ours
    known_ids: list[str] = Field(default_factory=list)
    started_at: str
    run: str = ""
    status: IntentStatus = "pending"


class Mutation(BaseModel):
    """One atomic change of the state: one journal line."""

    model_config = _CONFIG

    put: list[ManagedRecord] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)
    intents: list[Intent] = Field(default_factory=list)
    clear: list[str] = Field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.put or self.drop or self.intents or self.clear)


class OrgSnapshot(BaseModel):
    """The org as a trusted run (apply, ``snapshot``) listed it: what a pull request's plan,
    which holds no API key, plans against. Connectors as the API returned them (no secrets:
    the API never returns one)."""

    model_config = _CONFIG

    taken_at: str
    api_url: str
    environment: str | None = None
    #: what took it: "apply" or "snapshot"
    by: str = "snapshot"
    connectors: list[dict[str, Any]] = Field(default_factory=list)


class State(BaseModel):
    model_config = _CONFIG

    version: Literal[1, 2] = STATE_VERSION
    connectors: dict[str, ManagedRecord] = Field(default_factory=dict)
    intents: dict[str, Intent] = Field(default_factory=dict)
    #: the git commit of the connector files last applied in full (the action's apply starts
    #: from the pull requests merged after it)
    applied_commit: str | None = None
    org: OrgSnapshot | None = None

    def managed_ids(self) -> frozenset[str]:
        return frozenset(self.connectors)

    def apply(self, mutation: Mutation) -> None:
        """Apply one mutation in place (idempotent: replaying it again changes nothing)."""
        for record in mutation.put:
            self.connectors[record.id] = record
        for rid in mutation.drop:
            self.connectors.pop(rid, None)
        for intent in mutation.intents:
            self.intents[intent.id] = intent
        for iid in mutation.clear:
            self.intents.pop(iid, None)

    def unresolved(self) -> list[Intent]:
        return sorted(self.intents.values(), key=lambda i: (i.started_at, i.id))
