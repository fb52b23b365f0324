"""The one Settings object, through the CLI (click's CliRunner): each setting from the first of
its sources that gives it - flag > environment variable > the selected environment's entry >
the file's top level > default - built once per command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conn_reconcile.cli.main import cli
from conn_reconcile.config.settings import Settings

CONFIG = """\
api_url: https://file.example.com
state: file.json
max_deletes: 2
prune: true
dir: from-file
environments:
  st:
    api_url: https://entry.example.com
    api_key_env: ST_KEY
    state: entry.json
"""


def config(args: list[str], env: dict[str, str] | None = None) -> dict[str, tuple[Any, str]]:
    """``conn-reconcile ARGS config --format json``: each setting's (value, source)."""
    result = CliRunner().invoke(cli, [*args, "config", "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    return {n: (s["value"], s["source"]) for n, s in json.loads(result.stdout)["settings"].items()}


def built(monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str] | None = None) -> list[Settings]:
    """Every Settings constructed while ``conn-reconcile ARGS`` runs."""
    made: list[Settings] = []
    real = Settings.__init__

    def spy(self: Settings, **values: Any) -> None:
        real(self, **values)
        made.append(self)

    with monkeypatch.context() as patch:
        patch.setattr(Settings, "__init__", spy)
        CliRunner().invoke(cli, args, env=env)
    return made


@pytest.fixture
def project(workdir: Path) -> Path:
    (workdir / "conn-reconcile.yaml").write_text(CONFIG, encoding="utf-8")
    return workdir


def test_api_url_flag_then_variable_then_environment_entry_then_file_then_default(project: Path) -> None:
    env = {"CO_API_URL": "https://variable.example.com"}
    flag = ["--env", "st", "--api-url", "https://flag.example.com"]
    assert config(flag, env)["api_url"] == ("https://flag.example.com", "flag --api-url")
    assert config(["--env", "st"], env)["api_url"] == (
        "https://variable.example.com",
        "environment variable CO_API_URL",
    )
    assert config(["--env", "st"])["api_url"] == ("https://entry.example.com", "conn-reconcile.yaml:8")
    assert config([])["api_url"] == ("https://file.example.com", "conn-reconcile.yaml:1")
    (project / "conn-reconcile.yaml").unlink()
    assert config([])["api_url"] == ("https://api.cohere.com", "default")


def test_state_api_key_and_environment_follow_the_same_order(project: Path) -> None:
    assert config(["--env", "st", "--state", "flag.json"])["state"] == ("flag.json", "flag --state")
    assert config(["--env", "st"])["state"] == ("entry.json", "conn-reconcile.yaml:10")
    assert config([])["state"] == ("file.json", "conn-reconcile.yaml:2")
    by_variable = config([], {"CONN_RECONCILE_ENV": "st", "ST_KEY": "k" * 8, "CO_API_KEY": "other-key"})
    assert by_variable["environment"] == ("st", "environment variable CONN_RECONCILE_ENV")
    assert by_variable["api_key"] == ("(set)", "environment variable ST_KEY")  # the entry's api_key_env
    assert config(["--env", "st", "--api-key", "k" * 8], {"ST_KEY": "x" * 8})["api_key"] == ("(set)", "flag --api-key")
    assert config([])["api_key"] == ("(unset)", "unset (environment variable CO_API_KEY)")
    assert config([])["environment"] == (None, "none selected")


def test_timeout_flag_after_the_command_then_before_it_then_variable_then_default(project: Path) -> None:
    env = {"CONN_RECONCILE_TIMEOUT": "9"}
    after = CliRunner().invoke(cli, ["--timeout", "5", "config", "--timeout", "7", "--format", "json"], env=env)
    assert json.loads(after.stdout)["settings"]["timeout"] == {"value": 7.0, "source": "flag --timeout"}
    assert config(["--timeout", "5"], env)["timeout"] == (5.0, "flag --timeout")
    assert config([], env)["timeout"] == (9.0, "environment variable CONN_RECONCILE_TIMEOUT")
    assert config([])["timeout"] == (10.0, "default")


def test_a_commands_own_setting_flags_win_over_the_file(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``plan``'s --max-deletes, --no-prune, --dir and --protect (no API key: it stops early)."""
    (flagged,) = built(
        monkeypatch, ["plan", "--env", "st", "--max-deletes", "7", "--no-prune", "--dir", "d", "--protect", "p*"]
    )
    assert (flagged.max_deletes, flagged.source("max_deletes")) == (7, "flag --max-deletes")
    assert (flagged.prune, flagged.source("prune")) == (False, "flag --prune")
    assert (flagged.dir, flagged.source("dir")) == ("d", "flag --dir")
    assert (flagged.protect, flagged.source("protect")) == (("p*",), "flag --protect")
    (from_file,) = built(monkeypatch, ["plan", "--env", "st"])
    assert (from_file.max_deletes, from_file.source("max_deletes")) == (2, "conn-reconcile.yaml:3")
    assert (from_file.prune, from_file.dir) == (True, "from-file")
    assert (from_file.parallelism, from_file.source("parallelism")) == (4, "default")


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["config"],
        ["secrets"],
        ["plan", "--env", "st"],
        ["apply", "--env", "st"],
        ["snapshot", "--show", "--env", "st"],
    ],
)
def test_settings_are_built_once_per_command(project: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    assert len(built(monkeypatch, args)) == 1


def test_commands_without_settings_build_none(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert built(monkeypatch, ["schema"]) == []
