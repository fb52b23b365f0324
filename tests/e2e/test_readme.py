"""The README's "against your real org" path, run line by line as written, against the
emulator holding an existing org (one connector with service auth, as a user would have)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conn_reconcile.emulator import Emulator
from conn_reconcile.emulator.endpoint import ConnectorEndpoint

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
KEY = "CANARY-readme-api-key-5d1e"
TOKEN = "CANARY-readme-token-88a0"


def _real_org_lines() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("Against your real org")
    block = re.search(r"```console\n(.*?)```", text[start:], re.S)
    assert block is not None
    return [line.removeprefix("$ ").split("  #", 1)[0].strip() for line in block.group(1).splitlines()]


@pytest.mark.slow
def test_the_real_org_path_runs_as_written(tmp_path: Path) -> None:
    lines = _real_org_lines()
    venv, *commands = lines
    # the first line makes and activates a venv and installs the checkout; the commands after it
    # need it activated: here this interpreter's environment stands in for it
    assert ". .venv/bin/activate" in venv and "pip install ." in venv
    values = {
        "CO_API_KEY": KEY,
        "CONN_RECONCILE_FINGERPRINT_KEY": "CANARY-readme-fp-key-0c2b",
        "DOCS_CONNECTOR_TOKEN": TOKEN,
    }
    with ConnectorEndpoint(auth_type="bearer", token=TOKEN) as ep, Emulator(api_key=KEY) as emu:
        emu.seed(
            {"name": "docs-connector", "url": f"{ep.url}/search", "service_auth": {"type": "bearer", "token": TOKEN}}
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CO_", "CONN_"))}
        env.update(CO_API_URL=emu.url, NO_COLOR="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
        outputs = []
        for command in commands:
            export = re.fullmatch(r"export (\w+)=\.\.\.", command)
            if export:  # the reader types their own value where the README has "..."
                env[export.group(1)] = values[export.group(1)]
                continue
            assert command.startswith("conn-reconcile "), command
            proc = subprocess.run(
                ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
            )
            outputs.append(proc.stdout + proc.stderr)
            assert proc.returncode == 0, f"{command}: {proc.stdout}{proc.stderr}"
            if command.startswith("conn-reconcile secrets"):
                assert "DOCS_CONNECTOR_TOKEN" in proc.stdout  # what the next line exports
        assert "No changes." in outputs[-1] or "nothing to do" in outputs[-1], outputs[-1]
        assert [c["name"] for c in emu.connectors] == ["docs-connector"]
    assert (tmp_path / "connectors" / "docs-connector.yaml").exists()
    for text in outputs:
        assert KEY not in text and TOKEN not in text
