"""``authorize``: which connector a name means (the state's managed one, else the org's of that
name), refused when unknown (with the nearest name) or not OAuth before any write, and the URL
at which the API key's user authorizes it (``POST /v1/connectors/{id}/oauth/authorize``)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import NamedTuple

from conn_reconcile.errors import ConfigError
from conn_reconcile.escape import escape
from conn_reconcile.model.connector import RemoteConnector
from conn_reconcile.model.state import State
from conn_reconcile.workflows.common import load_state
from conn_reconcile.workflows.session import Session


class Authorization(NamedTuple):
    """The connector to authorize and the URL its user opens (remote data: print it escaped)."""

    connector: RemoteConnector
    url: str


def is_oauth(connector: RemoteConnector) -> bool:
    return connector.auth_type == "oauth" or (connector.auth_type is None and connector.oauth is not None)


def find_connector(name: str, remote: Sequence[RemoteConnector], state: State | None) -> RemoteConnector:
    """The connector ``name`` means: the one the state manages under that name (or that the org
    names so), else the org's only connector of that name, else the connector of that id; an
    error naming the nearest name."""
    managed = state.connectors if state is not None else {}
    by_id = {r.id: r for r in remote}
    ours = [by_id[i] for i, record in managed.items() if i in by_id and name in (record.name, by_id[i].name)]
    named = ours or [r for r in remote if r.name == name]
    if len(named) == 1:
        return named[0]
    if named:
        ids = ", ".join(sorted(r.id for r in named))
        raise ConfigError(f"several connectors in the org are named {name!r} ({ids}): give the id of one instead")
    if name in by_id:
        return by_id[name]
    known = sorted({r.name for r in remote} | {record.name for record in managed.values()})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"no connector named {name!r} in the org{hint}")


def authorize(session: Session, name: str, *, redirect: str | None = None) -> Authorization:
    """The URL at which the API key's user authorizes the OAuth connector ``name``; refused
    (nothing sent but the listing) for an unknown name or a connector without OAuth."""
    state = load_state(session)
    with session.client() as client:
        connector = find_connector(name, client.list_connectors(), state)
        if not is_oauth(connector):
            how = escape(connector.auth_type or "no authentication")
            raise ConfigError(
                f"{escape(connector.name)} ({connector.id}) uses {how}, not OAuth: there is nothing to authorize"
            )
        return Authorization(connector, client.authorize_url(connector.id, redirect=redirect))
