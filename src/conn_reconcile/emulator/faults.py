"""Fault injection for the emulator (:class:`FaultRule`: which requests, and what is done to them:
a delay, a dropped connection, garbage, a status or a crafted body, a dribbled response), and the
log of the requests it received. The ``/_emulator/*`` control paths are never faulted."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Fault:
    """What to do to one request (one use of a rule)."""

    status: int | None
    retry_after: float | None
    delay: float
    drop: bool
    garbage: bool
    after: bool
    body: Any = None
    dribble: float = 0.0

    @property
    def replaces_response(self) -> bool:
        return self.drop or self.garbage or self.status is not None or self.body is not None

    def retry_after_header(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        value = self.retry_after
        return {"Retry-After": str(int(value)) if float(value).is_integer() else repr(float(value))}


@dataclass
class FaultRule:
    """A fault for the requests matching ``method`` (``"*"``: any) and ``path_regex``, which must
    match the WHOLE request path (``re.fullmatch``, query string excluded): ``"/v1/connectors"`` is
    only the list/create path, ``"/v1/connectors/.+"`` every connector by id.

    Each matching request consumes one use of the first (oldest) rule with uses left. A rule has
    ``max(times, len(statuses))`` uses; use ``i`` answers ``statuses[i]`` (the last status once the
    list is exhausted), so ``statuses=[503, 503]`` fails two requests and then lets requests through.
    Per use:

    * ``delay`` - sleep this many seconds first;
    * ``drop`` - close the connection without any response;
    * ``garbage`` - answer 200 with a body that is not JSON;
    * a status - answer it with ``{"message": ...}`` and, when ``retry_after`` is set, a
      ``Retry-After`` header (whole seconds as an integer, otherwise a decimal number);
    * ``body`` - answer with exactly this JSON value (not null) and the rule's status (200 when
      ``statuses`` is empty), e.g. a crafted list page; ``retry_after`` applies as above;
    * none of these - only the delay, then the request is served normally.

    ``dribble`` (seconds, > 0) sends the response (real or injected, status line and headers
    included) one byte at a time with that pause between bytes, until the client disconnects or
    the emulator stops. With ``after=True`` the real operation is performed first (a create IS
    stored) and the fault then replaces the response: "the request timed out but succeeded".
    """

    method: str
    path_regex: str
    statuses: list[int] = field(default_factory=list)
    retry_after: float | None = None
    delay: float = 0.0
    drop: bool = False
    garbage: bool = False
    times: int = 1
    after: bool = False
    body: Any = None
    dribble: float = 0.0
    used: int = 0

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self._pattern = re.compile(self.path_regex)
        if self.times < 1:
            raise ValueError("times must be >= 1")
        if self.delay < 0 or self.dribble < 0 or (self.retry_after is not None and self.retry_after < 0):
            raise ValueError("delay, dribble and retry_after must be >= 0")
        if any(not isinstance(s, int) or not 100 <= s <= 599 for s in self.statuses):
            raise ValueError("statuses must be HTTP status codes")
        if sum((self.drop, self.garbage)) > 1 or ((self.drop or self.garbage) and self.statuses):
            raise ValueError("use only one of statuses, drop and garbage in one rule")
        if self.body is not None and (self.drop or self.garbage):
            raise ValueError("body cannot be combined with drop or garbage")
        if self.dribble and self.drop:
            raise ValueError("a dropped connection has no response to dribble")

    @property
    def uses(self) -> int:
        return max(self.times, len(self.statuses))

    @property
    def remaining(self) -> int:
        return self.uses - self.used

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method.upper())) and self._pattern.fullmatch(path) is not None

    def take(self) -> Fault:
        status = None
        if self.statuses:
            status = self.statuses[min(self.used, len(self.statuses) - 1)]
        self.used += 1
        return Fault(status, self.retry_after, self.delay, self.drop, self.garbage, self.after, self.body, self.dribble)

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path_regex": self.path_regex,
            "statuses": list(self.statuses),
            "retry_after": self.retry_after,
            "delay": self.delay,
            "drop": self.drop,
            "garbage": self.garbage,
            "times": self.times,
            "after": self.after,
            "body": self.body,
            "dribble": self.dribble,
            "remaining": self.remaining,
        }


#: Keys accepted by :meth:`Faults.add` (and by ``POST /_emulator/faults``).
FAULT_KEYS = (
    "method",
    "path_regex",
    "statuses",
    "retry_after",
    "delay",
    "drop",
    "garbage",
    "times",
    "after",
    "body",
    "dribble",
)


class Faults:
    """The emulator's thread-safe list of pending fault rules (``emu.faults``)."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(
        self,
        method: str,
        path_regex: str,
        *,
        statuses: list[int] | tuple[int, ...] = (),
        retry_after: float | None = None,
        delay: float = 0,
        drop: bool = False,
        garbage: bool = False,
        times: int = 1,
        after: bool = False,
        body: Any = None,
        dribble: float = 0,
    ) -> FaultRule:
        rule = FaultRule(
            method,
            path_regex,
            list(statuses),
            retry_after,
            float(delay),
            drop,
            garbage,
            times,
            after,
            body,
            float(dribble),
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def add_from_json(self, data: Any) -> FaultRule:
        """Validate a ``POST /_emulator/faults`` body. Raises ``ValueError`` with a safe message."""
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        unknown = sorted(set(data) - set(FAULT_KEYS))
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(unknown)}")
        if not isinstance(data.get("method"), str) or not isinstance(data.get("path_regex"), str):
            raise ValueError("method and path_regex are required strings")
        kwargs = {k: v for k, v in data.items() if k not in ("method", "path_regex")}
        checks = {
            "statuses": lambda v: isinstance(v, list),
            "retry_after": lambda v: v is None or _number(v),
            "delay": _number,
            "drop": lambda v: isinstance(v, bool),
            "garbage": lambda v: isinstance(v, bool),
            "after": lambda v: isinstance(v, bool),
            "times": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "body": lambda v: True,  # any JSON value; null means "no body"
            "dribble": _number,
        }
        for key, value in kwargs.items():
            if not checks[key](value):
                raise ValueError(f"{key} has the wrong type")
        try:
            return self.add(data["method"], data["path_regex"], **kwargs)
        except re.error as exc:
            raise ValueError(f"path_regex is not a valid regular expression: {exc}") from None

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first matching rule, or return None."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    fault = rule.take()
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.describe() for rule in self._rules]

    def __len__(self) -> int:
        with self._lock:
            return len(self._rules)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class RequestRecord:
    """One request the emulator received (control paths under /_emulator excluded)."""

    method: str
    path: str
    query: dict[str, str]
    client_name: str | None  # the X-Client-Name header

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "query": dict(self.query), "client_name": self.client_name}


class RequestLog:
    """Thread-safe, append-only (until ``clear``) log of :class:`RequestRecord`."""

    def __init__(self) -> None:
        self._items: list[RequestRecord] = []
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._items.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def count(self, method: str | None = None, path_regex: str | None = None) -> int:
        """How many requests matched ``method`` (any when None) and ``path_regex`` (fullmatch)."""
        pattern = re.compile(path_regex) if path_regex is not None else None
        return sum(
            1
            for r in self.snapshot()
            if (method is None or r.method == method.upper()) and (pattern is None or pattern.fullmatch(r.path))
        )

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __getitem__(self, index: int) -> RequestRecord:
        with self._lock:
            return self._items[index]
