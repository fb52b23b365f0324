"""The Cohere connectors API client: auth headers, strict pagination, retries with backoff
and jitter, a shared rate limit, whole-request and command-wide deadlines, bounded answers, and
recovery of creates whose outcome is ambiguous; its requests go through httpx's transport."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from conn_reconcile import __version__
from conn_reconcile.api.deadline import ACCEPT_ENCODING, Deadline, api_transport, send_bounded
from conn_reconcile.api.ratelimit import TokenBucket
from conn_reconcile.api.responses import (
    CONNECTORS,
    DEFAULT_KEY_SOURCE,
    IncompleteList,
    check_listing,
    parse_connector,
    parse_page,
    parse_redirect,
    status_error,
    transport_error,
)
from conn_reconcile.api.retry import RETRY_STATUSES, Backoff, hopeless, never_sent, retry_notice
from conn_reconcile.config import defaults as defaults
from conn_reconcile.errors import (
    ApiError,
    ConfigError,
    ConnReconcileError,
    DeadlineExceededError,
    OutcomeUnknownError,
)
from conn_reconcile.model.connector import REMOTE_ID_RE, SECRET_PATHS, RemoteConnector, get_path
from conn_reconcile.model.secrets import Redactor

MAX_PAGE_SIZE = 100  # the API's documented maximum for ``limit``
#: the body of one answer, decoded (a page of 100 connectors is far below 1 MiB): a hostile or
#: broken server cannot make the client hold more than this in memory
MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class _Reply:
    """One request's final answer, after any retries."""

    response: httpx.Response
    attempts: int
    #: an earlier attempt may have been processed by the server (5xx, or lost mid-flight)
    maybe_processed: bool


class CohereClient:
    """``timeout``: seconds per request as a whole. ``deadline_at``: a ``time.monotonic()``
    value after which nothing more is sent (None: no command-wide deadline). Any number of
    threads may call at once, each on its own keep-alive connection
    (:class:`~conn_reconcile.api.deadline.ThreadTransports`).

    Safety rules it keeps (the server may be hostile or broken):

    * A listing is complete or an error, never "zero connectors" or a silent subset: every
      page must be exactly the documented shape; pages are read while they are full; the
      distinct ids read must equal ``total_count`` when the server sends one, no id may appear
      twice, and ``total_count`` must not change between pages. A listing that breaks one of
      these rules is read again from scratch once (the org may have changed under us), then it
      is an :class:`ApiError`.
    * Remote ids are data: an id that does not match :data:`~conn_reconcile.model.connector.REMOTE_ID_RE`
      is an :class:`ApiError` (naming the item, never echoing the raw value) before any request
      uses it, and :meth:`_item_path` refuses one before sending anything.
    * A create (POST) is sent at most once per call, unless the server provably did not act on
      it (429, or the connection was never made: see :func:`~conn_reconcile.api.retry.never_sent`).
      After any other failure (5xx, a timeout or a dropped connection after sending, a 2xx with
      an unreadable body) the org is re-listed ONCE and a new connector with the requested name
      is adopted; when there is none, :class:`OutcomeUnknownError` (exit 3). It is never resent.
      A definitive 4xx is a plain :class:`ApiError`.
    * ``timeout`` bounds each request as a whole (connect, send, the complete response), not
      each read, and an answer is at most :data:`MAX_BODY_BYTES` decoded
      (:func:`~conn_reconcile.api.deadline.send_bounded`). Once ``deadline_at`` (command-wide) has
      passed no request starts and no retry waits: :class:`DeadlineExceededError`; a request in
      flight is cut off when it passes.
    * No message carries the API key or a secret from a request body: the key lives only in
      headers, request bodies are never echoed, and every error text goes through a redactor
      holding the key and the body's secret fields. httpx exceptions (their ``request`` holds
      the headers) are described in our message and never chained.
    """

    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        timeout: float = defaults.TIMEOUT,
        deadline_at: float | None = None,
        max_attempts: int = defaults.MAX_ATTEMPTS,
        backoff_base: float = defaults.BACKOFF_BASE,
        backoff_cap: float = defaults.BACKOFF_CAP,
        rate_limit: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = 100,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        key_source: str = DEFAULT_KEY_SOURCE,
        on_retry: Callable[[str], None] | None = None,
    ):
        if max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if rate_limit is not None and not rate_limit > 0:
            raise ConfigError("rate limit must be a positive number of requests per second")
        if not timeout > 0:
            raise ConfigError("the timeout must be a positive number of seconds")
        self.api_url = api_url.rstrip("/")
        self.timeout = float(timeout)
        self.deadline_at = deadline_at
        self.max_attempts = max_attempts
        self.page_size = page_size
        self._sleep = sleep
        self._on_retry = on_retry  # told each retry, before its wait (see retry_notice)
        self._backoff = Backoff(backoff_base, backoff_cap, rng=rng, wall_clock=wall_clock)
        self._limiter = TokenBucket(rate_limit, clock=clock, sleep=sleep) if rate_limit else None
        self._api_key = api_key
        #: where the key came from (``the key in STAGING_CO_API_KEY``), named when the API refuses it
        self.key_source = key_source
        self._redact = Redactor([api_key])
        headers = {
            "Accept-Encoding": ACCEPT_ENCODING,  # the codings the answers are decoded from
            "Authorization": f"Bearer {api_key}",
            "X-Client-Name": "conn-reconcile",
            "User-Agent": f"conn-reconcile/{__version__}",
            "Accept": "application/json",
        }
        self._http = httpx.Client(
            base_url=self.api_url,
            headers=headers,
            timeout=self.timeout,
            transport=transport or api_transport(self.api_url),
            trust_env=False,  # the proxy is the transport's (api_transport)
        )
        self._conns = threading.local()  # the connection each thread's next request reuses

    # ---- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CohereClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- public API --------------------------------------------------------------------

    def list_connectors(self) -> list[RemoteConnector]:
        """Every connector in the org (all pages), newest first, each id once; complete or an
        :class:`ApiError` (see the module docstring). A listing that does not add up (the org
        changed while the pages were read, or the server is broken) is read again once."""
        try:
            return self._list_pass()
        except IncompleteList:
            pass
        try:
            return self._list_pass()
        except IncompleteList as exc:
            raise ApiError(f"{exc} (read twice)", method="GET", path=CONNECTORS) from None

    def get_connector(self, connector_id: str) -> RemoteConnector:
        path = self._item_path(connector_id)
        reply = self._request("GET", path)
        return self._connector(self._ok(reply, "GET", path), "GET", path, connector_id)

    def update_connector(self, connector_id: str, body: dict[str, Any]) -> RemoteConnector:
        path = self._item_path(connector_id)
        redact = self._redactor_for(body)
        reply = self._request("PATCH", path, json=body, redact=redact)
        return self._connector(self._ok(reply, "PATCH", path, redact), "PATCH", path, connector_id)

    def delete_connector(self, connector_id: str) -> None:
        path = self._item_path(connector_id)
        reply = self._request("DELETE", path)
        if reply.response.status_code == 404 and reply.maybe_processed:
            return  # an earlier attempt deleted it and the answer was lost
        self._ok(reply, "DELETE", path)

    def authorize_url(self, connector_id: str, *, redirect: str | None = None) -> str:
        """``POST .../oauth/authorize``: the URL at which the API key's user authorizes the OAuth
        connector (``redirect``: the spec's ``after_token_redirect``). Retried: it changes nothing."""
        path = self._item_path(connector_id) + "/oauth/authorize"
        reply = self._request("POST", path, params={"after_token_redirect": redirect} if redirect else None)
        return parse_redirect(self._ok(reply, "POST", path), "POST", path)

    def create_connector(self, body: dict[str, Any], *, known_ids: Collection[str] = ()) -> RemoteConnector:
        """Create a connector: one POST, resent only when the server provably did not act on
        it; any other failure is settled by re-listing once (see the module docstring).

        ``known_ids`` are the ids that existed when the plan was made: a same-name connector
        among them is never mistaken for the one this call created.
        """
        name = body.get("name") if isinstance(body.get("name"), str) else None
        known = frozenset(known_ids)
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.max_attempts
            result = self._send("POST", CONNECTORS, json=body)
            if isinstance(result, httpx.Response):
                if result.is_success:
                    return self._created(result, name, known)
                if result.status_code == 429 and not last:  # refused before doing anything
                    self._pause(self._backoff.delay(attempt, result), "POST", CONNECTORS, attempt, result)
                    continue
                failure = self._status_error(result, "POST", CONNECTORS, attempt, self._redactor_for(body))
                if result.status_code < 500:  # definitive: the API refused it
                    raise failure
            else:
                failure = self._transport_error(result, "POST", CONNECTORS, attempt, self._redactor_for(body))
                if hopeless(result):
                    raise failure from None
                if never_sent(result):
                    if self._deadline_passed():
                        raise self._cut_off("POST", CONNECTORS, attempt) from None
                    if last:
                        raise failure from None
                    self._pause(self._backoff.delay(attempt), "POST", CONNECTORS, attempt, result)
                    continue
            return self._adopt_or_unknown(name, known, failure)

    # ---- create recovery ---------------------------------------------------------------

    def _created(self, response: httpx.Response, name: str | None, known: frozenset[str]) -> RemoteConnector:
        """The connector a successful POST returned; if its body is unreadable the connector
        still exists, so find it by re-listing rather than report a plain failure."""
        try:
            return self._connector(response, "POST", CONNECTORS)
        except ApiError as exc:
            return self._adopt_or_unknown(name, known, exc, " (the API accepted it but its answer was invalid)")

    def _adopt_or_unknown(
        self, name: str | None, known: frozenset[str], failure: ConnReconcileError, why: str = ""
    ) -> RemoteConnector:
        """After a POST that may have been processed: re-list once and adopt the new
        connector of that name, else :class:`OutcomeUnknownError`. Never resends."""
        why = why or f" ({failure})"
        if self._deadline_passed():
            raise OutcomeUnknownError(self._unknown(name, f"{why}; the --deadline passed before it could be checked"))
        try:
            remote = self.list_connectors()
        except ConnReconcileError as exc:
            raise OutcomeUnknownError(self._unknown(name, f"{why}; re-listing connectors to check failed")) from exc
        matches = [c for c in remote if c.name == name and c.id not in known]
        if len(matches) > 1:
            ids = ", ".join(c.id for c in matches)
            raise OutcomeUnknownError(self._unknown(name, f"{why}; several new connectors have that name: {ids}"))
        if not matches:
            raise OutcomeUnknownError(self._unknown(name, f"{why}; it was not found when listing again")) from failure
        return matches[0]

    @staticmethod
    def _unknown(name: str | None, extra: str = "") -> str:
        return f"outcome unknown: create of connector {name!r} may or may not have happened{extra}; run plan to check"

    # ---- listing -----------------------------------------------------------------------

    def _list_pass(self) -> list[RemoteConnector]:
        """One walk over the pages, read while they are full. Raises :class:`IncompleteList`
        when the walk does not add up (see :func:`~conn_reconcile.api.responses.check_listing`)."""
        found: dict[str, RemoteConnector] = {}
        totals: list[float | None] = []
        offset = 0
        while True:
            params = {"limit": self.page_size, "offset": offset}
            reply = self._request("GET", CONNECTORS, params=params)
            page, total = parse_page(self._ok(reply, "GET", CONNECTORS), self._redact, offset=offset)
            if len(page) > self.page_size:
                raise ApiError(
                    f"the connector list sent {len(page)} items for a page of {self.page_size}",
                    method="GET",
                    path=CONNECTORS,
                )
            totals.append(total)
            check_listing(found, page, offset, totals, done=False)
            offset += len(page)
            if len(page) < self.page_size:
                check_listing(found, [], offset, totals, done=True)
                return list(found.values())

    # ---- one call ----------------------------------------------------------------------

    @staticmethod
    def _item_path(connector_id: str) -> str:
        """``/v1/connectors/{id}``; an id that is not a plain slug is refused before sending."""
        if not isinstance(connector_id, str) or not REMOTE_ID_RE.fullmatch(connector_id):
            shown = repr(connector_id[:64]) if isinstance(connector_id, str) else type(connector_id).__name__
            raise ApiError(f"refusing to send a request for an invalid connector id {shown}")
        return f"{CONNECTORS}/{quote(connector_id, safe='')}"

    def _redactor_for(self, body: Mapping[str, Any]) -> Redactor:
        secrets: Iterable[Any] = (get_path(body, path) for path in SECRET_PATHS)
        return Redactor([self._api_key, *(s for s in secrets if isinstance(s, str))])

    def _deadline_passed(self) -> bool:
        return self.deadline_at is not None and time.monotonic() >= self.deadline_at

    def _cut_off(self, method: str, path: str, attempts: int) -> DeadlineExceededError:
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        return DeadlineExceededError(
            f"deadline exceeded: the --deadline passed during {method} {path} (after {tries}); nothing more was sent"
        )

    def _pause(
        self, seconds: float, method: str, path: str, attempts: int, failed: httpx.Response | httpx.TransportError
    ) -> None:
        """Wait before a retry, announced; a wait that would end after the deadline is not started."""
        if self.deadline_at is not None and time.monotonic() + seconds >= self.deadline_at:
            raise self._cut_off(method, path, attempts)
        if self._on_retry is not None:
            self._on_retry(retry_notice(method, path, failed, self.timeout, seconds, attempts + 1, self.max_attempts))
        self._sleep(seconds)

    def _send(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> httpx.Response | httpx.TransportError:
        """One attempt, paced by the rate limiter and bounded as a whole by the timeout and
        the deadline. Transport failures are returned, not raised."""
        if self._limiter is not None and not self._deadline_passed():
            self._limiter.acquire()
        now = time.monotonic()
        end = now + self.timeout
        if self.deadline_at is not None:
            if now >= self.deadline_at:
                raise DeadlineExceededError(
                    f"deadline exceeded: the --deadline passed before {method} {path} could be sent"
                )
            end = min(end, self.deadline_at)
        deadline = Deadline(end, getattr(self._conns, "last", None))
        request = self._http.build_request(
            method, path, params=params, json=json, timeout=end - now, extensions=deadline.extensions
        )
        try:
            return send_bounded(self._http, request, deadline, MAX_BODY_BYTES)
        except httpx.TransportError as exc:
            return exc
        finally:
            self._conns.last = deadline.conn

    def _request(self, method: str, path: str, *, redact: Redactor | None = None, **kwargs: Any) -> _Reply:
        """Send with retries (for idempotent calls). Returns the final response, whatever its
        status; raises only when every attempt failed in transport, or the deadline passed."""
        attempt = 0
        maybe_processed = False
        while True:
            attempt += 1
            last = attempt >= self.max_attempts
            result = self._send(method, path, **kwargs)
            if isinstance(result, httpx.TransportError):
                if hopeless(result):
                    raise self._transport_error(result, method, path, attempt, redact) from None
                if self._deadline_passed():
                    raise self._cut_off(method, path, attempt) from None
                if last:
                    raise self._transport_error(result, method, path, attempt, redact) from None
                maybe_processed = maybe_processed or not never_sent(result)
                self._pause(self._backoff.delay(attempt), method, path, attempt, result)
                continue
            if last or result.status_code not in RETRY_STATUSES:
                return _Reply(result, attempt, maybe_processed)
            maybe_processed = maybe_processed or result.status_code != 429
            self._pause(self._backoff.delay(attempt, result), method, path, attempt, result)

    def _ok(self, reply: _Reply, method: str, path: str, redact: Redactor | None = None) -> httpx.Response:
        if not reply.response.is_success:
            raise self._status_error(reply.response, method, path, reply.attempts, redact)
        return reply.response

    def _connector(
        self, response: httpx.Response, method: str, path: str, expected_id: str | None = None
    ) -> RemoteConnector:
        return parse_connector(response, method, path, self._redact, expected_id=expected_id)

    def _status_error(
        self, response: httpx.Response, method: str, path: str, attempts: int, redact: Redactor | None = None
    ) -> ApiError:
        return status_error(response, method, path, attempts, redact or self._redact, self.key_source)

    def _transport_error(
        self, exc: httpx.TransportError, method: str, path: str, attempts: int, redact: Redactor | None = None
    ) -> ApiError:
        return transport_error(exc, method, path, attempts, redact or self._redact)
