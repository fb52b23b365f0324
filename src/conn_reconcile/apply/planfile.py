"""Saved plans: a versioned, secret-free JSON file that ``apply PLANFILE`` carries out exactly. A
plan file is verified, not trusted: read strictly, signed when a key is set, and checked against
the state, the apply's own safeguards and the org, so that no plan file, however edited, deletes
or adopts a connector the tool does not manage."""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import hmac
import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from conn_reconcile.errors import ConnReconcileError, RefusedError
from conn_reconcile.escape import escape
from conn_reconcile.files.atomic import write_atomic
from conn_reconcile.model.connector import RemoteConnector
from conn_reconcile.model.secrets import Redactor
from conn_reconcile.model.state import State
from conn_reconcile.plan.lifecycle import state_protects
from conn_reconcile.plan.model import (
    FORMAT_VERSION,
    Action,
    Plan,
    PlanOptions,
    ResourceChange,
    plan_document,
    remote_hash,
)

SIGNATURE_PREFIX = "hmac-sha256:"
MAX_PLAN_BYTES = 256 * 1024 * 1024


class PlanFileError(ConnReconcileError):
    """A plan file that cannot be read, is malformed, or whose signature does not match."""


def git_commit(cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else None


def stamped(plan: Plan, cwd: Path | None = None) -> Plan:
    """``plan`` with ``meta.git_commit``: the HEAD of the checkout that planned (None outside git)."""
    if plan.meta.get("git_commit") is not None:
        return plan
    return dataclasses.replace(plan, meta={**plan.meta, "git_commit": git_commit(cwd)})


def _canonical(doc: dict[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k != "signature"}
    return b"conn-reconcile plan\n" + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign(doc: dict[str, Any], key: str) -> str:
    return SIGNATURE_PREFIX + hmac.new(key.encode(), _canonical(doc), hashlib.sha256).hexdigest()


def save(path: Path, plan: Plan, redactor: Redactor, *, key: str | None = None) -> None:
    doc = redactor.data(plan_document(plan))
    if key:
        doc["signature"] = sign(doc, key)
    write_atomic(path, json.dumps(doc, indent=2) + "\n", mode=0o600)


def _read(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_PLAN_BYTES + 1)
    except FileNotFoundError:
        raise PlanFileError(f"{path}: plan file not found") from None
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read plan file: {exc.strerror}") from None
    if len(raw) > MAX_PLAN_BYTES:
        raise PlanFileError(f"{path}: not a plan file: larger than {MAX_PLAN_BYTES} bytes")
    try:
        return json.loads(raw)
    except RecursionError:
        raise PlanFileError(f"{path}: not a plan file: nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        at = exc.pos if isinstance(exc, json.JSONDecodeError) else exc.start
        raise PlanFileError(f"{path}: not a readable plan file: {type(exc).__name__} at position {at}") from None


def _check_signature(path: Path, data: dict[str, Any], key: str | None) -> None:
    signature = data.get("signature")
    if key:
        if not isinstance(signature, str):
            raise PlanFileError(
                f"{path}: the plan file is not signed, but CONN_RECONCILE_FINGERPRINT_KEY is set: "
                "refusing a plan that may have been edited (make it again with the key set)"
            )
        if not hmac.compare_digest(signature, sign(data, key)):
            raise PlanFileError(
                f"{path}: the plan file's signature does not match: it was edited, or signed with another key"
            )
    elif signature is not None:
        raise PlanFileError(f"{path}: the plan file is signed: set CONN_RECONCILE_FINGERPRINT_KEY to verify it")


def load(path: Path, *, key: str | None = None, check_signature: bool = True) -> Plan:
    """The plan in ``path``, verified (``check_signature=False`` only to display it): read into a
    strict typed model (:mod:`conn_reconcile.plan.schema`; every malformed file is one
    :class:`PlanFileError`), its HMAC signature checked when ``key`` (``CONN_RECONCILE_FINGERPRINT_KEY``)
    is set, and refused when a request body disagrees with the changes it displays."""
    data = _read(path)
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        found = data.get("format_version") if isinstance(data, dict) else None
        shown = found if isinstance(found, int) and not isinstance(found, bool) else "missing"
        raise PlanFileError(
            f"{path}: unsupported plan format_version {shown} (this conn-reconcile reads {FORMAT_VERSION})"
        )
    if check_signature:
        _check_signature(path, data, key)
    from pydantic import ValidationError

    from conn_reconcile.model.validation import first_problem
    from conn_reconcile.plan.schema import PlanDocument, payload_disagreement  # built only when a plan file is read

    try:
        PlanDocument.model_validate(data)
    except ValidationError as exc:
        count = exc.error_count()
        extra = f" (and {count - 1} more problems)" if count > 1 else ""
        raise PlanFileError(f"{path}: malformed plan file: {first_problem(exc, 'plan')}{extra}") from None
    plan = Plan.from_dict(data)
    for c in plan.changes:
        field = payload_disagreement(c)
        if field is not None:
            raise PlanFileError(
                f"{path}: the {c.action.value} of {escape(c.name)}: its payload disagrees with its displayed "
                f"changes at {escape(field)}: the plan file was edited; refusing it (nothing was sent)"
            )
    return plan


def check_made_for(plan: Plan, api_url: str, environment: str | None) -> None:
    """Refuse a plan made for another environment or API URL than this command's, the
    environment first (two environments are two orgs, often at two URLs): not a stale plan."""
    planned_env = plan.meta.get("environment")
    if planned_env != environment:
        raise RefusedError(
            f"the plan was made for environment {escape(str(planned_env or '(none)'))}, not "
            f"{environment or '(none)'}; nothing was applied (apply it with --env {escape(str(planned_env))}, "
            "or make a plan for this environment)"
            if planned_env
            else f"the plan was made without an environment, not for {environment}; nothing was applied"
        )
    planned_url = str(plan.meta.get("api_url", "")).rstrip("/")
    if planned_url != api_url.rstrip("/"):
        raise RefusedError(
            f"the plan was made against {escape(planned_url)}, not {api_url}; nothing was applied (make a plan here)"
        )


def verify(plan: Plan, state: State, options: PlanOptions) -> None:
    """Refuse a plan file whose deletes the state and the apply's own safeguards (``--prune``,
    ``--protect``, ``--max-deletes``) do not back. ``options`` are the apply command's (not the file's)."""
    problems: list[str] = []
    prunes = 0
    for c in plan.changes:
        if c.action is Action.DELETE:
            prunes += c.cause in ("prune", "twin")
            problems.extend(_delete_problems(c, state, options))
        elif c.action is Action.REPLACE and (c.prevent_destroy or state_protects(c, state)):
            problems.append(f"replace of {c.name} ({c.remote_id}): {_PROTECTED}")
    if prunes > options.max_deletes and not options.force:
        problems.append(
            f"the plan deletes {prunes} connectors, more than --max-deletes {options.max_deletes}; "
            "raise the limit or pass --force"
        )
    _refuse(problems)


def verify_targets(plan: Plan, state: State, remote: Sequence[RemoteConnector]) -> None:
    """Refuse a plan file (checked once the org is listed) whose updates, replacements or
    no-ops target a connector that is neither managed nor carries the planned name; whose
    no-op would adopt a connector (record it as managed) that is not as the plan saw it; or
    whose displayed changes, made to the connector as planned, are not what it sends."""
    by_id = {r.id: r for r in remote}
    changes = (c for c in plan.changes if c.action in (Action.UPDATE, Action.REPLACE, Action.NOOP))
    _refuse([p for c in changes for p in _target_problems(c, state, by_id)])


def _refuse(problems: list[str]) -> None:
    if problems:
        raise RefusedError("refusing the plan file; nothing was applied:\n  " + "\n  ".join(problems))


_PROTECTED = (
    "lifecycle.prevent_destroy protects it (the state records it from the last apply; "
    "apply prevent_destroy: false first)"
)


def _delete_problems(c: Any, state: State, options: PlanOptions) -> list[str]:
    what = f"delete of {c.name} ({c.remote_id})"
    intent = state.intents.get(c.intent) if c.intent else None
    protected = any(
        fnmatch.fnmatchcase(c.name, p) or fnmatch.fnmatchcase(c.remote_id or "", p) for p in options.protect
    )
    if protected:
        return [f"{what}: it is protected by --protect"]
    if c.cause in ("prune", "twin") and state_protects(c, state):
        return [f"{what}: {_PROTECTED}"]
    if c.cause == "replace":
        if intent is None or intent.op != "replace" or intent.remote_id != c.remote_id:
            return [f"{what}: no unfinished replacement in the state backs it"]
        return []
    if not options.prune:
        return [f"{what}: pass --prune to apply a plan that prunes (the plan was made with --prune)"]
    if c.cause == "twin":
        if intent is None or intent.op not in ("create", "replace"):
            return [f"{what}: no intent in the state proves this tool created it"]
        return []
    managed = c.remote_id in state.connectors or bool(
        options.manage_prefix and c.name.startswith(options.manage_prefix)
    )
    return [] if managed else [f"{what}: the state does not record it as managed by conn-reconcile"]


def _target_problems(c: ResourceChange, state: State, by_id: Mapping[str, RemoteConnector]) -> list[str]:
    what = f"{c.action.value} of {c.name} ({c.remote_id})"
    now = by_id.get(c.remote_id or "")
    managed = c.remote_id in state.connectors
    unchanged = now is not None and remote_hash(now) == c.remote_hash
    if c.action is Action.NOOP and not managed and not unchanged:
        return [
            f"{what}: it would record a connector the state does not manage as managed, but that connector "
            "is not as the plan saw it (the plan file was edited, or it changed since): plan again"
        ]
    if now is None:
        return []  # gone: the staleness check reports it
    names = {c.name} | {str(f.old) for f in c.changes if f.path == "name"}
    if not managed and now.name not in names:
        return [f"{c.action.value} of {c.name} targets {c.remote_id}, which is neither managed nor named {c.name!r}"]
    if not unchanged:
        return []  # changed since the plan: the staleness check reports it (a managed no-op is only recorded)
    from conn_reconcile.plan.diff import normalize_remote
    from conn_reconcile.plan.schema import remote_disagreement

    field = remote_disagreement(c, normalize_remote(now))
    if field is None:
        return []
    return [f"{what}: its payload disagrees with its displayed changes and the connector at {escape(field)}"]
