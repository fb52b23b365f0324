"""What a plan covers (pure core): targeting (``--target``, ``--file``), strict secrets (the
variables a plan's apply would send), and the binding of a plan file's variables."""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from conn_reconcile.errors import ConfigError
from conn_reconcile.model.binding import BoundSecrets, bind_refs, payload_refs, refuse_key_refs
from conn_reconcile.model.connector import Desired
from conn_reconcile.model.secrets import Redactor
from conn_reconcile.model.state import State
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


def check_targets(names: Sequence[str], desired: Sequence[Desired], state: State | None) -> None:
    """Refuse a ``--target`` (a name or glob) that matches no connector of the files nor of
    the state, naming the nearest name: a typo never plans "0 of N" in silence."""
    known = sorted({d.spec.name for d in desired} | {r.name for r in (state.connectors.values() if state else ())})
    problems = []
    for target in names:
        if not any(fnmatch.fnmatchcase(name, target) for name in known):
            close = difflib.get_close_matches(target, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"--target {target}: matches no connector in the files or the state{hint}")
    if problems:
        raise ConfigError("\n".join(problems))


def needed_unbound(plan: Plan, bound: BoundSecrets) -> list[str]:
    """The secrets the plan's apply would send whose variable is unset, one line each."""
    problems = []
    for c in plan.changes:
        if c.action in (Action.NOOP, Action.DELETE):
            continue
        for f in c.changes:
            if f.sensitive and f.ref and not bound.is_set(f.ref):
                line = bound.line_of(c.file or "", f.path)
                at = f"{c.file}:{line}" if line else str(c.file or c.name)
                problems.append(f"{at}: {f.path}: ${{{f.ref}}} is not set; the {c.action.value} of {c.name} sends it")
    return problems


def bind_plan(plan: Plan, env: Mapping[str, str], *, key_vars: Sequence[str], redactor: Redactor) -> BoundSecrets:
    """The variables a plan file's payloads reference, bound; the plan is refused when one is
    an API key variable of any environment."""
    refs = [ref for c in plan.changes for ref in payload_refs(c.payload or {}, name=c.name, where=c.file or c.name)]
    refuse_key_refs(refs, key_vars)
    return bind_refs(refs, env, redactor)
