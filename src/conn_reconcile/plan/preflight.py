"""``plan --probe`` (pure core): which connectors to probe (those :func:`targets` names), the result
type and its rendering in every plan format, every data-derived string escaped (the caller's
redactor masks the token). The HTTP side is the edge module :mod:`conn_reconcile.api.probe`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from conn_reconcile.escape import escape, gh_data, gh_property, md_text
from conn_reconcile.model.connector import Desired
from conn_reconcile.plan.model import Action, Plan

#: an update touching one of these is probed (the connector's address or credentials change)
PROBED_PATHS: frozenset[str] = frozenset({"url", "service_auth.token", "service_auth.type", "auth_type"})


class ProbeStatus(StrEnum):
    OK = "ok"
    HTTP_STATUS = "http_status"  # an answer other than 200 (a redirect is reported, never followed)
    TIMEOUT = "timeout"
    CONNECTION_FAILED = "connection_failed"
    BAD_RESPONSE = "bad_response"  # 200, but not a JSON object with a 'results' list
    UNBOUND = "unbound"  # the token's variable is not set: nothing was sent


@dataclass(frozen=True)
class ProbeTarget:
    """A connector ``plan --probe`` sends Cohere's registration test to."""

    name: str
    file: str
    line: int | None
    url: str
    auth_type: str
    #: the variable holding the token (``DOCS_TOKEN`` for ``${DOCS_TOKEN}``)
    token_var: str


@dataclass(frozen=True)
class ProbeResult:
    """How one connector answered the registration test."""

    target: ProbeTarget
    status: ProbeStatus
    detail: str = ""
    http_status: int | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is ProbeStatus.OK

    @property
    def summary(self) -> str:
        """One phrase: ``ok``, ``HTTP 401``, ``timeout``, ``connection failed``..."""
        if self.status is ProbeStatus.HTTP_STATUS:
            head = f"HTTP {self.http_status}"
        else:
            head = self.status.value.replace("_", " ")
        return f"{head}: {self.detail}" if self.detail else head

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.target.name,
            "file": self.target.file,
            "line": self.target.line,
            "url": self.target.url,
            "auth_type": self.target.auth_type,
            "token_ref": self.target.token_var,
            "ok": self.ok,
            "status": self.status.value,
            "http_status": self.http_status,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


def targets(plan: Plan, desired: Sequence[Desired]) -> list[ProbeTarget]:
    """The connectors to probe, in plan order: what Cohere's registration test
    (:mod:`conn_reconcile.model.registration`) would test at apply: service_auth connectors being
    created or replaced, or updated in their url, token or auth type."""
    by_file = {d.file: d for d in desired}
    out: list[ProbeTarget] = []
    for change in plan.changes:
        d = by_file.get(change.file or "")
        if d is None or d.spec.service_auth is None:
            continue
        if change.action is Action.UPDATE:
            if not any(c.path in PROBED_PATHS for c in change.changes):
                continue
        elif change.action not in (Action.CREATE, Action.REPLACE):
            continue
        var = d.spec.secret_refs.get("service_auth.token")
        if var is None:
            continue
        line, _ = d.where("name")
        out.append(ProbeTarget(d.spec.name, d.file, line, d.spec.url, d.spec.service_auth.type, var))
    return out


def failed(results: Sequence[ProbeResult]) -> list[ProbeResult]:
    return [r for r in results if not r.ok]


def failure_message(results: Sequence[ProbeResult]) -> str:
    names = ", ".join(escape(r.target.name) for r in failed(results))
    return f"Error: {len(failed(results))} probe(s) failed: {names} (pass --probe-warn to report them without failing)"


def summary_line(results: Sequence[ProbeResult]) -> str:
    bad = len(failed(results))
    return f"Probes: {len(results) - bad} ok, {bad} failed."


def text_lines(results: Sequence[ProbeResult]) -> list[str]:
    if not results:
        return []
    lines = ["Preflight probes (Cohere's registration test, run now):"]
    for r in results:
        mark = "ok" if r.ok else "FAILED"
        lines.append(
            f"  {mark:<6} {escape(r.target.name)}  {escape(r.target.url)}  {escape(r.summary)} [{r.seconds:.1f}s]"
        )
    lines.append(summary_line(results))
    return lines


def markdown_lines(results: Sequence[ProbeResult]) -> list[str]:
    if not results:
        return []
    lines = ["#### Preflight probes", "", "| | connector | result |", "|---|---|---|"]
    for r in results:
        mark = ":white_check_mark:" if r.ok else ":x:"
        lines.append(f"| {mark} | {md_text(r.target.name)} | {md_text(r.summary)} |")
    lines += ["", summary_line(results), ""]
    return lines


def github_lines(results: Sequence[ProbeResult]) -> list[str]:
    lines = []
    for r in results:
        level = "notice" if r.ok else "error"
        props = [f"file={gh_property(r.target.file)}", f"line={r.target.line or 1}"]
        props.append(f"title={gh_property('conn-reconcile probe')}")
        lines.append(f"::{level} {','.join(props)}::{gh_data(f'probe {r.target.name}: {r.summary}')}")
    return lines
