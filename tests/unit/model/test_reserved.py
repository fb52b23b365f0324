"""A connector secret may not reference the Cohere API key, the API URL or CI variables: a
validate error at the field's file:line:col (never the value), and nothing is ever sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from conn_reconcile.cli.main import cli
from conn_reconcile.model.connector import parse_spec

RESERVED = [
    "CO_API_KEY",
    "CO_API_URL",
    "CONN_RECONCILE_FINGERPRINT_KEY",
    "CONN_RECONCILE_X",
    "GITHUB_TOKEN",
    "GITHUB_X",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "RUNNER_TEMP",
    "github_token",
    "Co_Api_Key",
]
ALLOWED = ["CO_API_KEY_FOR_DOCS", "MY_CO_API_KEY", "GITHUBX", "DOCS_TOKEN", "RUNNERS", "CONN_TOKEN"]
MESSAGE = "is reserved: a connector secret may not reference the Cohere API key or CI variables"


def service(var: str) -> str:
    return f"name: docs\nurl: https://docs.example.com/s\nservice_auth:\n  type: bearer\n  token: ${{{var}}}\n"


def oauth(var: str) -> str:
    return (
        "name: drive\nurl: https://drive.example.com/s\noauth:\n  client_id: c\n"
        f"  client_secret: ${{{var}}}\n  authorize_url: https://a.example.com/a\n"
        "  token_url: https://a.example.com/t\n"
    )


@pytest.mark.parametrize("var", RESERVED)
@pytest.mark.parametrize(
    ("body", "where"),
    [(service, "5:3: service_auth.token"), (oauth, "5:3: oauth.client_secret")],
    ids=["service_auth", "oauth"],
)
def test_validate_refuses_reserved_variables_at_the_field(tmp_path: Path, var: str, body, where: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(body(var), encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)], env={var: "CANARY-reserved-value"})
    assert result.exit_code == 1, result.output
    assert f"{path}:{where}: ${{{var}}} {MESSAGE}" in result.output
    assert "CANARY" not in result.output


@pytest.mark.parametrize("var", ALLOWED)
def test_other_variables_are_fine(var: str) -> None:
    spec, problems = parse_spec(
        {"name": "d", "url": "https://d.example.com", "service_auth": {"type": "bearer", "token": f"${{{var}}}"}}
    )
    assert problems == [] and spec is not None


@pytest.mark.e2e
def test_plan_and_apply_never_send_the_api_key_to_a_connector(project) -> None:
    project.write("docs.yaml", project.connector("docs", service_auth={"type": "bearer", "token": "${CO_API_KEY}"}))
    for command in (("validate",), ("plan",), ("apply", "--auto-approve")):
        run = project.run(*command)
        assert run.code == 1, run.both
        assert "docs.yaml:5:3: service_auth.token: ${CO_API_KEY} is reserved" in run.err
    assert project.emulator.connectors == [] and project.endpoint.queries == []
