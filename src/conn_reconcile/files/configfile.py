"""Finding and reading ``conn-reconcile.yaml`` (edge), building a command's settings from it (the
scratch directory placed beside it), and checking its environments' overrides against the files."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath

from conn_reconcile.config import defaults
from conn_reconcile.config.settings import Layer, Settings, build
from conn_reconcile.config.sources import CONFIG_ENV, CONFIG_NAME, EnvContext, LoadedConfig, Sourced
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


def locate_config(given: Sourced | None, cwd: Path) -> Path | None:
    if given is not None and given.value:
        path = Path(given.value)
        if not path.is_file():
            raise ConfigError(f"config file {given.value} ({given.source}) not found")
        return path
    return find(cwd)


def load_settings(command_line: Layer, env: Mapping[str, str], *, require_env: bool) -> Settings:
    """Find and read conn-reconcile.yaml, and build a command's :class:`Settings` from the
    command line, ``env`` and the file (its paths shown relative to the working directory)."""
    given = command_line.get("config")
    if given is None and env.get(CONFIG_ENV):  # the command run without the group, which reads it
        given = Sourced(env[CONFIG_ENV], f"environment variable {CONFIG_ENV}")
        command_line = {**command_line, "config": given}
    path = locate_config(given, Path.cwd())
    config = load(path) if path is not None else None
    scratch = shown(scratch_dir(config, Path.cwd()))
    return build(command_line, env, config, require_env=require_env, shown=shown, scratch=scratch)


def scratch_dir(config: LoadedConfig | None, cwd: Path) -> Path:
    """The scratch directory: beside conn-reconcile.yaml, else at the git root of ``cwd``, else
    in ``cwd``; the same from every subdirectory, so an interrupted apply's journal is found."""
    if config is not None:
        return Path(config.base, defaults.SCRATCH_DIR)
    here = cwd.resolve()
    root = next((d for d in (here, *here.parents) if (d / ".git").exists()), here)
    return root / defaults.SCRATCH_DIR


def load_environments(
    settings: Settings,
    paths: Sequence[str | Path] = (),
    *,
    require_files: bool = False,
    against: Sequence[str | Path] = (),
    exclude: Sequence[str] = (),
    policy: bool = False,
) -> dict[str | None, list[Desired]]:
    """The connector files in each environment to check (``settings.contexts``); ``against``
    and ``exclude`` as for :func:`conn_reconcile.files.loader.load` (``exclude`` adds to the
    config's). No connector secret may reference an API key variable; with ``policy``, every
    connector follows its environment's policy rules."""
    from conn_reconcile.files.loader import load_each
    from conn_reconcile.model.binding import check_key_refs

    by_env = load_each(
        paths or (settings.directory,),
        settings.contexts,
        require_files=require_files,
        against=against,
        exclude=(*settings.exclude, *exclude),
        exclude_root=settings.directory.as_posix(),
    )
    for desired in by_env.values():
        check_key_refs(desired, settings.key_vars)
    if not against:
        check_overrides(settings, paths or (settings.directory,), settings.contexts, by_env)
    if policy:
        check_policy(settings.contexts, by_env)
    return by_env


def check_policy(contexts: Sequence[EnvContext], by_env: Mapping[str | None, Sequence[Desired]]) -> None:
    """Every connector of each environment (``by_env``) follows that environment's policy rules,
    else an error with every violation (each once), at the line of its field."""
    if all(ctx.policy is None for ctx in contexts):
        return
    from conn_reconcile.config.policy import check_files

    problems = [p for ctx in contexts for p in check_files(ctx.policy, by_env.get(ctx.name, ()))]
    if problems:
        raise InputError(list(dict.fromkeys(problems)))


def check_overrides(
    settings: Settings,
    paths: Sequence[str | Path],
    contexts: Sequence[EnvContext],
    by_env: Mapping[str | None, Sequence[Desired]],
) -> None:
    """When ``paths`` are the whole connector directory: every override of each environment
    names one of its connectors (``by_env``), else an error at its key in conn-reconcile.yaml."""
    if any(Path(p).resolve() != settings.directory.resolve() for p in paths):
        return  # files given alone say nothing of the others
    from conn_reconcile.config.environments import unknown_overrides

    names = {ctx.name: {d.spec.name for d in by_env.get(ctx.name, ())} for ctx in contexts if ctx.overrides}
    problems = [p for ctx in contexts if ctx.overrides for p in unknown_overrides(ctx, names[ctx.name])]
    if problems:
        raise InputError(problems)
