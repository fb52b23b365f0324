"""httpx transports whose requests honour :func:`~conn_reconcile.deadline.request_deadline`:
for a connection through a proxy (or a URL scheme :mod:`conn_reconcile.http11` does not
serve), and for the probe's requests to connector URLs.

How: :class:`DeadlineBackend` wraps httpcore's network backend (public httpcore API), so
every socket operation of a request (connect, TLS handshake, each write and each read) is
bounded by :func:`~conn_reconcile.deadline.bounded`. Installing the backend into an
``httpx.HTTPTransport`` needs two private attributes; that is isolated in
:func:`install_deadline_backend`, which fails loudly if httpx changes (tests/test_deadline.py
checks that it still works). A module of its own: importing httpcore costs about 30 ms, which
a command on a direct connection (the common case) does not pay.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from conn_reconcile.deadline import bounded


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
    """A network backend whose streams honour :func:`~conn_reconcile.deadline.request_deadline`."""

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


def deadline_transport(limits: httpx.Limits, *, proxy: str | None, ssl_context: ssl.SSLContext) -> httpx.HTTPTransport:
    """An ``httpx.HTTPTransport`` (through ``proxy``, if any) whose requests honour
    :func:`~conn_reconcile.deadline.request_deadline`. The caller reads the proxy and makes
    the SSL context once (:func:`~conn_reconcile.http11.api_transports`), for every transport."""
    transport = httpx.HTTPTransport(limits=limits, proxy=proxy, verify=ssl_context)
    install_deadline_backend(transport)
    return transport
