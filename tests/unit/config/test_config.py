"""conn-reconcile.yaml: the strict model, setting resolution and its sources,
and connector files in environments (vars, overrides, environments:)."""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePath

import pytest

from conn_reconcile.config.model import parse_config
from conn_reconcile.config.settings import Settings, build
from conn_reconcile.config.sources import EnvContext, LoadedConfig, Sourced, select_environment
from conn_reconcile.errors import ConfigError, InputError
from conn_reconcile.files.loader import is_excluded, load_bytes


def loaded(data: dict, locations: dict | None = None) -> LoadedConfig:
    model, errors = parse_config(data)
    assert model is not None, errors
    return LoadedConfig(model, "conn-reconcile.yaml", PurePath("/p"), locations or {})


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"prnue": True}, "prnue", "unknown field"),
        ({"prune": "yes"}, "prune", "Input should be a valid boolean"),
        ({"max_deletes": -1}, "max_deletes", "greater than or equal to 0"),
        ({"environments": {"s": {"api_key_env": "1BAD"}}}, "environments.s.api_key_env", "environment variable name"),
        ({"environments": {"s": {"vars": {"x": "${X}"}}}}, "environments.s.vars.x", "only allowed in secret fields"),
        (
            {"environments": {"s": {"overrides": {"docs": {"service_auth": {}}}}}},
            "environments.s.overrides.docs.service_auth",
            "unknown field",
        ),
    ],
)
def test_strict_model_names_the_field(data, path, message) -> None:
    model, errors = parse_config(data)
    assert model is None
    assert any(p == path and message in m for p, m in errors), errors


def test_a_config_files_errors_are_located_with_hints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conn_reconcile.files.configfile import load

    monkeypatch.chdir(tmp_path)
    (tmp_path / "conn-reconcile.yaml").write_text(
        "prnue: true\nprobe: yes\nenvironments:\n  s:\n    api_urll: https://x\n", encoding="utf-8"
    )
    with pytest.raises(InputError) as info:
        load(tmp_path / "conn-reconcile.yaml")
    assert str(info.value).splitlines() == [
        "conn-reconcile.yaml:1:1: prnue: unknown field (did you mean 'prune'?)",
        "conn-reconcile.yaml:2:1: probe: Input should be a valid boolean; YAML 1.2 reads 'yes' as a string: "
        "use true or false",
        "conn-reconcile.yaml:5:5: environments.s.api_urll: unknown field (did you mean 'api_url'?)",
    ]


def test_resolution_order_and_sources() -> None:
    cfg = loaded(
        {
            "api_url": "https://top.example.com",
            "state": "s.json",
            "protect": ["a*"],
            "environments": {"st": {"api_url": "https://st.example.com", "api_key_env": "ST_KEY", "state": "st.json"}},
        },
        {
            "api_url": (1, 1),
            "state": (2, 1),
            "protect": (3, 1),
            "environments.st.api_url": (5, 5),
            "environments.st.state": (7, 5),
        },
    )
    st = {"environment": Sourced("st", "flag --env")}

    def settings(given: dict[str, Sourced], env: dict[str, str]) -> Settings:
        return build({**st, **given}, env, cfg, require_env=True)

    out = settings({"protect": Sourced(("b",), "flag --protect")}, {"ST_KEY": "k"})
    assert (out.api_url, out.source("api_url")) == ("https://st.example.com", "conn-reconcile.yaml:5")
    assert (out.state, out.source("state")) == ("/p/st.json", "conn-reconcile.yaml:7")
    assert (out.key, out.source("api_key")) == ("k", "environment variable ST_KEY")
    assert (out.protect, out.source("protect")) == (("a*", "b"), "conn-reconcile.yaml:3 + flag --protect")
    assert (out.max_deletes, out.source("max_deletes")) == (5, "default")
    assert (out.environment, out.source("environment")) == ("st", "flag --env")
    assert out.key_vars == ("CO_API_KEY", "ST_KEY")
    over = settings(
        {"api_url": Sourced("https://f.example.com", "flag --api-url")}, {"CO_API_URL": "https://e.example.com"}
    )
    assert over.source("api_url") == "flag --api-url"
    assert settings({}, {"CO_API_URL": "https://e.example.com"}).source("api_url") == "environment variable CO_API_URL"
    assert settings({}, {}).key is None and settings({}, {}).source("api_key") == "unset (environment variable ST_KEY)"
    with pytest.raises(ConfigError, match=r"defines environments \(st\): choose one with --env"):
        select_environment(cfg, None, required=True)
    with pytest.raises(ConfigError, match="unknown environment 'prod'"):
        select_environment(cfg, Sourced("prod", "flag --env"), required=True)
    assert select_environment(cfg, None, required=False) is None
    everywhere = build({}, {}, cfg, require_env=False)
    assert everywhere.environment is None and [c.name for c in everywhere.contexts] == ["st"]


DOC = b"""name: docs
url: https://${vars.host}/search
description: d
environments: [staging]
service_auth: {type: bearer, token: "${DOCS_TOKEN}"}
"""


def test_vars_overrides_and_environments_in_a_connector_file() -> None:
    cfg = loaded(
        {
            "environments": {
                "staging": {"vars": {"host": "s.example.com"}, "overrides": {"docs": {"description": "S"}}},
                "prod": {"vars": {"host": "p.example.com"}},
            }
        }
    )
    staging = EnvContext(
        "staging", {"host": "s.example.com"}, cfg.environments["staging"].overrides, ("prod", "staging")
    )
    d, problems = load_bytes(DOC, "docs.yaml", staging)
    assert problems == [] and d is not None
    assert d.spec.url == "https://s.example.com/search" and d.spec.description == "S"
    assert "environments" not in d.spec.model_dump()  # never part of a payload or a diff
    prod = EnvContext("prod", {"host": "p.example.com"}, {}, ("prod", "staging"))
    assert load_bytes(DOC, "docs.yaml", prod) == (None, [])  # staging only
    _, problems = load_bytes(DOC.replace(b"[staging]", b"[stagin]"), "docs.yaml", staging)
    assert [p.format() for p in problems] == [
        "docs.yaml:4:16: environments.0: unknown environment 'stagin' (defined: prod, staging)"
    ]
    _, problems = load_bytes(DOC.replace(b"[staging]", b"[staging]\nscope_x: ${vars.nope}"), "docs.yaml", staging)
    assert any("unknown variable ${vars.nope} in environment 'staging'" in p.message for p in problems)
    _, problems = load_bytes(DOC, "docs.yaml")
    assert [p.field for p in problems] == ["environments", "url"]


def test_exclude_globs() -> None:
    assert is_excluded("connectors/team/OWNERS.yml", ["OWNERS.yml"], "connectors")
    assert is_excluded("connectors/team/x.yaml", ["team/*"], "connectors")
    assert not is_excluded("connectors/other/x.yaml", ["team/*"], "connectors")
    assert not is_excluded("connectors/docs.yaml", ["OWNERS.yml"], "connectors")
    assert not is_excluded("connectors/docs.yaml", [], "connectors")


def test_a_connector_secret_may_not_reference_an_api_key_variable() -> None:
    from conn_reconcile.model.binding import check_key_refs

    d, _ = load_bytes(
        b"name: a\nurl: https://a.example.com\nservice_auth: {type: bearer, token: '${PROD_KEY}'}\n", "a.yaml"
    )
    assert d is not None
    with pytest.raises(InputError, match=r"a.yaml:3:30: service_auth.token: \$\{PROD_KEY\} holds an API key"):
        check_key_refs([d], ["CO_API_KEY", "prod_key"])


def test_a_git_state_in_the_config_is_not_made_relative_to_its_directory(tmp_path: Path) -> None:
    """Paths in the config are relative to its directory; ``git:BRANCH:PATH`` is a file of the
    branch, so it must reach the state backend unchanged from any subdirectory."""
    import subprocess
    import sys

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "conn-reconcile.yaml").write_text("state: git:conn-reconcile-state:state.json\ndir: connectors\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CO_", "CONN_"))}
    out = subprocess.run(
        [sys.executable, "-m", "conn_reconcile", "config", "--format", "json"],
        cwd=sub,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    state = json.loads(out)["settings"]["state"]
    assert state["value"] == "git:conn-reconcile-state:state.json"
    assert state["source"] == "../conn-reconcile.yaml:1"
