"""Reviewed plan == applied plan: a semantic comparison of two plans. Pure core.

``plan --compare REVIEWED.json`` plans again and compares the new plan with the one a
reviewer approved. Two plans match when apply would do the same thing: the same connectors
with the same actions, field changes, payloads and targets, the same twins, recoveries and
notes, made for the same org, environment and options. Left out: when and from which
commit each was made (``meta.created_at``, ``meta.git_commit``, ``meta.tool_version``),
the remote ``updated_at``/hash of connectors left unchanged, the ids merely seen, and the
order of changes and notes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conn_reconcile.escape import escape, md_code, md_text
from conn_reconcile.plan import Action, Plan, ResourceChange, plain

#: meta fields that change what apply does (the rest say when and where a plan was made)
META_KEYS = ("api_url", "environment", "options", "targets")

MARKER = "<!-- conn-reconcile-compare -->"


@dataclass(frozen=True)
class Difference:
    """One way the plans differ: ``subject`` (a connector name, ``plan``, ...) and what differs."""

    subject: str
    what: str
    reviewed: Any = None
    current: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "what": self.what, "reviewed": self.reviewed, "current": self.current}


def _key(c: ResourceChange) -> tuple[str, str]:
    """Changes are matched by connector name and the remote id they act on (a create has
    none); a delete of a twin and the update of its namesake stay apart."""
    return c.name, c.remote_id or ""


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
    }
    if c.action is not Action.NOOP:  # the remote object apply will touch must be the same one
        view["remote"] = {"updated_at": c.remote_updated_at, "hash": c.remote_hash}
        view["applied"] = plain(c.applied)
    return view


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _as_set(items: Any) -> list[str]:
    return sorted(_canon(i) for i in items)


def compare(reviewed: Plan, current: Plan) -> list[Difference]:
    """Every difference between the reviewed plan and the current one; empty when they match."""
    out: list[Difference] = []
    for meta_key in META_KEYS:
        before, after = reviewed.meta.get(meta_key), current.meta.get(meta_key)
        if _canon(before) != _canon(after):
            out.append(Difference("plan", f"meta.{meta_key}", plain(before), plain(after)))
    old = {_key(c): c for c in reviewed.changes}
    new = {_key(c): c for c in current.changes}
    for key in sorted(old.keys() | new.keys()):
        name = key[0] + (f" ({key[1]})" if key[1] else "")
        a, b = old.get(key), new.get(key)
        if a is None or b is None:
            present = b if a is None else a
            assert present is not None
            where = "only in the current plan" if a is None else "only in the reviewed plan"
            if present.action is not Action.NOOP:
                out.append(Difference(name, f"{present.action.value} {where}"))
            continue
        va, vb = _view(a), _view(b)
        fields = ("action", "changes") if a.action is not b.action else sorted(va.keys() | vb.keys())
        for field_name in fields:
            if _canon(va.get(field_name)) != _canon(vb.get(field_name)):
                out.append(Difference(name, field_name, va.get(field_name), vb.get(field_name)))
    sections: Mapping[str, tuple[Any, Any]] = {
        "twins": ([t.to_dict() for t in reviewed.twins], [t.to_dict() for t in current.twins]),
        "recovery": ([r.to_dict() for r in reviewed.recovery], [r.to_dict() for r in current.recovery]),
        "unmanaged": (
            [(u.id, u.name, u.reason) for u in reviewed.unmanaged],
            [(u.id, u.name, u.reason) for u in current.unmanaged],
        ),
        "notes": (list(reviewed.notes), list(current.notes)),
    }
    for section, (before, after) in sections.items():
        if _as_set(before) != _as_set(after):
            out.append(Difference("plan", section, before, after))
    return sorted(out, key=lambda d: (d.subject != "plan", d.subject, d.what))


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
