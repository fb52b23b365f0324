"""The team configuration file, ``conn-reconcile.yaml``, and how settings are resolved. Pure core.

The file holds what ``plan`` and ``apply`` must agree on (directory, API URL, state file,
prune safeguards, environments...). It is parsed by the hardened YAML parser (edge:
:mod:`conn_reconcile.files.configfile`) into :class:`~conn_reconcile.config.model.ConfigFile`, a
strict model: unknown keys and wrong types are errors at ``file:line:col``. :func:`resolve`
then merges, per setting, the command line (flags, then environment variables), the selected
environment's entry, the file's top level and the defaults, remembering where each value came
from. Nothing here imports the config models: without a config file, none is ever built.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from conn_reconcile.errors import ConfigError

if TYPE_CHECKING:
    from conn_reconcile.config.model import ConfigFile, ConnectorOverride, EnvironmentConfig

CONFIG_NAME = "conn-reconcile.yaml"
CONFIG_ENV = "CONN_RECONCILE_CONFIG"
ENV_SELECT_ENV = "CONN_RECONCILE_ENV"
DEFAULT_API_KEY_ENV = "CO_API_KEY"

#: The defaults, in one place (the CLI's help shows them too).
DEFAULTS: dict[str, Any] = {
    "dir": "connectors",
    "api_url": "https://api.cohere.com",
    "state": ".conn-reconcile/state.json",
    "prune": False,
    "protect": (),
    "max_deletes": 5,
    "manage_prefix": None,
    "parallelism": 4,
    "exclude": (),
    "probe": False,
    "api_key_env": DEFAULT_API_KEY_ENV,
}


class LoadedConfig(NamedTuple):
    """A parsed config file: the model, its name as shown, its directory, key locations."""

    model: ConfigFile
    file: str
    base: PurePath
    locations: Mapping[str, tuple[int, int]] = MappingProxyType({})

    def where(self, path: str) -> str:
        line = self.locations.get(path, (None, None))[0]
        return f"{self.file}:{line}" if line else self.file

    @property
    def environments(self) -> Mapping[str, EnvironmentConfig]:
        return self.model.environments or {}


class Setting(NamedTuple):
    """One effective setting and where its value came from (shown by ``conn-reconcile config``)."""

    value: Any
    source: str  # "default", "<file>:<line>", "environment variable X", "flag --x"


class EnvContext(NamedTuple):
    """What connector files are read with: the selected environment, its vars and overrides."""

    name: str | None = None
    vars: Mapping[str, str] = MappingProxyType({})
    overrides: Mapping[str, ConnectorOverride] = MappingProxyType({})
    #: every environment the config defines (a connector's ``environments:`` must name them)
    known: tuple[str, ...] = ()


def env_context(config: LoadedConfig | None, name: str | None) -> EnvContext:
    if config is None:
        return EnvContext()
    envs = config.environments
    known = tuple(sorted(envs))
    if name is None:
        return EnvContext(known=known)
    chosen = envs[name]
    return EnvContext(name, dict(chosen.vars), dict(chosen.overrides), known)


#: setting -> the environment variable read for it (the API key's comes from ``api_key_env``)
ENV_VARS: dict[str, str] = {"api_url": "CO_API_URL"}
#: settings that may be set per environment, and at the top level of the file
_PER_ENV = ("api_url", "state")
_PATHS = ("dir", "state")


def select_environment(config: LoadedConfig | None, given: Setting | None, *, required: bool) -> Setting | None:
    """The environment to use: the one given (checked against the file), or None. With
    environments defined and none given, ``required`` commands refuse, naming the choices."""
    envs = config.environments if config is not None else {}
    if given is None or given.value in (None, ""):
        if envs and required:
            assert config is not None
            raise ConfigError(
                f"{config.file} defines environments ({', '.join(sorted(envs))}): choose one with --env NAME "
                f"or {ENV_SELECT_ENV}"
            )
        return None
    if given.value not in envs:
        if config is None:
            where = "no conn-reconcile.yaml was found"
        elif envs:
            where = f"{config.file} defines: {', '.join(sorted(envs))}"
        else:
            where = f"{config.file} defines none"
        raise ConfigError(f"unknown environment {given.value!r} ({given.source}); {where}")
    return given


def resolve(
    config: LoadedConfig | None,
    given: Mapping[str, Setting],
    env: Mapping[str, str],
    environment: Setting | None,
) -> dict[str, Setting]:
    """Every effective setting with its source: ``given`` (flags, already merged with their
    environment variables by the CLI) > the environment variables of :data:`ENV_VARS` >
    the selected environment's entry > the file's top level > :data:`DEFAULTS`."""
    out: dict[str, Setting] = {}
    chosen = config.environments[environment.value] if config is not None and environment is not None else None
    prefix = f"environments.{environment.value}." if environment is not None else ""
    for name, default in DEFAULTS.items():
        out[name] = _one(name, default, config, chosen, prefix, given, env)
    if "protect" in given and config is not None and config.model.protect:
        # protection only ever adds up: the file's patterns stay, the flag's are added
        both = tuple(config.model.protect) + tuple(given["protect"].value)
        out["protect"] = Setting(both, f"{config.where('protect')} + {given['protect'].source}")
    key_var = out["api_key_env"].value
    if "api_key" in given:
        out["api_key"] = given["api_key"]
    elif env.get(key_var):
        out["api_key"] = Setting(env[key_var], f"environment variable {key_var}")
    else:
        out["api_key"] = Setting(None, f"unset (environment variable {key_var})")
    out["environment"] = environment or Setting(None, "none selected")
    out["config"] = Setting(config.file if config is not None else None, "discovered" if config else "none found")
    for name, value in given.items():
        out.setdefault(name, value)
    return out


def _one(
    name: str,
    default: Any,
    config: LoadedConfig | None,
    chosen: EnvironmentConfig | None,
    prefix: str,
    given: Mapping[str, Setting],
    env: Mapping[str, str],
) -> Setting:
    if name in given:
        return given[name]
    var = ENV_VARS.get(name)
    if var and env.get(var):
        return Setting(env[var], f"environment variable {var}")
    if config is None:
        return Setting(default, "default")
    if chosen is not None and (name in _PER_ENV or name == "api_key_env") and name in chosen.model_fields_set:
        return Setting(_path(config, name, getattr(chosen, name)), config.where(prefix + name))
    value = getattr(config.model, name, None)
    if value is None:
        return Setting(default, "default")
    if isinstance(value, list):
        value = tuple(value)
    return Setting(_path(config, name, value), config.where(name))


def _path(config: LoadedConfig, name: str, value: Any) -> Any:
    """A path setting relative to the config file's directory; a state on a git branch
    (``git:BRANCH:PATH``) names a file of the branch, not a local path, and is kept as it is."""
    if name not in _PATHS or (name == "state" and str(value).startswith("git:")):
        return value
    return str(config.base / value)
