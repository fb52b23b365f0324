"""Saved plans: a versioned, secret-free JSON file that ``apply PLANFILE`` carries out exactly."""

from __future__ import annotations

import datetime as _dt
import json
import subprocess
from pathlib import Path
from typing import Any

from conn_reconcile import __version__
from conn_reconcile.errors import ConnReconcileError
from conn_reconcile.plan import FORMAT_VERSION, Plan
from conn_reconcile.render import render_json
from conn_reconcile.secrets import Redactor
from conn_reconcile.statefile import write_atomic


class PlanFileError(ConnReconcileError):
    """A plan file that cannot be read or is of another format version."""


def git_commit(cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else None


def plan_meta(api_url: str, *, cwd: Path | None = None) -> dict[str, Any]:
    return {
        "tool_version": __version__,
        "git_commit": git_commit(cwd),
        "created_at": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "api_url": api_url.rstrip("/"),
    }


def save(path: Path, plan: Plan, redactor: Redactor) -> None:
    write_atomic(path, render_json(plan, redactor=redactor), mode=0o600)


def load(path: Path) -> Plan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFileError(f"{path}: plan file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanFileError(f"{path}: not a readable plan file: {exc}") from None
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        found = data.get("format_version") if isinstance(data, dict) else None
        raise PlanFileError(
            f"{path}: unsupported plan format_version {found!r} (this conn-reconcile reads {FORMAT_VERSION})"
        )
    try:
        return Plan.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanFileError(f"{path}: malformed plan file: {exc!r}") from None
