"""``import --missing`` and ``import --only NAME`` into an existing connectors directory: only the
connectors no file describes yet (matched as ``plan`` matches: pinned id, state, then name), or
the ones named, are written; every existing file is left byte for byte as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e import API_KEY, TOKEN, remote_by_name

from conn_reconcile.errors import ExitCode

pytestmark = pytest.mark.e2e

AUTH = "service_auth:\n  type: bearer\n  token: ${CONN_TOKEN}\n"
# a file of a connector not created yet, in the file the org's "wiki" would be imported into
WIKI_V2 = "# the next wiki: not applied yet\nname: wiki-v2\nurl: {url}/wiki/v2/search\n"


def _dashboard_org(project) -> dict[str, Path]:
    """docs applied from git and renamed in the dashboard since (state still matches it); wiki and
    team-drive made in the dashboard; wiki.yaml holding another, not yet created, connector."""
    project.write("docs.yaml", f"name: docs    # by hand\nurl: {project.endpoint_url}/docs/search\n{AUTH}")
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.both
    project.remote_patch(remote_by_name(project)["docs"]["id"], {"name": "handbook"})
    project.write("wiki.yaml", WIKI_V2.format(url=project.endpoint_url))
    project.emulator.seed(
        {
            "name": "wiki",
            "url": f"{project.endpoint_url}/wiki/search",
            "service_auth": {"type": "bearer", "token": TOKEN},
        }
    )
    project.emulator.seed(
        {
            "name": "team-drive",
            "url": "https://drive.example.com/search",
            "oauth": {
                "client_id": "drive-client",
                "client_secret": "s3cr3t-not-a-canary",
                "authorize_url": "https://accounts.example.com/auth",
                "token_url": "https://accounts.example.com/token",
            },
        }
    )
    return {p.name: p for p in project.connectors.iterdir()}


def _delete(project, connector_id: str) -> None:
    """Delete a connector in the dashboard (through the API)."""
    import httpx
    from helpers import LOOPBACK_SSL

    url = f"{project.api_url}/v1/connectors/{connector_id}"
    httpx.delete(url, headers={"Authorization": f"Bearer {API_KEY}"}, verify=LOOPBACK_SSL).raise_for_status()


def _snapshot(files: dict[str, Path]) -> dict[str, tuple[bytes, int]]:
    return {name: (p.read_bytes(), p.stat().st_mtime_ns) for name, p in files.items()}


def test_import_missing_writes_only_the_connectors_no_file_describes(project):
    files = _dashboard_org(project)
    before = _snapshot(files)
    wiki_id = remote_by_name(project)["wiki"]["id"]

    refused = project.run("import")
    assert refused.code == 1 and "--missing" in refused.err, refused.both
    twin = project.emulator.seed({"name": "docs", "url": "https://twin.example.com/search"})  # docs.yaml's name

    run = project.run("import", "--missing")

    assert run.code == 0, run.both
    hashed = next(
        p.name for p in project.connectors.iterdir() if p.name.startswith("wiki-") and p != files["wiki.yaml"]
    )
    assert f"wrote connectors/{hashed}" in run.out and "wrote connectors/team-drive.yaml" in run.out, run.out
    assert "Imported 2 connector(s)" in run.err, run.both
    assert f"docs ({twin['id']}): connectors/docs.yaml already has that name, for another connector: skipped" in run.err
    assert _snapshot(files) == before  # existing files untouched, byte for byte
    assert sorted(p.name for p in project.connectors.iterdir()) == sorted(
        ["docs.yaml", "wiki.yaml", hashed, "team-drive.yaml"]
    )  # the renamed docs is matched by state: no handbook.yaml
    assert f"id: {wiki_id}\nname: wiki\n" in (project.connectors / hashed).read_text()
    assert project.run("validate").code == 0

    again = project.run("import", "--missing")
    assert again.code == 0 and "wrote" not in again.out, again.both
    assert "Imported 0 connector(s)." in again.err and "connectors/docs.yaml already has that name" in again.err
    _delete(project, twin["id"])
    last = project.run("import", "--missing")
    assert last.code == 0 and "wrote" not in last.out, last.both
    assert "Imported 0 connector(s): every connector in the org has a file." in last.err, last.both
    assert _snapshot(files) == before


def test_import_only_writes_the_named_connectors(project):
    files = _dashboard_org(project)
    before = _snapshot(files)

    run = project.run("import", "--only", "team-drive")

    assert run.code == 0, run.both
    assert run.out == "wrote connectors/team-drive.yaml\n", run.out
    assert _snapshot(files) == before
    assert "name: team-drive" in (project.connectors / "team-drive.yaml").read_text()

    for name, message in [
        ("handbook", "handbook is already described by connectors/docs.yaml (import --update rewrites it)"),
        ("nope", "no connector named 'nope' in the org"),
    ]:
        refused = project.run("import", "--only", "wiki", "--only", name)
        assert refused.code == 1 and message in refused.err, refused.both
        assert sorted(p.name for p in project.connectors.iterdir()) == ["docs.yaml", "team-drive.yaml", "wiki.yaml"]

    both = project.run("import", "--missing", "--only", "team-drive", "--only", "wiki")
    assert both.code == 0, both.both
    assert "team-drive is already described by connectors/team-drive.yaml: skipped" in both.err, both.both
    assert "Imported 1 connector(s)" in both.err
    assert _snapshot(files) == before
    assert project.run("validate").code == 0


@pytest.mark.parametrize("flags", [["--overwrite"], ["--update"]])
def test_missing_and_only_never_overwrite(project, flags):
    for selection in (["--missing"], ["--only", "x"]):
        run = project.run("import", *selection, *flags)
        assert run.code == ExitCode.USAGE and "cannot be combined" in run.err, run.both
    assert not project.connectors.exists()
