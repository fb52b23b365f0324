"""Reviewed plans == applied plan: a semantic comparison of plans (pure core) for ``plan --compare
REVIEWED.json...``: every entry of either side (no-ops included) must be matched by an equal one.
Ignored: when and from which commit a plan was made, unchanged connectors' remote hashes, and ordering."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conn_reconcile.escape import escape, md_code, md_text
from conn_reconcile.plan.lifecycle import is_ignored_note
from conn_reconcile.plan.model import Action, Plan, ResourceChange, plain

#: meta fields that change what apply does (the rest say when and where a plan was made)
META_KEYS = ("api_url", "environment", "options", "targets")

MARKER = "<!-- conn-reconcile-compare -->"

Key = tuple[str, str]


@dataclass(frozen=True)
class Difference:
    """One way the plans differ: ``subject`` (a connector name, ``plan``, ...) and what differs."""

    subject: str
    what: str
    reviewed: Any = None
    current: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "what": self.what, "reviewed": self.reviewed, "current": self.current}


def _key(c: ResourceChange) -> Key:
    """Changes are matched by connector name and the remote id they act on (a create has
    none); a delete of a twin and the update of its namesake stay apart."""
    return c.name, c.remote_id or ""


def _subject(key: Key) -> str:
    return key[0] + (f" ({key[1]})" if key[1] else "")


def _view(c: ResourceChange) -> dict[str, Any]:
    """What of one change matters to apply."""
    view: dict[str, Any] = {
        "action": c.action.value,
        "file": c.file,
        "changes": sorted((ch.to_dict() for ch in c.changes), key=lambda d: str(d["path"])),
        "reasons": sorted(c.reasons),
        "payload": plain(c.payload),
        "cause": c.cause,
        "intent": c.intent,
        "known_ids": sorted(c.known_ids),
        "prevent_destroy": c.prevent_destroy,
    }
    if c.action is not Action.NOOP:  # the remote object apply will touch must be the same one
        view["remote"] = {"updated_at": c.remote_updated_at, "hash": c.remote_hash}
        view["applied"] = plain(c.applied)
    return view


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _as_set(items: Any) -> list[str]:
    return sorted(_canon(i) for i in items)


def _sorted(out: list[Difference]) -> list[Difference]:
    return sorted(out, key=lambda d: (d.subject != "plan", d.subject, d.what))


def _meta_differences(reviewed: Plan, current: Plan) -> list[Difference]:
    out = []
    for meta_key in META_KEYS:
        before, after = reviewed.meta.get(meta_key), current.meta.get(meta_key)
        if _canon(before) != _canon(after):
            out.append(Difference("plan", f"meta.{meta_key}", plain(before), plain(after)))
    return out


def _section_differences(reviewed: Plan, current: Plan, *, skip: tuple[str, ...] = ()) -> list[Difference]:
    sections: Mapping[str, tuple[Any, Any]] = {
        "twins": ([t.to_dict() for t in reviewed.twins], [t.to_dict() for t in current.twins]),
        "recovery": ([r.to_dict() for r in reviewed.recovery], [r.to_dict() for r in current.recovery]),
        "unmanaged": (
            [(u.id, u.name, u.reason) for u in reviewed.unmanaged],
            [(u.id, u.name, u.reason) for u in current.unmanaged],
        ),
        "notes": (_notes(reviewed), _notes(current)),
    }
    return [
        Difference("plan", section, before, after)
        for section, (before, after) in sections.items()
        if section not in skip and _as_set(before) != _as_set(after)
    ]


def _entries(plan: Plan, which: str, out: list[Difference]) -> dict[Key, ResourceChange]:
    """The plan's changes by key; a key held by more than one change is a difference (apply
    would carry out each of them, a comparison by key only one)."""
    entries: dict[Key, ResourceChange] = {}
    held: dict[Key, int] = {}
    for c in plan.changes:
        key = _key(c)
        held[key] = held.get(key, 0) + 1
        entries[key] = c
    for key, times in sorted(held.items()):
        if times > 1:
            out.append(Difference(_subject(key), f"{times} changes in {which}"))
    return entries


def _entry_differences(subject: str, a: ResourceChange, b: ResourceChange, suffix: str = "") -> list[Difference]:
    va, vb = _view(a), _view(b)
    fields = ("action", "changes") if a.action is not b.action else sorted(va.keys() | vb.keys())
    return [
        Difference(subject, field_name + suffix, va.get(field_name), vb.get(field_name))
        for field_name in fields
        if _canon(va.get(field_name)) != _canon(vb.get(field_name))
    ]


def compare(reviewed: Plan, current: Plan) -> list[Difference]:
    """Every difference between the reviewed plan and the current one; empty when they match.
    An entry (any action, a no-op too) present in one plan only is a difference: apply records
    a no-op's connector as managed."""
    out = _meta_differences(reviewed, current)
    old = _entries(reviewed, "the reviewed plan", out)
    new = _entries(current, "the current plan", out)
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a is None or b is None:
            present = b if a is None else a
            assert present is not None
            where = "only in the current plan" if a is None else "only in the reviewed plan"
            out.append(Difference(_subject(key), f"{present.action.value} {where}"))
        else:
            out.extend(_entry_differences(_subject(key), a, b))
    out.extend(_section_differences(reviewed, current))
    return _sorted(out)


def compare_reviewed(reviewed: Sequence[Plan], current: Plan) -> list[Difference]:
    """Every way ``current`` is not what the ``reviewed`` plans (in merge order) show; empty
    when it is. One reviewed plan: :func:`compare`. Several: the meta, twins, recovery and
    unmanaged are the last one's; each entry of ``current`` must equal the entry of the same key
    in at least one reviewed plan, and each entry of a reviewed plan must equal current's or be
    superseded by another reviewed plan's (current's is covered); each note of ``current`` must
    be in some reviewed plan (notes are per branch: one about a connector an earlier pull
    request added is not in a later one's plan)."""
    if not reviewed:
        raise ValueError("compare_reviewed needs at least one reviewed plan")
    if len(reviewed) == 1:
        return compare(reviewed[0], current)
    last = reviewed[-1]
    out = _meta_differences(last, current)
    new = _entries(current, "the current plan", out)
    olds = [_entries(plan, f"reviewed plan {i}", out) for i, plan in enumerate(reviewed, 1)]
    covered = {key for key, b in new.items() if any(_same(old.get(key), b) for old in olds)}
    for key in sorted(new.keys() - covered):
        out.extend(_uncovered(_subject(key), [old[key] for old in olds if key in old], new[key]))
    for i, old in enumerate(olds, 1):
        for key in sorted(old.keys() - new.keys()):
            out.append(Difference(_subject(key), f"{old[key].action.value} only in reviewed plan {i}"))
    out.extend(_section_differences(last, current, skip=("notes",)))
    noted = {note for plan in reviewed for note in _notes(plan)}
    unseen = sorted({note for note in _notes(current) if note not in noted})
    if unseen:
        out.append(Difference("plan", "notes: not covered by any reviewed plan", _notes(last), unseen))
    return _sorted(out)


def _notes(plan: Plan) -> list[str]:
    """The plan's notes but those on fields ``lifecycle.ignore_changes`` left as the org has them
    (they say what the org holds, which apply leaves alone, like an unchanged connector's hash)."""
    return [note for note in plan.notes if not is_ignored_note(note)]


def _same(a: ResourceChange | None, b: ResourceChange) -> bool:
    return a is not None and _canon(_view(a)) == _canon(_view(b))


def _uncovered(subject: str, holders: list[ResourceChange], b: ResourceChange) -> list[Difference]:
    """An entry of the current plan that no reviewed plan shows: how it differs from the
    latest reviewed entry of its key."""
    suffix = ": not covered by any reviewed plan"
    if not holders:
        return [Difference(subject, f"{b.action.value} only in the current plan{suffix}")]
    return _entry_differences(subject, holders[-1], b, suffix)


def _short(value: Any, limit: int = 300) -> str:
    text = _canon(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render_text(differences: list[Difference]) -> str:
    if not differences:
        return "The current plan matches the reviewed plan.\n"
    lines = [f"The current plan differs from the reviewed plan ({len(differences)} difference(s)):"]
    for d in differences:
        lines.append(f"  ~ {escape(d.subject)}: {escape(d.what)}")
        if d.reviewed is not None or d.current is not None:
            lines.append(f"      reviewed: {escape(_short(d.reviewed))}")
            lines.append(f"      current:  {escape(_short(d.current))}")
    lines.append("Nothing was applied. Plan again, review the new plan, and apply that one.")
    return "\n".join(lines) + "\n"


def render_markdown(differences: list[Difference]) -> str:
    """A PR-comment body: escaped data only, values in inline code."""
    if not differences:
        return f"{MARKER}\n### conn-reconcile: the reviewed plan still holds\n\nThe current plan matches it.\n"
    lines = [
        MARKER,
        "### conn-reconcile: the reviewed plan is out of date",
        "",
        f"{len(differences)} difference(s); nothing was applied.",
        "",
        "| connector | what | reviewed | current |",
        "|---|---|---|---|",
    ]
    for d in differences:
        cells = [md_text(d.subject), md_code(d.what), md_code(_short(d.reviewed)), md_code(_short(d.current))]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Plan again, review the new plan, and apply that one.", ""]
    return "\n".join(lines)
