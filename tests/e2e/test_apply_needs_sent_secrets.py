"""``apply`` requires the secrets the plan sends, and only those, on every apply path (``apply``,
``apply PLANFILE``, ``apply --reviewed-plan``): after an import, the placeholders of secrets the API
never returns do not stop an apply that sends none of them. The CLI against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e import CLIENT_SECRET, count

pytestmark = pytest.mark.e2e

OAUTH = {
    "client_id": "drive-client",
    "client_secret": CLIENT_SECRET,
    "authorize_url": "https://accounts.example.com/auth",
    "token_url": "https://accounts.example.com/token",
}


@pytest.fixture
def imported(project):
    """An org holding one OAuth connector, imported: its file references ${GDRIVE_CLIENT_SECRET},
    which is not set."""
    project.emulator.seed({"name": "gdrive", "url": f"{project.endpoint_url}/gdrive/search", "oauth": OAUTH})
    run = project.run("import", "--dir", "connectors")
    assert run.code == 0, run.both
    assert "${GDRIVE_CLIENT_SECRET}" in (project.connectors / "gdrive.yaml").read_text()
    plan = project.run("plan")
    assert plan.code == 0, plan.both
    assert "No changes." in plan.out and "unbound: ${GDRIVE_CLIENT_SECRET}" in plan.out
    return project


def test_apply_after_an_import_needs_no_secret_it_does_not_send(imported):
    project = imported
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.both
    assert "GDRIVE_CLIENT_SECRET" not in applied.err
    assert count(project, "PATCH", f"/v1/connectors/{project.emulator.connectors[0]['id']}") == 0

    project.run("plan", "--out", "p.json")
    reviewed = project.run("apply", "--auto-approve", "--reviewed-plan", "p.json")
    assert reviewed.code == 0, reviewed.both
    saved = project.run("apply", "p.json")
    assert saved.code == 0, saved.both


def test_apply_still_refuses_a_secret_it_would_send_unset_before_any_write(imported):
    project = imported
    project.write("wiki.yaml", project.connector("wiki", service_auth={"type": "bearer", "token": "${WIKI_TOKEN}"}))
    expected = "connectors/wiki.yaml:5: service_auth.token: ${WIKI_TOKEN} is not set; the create of wiki sends it"
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8").split())
    assert expected in readme  # the README's example is this error
    for args in (("apply", "--auto-approve"), ("apply", "--auto-approve", "--target", "wiki")):
        refused = project.run(*args)
        assert refused.code == 1, refused.both
        assert expected in refused.err
        assert "GDRIVE_CLIENT_SECRET" not in refused.err  # not sent: not asked for
    assert count(project, "POST") == 0 and [c["name"] for c in project.emulator.connectors] == ["gdrive"]
