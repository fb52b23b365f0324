"""The fixture of the emulator's tests: ``api``, a client of the started emulator, with an API key
it accepts."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from helpers import emulator_client

from conn_reconcile.emulator import Emulator


@pytest.fixture
def api(emulator: Emulator) -> Iterator[httpx.Client]:
    with emulator_client(emulator) as client:
        yield client
