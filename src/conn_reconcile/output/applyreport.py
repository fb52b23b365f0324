"""What ``apply --format text|json|markdown|github`` prints about an apply (pure core): the JSON
document of docs/apply-format.md, the job-summary section, an ``::error`` annotation per failed
connector, and the progress lines. Every data-derived string is escaped here; secrets are masked
by the caller's redactor (and, in JSON, here too)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from conn_reconcile import __version__
from conn_reconcile.apply.results import ApplyReport, Status
from conn_reconcile.escape import gh_data, gh_property, guard_lines, md_text
from conn_reconcile.model.secrets import Redactor

APPLY_FORMAT_VERSION = 1
#: the statuses counted in ``totals``, in the order the summary line names them
TOTALS: tuple[Status, ...] = (
    Status.CREATED,
    Status.UPDATED,
    Status.REPLACED,
    Status.DELETED,
    Status.FAILED,
    Status.UNKNOWN,
    Status.SKIPPED,
)
#: a job summary section (and a comment) must stay under GitHub's 65,536 characters
MARKDOWN_MAX_CHARS = 65_000


def headline(report: ApplyReport) -> str:
    if not report.outcomes:
        return "Apply complete: nothing to do."
    head = (
        "Apply interrupted"
        if report.interrupted
        else "Apply finished with errors"
        if report.failed
        else "Apply complete"
    )
    counts = {s.value: report.count(s) for s in TOTALS}
    total = ", ".join(f"{n} {s}" for s, n in counts.items() if n or s == "failed")
    return f"{head}: {total}."


def apply_document(report: ApplyReport) -> dict[str, Any]:
    """The versioned document of docs/apply-format.md (schema: docs/apply.schema.json)."""
    return {
        "format_version": APPLY_FORMAT_VERSION,
        "tool": {"name": "conn-reconcile", "version": __version__},
        "outcomes": [o.to_dict() for o in report.outcomes],
        "totals": {s.value: report.count(s) for s in TOTALS},
        "exit_code": int(report.exit_code),
        "interrupted": report.interrupted,
        "abandoned": report.abandoned,
    }


def render_apply_json(report: ApplyReport, *, redactor: Redactor | None = None) -> str:
    """ASCII-only JSON (controls and invisible characters as ``\\uXXXX``), ``##[`` defused."""
    redact = redactor or Redactor()
    text = json.dumps(apply_document(report), indent=2, ensure_ascii=True)
    return redact(text).replace("##[", "#\\u0023[") + "\n"


_ICON = {
    "created": "+",
    "updated": "~",
    "replaced": "-/+",
    "deleted": "-",
    "failed": "!",
    "unknown": "?",
    "skipped": ".",
}


def render_apply_markdown(
    report: ApplyReport, *, redactor: Redactor | None = None, max_chars: int = MARKDOWN_MAX_CHARS
) -> str:
    """A job-summary section: the headline, then a table (failures first), whole rows only (the
    CLI also appends it to ``$GITHUB_STEP_SUMMARY``)."""
    redact = redactor or Redactor()
    top = [
        "<!-- conn-reconcile-apply -->",
        "### conn-reconcile apply",
        "",
        f"**{md_text(headline(report))}** Exit code {int(report.exit_code)}.",
        "",
    ]
    ordered = sorted(report.outcomes, key=lambda o: o.ok)
    rows = [
        f"| `{_ICON.get(o.status.value, '?')}` {o.status.value} | {md_text(o.name)} | {o.action.value} | "
        f"{md_text(o.remote_id or '-')} | {o.seconds:.1f}s | {md_text(_first_line(o.message))} |"
        for o in ordered
    ]
    if rows:
        top += ["| result | connector | action | id | time | detail |", "|---|---|---|---|---:|---|"]
    out: list[str] = []
    used = 0
    budget = max_chars - 200
    for shown, line in enumerate(top + rows):
        line = guard_lines(redact(line))
        if used + len(line) + 1 > budget:
            left = len(top) + len(rows) - shown
            out += ["", f"_Truncated: {left} row(s) not shown, to stay under {max_chars} characters; see the job log._"]
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out) + "\n\n"


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else ""


def render_apply_github(
    report: ApplyReport, *, lines: Mapping[str, int] | None = None, redactor: Redactor | None = None
) -> str:
    """An ``::error`` per failed (or unknown) connector at ``file:line`` (the line of its
    ``name`` when known, else 1), then a notice with the totals."""
    redact = redactor or Redactor()
    known = lines or {}
    out = []
    for o in report.outcomes:
        if o.status not in (Status.FAILED, Status.UNKNOWN):
            continue
        props = [f"file={gh_property(o.file)}", f"line={known.get(o.file, 1)}"] if o.file else []
        props.append(f"title={gh_property(f'conn-reconcile apply: {o.action.value} {o.name} {o.status.value}')}")
        out.append(f"::error {','.join(props)}::{gh_data(f'{o.action.value} {o.name}: {o.message or o.status.value}')}")
    level = "error" if report.failed or report.interrupted else "notice"
    out.append(f"::{level} title={gh_property('conn-reconcile apply')}::{gh_data(headline(report))}")
    return redact("\n".join(out) + "\n")


def progress_line(line: str, done: int, total: int, elapsed: float) -> str:
    """A finished change's line (``render_outcome``) with ``[n/N]`` and the time so far (TTY)."""
    return f"[{done}/{total} {elapsed:5.1f}s] {line}"


def heartbeat_line(done: int, total: int, elapsed: float, quiet_for: float) -> str:
    """The line a non-TTY apply prints while a call is slow (so CI logs show it is alive)."""
    return (
        f"... still applying: {done}/{total} change(s) finished after {elapsed:.0f}s; "
        f"nothing finished in the last {quiet_for:.0f}s"
    )
