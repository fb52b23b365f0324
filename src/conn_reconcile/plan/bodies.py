"""The request bodies a plan carries (pure core): a create's (every field the API takes, secrets
as ``${VAR}`` references), dumped from its spec only when first read, and a PATCH's."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from conn_reconcile.model.connector import ConnectorSpec
from conn_reconcile.plan.diff import DEFAULTS

#: the file's fields the API never sees
_LOCAL_FIELDS = ("id", "renamed_from", "lifecycle")


def create_body(spec: ConnectorSpec) -> dict[str, Any]:
    body = spec.model_dump(mode="json", exclude_none=True)
    for local in _LOCAL_FIELDS:  # popped, not excluded: an exclude set is a filter built per call
        body.pop(local, None)
    return body


class CreateBody(Mapping[str, Any]):
    """:func:`create_body` of ``spec``, dumped when first read: a text plan never reads it, a
    plan file and apply do. A read-only mapping, equal to the dict it stands for."""

    __slots__ = ("_dumped", "_spec")

    def __init__(self, spec: ConnectorSpec) -> None:
        self._spec = spec
        self._dumped: dict[str, Any] | None = None

    def _body(self) -> dict[str, Any]:
        if self._dumped is None:  # two threads may both dump it: the same dict either way
            self._dumped = create_body(self._spec)
        return self._dumped

    def __getitem__(self, key: str) -> Any:
        return self._body()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._body())

    def __len__(self) -> int:
        return len(self._body())

    def __repr__(self) -> str:
        return repr(self._body())


def patch_body(spec: ConnectorSpec, tops: set[str]) -> dict[str, Any]:
    """The PATCH body carrying ``tops`` (top-level fields); auth objects are sent whole."""
    full = create_body(spec)
    body: dict[str, Any] = {}
    for top in sorted(tops):
        if top == "auth_type":
            body.update({k: full[k] for k in ("oauth", "service_auth") if k in full})
        elif top in ("oauth", "service_auth"):
            if top in full:
                body[top] = full[top]
        elif top in full:
            body[top] = full[top]
        elif top in DEFAULTS:
            default = DEFAULTS[top]
            body[top] = list(default) if isinstance(default, tuple) else default
    return body
