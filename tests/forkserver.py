"""A fork server for the CLI runs that must be real processes (``e2e.popen_cli``).

A test that signals, kills or races the CLI needs it as a process of its own; a fresh
interpreter's start-up costs about 0.4 s of CPU (httpx, ruamel), for each of
some thirty runs per test session. Each pytest-xdist worker starts one server the first
time it needs one: a Python process that has imported the package, then
waits. For each run it forks; the fork forks again and exits, so the CLI process is orphaned
and re-parented to the worker, which has made itself a "child subreaper" (Linux ``prctl``).
The CLI process is then the worker's own child, exactly as after ``subprocess.Popen``: its pid,
exit status, signals, ``kill -9`` and pipes behave the same, and :class:`Popen` is
``subprocess.Popen`` with only the start replaced.

In the CLI process, before ``conn_reconcile.cli.main`` runs, the state a fresh ``python -m
conn_reconcile`` would have is set up: standard streams on the given descriptors (made as
Python makes them: line-buffered on a terminal, unbuffered under ``PYTHONUNBUFFERED``),
arguments, environment, working directory (also ``sys.path[0]``) and Ctrl-C raising
``KeyboardInterrupt``. The streams' encoding is the server's: a run whose environment sets
what the interpreter reads for it at start-up (:data:`STARTUP_VARS`) differently is refused.
What a fork cannot show - a fresh interpreter's imports, a signal disposition inherited across
``exec`` - is tested with real ``exec`` runs (``popen_cli(fresh=True)``, tests/test_imports.py,
tests/test_readme.py, tests/test_ghaction.py).
Where ``prctl`` is missing (not Linux), every run is a real ``exec``.
"""

from __future__ import annotations

import atexit
import ctypes
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import conn_reconcile

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_MAX_MESSAGE = 1 << 20
#: what the interpreter reads once, at start-up, to make its standard streams: a run whose
#: environment sets these differently from the server's cannot be forked (:meth:`_Server.spawn`)
STARTUP_VARS = ("PYTHONIOENCODING", "PYTHONUTF8", "PYTHONCOERCECLOCALE", "LC_ALL", "LC_CTYPE", "LANG")


# ---- the server ---------------------------------------------------------------------------------


#: what most CLI runs import (a plan, an apply); anything else a run needs it imports itself
PRELOAD = (
    "conn_reconcile.cli",
    "conn_reconcile.workflow",
    "conn_reconcile.applyflow",
    "conn_reconcile.applier",
    "conn_reconcile.recorder",
    "conn_reconcile.client",
    "conn_reconcile.statefile",
    "conn_reconcile.planner",
    "conn_reconcile.render",
    "conn_reconcile.loader",
    "conn_reconcile.lock",
)


def _preload() -> None:
    """Import what CLI runs import, once."""
    for name in PRELOAD:
        __import__(name)


def serve(path: str) -> dict[str, Any]:
    """The server's loop. Returns only in a CLI process, with the request it is to run."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)  # the worker is gone (even killed): end too
    if os.getppid() != int(os.environ["CLI_FORKSERVER_PARENT"]):
        sys.exit(0)  # it went before the line above
    _preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(16)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        conn, _ = listener.accept()
        data, fds, _flags, _addr = socket.recv_fds(conn, _MAX_MESSAGE, 3)
        middle = os.fork()
        if middle == 0:
            cli = os.fork()
            if cli == 0:
                listener.close()
                conn.close()
                return _become(json.loads(data), fds)
            conn.send(f"{cli}".encode())
            os._exit(0)
        os.waitpid(middle, 0)  # the CLI process is now the worker's child
        for fd in fds:
            os.close(fd)
        conn.send(b"ready")
        conn.close()


def _stream(fd: int, mode: str, like: Any) -> io.TextIOWrapper:
    """A standard stream as the interpreter makes it at start-up (``create_stdio``)."""
    unbuffered = mode == "w" and bool(os.environ.get("PYTHONUNBUFFERED"))
    raw: Any = io.FileIO(fd, mode, closefd=False)
    if not unbuffered:
        raw = io.BufferedWriter(raw) if mode == "w" else io.BufferedReader(raw)
    return io.TextIOWrapper(
        raw,
        encoding=like.encoding,
        errors=like.errors,
        newline="\n",
        line_buffering=mode == "w" and not unbuffered and (fd == 2 or os.isatty(fd)),
        write_through=unbuffered,
    )


def _become(request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) - {0, 1, 2}:
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.stdin = sys.__stdin__ = _stream(0, "r", sys.__stdin__)
    sys.stdout = sys.__stdout__ = _stream(1, "w", sys.__stdout__)
    sys.stderr = sys.__stderr__ = _stream(2, "w", sys.__stderr__)
    sys.argv = request["argv"]
    sys.path[0] = request["cwd"]
    return request


# ---- the client, in a pytest worker -------------------------------------------------------------


def restore_default_sigint() -> None:
    """In the child, before exec: take Ctrl-C the default way even when the test runner was
    started with SIGINT ignored (``nohup``, ``trap '' INT``): an ignored disposition is
    inherited across exec, and ``restore_signals`` only covers SIGPIPE, SIGXFZ and SIGXFSZ."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class _Server:
    def __init__(self) -> None:
        if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        self.dir = tempfile.mkdtemp(prefix="cli-forkserver-")
        self.path = os.path.join(self.dir, "socket")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, self.path],
            env={**os.environ, "CLI_FORKSERVER_PARENT": str(os.getpid())},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=restore_default_sigint,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline() != "ready\n":
            raise RuntimeError("the CLI fork server did not start")
        self.startup = {k: os.environ.get(k) for k in STARTUP_VARS}
        atexit.register(self.stop)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str, fds: list[int]) -> int:
        differ = sorted(k for k in STARTUP_VARS if env.get(k) != self.startup[k])
        if differ:
            raise ValueError(f"a forked run keeps the server's {', '.join(differ)}: use popen_cli(fresh=True)")
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.connect(self.path)
            socket.send_fds(conn, [json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode()], fds)
            pid = int(conn.recv(64))
            if conn.recv(64) != b"ready":
                raise RuntimeError("the CLI fork server failed")
        return pid


_server: _Server | None = None
_starting = threading.Lock()


def _the_server() -> _Server:
    """This worker's server, started on first use."""
    global _server
    with _starting:
        if _server is None:
            _server = _Server()
        return _server


def available() -> bool:
    return sys.platform == "linux" and hasattr(socket, "send_fds")


class Popen(subprocess.Popen):  # type: ignore[type-arg]
    """``subprocess.Popen(cli_command(*args), ...)`` whose process is forked from the server."""

    def _execute_child(  # type: ignore[override]
        self,
        args: list[str],
        executable: Any,
        preexec_fn: Any,
        close_fds: bool,
        pass_fds: Any,
        cwd: Any,
        env: Any,
        startupinfo: Any,
        creationflags: Any,
        shell: bool,
        p2cread: int,
        p2cwrite: int,
        c2pread: int,
        c2pwrite: int,
        errread: int,
        errwrite: int,
        *_rest: Any,
    ) -> None:
        fds = [fd if fd != -1 else default for fd, default in ((p2cread, 0), (c2pwrite, 1), (errwrite, 2))]
        main = str(Path(conn_reconcile.__file__).with_name("__main__.py"))  # sys.argv[0] of `python -m`
        self.pid = _the_server().spawn(
            [main, *args[3:]], dict(os.environ if env is None else env), os.fspath(cwd or os.getcwd()), fds
        )
        self._child_created = True
        self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)


if __name__ == "__main__":
    serve(sys.argv[1])
    from conn_reconcile.cli import main

    main()
