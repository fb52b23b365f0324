"""A faithful local Cohere connectors API on loopback, with fault injection, and a real example
connector endpoint (``ConnectorEndpoint``, loaded lazily). Test and demo tooling only."""

from __future__ import annotations

from typing import Any

from conn_reconcile.emulator.faults import Fault, FaultRule, Faults, RequestLog, RequestRecord
from conn_reconcile.emulator.server import Emulator, serve

__all__ = ["ConnectorEndpoint", "Emulator", "Fault", "FaultRule", "Faults", "RequestLog", "RequestRecord", "serve"]


def __getattr__(name: str) -> Any:
    if name == "ConnectorEndpoint":
        from conn_reconcile.emulator.endpoint import ConnectorEndpoint

        return ConnectorEndpoint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
