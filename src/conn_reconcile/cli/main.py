"""The ``conn-reconcile`` program: a click group (:class:`LazyGroup`) that imports a command's
module only when the command runs, shows its help or is completed, the global options on it,
and :func:`main`. Usage errors are one message and exit 64 (EX_USAGE), never quoting the API key.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import click
from click.shell_completion import CompletionItem

from conn_reconcile import __version__
from conn_reconcile.cli import options as globalopts
from conn_reconcile.config import defaults

if TYPE_CHECKING:
    from conn_reconcile.model.secrets import Redactor

__all__ = ["COMMANDS", "LazyGroup", "cli", "main", "parse"]

#: each command: its module, the command object's name there, and its line in --help
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": (
        "conn_reconcile.cli.tools",
        "init",
        "Scaffold a connectors repository: config, an example connector, pre-commit and workflows.",
    ),
    "validate": (
        "conn_reconcile.cli.tools",
        "validate",
        "Check connector files offline (also a pre-commit hook).",
    ),
    "plan": ("conn_reconcile.cli.plan", "plan", "Show what apply would change in the Cohere org."),
    "show": ("conn_reconcile.cli.plan", "show", "Render a saved plan file."),
    "apply": (
        "conn_reconcile.cli.apply",
        "apply",
        "Make the org match the files, or carry out a saved PLANFILE exactly (no prompt).",
    ),
    "authorize": (
        "conn_reconcile.cli.oauth",
        "authorize",
        "Print the URL at which the API key's user authorizes the OAuth connector NAME.",
    ),
    "import": (
        "conn_reconcile.cli.tools",
        "import_",
        "Write one YAML file per remote connector, with pinned ids and ${VAR} secret placeholders.",
    ),
    "snapshot": (
        "conn_reconcile.cli.tools",
        "snapshot",
        "Keep a snapshot of the org in the state, for plans made without the API key.",
    ),
    "force-unlock": (
        "conn_reconcile.cli.tools",
        "force_unlock",
        "Remove the state lock LOCK_ID (printed by the run that found it held).",
    ),
    "schema": (
        "conn_reconcile.cli.tools",
        "schema",
        "Print the JSON Schema of connector files (or of conn-reconcile.yaml).",
    ),
    "config": ("conn_reconcile.cli.tools", "config_", "Show every effective setting and where it comes from."),
    "secrets": (
        "conn_reconcile.cli.tools",
        "secrets",
        "List every variable the connector files need, per environment (names, never values).",
    ),
    "policy": ("conn_reconcile.cli.policy", "policy", "Show the policy rules in effect and where each is set."),
    "emulator": (
        "conn_reconcile.cli.tools",
        "emulator",
        "Run the local Cohere connectors API emulator (for tests and demos).",
    ),
}
COMPLETE_VAR = "_CONN_RECONCILE_COMPLETE"
COMPLETE_VALUES = tuple(f"{shell}_{what}" for shell in ("bash", "zsh", "fish") for what in ("source", "complete"))
API_KEY_ENV = defaults.API_KEY_ENV


class LazyGroup(click.Group):
    """A group whose commands are imported when first needed (click's "Lazily Loading
    Subcommands"): the listing in --help and the completion of command names use the
    one-line summaries of ``lazy``. Its :meth:`main` maps click's exceptions to an exit code
    and prints usage errors redacted."""

    def __init__(self, *args: Any, lazy: Mapping[str, tuple[str, str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module, attr, _ = self.lazy[cmd_name]
        command = getattr(importlib.import_module(module), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module}.{attr} is not a click command")
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """click's, with the commands a mistyped name is close to (``plna``: ``plan``)."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            name = args[0] if args else ""
            if not name or name.startswith("-") or self.get_command(ctx, name) is not None:
                raise
            raise click.UsageError(exc.message + _suggestion(name, self.list_commands(ctx)), exc.ctx) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, _, summary) in self.lazy.items()])

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        lazy = self.lazy.items()
        names = [CompletionItem(n, help=summary) for n, (_, _, summary) in lazy if n.startswith(incomplete)]
        return names + click.Command.shell_complete(self, ctx, incomplete)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run one command line; the exit code is returned (``standalone_mode=False``) or the
        process exits with it."""
        words = list(sys.argv[1:] if args is None else args)
        code = _main(self, words, prog_name or self.name or "conn-reconcile", complete_var, extra)
        if standalone_mode:
            sys.exit(code)
        return code


def _main(group: click.Group, words: list[str], prog: str, complete_var: str | None, extra: dict[str, Any]) -> int:
    """click's main (shell completion first), its exceptions mapped to an exit code."""
    complete_var = complete_var or COMPLETE_VAR
    instruction = os.environ.get(complete_var)
    if instruction and instruction not in COMPLETE_VALUES:
        _write_err(f"{complete_var}: expected bash_source, zsh_source or fish_source, not {instruction!r}\n")
        return 1
    try:
        return int(click.Group.main(group, words, prog, complete_var, standalone_mode=False, **extra) or 0)
    except SystemExit as exc:  # completion, or click's own exit on a closed pipe
        return exc.code if isinstance(exc.code, int) else 1
    except click.exceptions.NoArgsIsHelpError as exc:
        _write_err(_known_keys(words)(f"{exc.ctx.get_help()}\n\nError: Missing command.\n"))
        return _usage()
    except click.ClickException as exc:  # it may quote a word given: never the API key, however given
        shown = io.StringIO()
        exc.show(shown)
        _write_err(_known_keys(words)(shown.getvalue()))
        return _usage() if isinstance(exc, click.UsageError) else exc.exit_code
    except click.Abort:  # Ctrl-C while the command line was read
        _write_err("Interrupted.\n")
        return 130


def _usage() -> int:
    """A bad command line's exit code: 64 (EX_USAGE), never 2, which is ``plan --detailed-exitcode``'s
    "there are changes"."""
    from conn_reconcile.errors import ExitCode

    return ExitCode.USAGE


def _suggestion(name: str, choices: list[str]) -> str:
    """`` Did you mean 'plan'?`` for a name close to one (or more) of ``choices``, else nothing."""
    import difflib

    close = difflib.get_close_matches(name, choices, n=3)
    if not close:
        return ""
    if len(close) == 1:
        return f" Did you mean {close[0]!r}?"
    return f" Did you mean one of: {', '.join(map(repr, close))}?"


def _write_err(text: str) -> None:
    from conn_reconcile.output.console import write

    write(sys.stderr, text)


def _known_keys(words: list[str]) -> Redactor:
    """A redactor of the API keys known before the command line is understood: the
    variable's, and any word given to ``--api-key``."""
    from conn_reconcile.model.secrets import Redactor

    given = [w.partition("=")[2] for w in words if w.startswith("--api-key=")]
    given += [after for before, after in pairwise(words) if before == "--api-key"]
    return Redactor([os.environ.get(API_KEY_ENV), *given])


cli = LazyGroup(
    "conn-reconcile",
    lazy=COMMANDS,
    params=list(globalopts.GROUP_OPTIONS),
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help="""Reconcile Cohere connectors with the YAML files in git.

\b
  conn-reconcile validate                 offline checks (also a pre-commit hook)
  conn-reconcile plan --out plan.json     what would change in the org, saved
  conn-reconcile apply plan.json          carry out exactly that plan

\b
Settings come from conn-reconcile.yaml (see `conn-reconcile config`); flags override it.
Global options may also be given after the command (`conn-reconcile plan -q`).

\b
Exit codes: 0 ok; 1 error; 2 plan --detailed-exitcode found changes;
3 apply partly failed or a create's outcome is unknown; 64 bad usage; 130 interrupted.""",
)
click.version_option(__version__, "--version", prog_name="conn-reconcile", help="Show the version.")(cli)


def parse(args: Sequence[str]) -> click.Context:
    """Read a command line without running it: the command's context (its parent: the
    group's). Raises click's usage errors."""
    group_ctx = click.Context(cli, info_name="conn-reconcile", **cli.context_settings)
    with group_ctx.scope(cleanup=False):  # the group's options, parsed as make_context parses them
        words = click.Command.parse_args(cli, group_ctx, list(args))  # the words from the command's name on
    if not words:
        raise click.UsageError("Missing command.", group_ctx)
    name, command, rest = cli.resolve_command(group_ctx, words)
    assert name is not None and command is not None  # else resolve_command raised
    return command.make_context(name, rest, parent=group_ctx)


def main() -> None:
    """The ``conn-reconcile`` entry point (and ``python -m conn_reconcile``): exits with the code."""
    cli.main(prog_name="conn-reconcile")
