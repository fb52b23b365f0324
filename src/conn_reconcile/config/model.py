"""The strict model of ``conn-reconcile.yaml``: :class:`ConfigFile`, its environments, their
connector overrides, the policy rules, and :func:`parse_config`. Imported only when a config file is
actually read (:func:`conn_reconcile.files.configfile.load`): building settings without a file
(:mod:`conn_reconcile.config.settings`) never needs it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from conn_reconcile.config import defaults
from conn_reconcile.model.connector import STRICT, HttpUrl, Name, PlainStr, validate_strict
from conn_reconcile.model.validation import WHITESPACE, Rule, Rules

_VAR_NAME = Rule(
    "variable_name",
    r"^[A-Za-z_][A-Za-z0-9_]*$",
    "must be an environment variable name (letters, digits, _; not starting with a digit)",
)
_ENV_NAME = Rule(
    "environment_name",
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
    "environment names are letters, digits, '.', '_' and '-' (at most 64)",
)
VarName = Annotated[str, Rules(_VAR_NAME, schema={"pattern": _VAR_NAME.pattern})]
EnvName = Annotated[str, Rules(_ENV_NAME, schema={"pattern": _ENV_NAME.pattern})]
PathStr = Annotated[
    str,
    Field(max_length=4096),
    Rules(Rule("path", f"^[^\\x00]*[^{WHITESPACE}\\x00][^\\x00]*$", "must be a non-empty path")),
]
Glob = Annotated[str, Field(min_length=1, max_length=1024)]


class OAuthOverride(BaseModel):
    """The non-secret OAuth fields an environment may override."""

    model_config = STRICT

    client_id: PlainStr | None = None
    authorize_url: HttpUrl | None = None
    token_url: HttpUrl | None = None
    scope: PlainStr | None = None


class ConnectorOverride(BaseModel):
    """Non-secret fields of one connector, overridden in one environment."""

    model_config = STRICT

    description: PlainStr | None = None
    url: HttpUrl | None = None
    excludes: list[PlainStr] | None = None
    active: bool | None = None
    continue_on_failure: bool | None = None
    oauth: OAuthOverride | None = None


def _regex(value: str) -> str:
    import re  # only for a config with a name_pattern

    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


def _some_hosts(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("must list at least one host (leave url_hosts out to allow any host)")
    return value


_HOST_PATTERN = Rule(
    "host_pattern",
    r"^[A-Za-z0-9*?!\[\]._-]+$",
    "must be a host name pattern: letters, digits, '.', '-' and the wildcards * ? [...] (no scheme, port or path)",
)
HostPattern = Annotated[str, Field(max_length=253), Rules(_HOST_PATTERN, schema={"pattern": _HOST_PATTERN.pattern})]
#: the connector fields a policy may forbid: true (a boolean) or set (the others)
Forbiddable = Literal["continue_on_failure", "excludes", "oauth", "service_auth"]


class PolicyRules(BaseModel):
    """Rules every connector must follow; an environment's lists add to the top level's, its
    other rules replace them."""

    model_config = STRICT

    url_hosts: (
        Annotated[list[HostPattern], AfterValidator(_some_hosts), Field(json_schema_extra={"minItems": 1})] | None
    ) = Field(None, description="fnmatch patterns, one of which the host of every connector url must match")
    require_https: bool | None = Field(None, description="url and the OAuth URLs must be https://")
    name_pattern: Annotated[str, Field(max_length=1024), AfterValidator(_regex)] | None = Field(
        None, description="a Python regular expression every connector name must match as a whole"
    )
    require_description: bool | None = Field(None, description="every connector must have a description")
    forbid: list[Forbiddable] | None = Field(
        None, description="fields that must not be true (continue_on_failure) or set (the others)"
    )


class EnvironmentConfig(BaseModel):
    """One org: its API, the variable holding its key, its own state, vars and overrides."""

    model_config = STRICT

    api_url: HttpUrl | None = None
    api_key_env: VarName = defaults.API_KEY_ENV
    state: PathStr | None = None
    vars: dict[VarName, PlainStr] = Field(default_factory=dict)
    overrides: dict[Name, ConnectorOverride] = Field(default_factory=dict)
    policy: PolicyRules | None = None


class ConfigFile(BaseModel):
    """conn-reconcile.yaml: the settings plan and apply share. Paths are relative to its directory."""

    model_config = STRICT

    dir: PathStr | None = None
    api_url: HttpUrl | None = None
    state: PathStr | None = None
    prune: bool | None = None
    protect: list[Glob] | None = None
    max_deletes: Annotated[int, Field(ge=0)] | None = None
    manage_prefix: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    parallelism: Annotated[int, Field(ge=1, le=64)] | None = None
    exclude: list[Glob] | None = None
    probe: bool | None = None
    environments: dict[EnvName, EnvironmentConfig] | None = None
    policy: PolicyRules | None = None


def parse_config(data: Any) -> tuple[ConfigFile | None, list[tuple[str, str]]]:
    """Validate raw config data: the model, or the errors as (dotted path, message)."""
    model, found = validate_strict(ConfigFile, data, MESSAGES)
    return model, [(p.path, p.message) for p in found]


#: how errors in conn-reconcile.yaml are worded where pydantic's wording is not the tool's
MESSAGES = {"extra_forbidden": "unknown field", "model_type": "expected a mapping", "dict_type": "expected a mapping"}
