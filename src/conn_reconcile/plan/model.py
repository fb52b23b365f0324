"""The plan (pure core): what apply will do, decided once by :mod:`conn_reconcile.plan.planner`,
frozen and serialisable. It holds everything apply needs (payloads with secret *references*, the
remote ``updated_at`` and a hash of each remote object it touches), so a saved plan is applied
later without re-reading YAML, and refused when the org moved in between."""

from __future__ import annotations

import datetime as _dt
import fnmatch
import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from conn_reconcile import __version__
from conn_reconcile.config import defaults as defaults
from conn_reconcile.model.connector import RemoteConnector
from conn_reconcile.plan.diff import FieldChange

if TYPE_CHECKING:
    from conn_reconcile.config.settings import Settings

FORMAT_VERSION = 2


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "noop"


@dataclass(frozen=True, slots=True)
class ResourceChange:
    """One planned change to one connector: the action, the field changes and reasons, and its request body."""

    action: Action
    name: str
    file: str | None = None
    remote_id: str | None = None
    changes: tuple[FieldChange, ...] = ()
    reasons: tuple[str, ...] = ()
    #: create body (create/replace) or PATCH body (update); secrets as ${VAR} references
    payload: Mapping[str, Any] | None = None
    remote_updated_at: str | None = None
    #: :func:`remote_hash` of the remote connector: read from a saved plan, or (a plan made now)
    #: computed from ``remote`` when first asked for, as :attr:`remote_hash`; a text plan never is
    stored_hash: str | None = field(default=None, compare=False)
    #: the normalised desired view, recorded in state after a successful apply
    applied: Mapping[str, Any] | None = None
    #: delete only: why ("prune", "twin", or "replace" for a replacement an earlier run left unfinished)
    cause: str | None = None
    #: the state intent this change settles (recovery from an interrupted apply)
    intent: str | None = None
    #: ids of connectors with this name that existed when the plan was made: never adopted
    known_ids: tuple[str, ...] = ()
    #: the remote connector as listed (a plan made now)
    remote: RemoteConnector | None = field(default=None, repr=False, compare=False)
    #: the file's ``lifecycle.prevent_destroy``, which apply records in the state
    prevent_destroy: bool = False

    @property
    def remote_hash(self) -> str | None:
        if self.stored_hash is None and self.remote is not None:
            object.__setattr__(self, "stored_hash", remote_hash(self.remote))  # a cache: same value each time
        return self.stored_hash

    @property
    def secret_paths(self) -> tuple[str, ...]:
        return tuple(c.path for c in self.changes if c.sensitive)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "name": self.name,
            "file": self.file,
            "remote_id": self.remote_id,
            "changes": [c.to_dict() for c in self.changes],
            "reasons": list(self.reasons),
            "payload": plain(self.payload),
            "remote": {"updated_at": self.remote_updated_at, "hash": self.remote_hash},
            "applied": plain(self.applied),
            "cause": self.cause,
            "intent": self.intent,
            "known_ids": list(self.known_ids),
            "prevent_destroy": self.prevent_destroy,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceChange:
        remote = data.get("remote") or {}
        return cls(
            action=Action(data["action"]),
            name=data["name"],
            file=data.get("file"),
            remote_id=data.get("remote_id"),
            changes=tuple(FieldChange.from_dict(c) for c in data.get("changes", ())),
            reasons=tuple(data.get("reasons", ())),
            payload=data.get("payload"),
            remote_updated_at=remote.get("updated_at"),
            stored_hash=remote.get("hash"),
            applied=data.get("applied"),
            cause=data.get("cause"),
            intent=data.get("intent"),
            known_ids=tuple(data.get("known_ids", ())),
            prevent_destroy=bool(data.get("prevent_destroy", False)),
        )


@dataclass(frozen=True)
class Unmanaged:
    """A connector in the org the plan leaves alone, and why (protected, not managed, or deleted only by --prune)."""

    id: str
    name: str
    reason: str


@dataclass(frozen=True)
class Twin:
    """Several connectors in the org carry a managed name. ``managed`` is the one the file
    is matched to; ``ours`` were provably created by this tool (state or an intent) and
    ``--prune`` deletes them; ``foreign`` must be deleted by hand (or pinned)."""

    name: str
    ids: tuple[str, ...]
    managed: str | None = None
    ours: tuple[str, ...] = ()
    foreign: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ids": list(self.ids),
            "managed": self.managed,
            "ours": list(self.ours),
            "foreign": list(self.foreign),
        }


@dataclass(frozen=True)
class Recovery:
    """What the plan makes of an intent an earlier apply left unresolved.

    ``resolution``: ``adopted`` (the connector was found and is recorded now), ``finish``
    (the old connector of a replacement is still to delete), ``retry`` (not found: the plan
    creates it again and keeps watching for a late arrival), ``watch`` (still not found,
    already recreated), ``twin`` (found next to the one we manage), ``settled`` (nothing
    left to do; the intent is cleared at the next apply)."""

    intent: str
    op: str
    name: str
    resolution: str
    detail: str
    remote_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "op": self.op,
            "name": self.name,
            "resolution": self.resolution,
            "detail": self.detail,
            "remote_id": self.remote_id,
        }


@dataclass(frozen=True)
class PlanOptions:
    """How a plan was asked for (prune, protection, deletion limit, secret rotation); a saved plan records them."""

    prune: bool = False
    manage_prefix: str | None = None
    protect: tuple[str, ...] = ()
    max_deletes: int = defaults.MAX_DELETES
    force: bool = False
    rotate_secrets: bool = False
    #: run Cohere's registration test against the connectors the plan creates or re-points
    #: (``plan --probe``); a run-time check, not part of a saved plan's options
    probe: bool = False
    #: a failed probe is a warning, not exit 1 (``--probe-warn``)
    probe_warn: bool = False
    #: ``--target``/``--file``: name globs; only matching connectors are planned and pruned
    #: (recorded in ``meta.targets``, not in ``meta.options``)
    targets: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        settings: Settings,
        *,
        force: bool = False,
        rotate_secrets: bool = False,
        probe: bool = False,
        probe_warn: bool = False,
        targets: Sequence[str] = (),
    ) -> PlanOptions:
        """The options of a plan asked for with ``settings`` (its prune safeguards) and these flags."""
        return cls(
            prune=settings.prune,
            manage_prefix=settings.manage_prefix,
            protect=settings.protect,
            max_deletes=settings.max_deletes,
            force=force,
            rotate_secrets=rotate_secrets,
            probe=probe,
            probe_warn=probe_warn,
            targets=tuple(targets),
        )

    def targeted(self, name: str) -> bool:
        """Whether ``name`` is in the plan's scope (always, without targets)."""
        return not self.targets or any(fnmatch.fnmatchcase(name, t) for t in self.targets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prune": self.prune,
            "manage_prefix": self.manage_prefix,
            "protect": list(self.protect),
            "max_deletes": self.max_deletes,
            "force": self.force,
            "rotate_secrets": self.rotate_secrets,
        }


@dataclass(frozen=True)
class Plan:
    """Every change a run would make, with what the org held when it was planned (ids, twins, recovery)."""

    changes: tuple[ResourceChange, ...]
    unmanaged: tuple[Unmanaged, ...] = ()
    notes: tuple[str, ...] = ()
    #: every remote id seen when planning: a connector appearing later makes the plan stale
    seen_ids: tuple[str, ...] = ()
    twins: tuple[Twin, ...] = ()
    recovery: tuple[Recovery, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def summary(self) -> dict[str, int]:
        counts = Counter(c.action for c in self.changes)
        return {a.value: counts[a] for a in Action}

    @property
    def has_changes(self) -> bool:
        return any(c.action is not Action.NOOP for c in self.changes)

    @property
    def needs_attention(self) -> bool:
        """Changes, twins, or intents still open: ``plan --detailed-exitcode`` exits 2."""
        return (
            self.has_changes or bool(self.twins) or any(r.resolution not in ("settled", "watch") for r in self.recovery)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "meta": dict(self.meta),
            "summary": self.summary(),
            "changes": [c.to_dict() for c in self.changes],
            "unmanaged": [{"id": u.id, "name": u.name, "reason": u.reason} for u in self.unmanaged],
            "notes": list(self.notes),
            "seen_ids": list(self.seen_ids),
            "twins": [t.to_dict() for t in self.twins],
            "recovery": [r.to_dict() for r in self.recovery],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            changes=tuple(ResourceChange.from_dict(c) for c in data["changes"]),
            unmanaged=tuple(Unmanaged(**u) for u in data.get("unmanaged", ())),
            notes=tuple(data.get("notes", ())),
            seen_ids=tuple(data.get("seen_ids", ())),
            twins=tuple(
                Twin(
                    t["name"], tuple(t["ids"]), t.get("managed"), tuple(t.get("ours", ())), tuple(t.get("foreign", ()))
                )
                for t in data.get("twins", ())
            ),
            recovery=tuple(Recovery(**r) for r in data.get("recovery", ())),
            meta=data.get("meta", {}),
            format_version=data["format_version"],
        )


#: The order apply runs in: updates first (nothing is lost if a later phase fails), then
#: creates, then replacements (create the new connector, then delete the old), then deletes.
PHASES: tuple[Action, ...] = (Action.UPDATE, Action.CREATE, Action.REPLACE, Action.DELETE)


def plan_meta(
    api_url: str,
    options: PlanOptions,
    *,
    environment: str | None = None,
    targets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``targets`` (a targeted plan only): ``{"names": [...], "files": [...], "planned": n, "total": m}``.
    ``git_commit`` is left None: :func:`~conn_reconcile.apply.planfile.stamped` fills it in for the
    outputs that carry it (a saved plan, JSON), so a text plan runs no ``git``."""
    meta: dict[str, Any] = {
        "tool_version": __version__,
        "git_commit": None,
        "created_at": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "api_url": api_url.rstrip("/"),
        "options": options.to_dict(),
        "environment": environment,
    }
    if targets is not None:
        meta["targets"] = targets
    return meta


def phases(plan: Plan) -> list[tuple[Action, list[tuple[int, ResourceChange]]]]:
    """The plan's changes grouped by phase, in apply order, each with its plan index; empty
    phases left out. The text output lists changes in this same order."""
    grouped: dict[Action, list[tuple[int, ResourceChange]]] = {phase: [] for phase in PHASES}
    for i, c in enumerate(plan.changes):
        work = grouped.get(c.action)
        if work is not None:
            work.append((i, c))
    return [(phase, work) for phase, work in grouped.items() if work]


def plain(value: Any) -> Any:
    """``value`` as JSON-shaped data: mappings as dicts, sequences as lists."""
    kind = type(value)
    if kind in _SCALARS:  # the common cases first, without an ABC check
        return value
    if kind is dict or (kind is not tuple and kind is not list and isinstance(value, Mapping)):
        return {k: v if type(v) in _SCALARS else plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [v if type(v) in _SCALARS else plain(v) for v in value]
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})


#: ``json.dumps(data, sort_keys=True, separators=(",", ":"))``, without a new encoder per call
_HASH_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def remote_hash(remote: RemoteConnector) -> str:
    """A stable hash of what the API says about a connector (per-user auth_status excluded)."""
    data = remote.model_dump(mode="json", exclude={"auth_status"}, exclude_none=True)
    blob = _HASH_JSON.encode(data).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def check_fresh(plan: Plan, remote: Sequence[RemoteConnector]) -> list[str]:
    """Why a saved plan no longer fits the org; empty when it is still fresh."""
    by_id = {r.id: r for r in remote}
    seen = set(plan.seen_ids)
    problems = []
    for c in plan.changes:
        if c.action is Action.NOOP:
            continue
        if c.remote_id is not None:
            now = by_id.get(c.remote_id)
            if now is None:
                problems.append(f"{c.name} ({c.remote_id}) was deleted remotely since the plan")
            elif remote_hash(now) != c.remote_hash:
                problems.append(
                    f"{c.name} ({c.remote_id}) changed remotely since the plan "
                    f"(updated_at {c.remote_updated_at} -> {now.updated_at})"
                )
        if c.action in (Action.CREATE, Action.REPLACE):
            appeared = [r.id for r in remote if r.name == c.name and r.id not in seen]
            if appeared:
                problems.append(
                    f"a connector named {c.name!r} appeared remotely since the plan ({', '.join(appeared)})"
                )
    return problems


def plan_document(plan: Plan, probes: Sequence[Any] | None = None) -> dict[str, Any]:
    """The documented machine-readable form (docs/plan-format.md); ``probe`` only when probed."""
    doc = plan.to_dict()
    doc["tool"] = {"name": "conn-reconcile", "version": __version__}
    if probes is not None:
        doc["probe"] = [p.to_dict() for p in probes]
    return doc
