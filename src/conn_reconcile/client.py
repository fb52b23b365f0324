"""The Cohere connectors API client: auth headers, strict pagination, retries with backoff
and jitter, a shared rate limit, and recovery of creates whose outcome is ambiguous.

Safety rules this module keeps:

* A list response that is not exactly the documented shape is an :class:`ApiError`, never
  "zero connectors" (that would plan mass creates or deletes).
* A create (POST) is resent blindly only when the server provably did not act on it (429,
  or the connection was never made). After any other failure the org is re-listed and a new
  connector with the requested name is adopted; the POST is resent at most once, and when
  re-listing cannot settle it :class:`OutcomeUnknownError` is raised. No duplicates.
* No message carries the API key or a secret from a request body: the key lives only in
  headers, request bodies are never echoed, and every error text goes through a redactor
  holding the key and the body's secret fields. httpx exceptions (their ``request`` holds
  the headers) are described in our message and never chained.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from conn_reconcile import __version__
from conn_reconcile.errors import ApiError, ConfigError, ConnReconcileError, OutcomeUnknownError
from conn_reconcile.models import SECRET_PATHS, RemoteConnector, get_path
from conn_reconcile.ratelimit import TokenBucket
from conn_reconcile.responses import (
    CONNECTORS,
    parse_connector,
    parse_page,
    status_error,
    transport_error,
)
from conn_reconcile.retry import AUTH_STATUSES, RETRY_STATUSES, Backoff, hopeless, never_sent
from conn_reconcile.secrets import Redactor

MAX_PAGE_SIZE = 100  # the API's documented maximum for ``limit``


@dataclass(frozen=True)
class _Reply:
    response: httpx.Response
    attempts: int
    #: an earlier attempt may have been processed by the server (5xx, or lost mid-flight)
    maybe_processed: bool


class CohereClient:
    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        rate_limit: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = 100,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ):
        if max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if rate_limit is not None and not rate_limit > 0:
            raise ConfigError("rate limit must be a positive number of requests per second")
        self.api_url = api_url.rstrip("/")
        self.max_attempts = max_attempts
        self.page_size = page_size
        self._sleep = sleep
        self._backoff = Backoff(backoff_base, backoff_cap, rng=rng, wall_clock=wall_clock)
        self._limiter = TokenBucket(rate_limit, clock=clock, sleep=sleep) if rate_limit else None
        self._api_key = api_key
        self._redact = Redactor([api_key])
        self._http = httpx.Client(
            base_url=self.api_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "X-Client-Name": "conn-reconcile",
                "User-Agent": f"conn-reconcile/{__version__}",
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            transport=transport,
            follow_redirects=False,
        )

    # ---- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CohereClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- public API --------------------------------------------------------------------

    def list_connectors(self) -> list[RemoteConnector]:
        """Every connector in the org (all pages), newest first, each id once.

        If the org's size changes while the pages are read (a create or delete shifts the
        offsets, so an item could be skipped), the listing restarts from scratch once.
        """
        items, settled = self._list_pass()
        if settled:
            return items
        items, settled = self._list_pass(final=True)
        return items

    def get_connector(self, connector_id: str) -> RemoteConnector:
        path = self._item_path(connector_id)
        reply = self._request("GET", path)
        return self._connector(self._ok(reply, "GET", path), "GET", path)

    def update_connector(self, connector_id: str, body: dict) -> RemoteConnector:
        path = self._item_path(connector_id)
        redact = self._redactor_for(body)
        reply = self._request("PATCH", path, json=body, redact=redact)
        return self._connector(self._ok(reply, "PATCH", path, redact), "PATCH", path)

    def delete_connector(self, connector_id: str) -> None:
        path = self._item_path(connector_id)
        reply = self._request("DELETE", path)
        if reply.response.status_code == 404 and reply.maybe_processed:
            return  # an earlier attempt deleted it and the answer was lost
        self._ok(reply, "DELETE", path)

    def create_connector(self, body: dict, *, known_ids: Collection[str] = ()) -> RemoteConnector:
        """Create a connector; see the module docstring for what happens on ambiguous failures.

        ``known_ids`` are the ids that existed when the plan was made: a same-name connector
        among them is never mistaken for the one this call created.
        """
        name = body.get("name") if isinstance(body.get("name"), str) else None
        known = frozenset(known_ids)
        redact = self._redactor_for(body)
        attempt = 0
        ambiguous = 0  # POSTs that may have been processed
        while True:
            attempt += 1
            last = attempt >= self.max_attempts
            result = self._send("POST", CONNECTORS, json=body)
            if isinstance(result, httpx.Response):
                status = result.status_code
                if result.is_success:
                    return self._created(result, name, known)
                if status == 429 and not last:  # refused before doing anything: safe
                    self._sleep(self._backoff.delay(attempt, result))
                    continue
                if not (status >= 500 and status != 501):
                    if ambiguous and status not in AUTH_STATUSES and status != 429:
                        # e.g. "already exists": the earlier attempt may have landed after all
                        found = self._find_created(name, known)
                        if found is not None:
                            return found
                    raise self._status_error(result, "POST", CONNECTORS, attempt, redact)
                failure: ConnReconcileError = self._status_error(result, "POST", CONNECTORS, attempt, redact)
            else:
                if hopeless(result) or (never_sent(result) and last):
                    raise self._transport_error(result, "POST", CONNECTORS, attempt, redact) from None
                if never_sent(result):
                    self._sleep(self._backoff.delay(attempt))
                    continue
                failure = self._transport_error(result, "POST", CONNECTORS, attempt, redact)
            ambiguous += 1
            found = self._find_created(name, known)
            if found is not None:
                return found
            if ambiguous >= 2 or last:
                raise OutcomeUnknownError(self._unknown(name)) from failure
            self._sleep(self._backoff.delay(attempt, result if isinstance(result, httpx.Response) else None))

    # ---- create recovery ---------------------------------------------------------------

    def _created(self, response: httpx.Response, name: str | None, known: frozenset[str]) -> RemoteConnector:
        """The connector a successful POST returned; if its body is unreadable the connector
        still exists, so find it by re-listing rather than report a plain failure."""
        try:
            return self._connector(response, "POST", CONNECTORS)
        except ApiError as exc:
            found = self._find_created(name, known)
            if found is None:
                why = " (the API accepted it but its answer was invalid)"
                raise OutcomeUnknownError(self._unknown(name, why)) from exc
            return found

    @staticmethod
    def _unknown(name: str | None, extra: str = "") -> str:
        return f"outcome unknown: create of connector {name!r} may or may not have happened{extra}; run plan to check"

    def _find_created(self, name: str | None, known: frozenset[str]) -> RemoteConnector | None:
        """The connector this create made, found by re-listing; None when there is none."""
        try:
            remote = self.list_connectors()
        except ConnReconcileError as exc:
            raise OutcomeUnknownError(self._unknown(name, " (re-listing connectors to check failed)")) from exc
        matches = [c for c in remote if c.name == name and c.id not in known]
        if len(matches) > 1:
            ids = ", ".join(c.id for c in matches)
            raise OutcomeUnknownError(self._unknown(name, f" (several new connectors have that name: {ids})"))
        return matches[0] if matches else None

    # ---- listing -----------------------------------------------------------------------

    def _list_pass(self, *, final: bool = False) -> tuple[list[RemoteConnector], bool]:
        """One walk over the pages. Returns (items, settled); not settled = walk again."""
        found: dict[str, RemoteConnector] = {}
        first_total: float | None = None
        offset = 0
        while True:
            params = {"limit": self.page_size, "offset": offset}
            reply = self._request("GET", CONNECTORS, params=params)
            page, total = parse_page(self._ok(reply, "GET", CONNECTORS), self._redact)
            if first_total is None:
                first_total = total
            elif total is not None and total != first_total and not final:
                return [], False  # the org changed under us: offsets shifted
            fresh = [c for c in page if c.id not in found]
            for item in fresh:
                found[item.id] = item
            offset += len(page)
            if len(page) < self.page_size or (total is not None and offset >= total):
                return list(found.values()), True
            if not fresh:  # a full page of ids already seen: offsets are not advancing
                if final:
                    raise ApiError(
                        "the connector list is not advancing between pages (every item repeated)",
                        status=reply.response.status_code,
                        method="GET",
                        path=CONNECTORS,
                    )
                return [], False

    # ---- one call ----------------------------------------------------------------------

    @staticmethod
    def _item_path(connector_id: str) -> str:
        if not connector_id:
            raise ApiError("empty connector id")
        return f"{CONNECTORS}/{quote(connector_id, safe='')}"

    def _redactor_for(self, body: Mapping[str, Any]) -> Redactor:
        secrets: Iterable[Any] = (get_path(body, path) for path in SECRET_PATHS)
        return Redactor([self._api_key, *(s for s in secrets if isinstance(s, str))])

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response | httpx.TransportError:
        """One attempt, paced by the rate limiter. Transport failures are returned, not raised."""
        if self._limiter is not None:
            self._limiter.acquire()
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            return exc

    def _request(self, method: str, path: str, *, redact: Redactor | None = None, **kwargs: Any) -> _Reply:
        """Send with retries (for idempotent calls). Returns the final response, whatever its
        status; raises only when every attempt failed in transport."""
        attempt = 0
        maybe_processed = False
        while True:
            attempt += 1
            last = attempt >= self.max_attempts
            result = self._send(method, path, **kwargs)
            if isinstance(result, httpx.TransportError):
                if last or hopeless(result):
                    raise self._transport_error(result, method, path, attempt, redact) from None
                maybe_processed = maybe_processed or not never_sent(result)
                self._sleep(self._backoff.delay(attempt))
                continue
            if last or result.status_code not in RETRY_STATUSES:
                return _Reply(result, attempt, maybe_processed)
            maybe_processed = maybe_processed or result.status_code != 429
            self._sleep(self._backoff.delay(attempt, result))

    def _ok(self, reply: _Reply, method: str, path: str, redact: Redactor | None = None) -> httpx.Response:
        if not reply.response.is_success:
            raise self._status_error(reply.response, method, path, reply.attempts, redact)
        return reply.response

    def _connector(self, response: httpx.Response, method: str, path: str) -> RemoteConnector:
        return parse_connector(response, method, path, self._redact)

    def _status_error(
        self, response: httpx.Response, method: str, path: str, attempts: int, redact: Redactor | None = None
    ) -> ApiError:
        return status_error(response, method, path, attempts, redact or self._redact)

    def _transport_error(
        self, exc: httpx.TransportError, method: str, path: str, attempts: int, redact: Redactor | None = None
    ) -> ApiError:
        return transport_error(exc, method, path, attempts, redact or self._redact)
