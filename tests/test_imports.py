"""What each fast path imports (not how long it takes: timings live in bench/).

``validate`` is the pre-commit hook, run on every commit: it must not pay for the HTTP
client, the planner or the applier. ``--help`` must not even import pydantic or ruamel.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = """
import json, sys
from conn_reconcile.cli import cli
try:
    cli(sys.argv[1:], prog_name="conn-reconcile")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""
NEVER_IN_VALIDATE = {
    "httpx",
    "deepdiff",
    "conn_reconcile.client",
    "conn_reconcile.applier",
    "conn_reconcile.planner",
    "conn_reconcile.workflow",
    "conn_reconcile.statefile",
}


def imported(*args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, capture_output=True, text=True, check=True)
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_validate_imports_no_client_planner_or_applier() -> None:
    modules = imported("validate", "connectors")
    assert "conn_reconcile.loader" in modules and "_ruamel_yaml" in modules
    assert not modules & NEVER_IN_VALIDATE


def test_help_imports_neither_pydantic_nor_ruamel() -> None:
    modules = imported("--help")
    assert not {m for m in modules if m.split(".")[0] in {"pydantic", "ruamel", "httpx", "deepdiff"}}
