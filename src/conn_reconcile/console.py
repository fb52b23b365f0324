"""The console of the command line: every byte printed goes through :class:`Console` (the
redactor, then output escaping); :class:`Group` turns the tool's errors into one clean message
and an exit code; :func:`confirm` is apply's "yes" prompt."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from conn_reconcile.errors import ConnReconcileError
    from conn_reconcile.secrets import Redactor


class Console:
    """Every byte the CLI prints goes through here, and so through the redactor, then through
    :func:`~conn_reconcile.escape.neutralise` (the last line of defence: control, bidi and
    zero-width characters made visible; newlines and our own SGR colours kept). The renderers
    have escaped data already; escaping is idempotent, so nothing is escaped twice. Nothing on
    stderr is ever a workflow command (:func:`~conn_reconcile.escape.guard_lines`); stdout may
    carry our own ``--format github`` annotations, whose data the renderer has %-encoded."""

    def __init__(self, redactor: Redactor, *, quiet: bool, colour: bool | None):
        self.redactor = redactor
        self.quiet = quiet
        self.colour = colour

    def _safe(self, text: str, *, stderr: bool = False) -> str:
        from conn_reconcile.escape import guard_lines, neutralise

        text = neutralise(self.redactor(text))
        return guard_lines(text) if stderr else text

    def out(self, text: str, *, nl: bool = True) -> None:
        # color=True keeps the escapes click would strip off a non-TTY when --color forces them
        click.echo(self._safe(text), nl=nl, color=True if self.colour else None)

    def info(self, text: str) -> None:
        if not self.quiet:
            click.echo(self._safe(text, stderr=True), err=True)

    def err(self, text: str) -> None:
        click.echo(self._safe(text, stderr=True), err=True)

    def use_colour(self) -> bool:
        if self.colour is not None:
            return self.colour
        return "NO_COLOR" not in os.environ and sys.stdout.isatty()


class Group(click.Group):
    """Maps our errors to one clean message and an exit code; never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from conn_reconcile.errors import ConnReconcileError, ExitCode  # not for --help: it never gets here

        try:
            return super().invoke(ctx)
        except ConnReconcileError as exc:
            console = ctx.find_object(Console)
            if console is None:
                click.echo(f"Error: {exc}", err=True)
                ctx.exit(exc.exit_code)
            if ctx.meta.get("conn_reconcile.format") == "github":
                # the runner reads workflow commands from stdout; the plain message goes to the log
                console.out(_github_error(exc), nl=False)
            console.err(_error_text(exc))
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(ExitCode.INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a bug or an unforeseen failure: one redacted line, no traceback
            if os.environ.get("CONN_RECONCILE_DEBUG"):
                raise
            console = ctx.find_object(Console)
            text = f"Error: unexpected {type(exc).__name__}: {exc} (set CONN_RECONCILE_DEBUG=1 for a traceback)"
            if console is not None:
                console.err(text)
            else:
                click.echo(text, err=True)
            ctx.exit(ExitCode.ERROR)


def _error_text(exc: ConnReconcileError) -> str:
    from conn_reconcile.errors import InputError

    return str(exc) if isinstance(exc, InputError) else f"Error: {exc}"


def _github_error(exc: ConnReconcileError) -> str:
    from conn_reconcile.errors import Diagnostic, InputError
    from conn_reconcile.render import render_github_diagnostics

    diagnostics = exc.diagnostics if isinstance(exc, InputError) else [Diagnostic("", message=str(exc))]
    return render_github_diagnostics(diagnostics)


def confirm(console: Console) -> None:
    from conn_reconcile.errors import RefusedError

    if not sys.stdin.isatty():
        raise RefusedError("refusing to apply without confirmation: stdin is not a terminal; pass --auto-approve")
    answer = click.prompt(
        "\nDo you want to perform these actions? Only 'yes' will be accepted", default="", show_default=False
    )
    if answer.strip() != "yes":
        raise RefusedError("apply cancelled; nothing was changed")
