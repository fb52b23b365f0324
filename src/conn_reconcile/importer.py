"""``conn-reconcile import``: write one YAML file per remote connector.

Each file pins the connector's ``id`` (so a later rename is a PATCH, never a delete) and
holds ``${VAR}`` placeholders for the write-only secrets, which the API never returns.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conn_reconcile.errors import RefusedError
from conn_reconcile.models import RemoteConnector
from conn_reconcile.statefile import write_atomic

if TYPE_CHECKING:
    from conn_reconcile.workflow import Settings


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "connector"


def env_var_base(name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "CONNECTOR"
    return base if not base[0].isdigit() else f"C_{base}"


def document(remote: RemoteConnector) -> dict[str, Any]:
    """The file content for ``remote`` (plain data, in file order)."""
    doc: dict[str, Any] = {"id": remote.id, "name": remote.name}
    if remote.description:
        doc["description"] = remote.description
    doc["url"] = remote.url
    if remote.excludes:
        doc["excludes"] = list(remote.excludes)
    if remote.active is not None:
        doc["active"] = remote.active
    if remote.continue_on_failure is not None:
        doc["continue_on_failure"] = remote.continue_on_failure
    base = env_var_base(remote.name)
    if remote.oauth is not None:
        oauth = {k: v for k, v in remote.oauth.model_dump().items() if v not in (None, "")}
        oauth["client_secret"] = f"${{{base}_CLIENT_SECRET}}"
        doc["oauth"] = oauth
    elif remote.auth_type == "service_auth":
        doc["service_auth"] = {"type": "bearer", "token": f"${{{base}_TOKEN}}"}
    return doc


def to_yaml(doc: dict[str, Any], remote: RemoteConnector) -> str:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    data = CommentedMap(doc)
    if "service_auth" in doc:
        sa = CommentedMap(doc["service_auth"])
        sa.yaml_add_eol_comment("the API does not return the type: check it", "type")
        data["service_auth"] = sa
    yaml = YAML()
    yaml.default_flow_style = False
    buf = io.StringIO()
    buf.write(f"# Imported from the Cohere org by conn-reconcile (connector {remote.id}).\n")
    yaml.dump(data, buf)
    return buf.getvalue()


def import_connectors(settings: Settings, directory: Path, *, overwrite: bool = False) -> list[Path]:
    with settings.client() as client:
        remote = client.list_connectors()
    names = [_slug(r.name) for r in remote]
    planned: list[tuple[Path, RemoteConnector]] = []
    for r, slug in zip(remote, names, strict=True):
        stem = slug if names.count(slug) == 1 else r.id
        planned.append((directory / f"{stem}.yaml", r))
    existing = [str(p) for p, _ in planned if p.exists()]
    if existing and not overwrite:
        raise RefusedError(f"refusing to overwrite existing files (pass --overwrite): {', '.join(existing)}")
    written = []
    for path, r in sorted(planned, key=lambda pr: str(pr[0])):
        write_atomic(path, to_yaml(document(r), r))
        written.append(path)
    return written
