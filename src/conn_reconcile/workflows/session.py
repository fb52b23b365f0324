"""One command's run, as every workflow gets it (:class:`Session`): its :class:`Settings`, the
process environment (read for the fingerprint key, the state's git remote, the retry backoff
and, through :func:`bind_secrets` only, the connectors' secrets), the Redactor, the API client
(its retries said), the state lock and scratch directory, and the commands it prints to run."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from conn_reconcile.config import defaults
from conn_reconcile.config.settings import Settings
from conn_reconcile.errors import ConfigError
from conn_reconcile.model.binding import BoundSecrets, bind
from conn_reconcile.model.connector import Desired
from conn_reconcile.model.secrets import FINGERPRINT_KEY_VAR, Redactor
from conn_reconcile.state.spec import DEFAULT_REMOTE, REMOTE_VAR, GitStateSpec
from conn_reconcile.state.spec import parse as parse_state_spec

if TYPE_CHECKING:
    from conn_reconcile.api.client import CohereClient
    from conn_reconcile.state.lock import StateLock

#: overrides :data:`defaults.BACKOFF_BASE` (seconds; tests and CI use it for quick retries)
BACKOFF_BASE_VAR = "CONN_RECONCILE_BACKOFF_BASE"


class ClientFactory(Protocol):
    """How a session makes its API client (tests give one on a mock transport)."""

    def __call__(
        self,
        api_url: str,
        api_key: str,
        *,
        timeout: float,
        deadline_at: float | None,
        backoff_base: float,
        rate_limit: float | None,
        key_source: str,
        on_retry: Callable[[str], None] | None,
    ) -> CohereClient: ...


def cohere_client(
    api_url: str,
    api_key: str,
    *,
    timeout: float,
    deadline_at: float | None,
    backoff_base: float,
    rate_limit: float | None,
    key_source: str,
    on_retry: Callable[[str], None] | None,
) -> CohereClient:
    from conn_reconcile.api.client import CohereClient

    return CohereClient(
        api_url,
        api_key,
        timeout=timeout,
        deadline_at=deadline_at,
        backoff_base=backoff_base,
        rate_limit=rate_limit,
        key_source=key_source,
        on_retry=on_retry,
    )


@dataclass
class Session:
    """What a workflow runs with: the command's settings, the environment, the redactor (which
    learns the API keys and the fingerprint key here, and the secrets when they are bound)."""

    settings: Settings = field(default_factory=Settings)
    env: Mapping[str, str] = field(default_factory=dict)
    redactor: Redactor = field(default_factory=Redactor)
    client_factory: ClientFactory = cohere_client
    #: when the command started: its deadline counts from here
    started_at: float = field(default_factory=time.monotonic)
    #: told what the user should know while the command runs (each retry of an API call), on stderr
    notice: Callable[[str], None] | None = None
    #: the state file read and written (with a git state: its local copy)
    state_path: Path = field(init=False)
    #: ``--state git:BRANCH:PATH``: the state on a git branch
    git_state: GitStateSpec | None = field(init=False)

    def __post_init__(self) -> None:
        self.redactor.add(self.settings.key, self.env.get(FINGERPRINT_KEY_VAR))
        self.redactor.add(*(self.env.get(var) for var in self.settings.key_vars))
        self.git_state = parse_state_spec(self.settings.state, self.env.get(REMOTE_VAR))
        local = self.git_scratch / self.git_state.local_name() if self.git_state is not None else None
        self.state_path = local or Path(self.settings.state)

    @property
    def git_scratch(self) -> Path:
        """The git backend's scratch repository and local copies of the state (see state.git)."""
        return Path(self.settings.scratch, "git")

    @property
    def fingerprint_key(self) -> str | None:
        return self.env.get(FINGERPRINT_KEY_VAR) or None

    def bind_secrets(self, desired: Sequence[Desired], *, blind: bool = False) -> BoundSecrets:
        """The ``${VAR}``s of ``desired``, bound once (see :mod:`conn_reconcile.model.binding`)."""
        return bind(desired, self.env, key_vars=self.settings.key_vars, redactor=self.redactor, blind=blind)

    def backoff_base(self) -> float:
        """``$CONN_RECONCILE_BACKOFF_BASE`` as seconds (default :data:`defaults.BACKOFF_BASE`)."""
        raw = self.env.get(BACKOFF_BASE_VAR, "").strip()
        if not raw:
            return defaults.BACKOFF_BASE
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0 <= value <= 60:  # also rejects nan and inf
            raise ConfigError(f"{BACKOFF_BASE_VAR} must be a number of seconds between 0 and 60")
        return value

    def client(self, *, rate_limit: float | None = None, on_retry: Callable[[str], None] | None = None) -> CohereClient:
        """The API client (``on_retry``: told each retry instead of :attr:`notice`)."""
        settings = self.settings
        key = settings.key
        if not key:
            raise ConfigError(f"no API key: set {settings.api_key_env} or pass --api-key")
        if not settings.timeout > 0:
            raise ConfigError("the timeout must be a positive number of seconds")
        if settings.deadline is not None and not settings.deadline > 0:
            raise ConfigError("the deadline must be a positive number of seconds")
        return self.client_factory(
            settings.api_url,
            key,
            timeout=settings.timeout,
            deadline_at=None if settings.deadline is None else self.started_at + settings.deadline,
            backoff_base=self.backoff_base(),
            rate_limit=rate_limit,
            key_source=self.key_source(),
            on_retry=on_retry or self.notice,
        )

    def key_source(self) -> str:
        """Where the API key came from, as a refused key's message names it: the flag, or the
        variable actually read (the environment's ``api_key_env``)."""
        source = self.settings.source("api_key")
        if source.startswith("flag "):
            return f"the key given with {source.removeprefix('flag ')}"
        variable = source.removeprefix("environment variable ")
        return f"the key in {variable if variable != source else self.settings.api_key_env}"

    def lock(self) -> StateLock:
        if self.git_state is not None:
            from conn_reconcile.state.git.lock import GitLock

            return GitLock(self.git_state, self.git_scratch, env=self.env, command=self.command())
        from conn_reconcile.state.lock import FileLock, lock_path

        return FileLock(lock_path(self.state_path), command=self.command())

    def command(self, *words: str) -> str:
        """A command line to print for the user to run, as it runs pasted: ``conn-reconcile``
        with what chose this run's config file, environment, API URL and state, then ``words``."""
        import shlex

        settings = self.settings
        line = ["conn-reconcile"]
        if settings.config is not None and settings.source("config").startswith(("flag ", "environment variable ")):
            line += ["--config", settings.config]
        if settings.environment is not None:
            line += ["--env", settings.environment]
        if settings.source("api_url").startswith("flag "):  # a CO_API_URL stays set where it was
            line += ["--api-url", settings.api_url]
        if settings.source("state").startswith("flag ") or self.git_state is not None:
            line += ["--state", settings.state]
        if self.git_state is not None and self.git_state.remote != DEFAULT_REMOTE:
            line.insert(0, f"{REMOTE_VAR}={self.git_state.remote}")
        return shlex.join([*line, *words])
