"""When to retry an API call and how long to wait first: capped exponential backoff with full
jitter, ``Retry-After`` (capped too), which transport errors prove the request never reached the
server (safe to resend, even a create) and which mean it may have been processed, and the line
that announces each retry (:func:`retry_notice`)."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import httpx

from conn_reconcile.api.deadline import AnswerTooLarge
from conn_reconcile.config import defaults as defaults

#: Statuses retried for every method (a create only on 429; see the client).
RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
#: The key is missing, wrong, revoked or lacks permission: never retried.
AUTH_STATUSES: frozenset[int] = frozenset({401, 403, 498})

#: Failures raised before any byte of the request could reach the server.
_NEVER_SENT: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
)
#: Failures that no retry can fix (bad URL scheme, a request httpx refuses to build).
_HOPELESS: tuple[type[httpx.TransportError], ...] = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


_KINDS: dict[type[BaseException], str] = {
    AnswerTooLarge: "the answer is too large",
    httpx.ConnectError: "could not connect",
    httpx.ConnectTimeout: "timed out connecting",
    httpx.ReadTimeout: "timed out waiting for the response",
    httpx.WriteTimeout: "timed out sending the request",
    httpx.PoolTimeout: "timed out waiting for a free connection",
    httpx.ReadError: "connection failed while reading the response",
    httpx.WriteError: "connection failed while sending the request",
    httpx.RemoteProtocolError: "the server broke the HTTP protocol",
    httpx.LocalProtocolError: "the request is not valid HTTP (a header name or value)",
}


def never_sent(exc: httpx.TransportError) -> bool:
    """True when ``exc`` proves the server never saw the request."""
    return isinstance(exc, _NEVER_SENT)


def hopeless(exc: httpx.TransportError) -> bool:
    return isinstance(exc, _HOPELESS)


def describe_transport_error(exc: httpx.TransportError) -> str:
    """A short description of a transport failure. httpx messages carry no headers, except
    h11's for a request it refuses to send (a header value with a line break: maybe the key)."""
    kind = next((_KINDS[c] for c in type(exc).__mro__ if c in _KINDS), "transport error")
    detail = "" if isinstance(exc, httpx.LocalProtocolError) else " ".join(str(exc).split())[:120]
    return f"{kind} ({type(exc).__name__}: {detail})" if detail else f"{kind} ({type(exc).__name__})"


def retry_notice(
    method: str,
    path: str,
    failed: httpx.Response | httpx.TransportError,
    timeout: float,
    wait: float,
    attempt: int,
    of: int,
) -> str:
    """The line saying that a call is retried: why it failed, the wait, the attempt coming."""
    if isinstance(failed, httpx.Response):
        why = f"HTTP {failed.status_code}"
    elif isinstance(failed, httpx.TimeoutException) and not isinstance(failed, httpx.PoolTimeout):
        why = f"timed out after {timeout:g}s"
    else:
        why = next((_KINDS[c] for c in type(failed).__mro__ if c in _KINDS), "transport error")
    return f"conn-reconcile: {method} {path}: {why}; retrying in {wait:.1f}s (attempt {attempt} of {of})"


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, or None when absent or unparseable.

    ``now`` is the current wall-clock time (epoch seconds), used for the HTTP-date form.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; be lenient with a missing zone
        return None
    return max(0.0, when.timestamp() - now)


class Backoff:
    """Capped exponential backoff with full jitter, and ``Retry-After`` handling."""

    def __init__(
        self,
        base: float = defaults.BACKOFF_BASE,
        cap: float = defaults.BACKOFF_CAP,
        *,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
    ):
        if base < 0 or cap < 0:
            raise ValueError("backoff base and cap must not be negative")
        self.base = float(base)
        self.cap = float(cap)
        self._rng = rng or random.Random()
        self._wall_clock = wall_clock

    def ceiling(self, retry: int) -> float:
        """Upper bound of the wait before retry number ``retry`` (1-based)."""
        exponent = min(max(retry - 1, 0), 62)  # no float overflow for absurd attempt counts
        return min(self.cap, self.base * (2.0**exponent))

    def delay(self, retry: int, response: httpx.Response | None = None) -> float:
        """Seconds to wait before retry ``retry``; the server's Retry-After wins when given."""
        if response is not None:
            hinted = parse_retry_after(response.headers.get("retry-after"), now=self._wall_clock())
            if hinted is not None:
                return min(hinted, self.cap)
        return self._rng.uniform(0.0, self.ceiling(retry))
