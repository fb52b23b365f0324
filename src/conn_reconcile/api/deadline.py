"""Whole-request deadlines and bounded answers for the httpx clients: :class:`Deadline` (a watchdog
cuts a request off when it passes, whatever it waits for), :func:`send_bounded` (the complete answer,
at most a limit of decoded bytes), the API client's transports (a connection per thread), the proxy
the environment sets for a URL and the SSL context of each client."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import socket
import ssl
import threading
import time
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

#: the content codings :func:`read_response` decodes: what a client sends as ``Accept-Encoding``
ACCEPT_ENCODING = "gzip, deflate"
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_MAX_CODINGS = 4  # layers of Content-Encoding decoded at most
_PIECE = 64 * 1024  # bytes a decoding layer hands on at a time
_CUT = "the request did not complete within its time limit"


class AnswerTooLarge(httpx.RemoteProtocolError):
    """An answer whose body (decoded) is larger than the reader's limit; ``response`` is the
    streamed answer (status and headers), closed."""

    def __init__(self, limit: int, response: httpx.Response):
        super().__init__(f"the answer's body is larger than {limit} bytes")
        self.response = response


class _Connection:
    """A connection's socket as the watchdog shuts it down: through a duplicate of its file
    descriptor (the socket object itself may be wrapped for TLS meanwhile), and only while that
    descriptor still holds this connection (same local and remote address)."""

    __slots__ = ("ends", "family", "fd", "kind")

    def __init__(self, sock: socket.socket):
        self.fd, self.family, self.kind = sock.fileno(), sock.family, sock.type
        self.ends = (sock.getsockname(), sock.getpeername())

    def shut(self) -> None:
        with contextlib.suppress(OSError), socket.fromfd(self.fd, self.family, self.kind) as dup:
            if (dup.getsockname(), dup.getpeername()) == self.ends:
                dup.shutdown(socket.SHUT_RDWR)  # whatever waits on it ends now


class Deadline:
    """One request's whole-request deadline (``at``, a ``time.monotonic()`` value).

    Send the request with :attr:`extensions` (httpx's ``trace`` extension reports the connection
    it opens and how far it got) inside ``with deadline:`` (the process's watchdog watches it
    meanwhile). When ``at`` passes first, the watchdog shuts the connection down: a TLS
    handshake, a send, an answer's head or body trickling in, all end at once, and
    :meth:`error` is the timeout of the phase it ended in. ``conn`` is the connection: the one
    the caller expects a request to reuse (its last one, when it has a connection of its own),
    else the one the request opens.
    """

    __slots__ = ("at", "conn", "fired", "phase")

    def __init__(self, at: float, conn: _Connection | None = None):
        self.at = at
        self.conn = conn
        self.fired = False
        self.phase: type[httpx.TimeoutException] = httpx.ConnectTimeout

    @property
    def extensions(self) -> dict[str, Any]:
        return {"trace": self.trace}

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpx's ``trace`` callback: never raises (it runs inside the transport)."""
        if event.endswith(".connect_tcp.started"):
            self.conn = None  # a new connection: not the one expected
        elif event.endswith(".connect_tcp.complete"):
            try:
                conn = _Connection(info["return_value"].get_extra_info("socket"))
            except (OSError, AttributeError, KeyError, TypeError):
                return
            self.conn = conn
            if self.fired:  # it passed while connecting
                conn.shut()
        elif event == "http11.send_request_headers.started":
            self.phase = httpx.WriteTimeout
        elif event == "http11.receive_response_headers.started":
            self.phase = httpx.ReadTimeout

    def expire(self) -> None:
        """The deadline passed (the watchdog's thread): cut the connection off."""
        self.fired = True
        conn = self.conn
        if conn is not None:
            conn.shut()

    def error(self) -> httpx.TimeoutException:
        return self.phase(_CUT)

    def __enter__(self) -> Deadline:
        _WATCHDOG.watch(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _WATCHDOG.unwatch(self)


class _Watchdog:
    """One daemon thread that expires the watched deadlines as they pass. It sleeps until the
    earliest one; a request that ends first is simply unwatched."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every deadline (a forked child starts with no watchdog thread)."""
        self._cond = threading.Condition(threading.Lock())
        self._watched: set[Deadline] = set()
        self._wake_at = math.inf
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._cond:
            self._watched.add(deadline)
            if deadline.at < self._wake_at:
                self._wake_at = deadline.at
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="request-deadlines", daemon=True)
                    self._thread.start()
                else:
                    self._cond.notify()

    def unwatch(self, deadline: Deadline) -> None:
        with self._cond:
            self._watched.discard(deadline)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for deadline in [d for d in self._watched if d.at <= now]:
                    self._watched.discard(deadline)
                    deadline.expire()
                self._wake_at = min((d.at for d in self._watched), default=math.inf)
                self._cond.wait(None if self._wake_at == math.inf else self._wake_at - now)


_WATCHDOG = _Watchdog()
os.register_at_fork(after_in_child=_WATCHDOG.reset)


class ThreadTransports(httpx.BaseTransport):
    """Hands each calling thread an ``httpx.HTTPTransport`` of its own, holding one keep-alive
    connection: as many connections as threads calling at once (the parallelism), no pool
    lock shared between them, and the connection a request reuses is known before its answer
    starts, so a :class:`Deadline` can cut it off."""

    def __init__(self, make: Callable[[], httpx.BaseTransport]):
        self._make = make
        self._local = threading.local()
        self._made: list[httpx.BaseTransport] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        transport: httpx.BaseTransport | None = getattr(self._local, "transport", None)
        if transport is None:
            transport = self._local.transport = self._make()
            with self._lock:
                self._made.append(transport)
        return transport.handle_request(request)

    def close(self) -> None:
        with self._lock:
            made, self._made = self._made, []
        for transport in made:
            transport.close()


def api_transport(url: str) -> ThreadTransports:
    """The transports of a client of ``url``: the proxy the environment sets for it, and one SSL
    context (made once, here) for every thread."""
    proxy = env_proxy(url)
    context = ssl_context_for(url, proxy)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return ThreadTransports(lambda: httpx.HTTPTransport(verify=context, proxy=proxy, limits=limits))


def send_bounded(http: httpx.Client, request: httpx.Request, deadline: Deadline, limit: int) -> httpx.Response:
    """Send ``request`` (built with ``deadline.extensions`` and a timeout no longer than the time
    left) and read its complete answer by ``deadline.at``: :func:`read_response`. A request the
    deadline cut off raises :meth:`Deadline.error`, never the failure the cut caused."""
    try:
        with deadline:
            response = http.send(request, stream=True)
            try:
                return read_response(response, deadline.at, limit)
            finally:
                response.close()
    except httpx.TransportError as exc:
        if deadline.fired and not isinstance(exc, AnswerTooLarge):
            raise deadline.error() from None
        raise


def read_response(response: httpx.Response, at: float, limit: int) -> httpx.Response:
    """The streamed ``response`` read completely, as an ``httpx.Response`` holding its decoded
    body; ``httpx.ReadTimeout`` once ``at`` (a ``time.monotonic()`` value) has passed between
    two reads. At most ``limit`` decoded bytes (else :class:`AnswerTooLarge`): a compressed
    answer is decoded in pieces and never expanded past the limit, an announced length over it
    is refused before reading. Codings other than :data:`ACCEPT_ENCODING`'s (never asked for)
    and undecodable bodies are ``httpx.RemoteProtocolError``."""
    if response.is_stream_consumed:  # already in memory (an in-process transport)
        if len(response.content) > limit:
            raise AnswerTooLarge(limit, response)
        return response
    codings = [c.strip().lower() for c in response.headers.get_list("content-encoding", split_commas=True)]
    codings = [c for c in codings if c not in ("", "identity")]
    length = response.headers.get("content-length", "")
    if not codings and length.isdigit() and int(length) > limit:
        raise AnswerTooLarge(limit, response)
    body = _Body(codings, limit, response)
    for raw in response.iter_raw():
        body.feed(raw, 0)
        if time.monotonic() >= at:
            raise httpx.ReadTimeout(_CUT)
    content = body.finish()
    headers: httpx.Headers | list[tuple[bytes, bytes]] = response.headers
    if codings:  # the body is decoded now
        headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"content-encoding"]
    extensions = {k: v for k, v in response.extensions.items() if k in ("http_version", "reason_phrase")}
    return httpx.Response(
        response.status_code, headers=headers, content=content, request=response.request, extensions=extensions
    )


class _Body:
    """An answer's body decoded through its content codings (outermost first), each layer
    handing on at most :data:`_PIECE` bytes at a time, the decoded bytes counted."""

    def __init__(self, codings: list[str], limit: int, response: httpx.Response):
        if len(codings) > _MAX_CODINGS:
            raise httpx.RemoteProtocolError(f"the answer has more than {_MAX_CODINGS} content codings")
        for coding in codings:
            if coding not in _WBITS:
                raise httpx.RemoteProtocolError(f"the answer's content coding {coding[:40]!r} was not asked for")
        self.codings = codings[::-1]
        self.layers = [zlib.decompressobj(_WBITS[c]) for c in self.codings]
        self.started = [False] * len(self.layers)
        self.limit = limit
        self.response = response
        self.parts: list[bytes] = []
        self.size = 0

    def feed(self, data: bytes, level: int) -> None:
        if level == len(self.layers):
            self.size += len(data)
            if self.size > self.limit:
                raise AnswerTooLarge(self.limit, self.response)
            self.parts.append(data)
            return
        while True:
            piece = self._inflate(level, data)
            data = self.layers[level].unconsumed_tail
            if piece:
                self.feed(piece, level + 1)
            if not data and len(piece) < _PIECE:
                return

    def _inflate(self, level: int, data: bytes) -> bytes:
        try:
            piece = self.layers[level].decompress(data, _PIECE)
        except zlib.error:
            if self.started[level] or self.codings[level] != "deflate":
                raise httpx.RemoteProtocolError(f"the answer's body is not valid {self.codings[level]}") from None
            self.layers[level] = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as httpx reads it
            self.started[level] = True
            return self._inflate(level, data)
        self.started[level] = self.started[level] or bool(data)
        return piece

    def finish(self) -> bytes:
        for level in range(len(self.layers)):
            self.feed(b"", level)  # what each layer still holds
        return b"".join(self.parts)


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
    (which loads the CA bundle) only when one may use TLS. A plain ``http://``
    URL reached directly or through an ``http://`` proxy never does (redirects are not followed):
    it gets a context with no trust roots, which would fail any handshake."""
    if urlsplit(url).scheme == "http" and (proxy is None or urlsplit(proxy).scheme == "http"):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, with nothing to trust
    return verifying_ssl_context()


@functools.cache
def verifying_ssl_context() -> ssl.SSLContext:
    """``httpx.create_ssl_context()``, made once per process and shared by every client that
    may use TLS (an SSL context is safe to share between connections and threads): each new
    one would load the CA bundle again."""
    return httpx.create_ssl_context()
