"""One function per command: the glue between the edges (loader, client, files, lock) and
the pure core (planner, render). The CLI parses options, calls one of these, renders, exits."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conn_reconcile import defaults
from conn_reconcile.config import DEFAULT_API_KEY_ENV, EnvContext
from conn_reconcile.environments import check_key_refs
from conn_reconcile.errors import ConfigError, ConnReconcileError, SecretError, StalePlanError
from conn_reconcile.gcpause import paused
from conn_reconcile.models import Desired, RemoteConnector
from conn_reconcile.plan import Plan, PlanOptions, check_fresh
from conn_reconcile.secrets import FINGERPRINT_KEY_VAR, Redactor, fingerprint, lookup
from conn_reconcile.selection import check_plan_key_refs, needed_unbound, scope
from conn_reconcile.state import State
from conn_reconcile.statespec import REMOTE_VAR, GitStateSpec
from conn_reconcile.statespec import parse as parse_state_spec

if TYPE_CHECKING:
    from conn_reconcile.client import CohereClient
    from conn_reconcile.configfile import Effective
    from conn_reconcile.interrupt import Interrupt
    from conn_reconcile.lock import StateLock
    from conn_reconcile.results import ApplyReport, Outcome

#: the git backend's scratch repository and local copies of the state (see gitstate)
GIT_SCRATCH_DIR = Path(defaults.STATE_PATH).parent / "git"
#: overrides :data:`defaults.BACKOFF_BASE` (seconds; tests and CI use it for quick retries)
BACKOFF_BASE_VAR = "CONN_RECONCILE_BACKOFF_BASE"


def _client_factory(*args: Any, **kwargs: Any) -> CohereClient:
    from conn_reconcile.client import CohereClient

    return CohereClient(*args, **kwargs)


@dataclass
class Settings:
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
            from conn_reconcile.gitlock import GitLock

            return GitLock(self.git_state, GIT_SCRATCH_DIR, env=self.env)
        from conn_reconcile.lock import FileLock, lock_path

        return FileLock(lock_path(self.state_path))


def validate(paths: Sequence[str | Path], *, require_files: bool = False) -> list[Desired]:
    from conn_reconcile.loader import load

    return load(paths, require_files=require_files)


def load_desired(settings: Settings, paths: Sequence[str | Path], *, require_files: bool = False) -> list[Desired]:
    """The connector files as they are in the settings' environment (``exclude`` skipped)."""
    from conn_reconcile.loader import load

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
    from conn_reconcile import statefile

    if settings.git_state is not None:
        from conn_reconcile.gitstate import pull

        pull(settings.git_state, GIT_SCRATCH_DIR, settings.state_path)
    return statefile.load(settings.state_path)


def publish_state(settings: Settings, run: ApplyRun, run_id: str, *, failing: bool) -> None:
    """With a git state: push the local state to its branch. When the apply is already
    failing, a failed push is reported as a notice and the first error goes on."""
    if settings.git_state is None:
        return
    from conn_reconcile.gitstate import publish

    try:
        publish(settings.git_state, GIT_SCRATCH_DIR, settings.state_path, run_id)
    except ConnReconcileError as exc:
        if not failing:
            raise
        if run.on_notice is not None:
            run.on_notice(f"Error: {exc}")


def _list(settings: Settings, client: CohereClient | None) -> list[RemoteConnector]:
    if client is not None:
        return client.list_connectors()
    with settings.client() as own:
        return own.list_connectors()


def plan_from(
    settings: Settings,
    desired: Sequence[Desired],
    options: PlanOptions,
    state: State | None,
    client: CohereClient | None = None,
    *,
    targets: dict[str, object] | None = None,
    allow_unbound: bool = True,
) -> Plan:
    """List the org and plan ``desired`` against it and ``state``. Without ``allow_unbound``,
    a plan whose apply would send a secret whose variable is unset is an error."""
    import dataclasses

    from conn_reconcile.planfile import plan_meta
    from conn_reconcile.planner import build_plan

    values = _secret_env(desired, settings.env)
    settings.redactor.add(*(value for per_file in values.values() for value in per_file.values()))
    key = settings.fingerprint_key
    fingerprints = None
    if key and state is not None:
        fingerprints = {f: {p: fingerprint(key, v) for p, v in vals.items()} for f, vals in values.items()}
    with paused():  # thousands of connectors listed and planned, free of cycles (see gcpause)
        remote = _list(settings, client)
        meta = plan_meta(settings.api_url, options, environment=settings.environment, targets=targets)
        plan = build_plan(desired, remote, state=state, fingerprints=fingerprints, options=options, meta=meta)
    if not allow_unbound:
        missing = needed_unbound(plan, desired, settings.env)
        if missing:
            raise SecretError(
                "the plan needs variables that are not set (pass --allow-unbound to plan anyway):\n  "
                + "\n  ".join(missing)
            )
    extra = unbound_notes([d for d in desired if options.targeted(d.spec.name)], settings.env)
    return dataclasses.replace(plan, notes=plan.notes + tuple(extra)) if extra else plan


def compute_plan(
    settings: Settings,
    paths: Sequence[str | Path],
    options: PlanOptions,
    client: CohereClient | None = None,
    *,
    files: Sequence[str | Path] = (),
    allow_unbound: bool = False,
) -> Plan:
    """``plan``: load the files and the state (no lock: plan writes nothing) and plan.
    ``options.targets`` (``--target``) and ``files`` (``--file``) limit the plan."""
    desired = load_desired(settings, paths)
    options, targets = scope(options, desired, options.targets, files)
    return plan_from(
        settings, desired, options, load_state(settings), client, targets=targets, allow_unbound=allow_unbound
    )


@dataclass
class ApplyRun:
    """How to run an apply: the callbacks the CLI gives (all optional)."""

    parallelism: int = defaults.PARALLELISM
    fail_fast: bool = False
    rate_limit: float | None = None
    on_outcome: Callable[[Outcome], None] | None = None
    on_notice: Callable[[str], None] | None = None
    interrupt: Interrupt | None = None
    #: called with the plan right before its changes start (not when there is nothing to do)
    on_start: Callable[[Plan], None] | None = None


def apply_files(
    settings: Settings,
    paths: Sequence[str | Path],
    options: PlanOptions,
    run: ApplyRun,
    *,
    show: Callable[[Plan], None] = lambda plan: None,
    confirm: Callable[[Plan], None] = lambda plan: None,
    files: Sequence[str | Path] = (),
) -> ApplyReport | None:
    """``apply`` without a plan file: under the state lock, plan, show, confirm, carry out.
    Returns None when there was nothing to change (adopted connectors are still recorded)."""
    desired = load_desired(settings, paths)
    options, targets = scope(options, desired, options.targets, files)
    require_bound([d for d in desired if options.targeted(d.spec.name)], settings.env)
    with settings.lock().held("apply", timeout=settings.lock_timeout) as lock:
        state = load_state(settings) or State()
        with settings.client(rate_limit=run.rate_limit, max_connections=run.parallelism) as client:
            plan = plan_from(settings, desired, options, state, client, targets=targets)
            show(plan)
            if plan.has_changes:
                confirm(plan)
            return _carry_out(settings, plan, state, client, run, lock.id, record_only=not plan.has_changes)


def apply_saved(settings: Settings, path: Path, options: PlanOptions, run: ApplyRun) -> ApplyReport:
    """``apply PLANFILE``: verify the file (signature, shape), then carry out exactly that plan,
    after checking it against the state, the apply's own safeguards and the org."""
    from conn_reconcile import planfile

    plan = planfile.load(path, key=settings.fingerprint_key)
    return apply_plan(settings, plan, run, verify_with=options)


def apply_plan(
    settings: Settings, plan: Plan, run: ApplyRun | None = None, *, verify_with: PlanOptions | None = None
) -> ApplyReport:
    """Carry out a plan made earlier, under the state lock. With ``verify_with`` (a plan that
    came from a file), refuse it when the org moved since, or when its deletes and targets
    are not backed by the state and by those options (the apply's own)."""
    from conn_reconcile import planfile

    run = run or ApplyRun()
    planned_url = str(plan.meta.get("api_url", "")).rstrip("/")
    if planned_url != settings.api_url.rstrip("/"):
        raise StalePlanError(f"stale plan: it was made against {planned_url}, not {settings.api_url}")
    planned_env = plan.meta.get("environment")
    if planned_env != settings.environment:
        raise StalePlanError(
            f"the plan was made for environment {planned_env or '(none)'}, not {settings.environment or '(none)'}; "
            "nothing was applied"
        )
    check_plan_key_refs(plan, settings.key_vars)
    bodies = resolve_secrets(plan, settings)  # every variable before any remote call
    with settings.lock().held("apply", timeout=settings.lock_timeout) as lock:
        state = load_state(settings) or State()
        if verify_with is not None:
            planfile.verify(plan, state, verify_with)
        with settings.client(rate_limit=run.rate_limit, max_connections=run.parallelism) as client:
            problems: list[str] = []
            if verify_with is not None:  # a plan from a file: the org may have moved since
                remote = client.list_connectors()
                planfile.verify_targets(plan, state, remote)
                problems = check_fresh(plan, remote)
            if problems:
                raise StalePlanError(
                    "stale plan: the org changed since the plan was made; nothing was applied. "
                    "Run plan again.\n  " + "\n  ".join(problems)
                )
            report = _carry_out(settings, plan, state, client, run, lock.id, bodies=bodies)
    assert report is not None
    return report


def resolve_secrets(plan: Plan, settings: Settings) -> dict[int, dict[str, Any]]:
    """The request bodies of the plan, every secret resolved (an unset one is an error), by plan
    index; the redactor learns the values."""
    from conn_reconcile.applier import resolve_all, secret_values

    bodies = resolve_all(plan, settings.env)
    settings.redactor.add(*secret_values(plan, settings.env))
    return bodies


def _carry_out(
    settings: Settings,
    plan: Plan,
    state: State,
    client: CohereClient,
    run: ApplyRun,
    run_id: str,
    *,
    record_only: bool = False,
    bodies: Mapping[int, dict[str, Any]] | None = None,
) -> ApplyReport | None:
    """Run the plan (or, with ``record_only``, just record what it adopts), journaling every
    change, then fold the journal into a new snapshot - unless calls were abandoned in flight
    (a second Ctrl-C): they may still append, and the next run replays the journal. The
    caller has checked every variable the plan sends and taught the redactor their values
    (:func:`require_bound` and :func:`plan_from`, or :func:`resolve_secrets`, whose ``bodies``
    are then passed on, so that each secret is resolved once)."""
    from conn_reconcile import statefile
    from conn_reconcile.applier import Applier
    from conn_reconcile.recorder import StateRecorder

    journal = statefile.Journal(settings.state_path)
    recorder = StateRecorder(state, journal.append, fingerprint_key=settings.fingerprint_key, run=run_id)
    report: ApplyReport | None = None
    done = False
    try:
        if record_only:
            recorder.start(plan)
            recorder.adopt_unchanged(plan)
            done = True
            return None
        if run.on_start is not None:
            run.on_start(plan)
        applier = Applier(
            client,
            env=settings.env,
            recorder=recorder,
            parallelism=run.parallelism,
            fail_fast=run.fail_fast,
            on_outcome=run.on_outcome,
            interrupt=run.interrupt,
            on_notice=run.on_notice,
        )
        report = applier.apply(plan, bodies)
        done = True
        return report
    finally:
        if report is None or not report.abandoned:
            journal.close()
            statefile.compact(settings.state_path, recorder.state)
        # (abandoned calls may still run: the CLI ends the process at once, so only report there too)
        publish_state(settings, run, run_id, failing=not done or (report is not None and report.abandoned))
