"""Finding and reading ``conn-reconcile.yaml`` (edge), and resolving the effective settings.

Discovery: ``--config PATH`` or ``$CONN_RECONCILE_CONFIG``; otherwise ``conn-reconcile.yaml`` in
the current directory or its parents, up to the git root (the directory holding ``.git``).
Outside a git repository only the current directory is looked at, so a stray file higher up
(``/tmp``, a home directory) is never picked up. The file is read like a connector file
(regular files only, size limit, hardened YAML) and validated by the strict model in
:mod:`conn_reconcile.config.sources`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath

from conn_reconcile.config.sources import (
    CONFIG_ENV,
    CONFIG_NAME,
    DEFAULT_API_KEY_ENV,
    EnvContext,
    LoadedConfig,
    Setting,
    env_context,
    resolve,
    select_environment,
)
from conn_reconcile.errors import ConfigError, Diagnostic, InputError
from conn_reconcile.files.discovery import read_bytes, scan
from conn_reconcile.files.yamlsafe import parse_yaml
from conn_reconcile.model.connector import Desired, locate, validate_strict


def find(start: Path) -> Path | None:
    """The ``conn-reconcile.yaml`` that applies in ``start``: there, or in a parent up to the git root."""
    here = start.resolve()
    chain = [here, *here.parents]
    root = next((i for i, d in enumerate(chain) if (d / ".git").exists()), None)
    for d in chain[: root + 1] if root is not None else chain[:1]:
        candidate = d / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def shown(path: str | PurePath) -> str:
    """``path`` as printed and used: relative to the working directory when that is shorter."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return rel if len(rel) <= len(str(path)) else str(path)


def load(path: Path) -> LoadedConfig:
    """Read and validate a config file; every problem is one ``file:line:col: field: message``."""
    display = shown(path)
    found, problems, _ = scan([path])
    if problems:
        raise InputError([Diagnostic(display, None, None, None, p.message) for p in problems])
    raw = read_bytes(found[0])
    if isinstance(raw, Diagnostic):
        raise InputError([Diagnostic(display, None, None, None, raw.message)])
    parsed = parse_yaml(raw, display)
    if parsed.problems or parsed.data is None:
        raise InputError(parsed.problems or [Diagnostic(display, None, None, None, "empty config file")])
    from conn_reconcile.config.model import MESSAGES, ConfigFile  # only when there is a file

    model, errors = validate_strict(ConfigFile, parsed.data, MESSAGES)
    if model is None:
        from conn_reconcile.files.loader import hint  # only for a config file with errors

        diagnostics = []
        for p in errors:
            line, col = locate(parsed.locations, p.path)
            diagnostics.append(
                Diagnostic(display, line, col, p.path or None, p.message + hint(ConfigFile, parsed.data, p))
            )
        raise InputError(diagnostics)
    return LoadedConfig(model, display, PurePath(path.resolve().parent), parsed.locations)


def locate_config(given: Setting | None, cwd: Path) -> Path | None:
    if given is not None and given.value:
        path = Path(given.value)
        if not path.is_file():
            raise ConfigError(f"config file {given.value} ({given.source}) not found")
        return path
    return find(cwd)


class Effective:
    """Every effective setting with its source, the config file and the environment context."""

    __slots__ = ("config", "context", "settings")

    def __init__(self, settings: Mapping[str, Setting], config: LoadedConfig | None, context: EnvContext):
        self.settings, self.config, self.context = settings, config, context

    def __getitem__(self, name: str) -> object:
        return self.settings[name].value

    @property
    def directory(self) -> Path:
        return Path(str(self["dir"]))

    @property
    def exclude(self) -> tuple[str, ...]:
        return tuple(self.settings["exclude"].value)

    @property
    def key_vars(self) -> tuple[str, ...]:
        """Every environment's API key variable (no connector secret may reference one)."""
        envs = self.config.environments if self.config is not None else {}
        return tuple(sorted({DEFAULT_API_KEY_ENV, str(self["api_key_env"]), *(e.api_key_env for e in envs.values())}))

    def key_env_of(self, environment: str | None) -> str:
        envs = self.config.environments if self.config is not None else {}
        if environment is not None and environment in envs:
            return envs[environment].api_key_env
        return str(self["api_key_env"])

    def contexts(self) -> list[EnvContext]:
        """The environments to validate in: the selected one, else every one defined."""
        if self.context.name is not None or self.config is None or not self.config.environments:
            return [self.context]
        return [env_context(self.config, name) for name in sorted(self.config.environments)]


def effective(given: Mapping[str, Setting], env: Mapping[str, str], *, require_env: bool) -> Effective:
    """Find and read the config file, select the environment, resolve every setting.
    Paths from the file are made relative to the working directory (shown as used)."""
    config_given = given.get("config")
    if config_given is None and env.get(CONFIG_ENV):
        config_given = Setting(env[CONFIG_ENV], f"environment variable {CONFIG_ENV}")
    path = locate_config(config_given, Path.cwd())
    config = load(path) if path is not None else None
    environment = select_environment(config, given.get("env"), required=require_env)
    rest = {k: v for k, v in given.items() if k not in ("config", "env")}
    settings = dict(resolve(config, rest, env, environment))
    for name in ("dir", "state"):
        s = settings[name]
        if s.source != "default" and not s.source.startswith(("flag", "environment variable")):
            settings[name] = Setting(shown(s.value), s.source)
    if config is not None:
        settings["config"] = Setting(config.file, config_given.source if config_given else "discovered")
    selected = str(environment.value) if environment is not None else None
    return Effective(settings, config, env_context(config, selected))


def load_environments(
    eff: Effective,
    paths: Sequence[str | Path] = (),
    *,
    require_files: bool = False,
    against: Sequence[str | Path] = (),
    exclude: Sequence[str] = (),
) -> dict[str | None, list[Desired]]:
    """The connector files in each environment to check (see :meth:`Effective.contexts`);
    ``against`` and ``exclude`` as for :func:`conn_reconcile.files.loader.load` (``exclude`` adds to
    the config's)."""
    from conn_reconcile.config.environments import check_key_refs
    from conn_reconcile.files.loader import load_each

    by_env = load_each(
        paths or (eff.directory,),
        eff.contexts(),
        require_files=require_files,
        against=against,
        exclude=(*eff.exclude, *exclude),
        exclude_root=eff.directory.as_posix(),
    )
    for desired in by_env.values():
        check_key_refs(desired, eff.key_vars)
    return by_env
