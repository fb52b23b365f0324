"""``conn-reconcile import``: one YAML file per remote connector, its ``id`` pinned and
``${VAR}`` placeholders for the secrets; remote data never chooses where a file goes.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conn_reconcile.errors import RefusedError
from conn_reconcile.escape import escape
from conn_reconcile.files.atomic import write_atomic
from conn_reconcile.model.connector import RemoteConnector, reserved_var

if TYPE_CHECKING:
    from conn_reconcile.workflows.session import Session


MAX_SLUG = 80
#: Names Windows reserves for devices, whatever the extension.
_DEVICES = frozenset({"con", "prn", "aux", "nul", *(f"{d}{i}" for d in ("com", "lpt") for i in range(1, 10))})


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower())[:MAX_SLUG].strip("-") or "connector"
    return f"{slug}-connector" if slug in _DEVICES else slug


def _id_hash(remote_id: str) -> str:
    return hashlib.sha256(remote_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def env_var_base(name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "CONNECTOR"
    return base if not base[0].isdigit() else f"C_{base}"


def _placeholder(base: str, suffix: str) -> str:
    """``${BASE_SUFFIX}``, moved out of the reserved namespaces (``GITHUB_*``...) when needed."""
    var = f"{base}_{suffix}"
    return f"${{C_{var}}}" if reserved_var(var) else f"${{{var}}}"


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
        oauth["client_secret"] = _placeholder(base, "CLIENT_SECRET")
        doc["oauth"] = oauth
    elif remote.auth_type == "service_auth":
        doc["service_auth"] = {"type": "bearer", "token": _placeholder(base, "TOKEN")}
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
    # the id is remote data: escaped, it cannot end the comment line and inject YAML
    buf.write(f"# Imported from the Cohere org by conn-reconcile (connector {escape(remote.id)}).\n")
    yaml.dump(data, buf)
    return buf.getvalue()


def file_names(remote: list[RemoteConnector]) -> list[str]:
    """One distinct, safe file name per connector: its slug, or slug + a hash of the id when
    slugs collide (case-insensitively; slugs are lower case)."""
    slugs = [_slug(r.name) for r in remote]
    clashes = Counter(slugs)
    stems = [slug if clashes[slug] == 1 else f"{slug}-{_id_hash(r.id)}" for r, slug in zip(remote, slugs, strict=True)]
    repeated = sorted(stem for stem, n in Counter(stems).items() if n > 1)
    if repeated:
        raise RefusedError(f"cannot derive distinct file names (duplicate connector ids?): {', '.join(repeated)}")
    return [f"{stem}.yaml" for stem in stems]


def target(root: Path, file_name: str) -> Path:
    """``root/file_name``, refused unless it is directly inside ``root`` (already resolved)
    and not a symlink (which could point anywhere)."""
    path = root / file_name
    if path.is_symlink():
        raise RefusedError(f"refusing to write through a symlink: {path}")
    if path.parent != root or path.resolve(strict=False).parent != root:
        raise RefusedError(f"refusing to write outside {root}: {escape(file_name)}")
    return path


def import_connectors(session: Session, directory: Path, *, overwrite: bool = False) -> list[Path]:
    with session.client() as client:
        remote = client.list_connectors()
    root = directory.resolve()
    if root.exists() and not root.is_dir():
        raise RefusedError(f"{directory} is not a directory")
    planned = [(target(root, name), r) for name, r in zip(file_names(remote), remote, strict=True)]
    existing = [str(directory / p.name) for p, _ in planned if os.path.lexists(p)]
    if existing and not overwrite:
        raise RefusedError(f"refusing to overwrite existing files (pass --overwrite): {', '.join(existing)}")
    written = []
    for path, r in sorted(planned, key=lambda pr: pr[0].name):
        write_atomic(path, to_yaml(document(r), r))
        written.append(directory / path.name)
    return written
