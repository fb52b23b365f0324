"""docs/connector.schema.json and docs/config.schema.json: up to date with the models they are
generated from, and agreeing with them. Editors validate connector files against the checked-in
schema (their modeline); the tool validates them with the models: these tests keep the two together."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from conn_reconcile.cli.main import cli
from conn_reconcile.config.model import parse_config
from conn_reconcile.files.schema import config_json_schema, json_schema
from conn_reconcile.model.connector import parse_spec

if TYPE_CHECKING:  # imported where used: every xdist worker imports this module to collect it
    from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_FILE = ROOT / "docs" / "connector.schema.json"
REGENERATE = "conn-reconcile schema > docs/connector.schema.json"
CONFIG_SCHEMA_FILE = ROOT / "docs" / "config.schema.json"

BASE: dict[str, Any] = {
    "name": "docs",
    "url": "https://docs.example.com/search",
    "service_auth": {"type": "bearer", "token": "${DOCS_TOKEN}"},
}
OAUTH = {
    "client_id": "demo",
    "client_secret": "${DRIVE_SECRET}",
    "authorize_url": "https://accounts.example.com/auth",
    "token_url": "https://accounts.example.com/token",
}


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_checked_in_schema_is_current() -> None:
    expected = json.dumps(json_schema(), indent=2) + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == expected, (
        f"{SCHEMA_FILE.relative_to(ROOT)} is stale; regenerate it with: {REGENERATE}"
    )


def test_the_regeneration_command_prints_the_same_schema() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    assert result.output == json.dumps(json_schema(), indent=2) + "\n"


def test_connector_files_point_at_the_schema() -> None:
    files = sorted((ROOT / "connectors").glob("*.yaml"))
    assert files
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        target = first.removeprefix("# yaml-language-server: $schema=")
        assert target != first, f"{path.name}: no schema modeline on line 1"
        assert (path.parent / target).resolve() == SCHEMA_FILE, f"{path.name}: modeline points at {target}"


@pytest.mark.parametrize("path", sorted((ROOT / "connectors").glob("*.yaml")), ids=lambda p: p.name)
def test_repo_connectors_are_valid(path: Path, validator: Draft202012Validator) -> None:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == []
    assert parse_spec(data)[1] == []


CASES = [
    ("unknown field", {**BASE, "colour": "blue"}, [], "additionalProperties"),
    (
        "unknown nested field",
        {**BASE, "service_auth": {**BASE["service_auth"], "scheme": "x"}},
        ["service_auth"],
        "additionalProperties",
    ),
    ("both oauth and service_auth", {**BASE, "oauth": OAUTH}, [], "not"),
    (
        "literal service token",
        {**BASE, "service_auth": {"type": "bearer", "token": "sk-live-123"}},
        ["service_auth", "token"],
        "pattern",
    ),
    (
        "literal oauth secret",
        {"name": "drive", "url": "https://d.example.com/s", "oauth": {**OAUTH, "client_secret": "hunter2"}},
        ["oauth", "client_secret"],
        "pattern",
    ),
    (
        "reserved API key variable",
        {**BASE, "service_auth": {"type": "bearer", "token": "${CO_API_KEY}"}},
        ["service_auth", "token"],
        "pattern",
    ),
    (
        "reserved CI variable",
        {"name": "drive", "url": "https://d.example.com/s", "oauth": {**OAUTH, "client_secret": "${github_token}"}},
        ["oauth", "client_secret"],
        "pattern",
    ),
    ("missing url", {"name": "docs"}, [], "required"),
    ("non-http url", {**BASE, "url": "ftp://docs.example.com/"}, ["url"], "pattern"),
    ("string for a boolean", {**BASE, "active": "yes"}, ["active"], "anyOf"),  # boolean or null
    ("empty name", {**BASE, "name": ""}, ["name"], "pattern"),
    ("name with leading space", {**BASE, "name": " docs"}, ["name"], "pattern"),
    ("name with trailing space", {**BASE, "name": "docs "}, ["name"], "pattern"),
    ("reference in the name", {**BASE, "name": "docs-${ENV}"}, ["name"], "pattern"),
    ("url without a host", {**BASE, "url": "https://"}, ["url"], "pattern"),
    ("reference in the url", {**BASE, "url": "https://${HOST}/search"}, ["url"], "pattern"),
    ("reference in excludes", {**BASE, "excludes": ["a", "${X}"]}, ["excludes", 1], "pattern"),
    (
        "a secret in lifecycle.ignore_changes",
        {**BASE, "lifecycle": {"ignore_changes": ["description", "service_auth.token"]}},
        ["lifecycle", "ignore_changes", 1],
        "enum",
    ),
    (
        "string for prevent_destroy",
        {**BASE, "lifecycle": {"prevent_destroy": "yes"}},
        ["lifecycle", "prevent_destroy"],
        "type",
    ),
]


def test_schema_accepts_a_lifecycle(validator: Draft202012Validator) -> None:
    data = {**BASE, "lifecycle": {"prevent_destroy": True, "ignore_changes": ["description", "oauth.scope"]}}
    assert [e.message for e in validator.iter_errors(data)] == []
    assert parse_spec(data)[1] == []


@pytest.mark.parametrize(("data", "where", "keyword"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_schema_rejects_what_the_models_reject(
    data: dict[str, Any], where: list[str], keyword: str, validator: Draft202012Validator
) -> None:
    errors = list(validator.iter_errors(data))
    assert len(errors) == 1, [e.message for e in errors]
    from jsonschema.exceptions import best_match

    # Optional fields are anyOf [..., null]: best_match descends to the relevant branch.
    error = best_match(errors)
    assert (list(error.absolute_path), error.validator) == (where, keyword), error.message
    spec, problems = parse_spec(data)
    assert spec is None and problems, "the models accept what the schema rejects"


def test_unknown_field_error_names_the_field(validator: Draft202012Validator) -> None:
    (error,) = validator.iter_errors({**BASE, "colour": "blue"})
    assert "'colour'" in error.message


def _validator(path: Path) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_checked_in_config_schema_is_current() -> None:
    expected = json.dumps(config_json_schema(), indent=2) + "\n"
    assert CONFIG_SCHEMA_FILE.read_text(encoding="utf-8") == expected, (
        "docs/config.schema.json is stale; regenerate it with: "
        "conn-reconcile schema --of config > docs/config.schema.json"
    )


ENVIRONMENT = {
    "api_url": "https://api.cohere.com",
    "api_key_env": "STAGING_CO_API_KEY",
    "state": ".conn-reconcile/staging.json",
    "vars": {"docs_host": "docs.staging.example.com"},
    "overrides": {"internal-docs": {"description": "Staging copy", "oauth": {"scope": "read"}}},
}
CONFIG_CASES = [
    (
        "the README's example",
        {"dir": "connectors", "prune": True, "max_deletes": 3, "environments": {"staging": ENVIRONMENT}},
        True,
    ),
    ("empty", {}, True),
    ("unknown key", {"prnue": True}, False),
    ("string for a boolean", {"prune": "yes"}, False),
    ("negative max_deletes", {"max_deletes": -1}, False),
    ("parallelism above 64", {"parallelism": 65}, False),
    ("non-http api_url", {"api_url": "ftp://api.example.com"}, False),
    ("empty exclude glob", {"exclude": [""]}, False),
    ("bad environment name", {"environments": {"a b": {}}}, False),
    ("bad api_key_env", {"environments": {"s": {"api_key_env": "1BAD"}}}, False),
    ("bad var name", {"environments": {"s": {"vars": {"docs-host": "x"}}}}, False),
    ("reference in a var", {"environments": {"s": {"vars": {"x": "${X}"}}}}, False),
    ("override of a badly named connector", {"environments": {"s": {"overrides": {" docs": {}}}}}, False),
    ("secret in an override", {"environments": {"s": {"overrides": {"docs": {"service_auth": {}}}}}}, False),
]


@pytest.mark.parametrize(("data", "valid"), [pytest.param(*c[1:], id=c[0]) for c in CONFIG_CASES])
def test_the_config_schema_accepts_and_rejects_what_the_model_does(data: dict[str, Any], valid: bool) -> None:
    errors = [e.message for e in _validator(CONFIG_SCHEMA_FILE).iter_errors(data)]
    assert (errors == []) == valid, errors
    model, problems = parse_config(data)
    assert (model is not None) == valid, problems
