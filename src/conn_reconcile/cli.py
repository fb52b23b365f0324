"""The command line: the ``conn-reconcile`` program, its global options, and ``main``.

The commands live in :mod:`conn_reconcile.commands_plan` (plan, show),
:mod:`conn_reconcile.commands_apply` (apply) and
:mod:`conn_reconcile.commands_tools` (validate, import, secrets, config, schema, force-unlock,
emulator); the parser in :mod:`conn_reconcile.cmdline`. :func:`cli` parses, runs one command
and maps the tool's errors to one clean message and an exit code, never a traceback. Heavy
modules (httpx, ruamel, the planner) are imported inside the commands so that
``conn-reconcile --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from conn_reconcile import __version__, globalopts
from conn_reconcile.cmdline import HelpShown, Program, UsageError, parse
from conn_reconcile.commands_apply import APPLY
from conn_reconcile.commands_plan import PLAN, SHOW
from conn_reconcile.commands_tools import (
    CONFIG,
    EMULATOR,
    FORCE_UNLOCK,
    IMPORT,
    SCHEMA,
    SECRETS,
    SNAPSHOT,
    VALIDATE,
)
from conn_reconcile.console import Console, error_output, write

TYPE_CHECKING = False  # as typing's, which --help does not import
if TYPE_CHECKING:
    from conn_reconcile.secrets import Redactor

__all__ = ["PROGRAM", "Console", "cli", "main"]

PROGRAM = Program(
    "conn-reconcile",
    description="""Reconcile Cohere connectors with the YAML files in git.

  conn-reconcile validate                 offline checks (also a pre-commit hook)
  conn-reconcile plan --out plan.json     what would change in the org, saved
  conn-reconcile apply plan.json          carry out exactly that plan

Settings come from conn-reconcile.yaml (see `conn-reconcile config`); flags override it.
Global options may also be given after the command (`conn-reconcile plan -q`).

Exit codes: 0 ok; 1 error; 2 plan --detailed-exitcode found changes (and bad usage);
3 apply partly failed or a create's outcome is unknown; 130 interrupted.""",
    version=__version__,
    options=globalopts.OPTIONS,
    commands=(VALIDATE, PLAN, SHOW, APPLY, IMPORT, SNAPSHOT, FORCE_UNLOCK, SCHEMA, CONFIG, SECRETS, EMULATOR),
)
COMPLETE_ENV = "_CONN_RECONCILE_COMPLETE"


def cli(argv: Sequence[str] | None = None) -> int:
    """Run one command line (default: this process's arguments); returns the exit code."""
    try:
        return _cli(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:  # the reader went away (`conn-reconcile plan | head`): stop quietly
        _silence_stdout()
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush finds no broken pipe either."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _cli(words: list[str]) -> int:
    if os.environ.get(COMPLETE_ENV):
        from conn_reconcile.completion import complete

        return complete(PROGRAM, os.environ)
    try:
        parsed = parse(PROGRAM, words, os.environ)
    except HelpShown:
        return 0
    except UsageError as exc:  # it may quote a word given: never the API key, however given
        write(sys.stderr, _known_keys(words)(exc.render()))
        return 2
    from conn_reconcile.secrets import Redactor

    api_key = parsed.values["api_key"]
    redactor = Redactor([api_key] if isinstance(api_key, str) else [])
    console = Console(redactor, quiet=bool(parsed.values["quiet"]), colour=parsed.values["colour"])
    inv = globalopts.Invocation(parsed, console)
    own = {o.dest for o in parsed.command.options} | {a.dest for a in parsed.command.arguments}
    return _run(inv, {k: v for k, v in parsed.values.items() if k in own})


def _known_keys(words: list[str]) -> Redactor:
    """A redactor of the API keys known before the command line is understood: the variable's
    and any word given to ``--api-key``."""
    from itertools import pairwise

    from conn_reconcile.config import DEFAULT_API_KEY_ENV
    from conn_reconcile.secrets import Redactor

    given = [w.partition("=")[2] for w in words if w.startswith("--api-key=")]
    given += [after for before, after in pairwise(words) if before == "--api-key"]
    return Redactor([os.environ.get(DEFAULT_API_KEY_ENV), *given])


def _run(inv: globalopts.Invocation, values: dict[str, object]) -> int:
    from conn_reconcile.errors import ConnReconcileError, ExitCode

    console = inv.console
    try:
        code = inv.parsed.command.run(inv, **values)
    except ConnReconcileError as exc:
        error_output(console, exc, inv.format)
        return exc.exit_code
    except UsageError as exc:
        write(sys.stderr, exc.render())
        return 2
    except KeyboardInterrupt:
        write(sys.stderr, "Interrupted.\n")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        raise
    except Exception as exc:  # a bug or an unforeseen failure: one redacted line, no traceback
        if os.environ.get("CONN_RECONCILE_DEBUG"):
            raise
        console.err(f"Error: unexpected {type(exc).__name__}: {exc} (set CONN_RECONCILE_DEBUG=1 for a traceback)")
        return ExitCode.ERROR
    return int(code or 0)


def main() -> None:
    sys.exit(cli())
