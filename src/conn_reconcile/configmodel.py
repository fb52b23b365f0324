"""The strict model of ``conn-reconcile.yaml``: :class:`ConfigFile`, its environments and
their connector overrides, and :func:`parse_config`. Pure core (records).

Imported only when a config file is actually read (:func:`conn_reconcile.configfile.load`):
resolving settings without a file (:mod:`conn_reconcile.config`) never needs it.
"""

from __future__ import annotations

import re
from typing import Any

from conn_reconcile.config import DEFAULT_API_KEY_ENV
from conn_reconcile.kinds import DictOf, Int, ListOf, Nested, Nullable, Str
from conn_reconcile.models import HTTP_URL, NAME, OPT_BOOL, OPT_PLAIN, PLAIN, validate_strict
from conn_reconcile.records import Record, field

_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _var_name(value: str) -> str:
    if not _VAR_NAME_RE.fullmatch(value):
        raise ValueError("must be an environment variable name (letters, digits, _; not starting with a digit)")
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME_RE.fullmatch(value):
        raise ValueError("environment names are letters, digits, '.', '_' and '-' (at most 64)")
    return value


def _rel_path(value: str) -> str:
    if not value.strip() or "\x00" in value:
        raise ValueError("must be a non-empty path")
    return value


VAR_NAME = Str(checks=[_var_name])
ENV_NAME = Str(checks=[_env_name])
OPT_PATH = Nullable(Str(max_length=4096, checks=[_rel_path]))
OPT_URL = Nullable(HTTP_URL)
OPT_GLOBS = Nullable(ListOf(Str(min_length=1, max_length=1024)))


class OAuthOverride(Record, strict=True, frozen=True):
    """The non-secret OAuth fields an environment may override."""

    client_id: str | None = field(OPT_PLAIN, default=None)
    authorize_url: str | None = field(OPT_URL, default=None)
    token_url: str | None = field(OPT_URL, default=None)
    scope: str | None = field(OPT_PLAIN, default=None)


class ConnectorOverride(Record, strict=True, frozen=True):
    """Non-secret fields of one connector, overridden in one environment."""

    description: str | None = field(OPT_PLAIN, default=None)
    url: str | None = field(OPT_URL, default=None)
    excludes: list[str] | None = field(Nullable(ListOf(PLAIN)), default=None)
    active: bool | None = field(OPT_BOOL, default=None)
    continue_on_failure: bool | None = field(OPT_BOOL, default=None)
    oauth: OAuthOverride | None = field(Nullable(Nested(OAuthOverride)), default=None)


class EnvironmentConfig(Record, strict=True, frozen=True):
    """One org: its API, the variable holding its key, its own state, vars and overrides."""

    api_url: str | None = field(OPT_URL, default=None)
    api_key_env: str = field(VAR_NAME, default=DEFAULT_API_KEY_ENV)
    state: str | None = field(OPT_PATH, default=None)
    vars: dict[str, str] = field(DictOf(VAR_NAME, PLAIN), default_factory=dict)
    overrides: dict[str, ConnectorOverride] = field(DictOf(NAME, Nested(ConnectorOverride)), default_factory=dict)


class ConfigFile(Record, strict=True, frozen=True):
    """conn-reconcile.yaml: the settings plan and apply share. Paths are relative to its directory."""

    dir: str | None = field(OPT_PATH, default=None)
    api_url: str | None = field(OPT_URL, default=None)
    state: str | None = field(OPT_PATH, default=None)
    prune: bool | None = field(OPT_BOOL, default=None)
    protect: list[str] | None = field(OPT_GLOBS, default=None)
    max_deletes: int | None = field(Nullable(Int(ge=0)), default=None)
    manage_prefix: str | None = field(Nullable(Str(min_length=1, max_length=256)), default=None)
    parallelism: int | None = field(Nullable(Int(ge=1, le=64)), default=None)
    exclude: list[str] | None = field(OPT_GLOBS, default=None)
    probe: bool | None = field(OPT_BOOL, default=None)
    environments: dict[str, EnvironmentConfig] | None = field(
        Nullable(DictOf(ENV_NAME, Nested(EnvironmentConfig))), default=None
    )


def parse_config(data: Any) -> tuple[ConfigFile | None, list[tuple[str, str]]]:
    """Validate raw config data: the model, or the errors as (dotted path, message)."""
    return validate_strict(ConfigFile, data, _MESSAGES)


_MESSAGES = {"extra_forbidden": "unknown field", "model_type": "expected a mapping", "dict_type": "expected a mapping"}
