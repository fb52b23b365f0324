"""Reading the intents an interrupted apply left in the state (pure core): before it matches files
to connectors, the planner asks :func:`examine` what the open intents say about the org it listed."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from conn_reconcile.model.connector import RemoteConnector
from conn_reconcile.model.state import Intent, State
from conn_reconcile.plan.model import Recovery

#: How long an unresolved create keeps watching for its connector to appear (a create
#: runs Cohere's registration test inside the call: minutes at most, never a day).
WATCH_SECONDS = 24 * 3600
#: A candidate created this long before its intent started cannot be the intent's.
CLOCK_SKEW_SECONDS = 300


@dataclass
class Examined:
    """What the intents an interrupted apply left in state mean for the next plan."""

    #: old id of an unfinished replacement -> the intent that finishes it (a delete to plan)
    finish: dict[str, Intent] = field(default_factory=dict)
    #: file (or name) -> (remote id to adopt, intent)
    adopt: dict[str, tuple[str, Intent]] = field(default_factory=dict)
    #: remote id provably created by us but not adoptable -> intent
    ours: dict[str, Intent] = field(default_factory=dict)
    #: intents whose connector was not found
    missing: list[Intent] = field(default_factory=list)
    recovery: list[Recovery] = field(default_factory=list)


def parse_time(value: str | None) -> _dt.datetime | None:
    if not value:
        return None
    try:
        when = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=_dt.UTC)


def intent_key(intent: Intent) -> str:
    return intent.file or f"name:{intent.name}"


def _candidates(intent: Intent, named: Mapping[str, Sequence[RemoteConnector]], state: State) -> list[RemoteConnector]:
    started = parse_time(intent.started_at)
    out = []
    for r in named.get(intent.name, ()):
        if r.id in state.connectors or r.id in intent.known_ids or r.id == intent.remote_id:
            continue
        created = parse_time(r.created_at)
        if started and created and (started - created).total_seconds() > CLOCK_SKEW_SECONDS:
            continue  # it existed well before this intent: someone else's
        out.append(r)
    return sorted(out, key=lambda r: (r.created_at or "", r.id))


def examine(state: State | None, remote: Sequence[RemoteConnector], now: _dt.datetime) -> Examined:
    """What each open intent of ``state`` means, given the org ``remote`` listed at ``now``:

    * a replacement whose new connector was created: its old connector is still to delete;
    * a create (or the create step of a replacement) whose outcome was never learned: a new
      connector of that name that is neither in state nor among the ids known when that plan
      was made is the one it created - adopt it (or, when the file is already matched to
      another connector, it is a twin that ``--prune`` deletes); if there is none, the create
      is done again and the intent is kept, watching for a late arrival, for ``WATCH_SECONDS``;
    * an update or a delete: nothing to recover - the plan re-compares as usual.
    """
    out = Examined()
    if state is None or not state.intents:
        return out
    by_id = {r.id: r for r in remote}
    named: dict[str, list[RemoteConnector]] = {}
    for r in remote:
        named.setdefault(r.name, []).append(r)
    for intent in state.unresolved():
        if intent.op in ("update", "delete"):
            what = "updating" if intent.op == "update" else "deleting"
            detail = f"an earlier apply stopped while {what} it; this plan compares it afresh"
            out.recovery.append(_settled(intent, detail, intent.remote_id))
            continue
        if intent.op == "replace" and intent.new_id is not None:
            _finish(out, intent, by_id)
            continue
        found = _candidates(intent, named, state)
        if found:
            out.adopt[intent_key(intent)] = (found[0].id, intent)
            for extra in found[1:]:
                out.ours[extra.id] = intent
            if intent.op == "replace" and intent.remote_id in by_id:
                out.finish[intent.remote_id] = intent
            continue
        started = parse_time(intent.started_at)
        if started is not None and (now - started).total_seconds() > WATCH_SECONDS:
            detail = f"the {intent.op} started {intent.started_at} never produced a connector; stopped watching"
            out.recovery.append(_settled(intent, detail))
            continue
        out.missing.append(intent)
    return out


def _settled(intent: Intent, detail: str, remote_id: str | None = None) -> Recovery:
    """Nothing left to do for ``intent``: the next apply clears it."""
    return Recovery(intent.id, intent.op, intent.name, "settled", detail, remote_id)


def _finish(out: Examined, intent: Intent, by_id: Mapping[str, RemoteConnector]) -> None:
    old = intent.remote_id
    if old is not None and old in by_id:
        out.finish[old] = intent
        out.recovery.append(
            Recovery(
                intent.id,
                "replace",
                intent.name,
                "finish",
                f"an earlier apply created {intent.new_id} but stopped before deleting {old}; this plan deletes it",
                old,
            )
        )
    else:
        out.recovery.append(
            Recovery(
                intent.id,
                "replace",
                intent.name,
                "settled",
                f"the replacement by {intent.new_id} is complete",
                intent.new_id,
            )
        )


def after_matching(
    ex: Examined, claimed: Mapping[str, str], matched_by_key: Mapping[str, str | None], planned_create: set[str]
) -> None:
    """Complete ``ex.recovery`` once files are matched. ``claimed`` maps remote id -> file;
    ``matched_by_key`` maps intent keys (file, or ``name:NAME``) -> the remote id matched
    (None: to be created); ``planned_create`` holds the keys the plan creates or replaces."""
    for _key, (rid, intent) in sorted(ex.adopt.items()):
        if claimed.get(rid) is not None:
            ex.recovery.append(
                Recovery(
                    intent.id,
                    intent.op,
                    intent.name,
                    "adopted",
                    f"the {intent.op} whose outcome was unknown did create {rid}: it is adopted",
                    rid,
                )
            )
        else:
            ex.ours[rid] = intent
    for rid, intent in sorted(ex.ours.items()):
        ex.recovery.append(
            Recovery(
                intent.id,
                intent.op,
                intent.name,
                "twin",
                f"{rid} was created by an interrupted apply next to the connector managed for this file; "
                "--prune deletes it",
                rid,
            )
        )
    for intent in ex.missing:
        key = intent_key(intent)
        if key in planned_create:
            resolution, detail = (
                "retry",
                (
                    f"the {intent.op} started {intent.started_at} has an unknown outcome and no such connector is in "
                    "the org: it is done again, and a late arrival will show as a twin"
                ),
            )
        else:
            resolution, detail = (
                "watch",
                (
                    f"the {intent.op} started {intent.started_at} has an unknown outcome; watching for a late arrival "
                    "(a twin would be reported)"
                ),
            )
        ex.recovery.append(Recovery(intent.id, intent.op, intent.name, resolution, detail, matched_by_key.get(key)))
