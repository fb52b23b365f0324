"""What the commands print about OAuth connectors (pure core): each one's ``auth_status`` for the
API key's user in a plan (text, markdown), and the ones an apply created with the command that
authorizes each. Every data-derived string is escaped here; the caller's redactor masks secrets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from conn_reconcile.apply.results import ApplyReport
from conn_reconcile.escape import escape, guard_lines, md_code, md_text
from conn_reconcile.model.secrets import Redactor
from conn_reconcile.plan.model import Action, Plan

#: a command line to print for the user to run (``Session.command``: words -> the line)
Command = Callable[..., str]
#: the API's ``auth_status`` (the spec: "valid", "expired", or omitted: not authorized yet)
STATUS_WORDS = {"valid": "valid", "expired": "expired", "": "not authorized"}
#: the most rows a markdown table lists (a PR comment has a size limit)
MARKDOWN_ROWS = 100


class Status(NamedTuple):
    """One OAuth connector of a plan: its authorization for the API key's user."""

    name: str
    remote_id: str | None
    #: in the tool's own words
    words: str
    #: an ``auth_status`` the spec does not list, as the API sent it (remote data), else ""
    unknown: str = ""
    #: the user should run ``authorize``: now (" - run"), or once the plan is applied
    then: str = " - run"


def statuses(plan: Plan) -> list[Status]:
    """The OAuth connectors a plan made now keeps, updates, replaces or creates (in plan order);
    one without its listing (a saved plan's) is left out: its status is not known."""
    out = []
    for c in plan.changes:
        if (c.applied or {}).get("auth_type") != "oauth" or c.action is Action.DELETE:
            continue
        if c.action is Action.CREATE:
            out.append(Status(c.name, None, "created by this plan, not authorized yet - after apply", then=", run"))
        elif c.action is Action.REPLACE:
            words = "replaced by this plan: its users authorize the new connector - after apply"
            out.append(Status(c.name, c.remote_id, words, then=", run"))
        elif c.remote is not None:
            out.append(_listed(c.name, c.remote_id, c.remote.auth_status or ""))
    return out


def _listed(name: str, remote_id: str | None, raw: str) -> Status:
    if raw == "valid":
        return Status(name, remote_id, "valid", then="")
    if raw in STATUS_WORDS:
        return Status(name, remote_id, STATUS_WORDS[raw])
    return Status(name, remote_id, "unknown status", unknown=raw)


def _of_whom(plan: Plan) -> str:
    snapshot = isinstance(plan.meta.get("org_snapshot"), dict)
    return "the API key's user" + (", as of the org snapshot" if snapshot else "")


def text_lines(plan: Plan, command: Command) -> list[str]:
    """The plan's OAuth connectors, one line each with what to run; none when it has none."""
    found = statuses(plan)
    if not found:
        return []
    lines = [f"OAuth connectors, authorization of {_of_whom(plan)}:"]
    for s in found:
        ident = f" ({escape(s.remote_id)})" if s.remote_id else ""
        unknown = f" {escape(repr(s.unknown))}" if s.unknown else ""
        hint = f"{s.then}: {escape(command('authorize', s.name))}" if s.then else ""
        lines.append(f"  {escape(s.name)}{ident}: {s.words}{unknown}{hint}")
    return lines


def markdown(plan: Plan, command: Command, redactor: Redactor) -> str:
    """The plan's OAuth connectors as a PR-comment section (at most :data:`MARKDOWN_ROWS` rows); ""
    when it has none."""
    found = statuses(plan)
    if not found:
        return ""
    rows = []
    for s in found[:MARKDOWN_ROWS]:
        unknown = f" {md_code(s.unknown)}" if s.unknown else ""
        hint = f"{s.then} {md_code(command('authorize', s.name))}" if s.then else ""
        rows.append(f"| {md_text(s.name)} | {s.words}{unknown}{hint} |")
    more = ["", f"_{len(found) - MARKDOWN_ROWS} more OAuth connector(s) not shown._"] if found[MARKDOWN_ROWS:] else []
    head = [f"#### OAuth authorization of {_of_whom(plan)}", "", "| connector | status |", "|---|---|"]
    return _section([*head, *rows, *more], redactor)


def created(plan: Plan, report: ApplyReport) -> list[tuple[str, str | None]]:
    """(name, id) of each OAuth connector the apply created (or created again, replacing it)."""
    new = (Action.CREATE, Action.REPLACE)
    oauth = {(c.name, c.action) for c in plan.changes if c.action in new and "oauth" in (c.payload or {})}
    return [(o.name, o.remote_id) for o in report.outcomes if o.ok and (o.name, o.action) in oauth]


_CREATED_WHY = "each user (the API key's too) authorizes them once before using them"


def created_text(found: Sequence[tuple[str, str | None]], command: Command) -> str:
    """What an apply prints after its table: each OAuth connector it created and its command."""
    if not found:
        return ""
    lines = [f"OAuth connectors created: {_CREATED_WHY}:"]
    for name, remote_id in found:
        ident = f" ({escape(remote_id)})" if remote_id else ""
        lines.append(f"  {escape(name)}{ident} - run: {escape(command('authorize', name))}")
    return guard_lines("\n".join(lines)) + "\n"


def created_markdown(found: Sequence[tuple[str, str | None]], command: Command, redactor: Redactor) -> str:
    """The same as a job-summary section (at most :data:`MARKDOWN_ROWS` rows)."""
    if not found:
        return ""
    rows = [
        f"| {md_text(name)} | {md_text(remote_id or '-')} | {md_code(command('authorize', name))} |"
        for name, remote_id in found[:MARKDOWN_ROWS]
    ]
    more = ["", f"_{len(found) - MARKDOWN_ROWS} more not shown; see the job log._"] if found[MARKDOWN_ROWS:] else []
    head = [
        "#### OAuth connectors created",
        "",
        f"{md_text(_CREATED_WHY[:1].upper() + _CREATED_WHY[1:])}:",
        "",
        "| connector | id | command |",
    ]
    return _section([*head, "|---|---|---|", *rows, *more], redactor)


def _section(lines: Sequence[str], redactor: Redactor) -> str:
    return guard_lines(redactor("\n".join(lines))) + "\n\n"
