"""``conn-reconcile import``: one YAML file per remote connector (or, ``--missing``/``--only``,
per connector no file describes yet), its ``id`` pinned and ``${VAR}`` placeholders for the
secrets; remote data never chooses where a file goes, and no existing file is written.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
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


def _root(directory: Path) -> Path:
    root = directory.resolve()
    if root.exists() and not root.is_dir():
        raise RefusedError(f"{directory} is not a directory")
    return root


def _write(directory: Path, planned: list[tuple[Path, RemoteConnector]]) -> list[Path]:
    written = []
    for path, r in sorted(planned, key=lambda pr: pr[0].name):
        write_atomic(path, to_yaml(document(r), r))
        written.append(directory / path.name)
    return written


def import_connectors(session: Session, directory: Path, *, overwrite: bool = False) -> list[Path]:
    with session.client() as client:
        remote = client.list_connectors()
    root = _root(directory)
    planned = [(target(root, name), r) for name, r in zip(file_names(remote), remote, strict=True)]
    existing = [str(directory / p.name) for p, _ in planned if os.path.lexists(p)]
    if existing and not overwrite:
        raise RefusedError(
            "refusing to overwrite existing files (pass --overwrite, or --missing to import only the "
            f"connectors no file describes yet): {', '.join(existing)}"
        )
    return _write(directory, planned)


@dataclass
class Imported:
    """What ``import --missing``/``--only`` wrote, and the connectors it left out (one line each)."""

    written: list[Path]
    skipped: list[str] = field(default_factory=list)


def import_selected(session: Session, directory: Path, *, missing: bool, only: Sequence[str] = ()) -> Imported:
    """Write a file for each connector of the org that no file under ``directory`` describes
    (matched as the planner matches: pinned id, state, then name), only those named in ``only``
    when given; without ``missing`` a named connector that has a file is an error. No existing
    file is written: a file name in use gets the id's hash."""
    from conn_reconcile.plan.matching import Matcher
    from conn_reconcile.workflows.common import load_desired, load_state

    root = _root(directory)
    desired = load_desired(session, [directory], policy=False) if root.is_dir() else []  # to match, not to check
    with session.client() as client:
        remote = client.list_connectors()
    matched = Matcher(remote, load_state(session)).match_all(desired)
    described = {r.id: file for file, r in matched.items() if r is not None}
    chosen = _chosen(remote, described, only, missing)
    taken = {d.spec.name.casefold(): d.file for d in desired}
    result = Imported([])
    todo = []
    for r in chosen:
        if r.id in described:
            if only:  # named, yet already in git
                result.skipped.append(f"{escape(r.name)} is already described by {escape(described[r.id])}: skipped")
        elif r.name.casefold() in taken:
            twin = escape(taken[r.name.casefold()])
            result.skipped.append(
                f"{escape(r.name)} ({escape(r.id)}): {twin} already has that name, for another connector: skipped"
            )
        else:
            todo.append(r)
    result.written = _write(directory, _free_targets(root, todo))
    return result


def _chosen(
    remote: list[RemoteConnector], described: dict[str, str], only: Sequence[str], missing: bool
) -> list[RemoteConnector]:
    """The connectors ``--only`` names (all of them without it), checked before anything is written."""
    if not only:
        return remote
    by_name: dict[str, list[RemoteConnector]] = {}
    for r in remote:
        by_name.setdefault(r.name, []).append(r)
    problems = [f"no connector named {escape(repr(name))} in the org" for name in only if name not in by_name]
    chosen = [r for name in dict.fromkeys(only) for r in by_name.get(name, ())]
    if not missing:
        problems += [
            f"{escape(r.name)} is already described by {escape(described[r.id])} (import --update rewrites it)"
            for r in chosen
            if r.id in described
        ]
    if problems:
        raise RefusedError("; ".join(problems))
    return chosen


def _free_targets(root: Path, remote: list[RemoteConnector]) -> list[tuple[Path, RemoteConnector]]:
    """A path for each connector that no file holds: its slug, or slug + a hash of its id."""
    planned = []
    for name, r in zip(file_names(remote), remote, strict=True):
        if os.path.lexists(root / name):  # a file, a symlink: never written, nor written through
            name = f"{name.removesuffix('.yaml')}-{_id_hash(r.id)}.yaml"
            if os.path.lexists(root / name):
                raise RefusedError(f"refusing to overwrite existing files: {root / name}")
        planned.append((target(root, name), r))
    repeated = sorted(str(p) for p, n in Counter(p for p, _ in planned).items() if n > 1)
    if repeated:
        raise RefusedError(f"cannot derive distinct file names: {', '.join(repeated)}")
    return planned
