"""What each fast path imports (not how long it takes: that is bench/'s): ``--help`` loads no
command, the HTTP client, pydantic, deepdiff or the planner; ``validate`` (the pre-commit hook)
loads its own command only. Each runs as ``python -m conn_reconcile ...`` in a new interpreter,
whose ``sys.modules`` is read when it exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conn_reconcile.emulator import Emulator

REPO = Path(__file__).resolve().parents[3]
#: ``python -m conn_reconcile ARGS`` (through runpy, as -m runs it); the modules loaded go to a file
PROBE = """
import atexit, json, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
runpy.run_module("conn_reconcile", run_name="__main__", alter_sys=True)
"""
HEAVY = {"httpx", "httpcore", "pydantic", "pydantic_core", "deepdiff"}
NEVER_IN_VALIDATE = {
    "httpx",
    "deepdiff",
    "conn_reconcile.api.client",
    "conn_reconcile.apply.applier",
    "conn_reconcile.workflows.apply",
    "conn_reconcile.plan.planner",
    "conn_reconcile.workflows.common",
    "conn_reconcile.state.file",
}
COMMAND_MODULES = {"conn_reconcile.cli.plan", "conn_reconcile.cli.apply", "conn_reconcile.cli.tools"}
CONNECTOR = "name: a\nurl: https://example.com/search\nservice_auth:\n  type: bearer\n  token: ${A_TOKEN}\n"


def imported(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> set[str]:
    """The modules ``conn-reconcile *args`` had imported when it exited (successfully), read from
    ``sys.modules`` at exit: ``-X importtime`` would not do, its log misses modules loaded through
    ``importlib.import_module``, as the lazy commands are."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "modules.json"
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, str(out), *args],
            cwd=cwd,
            env=None if env is None else {**os.environ, **env},
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        modules = set(json.loads(out.read_text(encoding="utf-8")))
    assert "conn_reconcile.cli.main" in modules
    return modules


def tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_help_loads_no_command_and_nothing_heavy() -> None:
    modules = imported("--help")
    assert "click" in modules
    assert not tops(modules) & (HEAVY | {"ruamel"}), sorted(tops(modules) & HEAVY)
    assert not modules & COMMAND_MODULES  # the commands are listed from the group's table
    assert not modules & {"conn_reconcile.plan.planner", "conn_reconcile.workflows.common", "conn_reconcile.api.client"}


def test_a_command_help_loads_only_that_command() -> None:
    modules = imported("validate", "--help")
    assert "conn_reconcile.cli.tools" in modules
    assert not modules & (COMMAND_MODULES - {"conn_reconcile.cli.tools"})
    assert not tops(modules) & HEAVY


def test_validate_imports_no_client_planner_or_applier() -> None:
    modules = imported("validate", "connectors")
    assert "conn_reconcile.files.loader" in modules  # it did validate
    assert not modules & NEVER_IN_VALIDATE, sorted(modules & NEVER_IN_VALIDATE)
    assert not modules & (COMMAND_MODULES - {"conn_reconcile.cli.tools"})  # plan's and apply's modules


@pytest.mark.slow
def test_validate_builds_the_config_model_only_when_there_is_a_config_file(tmp_path: Path) -> None:
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "a.yaml").write_text(CONNECTOR, encoding="utf-8")
    without = imported("validate", cwd=tmp_path)
    assert "conn_reconcile.config.model" not in without and not without & NEVER_IN_VALIDATE
    (tmp_path / "conn-reconcile.yaml").write_text("dir: connectors\nprune: true\n", encoding="utf-8")
    with_file = imported("validate", cwd=tmp_path)
    assert "conn_reconcile.config.model" in with_file and not with_file & NEVER_IN_VALIDATE


@pytest.mark.slow
def test_a_text_plan_imports_no_plan_file_code(tmp_path: Path, emulator: Emulator) -> None:
    """Plan files (and the ``git rev-parse`` that stamps them) are only for ``--out``,
    ``--compare`` and JSON: a text plan loads none of it."""
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "a.yaml").write_text(CONNECTOR, encoding="utf-8")
    env = {"CO_API_KEY": "k", "A_TOKEN": "t"}
    env.update({name: "" for name in os.environ if name.lower().endswith("_proxy")})
    modules = imported("--api-url", emulator.url, "plan", cwd=tmp_path, env=env)
    assert "conn_reconcile.plan.planner" in modules  # it did plan
    assert not modules & {"conn_reconcile.apply.planfile", "conn_reconcile.plan.schema", "conn_reconcile.cli.apply"}
