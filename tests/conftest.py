"""Shared fixtures: real loopback servers on ephemeral ports, stopped after each test.

* ``emulator`` - a started :class:`~conn_reconcile.emulator.Emulator` accepting ANY
  non-empty bearer API key (``emulator.api_key is None``), no data file.
* ``endpoint`` - a started :class:`~conn_reconcile.emulator.endpoint.ConnectorEndpoint`
  without auth: it answers every well-formed query, whatever Authorization is sent.
* ``make_endpoint`` - a factory, ``make_endpoint(auth_type="bearer", token=t, ...)``, for
  endpoints that check a token; every endpoint it made is stopped after the test.
* ``project`` - an end-to-end project (see ``e2e.Project``). ``project.run`` runs the CLI in
  process, except in the modules listed in ``SUBPROCESS_MODULES`` and in tests marked
  ``cli_subprocess``, where every run is a real ``python -m conn_reconcile`` process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conn_reconcile.emulator import Emulator
from conn_reconcile.emulator.endpoint import ConnectorEndpoint

# Tests that send signals, kill the CLI, race two processes for the state lock or need real
# processes otherwise: every CLI run in them is a subprocess.
SUBPROCESS_MODULES = frozenset({"test_safety.py", "test_interrupt.py"})


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


@pytest.fixture
def project(tmp_path, request):
    """A project directory, the emulator (checking the API key) and a connector endpoint
    (checking the service token) for end-to-end tests; afterwards, no canary secret may
    appear in anything the CLI printed or in any file under the project."""
    from e2e import API_KEY, TOKEN, Project

    with ConnectorEndpoint(auth_type="bearer", token=TOKEN) as endpoint, Emulator(api_key=API_KEY) as emu:
        root = tmp_path / "repo"
        root.mkdir()
        in_process = (
            request.path.name not in SUBPROCESS_MODULES and request.node.get_closest_marker("cli_subprocess") is None
        )
        p = Project(root, emu.url, endpoint.url, in_process=in_process)
        p.emulator = emu
        p.endpoint = endpoint
        p.env["CONN_RECONCILE_BACKOFF_BASE"] = "0.01"  # retries in fault tests without long waits
        yield p
        p.assert_no_canary()
