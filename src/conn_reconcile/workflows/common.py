"""One function per command: the glue between the edges (loader, client, files, lock) and
the pure core (planner, render). The CLI parses options, calls one of these, renders, exits."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conn_reconcile.config import defaults as defaults
from conn_reconcile.config.environments import check_key_refs
from conn_reconcile.config.sources import DEFAULT_API_KEY_ENV, EnvContext
from conn_reconcile.errors import ConfigError, SecretError
from conn_reconcile.files.gcpause import paused
from conn_reconcile.model.connector import Desired, RemoteConnector
from conn_reconcile.model.secrets import FINGERPRINT_KEY_VAR, Redactor, fingerprint, lookup
from conn_reconcile.model.state import State
from conn_reconcile.plan.model import Plan, PlanOptions, plan_meta
from conn_reconcile.plan.selection import needed_unbound, scope
from conn_reconcile.state.spec import REMOTE_VAR, GitStateSpec
from conn_reconcile.state.spec import parse as parse_state_spec

if TYPE_CHECKING:
    from conn_reconcile.api.client import CohereClient
    from conn_reconcile.files.configfile import Effective
    from conn_reconcile.plan.preflight import ProbeResult
    from conn_reconcile.state.lock import StateLock

#: the git backend's scratch repository and local copies of the state (see gitstate)
GIT_SCRATCH_DIR = Path(defaults.STATE_PATH).parent / "git"
#: overrides :data:`defaults.BACKOFF_BASE` (seconds; tests and CI use it for quick retries)
BACKOFF_BASE_VAR = "CONN_RECONCILE_BACKOFF_BASE"


def _client_factory(*args: Any, **kwargs: Any) -> CohereClient:
    from conn_reconcile.api.client import CohereClient

    return CohereClient(*args, **kwargs)


@dataclass
class Settings:
    """What every command runs with: API, credentials, environment, state, time limits."""

    api_url: str = defaults.API_URL
    api_key: str | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    redactor: Redactor = field(default_factory=Redactor)
    state_path: Path = Path(defaults.STATE_PATH)
    client_factory: Callable[..., CohereClient] = _client_factory
    #: seconds per HTTP request as a whole (connect, send, the complete answer)
    timeout: float = defaults.TIMEOUT
    #: seconds for the whole command, counted from ``started_at``: afterwards no request
    #: starts and retries stop (None: no limit)
    deadline: float | None = None
    started_at: float = field(default_factory=time.monotonic)
    #: seconds to wait for the state lock (0: fail at once when another run holds it)
    lock_timeout: float = 0.0
    #: the environment of conn-reconcile.yaml (None: none defined); a plan file records it
    environment: str | None = None
    #: the variable the API key was read from (named in errors)
    api_key_env: str = DEFAULT_API_KEY_ENV
    #: every environment's API key variable: no connector secret may reference one
    key_vars: tuple[str, ...] = ()
    #: ``probe:`` of conn-reconcile.yaml, carried through for the probe
    probe: bool = False
    #: globs of YAML files under the connector directory that are not connectors
    exclude: tuple[str, ...] = ()
    directory: Path = Path("connectors")
    #: the environment's vars and overrides, with which connector files are read
    context: EnvContext = field(default_factory=EnvContext)

    #: ``--state git:BRANCH:PATH``: the state on a git branch; ``state_path`` is then its local copy
    git_state: GitStateSpec | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.redactor.add(self.api_key, self.env.get(FINGERPRINT_KEY_VAR))
        self.redactor.add(*(self.env.get(var) for var in self.key_vars))
        self.git_state = parse_state_spec(str(self.state_path), self.env.get(REMOTE_VAR))
        if self.git_state is not None:
            self.state_path = GIT_SCRATCH_DIR / self.git_state.local_name()

    @classmethod
    def from_effective(cls, eff: Effective, redactor: Redactor, **kwargs: object) -> Settings:
        """The settings of a command from its effective configuration (see ``configfile``)."""
        return cls(
            api_url=str(eff["api_url"]),
            api_key=eff["api_key"] or None,  # type: ignore[arg-type]
            redactor=redactor,
            state_path=Path(str(eff["state"])),
            environment=eff.context.name,
            api_key_env=str(eff["api_key_env"]),
            key_vars=eff.key_vars,
            probe=bool(eff["probe"]),
            exclude=eff.exclude,
            directory=eff.directory,
            context=eff.context,
            **kwargs,  # type: ignore[arg-type]
        )

    @property
    def fingerprint_key(self) -> str | None:
        return self.env.get(FINGERPRINT_KEY_VAR) or None

    def backoff_base(self) -> float | None:
        """``$CONN_RECONCILE_BACKOFF_BASE`` as seconds, or None (the client's default) when unset."""
        raw = self.env.get(BACKOFF_BASE_VAR, "").strip()
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0 <= value <= 60:  # also rejects nan and inf
            raise ConfigError(f"{BACKOFF_BASE_VAR} must be a number of seconds between 0 and 60")
        return value

    def client(self, **kwargs: object) -> CohereClient:
        if not self.api_key:
            raise ConfigError(f"no API key: set {self.api_key_env} or pass --api-key")
        if not self.timeout > 0:
            raise ConfigError("the timeout must be a positive number of seconds")
        kwargs.setdefault("timeout", self.timeout)
        if self.deadline is not None:
            if not self.deadline > 0:
                raise ConfigError("the deadline must be a positive number of seconds")
            kwargs.setdefault("deadline_at", self.started_at + self.deadline)
        base = self.backoff_base()
        if base is not None:
            kwargs.setdefault("backoff_base", base)
        return self.client_factory(self.api_url, self.api_key, **kwargs)

    def lock(self) -> StateLock:
        if self.git_state is not None:
            from conn_reconcile.state.git.lock import GitLock

            return GitLock(self.git_state, GIT_SCRATCH_DIR, env=self.env)
        from conn_reconcile.state.lock import FileLock, lock_path

        return FileLock(lock_path(self.state_path))


def validate(paths: Sequence[str | Path], *, require_files: bool = False) -> list[Desired]:
    from conn_reconcile.files.loader import load

    return load(paths, require_files=require_files)


def load_desired(settings: Settings, paths: Sequence[str | Path], *, require_files: bool = False) -> list[Desired]:
    """The connector files as they are in the settings' environment (``exclude`` skipped)."""
    from conn_reconcile.files.loader import load

    desired = load(
        paths,
        require_files=require_files,
        exclude=settings.exclude,
        exclude_root=settings.directory.as_posix(),
        context=settings.context,
    )
    check_key_refs(desired, settings.key_vars)
    return desired


def _secret_env(desired: Sequence[Desired], env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """file -> {secret path -> value} for the referenced variables that are set."""
    out: dict[str, dict[str, str]] = {}
    for d in desired:
        for path, var in d.spec.secret_refs().items():
            if env.get(var):
                out.setdefault(d.file, {})[path] = env[var]
    return out


def unbound_notes(desired: Sequence[Desired], env: Mapping[str, str]) -> list[str]:
    notes = []
    for d in desired:
        for path, var in sorted(d.spec.secret_refs().items()):
            if not env.get(var):
                line, _ = d.where(path)
                at = f"{d.file}:{line}" if line else d.file
                notes.append(f"unbound: ${{{var}}} ({at} {path}) is not set; apply needs it when it sends this secret")
    return notes


def require_bound(desired: Sequence[Desired], env: Mapping[str, str]) -> None:
    """Every variable the files reference is set (apply checks this before any remote call)."""
    problems = []
    for d in desired:
        for path, var in sorted(d.spec.secret_refs().items()):
            try:
                lookup(env, var, where=d.file, field=path)
            except SecretError as exc:
                problems.append(str(exc))
    if problems:
        raise SecretError("\n".join(problems))


def load_state(settings: Settings) -> State | None:
    from conn_reconcile.state import file as statefile

    if settings.git_state is not None:
        from conn_reconcile.state.git.branch import pull

        pull(settings.git_state, GIT_SCRATCH_DIR, settings.state_path)
    return statefile.load(settings.state_path)


def _list(settings: Settings, client: CohereClient | None) -> list[RemoteConnector]:
    if client is not None:
        return client.list_connectors()
    with settings.client() as own:
        return own.list_connectors()


def _in_background(call: Callable[[], list[RemoteConnector]]) -> Future[list[RemoteConnector]]:
    """``call`` on a daemon thread of its own; its result (or exception) in the future. Left
    unclaimed (the files did not load), the thread ends with the process or on its own: it
    changes nothing (it lists). Not a thread pool: its workers are waited for at exit."""
    future: Future[list[RemoteConnector]] = Future()

    def run() -> None:
        try:
            future.set_result(call())
        except BaseException as exc:  # handed to the caller of result()
            future.set_exception(exc)

    threading.Thread(target=run, name="conn-reconcile-listing", daemon=True).start()
    return future


def plan_from(
    settings: Settings,
    desired: Sequence[Desired],
    options: PlanOptions,
    state: State | None,
    client: CohereClient | None = None,
    *,
    targets: dict[str, object] | None = None,
    allow_unbound: bool = True,
    listed: Callable[[], list[RemoteConnector]] | None = None,
    blind: bool = False,
) -> Plan:
    """List the org (or take ``listed()``: the org listed already) and plan ``desired``
    against it and ``state``. Without ``allow_unbound``, a plan whose apply would send a
    secret whose variable is unset is an error. ``blind``: plan as a run that holds no
    secret would (a pull request's plan): no secret value, no fingerprint key."""
    import dataclasses

    from conn_reconcile.plan.planner import build_plan

    env: Mapping[str, str] = {} if blind else settings.env
    values = _secret_env(desired, env)
    settings.redactor.add(*(value for per_file in values.values() for value in per_file.values()))
    key = None if blind else settings.fingerprint_key
    fingerprints = None
    if key and state is not None:
        fingerprints = {f: {p: fingerprint(key, v) for p, v in vals.items()} for f, vals in values.items()}
    with paused():  # thousands of connectors listed and planned, free of cycles (see gcpause)
        remote = listed() if listed is not None else _list(settings, client)
        meta = plan_meta(settings.api_url, options, environment=settings.environment, targets=targets)
        plan = build_plan(desired, remote, state=state, fingerprints=fingerprints, options=options, meta=meta)
    if not allow_unbound:
        missing = needed_unbound(plan, desired, env)
        if missing:
            raise SecretError(
                "the plan needs variables that are not set (pass --allow-unbound to plan anyway):\n  "
                + "\n  ".join(missing)
            )
    extra = unbound_notes([d for d in desired if options.targeted(d.spec.name)], env)
    return dataclasses.replace(plan, notes=plan.notes + tuple(extra)) if extra else plan


def compute_plan(
    settings: Settings,
    paths: Sequence[str | Path],
    options: PlanOptions,
    client: CohereClient | None = None,
    *,
    files: Sequence[str | Path] = (),
    allow_unbound: bool = False,
    against_snapshot: bool = False,
    blind: bool = False,
) -> Plan:
    """``plan``: load the files and the state (no lock: plan writes nothing) and plan.
    ``options.targets`` (``--target``) and ``files`` (``--file``) limit the plan.
    ``against_snapshot``: against the org snapshot in the state, with no API key and no
    secret (see :mod:`orgsnapshot`); ``blind``: as :func:`plan_from`.

    The org is listed on another thread while the files load: its requests wait on the API
    while the files are read and parsed. Bad files are still reported first, as they would be
    without it (a listing error is raised only once the files have loaded)."""
    if against_snapshot:
        return _plan_against_snapshot(settings, paths, options, files)
    with paused():  # the listing thread's objects too (see gcpause)
        listing = _in_background(lambda: _list(settings, client))
        desired = load_desired(settings, paths)
        options, targets = scope(options, desired, options.targets, files)
        return plan_from(
            settings,
            desired,
            options,
            load_state(settings),
            client,
            targets=targets,
            allow_unbound=allow_unbound,
            listed=listing.result,
            blind=blind,
        )


def _plan_against_snapshot(
    settings: Settings, paths: Sequence[str | Path], options: PlanOptions, files: Sequence[str | Path]
) -> Plan:
    import dataclasses

    from conn_reconcile.state import snapshot as orgsnapshot

    desired = load_desired(settings, paths)
    options, targets = scope(options, desired, options.targets, files)
    state = load_state(settings)
    remote, org = orgsnapshot.listed(settings.api_url, settings.environment, state)
    plan = plan_from(settings, desired, options, state, targets=targets, listed=lambda: remote, blind=True)
    return dataclasses.replace(plan, meta={**plan.meta, "org_snapshot": orgsnapshot.meta(org)})


def probe_plan(settings: Settings, paths: Sequence[str | Path], plan: Plan) -> list[ProbeResult]:
    """``plan --probe``: probe the plan's targets (the files are read again for their specs)."""
    from conn_reconcile.api.probe import run_probes
    from conn_reconcile.files.loader import load
    from conn_reconcile.plan.preflight import targets

    found = targets(plan, load(paths))
    return run_probes(found, settings.env, redactor=settings.redactor, timeout=settings.timeout)
