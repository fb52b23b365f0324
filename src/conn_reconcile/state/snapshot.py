"""The org snapshot kept in the state: taken by the runs that hold the API key (apply,
``conn-reconcile snapshot``), planned against by the runs that must not hold it (a pull
request's plan, ``plan --against-snapshot``). Its connectors are read as untrusted data, like a listing.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from conn_reconcile.errors import ConfigError, StateError
from conn_reconcile.model.connector import RemoteConnector
from conn_reconcile.model.state import OrgSnapshot, State
from conn_reconcile.model.validation import first_problem

_STAMP = "%Y-%m-%dT%H:%M:%SZ"


def take(api_url: str, environment: str | None, remote: Sequence[RemoteConnector], by: str) -> OrgSnapshot:
    """The snapshot of ``remote`` (the org at ``api_url`` as just listed)."""
    return OrgSnapshot(
        taken_at=_dt.datetime.now(_dt.UTC).strftime(_STAMP),
        api_url=api_url.rstrip("/"),
        environment=environment,
        by=by,
        connectors=[r.model_dump(mode="json", exclude_none=True) for r in remote],
    )


def listed(
    api_url: str, environment: str | None, state: State | None, *, command: str = "conn-reconcile snapshot"
) -> tuple[list[RemoteConnector], OrgSnapshot]:
    """The connectors of the state's snapshot, checked to be of the org at ``api_url`` and of
    ``environment``; an error saying how to get one (``command``) when there is none."""
    org = state.org if state is not None else None
    if org is None:
        raise StateError(
            f"the state holds no snapshot of the org to plan against: an apply, or `{command}` "
            "run with the API key (the drift job), stores one"
        )
    if org.api_url.rstrip("/") != api_url.rstrip("/"):
        raise ConfigError(f"the org snapshot in the state is of {org.api_url}, not {api_url}")
    if org.environment != environment:
        raise ConfigError(
            f"the org snapshot in the state is of environment {org.environment or '(none)'}, "
            f"not {environment or '(none)'}"
        )
    remote = []
    for number, item in enumerate(org.connectors):
        try:
            remote.append(RemoteConnector.model_validate(item))
        except ValidationError as exc:
            raise StateError(f"the org snapshot in the state: connector {number}: {first_problem(exc, '')}") from None
    return remote, org


def age(taken_at: str, now: _dt.datetime | None = None) -> str:
    """How old a snapshot taken at ``taken_at`` is, in words (\"3 h 12 min old\")."""
    try:
        taken = _dt.datetime.strptime(taken_at, _STAMP).replace(tzinfo=_dt.UTC)
    except ValueError:
        return "of unknown age"
    seconds = max(0, int(((now or _dt.datetime.now(_dt.UTC)) - taken).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h old"
    if hours:
        return f"{hours} h {minutes} min old"
    return f"{minutes} min old"


def meta(org: OrgSnapshot) -> dict[str, Any]:
    """What a plan made against ``org`` records of it (``meta.org_snapshot``)."""
    return {"taken_at": org.taken_at, "by": org.by}
