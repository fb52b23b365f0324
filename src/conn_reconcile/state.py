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

from typing import Any, Final, Literal, get_args

from conn_reconcile.kinds import ANY, DictOf, ListOf, Nested, Nullable, OneOf, Str
from conn_reconcile.records import Record, field

STATE_VERSION: Final = 2

IntentOp = Literal["create", "replace", "update", "delete"]
IntentStatus = Literal["pending", "unknown"]

_STR = Str()
_OPT_STR = Nullable(_STR)
_STRS = ListOf(_STR)


class ManagedRecord(Record):
    id: str = field(_STR)
    name: str = field(_STR)
    file: str | None = field(_OPT_STR, default=None)
    #: secret path -> "hmac-sha256:<hex>"
    fingerprints: dict[str, str] = field(DictOf(_STR, _STR), default_factory=dict)
    #: the normalised desired view (diff.normalize_desired) last applied, lists as lists
    applied: dict[str, Any] = field(DictOf(_STR, ANY), default_factory=dict)
    remote_updated_at: str | None = field(_OPT_STR, default=None)


class Intent(Record):
    """A remote write that was started and whose outcome is not recorded yet.

    ``pending``: the run stopped (or is still running) before it knew the outcome;
    ``unknown``: the run saw the call fail in a way that may have acted (a timed-out create).
    """

    id: str = field(_STR)
    op: IntentOp = field(OneOf(*get_args(IntentOp)))
    name: str = field(_STR)
    file: str | None = field(_OPT_STR, default=None)
    #: the connector acted on: updated, deleted, or (replace) the one being replaced
    remote_id: str | None = field(_OPT_STR, default=None)
    #: replace: the new connector, once created (its old one is then still to delete)
    new_id: str | None = field(_OPT_STR, default=None)
    #: ids of connectors with this name that existed when the plan was made: never ours
    known_ids: list[str] = field(_STRS, default_factory=list)
    started_at: str = field(_STR)
    run: str = field(_STR, default="")
    status: IntentStatus = field(OneOf(*get_args(IntentStatus)), default="pending")


class Mutation(Record):
    """One atomic change of the state: one journal line."""

    put: list[ManagedRecord] = field(ListOf(Nested(ManagedRecord)), default_factory=list)
    drop: list[str] = field(_STRS, default_factory=list)
    intents: list[Intent] = field(ListOf(Nested(Intent)), default_factory=list)
    clear: list[str] = field(_STRS, default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.put or self.drop or self.intents or self.clear)


class OrgSnapshot(Record):
    """The org as a trusted run (apply, ``snapshot``) listed it: what a pull request's plan,
    which holds no API key, plans against. Connectors as the API returned them (no secrets:
    the API never returns one)."""

    taken_at: str = field(_STR)
    api_url: str = field(_STR)
    environment: str | None = field(_OPT_STR, default=None)
    #: what took it: "apply" or "snapshot"
    by: str = field(_STR, default="snapshot")
    connectors: list[dict[str, Any]] = field(ListOf(DictOf(_STR, ANY)), default_factory=list)


class State(Record):
    version: Literal[1, 2] = field(OneOf(1, 2), default=STATE_VERSION)
    connectors: dict[str, ManagedRecord] = field(DictOf(_STR, Nested(ManagedRecord)), default_factory=dict)
    intents: dict[str, Intent] = field(DictOf(_STR, Nested(Intent)), default_factory=dict)
    #: the git commit of the connector files last applied in full (the action's apply starts
    #: from the pull requests merged after it)
    applied_commit: str | None = field(_OPT_STR, default=None)
    org: OrgSnapshot | None = field(Nullable(Nested(OrgSnapshot)), default=None)

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
