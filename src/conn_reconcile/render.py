"""Rendering plans, diagnostics and apply results as text, JSON, markdown and GitHub
annotations, all through one :class:`Redactor`. Pure core: returns strings, prints nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from conn_reconcile import __version__
from conn_reconcile.errors import Diagnostic
from conn_reconcile.models import SECRET_PATHS, env_ref_name
from conn_reconcile.plan import Action, Plan, Recovery, ResourceChange, Twin

MASK = "(sensitive)"
#: Values shorter than this are not replaced in free text (it would mangle ordinary words);
#: they are still masked wherever they appear in a known secret field.
MIN_REDACT_LEN = 4

_SYMBOL = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.NOOP: "=",
}
_VERB = {
    Action.CREATE: "create",
    Action.UPDATE: "update",
    Action.REPLACE: "replace",
    Action.DELETE: "delete",
    Action.NOOP: "no change",
}
_COLOUR = {Action.CREATE: "32", Action.UPDATE: "33", Action.REPLACE: "35", Action.DELETE: "31", Action.NOOP: "2"}
_ORIGIN = {"git": "changed in git", "remote": "changed remotely since last apply", "both": "changed in git and remotely"}


class Redactor:
    """The one place secrets are masked: known values in any text, and secret fields in data."""

    def __init__(self, values: Iterable[str] = ()):
        self._values: list[str] = []
        self.add(*values)

    def add(self, *values: str | None) -> None:
        fresh = {v for v in values if v and len(v) >= MIN_REDACT_LEN} - set(self._values)
        self._values = sorted(set(self._values) | fresh, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, MASK)
        return text

    def data(self, obj: Any, _path: str = "") -> Any:
        """A copy of ``obj`` with secret fields masked (``${VAR}`` references are kept)."""
        if isinstance(obj, Mapping):
            out = {}
            for key, value in obj.items():
                sub = f"{_path}.{key}" if _path else str(key)
                if sub.endswith(SECRET_PATHS) and isinstance(value, str) and env_ref_name(value) is None:
                    out[key] = MASK
                else:
                    out[key] = self.data(value, sub)
            return out
        if isinstance(obj, (list, tuple)):
            return [self.data(v, _path) for v in obj]
        if isinstance(obj, str):
            return self(obj)
        return obj


def _fmt(value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value, ensure_ascii=False)


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def summary_line(plan: Plan) -> str:
    s = plan.summary()
    if not plan.has_changes:
        return f"No changes. {s['noop']} connector(s) match the configuration."
    return (
        f"Plan: {s['create']} to create, {s['update']} to update, {s['replace']} to replace, "
        f"{s['delete']} to delete, {s['noop']} unchanged."
    )


def _field_lines(change: ResourceChange) -> list[str]:
    lines = []
    width = max((len(c.path) for c in change.changes), default=0)
    for c in change.changes:
        if c.sensitive:
            source = f", from ${{{c.ref}}}" if c.ref else ""
            value = f"(sensitive{source})" if change.action is Action.CREATE else f"(sensitive, changed{source})"
            sym = "+" if change.action is Action.CREATE else "~"
        elif c.old is None:
            sym, value = "+", _fmt(c.new)
        elif c.new is None:
            sym, value = "-", f"{_fmt(c.old)} -> null"
        else:
            sym, value = "~", f"{_fmt(c.old)} -> {_fmt(c.new)}"
        note = []
        if c.forces_replacement:
            note.append("forces replacement")
        if c.origin:
            note.append(_ORIGIN[c.origin])
        suffix = f"   # {', '.join(note)}" if note else ""
        lines.append(f"      {sym} {c.path.ljust(width)} = {value}{suffix}")
    return lines


def _heading(change: ResourceChange) -> str:
    ident = f" ({change.remote_id})" if change.remote_id else ""
    where = f"  {change.file}" if change.file else ""
    return f"{_SYMBOL[change.action]:>3} {_VERB[change.action]} {change.name}{ident}{where}"


def render_text(plan: Plan, *, colour: bool = False, redactor: Redactor | None = None, quiet: bool = False) -> str:
    redact = redactor or Redactor()
    out: list[str] = []

    def gap() -> None:  # one blank line between sections, never two
        if out and out[-1] != "":
            out.append("")

    if plan.has_changes and not quiet:
        out.append("conn-reconcile will perform the following actions:")
        out.append("")
    for change in plan.changes:
        if change.action is Action.NOOP:
            if not quiet:
                out.append(_paint(_heading(change), _COLOUR[change.action], colour))
            continue
        out.append(_paint(_heading(change), _COLOUR[change.action], colour))
        if not quiet:
            out.extend(f"      # {r}" for r in change.reasons)
            out.extend(_field_lines(change))
            out.append("")
    if plan.unmanaged and not quiet:
        gap()
        out.append("Unmanaged connectors (in the org, not in git; left alone):")
        out.extend(f"  {u.name} ({u.id}): {u.reason}" for u in plan.unmanaged)
    if plan.twins or plan.recovery:
        gap()
        out.extend(_paint(line, "1;33", colour) for line in attention_lines(plan))
    if plan.notes:
        gap()
        out.extend(f"Note: {note}" for note in plan.notes)
    gap()
    line = summary_line(plan)
    out.append(_paint(line, "1;31", colour) if plan.summary()["delete"] else _paint(line, "1", colour))
    return redact("\n".join(out) + "\n")


def twin_line(twin: Twin) -> str:
    ids = ", ".join(twin.ids)
    parts = [f"Warning: {len(twin.ids)} connectors in the org are named {twin.name!r} ({ids})"]
    if twin.managed:
        parts.append(f"; {twin.managed} is the one managed")
    if twin.ours:
        parts.append(f"; created by conn-reconcile, deleted by --prune: {', '.join(twin.ours)}")
    if twin.foreign:
        parts.append(f"; not created by conn-reconcile, delete by hand (or pin one with 'id:'): {', '.join(twin.foreign)}")
    return "".join(parts) + "."


def recovery_line(r: Recovery) -> str:
    return f"Recovery ({r.resolution}): {r.op} of {r.name!r}: {r.detail}."


def attention_lines(plan: Plan) -> list[str]:
    """One line per twin and per intent an interrupted apply left: never silent."""
    return [twin_line(t) for t in plan.twins] + [recovery_line(r) for r in plan.recovery]


def plan_document(plan: Plan) -> dict[str, Any]:
    """The documented machine-readable form (docs/plan-format.md)."""
    doc = plan.to_dict()
    doc["tool"] = {"name": "conn-reconcile", "version": __version__}
    return doc


def render_json(plan: Plan, *, redactor: Redactor | None = None) -> str:
    redact = redactor or Redactor()
    return json.dumps(redact.data(plan_document(plan)), indent=2, sort_keys=False) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(plan: Plan, *, redactor: Redactor | None = None, max_chars: int = 60_000) -> str:
    """A compact PR-comment body: a summary table, then details per connector, size-capped."""
    redact = redactor or Redactor()
    s = plan.summary()
    head = [
        "<!-- conn-reconcile-plan -->",
        "### conn-reconcile plan",
        "",
        "| create | update | replace | delete | unchanged | unmanaged |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {s['create']} | {s['update']} | {s['replace']} | **{s['delete']}** | {s['noop']} | {len(plan.unmanaged)} |",
        "",
    ]
    rows = ["| | connector | file | changes |", "|---|---|---|---|"]
    for c in plan.changes:
        if c.action is Action.NOOP:
            continue
        fields = ", ".join(f"`{f.path}`" for f in c.changes) or "-"
        rows.append(
            f"| `{_SYMBOL[c.action]}` {_VERB[c.action]} | {_md_escape(c.name)} | {_md_escape(c.file or '')} | {fields} |"
        )
    warnings = [f"> [!WARNING]\n> {_md_escape(line)}\n" for line in attention_lines(plan)]
    body = head + warnings + (rows if len(rows) > 2 else ["No changes."]) + [""]
    details = render_text(plan, redactor=redact).rstrip("\n")
    fence = "```"
    tail = ["<details><summary>Full plan</summary>", "", f"{fence}diff", details, fence, "", "</details>", ""]
    if plan.notes:
        tail.extend(f"> {_md_escape(n)}" for n in plan.notes)
    text = "\n".join(body + tail)
    if len(text) > max_chars:
        keep = max_chars - 200
        cut = "\n".join(body)
        if len(cut) > keep:
            cut = cut[:keep]
        text = cut + f"\n\n_Plan truncated to {max_chars} characters; see the plan artifact for the full plan._\n"
    return redact(text)


def _gh_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github_diagnostics(diagnostics: Sequence[Diagnostic], *, redactor: Redactor | None = None) -> str:
    redact = redactor or Redactor()
    lines = []
    for d in diagnostics:
        props = [f"file={_gh_escape(d.file, prop=True)}"] if d.file else []
        if d.line is not None:
            props.append(f"line={d.line}")
        if d.col is not None:
            props.append(f"col={d.col}")
        title = f"conn-reconcile: {d.field}" if d.field else "conn-reconcile"
        props.append(f"title={_gh_escape(title, prop=True)}")
        lines.append(f"::error {','.join(props)}::{_gh_escape(d.message)}")
    return redact("\n".join(lines) + ("\n" if lines else ""))


def render_github(plan: Plan, *, redactor: Redactor | None = None) -> str:
    """One annotation per change (notice; warning for deletes and replacements)."""
    redact = redactor or Redactor()
    lines = []
    for c in plan.changes:
        if c.action is Action.NOOP:
            continue
        level = "warning" if c.action in (Action.DELETE, Action.REPLACE) else "notice"
        props = [f"file={_gh_escape(c.file, prop=True)}", "line=1"] if c.file else []
        props.append(f"title={_gh_escape('conn-reconcile ' + _VERB[c.action], prop=True)}")
        fields = ", ".join(f.path for f in c.changes)
        msg = f"{_VERB[c.action]} {c.name}" + (f": {fields}" if fields else "")
        lines.append(f"::{level} {','.join(props)}::{_gh_escape(msg)}")
    for line in attention_lines(plan):
        lines.append(f"::warning title={_gh_escape('conn-reconcile', prop=True)}::{_gh_escape(line)}")
    lines.append(summary_line(plan))
    return redact("\n".join(lines) + "\n")


def render_diagnostics(diagnostics: Sequence[Diagnostic], *, redactor: Redactor | None = None) -> str:
    redact = redactor or Redactor()
    return redact("".join(d.format() + "\n" for d in diagnostics))


_STATUS_SYMBOL = {
    "created": ("+", "32"),
    "updated": ("~", "33"),
    "replaced": ("-/+", "35"),
    "deleted": ("-", "31"),
    "failed": ("!", "1;31"),
    "unknown": ("?", "1;31"),
    "skipped": (".", "2"),
}


def render_outcome(outcome: Any, *, colour: bool = False) -> str:
    """One progress line for a finished connector (an ``applier.Outcome``)."""
    sym, code = _STATUS_SYMBOL.get(outcome.status, ("?", "0"))
    ident = f" ({outcome.remote_id})" if outcome.remote_id else ""
    took = f" [{outcome.seconds:.1f}s]" if outcome.seconds else ""
    detail = f": {outcome.message}" if outcome.message else ""
    return _paint(f"{sym:>3} {outcome.status} {outcome.name}{ident}{took}{detail}", code, colour)


def render_report(report: Any, *, colour: bool = False) -> str:
    """The final per-connector table and the totals line (an ``applier.ApplyReport``)."""
    rows = [("CONNECTOR", "ACTION", "RESULT", "ID", "DETAIL")]
    for o in report.outcomes:
        rows.append((o.name, o.action.value, o.status, o.remote_id or "-", o.message.splitlines()[0] if o.message else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [""]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    counts = {s: report.count(s) for s in ("created", "updated", "replaced", "deleted", "failed", "unknown", "skipped")}
    head = "Apply interrupted" if report.interrupted else "Apply complete" if not report.failed else "Apply finished with errors"
    total = ", ".join(f"{n} {s}" for s, n in counts.items() if n or s in ("failed",)) or "nothing to do"
    lines.append("")
    code = "1;31" if report.failed or report.interrupted else "1;32"
    lines.append(_paint(f"{head}: {total}.", code, colour))
    if not report.outcomes:
        lines = ["", _paint("Apply complete: nothing to do.", "1;32", colour)]
    return "\n".join(line.rstrip() for line in lines) + "\n"
