"""The one typed record of a command's settings, :class:`Settings`, and :func:`build`: each
setting from the first of its ordered sources that gives it (flags, environment variables, the
selected environment's entry in conn-reconcile.yaml, the file's top level, the defaults of
:mod:`conn_reconcile.config.defaults`), remembering which one for ``conn-reconcile config``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, InstanceOf, SecretStr

from conn_reconcile.config import defaults
from conn_reconcile.config.sources import EnvContext, LoadedConfig, Sourced, env_context, select_environment

#: one source of settings: the values it gives, by :class:`Settings` field
Layer = Mapping[str, Sourced]
#: the environment variable read for a setting (the API key's is named by ``api_key_env``)
ENV_VARS: Mapping[str, str] = {"api_url": "CO_API_URL"}
#: what an environment's entry may set
_PER_ENV = ("api_url", "state", "api_key_env")
_PATHS = ("dir", "state")


class Settings(BaseModel):
    """Every setting of one command, typed, with where each value came from (:meth:`source`).
    Built once per command by :func:`build`; the settings are the fields up to ``lock_timeout``,
    in the order ``conn-reconcile config`` lists them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config: str | None = None
    environment: str | None = None
    api_url: str = defaults.API_URL
    api_key_env: str = defaults.API_KEY_ENV
    api_key: SecretStr | None = None
    state: str = defaults.STATE_PATH
    dir: str = defaults.DIR
    exclude: tuple[str, ...] = ()
    prune: bool = False
    protect: tuple[str, ...] = ()
    max_deletes: int = Field(defaults.MAX_DELETES, ge=0)
    manage_prefix: str | None = None
    parallelism: int = Field(defaults.PARALLELISM, ge=1)
    probe: bool = False
    timeout: float = defaults.TIMEOUT
    deadline: float | None = defaults.DEADLINE
    lock_timeout: float = defaults.LOCK_TIMEOUT

    #: where each setting came from; a setting not named here has its default
    sources: Mapping[str, str] = Field(default_factory=dict, repr=False)
    #: the environments conn-reconcile.yaml defines, each with the variable holding its API key
    environments: Mapping[str, str] = Field(default_factory=dict)
    #: what connector files are read with: the selected environment's vars and overrides
    context: InstanceOf[EnvContext] = Field(default_factory=EnvContext)
    #: the environments ``validate`` reads the files in: the selected one, else every one defined
    contexts: tuple[InstanceOf[EnvContext], ...] = Field(default_factory=lambda: (EnvContext(),))
    #: the scratch directory (see :data:`defaults.SCRATCH_DIR`), as the working directory sees it
    scratch: str = defaults.SCRATCH_DIR

    @property
    def directory(self) -> Path:
        return Path(self.dir)

    @property
    def key(self) -> str | None:
        """The API key's value (None: unset)."""
        return self.api_key.get_secret_value() if self.api_key is not None else None

    @property
    def key_vars(self) -> tuple[str, ...]:
        """Every environment's API key variable (no connector secret may reference one)."""
        return tuple(sorted({defaults.API_KEY_ENV, self.api_key_env, *self.environments.values()}))

    def key_env_of(self, environment: str | None) -> str:
        """The variable holding ``environment``'s API key (the selected one's by default)."""
        return self.environments.get(environment or "", self.api_key_env)

    def source(self, name: str) -> str:
        return self.sources.get(name, "default")

    def rows(self) -> list[tuple[str, Any, str]]:
        """(name, value, source) of every setting, in their order."""
        names = list(type(self).model_fields)
        return [(n, getattr(self, n), self.source(n)) for n in names[: names.index("lock_timeout") + 1]]


def build(
    command_line: Layer,
    env: Mapping[str, str],
    config: LoadedConfig | None,
    *,
    require_env: bool,
    shown: Callable[[str], str] = str,
    scratch: str = defaults.SCRATCH_DIR,
) -> Settings:
    """The settings of one command. ``command_line``: what click read (flags, and the options'
    own environment variables); ``env``: the process environment (``CO_API_URL``, the API key);
    ``config``: conn-reconcile.yaml, whose paths are made relative to its directory and then
    ``shown`` (as the working directory sees them); ``scratch``: the scratch directory, where
    the default state lives. Raises ConfigError for an environment that is missing
    (``require_env``) or unknown."""
    environment = select_environment(config, command_line.get("environment"), required=require_env)
    name = None if environment is None else str(environment.value)
    layers = (command_line, _variables(env), _entry(config, name, shown), _top(config, shown))
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for field in Settings.model_fields:
        found = next((layer[field] for layer in layers if field in layer), None)
        if found is not None:
            values[field], sources[field] = found
    values.setdefault("state", f"{scratch}/{defaults.STATE_NAME}")
    if "protect" in command_line and config is not None and config.model.protect:
        # protection only ever adds up: the file's patterns stay, the flag's are added
        both = (*config.model.protect, *command_line["protect"].value)
        values["protect"], sources["protect"] = both, f"{config.where('protect')} + {command_line['protect'].source}"
    values["api_key"], sources["api_key"] = _api_key(command_line, env, values.get("api_key_env"))
    values["environment"], sources["environment"] = name, environment.source if environment else "none selected"
    values["config"], sources["config"] = _config(command_line, config)
    envs = config.environments if config is not None else {}
    context = env_context(config, name)
    every = [context] if name is not None or not envs else [env_context(config, n) for n in sorted(envs)]
    return Settings(
        **values,
        sources=sources,
        environments={n: e.api_key_env for n, e in envs.items()},
        context=context,
        contexts=tuple(every),
        scratch=scratch,
    )


def _variables(env: Mapping[str, str]) -> Layer:
    given = {name: (var, env.get(var)) for name, var in ENV_VARS.items()}
    return {name: Sourced(value, f"environment variable {var}") for name, (var, value) in given.items() if value}


def _entry(config: LoadedConfig | None, name: str | None, shown: Callable[[str], str]) -> Layer:
    """What the selected environment's entry sets."""
    if config is None or name is None:
        return {}
    chosen = config.environments[name]
    return {
        key: Sourced(_path(config, key, getattr(chosen, key), shown), config.where(f"environments.{name}.{key}"))
        for key in _PER_ENV
        if key in chosen.model_fields_set
    }


def _top(config: LoadedConfig | None, shown: Callable[[str], str]) -> Layer:
    """What the file's top level sets (its keys are the settings' names)."""
    if config is None:
        return {}
    given = config.model.model_dump(exclude_none=True, exclude={"environments"})
    return {
        key: Sourced(_path(config, key, tuple(value) if isinstance(value, list) else value, shown), config.where(key))
        for key, value in given.items()
    }


def _path(config: LoadedConfig, key: str, value: Any, shown: Callable[[str], str]) -> Any:
    """A path setting relative to the config file's directory; a state on a git branch
    (``git:BRANCH:PATH``) names a file of the branch, not a local path, and is kept as it is."""
    if key not in _PATHS or (key == "state" and str(value).startswith("git:")):
        return value
    return shown(str(config.base / value))


def _api_key(command_line: Layer, env: Mapping[str, str], key_var: str | None) -> Sourced:
    """``--api-key``, else the variable ``api_key_env`` names."""
    var = key_var or defaults.API_KEY_ENV
    if "api_key" in command_line:
        return Sourced(command_line["api_key"].value or None, command_line["api_key"].source)
    value = env.get(var)
    return (
        Sourced(value, f"environment variable {var}") if value else Sourced(None, f"unset (environment variable {var})")
    )


def _config(command_line: Layer, config: LoadedConfig | None) -> Sourced:
    if config is None:
        return Sourced(None, "none found")
    given = command_line.get("config")
    return Sourced(config.file, given.source if given is not None else "discovered")
