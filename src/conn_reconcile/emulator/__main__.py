"""Running the emulator as a program: ``python -m conn_reconcile.emulator --port N [--data FILE]
[--api-key KEY]`` serves the emulated org until it is signalled."""

from __future__ import annotations

import argparse
from pathlib import Path

from conn_reconcile.config import defaults
from conn_reconcile.emulator.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m conn_reconcile.emulator", description="Run the local Cohere connectors API emulator."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback)")
    parser.add_argument(
        "--port",
        type=int,
        default=defaults.EMULATOR_PORT,
        help=f"port (default {defaults.EMULATOR_PORT}; 0: any free one)",
    )
    parser.add_argument("--data", type=Path, default=None, help="persist the emulated org in this JSON file")
    parser.add_argument("--api-key", default=None, help="accept only this API key (default: any)")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.data, args.api_key)


if __name__ == "__main__":
    main()
