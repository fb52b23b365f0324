"""Field-level comparison of a desired connector and a remote one (pure core): both sides are
normalised to one flat shape (dotted leaf paths, API defaults applied, server-owned and write-only
fields removed), compared with deepdiff, and its report turned into :class:`FieldChange`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

from conn_reconcile.model.connector import ConnectorSpec, RemoteConnector

#: API defaults, applied to both sides so that an omitted field and its default compare equal.
DEFAULTS: dict[str, Any] = {"description": "", "excludes": (), "active": True, "continue_on_failure": False}

#: Fields the PATCH endpoint cannot change: a difference needs delete + create.
REPLACE_ONLY: frozenset[str] = frozenset({"description"})

Origin = Literal["git", "remote", "both"]

Flat = dict[str, Any]


class FieldChange(NamedTuple):
    """One changed leaf. ``old`` is the remote value, ``new`` the desired one. (A named tuple:
    a plan of creates makes one per field of each connector, and a tuple is the cheapest
    immutable value to make.)"""

    path: str
    old: Any = None
    new: Any = None
    sensitive: bool = False
    #: where the difference comes from, when state lets us tell: changed in git since the
    #: last apply, changed remotely since the last apply, or both.
    origin: Origin | None = None
    forces_replacement: bool = False
    #: sensitive only: the variable that feeds the secret (``DOCS_TOKEN`` for ``${DOCS_TOKEN}``)
    ref: str | None = None

    @property
    def top(self) -> str:
        return self.path.split(".", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path}
        if self.sensitive:
            out["sensitive"] = True
            if self.ref:
                out["ref"] = self.ref
        else:
            out["old"] = _jsonable(self.old)
            out["new"] = _jsonable(self.new)
        if self.origin:
            out["origin"] = self.origin
        if self.forces_replacement:
            out["forces_replacement"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldChange:
        return cls(
            path=data["path"],
            old=_from_jsonable(data.get("old")),
            new=_from_jsonable(data.get("new")),
            sensitive=bool(data.get("sensitive", False)),
            origin=data.get("origin"),
            forces_replacement=bool(data.get("forces_replacement", False)),
            ref=data.get("ref"),
        )


def added(view: Flat, paths: Iterable[str]) -> list[FieldChange]:
    """A new field at each of ``paths`` of ``view``, as a create shows it: ``FieldChange(path,
    None, view[path])``, made by ``tuple.__new__`` like ``FieldChange._make`` (a create of each
    connector of a plan makes several)."""
    new = tuple.__new__
    return [new(FieldChange, (path, None, view[path], False, None, False, None)) for path in paths]


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _from_jsonable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _auth_type(oauth: Any, service_auth: Any) -> str | None:
    if oauth:
        return "oauth"
    if service_auth:
        return "service_auth"
    return None


def _defaulted(flat: Flat) -> Flat:
    for key, default in DEFAULTS.items():  # a view holds no None: what is unset is absent
        flat.setdefault(key, default)
    if "excludes" in flat:
        flat["excludes"] = tuple(sorted(flat["excludes"]))
    return flat


#: the fields a view holds, in their order (``id``, the auth objects and server-owned fields apart)
_VIEW_TOP = ("name", "description", "url", "excludes", "active", "continue_on_failure")
#: the OAuth fields a view holds (the secret apart)
_OAUTH_KEYS = ("client_id", "authorize_url", "token_url", "scope")
#: each path a view can hold -> the connector file's top-level field it comes from
VIEW_TOPS: dict[str, str] = {
    **{key: key for key in (*_VIEW_TOP, "auth_type")},
    **{f"oauth.{key}": "oauth" for key in _OAUTH_KEYS},
    "service_auth.type": "service_auth",
}


def _view(record: Any, oauth: Any, service_auth_type: str | None, auth_type: str | None) -> Flat:
    """The flat view of a connector (desired or remote): each set field at its dotted path,
    lists as tuples, null (and, inside ``oauth``, empty) meaning "not set", then the API's
    defaults for what is not set and ``excludes`` sorted. Read from the records' fields
    directly: every connector of a plan goes through here."""
    flat: Flat = {}
    for key in _VIEW_TOP:
        value = getattr(record, key)
        if value is not None:
            flat[key] = tuple(value) if type(value) is list else value
    if oauth is not None:
        for key in _OAUTH_KEYS:
            value = getattr(oauth, key)
            if value is not None and value != "":
                flat[f"oauth.{key}"] = value
    if service_auth_type is not None:
        flat["service_auth.type"] = service_auth_type
    if auth_type is not None:
        flat["auth_type"] = auth_type
    return _defaulted(flat)


def plain_view(view: Flat) -> dict[str, Any]:
    """A view as JSON-shaped data, as a plan records what apply makes of a connector: its one
    sequence, ``excludes`` (always there, see :func:`_defaulted`), as a list."""
    return {**view, "excludes": list(view["excludes"])}


def normalize_desired(spec: ConnectorSpec) -> Flat:
    """The comparable view of a desired connector. Secrets are left out; ``service_auth.type``
    is kept (the API never returns it, so only state can compare it)."""
    service_auth = spec.service_auth
    auth_type = _auth_type(spec.oauth, service_auth)
    return _view(spec, spec.oauth, service_auth.type if service_auth is not None else None, auth_type)


def normalize_remote(remote: RemoteConnector) -> Flat:
    """The comparable view of a remote connector: server-owned fields dropped."""
    return _view(remote, remote.oauth, None, remote.auth_type or _auth_type(remote.oauth, None))


#: Leaves only state can compare (the API never returns them).
STATE_ONLY: tuple[str, ...] = ("service_auth.type",)


def diff_flat(old: Flat, new: Flat, *, ignore: tuple[str, ...] = ()) -> list[FieldChange]:
    """Changes that turn ``old`` into ``new``, sorted by path."""
    old, new = _without(old, ignore), _without(new, ignore)
    if old == new:  # the common case (no change) needs no deepdiff report, nor its import
        return []
    from deepdiff import DeepDiff

    report = DeepDiff(old, new, verbose_level=2, view="tree")
    paths = {
        _leaf_key(level.path(output_format="list"))
        for kind in (
            "values_changed",
            "type_changes",
            "dictionary_item_added",
            "dictionary_item_removed",
            "iterable_item_added",
            "iterable_item_removed",
        )
        for level in report.get(kind, ())
    }
    return [
        FieldChange(path, old.get(path), new.get(path), forces_replacement=path in REPLACE_ONLY)
        for path in sorted(paths)
    ]


def _leaf_key(path_list: list[Any]) -> str:
    # Our flat dicts are one level deep; anything below a key is inside a tuple leaf.
    return str(path_list[0])


def diff_connector(desired: ConnectorSpec, remote: RemoteConnector) -> list[FieldChange]:
    """What would change on ``remote`` to make it match ``desired`` (no secrets, no state)."""
    return diff_views(normalize_remote(remote), normalize_desired(desired))


def _without(flat: Flat, keys: tuple[str, ...]) -> Flat:
    """``flat`` without ``keys`` (itself when it holds none of them)."""
    present = [k for k in keys if k in flat]
    if not present:
        return flat
    flat = dict(flat)
    for k in present:
        del flat[k]
    return flat


def diff_views(remote_view: Flat, desired_view: Flat) -> list[FieldChange]:
    """:func:`diff_connector` on views already normalised."""
    return diff_flat(remote_view, desired_view, ignore=STATE_ONLY)


def with_origin(changes: list[FieldChange], remote_now: Flat, last_applied: Flat) -> list[FieldChange]:
    """Tag each change with where it came from, using the last applied desired view.

    A leaf that differs between the remote and what we last applied drifted remotely; a
    leaf that differs between git and what we last applied changed in git.
    """
    out = []
    for change in changes:
        remote_moved = remote_now.get(change.path) != last_applied.get(change.path)
        git_moved = change.new != last_applied.get(change.path)
        origin: Origin | None
        if remote_moved and git_moved:
            origin = "both"
        elif remote_moved:
            origin = "remote"
        elif git_moved:
            origin = "git"
        else:
            origin = None
        out.append(change._replace(origin=origin))
    return out
