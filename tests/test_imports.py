"""What each fast path imports (not how long it takes: timings live in bench/).

``validate`` is the pre-commit hook, run on every commit: it must not pay for the HTTP
client, the planner or the applier, nor for the model of conn-reconcile.yaml when there is
no such file. ``--help`` must not even import ruamel or httpx. The budgets below pin the
package's modules each path loads: a new import on a fast path shows up here first.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

import conn_reconcile
from conn_reconcile.emulator import Emulator

REPO = Path(__file__).resolve().parents[1]
#: Probes run with ``python -S``: no site module, so no .pth hook of the environment (a
#: package may install one that imports pathlib, say) loads anything before the command; the
#: path to the installed packages and to this package is set by hand.
PATHS = [str(Path(conn_reconcile.__file__).resolve().parents[1]), *site.getsitepackages()]
PROBE = f"""
import json, sys
sys.path[:0] = {PATHS!r}
from conn_reconcile.cli import cli
try:
    cli(sys.argv[1:])
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
#: every module of the package that --help loads: the group, its commands, their options
HELP_BUDGET = {
    "conn_reconcile",
    "conn_reconcile.cli",
    "conn_reconcile.cmdline",
    "conn_reconcile.commands_apply",
    "conn_reconcile.commands_plan",
    "conn_reconcile.commands_tools",
    "conn_reconcile.console",
    "conn_reconcile.defaults",
    "conn_reconcile.globalopts",
}
#: ... and validate, without a conn-reconcile.yaml: discovery, YAML, the connector model
VALIDATE_BUDGET = HELP_BUDGET | {
    "conn_reconcile.config",
    "conn_reconcile.configfile",
    "conn_reconcile.discovery",
    "conn_reconcile.environments",
    "conn_reconcile.errors",
    "conn_reconcile.escape",
    "conn_reconcile.gcpause",
    "conn_reconcile.kinds",
    "conn_reconcile.loader",
    "conn_reconcile.models",
    "conn_reconcile.records",
    "conn_reconcile.secrets",
    "conn_reconcile.yamlsafe",
    "conn_reconcile.yamltext",
}
CONNECTOR = "name: a\nurl: https://example.com/search\nservice_auth:\n  type: bearer\n  token: ${A_TOKEN}\n"


def imported(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, *args],
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def third_party(modules: set[str]) -> set[str]:
    """The top-level packages outside the standard library, and outside what the interpreter
    loads before any import of ours."""
    bare = subprocess.run(
        [sys.executable, "-S", "-c", "import json, sys; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    startup = set(json.loads(bare.stdout))
    return {m.split(".")[0] for m in modules - startup} - set(sys.stdlib_module_names)


def own(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] == "conn_reconcile"}


def test_validate_imports_no_client_planner_or_applier() -> None:
    modules = imported("validate", "connectors")
    assert "conn_reconcile.loader" in modules and "_ruamel_yaml" in modules
    assert not modules & NEVER_IN_VALIDATE


@pytest.mark.slow
def test_validate_without_a_config_file_stays_within_its_budget(tmp_path: Path) -> None:
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "a.yaml").write_text(CONNECTOR, encoding="utf-8")
    modules = imported("validate", cwd=tmp_path)
    assert "conn_reconcile.models" in modules  # it did validate
    assert own(modules) == VALIDATE_BUDGET, sorted(own(modules) ^ VALIDATE_BUDGET)
    assert "conn_reconcile.configmodel" not in modules  # no file: the config's model is never built
    assert not modules & NEVER_IN_VALIDATE
    # standard-library modules the hook need not pay for: dataclasses (with inspect, ast, dis),
    # hashlib (OpenSSL's start-up; fingerprints are for plans)
    assert not modules & {"dataclasses", "inspect", "hashlib"}


@pytest.mark.slow
def test_validate_builds_the_config_model_only_when_there_is_a_config_file(tmp_path: Path) -> None:
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "a.yaml").write_text(CONNECTOR, encoding="utf-8")
    (tmp_path / "conn-reconcile.yaml").write_text("dir: connectors\nprune: true\n", encoding="utf-8")
    modules = imported("validate", cwd=tmp_path)
    assert own(modules) == VALIDATE_BUDGET | {"conn_reconcile.configmodel"}
    assert not modules & NEVER_IN_VALIDATE


def test_help_imports_neither_ruamel_nor_httpx() -> None:
    modules = imported("--help")
    assert not {m for m in modules if m.split(".")[0] in {"pydantic", "ruamel", "httpx", "deepdiff"}}
    assert own(modules) == HELP_BUDGET, sorted(own(modules) ^ HELP_BUDGET)
    assert third_party(modules) == {"conn_reconcile"}
    # nor these, which its options do not need: errors and escape, pathlib (paths are converted on use),
    # typing and dataclasses (with inspect, the largest of the standard library's imports)
    assert not modules & {"conn_reconcile.errors", "conn_reconcile.escape", "pathlib", "typing", "dataclasses"}


@pytest.mark.slow
def test_a_text_plan_on_a_direct_connection_imports_no_httpcore_and_no_plan_file_code(
    tmp_path: Path, emulator: Emulator
) -> None:
    """httpcore (and h11, anyio) serve only a proxy and the probe: a plan talking to the API
    directly goes through the client's own transport. Plan files (and the ``git rev-parse``
    that stamps them) are only for ``--out``, ``--compare`` and JSON."""
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "a.yaml").write_text(CONNECTOR, encoding="utf-8")
    env = {"CO_API_KEY": "k", "A_TOKEN": "t"}
    env.update({name: "" for name in os.environ if name.lower().endswith("_proxy")})
    modules = imported("--api-url", emulator.url, "plan", cwd=tmp_path, env=env)
    assert "conn_reconcile.planner" in modules and "conn_reconcile.http11" in modules  # it did plan
    assert not {m.split(".")[0] for m in modules} & {"httpcore", "h11", "anyio", "pydantic", "pydantic_core"}
    assert "conn_reconcile.pooldeadline" not in modules
    assert not modules & {"conn_reconcile.planfile", "conn_reconcile.planschema", "subprocess"}
