"""The command line, run in this process (click's CliRunner): exit codes, messages and output
formats of each command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conn_reconcile import __version__
from conn_reconcile.cli.main import cli

GOOD = "name: docs\nurl: https://docs.example.com/search\n"

BAD_INPUTS = [
    # (id, files, expected "file:line" prefix, expected message fragment)
    ("syntax", {"a.yaml": "name: a\nurl: [unclosed\n"}, "connectors/a.yaml:", "YAML"),
    ("duplicate-key", {"a.yaml": "name: a\nurl: https://a.example.com\nname: b\n"}, "connectors/a.yaml:3", "duplicate"),
    (
        "unknown-field",
        {"a.yaml": "name: a\nurl: https://a.example.com\nurll: x\n"},
        "connectors/a.yaml:3:1: urll:",
        "unknown field",
    ),
    (
        "both-auth",
        {
            "a.yaml": "name: a\nurl: https://a.example.com\nservice_auth:\n  type: bearer\n  token: ${T}\n"
            "oauth:\n  authorize_url: https://x.example.com/a\n  token_url: https://x.example.com/t\n"
        },
        "connectors/a.yaml:6:1: oauth:",
        "mutually exclusive",
    ),
    (
        "bad-type",
        {"a.yaml": "name: a\nurl: https://a.example.com\nactive: 1\n"},
        "connectors/a.yaml:3:1: active:",
        "boolean",
    ),
    (
        "yes-bool",
        {"a.yaml": "name: a\nurl: https://a.example.com\nactive: yes\n"},
        "connectors/a.yaml:3:1: active:",
        "true or false",
    ),
    ("missing-url", {"a.yaml": "name: a\ndescription: d\n"}, "connectors/a.yaml:1", "url: required field is missing"),
    (
        "duplicate-names",
        {"a.yaml": "name: same\nurl: https://a.example.com\n", "b.yaml": "name: same\nurl: https://b.example.com\n"},
        "connectors/b.yaml:1:1: name:",
        "also defined in connectors/a.yaml",
    ),
    (
        "bad-service-type",
        {"a.yaml": "name: a\nurl: https://a.example.com\nservice_auth:\n  type: digest\n  token: ${T}\n"},
        "connectors/a.yaml:4:3: service_auth.type:",
        "bearer",
    ),
    (
        "python-tag",
        {"a.yaml": "name: !!python/object:os.system a\nurl: https://a.example.com\n"},
        "connectors/a.yaml:1",
        "tag",
    ),
    ("alias", {"a.yaml": "name: &n a\nurl: https://a.example.com\ndescription: *n\n"}, "connectors/a.yaml:", "alias"),
    ("empty", {"a.yaml": "# nothing\n"}, "connectors/a.yaml", "empty"),
    ("multi-doc", {"a.yaml": GOOD + "---\n" + GOOD}, "connectors/a.yaml:", "one connector per file"),
]


def write(root, files):
    for name, text in files.items():
        path = root / "connectors" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("case,files,where,fragment", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_validate_bad_input_is_one_clear_line_and_exit_1(workdir, tmp_path, case, files, where, fragment):
    write(tmp_path, files)
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line]
    assert any(line.startswith(where) and fragment in line for line in lines), result.output


def test_validate_ok_and_default_directory(workdir, tmp_path):
    write(tmp_path, {"a.yaml": GOOD, "sub/b.yml": "name: b\nurl: https://b.example.com\n"})
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 0, result.output
    assert "2 connector file(s) valid." in result.output


def test_validate_needs_no_api_key_or_secrets(workdir, tmp_path):
    write(tmp_path, {"a.yaml": GOOD + "service_auth:\n  type: bearer\n  token: ${UNSET_TOKEN}\n"})
    result = CliRunner().invoke(cli, ["validate", "connectors"])
    assert result.exit_code == 0, result.output


def test_validate_with_no_files_is_an_error(workdir, tmp_path):
    (tmp_path / "connectors").mkdir()
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 1 and "no connector files found" in result.output


def test_literal_secret_is_rejected_without_echoing_it(workdir, tmp_path):
    canary = "CANARY-cli-literal-0b7e"
    write(tmp_path, {"a.yaml": GOOD + f"service_auth:\n  type: bearer\n  token: {canary}\n"})
    for fmt in ("text", "github", "json"):
        result = CliRunner().invoke(cli, ["validate", "--format", fmt])
        assert result.exit_code == 1
        assert canary not in result.output
        assert "literal secrets are not allowed" in result.output


def test_validate_github_format_emits_annotations(workdir, tmp_path):
    write(tmp_path, {"a.yaml": "name: a\nurl: https://a.example.com\nbogus: 1\n"})
    result = CliRunner().invoke(cli, ["validate", "--format", "github"])
    assert result.exit_code == 1
    assert "::error file=connectors/a.yaml,line=3,col=1,title=conn-reconcile%3A bogus::unknown field" in result.stdout


def test_validate_json_format(workdir, tmp_path):
    write(tmp_path, {"a.yaml": "name: a\nurl: https://a.example.com\nbogus: 1\n"})
    result = CliRunner().invoke(cli, ["validate", "--format", "json"])
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["valid"] is False and doc["errors"][0]["field"] == "bogus" and doc["errors"][0]["line"] == 3


def test_plan_without_api_key_is_a_config_error(workdir, tmp_path):
    write(tmp_path, {"a.yaml": GOOD})
    result = CliRunner().invoke(cli, ["plan"])
    assert result.exit_code == 1
    assert "no API key: set CO_API_KEY or pass --api-key" in result.output


def test_unreachable_api_is_one_line_not_a_traceback(workdir, tmp_path):
    write(tmp_path, {"a.yaml": GOOD})
    # connection refused is retried with backoff: keep the waits short (the retries still happen)
    result = CliRunner().invoke(
        cli,
        ["--api-url", "http://127.0.0.1:9", "--api-key", "CANARY-key-unreach", "plan"],
        env={"CONN_RECONCILE_BACKOFF_BASE": "0.01"},
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "CANARY-key-unreach" not in result.output
    *retries, error = result.output.strip().splitlines()
    assert error.startswith("Error: ") and len(retries) == 3
    assert all(r.startswith("conn-reconcile: GET /v1/connectors: could not connect; retrying in") for r in retries)


def test_bad_plan_file_is_a_clear_error(workdir, tmp_path):
    (tmp_path / "plan.json").write_text('{"format_version": 99, "changes": []}')
    result = CliRunner().invoke(cli, ["show", "plan.json"])
    assert result.exit_code == 1 and "unsupported plan format_version 99" in result.output
    (tmp_path / "plan.json").write_text("not json")
    result = CliRunner().invoke(cli, ["show", "plan.json"])
    assert result.exit_code == 1 and "not a readable plan file" in result.output
    (tmp_path / "plan.json").write_bytes(b'{"a": "caf\xe9"}')  # Latin-1, not UTF-8: a UnicodeDecodeError
    result = CliRunner().invoke(cli, ["show", "plan.json"])
    assert result.exit_code == 1, result.output
    assert "plan.json: not a readable plan file: UnicodeDecodeError at position 10" in result.output


def test_version_and_help(workdir):
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("validate", "plan", "apply", "show", "import", "schema", "emulator"):
        assert command in result.output


def test_schema_command_prints_json_schema(workdir):
    result = CliRunner().invoke(cli, ["schema"])
    doc = json.loads(result.output)
    assert doc["$schema"].startswith("https://json-schema.org/") and "name" in doc["required"]


def test_python_dash_m_works(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "conn_reconcile", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and __version__ in proc.stdout


def test_github_format_errors_are_annotations_on_stdout(workdir, tmp_path):
    write(tmp_path, {"a.yaml": GOOD})
    result = CliRunner().invoke(cli, ["plan", "--format", "github"])
    assert result.exit_code == 1
    assert result.stdout == "::error title=conn-reconcile::no API key: set CO_API_KEY or pass --api-key\n"
    assert "Error: no API key" in result.stderr


def test_shell_completion_script(workdir):
    result = CliRunner().invoke(cli, [], env={"_CONN_RECONCILE_COMPLETE": "bash_source"})
    assert "_conn_reconcile_completion" in result.output and "complete " in result.output
