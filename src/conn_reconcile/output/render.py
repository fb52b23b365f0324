"""Rendering plans, diagnostics and apply results as text, JSON, markdown and GitHub
annotations, all through one :class:`~conn_reconcile.model.secrets.Redactor`. Every data-derived
string goes through :mod:`conn_reconcile.escape` first; colours are added around escaped
text. Pure core: returns strings, prints nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from conn_reconcile.errors import Diagnostic
from conn_reconcile.escape import escape, gh_data, gh_property, guard_lines, md_code, md_fence, md_text
from conn_reconcile.model.secrets import Redactor
from conn_reconcile.output.fieldlines import field_lines
from conn_reconcile.plan import preflight as preflight
from conn_reconcile.plan.model import Action, Plan, Recovery, ResourceChange, Twin, phases, plan_document
from conn_reconcile.plan.preflight import ProbeResult

#: GitHub refuses a comment (or a job summary section) longer than this many characters
GITHUB_COMMENT_LIMIT = 65_536
#: the markdown plan's default size: under the limit, with room for a sticky-comment header
MARKDOWN_MAX_CHARS = 65_000
#: the markdown table lists the destructive changes first: they are never the ones cut
_MD_ORDER = {Action.DELETE: 0, Action.REPLACE: 1, Action.CREATE: 2, Action.UPDATE: 3}

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
#: the connectors a plan leaves alone, by reason (the rest: unmanaged), each group under its heading
_LEFT_ALONE = {
    "managed, removed from git": "Managed connectors removed from git (--prune deletes them):",
    "created by an interrupted apply": "Created by an interrupted apply, not in git (--prune deletes them):",
    "": "Unmanaged connectors (in the org, not in git; left alone):",
}


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


#: each action's heading up to the connector's name: its symbol, right-aligned, and its verb
_HEAD = {action: f"{_SYMBOL[action]:>3} {_VERB[action]} " for action in Action}


def _heading(change: ResourceChange) -> str:
    ident = f" ({escape(change.remote_id)})" if change.remote_id else ""
    where = f"  {escape(change.file)}" if change.file else ""
    return f"{_HEAD[change.action]}{escape(change.name)}{ident}{where}"


def render_text(
    plan: Plan,
    *,
    colour: bool = False,
    redactor: Redactor | None = None,
    quiet: bool = False,
    probes: Sequence[ProbeResult] = (),
) -> str:
    redact = redactor or Redactor()
    out: list[str] = []

    def gap() -> None:  # one blank line between sections, never two
        if out and out[-1] != "":
            out.append("")

    if plan.has_changes and not quiet:
        out.append("conn-reconcile will perform the following actions, in this order:")
        out.append("")
    # changes in the order apply carries them out (plan.phases), then the connectors left as they are
    ordered = [c for _, work in phases(plan) for _, c in work]
    rotate = bool(plan.meta.get("options", {}).get("rotate_secrets"))
    for change in ordered + [c for c in plan.changes if c.action is Action.NOOP]:
        if change.action is Action.NOOP:
            if not quiet:
                out.append(_paint(_heading(change), _COLOUR[change.action], colour))
            continue
        out.append(_paint(_heading(change), _COLOUR[change.action], colour))
        if not quiet:
            if change.reasons:
                out.extend(f"      # {escape(r)}" for r in change.reasons)
            out.extend(field_lines(change, rotate))
            out.append("")
    for heading, lines in [] if quiet else _left_alone(plan):
        gap()
        out += [heading, *lines]
    if plan.twins or plan.recovery:
        gap()
        out.extend(_paint(line, "1;33", colour) for line in attention_lines(plan))
    if plan.notes:
        gap()
        out.extend(f"Note: {escape(note)}" for note in plan.notes)
    snapshot = snapshot_line(plan)
    if snapshot:
        gap()
        out.append(snapshot)
    if probes:
        gap()
        out.extend(
            _paint(line, "1;31", colour) if line.lstrip().startswith("FAILED") else line
            for line in preflight.text_lines(probes)
        )
    gap()
    line = summary_line(plan)
    out.append(_paint(line, "1;31", colour) if plan.summary()["delete"] else _paint(line, "1", colour))
    out.append("")  # the last line's newline, without copying the whole text to add it
    return guard_lines(redact("\n".join(out)))


def _left_alone(plan: Plan) -> list[tuple[str, list[str]]]:
    """The connectors in the org that no file describes, grouped: managed ones removed from git,
    those an interrupted apply created, and the unmanaged (or protected) ones."""
    groups: dict[str, list[str]] = {}
    for u in plan.unmanaged:
        reason = u.reason.removesuffix("; --prune deletes it")
        group = reason if reason in _LEFT_ALONE else ""
        groups.setdefault(group, []).append(f"  {escape(u.name)} ({escape(u.id)}): {escape(reason)}")
    return [(heading, groups[key]) for key, heading in _LEFT_ALONE.items() if key in groups]


def snapshot_line(plan: Plan) -> str:
    """For a plan made against the org snapshot in the state: when it was taken, how old it is."""
    snap = plan.meta.get("org_snapshot")
    if not isinstance(snap, dict):
        return ""
    from conn_reconcile.state.snapshot import age

    taken_at, by = str(snap.get("taken_at")), str(snap.get("by"))
    return (
        f"Planned without the API key, against the org snapshot taken {escape(taken_at)} by "
        f"{escape(by)} ({age(taken_at)}); apply plans again against the live org and refuses if the result differs."
    )


def twin_line(twin: Twin) -> str:
    ids = ", ".join(twin.ids)
    parts = [f"Warning: {len(twin.ids)} connectors in the org are named '{escape(twin.name)}' ({escape(ids)})"]
    if twin.managed:
        parts.append(f"; {twin.managed} is the one managed")
    if twin.ours:
        parts.append(f"; created by conn-reconcile, deleted by --prune: {', '.join(twin.ours)}")
    if twin.foreign:
        parts.append(
            f"; not created by conn-reconcile, delete by hand (or pin one with 'id:'): {', '.join(twin.foreign)}"
        )
    return "".join(parts) + "."


def recovery_line(r: Recovery) -> str:
    return f"Recovery ({r.resolution}): {r.op} of '{escape(r.name)}': {escape(r.detail)}."


def attention_lines(plan: Plan) -> list[str]:
    """One line per twin and per intent an interrupted apply left: never silent."""
    return [twin_line(t) for t in plan.twins] + [recovery_line(r) for r in plan.recovery]


def render_json(plan: Plan, *, redactor: Redactor | None = None, probes: Sequence[ProbeResult] | None = None) -> str:
    """ASCII-only JSON (``ensure_ascii``: controls, bidi and zero-width characters are ``\\uXXXX``
    escapes, safe to show raw); ``##[`` inside strings is written ``#\\u0023[`` so that no line
    of it is a legacy workflow command."""
    redact = redactor or Redactor()
    text = json.dumps(redact.data(plan_document(plan, probes)), indent=2, sort_keys=False, ensure_ascii=True)
    return text.replace("##[", "#\\u0023[") + "\n"


def render_markdown(
    plan: Plan,
    *,
    redactor: Redactor | None = None,
    max_chars: int = MARKDOWN_MAX_CHARS,
    probes: Sequence[ProbeResult] = (),
) -> str:
    """A compact PR-comment body: a summary table, one row per change (deletes and
    replacements first), the probe results, then the full plan in a collapsed block. Over
    ``max_chars`` the full plan goes first, then whole rows from the end, and a line says
    how many changes are not shown: never a cut row, escape or entity."""
    redact = redactor or Redactor()
    s = plan.summary()
    head = [
        "<!-- conn-reconcile-plan -->",
        "### conn-reconcile plan",
        "",
        "| create | update | replace | delete | unchanged | not in git |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {s['create']} | {s['update']} | {s['replace']} | **{s['delete']}** | {s['noop']} | {len(plan.unmanaged)} |",
        "",
    ]
    head += [f"> [!WARNING]\n> {md_text(line)}\n" for line in attention_lines(plan)]
    head += [f"> [!NOTE]\n> {md_text(line)}\n" for line in [snapshot_line(plan)] if line]
    changes = sorted((c for c in plan.changes if c.action is not Action.NOOP), key=lambda c: _MD_ORDER[c.action])
    rows = [_md_row(c) for c in changes]
    table = ["| | connector | file | changes |", "|---|---|---|---|"] if rows else ["No changes."]
    tail = ["", *preflight.markdown_lines(probes)]
    details = render_text(plan, redactor=redact, probes=probes).rstrip("\n")
    fence = md_fence(details)  # longer than any backtick run in the plan: data cannot close it
    tail += ["<details><summary>Full plan</summary>", "", f"{fence}diff", details, fence, "", "</details>", ""]
    tail += [f"> {md_text(n)}" for n in plan.notes]
    text = _md_safe("\n".join(head + table + rows + tail), redact)
    if len(text) <= max_chars:
        return text
    return _md_capped(head + table, rows, preflight.markdown_lines(probes), redact, max_chars)


def _md_row(c: ResourceChange) -> str:
    fields = ", ".join(md_code(f.path) for f in c.changes) or "-"
    return f"| `{_SYMBOL[c.action]}` {_VERB[c.action]} | {md_text(c.name)} | {md_text(c.file or '')} | {fields} |"


def _fill(out: list[str], lines: Sequence[str], redact: Redactor, used: int, budget: int) -> int:
    """Append whole lines (made safe) while they fit in ``budget`` characters; the new total."""
    for line in lines:
        line = _md_safe(line, redact)
        if used + len(line) + 1 > budget:
            break
        out.append(line)
        used += len(line) + 1
    return used


def _md_safe(text: str, redact: Redactor) -> str:
    return guard_lines(redact(text))


def _md_capped(top: list[str], rows: list[str], probe_lines: list[str], redact: Redactor, max_chars: int) -> str:
    """Whole lines only, within ``max_chars``: the heading and summary, as many rows as fit
    (in order: deletes and replacements come first), the probes if they fit, and a note."""

    def note(shown: int) -> str:
        return (
            f"\n_Plan truncated: {len(rows) - shown} of {len(rows)} change(s) not shown and the full plan "
            f"left out, to stay under {max_chars} characters (GitHub's comment limit is "
            f"{GITHUB_COMMENT_LIMIT}); see the plan artifact or the job log for the full plan._\n"
        )

    budget = max_chars - len(note(0)) - 16  # the note's numbers can only get shorter
    out: list[str] = []
    used = _fill(out, top, redact, 0, budget)
    before = len(out)
    used = _fill(out, rows, redact, used, budget)
    shown = len(out) - before
    probes = [_md_safe(p, redact) for p in ["", *probe_lines]]
    if shown == len(rows) and used + sum(len(p) + 1 for p in probes) <= budget:
        out.extend(probes)
    return "\n".join(out) + "\n" + note(shown)


def render_github_diagnostics(diagnostics: Sequence[Diagnostic], *, redactor: Redactor | None = None) -> str:
    redact = redactor or Redactor()
    lines = []
    for d in diagnostics:
        props = [f"file={gh_property(d.file)}"] if d.file else []
        if d.line is not None:
            props.append(f"line={d.line}")
        if d.col is not None:
            props.append(f"col={d.col}")
        title = f"conn-reconcile: {d.field}" if d.field else "conn-reconcile"
        props.append(f"title={gh_property(title)}")
        lines.append(f"::error {','.join(props)}::{gh_data(d.message)}")
    return redact("\n".join(lines) + ("\n" if lines else ""))


def render_github(plan: Plan, *, redactor: Redactor | None = None, probes: Sequence[ProbeResult] = ()) -> str:
    """One annotation per change (notice; warning for deletes and replacements)."""
    redact = redactor or Redactor()
    lines = []
    for c in plan.changes:
        if c.action is Action.NOOP:
            continue
        level = "warning" if c.action in (Action.DELETE, Action.REPLACE) else "notice"
        props = [f"file={gh_property(c.file)}", "line=1"] if c.file else []
        props.append(f"title={gh_property('conn-reconcile ' + _VERB[c.action])}")
        fields = ", ".join(f.path for f in c.changes)
        msg = f"{_VERB[c.action]} {c.name}" + (f": {fields}" if fields else "")
        lines.append(f"::{level} {','.join(props)}::{gh_data(msg)}")
    for line in attention_lines(plan):
        lines.append(f"::warning title={gh_property('conn-reconcile')}::{gh_data(line)}")
    lines.extend(preflight.github_lines(probes))
    lines.append(summary_line(plan))
    if probes:
        lines.append(preflight.summary_line(probes))
    return redact("\n".join(lines) + "\n")


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
    ident = f" ({escape(outcome.remote_id)})" if outcome.remote_id else ""
    took = f" [{outcome.seconds:.1f}s]" if outcome.seconds else ""
    detail = f": {escape(outcome.message)}" if outcome.message else ""
    line = guard_lines(f"{sym:>3} {escape(outcome.status)} {escape(outcome.name)}{ident}{took}{detail}")
    return _paint(line, code, colour)


def render_report(report: Any, *, colour: bool = False) -> str:
    """The final per-connector table and the totals line (an ``applier.ApplyReport``)."""
    rows = [("CONNECTOR", "ACTION", "RESULT", "ID", "DETAIL")]
    for o in report.outcomes:
        detail = o.message.splitlines()[0] if o.message.strip() else ""
        rows.append((escape(o.name), o.action.value, escape(o.status), escape(o.remote_id or "-"), escape(detail)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [""]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    counts = {s: report.count(s) for s in ("created", "updated", "replaced", "deleted", "failed", "unknown", "skipped")}
    head = (
        "Apply interrupted"
        if report.interrupted
        else "Apply complete"
        if not report.failed
        else "Apply finished with errors"
    )
    total = ", ".join(f"{n} {s}" for s, n in counts.items() if n or s in ("failed",)) or "nothing to do"
    lines.append("")
    code = "1;31" if report.failed or report.interrupted else "1;32"
    lines.append(_paint(f"{head}: {total}.", code, colour))
    if not report.outcomes:
        lines = ["", _paint("Apply complete: nothing to do.", "1;32", colour)]
    return guard_lines("\n".join(line.rstrip() for line in lines)) + "\n"
