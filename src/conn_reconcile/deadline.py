"""Whole-request deadlines for httpx.

httpx's timeouts are per operation: the read timeout restarts on every chunk, so a server
that dribbles its answer one byte per second keeps a request with ``timeout=3`` alive for as
long as it likes. Here every socket operation of a request (connect, TLS handshake, each
write and each read) is bounded by ``min(its own timeout, time left until the request's
deadline)``, and fails at once when the deadline has passed; so a request as a whole -
connect, send, the complete response - never outlives its deadline.

How: :func:`request_deadline` sets the deadline of the requests made in the current thread
(a context variable, so one connection pool serves many threads, each with its own deadline)
and :func:`bounded` cuts each operation's timeout to it. The client's own transport
(:mod:`conn_reconcile.http11`) calls it on its socket; :mod:`conn_reconcile.pooldeadline`
wraps httpcore's network backend with it, for httpx transports (through a proxy, the probe).
Also here: the proxy the environment sets for a URL, and the SSL context of each client.
"""

from __future__ import annotations

import contextvars
import functools
import os
import ssl
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx

#: The time.monotonic() value by which the current thread's request must be complete.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("conn_reconcile_deadline", default=None)


@contextmanager
def request_deadline(at: float | None) -> Iterator[None]:
    """Bound the requests made inside the block (in this thread) to end by ``at``
    (a ``time.monotonic()`` value; None: no bound)."""
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def bounded(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` cut to the time left until the current thread's :func:`request_deadline`;
    raises ``expired`` when no time is left."""
    at = _DEADLINE.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("the request did not complete within its time limit")
    return left if timeout is None else min(timeout, left)


def env_proxy(url: str) -> str | None:
    """The proxy the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``)
    sets for ``url``, or None. httpx ignores the environment once it is given a transport."""
    parts = urlsplit(url)
    # urllib reads every variable's name and value, twice (thousands with one secret variable
    # per connector); it finds nothing when no name ends in _proxy, whatever its case
    if not any(name[-6:].lower() == "_proxy" for name in os.environ):
        return None
    proxies = urllib.request.getproxies_environment()
    # typeshed omits proxy_bypass_environment (CPython has it, undocumented, since 3.4)
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if not proxies or bypass(parts.hostname or "", proxies):
        return None
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and "://" not in proxy:
        proxy = "http://" + proxy  # as httpx reads HTTP_PROXY=host:port
    return proxy or None


def ssl_context_for(url: str, proxy: str | None) -> ssl.SSLContext:
    """The SSL context for connections to ``url`` (through ``proxy``): ``httpx.create_ssl_context()``
    (loading the CA bundle costs about 50 ms of CPU) only when one may use TLS. A plain ``http://``
    URL reached directly or through an ``http://`` proxy never does (redirects are not followed):
    it gets a context with no trust roots, which would fail any handshake."""
    if urlsplit(url).scheme == "http" and (proxy is None or urlsplit(proxy).scheme == "http"):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, with nothing to trust
    return verifying_ssl_context()


@functools.cache
def verifying_ssl_context() -> ssl.SSLContext:
    """``httpx.create_ssl_context()``, made once per process and shared by every client that
    may use TLS (an SSL context is safe to share between connections and threads): each new
    one loads the CA bundle again, about 50 ms of CPU."""
    return httpx.create_ssl_context()
