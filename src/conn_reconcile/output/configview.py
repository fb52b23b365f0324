"""Output of ``conn-reconcile config`` (every effective setting and its source) and
``conn-reconcile secrets`` (every variable the connector files need, per environment). Pure core.

Neither ever prints a secret: the API key is shown as ``(set)``/``(unset)``, variables by
name only. Data-derived strings (file names, values from the config file) are escaped.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conn_reconcile.config.sources import Setting
from conn_reconcile.escape import escape
from conn_reconcile.model.connector import Desired

#: the order ``config`` lists settings in (anything else follows, sorted)
ORDER = (
    "config",
    "environment",
    "api_url",
    "api_key_env",
    "api_key",
    "state",
    "dir",
    "exclude",
    "prune",
    "protect",
    "max_deletes",
    "manage_prefix",
    "parallelism",
    "probe",
    "timeout",
    "deadline",
    "lock_timeout",
)


def _shown_value(name: str, value: Any) -> Any:
    if name == "api_key":
        return "(set)" if value else "(unset)"
    if isinstance(value, tuple):
        return list(value)
    return value


def render_config(settings: Mapping[str, Setting], environments: Sequence[str], fmt: str) -> str:
    names = [n for n in ORDER if n in settings] + sorted(set(settings) - set(ORDER))
    if fmt == "json":
        doc = {
            "settings": {n: {"value": _shown_value(n, settings[n].value), "source": settings[n].source} for n in names},
            "environments": list(environments),
        }
        return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"
    rows = [("SETTING", "VALUE", "SOURCE")]
    for n in names:
        value = _shown_value(n, settings[n].value)
        text = "-" if value is None else (", ".join(map(str, value)) or "[]") if isinstance(value, list) else str(value)
        text = text.lower() if isinstance(value, bool) else text
        rows.append((n, escape(text), escape(settings[n].source)))
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    lines = [f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]}".rstrip() for r in rows]
    if environments:
        lines.append(f"\nEnvironments: {', '.join(escape(e) for e in environments)}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Use:
    """One reference to a variable: the file, line and field that needs it."""

    var: str
    file: str
    line: int | None
    field: str


@dataclass(frozen=True)
class EnvNeeds:
    """The variables one environment needs: its API key's and the connector secrets'."""

    environment: str | None
    api_key_env: str
    uses: tuple[Use, ...]


def uses_of(desired: Sequence[Desired]) -> tuple[Use, ...]:
    out = []
    for d in desired:
        for path, var in sorted(d.spec.secret_refs().items()):
            out.append(Use(var, d.file, d.where(path)[0], path))
    return tuple(sorted(out, key=lambda u: (u.var, u.file, u.field)))


def render_secrets(envs: Sequence[EnvNeeds], fmt: str, set_vars: Collection[str]) -> str:
    """``text``, ``json``, or ``github-env``: one ``NAME: ${{ secrets.NAME }}`` line per variable
    (API keys and connector secrets of every environment listed, each once, sorted), ready to
    paste into a workflow step's ``env:`` block."""
    if fmt == "github-env":
        names = sorted({e.api_key_env for e in envs} | {u.var for e in envs for u in e.uses})
        return "".join(f"{n}: ${{{{ secrets.{n} }}}}\n" for n in names)
    if fmt == "json":
        doc = {"environments": [_env_doc(e, set_vars) for e in envs]}
        return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"
    lines: list[str] = []
    for e in envs:
        title = f"environment {escape(e.environment)}" if e.environment is not None else "connector files"
        state = "set" if e.api_key_env in set_vars else "unset"
        lines.append(f"{title}: API key in {e.api_key_env} ({state})")
        if not e.uses:
            lines.append("  (no secret variables)")
        width = max((len(u.var) for u in e.uses), default=0)
        for u in e.uses:
            at = f"{u.file}:{u.line}" if u.line else u.file
            status = "set" if u.var in set_vars else "unset"
            lines.append(f"  {u.var:<{width}}  {status:<5}  {escape(at)} {u.field}")
    return "\n".join(lines) + "\n"


def _env_doc(e: EnvNeeds, set_vars: Collection[str]) -> dict[str, Any]:
    variables: dict[str, list[dict[str, Any]]] = {}
    for u in e.uses:
        variables.setdefault(u.var, []).append({"file": u.file, "line": u.line, "field": u.field})
    return {
        "environment": e.environment,
        "api_key_env": e.api_key_env,
        "api_key_set": e.api_key_env in set_vars,
        "variables": [{"name": n, "set": n in set_vars, "uses": v} for n, v in sorted(variables.items())],
    }
