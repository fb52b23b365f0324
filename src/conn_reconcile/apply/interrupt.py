"""Ctrl-C during apply, counted: the first Ctrl-C stops new calls from starting and waits for those
in flight, the second stops waiting. No KeyboardInterrupt is raised, in the workers (Python runs
signal handlers in the main thread only) nor, inside :meth:`Interrupt.catch_sigint`, in the main thread."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Interrupt:
    """Ctrl-C as a counter that the applier polls. Signal handlers run in the main thread
    only, so worker threads never see a KeyboardInterrupt; the handler takes no lock (it
    may run while the main thread holds any of them) and only counts."""

    def __init__(self) -> None:
        self._count = 0
        self._installed = False

    @property
    def count(self) -> int:
        return self._count

    def trigger(self) -> None:
        self._count += 1

    def _on_sigint(self, signum: int, frame: object) -> None:
        self._count += 1

    @contextmanager
    def catch_sigint(self) -> Iterator[None]:
        """Count SIGINT, raising no KeyboardInterrupt, in the main thread (nested: no-op;
        elsewhere, or when SIGINT is ignored, nothing changes)."""
        if (
            self._installed
            or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        ):
            yield
            return
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        self._installed = True
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
            self._installed = False
