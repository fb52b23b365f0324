"""Reading the Cohere connectors API's answers strictly (pages, listings, connectors) and turning
failures into errors, for :mod:`conn_reconcile.api.client`; nothing here sends a request. Every
text in an exception goes through the caller's :class:`Redactor` (API key, request-body secrets)
and never holds an input value of a failed validation."""

from __future__ import annotations

import re
from typing import Any

import httpx
from pydantic import ValidationError

from conn_reconcile.api.retry import AUTH_STATUSES, describe_transport_error
from conn_reconcile.errors import ApiError, AuthError, NotFoundError
from conn_reconcile.model.connector import RemoteConnector
from conn_reconcile.model.secrets import Redactor
from conn_reconcile.model.validation import first_problem

CONNECTORS = "/v1/connectors"
SNIPPET_LEN = 200  # a non-JSON error body is cut to this
MESSAGE_LEN = 500  # the API's own ``message`` is cut to this
#: what to check when the API refuses the key, said of where the key came from (``{key}``)
_AUTH_HINTS = {
    401: " (the API key was rejected: check {key})",
    403: " (the API key is not allowed to do this: check the permissions of {key})",
}
#: where the key came from, when the caller does not say: the default variable
DEFAULT_KEY_SOURCE = "the key in CO_API_KEY"
_TAG_RE = re.compile(r"<[^>]*>")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_NOT_JSON = object()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # JSON and Unicode decode errors; nested too deeply
        return _NOT_JSON


def parse_page(
    response: httpx.Response, redact: Redactor, *, offset: int = 0
) -> tuple[list[RemoteConnector], float | None]:
    """The connectors and ``total_count`` of one list page (read at ``offset``). Anything but
    the documented shape - an item without a valid id included - is an :class:`ApiError`
    naming the item's index in the listing, never an empty page."""

    def invalid(why: str) -> ApiError:
        # no ``status``: "API error 200" would read as if the API had refused something
        return ApiError(
            f"the response is not a valid connector list ({why}; HTTP {response.status_code})",
            method="GET",
            path=CONNECTORS,
        )

    data = _json(response)
    if data is _NOT_JSON:
        raise invalid("not JSON")
    if not isinstance(data, dict):
        raise invalid("not a JSON object")
    if "connectors" not in data:
        raise invalid("no 'connectors' field")
    raw = data["connectors"]
    if not isinstance(raw, list):
        raise invalid("'connectors' is not a list")
    total = data.get("total_count")
    if total is not None and not _is_number(total):
        raise invalid("'total_count' is not a number")
    items: list[RemoteConnector] = []
    for index, item in enumerate(raw):
        try:
            items.append(RemoteConnector.model_validate(item))
        except ValidationError as exc:
            raise invalid(f"item {offset + index}: {redact(first_problem(exc, 'connector'))}") from None
    return items, total


class IncompleteList(Exception):
    """A listing that does not add up. The message is safe to show: ids in it are validated."""


def _count(total: float | None) -> str:
    if isinstance(total, float) and total.is_integer():
        return str(int(total))
    return "none" if total is None else repr(total)


def check_listing(
    found: dict[str, RemoteConnector],
    page: list[RemoteConnector],
    offset: int,
    totals: list[float | None],
    *,
    done: bool,
) -> None:
    """Add ``page`` (read at ``offset``) to ``found`` (id -> connector), or raise
    :class:`IncompleteList`: ``total_count`` changed between pages (``totals``: one per page
    so far), an id came twice, or (``done``: the last page was read) the distinct ids read
    are not ``total_count``."""
    total = totals[-1]
    if totals[0] != total:
        raise IncompleteList(
            f"the org changed while it was being listed (total_count went from {_count(totals[0])} to {_count(total)})"
        )
    for index, item in enumerate(page):
        if item.id in found:
            raise IncompleteList(
                f"the connector list has connector id {item.id!r} twice (again as item {offset + index})"
            )
        found[item.id] = item
    if total is None:
        return
    if len(found) > total:
        raise IncompleteList(
            f"the connector list does not match its total_count: {len(found)} distinct connectors read, "
            f"total_count says {_count(total)}"
        )
    if done and len(found) != total:
        raise IncompleteList(
            f"the connector list is incomplete: {len(found)} distinct connectors read, total_count says {_count(total)}"
        )


def parse_connector(
    response: httpx.Response, method: str, path: str, redact: Redactor, *, expected_id: str | None = None
) -> RemoteConnector:
    """The connector of a ``{"connector": {...}}`` answer (create, get, update); with
    ``expected_id``, it must be that connector."""
    data = _json(response)
    if not isinstance(data, dict) or not isinstance(data.get("connector"), dict):
        raise ApiError(
            f"invalid response (HTTP {response.status_code}): expected a JSON object with a 'connector' object",
            method=method,
            path=path,
        )
    try:
        connector = RemoteConnector.model_validate(data["connector"])
    except ValidationError as exc:
        why = redact(first_problem(exc, "connector"))
        raise ApiError(
            f"invalid response (HTTP {response.status_code}): the connector is not valid ({why})",
            method=method,
            path=path,
        ) from None
    if expected_id is not None and connector.id != expected_id:
        raise ApiError(
            f"invalid response (HTTP {response.status_code}): it is about connector {connector.id!r}, "
            f"not the one requested",
            method=method,
            path=path,
        )
    return connector


def parse_redirect(response: httpx.Response, method: str, path: str) -> str:
    """The ``redirect_url`` of an ``oauth/authorize`` answer: an absolute http(s) URL, since a
    user opens it (remote data: the caller prints it escaped; an error never echoes it)."""
    from urllib.parse import urlsplit

    data = _json(response)
    url = data.get("redirect_url") if isinstance(data, dict) else None
    if not isinstance(url, str):
        why = f"invalid response (HTTP {response.status_code}): no 'redirect_url' string in a JSON object"
        raise ApiError(why, method=method, path=path)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ApiError(
            f"invalid response (HTTP {response.status_code}): the redirect_url is not an absolute http(s) URL",
            method=method,
            path=path,
        )
    return url


def api_message(response: httpx.Response, redact: Redactor) -> str:
    """The API's ``message``, or else a short sanitized snippet of the body; secret-free."""
    data = _json(response)
    limit = MESSAGE_LEN
    if isinstance(data, dict) and isinstance(data.get("message"), str) and data["message"].strip():
        text = data["message"]
    else:
        limit = SNIPPET_LEN
        try:
            text = _TAG_RE.sub(" ", response.text)
        except (UnicodeDecodeError, LookupError):
            text = ""
    # redact before and after squashing whitespace: a secret never survives either form
    text = redact(" ".join(_CONTROL_RE.sub(" ", redact(text)).split()))
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or response.reason_phrase or "no details"


def status_error(
    response: httpx.Response,
    method: str,
    path: str,
    attempts: int,
    redact: Redactor,
    key_source: str = DEFAULT_KEY_SOURCE,
) -> ApiError:
    """401/403/498 -> AuthError, 404 -> NotFoundError, anything else -> ApiError. ``key_source``:
    where the API key came from (``the key given with --api-key``), named in an AuthError."""
    status = response.status_code
    message = api_message(response, redact)
    if status in AUTH_STATUSES:  # never retried: say what to fix, and where
        message += _AUTH_HINTS.get(status, _AUTH_HINTS[401]).format(key=key_source)
    if attempts > 1:
        message += f" (gave up after {attempts} attempts)"
    cls = AuthError if status in AUTH_STATUSES else NotFoundError if status == 404 else ApiError
    return cls(message, status=status, method=method, path=path)


def transport_error(exc: httpx.TransportError, method: str, path: str, attempts: int, redact: Redactor) -> ApiError:
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    return ApiError(f"{redact(describe_transport_error(exc))} (gave up after {tries})", method=method, path=path)
