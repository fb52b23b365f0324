"""Secret references: resolution at apply time, and keyed fingerprints for rotation detection.

Files hold ``${VAR}`` references only. Values are read from an environment mapping when a
request is about to be sent (or, when rotation detection is on, to fingerprint them at plan
time) and are never stored: the state file keeps HMAC-SHA256 fingerprints keyed with
``CONN_RECONCILE_FINGERPRINT_KEY``, which is itself never stored. Pure core.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from conn_reconcile.errors import SecretError
from conn_reconcile.models import env_ref_name

FINGERPRINT_KEY_VAR = "CONN_RECONCILE_FINGERPRINT_KEY"
FINGERPRINT_PREFIX = "hmac-sha256:"


def _walk(payload: Mapping[str, Any], path: str) -> tuple[dict[str, Any], str] | None:
    *parents, leaf = path.split(".")
    node: Any = payload
    for part in parents:
        node = node.get(part) if isinstance(node, Mapping) else None
    if isinstance(node, dict) and isinstance(node.get(leaf), str):
        return node, leaf
    return None


def lookup(env: Mapping[str, str], var: str, *, where: str, field: str) -> str:
    value = env.get(var)
    if value is None or value == "":
        state = "not set" if value is None else "empty"
        raise SecretError(f"{where}: {field}: environment variable {var} is {state}")
    return value


def resolve_payload(
    payload: Mapping[str, Any], env: Mapping[str, str], *, where: str, paths: tuple[str, ...]
) -> dict[str, Any]:
    """A deep copy of ``payload`` with each ``${VAR}`` at ``paths`` replaced by its value.

    ``where`` names the file (or connector) for the error message. The returned dict holds
    real secrets: hand it straight to the client and drop it.
    """
    out = copy.deepcopy(dict(payload))
    for path in paths:
        found = _walk(out, path)
        if found is None:
            continue
        node, leaf = found
        var = env_ref_name(node[leaf])
        if var is not None:
            node[leaf] = lookup(env, var, where=where, field=path)
    return out


def secret_values(payload: Mapping[str, Any], env: Mapping[str, str], paths: tuple[str, ...]) -> list[str]:
    """The values the references in ``payload`` resolve to (those that are set): for the redactor."""
    values = []
    for path in paths:
        found = _walk(payload, path)
        if found is not None:
            var = env_ref_name(found[0][found[1]])
            if var and env.get(var):
                values.append(env[var])
    return values


def fingerprint(key: str, value: str) -> str:
    """A keyed fingerprint of a secret value; without the key it reveals nothing."""
    digest = hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
    return FINGERPRINT_PREFIX + digest
