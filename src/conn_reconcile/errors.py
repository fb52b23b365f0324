"""The one error root of conn-reconcile and the exit codes it maps to: every deliberate error
derives from :class:`ConnReconcileError`, whose ``str()`` the CLI prints (already redacted by the
caller's redactor) before exiting with its ``exit_code``. Pure: no third-party import."""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from conn_reconcile.escape import escape


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # bad input, API error, stale plan, refused operation
    CHANGES = 2  # plan --detailed-exitcode: there are changes
    PARTIAL = 3  # apply: something changed and something failed, or outcome unknown
    USAGE = 64  # a bad command line (EX_USAGE of sysexits.h), nothing done
    INTERRUPTED = 130  # Ctrl-C


class Diagnostic(NamedTuple):
    """One problem in one input file, located as precisely as we can. (A named tuple, like
    the other small values of the CLI's start-up path: importing ``dataclasses`` would slow
    every start of the pre-commit hook.) Ordered by file, line, column, field, message."""

    file: str
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based
    field: str | None = None  # dotted path, e.g. "service_auth.type"
    message: str = ""

    def format(self) -> str:
        """``file:line:col: field: message``, one line: file name, field and message are
        escaped (:func:`conn_reconcile.escape.escape`), as they may come from data."""
        loc = escape(self.file)
        if self.line is not None:
            loc += f":{self.line}"
            if self.col is not None:
                loc += f":{self.col}"
        field = f" {escape(self.field)}:" if self.field else ""
        return f"{loc}:{field} {escape(self.message)}"


class ConnReconcileError(Exception):
    """Root of every deliberate error. ``str()`` is one clear, secret-free message."""

    exit_code: int = ExitCode.ERROR


class InputError(ConnReconcileError):
    """One or more problems with the connector files (or another local input)."""

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]):
        self.diagnostics = tuple(sorted(diagnostics))
        super().__init__("\n".join(d.format() for d in self.diagnostics))


class ConfigError(ConnReconcileError):
    """Bad command-line options or environment (missing API key, bad URL...)."""


class SecretError(ConnReconcileError):
    """A secret reference could not be resolved (unset variable...)."""


class ApiError(ConnReconcileError):
    """The Cohere API answered with an error, or with something that is not its documented shape."""

    def __init__(self, message: str, *, status: int | None = None, method: str = "", path: str = ""):
        self.status = status
        self.method = method
        self.path = path
        self.api_message = message
        where = f"{method} {path}".strip()
        code = f" {status}" if status is not None else ""
        prefix = f"API error{code}" + (f" on {where}" if where else "")
        super().__init__(f"{prefix}: {message}")


class AuthError(ApiError):
    """401/403/498: the API key is missing, wrong or lacks permission. Never retried."""


class NotFoundError(ApiError):
    """404 on a connector id."""


class OutcomeUnknownError(ConnReconcileError):
    """A create may or may not have happened and re-listing could not tell."""

    exit_code = ExitCode.PARTIAL


class StalePlanError(ConnReconcileError):
    """A saved plan no longer matches the remote org."""


class StateError(ConnReconcileError):
    """The state file is unreadable or of an unknown version."""


class RefusedError(ConnReconcileError):
    """A safeguard refused the operation (no TTY, prune limits, empty desired set...)."""


class DeadlineExceededError(ConnReconcileError):
    """The command-wide ``--deadline`` passed: no new request starts and retries stop."""
