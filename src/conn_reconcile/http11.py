"""The API client's transport for a direct connection: HTTP/1.1 over a plain (or TLS) socket,
one keep-alive connection, every request bounded as a whole.

httpx's default transport (httpcore and h11, or even ``http.client`` and its e-mail header
parser) costs several times the CPU of the request itself, and an apply of thousands of
creates is CPU-bound. This one writes the request in one piece and reads the answer with a
small strict parser, and keeps every rule the client relies on:

* **Deadlines.** Each socket operation (connect with the TLS handshake, the send, each read)
  is bounded by ``min(the request's timeout, the time left until its deadline)``
  (:func:`~conn_reconcile.deadline.bounded`), so a request as a whole (connect, send, the
  complete response, body included) never outlives :func:`~conn_reconcile.deadline.request_deadline`.
* **Failures are httpx's exceptions, sorted as httpcore sorts them**: ``ConnectError`` and
  ``ConnectTimeout`` only while connecting (nothing was sent: the retry rules rely on it),
  ``WriteError``/``WriteTimeout`` while sending, ``ReadError``/``ReadTimeout`` while reading,
  ``RemoteProtocolError`` for an answer that is not HTTP/1.x (or none at all, or cut short),
  and ``LocalProtocolError`` for a request that is not valid HTTP (h11's grammar: a header
  value with a line break or NUL, a name that is not a token) before anything is sent.
* **Strict answers**, h11's grammar and limits: status line ``HTTP/1.x NNN reason``; header
  lines ``token: value`` (an obsolete folded line is joined to the one before), at most
  :data:`MAX_HEADER_BYTES` of them in all; the body by ``Transfer-Encoding: chunked`` (no other coding), else
  one ``Content-Length`` (all copies equal), else up to the end of the connection; no body
  for 1xx, 204 and 304; interim 1xx answers skipped; a body over :data:`MAX_BODY_BYTES` is refused
  before it is read (or as soon as it passes the limit), never held in memory.
* **Keep-alive** like httpcore: an idle connection is reused only when the server has not
  closed it (a socket readable while idle) and it has been idle less than
  :data:`KEEPALIVE_EXPIRY`; it is closed after any failure, and after an answer that says
  ``Connection: close``, is HTTP/1.0 without ``keep-alive`` or ends with the connection.
* **TLS** with the client's SSL context (``httpx.create_ssl_context()``: certificates and the
  host name verified, ``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured).

The client builds its requests with :func:`build_request` (exactly as an ``httpx.Client``
would, without its per-request cost) and keeps one transport per thread
(:class:`ThreadTransports`). Not covered here, so :func:`api_transports` hands them to
httpcore's transport with the same deadlines (:func:`~conn_reconcile.pooldeadline.deadline_transport`): a proxy from the
environment, and URL schemes other than http and https (refused there).
"""

from __future__ import annotations

import io
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from json import dumps as json_dumps
from typing import Any

import httpx

from conn_reconcile.deadline import bounded, env_proxy, ssl_context_for

#: seconds an idle connection is kept (httpcore's default keep-alive expiry)
KEEPALIVE_EXPIRY = 5.0
#: the status line and header lines of one answer, in all (h11's default limit)
MAX_HEADER_BYTES = 100 * 1024
#: the body of one answer (a page of 100 connectors is far below 1 MiB): a hostile or broken
#: server cannot make the client hold more than this in memory
MAX_BODY_BYTES = 16 * 1024 * 1024
_MAX_CHUNK_LINE = 1024

# h11's grammar (h11/_abnf.py), as bytes
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_FIELD_VALUE = re.compile(rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")
_STATUS_LINE = re.compile(rb"HTTP/1\.([0-9]) ([0-9]{3})(?: ((?:[ \t]|[^\x00\s])*))?")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*")


def build_request(
    method: str,
    url: httpx.URL,
    headers: httpx.Headers,
    *,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    timeout: float,
) -> httpx.Request:
    """The request ``httpx.Client(headers=...).build_request(method, url, params=, json=,
    timeout=)`` builds (same URL, headers in the same order, same JSON encoding), built once
    instead of having httpx normalise the headers twice."""
    extensions = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}}
    if params is not None:
        return httpx.Request(method, url, params=params, headers=headers, json=json, extensions=extensions)
    raw = [(b"Host", url.netloc), *headers.raw]
    body = b""
    if json is not None:
        body = json_dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        raw += [(b"Content-Length", str(len(body)).encode("ascii")), (b"Content-Type", b"application/json")]
    elif method in ("POST", "PUT", "PATCH"):
        raw.insert(1, (b"Content-Length", b"0"))
    request = httpx.Request(method, url, headers=raw, stream=httpx.ByteStream(body), extensions=extensions)
    request.read()
    return request


class ThreadTransports:
    """The API client's transports, one per thread: workers of a parallel apply never wait on
    each other for a shared pool's lock. An ``injected`` transport (tests) serves every thread."""

    def __init__(self, url: str, injected: httpx.BaseTransport | None = None):
        self._url = url
        self._injected = injected
        self._new: Callable[[], httpx.BaseTransport] | None = None
        self._local = threading.local()
        self._made: list[httpx.BaseTransport] = []
        self._lock = threading.Lock()
        self._closed = False

    def here(self) -> httpx.BaseTransport:
        """This thread's transport; after :meth:`close`, ``RuntimeError``."""
        if self._closed:
            raise RuntimeError("the client is closed")
        transport: httpx.BaseTransport | None = getattr(self._local, "transport", None)
        if transport is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the client is closed")
                if self._injected is not None:
                    transport = self._injected
                else:
                    if self._new is None:  # one SSL context for all: loading the CA bundle costs
                        limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
                        self._new = api_transports(self._url, limits)
                    transport = self._new()
                    self._made.append(transport)
            self._local.transport = transport
        return transport

    def close(self) -> None:
        with self._lock:
            transports, self._made = self._made, []
            self._closed = True
        if self._injected is not None:
            transports.append(self._injected)
        for transport in transports:
            transport.close()


def api_transports(
    url: str, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None
) -> Callable[[], httpx.BaseTransport]:
    """Makes the transport of each thread of the API client (see the module docstring); the
    environment's proxy settings are read and the SSL context they share is made once, here
    (default: :func:`~conn_reconcile.deadline.ssl_context_for` the URL and proxy)."""
    parts = httpx.URL(url)
    proxy = env_proxy(url)
    context = ssl_context if ssl_context is not None else ssl_context_for(url, proxy)
    if parts.scheme not in ("http", "https") or proxy:
        from conn_reconcile.pooldeadline import deadline_transport

        return lambda: deadline_transport(limits, proxy=proxy, ssl_context=context)
    scheme, host, port = parts.scheme, parts.host, parts.port
    return lambda: Http11Transport(scheme, host, port, context)


class _Reader(io.RawIOBase):
    """A socket's incoming bytes, every read bounded by the request's timeout and deadline."""

    def __init__(self, sock: socket.socket, timeout: float | None):
        self._sock = sock
        self.timeout = timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(bounded(self.timeout, httpx.ReadTimeout))
        return self._sock.recv_into(buffer)


def _readable(sock: socket.socket) -> bool:
    """True when an idle socket has something to read: the server closed it (or broke the
    protocol by talking unasked); either way it must not carry another request."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])


def _request_head(request: httpx.Request) -> bytes:
    """The request line and headers, checked against h11's grammar."""
    target = request.url.raw_path
    method = request.method.encode("ascii")
    if not _TOKEN.fullmatch(method) or not target or any(c <= 0x20 or c == 0x7F for c in target):
        raise httpx.LocalProtocolError("the request line is not valid HTTP")
    lines = [method + b" " + target + b" HTTP/1.1"]
    for name, value in request.headers.raw:
        if not _TOKEN.fullmatch(name) or not _FIELD_VALUE.fullmatch(value):
            raise httpx.LocalProtocolError("a request header is not valid HTTP (name or value)")
        lines.append(name + b": " + value)
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


class _Answer:
    """Reads one answer from ``fp`` (see the module docstring); ``ValueError`` when it is
    not valid HTTP/1.x, ``EOFError`` when it is cut short."""

    def __init__(self, fp: io.BufferedReader, method: str):
        self.fp = fp
        self.method = method
        self.budget = MAX_HEADER_BYTES

    def line(self) -> bytes:
        raw = self.fp.readline(self.budget + 1)
        self.budget -= len(raw)
        if self.budget < 0:
            raise ValueError(f"the answer's headers are larger than {MAX_HEADER_BYTES} bytes")
        if not raw.endswith(b"\n"):
            raise EOFError("the connection ended in the answer's headers")
        return raw.rstrip(b"\r\n") if raw.endswith(b"\r\n") else raw[:-1]

    def head(self) -> tuple[int, int, bytes, list[tuple[bytes, bytes]]]:
        """Status line and headers, interim 1xx answers skipped: (minor version, status,
        reason, headers)."""
        while True:
            status_line = self.line()
            while not status_line:  # empty lines before a status line are ignored (RFC 9112)
                status_line = self.line()
            match = _STATUS_LINE.fullmatch(status_line)
            if match is None:
                raise ValueError("the answer does not start with an HTTP/1.x status line")
            status = int(match.group(2))
            headers = self.headers()
            if not 100 <= status < 200:
                return int(match.group(1)), status, match.group(3) or b"", headers
            if status == 101:
                raise ValueError("the server switched protocols unasked")

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = []
        while line := self.line():
            if line[:1] in (b" ", b"\t") and headers:  # obsolete line folding: part of the previous value
                name, value = headers[-1]
                headers[-1] = (name, (value + b" " + line.strip(b" \t")).strip(b" \t"))
                continue
            name, colon, value = line.partition(b":")
            value = value.strip(b" \t")
            if not colon or not _TOKEN.fullmatch(name) or not _FIELD_VALUE.fullmatch(value):
                raise ValueError("an answer's header line is not valid HTTP")
            headers.append((name, value))
        return headers

    def body(self, status: int, headers: list[tuple[bytes, bytes]]) -> tuple[bytes, bool]:
        """The body and whether it ended with the connection."""
        if self.method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return b"", False
        codings = [v.strip().lower() for n, v in headers if n.lower() == b"transfer-encoding" for v in v.split(b",")]
        if codings:
            if codings != [b"chunked"]:  # as h11: no other transfer coding
                raise ValueError("the answer's Transfer-Encoding is not chunked")
            return self.chunked(), False
        lengths = {v.strip() for n, v in headers if n.lower() == b"content-length" for v in v.split(b",")}
        if len(lengths) > 1 or (lengths and not next(iter(lengths)).isdigit()):
            raise ValueError("the answer's Content-Length is not one number")
        if not lengths:
            data = self.fp.read(MAX_BODY_BYTES + 1)
            if len(data) > MAX_BODY_BYTES:
                raise ValueError(f"the answer's body is larger than {MAX_BODY_BYTES} bytes")
            return data, True
        size = int(next(iter(lengths)))
        if size > MAX_BODY_BYTES:
            raise ValueError(f"the answer's body is larger than {MAX_BODY_BYTES} bytes")
        return self.exactly(size), False

    def exactly(self, size: int) -> bytes:
        data = self.fp.read(size)
        if len(data) < size:
            raise EOFError(f"the connection ended {size - len(data)} bytes before the end of the answer")
        return data

    def chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            raw = self.fp.readline(_MAX_CHUNK_LINE + 1)
            if len(raw) > _MAX_CHUNK_LINE:
                raise ValueError("a chunk header is too long")
            if not raw.endswith(b"\n"):
                raise EOFError("the connection ended in a chunk header")
            match = _CHUNK_SIZE.fullmatch(raw.rstrip(b"\r\n"))
            if match is None:
                raise ValueError("a chunk header is not valid HTTP")
            size = int(match.group(1), 16)
            if size == 0:
                self.headers()  # trailers, read and dropped
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise ValueError(f"the answer's body is larger than {MAX_BODY_BYTES} bytes")
            parts.append(self.exactly(size))
            if self.exactly(2) != b"\r\n":
                raise ValueError("a chunk does not end with CRLF")


def _keeps_alive(minor: int, headers: list[tuple[bytes, bytes]]) -> bool:
    tokens = {t.strip().lower() for n, v in headers if n.lower() == b"connection" for t in v.split(b",")}
    return b"close" not in tokens and (minor >= 1 or b"keep-alive" in tokens)


class Http11Transport(httpx.BaseTransport):
    """One keep-alive HTTP/1.1 connection to one origin. Not thread-safe: one per thread."""

    def __init__(self, scheme: str, host: str, port: int | None, ssl_context: ssl.SSLContext):
        self._origin = (scheme, host, port)
        self._address = (host, port or (443 if scheme == "https" else 80))
        self._ssl_context = ssl_context if scheme == "https" else None
        self._sock: socket.socket | None = None
        self._idle_since = 0.0

    def _connection(self, timeout: float | None) -> socket.socket:
        sock = self._sock
        if sock is not None and (time.monotonic() - self._idle_since >= KEEPALIVE_EXPIRY or _readable(sock)):
            self.close()
            sock = None
        if sock is None:
            try:
                sock = socket.create_connection(self._address, bounded(timeout, httpx.ConnectTimeout))
                self._sock = sock
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self._ssl_context is not None:
                    sock = self._sock = self._ssl_context.wrap_socket(sock, server_hostname=self._address[0])
            except httpx.TimeoutException:
                raise
            except TimeoutError as exc:
                raise httpx.ConnectTimeout(str(exc) or "timed out connecting") from None
            except (OSError, ValueError, UnicodeError) as exc:
                raise httpx.ConnectError(str(exc) or type(exc).__name__) from None
        return sock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if (url.scheme, url.host, url.port) != self._origin:
            raise httpx.UnsupportedProtocol(f"this transport only serves {self._origin[0]}://{self._origin[1]}")
        timeouts = request.extensions.get("timeout", {})
        message = _request_head(request) + request.content
        try:
            sock = self._connection(timeouts.get("connect"))
            self._send(sock, message, timeouts.get("write"))
            return self._receive(sock, request.method, timeouts.get("read"))
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _send(sock: socket.socket, message: bytes, timeout: float | None) -> None:
        try:
            sock.settimeout(bounded(timeout, httpx.WriteTimeout))
            sock.sendall(message)  # bounded as a whole by the socket timeout (Python >= 3.5)
        except httpx.TimeoutException:
            raise
        except TimeoutError as exc:
            raise httpx.WriteTimeout(str(exc) or "timed out sending") from None
        except OSError as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__) from None

    def _receive(self, sock: socket.socket, method: str, timeout: float | None) -> httpx.Response:
        answer = _Answer(io.BufferedReader(_Reader(sock, timeout)), method)
        try:
            minor, status, reason, headers = answer.head()
            body, ended = answer.body(status, headers)
        except httpx.TimeoutException:
            raise
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out reading") from None
        except (ValueError, EOFError) as exc:
            raise httpx.RemoteProtocolError(str(exc)) from None
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from None
        if ended or not _keeps_alive(minor, headers):
            self.close()
        else:
            self._idle_since = time.monotonic()
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions={"http_version": b"HTTP/1.%d" % minor, "reason_phrase": reason},
        )

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
