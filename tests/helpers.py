"""Small builders shared by the unit tests."""

from __future__ import annotations

from typing import Any

from conn_reconcile.models import ConnectorSpec, Desired, RemoteConnector


def desired(file: str | None = None, **fields: Any) -> Desired:
    fields.setdefault("url", f"https://{fields['name']}.example.com/search")
    return Desired(ConnectorSpec.model_validate(fields), file or f"connectors/{fields['name']}.yaml", {"name": (1, 1)})


def remote(id: str, name: str, **fields: Any) -> RemoteConnector:
    fields.setdefault("url", f"https://{name}.example.com/search")
    fields.setdefault("updated_at", "2026-01-01T00:00:00Z")
    return RemoteConnector.model_validate({"id": id, "name": name, **fields})
