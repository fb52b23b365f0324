"""A scripted Cohere API for the client's unit tests (httpx.MockTransport: no network,
no real waiting) and the builders those tests share."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import httpx

from conn_reconcile.api.client import CohereClient

KEY = "canary-key-7f3a9c1e5b2d"
TOKEN = "svc-token-canary-44e1b0"
URL = "https://api.example.test/"


def conn(id: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "name": name or id,
        "url": f"https://{id}.example.com/search",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        **extra,
    }


def reply(
    status: int = 200, data: Any = None, *, text: str | None = None, headers: dict | None = None
) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    return httpx.Response(status, json=data if data is not None else {}, headers=headers)


class Recorder:
    """A MockTransport handler that records every request and delegates to ``handler``."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]):
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def sent(self, method: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method]


class UpperRng(random.Random):
    """Jitter that always picks the top of the range, so delays are the backoff ceilings."""

    def uniform(self, a: float, b: float) -> float:
        return b


def make(
    handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any
) -> tuple[CohereClient, Recorder, list[float]]:
    recorder = Recorder(handler)
    sleeps: list[float] = []
    kwargs.setdefault("rng", random.Random(7))
    client = CohereClient(URL, KEY, transport=httpx.MockTransport(recorder), sleep=sleeps.append, **kwargs)
    return client, recorder, sleeps


def scripted(*steps: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    """A handler answering each request with the next step (raising it when it is an error)."""
    queue = list(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        step = queue.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    return handler


class Org:
    """A tiny in-memory connectors API for the create-recovery tests.

    ``posts`` scripts the POST answers: "ok" creates and answers 200, "created-500" /
    "created-timeout" create and then fail, "500" / "timeout" / "connect" / "429" fail
    without creating, a Response is returned as is.
    """

    def __init__(self, existing: list[dict[str, Any]] = (), posts: list[Any] = (), list_fails: bool = False):
        self.connectors = list(existing)
        self.posts = list(posts)
        self.list_fails = list_fails
        self.lag = 0  # list responses that still omit the newest connector

    def create(self, request: httpx.Request) -> dict[str, Any]:
        body = json.loads(request.content)
        item = conn(f"{body['name']}-{len(self.connectors)}", body["name"])
        self.connectors.insert(0, item)
        return item

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            if self.list_fails:
                return reply(401, {"message": "invalid api token"})
            visible = self.connectors[self.lag :] if self.lag else self.connectors
            self.lag = max(0, self.lag - 1)
            return reply(200, {"connectors": visible, "total_count": len(visible)})
        step = self.posts.pop(0)
        if isinstance(step, httpx.Response):
            return step
        if step == "ok":
            return reply(200, {"connector": self.create(request)})
        if step == "created-500":
            self.create(request)
            return reply(500, {"message": "internal error"})
        if step == "created-timeout":
            self.create(request)
            raise httpx.ReadTimeout("timed out", request=request)
        if step == "500":
            return reply(500, {"message": "internal error"})
        if step == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if step == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        if step == "429":
            return reply(429, {"message": "slow down"}, headers={"Retry-After": "1"})
        raise AssertionError(step)


BODY = {"name": "docs", "url": "https://docs.example.com/search", "service_auth": {"type": "bearer", "token": TOKEN}}
