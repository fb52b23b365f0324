"""HTTP plumbing shared by the emulator and the example connector endpoint: a loopback server whose
``stop()`` really disconnects keep-alive clients, its thread and lifecycle, and a JSON handler for
HTTP/1.1 that never logs and can dribble its response one byte at a time."""

from __future__ import annotations

import contextlib
import io
import json
import select
import selectors
import signal
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LoopbackServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` (daemon threads, a deep listen backlog) that remembers its open
    connections, so that ``stop()`` really disconnects keep-alive clients."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # many concurrent clients must not be refused
    timeout = 0  # handle_request() is only called when the socket is ready

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: Any):
        self.app = app
        self.stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self.dribbling = 0  # responses being dribbled right now
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN (a DNS lookup); loopback needs none.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, sock: socket.socket, add: bool) -> None:
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(sock)

    def count_dribbling(self, delta: int) -> None:
        with self._conns_lock:
            self.dribbling += delta

    def disconnect_all(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Served:
    """The lifecycle the emulator and the endpoint share: ``with X() as x: ... x.url ...``.
    Subclasses set ``self._thread`` to a :class:`ServerThread` serving them."""

    _thread: ServerThread

    @property
    def url(self) -> str:
        return self._thread.url

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> Self:
        if self._thread.server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_until_signalled(self, label: str) -> None:
        """Start, announce ``<label> listening on <url>`` on stderr, serve until SIGINT or
        SIGTERM, stop. Signal handlers are put back afterwards (outside the main thread the
        caller must stop it)."""
        stop = threading.Event()
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
        self.start()
        try:
            print(f"{label} listening on {self.url}", file=sys.stderr, flush=True)
            while not stop.wait(0.2):
                pass
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class ServerThread:
    """Owns one :class:`LoopbackServer` running ``serve_forever`` in a daemon thread."""

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler], app: Any):
        self._address = (host, port)
        self._handler = handler
        self._app = app
        self.server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("the server is not started")
        host, port = self.server.server_address[:2]
        assert isinstance(host, str)  # an AF_INET/AF_INET6 address, never a bytes path
        return f"http://{host}:{port}"

    def start(self) -> None:
        if self.server is not None:
            raise RuntimeError("the server is already started")
        self.server = LoopbackServer(self._address, self._handler, self._app)
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(
            target=self._run, args=(self.server, self._wake_r), daemon=True, name=f"{type(self._app).__name__}-http"
        )
        self._thread.start()

    @staticmethod
    def _run(server: LoopbackServer, wake: socket.socket) -> None:
        # Like serve_forever, but stop() wakes the loop at once (a byte on ``wake``), with no
        # poll interval to wait out: starting and stopping servers per test stays cheap.
        with selectors.DefaultSelector() as selector:
            selector.register(server, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while not server.stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is server and not server.stopping.is_set():
                        server.handle_request()  # ready: accepts and hands off to a thread

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is None:
            return
        server.stopping.set()
        self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        server.server_close()
        server.disconnect_all()
        self._wake_r.close()
        self._wake_w.close()


class BadBody(Exception):
    """The request body could not be read or parsed; the message is safe to return."""


class JsonHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: always a correct ``Content-Length``, request bodies read by
    ``Content-Length`` or chunked, and no logging (a request line could one day carry something
    sensitive). With ``dribble`` set (seconds) the response goes one byte at a time, and stops as
    soon as the client disconnects."""

    protocol_version = "HTTP/1.1"
    server_version = "conn-reconcile-emulator"
    timeout = 60  # an idle keep-alive connection frees its thread after this long
    disable_nagle_algorithm = True  # headers and body are separate writes: no Nagle/delayed-ACK stall
    dribble = 0.0  # seconds between the bytes of the response; 0 sends it at once
    server: LoopbackServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):  # the client went away
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- request --------------------------------------------------------------------------
    def body_or_reject(self) -> bytes | None:
        """The request body; None after answering 400 (and closing) when it cannot be read."""
        try:
            return self.read_body()
        except BadBody as exc:
            self.close_connection = True
            self.send_json(400, {"message": str(exc)})
            return None

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(1024).split(b";")[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError:
                    raise BadBody("malformed chunked request body") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            n = int(length)
        except ValueError:
            raise BadBody("invalid Content-Length") from None
        if n < 0 or n > 10 * 1024 * 1024:
            raise BadBody("invalid Content-Length")
        return self.rfile.read(n)

    @staticmethod
    def parse_json(raw: bytes) -> Any:
        """The JSON value of a body; an empty body is ``None``. Raises :class:`BadBody`."""
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BadBody("request body is not valid JSON") from None

    # -- response -------------------------------------------------------------------------
    def send_bytes(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        if self.dribble <= 0:
            self._write_response(status, body, content_type, headers)
            return
        real, self.wfile = self.wfile, io.BytesIO()
        try:
            self._write_response(status, body, content_type, headers)
            data = self.wfile.getvalue()
        finally:
            self.wfile = real
        self._dribble(data)

    def _dribble(self, data: bytes) -> None:
        """Send ``data`` one byte at a time, ``self.dribble`` seconds apart; give up (and
        close) as soon as the client has gone or the server stops."""
        self.server.count_dribbling(1)
        try:
            for i in range(len(data)):
                if i and not self._pause_while_connected(self.dribble):
                    self.close_connection = True
                    return
                self.connection.sendall(data[i : i + 1])
        except OSError:  # the client went away mid-send
            self.close_connection = True
        finally:
            self.server.count_dribbling(-1)

    def _pause_while_connected(self, seconds: float) -> bool:
        """Wait ``seconds``; False at once when the client closed its end or the server stops."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self.server.stopping.is_set():
                return False
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.5))
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return False  # EOF: the client closed the connection
                except OSError:
                    return False
                self.server.stopping.wait(min(left, 0.5))  # it sent more: don't spin on it
        return True

    def _write_response(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.send_bytes(status, body, "application/json", headers)

    def drop(self) -> None:
        """Close the connection without sending any response."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up early when the server is stopping."""
        if seconds > 0:
            self.server.stopping.wait(seconds)
