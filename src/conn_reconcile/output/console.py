"""The console of the command line: every byte printed goes through :class:`Console` (the
redactor, then output escaping); :func:`error_output` turns the tool's errors into one clean
message; :func:`silence_stdout` ends output to a reader that went away; :func:`confirm` is
apply's "yes" prompt."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TextIO

    from conn_reconcile.errors import ConnReconcileError
    from conn_reconcile.model.secrets import Redactor


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
        write(sys.stdout, self._safe(text) + ("\n" if nl else ""))

    def info(self, text: str) -> None:
        if not self.quiet:
            self.err(text)

    def err(self, text: str) -> None:
        write(sys.stderr, self._safe(text, stderr=True) + "\n")

    def use_colour(self) -> bool:
        if self.colour is not None:
            return self.colour
        return "NO_COLOR" not in os.environ and sys.stdout.isatty()


def write(stream: TextIO, text: str) -> None:
    """Write and flush; a character the stream cannot encode is written as an escape."""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        encoding = stream.encoding or "utf-8"
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
    stream.flush()


def silence_stdout() -> None:
    """Point stdout at /dev/null (after a closed pipe), so the interpreter's last flush finds
    no broken pipe either."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def error_output(console: Console, exc: ConnReconcileError, fmt: str) -> None:
    """Print one of the tool's errors: one clean message on stderr (and, with ``--format
    github``, an annotation on stdout, where the runner reads workflow commands)."""
    if fmt == "github":
        console.out(_github_error(exc), nl=False)
    console.err(_error_text(exc))


def _error_text(exc: ConnReconcileError) -> str:
    from conn_reconcile.errors import InputError

    return str(exc) if isinstance(exc, InputError) else f"Error: {exc}"


def _github_error(exc: ConnReconcileError) -> str:
    from conn_reconcile.errors import Diagnostic, InputError
    from conn_reconcile.output.render import render_github_diagnostics

    diagnostics = exc.diagnostics if isinstance(exc, InputError) else [Diagnostic("", message=str(exc))]
    return render_github_diagnostics(diagnostics)


def confirm(console: Console) -> None:
    from conn_reconcile.errors import RefusedError

    if not sys.stdin.isatty():
        raise RefusedError("refusing to apply without confirmation: stdin is not a terminal; pass --auto-approve")
    write(sys.stdout, "\nDo you want to perform these actions? Only 'yes' will be accepted: ")
    answer = sys.stdin.readline()
    if answer.strip() != "yes":
        raise RefusedError("apply cancelled; nothing was changed")
