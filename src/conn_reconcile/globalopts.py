"""The global options, accepted before the command and after it (``conn-reconcile plan -q``),
and :class:`Invocation`: one run of one command, with every value and where it came from.

:meth:`Invocation.given` collects the settings given on the command line or by an environment
variable (with their source, as ``conn-reconcile config`` shows them);
:meth:`Invocation.effective` merges them with ``conn-reconcile.yaml``.
"""

from __future__ import annotations

import os

from conn_reconcile.cmdline import COMMANDLINE, ENVIRONMENT, FloatRange, Opt, Parsed, PathType

TYPE_CHECKING = False  # as typing's, which --help does not import
if TYPE_CHECKING:
    from conn_reconcile.config import Setting
    from conn_reconcile.configfile import Effective
    from conn_reconcile.console import Console
    from conn_reconcile.workflow import Settings

#: options whose value counts even when it is the default (shown by ``config``)
_KEEP_DEFAULT = ("timeout", "lock_timeout")
#: the command options that are settings of conn-reconcile.yaml: option dest -> setting
COMMAND_SETTINGS = {
    "directory": "dir",
    "prune": "prune",
    "manage_prefix": "manage_prefix",
    "protect": "protect",
    "max_deletes": "max_deletes",
    "parallelism": "parallelism",
}

#: a file name, as a string (--state, --file)
FILE_NAME = PathType(dir_okay=False, as_path=False)
#: a file or directory, as a Path
ANY_PATH = PathType()
#: a file (not a directory), as a Path
FILE_PATH = PathType(dir_okay=False)
#: a directory (not a file), as a Path
DIR_PATH = PathType(file_okay=False)


class Invocation:
    """One run of one command: its parsed values, the console, and (set by the command) the
    output format its errors follow."""

    def __init__(self, parsed: Parsed, console: Console):
        self.parsed = parsed
        self.console = console
        self.format = "text"
        self._effective: dict[bool, Effective] = {}

    def given(self) -> dict[str, Setting]:
        """The settings given to this command: global options and the command's own
        conn-reconcile.yaml settings (``--dir``, ``--prune``...) given on the command line."""
        from pathlib import Path

        from conn_reconcile.config import Setting

        out: dict[str, Setting] = {}
        for option in OPTIONS:
            kind, where = self.parsed.sources[option.dest]
            if option.dest in ("quiet", "colour"):
                continue
            if kind in (COMMANDLINE, ENVIRONMENT) or option.dest in _KEEP_DEFAULT:
                out[option.dest] = Setting(self.parsed.values[option.dest], _label(kind, where))
        for option in self.parsed.command.options:
            name = COMMAND_SETTINGS.get(option.dest)
            if name is not None and self.parsed.sources[option.dest][0] == COMMANDLINE:
                value = self.parsed.values[option.dest]
                out[name] = Setting(
                    str(value) if isinstance(value, Path) else value, _label(*self.parsed.sources[option.dest])
                )
        return out

    def effective(self, *, require_env: bool = True) -> Effective:
        """The effective settings of this command (conn-reconcile.yaml, environment, flags)."""
        from conn_reconcile.configfile import effective as resolve

        if require_env not in self._effective:
            self._effective[require_env] = resolve(self.given(), os.environ, require_env=require_env)
        return self._effective[require_env]

    def settings(self, *, require_env: bool = True) -> Settings:
        """The command's workflow settings: conn-reconcile.yaml, the environment, then flags."""
        from conn_reconcile.workflow import Settings

        eff = self.effective(require_env=require_env)
        timing = {k: eff[k] for k in ("timeout", "deadline", "lock_timeout") if k in eff.settings}
        return Settings.from_effective(eff, self.console.redactor, **timing)


def _label(kind: str, where: str) -> str:
    if kind == ENVIRONMENT:
        return f"environment variable {where}"
    if kind == COMMANDLINE:
        return f"flag {where}"
    return "default"


def _where_options() -> list[Opt]:
    """Which configuration, org and state a command works with."""
    return [
        Opt(
            "--config",
            dest="config",
            envvar="CONN_RECONCILE_CONFIG",
            metavar="PATH",
            help="conn-reconcile.yaml to use (env CONN_RECONCILE_CONFIG; default: found in this directory "
            "or a parent, up to the git root).",
        ),
        Opt(
            "--env",
            dest="env",
            envvar="CONN_RECONCILE_ENV",
            metavar="NAME",
            help="The environment of conn-reconcile.yaml to use (env CONN_RECONCILE_ENV).",
        ),
        Opt(
            "--api-url",
            dest="api_url",
            metavar="URL",
            help="Cohere API base URL (env CO_API_URL; default https://api.cohere.com).",
        ),
        Opt(
            "--api-key",
            dest="api_key",
            metavar="KEY",
            help="Cohere API key (env CO_API_KEY, or the environment's api_key_env; "
            "prefer the variable: arguments are visible to other users).",
        ),
        Opt(
            "--state",
            dest="state",
            type=FILE_NAME,
            metavar="PATH",
            help="State file (default .conn-reconcile/state.json, or the config's state), or git:BRANCH:PATH: file "
            "PATH on branch BRANCH of the remote origin of the current repository (env "
            "CONN_RECONCILE_STATE_REMOTE names another remote), locked across machines.",
        ),
    ]


def _run_options() -> list[Opt]:
    """How a command runs: output, the state lock, time limits."""
    return [
        Opt("-q", "--quiet", dest="quiet", flag=True, help="Only print errors and the summary."),
        Opt(
            "--color",
            negative="--no-color",
            dest="colour",
            help="Force colours on or off (default: on a TTY, unless NO_COLOR is set).",
        ),
        Opt(
            "--lock-timeout",
            dest="lock_timeout",
            type=FloatRange(0),
            envvar="CONN_RECONCILE_LOCK_TIMEOUT",
            default=0.0,
            show_default=True,
            metavar="SECONDS",
            help="How long apply waits for the state lock held by another run (0: fail at once, naming the holder).",
        ),
        Opt(
            "--timeout",
            dest="timeout",
            type=FloatRange(0, lo_open=True),
            envvar="CONN_RECONCILE_TIMEOUT",
            default=30.0,
            show_default=True,
            metavar="SECONDS",
            help="Time limit of each request as a whole (env CONN_RECONCILE_TIMEOUT). Failed requests are "
            "retried with backoff and jitter, up to 5 attempts; the first wait is up to "
            "CONN_RECONCILE_BACKOFF_BASE seconds (default 0.5), doubling each time, capped at 30.",
        ),
        Opt(
            "--deadline",
            dest="deadline",
            type=FloatRange(0, lo_open=True),
            envvar="CONN_RECONCILE_DEADLINE",
            metavar="SECONDS",
            help="Time limit for the whole command (env CONN_RECONCILE_DEADLINE; default none): afterwards no "
            "request starts, retries stop and the command fails.",
        ),
    ]


#: the global options, in the order --help lists them
OPTIONS = (*_where_options(), *_run_options())
