"""Connector files in environments (pure core): ``environments: [staging]``, ``${vars.NAME}`` in
non-secret fields and per-environment overrides, applied by :func:`prepare` before the model,
each checked to name a connector of its environment (:func:`unknown_overrides`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from conn_reconcile.config.sources import CONFIG_NAME, EnvContext
from conn_reconcile.errors import Diagnostic
from conn_reconcile.model.connector import SECRET_PATHS, locate

ENVIRONMENTS_KEY = "environments"
VARS_MARK = "${vars."
VARS_RE = re.compile(r"\$\{vars\.([^}]*)\}")


def prepare(
    data: dict[str, Any], locations: Mapping[str, tuple[int, int]], file: str, ctx: EnvContext
) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    """The file's data as the connector is in ``ctx``'s environment; None (and no problem)
    when the connector does not exist there. Problems are located at ``file:line:col``.

    :func:`prepare` turns the raw data of one file into what the connector is in one
    environment, before the strict model sees it: the ``environments`` key is taken out (it is
    not part of the API's body, so never of a payload or a diff), vars are substituted and the
    environment's overrides merged in. Secrets stay ``${VAR}`` environment references: a
    ``${vars.X}`` in a secret field is an error.
    """
    problems: list[Diagnostic] = []

    def problem(path: str, message: str) -> None:
        line, col = locate(locations, path)
        problems.append(Diagnostic(file, line, col, path or None, message))

    data = dict(data)
    if ENVIRONMENTS_KEY in data:
        only = _environments(data.pop(ENVIRONMENTS_KEY), ctx, problem)
        if only is not None and ctx.name is not None and ctx.name not in only:
            return None, problems
    data = _substitute(data, "", ctx, problem)
    name = data.get("name")
    if ctx.name is not None and isinstance(name, str) and name in ctx.overrides:
        data = merge(data, ctx.overrides[name].model_dump(exclude_none=True))
    return data, problems


def _environments(value: Any, ctx: EnvContext, problem: Any) -> list[str] | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        problem(ENVIRONMENTS_KEY, "expected a non-empty list of environment names")
        return None
    if not ctx.known:
        problem(ENVIRONMENTS_KEY, "no environments are defined in conn-reconcile.yaml")
        return None
    for i, name in enumerate(value):
        if name not in ctx.known:
            problem(f"{ENVIRONMENTS_KEY}.{i}", f"unknown environment {name!r} (defined: {', '.join(ctx.known)})")
    return list(value)


def _substitute(value: Any, path: str, ctx: EnvContext, problem: Any) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, f"{path}.{k}" if path else k, ctx, problem) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, f"{path}.{i}" if path else str(i), ctx, problem) for i, v in enumerate(value)]
    if not isinstance(value, str) or VARS_MARK not in value:
        return value
    if path in SECRET_PATHS:
        problem(path, "${vars.NAME} is not allowed in a secret field; reference an environment variable: ${VAR}")
        return value

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in ctx.vars:
            return ctx.vars[name]
        if ctx.name is None:
            where = "no environment is selected" if ctx.known else "conn-reconcile.yaml defines no environments"
            problem(path, f"unknown variable ${{vars.{name}}}: {where}")
        else:
            problem(path, f"unknown variable ${{vars.{name}}} in environment {ctx.name!r}")
        return m.group(0)

    return VARS_RE.sub(one, value)


def merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` merged into ``base``: mappings key by key, anything else replaced."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def unknown_overrides(ctx: EnvContext, names: Collection[str]) -> list[Diagnostic]:
    """An override of ``ctx``'s environment keyed by a name that none of the connectors
    ``names`` (as they are in that environment) has: an error at its key in conn-reconcile.yaml,
    with the closest name."""
    problems = []
    for key in ctx.overrides:
        if key in names:
            continue
        import difflib  # only for a misspelled key

        close = difflib.get_close_matches(key, sorted(names), n=1, cutoff=0.6) or sorted(n for n in names if key in n)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        file, line, col = ctx.override_at.get(key, (CONFIG_NAME, None, None))
        problems.append(
            Diagnostic(
                file,
                line,
                col,
                f"environments.{ctx.name}.overrides.{key}",
                f"no connector is named {key!r} in environment {ctx.name!r}{hint}; overrides are keyed by the "
                "connector's name in that environment, after ${vars.NAME} substitution",
            )
        )
    return problems


def needs_environments(raw: bytes) -> bool:
    """Whether a file's bytes may use vars or environments (the fast path skips the walk)."""
    return b"${vars." in raw or ENVIRONMENTS_KEY.encode() in raw
