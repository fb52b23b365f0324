"""A thread-safe token bucket that paces requests to at most ``rate`` per second: one bucket is
shared by every thread of an API client's worker pool."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Every thread that shares the bucket draws from the same budget. A caller that finds it
    empty reserves the next token anyway (the balance goes negative) and sleeps, outside the lock,
    until that token is due: callers are served in the order they arrived and never spin. The
    clock and the sleep are injectable, so tests check the spacing without waiting."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not rate > 0:
            raise ValueError("rate must be a positive number of requests per second")
        if not burst >= 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last = clock()

    def reserve(self) -> float:
        """Take one token; return how long the caller must wait before using it (seconds)."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._last)
            self._last = max(self._last, now)
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Take one token, sleeping until it is due. Returns the time slept."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait
