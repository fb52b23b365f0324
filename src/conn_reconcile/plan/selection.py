"""What a plan covers (pure core): targeting (``--target``, ``--file``), strict secrets (the
variables a plan's apply would send), and the API key variables no connector may reference."""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from conn_reconcile.errors import ConfigError, RefusedError
from conn_reconcile.model.connector import SECRET_PATHS, Desired, env_ref_name, get_path
from conn_reconcile.plan.model import Action, Plan, PlanOptions


def scope(
    options: PlanOptions, desired: Sequence[Desired], names: Sequence[str], files: Sequence[str | Path]
) -> tuple[PlanOptions, dict[str, object] | None]:
    """``--target NAME|GLOB`` and ``--file PATH``: the options limited to them, and ``meta.targets``."""
    if not names and not files:
        return options, None
    by_path = {os.path.normpath(d.file): d for d in desired}
    patterns = list(names)
    for f in files:
        d = by_path.get(os.path.normpath(f))
        if d is None:
            raise ConfigError(f"--file {f}: not a connector file that was loaded (check --dir, --env and exclude)")
        patterns.append(glob.escape(d.spec.name))
    scoped = dataclasses.replace(options, targets=tuple(patterns))
    planned = sum(1 for d in desired if scoped.targeted(d.spec.name))
    meta = {"names": list(names), "files": [str(f) for f in files], "planned": planned, "total": len(desired)}
    return scoped, meta


def needed_unbound(plan: Plan, desired: Sequence[Desired], env: Mapping[str, str]) -> list[str]:
    """The secrets the plan's apply would send whose variable is unset, one line each."""
    by_file = {d.file: d for d in desired}
    problems = []
    for c in plan.changes:
        if c.action in (Action.NOOP, Action.DELETE):
            continue
        for f in c.changes:
            if f.sensitive and f.ref and not env.get(f.ref):
                d = by_file.get(c.file or "")
                line = d.where(f.path)[0] if d is not None else None
                at = f"{c.file}:{line}" if line else str(c.file or c.name)
                problems.append(f"{at}: {f.path}: ${{{f.ref}}} is not set; the {c.action.value} of {c.name} sends it")
    return problems


def check_plan_key_refs(plan: Plan, key_vars: Sequence[str]) -> None:
    """A plan file may not send an API key variable of any environment as a connector secret."""
    keys = {v.upper() for v in key_vars}
    for c in plan.changes:
        for path in SECRET_PATHS:
            value = get_path(c.payload or {}, path)
            name = env_ref_name(value) if isinstance(value, str) else None
            if name is not None and name.upper() in keys:
                raise RefusedError(f"refusing the plan: {c.name} {path} references ${{{name}}}, an API key variable")
