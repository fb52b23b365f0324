"""The record of a read ``conn-reconcile.yaml`` (:class:`LoadedConfig`), the environment
selected in it (:func:`select_environment`, :class:`EnvContext`: what connector files are read
with) and :class:`Sourced`, a setting's value with its source. Imports no config model: without a
config file, none is ever built."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from conn_reconcile.errors import ConfigError

if TYPE_CHECKING:
    from conn_reconcile.config.model import ConfigFile, ConnectorOverride, EnvironmentConfig
    from conn_reconcile.config.policy import Policy

CONFIG_NAME = "conn-reconcile.yaml"
CONFIG_ENV = "CONN_RECONCILE_CONFIG"
ENV_SELECT_ENV = "CONN_RECONCILE_ENV"


class Sourced(NamedTuple):
    """A setting's value as one source gives it, and that source: ``default``,
    ``<file>:<line>``, ``environment variable X``, ``flag --x``."""

    value: Any
    source: str


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


class EnvContext(NamedTuple):
    """What connector files are read with: the selected environment, its vars and overrides."""

    name: str | None = None
    vars: Mapping[str, str] = MappingProxyType({})
    overrides: Mapping[str, ConnectorOverride] = MappingProxyType({})
    #: every environment the config defines (a connector's ``environments:`` must name them)
    known: tuple[str, ...] = ()
    #: where each override's key is written: (config file, line, column)
    override_at: Mapping[str, tuple[str, int | None, int | None]] = MappingProxyType({})
    #: the policy rules in effect (None: none is set)
    policy: Policy | None = None


def env_context(config: LoadedConfig | None, name: str | None) -> EnvContext:
    if config is None:
        return EnvContext()
    envs = config.environments
    known = tuple(sorted(envs))
    policy = None
    if config.model.policy is not None or any(e.policy is not None for e in envs.values()):
        from conn_reconcile.config.policy import effective  # only for a config with policy rules

        policy = effective(config, name)
    if name is None:
        return EnvContext(known=known, policy=policy)
    chosen = envs[name]
    at: dict[str, tuple[str, int | None, int | None]] = {}
    for key in chosen.overrides:
        line, col = config.locations.get(f"environments.{name}.overrides.{key}", (None, None))
        at[key] = (config.file, line, col)
    return EnvContext(name, dict(chosen.vars), dict(chosen.overrides), known, at, policy)


def select_environment(config: LoadedConfig | None, given: Sourced | None, *, required: bool) -> Sourced | None:
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
