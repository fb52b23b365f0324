"""One function per command: the glue between the edges (loader, client, files) and the
pure core (plan, render). The CLI parses options, calls one of these, renders, exits."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from conn_reconcile.client import CohereClient
from conn_reconcile.errors import ConfigError, StalePlanError
from conn_reconcile.render import Redactor
from conn_reconcile.secrets import FINGERPRINT_KEY_VAR, fingerprint

if TYPE_CHECKING:
    from conn_reconcile.applier import ApplyReport, Outcome
    from conn_reconcile.interrupt import Interrupt
    from conn_reconcile.models import Desired
    from conn_reconcile.plan import Plan, PlanOptions
    from conn_reconcile.state import State

DEFAULT_API_URL = "https://api.cohere.com"
DEFAULT_TIMEOUT = 30.0
#: Seconds: the first retry waits a random time up to this, doubling per retry (capped at 30 s).
BACKOFF_BASE_VAR = "CONN_RECONCILE_BACKOFF_BASE"


@dataclass
class Settings:
    api_url: str = DEFAULT_API_URL
    api_key: str | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    redactor: Redactor = field(default_factory=Redactor)
    state_path: Path = Path(".conn-reconcile/state.json")
    client_factory: Callable[..., CohereClient] = CohereClient
    #: seconds per HTTP request (connect, send, wait for the answer)
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        self.redactor.add(self.api_key, self.env.get(FINGERPRINT_KEY_VAR))

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
            raise ConfigError("no API key: set CO_API_KEY or pass --api-key")
        if not self.timeout > 0:
            raise ConfigError("the timeout must be a positive number of seconds")
        kwargs.setdefault("timeout", self.timeout)
        base = self.backoff_base()
        if base is not None:
            kwargs.setdefault("backoff_base", base)
        return self.client_factory(self.api_url, self.api_key, **kwargs)


def validate(paths: Sequence[str | Path], *, require_files: bool = False) -> list[Desired]:
    from conn_reconcile.loader import load

    return load(paths, require_files=require_files)


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


def compute_plan(
    settings: Settings,
    paths: Sequence[str | Path],
    options: PlanOptions,
    client: CohereClient | None = None,
) -> tuple[Plan, State | None]:
    from conn_reconcile import statefile
    from conn_reconcile.planfile import plan_meta
    from conn_reconcile.planner import build_plan

    desired = validate(paths)
    values = _secret_env(desired, settings.env)
    for per_file in values.values():
        settings.redactor.add(*per_file.values())
    state = statefile.load(settings.state_path)
    key = settings.env.get(FINGERPRINT_KEY_VAR)
    fingerprints = None
    if key and state is not None:
        fingerprints = {f: {p: fingerprint(key, v) for p, v in vals.items()} for f, vals in values.items()}
    own = client is None
    client = client or settings.client()
    try:
        remote = client.list_connectors()
    finally:
        if own:
            client.close()
    plan = build_plan(
        desired, remote, state=state, fingerprints=fingerprints, options=options, meta=plan_meta(settings.api_url)
    )
    extra = unbound_notes(desired, settings.env)
    if extra:
        plan = dataclasses.replace(plan, notes=plan.notes + tuple(extra))
    return plan, state


def apply_plan(
    settings: Settings,
    plan: Plan,
    *,
    parallelism: int = 4,
    fail_fast: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
    client: CohereClient | None = None,
    check_stale: bool = False,
    rate_limit: float | None = None,
    interrupt: Interrupt | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> ApplyReport:
    """Carry out ``plan``. With ``check_stale`` (saved plans), refuse when the org moved.

    ``interrupt`` counts Ctrl-C (see :mod:`conn_reconcile.interrupt`); ``on_notice`` is told
    what an interrupt does (one line each)."""
    from conn_reconcile import statefile
    from conn_reconcile.applier import Applier
    from conn_reconcile.plan import check_fresh
    from conn_reconcile.state import State

    planned_url = str(plan.meta.get("api_url", "")).rstrip("/")
    if check_stale and planned_url and planned_url != settings.api_url.rstrip("/"):
        raise StalePlanError(f"stale plan: it was made against {planned_url}, not {settings.api_url}")
    state = statefile.load(settings.state_path) or State()
    key = settings.env.get(FINGERPRINT_KEY_VAR)
    own = client is None
    client = client or settings.client(rate_limit=rate_limit)
    try:
        if check_stale:
            problems = check_fresh(plan, client.list_connectors())
            if problems:
                raise StalePlanError(
                    "stale plan: the org changed since the plan was made; nothing was applied. "
                    "Run plan again.\n  " + "\n  ".join(problems)
                )
        applier = Applier(
            client,
            env=settings.env,
            state=state,
            save_state=statefile.StateWriter(settings.state_path),
            fingerprint_key=key,
            parallelism=parallelism,
            fail_fast=fail_fast,
            on_outcome=on_outcome,
            interrupt=interrupt,
            on_notice=on_notice,
        )
        settings.redactor.add(*applier.secret_values(plan))
        return applier.apply(plan)
    finally:
        if own:
            client.close()

