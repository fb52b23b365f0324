"""The API client's transport for a direct connection: HTTP/1.1 through the standard library's
``http.client``, one keep-alive connection, every request bounded as a whole.

httpx's default transport (httpcore and h11) costs several times the CPU of the request
itself, and an apply of thousands of creates is CPU-bound. This one does the same job with
``http.client`` and keeps every rule the client relies on:

* **Deadlines.** Each socket operation (connect with the TLS handshake, the send, each read)
  is bounded by ``min(the request's timeout, the time left until its deadline)``
  (:func:`~conn_reconcile.deadline.bounded`), so a request as a whole (connect, send, the
  complete response, body included) never outlives :func:`~conn_reconcile.deadline.request_deadline`.
* **Failures are httpx's exceptions, sorted as httpcore sorts them**: ``ConnectError`` and
  ``ConnectTimeout`` only while connecting (nothing was sent: the retry rules rely on it),
  ``WriteError``/``WriteTimeout`` while sending, ``ReadError``/``ReadTimeout`` while reading,
  ``RemoteProtocolError`` for an answer that is not HTTP (or none at all), and
  ``LocalProtocolError`` for a request ``http.client`` refuses to build.
* **Keep-alive** like httpcore: an idle connection is reused only when the server has not
  closed it (a socket readable while idle) and it has been idle less than
  :data:`KEEPALIVE_EXPIRY`; any failure closes it.
* **TLS** with the client's SSL context (``httpx.create_ssl_context()``: certificates and the
  host name verified, ``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured).

Not covered here, so :func:`api_transports` hands them to httpcore's transport with the same
deadlines (:func:`~conn_reconcile.deadline.deadline_transport`): a proxy from the
environment, and URL schemes other than http and https (refused there).
"""

from __future__ import annotations

import http.client
import io
import select
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

from conn_reconcile.deadline import bounded, deadline_transport, env_proxy

#: seconds an idle connection is kept (httpcore's default keep-alive expiry)
KEEPALIVE_EXPIRY = 5.0
_VERSIONS = {10: b"HTTP/1.0", 11: b"HTTP/1.1"}


def api_transports(url: str, limits: httpx.Limits, ssl_context: ssl.SSLContext) -> Callable[[], httpx.BaseTransport]:
    """Makes the transport of each thread of the API client (see the module docstring); the
    environment's proxy settings are read once, here."""
    parts = httpx.URL(url)
    if parts.scheme not in ("http", "https") or env_proxy(url):
        return lambda: deadline_transport(url, limits, ssl_context=ssl_context)
    scheme, host, port = parts.scheme, parts.host, parts.port
    return lambda: Http11Transport(scheme, host, port, ssl_context)


class _Reader(io.RawIOBase):
    """The response side of a socket for ``http.client``: every read bounded."""

    def __init__(self, sock: socket.socket, timeout: float | None):
        self._sock = sock
        self.timeout = timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(bounded(self.timeout, httpx.ReadTimeout))
        return self._sock.recv_into(buffer)


class _Socket:
    """The connection's socket as ``http.client`` uses it (``sendall``, ``makefile``,
    ``close``), each operation bounded by the current request's timeout and deadline."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.timeout: float | None = None  # the current request's, set before each one

    def sendall(self, data: bytes) -> None:
        # one sendall is bounded as a whole by the socket timeout (Python >= 3.5)
        self.sock.settimeout(bounded(self.timeout, httpx.WriteTimeout))
        self.sock.sendall(data)

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_Reader(self.sock, self.timeout))

    def close(self) -> None:
        self.sock.close()


def _connect(conn: http.client.HTTPConnection, connect: Callable[[], None]) -> None:
    """Connect (for https, with the TLS handshake) within the time left; then every later
    operation of the connection goes through a :class:`_Socket`."""
    conn.timeout = bounded(conn.timeout, httpx.ConnectTimeout)
    connect()
    conn.sock = _Socket(conn.sock)


class _HTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        _connect(self, super().connect)


class _HTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        _connect(self, super().connect)


def _readable(sock: socket.socket) -> bool:
    """True when an idle socket has something to read: the server closed it (or broke the
    protocol by talking unasked); either way it must not carry another request."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])


class Http11Transport(httpx.BaseTransport):
    """One keep-alive HTTP/1.1 connection to one origin. Not thread-safe: one per thread."""

    def __init__(self, scheme: str, host: str, port: int | None, ssl_context: ssl.SSLContext):
        self._origin = (scheme, host, port)
        self._ssl_context = ssl_context
        self._conn: http.client.HTTPConnection | None = None
        self._idle_since = 0.0

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        conn = self._conn
        if conn is not None:
            sock = conn.sock
            idle = time.monotonic() - self._idle_since
            if not isinstance(sock, _Socket) or idle >= KEEPALIVE_EXPIRY or _readable(sock.sock):
                self.close()
                conn = None
        if conn is None:
            scheme, host, port = self._origin
            if scheme == "https":
                conn = _HTTPSConnection(host, port, timeout=timeout, context=self._ssl_context)
            else:
                conn = _HTTPConnection(host, port, timeout=timeout)
            self._conn = conn
            try:
                conn.connect()
            except httpx.TimeoutException:
                raise
            except TimeoutError as exc:
                raise httpx.ConnectTimeout(str(exc) or "timed out connecting") from None
            except (OSError, http.client.HTTPException) as exc:
                raise httpx.ConnectError(str(exc) or type(exc).__name__) from None
        assert isinstance(conn.sock, _Socket)
        conn.sock.timeout = timeout
        return conn

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if (url.scheme, url.host, url.port) != self._origin:
            raise httpx.UnsupportedProtocol(f"this transport only serves {self._origin[0]}://{self._origin[1]}")
        timeouts = request.extensions.get("timeout", {})
        try:
            conn = self._connection(timeouts.get("connect"))
            assert isinstance(conn.sock, _Socket)
            conn.sock.timeout = timeouts.get("write")
            self._send(conn, request)
            conn.sock.timeout = timeouts.get("read")
            response = self._receive(conn)
        except BaseException:
            self.close()
            raise
        return response

    @staticmethod
    def _send(conn: http.client.HTTPConnection, request: httpx.Request) -> None:
        try:
            conn.putrequest(
                request.method, request.url.raw_path.decode("ascii"), skip_host=True, skip_accept_encoding=True
            )
            for name, value in request.headers.raw:
                conn.putheader(name, value)
        except (ValueError, http.client.HTTPException) as exc:
            raise httpx.LocalProtocolError(str(exc)) from None
        try:
            conn.endheaders(request.content or None)
        except httpx.TimeoutException:
            raise
        except TimeoutError as exc:
            raise httpx.WriteTimeout(str(exc) or "timed out sending") from None
        except OSError as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__) from None

    def _receive(self, conn: http.client.HTTPConnection) -> httpx.Response:
        try:
            answer = conn.getresponse()
            body = answer.read()
        except httpx.TimeoutException:
            raise
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out reading") from None
        except (http.client.HTTPException, ValueError) as exc:  # RemoteDisconnected, BadStatusLine, ...
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from None
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from None
        if answer.will_close:
            self.close()
        else:
            self._idle_since = time.monotonic()
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.getheaders()]
        return httpx.Response(
            answer.status,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions={
                "http_version": _VERSIONS.get(answer.version, b"HTTP/1.1"),
                "reason_phrase": answer.reason.encode("latin-1", "replace"),
            },
        )

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
