"""The global options (declared once, accepted before and after the command, the later winning);
:class:`Command`, the click class of every command, whose callback gets an :class:`Invocation`
(one run of one command: its console, its :class:`Settings` built once from the click context,
its workflow session); :class:`SettingOption`; the commands' value types."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
from click.core import ParameterSource
from click.shell_completion import CompletionItem

from conn_reconcile.config import defaults as defaults

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from conn_reconcile.config.settings import Layer, Settings
    from conn_reconcile.output.console import Console
    from conn_reconcile.workflows.session import Session

COMMANDLINE = ParameterSource.COMMANDLINE
ENVIRONMENT = ParameterSource.ENVIRONMENT
#: the global options that are no setting (how the command prints)
_NOT_SETTINGS = ("quiet", "colour")
#: a global option's setting, where the names differ
_SETTING_OF = {"env": "environment"}
_P = TypeVar("_P", covariant=True)


class PathType(click.Path[_P]):
    """``click.Path``, refusing an empty word; ``as_path``: the value as a :class:`pathlib.Path`
    (pathlib imported only then: ``--help`` does without it)."""

    def __init__(self, *, as_path: bool, file_okay: bool = True, dir_okay: bool = True):
        super().__init__(file_okay=file_okay, dir_okay=dir_okay)
        self.as_path = as_path

    def convert(self, value: str | os.PathLike[str], param: click.Parameter | None, ctx: click.Context | None) -> _P:
        if not os.fspath(value):
            self.fail("an empty path.", param, ctx)
        converted = super().convert(value, param, ctx)
        if not self.as_path:
            return converted
        from pathlib import Path

        return cast(_P, Path(value))


class FloatRange(click.FloatRange):
    """``click.FloatRange``, refusing NaN (which fits no range)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = super().convert(value, param, ctx)
        if number != number:
            self.fail(f"{value} is not in the range {self.bounds()}.", param, ctx)
        return number

    def bounds(self) -> str:
        """The range as click words it (``x>0``, ``0<=x<=60``), from its public bounds."""
        low_op, high_op = ("<" if self.min_open else "<="), ("<" if self.max_open else "<=")
        if self.max is None:
            return f"x{'>' if self.min_open else '>='}{self.min:g}" if self.min is not None else "x"
        if self.min is None:
            return f"x{high_op}{self.max:g}"
        return f"{self.min:g}{low_op}x{high_op}{self.max:g}"


#: a file name, as a string (--state, --file)
FILE_NAME: PathType[str] = PathType(dir_okay=False, as_path=False)
#: a file or directory, as a Path
ANY_PATH: PathType[Path] = PathType(as_path=True)
#: a file (not a directory), as a Path
FILE_PATH: PathType[Path] = PathType(dir_okay=False, as_path=True)
#: a directory (not a file), as a Path
DIR_PATH: PathType[Path] = PathType(file_okay=False, as_path=True)


class SettingOption(click.Option):
    """A command's option that is a setting of conn-reconcile.yaml (``--dir``, ``--prune``...):
    given on the command line, it is read into the command's
    :class:`~conn_reconcile.config.settings.Settings` (never handed to the command's function)."""

    def __init__(self, *args: Any, setting: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.setting = setting


class GlobalOption(click.Option):
    """A global option; a bad value read from its environment variable is named with it."""

    def get_error_hint(self, ctx: click.Context | None) -> str:
        hint = super().get_error_hint(ctx)
        if ctx is not None and self.name and ctx.get_parameter_source(self.name) is ENVIRONMENT:
            hint += f" (environment variable {self.envvar})"
        return hint


def _declare(*, on_group: bool) -> list[click.Option]:
    """The global options: on the group, with their environment variables and defaults (the
    one place they are written); on a command, hidden copies with neither."""

    def opt(*decls: str, envvar: str | None = None, default: Any = None, **kw: Any) -> click.Option:
        return GlobalOption(
            list(decls),
            envvar=envvar if on_group else None,
            default=default if on_group else None,
            show_default=on_group and isinstance(default, float),
            hidden=not on_group,
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
        opt(
            "--api-url",
            "api_url",
            metavar="URL",
            help=f"Cohere API base URL (env CO_API_URL; default {defaults.API_URL}).",
        ),
        opt(
            "--api-key",
            "api_key",
            metavar="KEY",
            help="Cohere API key (env CO_API_KEY, or the environment's api_key_env; "
            "prefer the variable: arguments are visible to other users).",
        ),
        opt(
            "--state",
            "state",
            type=FILE_NAME,
            metavar="PATH",
            help=f"State file (default {defaults.STATE_PATH} beside conn-reconcile.yaml, else at the git root; or "
            "the config's state), or git:BRANCH:PATH: file "
            "PATH on branch BRANCH of the remote origin of the current repository (env "
            "CONN_RECONCILE_STATE_REMOTE names another remote), locked across machines.",
        ),
    ]


def _run_options(opt: Callable[..., click.Option]) -> list[click.Option]:
    """How a command runs: output, the state lock, time limits."""
    return [
        opt("-q", "--quiet", "quiet", is_flag=True, default=False, help="Only print errors and the summary."),
        opt(
            "--color/--no-color",
            "colour",
            help="Force colours on or off (default: on a TTY, unless NO_COLOR is set).",
        ),
        opt(
            "--lock-timeout",
            "lock_timeout",
            type=FloatRange(min=0),
            envvar="CONN_RECONCILE_LOCK_TIMEOUT",
            default=defaults.LOCK_TIMEOUT,
            metavar="SECONDS",
            help="How long apply waits for the state lock held by another run (0: fail at once, naming the holder).",
        ),
        opt(
            "--timeout",
            "timeout",
            type=FloatRange(min=0, min_open=True),
            envvar="CONN_RECONCILE_TIMEOUT",
            default=defaults.TIMEOUT,
            metavar="SECONDS",
            help="Time limit of each request as a whole (env CONN_RECONCILE_TIMEOUT). Failed requests are "
            f"retried with backoff and jitter, up to {defaults.MAX_ATTEMPTS} attempts, each retry said on stderr; "
            "the first wait is up to "
            f"CONN_RECONCILE_BACKOFF_BASE seconds (default {defaults.BACKOFF_BASE}), doubling each time, capped "
            f"at {defaults.BACKOFF_CAP:g}.",
        ),
        opt(
            "--deadline",
            "deadline",
            type=FloatRange(min=0, min_open=True),
            envvar="CONN_RECONCILE_DEADLINE",
            default=defaults.DEADLINE,
            metavar="SECONDS",
            help="Time limit for the whole command (env CONN_RECONCILE_DEADLINE): afterwards no request starts, "
            "retries stop and the command fails.",
        ),
    ]


#: the global options of the group, in the order --help lists them
GROUP_OPTIONS = _declare(on_group=True)
GLOBAL_NAMES = frozenset(o.name for o in GROUP_OPTIONS if o.name)


class Command(click.Command):
    """A command of conn-reconcile: ``callback(invocation, **its own values)`` (its
    :class:`SettingOption` values go to the settings instead), its result the exit code.
    ``global_options``: the global options are accepted after its name too; ``require_env``:
    with environments defined, its settings need one selected; ``examples``: (command line, what
    it does) pairs, the Examples section of its help."""

    def __init__(
        self,
        *args: Any,
        global_options: bool = True,
        require_env: bool = True,
        examples: tuple[tuple[str, str], ...] = (),
        **kwargs: Any,
    ):
        if global_options:
            kwargs.setdefault("epilog", "The global options (conn-reconcile --help) are accepted here too.")
        super().__init__(*args, **kwargs)
        self.global_options = global_options
        self.require_env = require_env
        self.examples = examples
        if global_options:
            self.params.extend(_declare(on_group=False))

    def invoke(self, ctx: click.Context) -> int:
        inv = Invocation(ctx)
        settings = {p.name for p in self.params if isinstance(p, SettingOption)}
        own = {k: v for k, v in ctx.params.items() if k not in GLOBAL_NAMES and k not in settings}
        callback = self.callback
        assert callback is not None
        return _run(inv, lambda: ctx.invoke(callback, inv, **own))

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The examples (each command line on a line of its own, as typed), then the epilog."""
        if self.examples:
            with formatter.section("Examples"):
                for line, what in self.examples:
                    formatter.write(f"{'':{formatter.current_indent}}{line}\n")
                    with formatter.indentation(), formatter.indentation():
                        formatter.write_text(what)
        super().format_epilog(ctx, formatter)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """Its options, and the global options (hidden from its help) too."""
        items = super().shell_complete(ctx, incomplete)
        if self.global_options and incomplete.startswith("-"):
            for param in self.params:
                if isinstance(param, GlobalOption) and ctx.get_parameter_source(param.name or "") is not COMMANDLINE:
                    names = (*param.opts, *param.secondary_opts)
                    items += [CompletionItem(n, help=param.help) for n in names if n.startswith(incomplete)]
        return items


def command(
    name: str, *, cls: type[Command] = Command, global_options: bool = True, require_env: bool = True, **attrs: Any
) -> Callable[[Callable[..., Any]], Command]:
    """``@click.command`` for a conn-reconcile command (see :class:`Command`)."""
    return click.command(name, cls=cls, global_options=global_options, require_env=require_env, **attrs)


def _run(inv: Invocation, call: Callable[[], Any]) -> int:
    """Run a command; the tool's errors are one message and an exit code, never a traceback.
    Usage errors go up to the group (one message, exit 64)."""
    from conn_reconcile.errors import ConnReconcileError, ExitCode
    from conn_reconcile.output.console import error_output, silence_stdout, write

    try:
        return int(call() or 0)
    except ConnReconcileError as exc:
        error_output(inv.console, exc, inv.format)
        return exc.exit_code
    except KeyboardInterrupt:
        write(sys.stderr, "Interrupted.\n")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # the reader went away (`conn-reconcile plan | head`): stop quietly
        silence_stdout()
        return ExitCode.ERROR
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except Exception as exc:  # a bug or an unforeseen failure: one redacted line, no traceback
        if os.environ.get("CONN_RECONCILE_DEBUG"):
            raise
        inv.console.err(f"Error: unexpected {type(exc).__name__}: {exc} (set CONN_RECONCILE_DEBUG=1 for a traceback)")
        return ExitCode.ERROR


def _label(param: click.Parameter, source: ParameterSource | None) -> str:
    if source is ENVIRONMENT:
        return f"environment variable {param.envvar}"
    if source is COMMANDLINE:
        return f"flag {max(param.opts, key=len)}"
    return "default"


def _param(command: click.Command, name: str) -> click.Parameter:
    return next(p for p in command.params if p.name == name)


def _global_values(ctx: click.Context) -> dict[str, tuple[Any, ParameterSource | None, click.Parameter]]:
    """Each global option's value, source and declaration: given after the command, else as
    the group has it (given before the command, from its variable, or its default)."""
    group = ctx.parent
    out: dict[str, tuple[Any, ParameterSource | None, click.Parameter]] = {}
    for option in GROUP_OPTIONS:
        name = option.name or ""
        if ctx.get_parameter_source(name) is COMMANDLINE:
            out[name] = (ctx.params[name], COMMANDLINE, _param(ctx.command, name))
        elif group is not None and name in group.params:
            out[name] = (group.params[name], group.get_parameter_source(name), option)
        else:  # the command run on its own, without the group
            out[name] = (option.default, ParameterSource.DEFAULT, option)
    return out


class Invocation:
    """One run of one command: the global options' values and sources, the console, the
    command's settings (built once, when first asked for), and (set by the command) the output
    format its errors follow."""

    def __init__(self, ctx: click.Context):
        from conn_reconcile.model.secrets import Redactor
        from conn_reconcile.output.console import Console

        self.ctx = ctx
        self.globals = _global_values(ctx)
        self.format = "text"
        api_key = self.value("api_key")
        redactor = Redactor([api_key] if isinstance(api_key, str) else [])
        self.console: Console = Console(redactor, quiet=bool(self.value("quiet")), colour=self.value("colour"))

    def value(self, name: str) -> Any:
        """A global option's value (after the command, else before it, else its variable or default)."""
        return self.globals[name][0]

    @property
    def env(self) -> Mapping[str, str]:
        """The process environment the command reads (its settings, its secrets)."""
        return os.environ

    def command_line(self) -> Layer:
        """The settings given on the command line: the global options given (or read by click
        from their environment variables) and the command's setting options given."""
        from conn_reconcile.config.sources import Sourced

        out: dict[str, Sourced] = {}
        for name, (value, source, param) in self.globals.items():
            if name not in _NOT_SETTINGS and source in (COMMANDLINE, ENVIRONMENT):
                out[_SETTING_OF.get(name, name)] = Sourced(value, _label(param, source))
        for param in self.ctx.command.params:
            if isinstance(param, SettingOption) and self.ctx.get_parameter_source(param.name or "") is COMMANDLINE:
                value = self.ctx.params[param.name or ""]
                out[param.setting] = Sourced(
                    os.fspath(value) if isinstance(value, os.PathLike) else value, _label(param, COMMANDLINE)
                )
        return out

    @functools.cached_property
    def settings(self) -> Settings:
        """The command's settings (flags, environment variables, conn-reconcile.yaml, defaults)."""
        from conn_reconcile.files.configfile import load_settings

        command = self.ctx.command
        require_env = command.require_env if isinstance(command, Command) else True
        return load_settings(self.command_line(), self.env, require_env=require_env)

    @functools.cached_property
    def session(self) -> Session:
        """What the command's workflow runs with: its settings, the environment, the redactor."""
        from conn_reconcile.workflows.session import Session

        return Session(self.settings, self.env, self.console.redactor, notice=self.console.err)
