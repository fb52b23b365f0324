"""Output of ``conn-reconcile config`` (every effective setting and its source), ``secrets`` (every
variable the connector files need, per environment) and ``policy`` (the rules in effect). Pure core.
None prints a secret: the API key is ``(set)``/``(unset)``, variables are named only; data-derived
strings are escaped."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conn_reconcile.config.settings import Settings
from conn_reconcile.escape import escape
from conn_reconcile.model.binding import BoundSecrets, SecretRef

if TYPE_CHECKING:
    from conn_reconcile.config.policy import Policy

#: settings listed only when they have a value
_ONLY_WHEN_SET = ("deadline",)


def _shown_value(name: str, value: Any) -> Any:
    if name == "api_key":
        return "(set)" if value else "(unset)"
    if isinstance(value, tuple):
        return list(value)
    return value


def render_config(settings: Settings, fmt: str) -> str:
    """Every setting, its value (the API key only as set/unset) and its source; the environments."""
    rows = [(n, _shown_value(n, v), src) for n, v, src in settings.rows() if v is not None or n not in _ONLY_WHEN_SET]
    environments = sorted(settings.environments)
    if fmt == "json":
        doc = {
            "settings": {n: {"value": value, "source": src} for n, value, src in rows},
            "environments": environments,
        }
        return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"
    table = [("SETTING", "VALUE", "SOURCE")]
    for n, value, src in rows:
        text = "-" if value is None else (", ".join(map(str, value)) or "[]") if isinstance(value, list) else str(value)
        text = text.lower() if isinstance(value, bool) else text
        table.append((n, escape(text), escape(src)))
    width = [max(len(r[i]) for r in table) for i in range(2)]
    lines = [f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]}".rstrip() for r in table]
    if environments:
        lines.append(f"\nEnvironments: {', '.join(escape(e) for e in environments)}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class EnvNeeds:
    """The variables one environment needs: its API key's and the connector secrets' (bound)."""

    environment: str | None
    api_key_env: str
    secrets: BoundSecrets

    @property
    def uses(self) -> list[SecretRef]:
        return sorted(self.secrets.refs, key=lambda r: (r.var, r.file, r.path))


def render_secrets(envs: Sequence[EnvNeeds], fmt: str, keys_set: Collection[str]) -> str:
    """Per environment, whether its API key variable is set (``keys_set``) and each variable its
    connectors reference. ``text``, ``json``, or ``github-env``: one ``NAME: ${{ secrets.NAME }}`` line per variable
    (API keys and connector secrets of every environment listed, each once, sorted), ready to
    paste into a workflow step's ``env:`` block."""
    if fmt == "github-env":
        names = sorted({e.api_key_env for e in envs} | {u.var for e in envs for u in e.uses})
        return "".join(f"{n}: ${{{{ secrets.{n} }}}}\n" for n in names)
    if fmt == "json":
        doc = {"environments": [_env_doc(e, keys_set) for e in envs]}
        return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"
    lines: list[str] = []
    for e in envs:
        title = f"environment {escape(e.environment)}" if e.environment is not None else "connector files"
        state = "set" if e.api_key_env in keys_set else "unset"
        lines.append(f"{title}: API key in {e.api_key_env} ({state})")
        if not e.uses:
            lines.append("  (no secret variables)")
        width = max((len(u.var) for u in e.uses), default=0)
        for u in e.uses:
            at = f"{u.file}:{u.line}" if u.line else u.file
            status = "set" if e.secrets.is_set(u.var) else "unset"
            lines.append(f"  {u.var:<{width}}  {status:<5}  {escape(at)} {u.path}")
    return "\n".join(lines) + "\n"


def _env_doc(e: EnvNeeds, keys_set: Collection[str]) -> dict[str, Any]:
    variables: dict[str, list[dict[str, Any]]] = {}
    for u in e.uses:
        variables.setdefault(u.var, []).append({"file": u.file, "line": u.line, "field": u.path})
    return {
        "environment": e.environment,
        "api_key_env": e.api_key_env,
        "api_key_set": e.api_key_env in keys_set,
        "variables": [{"name": n, "set": e.secrets.is_set(n), "uses": v} for n, v in sorted(variables.items())],
    }


def render_policy(policy: Policy | None, environment: str | None, environments: Sequence[str], fmt: str) -> str:
    """The policy rules in effect in ``environment`` (None: the top level's), each with its value
    and where it is set (``a + b`` for a list an environment adds to), as a table or JSON."""
    from conn_reconcile.config.policy import NOT_SET, RULES

    def value(rule: str) -> Any:
        found = policy.value(rule) if policy is not None else None
        return list(found) if isinstance(found, tuple) else found

    def source(rule: str) -> str:
        return policy.source(rule) if policy is not None else NOT_SET

    if fmt == "json":
        doc = {
            "environment": environment,
            "rules": {r: {"value": value(r), "source": source(r)} for r in RULES},
            "environments": list(environments),
        }
        return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"
    where = f"in environment {escape(environment)}" if environment is not None else "at the top level"
    hint = (
        f"\nEnvironments: {', '.join(map(escape, environments))} (--env NAME: the rules in one)" if environments else ""
    )
    if policy is None:
        return f"No policy rules are set {where}.{hint}\n"
    table = [("RULE", "VALUE", "SOURCE")]
    for rule in RULES:
        shown = value(rule)
        text = "-" if shown is None else ", ".join(shown) if isinstance(shown, list) else str(shown)
        table.append((rule, escape(text.lower() if isinstance(shown, bool) else text), escape(source(rule))))
    width = [max(len(r[i]) for r in table) for i in range(2)]
    lines = [f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]}".rstrip() for r in table]
    title = f"Policy rules {where}" + ("" if environment is not None else " (no environment selected)") + ":"
    return "\n".join([title, *lines]) + hint + "\n"
