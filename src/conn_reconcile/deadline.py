"""Whole-request deadlines for httpx.

httpx's timeouts are per operation: the read timeout restarts on every chunk, so a server
that dribbles its answer one byte per second keeps a request with ``timeout=3`` alive for as
long as it likes. Here every socket operation of a request (connect, TLS handshake, each
write and each read) is bounded by ``min(its own timeout, time left until the request's
deadline)``, and fails at once when the deadline has passed; so a request as a whole -
connect, send, the complete response - never outlives its deadline.

How: :class:`DeadlineBackend` wraps httpcore's network backend (public httpcore API);
:func:`request_deadline` sets the deadline of the requests made in the current thread (a
context variable, so one connection pool serves many threads, each with its own deadline).
Installing the backend into an ``httpx.HTTPTransport`` needs two private attributes; that
is isolated in :func:`install_deadline_backend`, which fails loudly if httpx changes
(tests/test_deadline.py checks that it still works).
"""

from __future__ import annotations

import contextvars
import functools
import os
import ssl
import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpcore
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


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # one write of a large body is bounded as a whole by the socket timeout of httpcore
        self._inner.write(buffer, bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        limit = bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, limit))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """A network backend whose streams honour :func:`request_deadline`."""

    def __init__(self, inner: httpcore.NetworkBackend):
        self.inner = inner
        self.connections = 0  # streams opened through this backend (for tests)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        limit = bounded(timeout, httpcore.ConnectTimeout)
        stream = self.inner.connect_tcp(host, port, limit, local_address, socket_options)
        self.connections += 1
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        limit = bounded(timeout, httpcore.ConnectTimeout)
        stream = self.inner.connect_unix_socket(path, limit, socket_options)
        self.connections += 1
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def install_deadline_backend(transport: httpx.HTTPTransport) -> DeadlineBackend:
    """Make ``transport`` open its connections through a :class:`DeadlineBackend`.

    PRIVATE httpx/httpcore attributes (``HTTPTransport._pool``, ``ConnectionPool.
    _network_backend``, which every httpcore pool and proxy class uses to open connections):
    kept to this one function, and checked by tests/test_deadline.py.
    """
    pool = getattr(transport, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if not isinstance(pool, httpcore.ConnectionPool) or not isinstance(inner, httpcore.NetworkBackend):
        raise RuntimeError("cannot install the request deadline: httpx/httpcore internals changed")
    backend = inner if isinstance(inner, DeadlineBackend) else DeadlineBackend(inner)
    pool._network_backend = backend
    return backend


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


def deadline_transport(
    url: str, limits: httpx.Limits, *, ssl_context: ssl.SSLContext | None = None
) -> httpx.HTTPTransport:
    """An ``httpx.HTTPTransport`` for ``url`` (through the environment's proxy, if any)
    whose requests honour :func:`request_deadline`. ``ssl_context``: one to share between
    transports (default: :func:`ssl_context_for` the URL and proxy)."""
    proxy = env_proxy(url)
    verify = ssl_context if ssl_context is not None else ssl_context_for(url, proxy)
    transport = httpx.HTTPTransport(limits=limits, proxy=proxy, verify=verify)
    install_deadline_backend(transport)
    return transport
