"""Shared fixtures: real loopback servers on ephemeral ports, stopped after each test.

* ``emulator`` - a started :class:`~conn_reconcile.emulator.Emulator` accepting ANY
  non-empty bearer API key (``emulator.api_key is None``), no data file.
* ``endpoint`` - a started :class:`~conn_reconcile.emulator.endpoint.ConnectorEndpoint`
  without auth: it answers every well-formed query, whatever Authorization is sent.
* ``make_endpoint`` - a factory, ``make_endpoint(auth_type="bearer", token=t, ...)``, for
  endpoints that check a token; every endpoint it made is stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conn_reconcile.emulator import Emulator
from conn_reconcile.emulator.endpoint import ConnectorEndpoint


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator().start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def make_endpoint() -> Iterator[Callable[..., ConnectorEndpoint]]:
    started: list[ConnectorEndpoint] = []

    def make(**kwargs: Any) -> ConnectorEndpoint:
        ep = ConnectorEndpoint(**kwargs).start()
        started.append(ep)
        return ep

    try:
        yield make
    finally:
        for ep in started:
            ep.stop()


@pytest.fixture
def endpoint(make_endpoint: Callable[..., ConnectorEndpoint]) -> ConnectorEndpoint:
    return make_endpoint()
