"""import writes only inside --dir: hostile remote ids and names never pick a path, collisions
get a stable hash, symlinks are never written through. The API is an httpx.MockTransport
behind the real CohereClient (the emulator only stores the ids it generates)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from ruamel.yaml import YAML

from conn_reconcile.api.client import CohereClient
from conn_reconcile.config.settings import Settings
from conn_reconcile.errors import RefusedError
from conn_reconcile.model.connector import RemoteConnector
from conn_reconcile.workflows.importer import file_names, import_connectors
from conn_reconcile.workflows.session import Session

# Hostile names (ids that are not the API's id shape never get this far: see the last test)
HOSTILE = [
    {"id": "x-1", "name": "../../etc/x"},
    {"id": "y-1", "name": "etc x"},  # same slug: the old fallback used the id as file name
    {"id": "passwd-1", "name": "/etc/passwd"},
    {"id": "dots-1", "name": ".."},
    {"id": "win-1", "name": "C:\\Windows\\x"},
    {"id": "evil-1", "name": "evil\x1b]0;pwned\x07\n::error::x"},
    {"id": "dup-1", "name": "Dup"},
    {"id": "dup-2", "name": "dup"},
    {"id": "nul-1", "name": "NUL"},
    {"id": "long-1", "name": "x" * 5000},
]


def page(items: list[dict[str, Any]]) -> dict[str, Any]:
    full = [{"url": "https://example.com/s", "created_at": "2026-01-01T00:00:00Z", **item} for item in items]
    return {"connectors": full, "total_count": len(full)}


def session_for(items: list[dict[str, Any]]) -> Session:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", 0))
        return httpx.Response(200, json=page(items if offset == 0 else []) | {"total_count": len(items)})

    def factory(url: str, key: str, **kwargs: Any) -> CohereClient:
        return CohereClient(url, key, transport=httpx.MockTransport(handler), **kwargs)

    return Session(Settings(api_url="https://api.example.test", api_key="k" * 12), client_factory=factory)


def all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def test_hostile_ids_and_names_never_leave_the_directory(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "a" / "b" / "dir"
    written = import_connectors(session_for(HOSTILE), target)
    assert len(written) == len(HOSTILE)
    resolved = target.resolve()
    for path in written:
        assert path.resolve().parent == resolved
        assert path.name.endswith(".yaml") and "/" not in path.name and path.name.isascii()
    assert all_files(tmp_path) == {p.resolve() for p in written}  # nothing anywhere else
    names = {p.name for p in written}
    assert "etc-passwd.yaml" in names and "nul-connector.yaml" in names
    assert len([n for n in names if n.startswith("etc-x-")]) == 2
    dups = sorted(n for n in names if n.startswith("dup-"))
    assert len(dups) == 2 and all(len(n) == len("dup-") + 10 + len(".yaml") for n in dups)
    # each file is YAML with the pinned id as data (the header comment cannot be broken out of)
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert text.splitlines()[0].startswith("# Imported from the Cohere org")
        doc = YAML(typ="safe").load(text)
        assert {r["id"] for r in HOSTILE} >= {doc["id"]} and set(doc) <= {"id", "name", "url"}


def test_file_names_are_stable_and_distinct() -> None:
    remote = [RemoteConnector.model_validate({"id": r["id"], "name": r["name"]}) for r in HOSTILE]
    first = file_names(remote)
    assert first == file_names(remote) and len(set(first)) == len(first)
    assert file_names(list(reversed(remote))) == list(reversed(first))


def test_duplicate_ids_cannot_share_a_file() -> None:
    remote = [RemoteConnector.model_validate({"id": "same", "name": n}) for n in ("a", "A")]
    with pytest.raises(RefusedError, match="cannot derive distinct file names"):
        file_names(remote)


def test_a_symlink_in_the_directory_is_never_written_through(tmp_path: Path) -> None:
    target = tmp_path / "dir"
    target.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (target / "docs.yaml").symlink_to(victim)
    session = session_for([{"id": "docs-1", "name": "docs"}])
    for overwrite in (False, True):
        with pytest.raises(RefusedError, match="symlink"):
            import_connectors(session, target, overwrite=overwrite)
    assert victim.read_text() == "keep me" and (target / "docs.yaml").is_symlink()


def test_a_dangling_symlink_counts_as_existing(tmp_path: Path) -> None:
    target = tmp_path / "dir"
    target.mkdir()
    os.symlink(tmp_path / "nowhere" / "x", target / "docs.yaml")
    with pytest.raises(RefusedError, match="symlink"):
        import_connectors(session_for([{"id": "docs-1", "name": "docs"}]), target)
    assert not (tmp_path / "nowhere").exists()


def test_placeholders_stay_out_of_reserved_variables(tmp_path: Path) -> None:
    items = [
        {"id": "gh-1", "name": "github", "auth_type": "service_auth"},
        {
            "id": "rn-1",
            "name": "runner",
            "oauth": {
                "client_id": "c",
                "authorize_url": "https://a.example.com/a",
                "token_url": "https://a.example.com/t",
            },
        },
    ]
    import_connectors(session_for(items), tmp_path / "c")
    assert "token: ${C_GITHUB_TOKEN}" in (tmp_path / "c" / "github.yaml").read_text()
    assert "client_secret: ${C_RUNNER_CLIENT_SECRET}" in (tmp_path / "c" / "runner.yaml").read_text()


@pytest.mark.parametrize("bad_id", ["../../../x", "/etc/passwd", "..", "a\\..\\..\\b", "evil\n"])
def test_a_hostile_id_stops_import_before_anything_is_written(tmp_path: Path, bad_id: str) -> None:
    from conn_reconcile.errors import ApiError

    target = tmp_path / "dir"
    with pytest.raises(ApiError, match="not a valid connector list"):
        import_connectors(session_for([{"id": bad_id, "name": "x"}]), target)
    assert all_files(tmp_path) == set()
