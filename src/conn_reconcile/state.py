"""The shape of the state (pure): which remote connectors this tool manages, and what an
apply was about to do when it stopped.

Cohere generates connector ids, so the only way to know that ``docs-search-kh3g8q`` was
created from ``connectors/docs.yaml`` is to remember it. A record per managed connector
holds its id, its file, the desired view last applied (for drift detection) and keyed
fingerprints of its write-only secrets (for rotation detection).

An :class:`Intent` is written (durably) before every remote write and cleared once its
outcome is known, so a run killed in the middle leaves a trace the next plan reads: a
create whose outcome is unknown, a replacement whose old connector is still to delete.
Every change to the state is a :class:`Mutation` (records and intents put or dropped);
:mod:`conn_reconcile.statefile` appends mutations to a journal and replays them, which is
why applying one must be idempotent.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

STATE_VERSION: Final = 2

IntentOp = Literal["create", "replace", "update", "delete"]

#: validators built on first use: a plan without a state file builds only State's, apply the rest
_CONFIG = ConfigDict(extra="forbid", defer_build=True)


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
    status: Literal["pending", "unknown"] = "pending"


class Mutation(BaseModel):
    """One atomic change of the state: one journal line."""

    model_config = _CONFIG

    put: list[ManagedRecord] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)
    intents: list[Intent] = Field(default_factory=list)
    clear: list[str] = Field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.put or self.drop or self.intents or self.clear)


class State(BaseModel):
    model_config = _CONFIG

    version: Literal[1, 2] = STATE_VERSION
    connectors: dict[str, ManagedRecord] = Field(default_factory=dict)
    intents: dict[str, Intent] = Field(default_factory=dict)

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
