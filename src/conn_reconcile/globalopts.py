"""The global options, accepted before the command and after it (``conn-reconcile plan -q``).

Each option is declared twice: on the group (with its environment variable) and, hidden, on
every command that takes them. Neither declaration passes a value to a function: a callback
records each value given on the command line or by an environment variable, with where it
came from, in one mapping shared by the group's and the command's contexts (the command's
comes later, so it wins). :func:`effective` then merges them with ``conn-reconcile.yaml``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

if TYPE_CHECKING:
    from pathlib import Path

    from conn_reconcile.config import Setting
    from conn_reconcile.configfile import Effective
    from conn_reconcile.workflow import Settings

GIVEN = "conn_reconcile.given"
#: options whose value counts even when it is the default (shown by ``config``)
_KEEP_DEFAULT = ("timeout", "lock_timeout")
#: the command options that are settings of conn-reconcile.yaml: parameter name -> setting
COMMAND_SETTINGS = {
    "directory": "dir",
    "prune": "prune",
    "manage_prefix": "manage_prefix",
    "protect": "protect",
    "max_deletes": "max_deletes",
    "parallelism": "parallelism",
}


if TYPE_CHECKING:
    _PathBase = click.Path[Path]
else:
    _PathBase = click.Path  # not subscripted at run time: an older click's Path is not generic


class PathParam(_PathBase):
    """``click.Path(path_type=pathlib.Path)``, without importing pathlib until a value is
    converted (``--help`` never does): defaults are given as strings and converted too."""

    def convert(self, value: str | os.PathLike[str], param: click.Parameter | None, ctx: click.Context | None) -> Path:
        from pathlib import Path

        converted = super().convert(value, param, ctx)
        return converted if isinstance(converted, Path) else Path(converted)


# The path types of the options, one instance of each, shared: creating a click.Path looks
# up the translation of its name (gettext searches the locale directories every time).
#: a file name, as a string (--state, --file)
FILE_NAME = click.Path(dir_okay=False)
#: a file or directory, as a Path
ANY_PATH = PathParam()
#: a file (not a directory), as a Path
FILE_PATH = PathParam(dir_okay=False)
#: a directory (not a file), as a Path
DIR_PATH = PathParam(file_okay=False)


def _label(param: click.Parameter, source: ParameterSource | None) -> str:
    if source is ParameterSource.ENVIRONMENT:
        return f"environment variable {param.envvar}"
    if source is ParameterSource.COMMANDLINE:
        return f"flag {max(param.opts, key=len)}"
    return "default"


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    from conn_reconcile.config import Setting

    assert param.name is not None
    source = ctx.get_parameter_source(param.name)
    given: dict[str, Setting] = ctx.meta.setdefault(GIVEN, {})
    counts = source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    if counts or (param.name in _KEEP_DEFAULT and param.name not in given):
        given[param.name] = Setting(value, _label(param, source))
        console = ctx.find_object(_console_type())
        if console is not None and counts and param.name in ("quiet", "colour"):
            setattr(console, param.name, value)
    return value


def _console_type() -> type:
    from conn_reconcile.console import Console

    return Console


def _options(command: bool) -> list[click.Option]:
    """The global options; ``command``: the hidden copies a command takes (no env, no defaults)."""

    def opt(*decls: str, envvar: str | None = None, default: Any = None, **kw: Any) -> click.Option:
        return click.Option(
            list(decls),
            callback=_remember,
            expose_value=False,
            hidden=command,
            envvar=None if command else envvar,
            default=None if command else default,
            show_default=not command and isinstance(default, float),
            **kw,
        )

    return [*_where_options(opt), *_run_options(opt)]


def _where_options(opt: Callable[..., click.Option]) -> list[click.Option]:
    """Which configuration, org and state a command works with."""
    return [
        opt(
            "--config",
            "config",
            envvar="CONN_RECONCILE_CONFIG",
            metavar="PATH",
            help="conn-reconcile.yaml to use (env CONN_RECONCILE_CONFIG; default: found in this directory "
            "or a parent, up to the git root).",
        ),
        opt(
            "--env",
            "env",
            envvar="CONN_RECONCILE_ENV",
            metavar="NAME",
            help="The environment of conn-reconcile.yaml to use (env CONN_RECONCILE_ENV).",
        ),
        opt("--api-url", "api_url", help="Cohere API base URL (env CO_API_URL; default https://api.cohere.com)."),
        opt(
            "--api-key",
            "api_key",
            help="Cohere API key (env CO_API_KEY, or the environment's api_key_env; "
            "prefer the variable: arguments are visible to other users).",
        ),
        opt(
            "--state",
            "state",
            type=FILE_NAME,
            help="State file (default .conn-reconcile/state.json, or the config's state), or git:BRANCH:PATH: file "
            "PATH on branch BRANCH of the remote origin of the current repository (env "
            "CONN_RECONCILE_STATE_REMOTE names another remote), locked across machines.",
        ),
    ]


def _run_options(opt: Callable[..., click.Option]) -> list[click.Option]:
    """How a command runs: output, the state lock, time limits."""
    return [
        opt("-q", "--quiet", "quiet", is_flag=True, default=False, help="Only print errors and the summary."),
        opt(
            "--color/--no-color", "colour", help="Force colours on or off (default: on a TTY, unless NO_COLOR is set)."
        ),
        opt(
            "--lock-timeout",
            "lock_timeout",
            type=click.FloatRange(min=0),
            envvar="CONN_RECONCILE_LOCK_TIMEOUT",
            default=0.0,
            metavar="SECONDS",
            help="How long apply waits for the state lock held by another run (0: fail at once, naming the holder).",
        ),
        opt(
            "--timeout",
            "timeout",
            type=click.FloatRange(min=0, min_open=True),
            envvar="CONN_RECONCILE_TIMEOUT",
            default=30.0,
            metavar="SECONDS",
            help="Time limit of each request as a whole (env CONN_RECONCILE_TIMEOUT). Failed requests are "
            "retried with backoff and jitter, up to 5 attempts; the first wait is up to "
            "CONN_RECONCILE_BACKOFF_BASE seconds (default 0.5), doubling each time, capped at 30.",
        ),
        opt(
            "--deadline",
            "deadline",
            type=click.FloatRange(min=0, min_open=True),
            envvar="CONN_RECONCILE_DEADLINE",
            metavar="SECONDS",
            help="Time limit for the whole command (env CONN_RECONCILE_DEADLINE; default none): afterwards no "
            "request starts, retries stop and the command fails.",
        ),
    ]


def add_to_group(group: click.Group) -> None:
    group.params.extend(_options(command=False))


def add_to(*commands: click.Command) -> None:
    """Let ``commands`` take the global options after their name too."""
    for command in commands:
        taken = {o for p in command.params for o in p.opts}
        command.params.extend(o for o in _options(command=True) if not taken & set(o.opts))


def given(ctx: click.Context) -> dict[str, Setting]:
    """The settings given to this command: global options and the command's own
    conn-reconcile.yaml settings (``--dir``, ``--prune``...) given on the command line."""
    from pathlib import Path

    from conn_reconcile.config import Setting

    out: dict[str, Setting] = {k: v for k, v in ctx.meta.get(GIVEN, {}).items() if k not in ("quiet", "colour")}
    for param in ctx.command.params:
        name = COMMAND_SETTINGS.get(param.name or "")
        if name is not None and ctx.get_parameter_source(param.name or "") is ParameterSource.COMMANDLINE:
            value = ctx.params[param.name or ""]
            value = tuple(value) if isinstance(value, list | tuple) else value
            out[name] = Setting(
                str(value) if isinstance(value, Path) else value, _label(param, ParameterSource.COMMANDLINE)
            )
    return out


def effective(ctx: click.Context, *, require_env: bool = True) -> Effective:
    """The effective settings of this command (conn-reconcile.yaml, environment, flags)."""
    from conn_reconcile.configfile import effective as resolve

    cache: dict[bool, Effective] = ctx.meta.setdefault("conn_reconcile.effective", {})
    if require_env not in cache:
        cache[require_env] = resolve(given(ctx), os.environ, require_env=require_env)
    return cache[require_env]


def settings(ctx: click.Context, *, require_env: bool = True) -> Settings:
    """The command's workflow settings: conn-reconcile.yaml, the environment, then flags."""
    from conn_reconcile.workflow import Settings

    console = ctx.find_object(_console_type())
    assert console is not None  # cli() puts it on the root context
    eff = effective(ctx, require_env=require_env)
    timing = {k: eff[k] for k in ("timeout", "deadline", "lock_timeout") if k in eff.settings}
    return Settings.from_effective(eff, console.redactor, **timing)


def initial(ctx: click.Context, name: str) -> Any:
    """A global option's value as given before the command (for the console)."""
    setting: Mapping[str, Setting] = ctx.meta.get(GIVEN, {})
    return setting[name].value if name in setting else None
