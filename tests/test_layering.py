"""The layering of docs/ARCHITECTURE.md, enforced: the pure core imports no I/O library, does
no file I/O and imports no edge module (no upward imports).

The module lists below are the one place the layering is written down for the test. A core
module that does not exist (yet) is skipped; every one that exists is checked. Imports
inside functions count too (``ast.walk`` sees the whole module).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pytest

PACKAGE = "conn_reconcile"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE

CORE = (
    "errors",
    "validation",
    "models",
    "diff",
    "plan",
    "planschema",
    "planner",
    "matching",
    "recovery",
    "recorder",
    "results",
    "render",
    "escape",
    "secrets",
    "state",
    "registration",
    "preflight",
    "applyreport",
    "config",
    "configmodel",
    "environments",
    "selection",
    "configview",
    "statespec",
    "planmatch",
    "orgsnapshot",
)
EDGES = (
    "client",
    "retry",
    "responses",
    "ratelimit",
    "loader",
    "discovery",
    "yamlsafe",
    "yamltext",
    "gcpause",
    "planfile",
    "statefile",
    "lock",
    "importer",
    "applier",
    "workflow",
    "applyflow",
    "cli",
    "commands_plan",
    "commands_apply",
    "commands_tools",
    "interrupt",
    "emulator",
    "probe",
    "reimport",
    "applyout",
    "configfile",
    "globalopts",
    "console",
    "gitrepo",
    "gitstate",
    "gitlock",
    "ghaction",
    "ghapi",
    "ghtrust",
    "ghreviewed",
)
# top-level modules the core may not import (network, CLI, YAML parsing, processes, OS locks)
FORBIDDEN_IMPORTS = ("httpx", "click", "argparse", "ruamel", "subprocess", "socket", "fcntl")
# file I/O: the builtin, Path/file methods, and the os functions that touch files
FORBIDDEN_CALLS = ("open",)
FORBIDDEN_METHODS = ("open", "read_text", "write_text", "read_bytes", "write_bytes")
FORBIDDEN_OS = (
    "open",
    "fdopen",
    "read",
    "write",
    "remove",
    "unlink",
    "rename",
    "replace",
    "mkdir",
    "makedirs",
    "fsync",
)


def _imported(node: ast.AST, package: str, module: str) -> Iterable[tuple[str, str]]:
    """(kind, name) for each import in ``node``: ("top", top-level module) and, for imports
    of the package itself, ("own", first component inside the package)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            parts = alias.name.split(".")
            yield "top", parts[0]
            if parts[0] == package and len(parts) > 1:
                yield "own", parts[1]
    elif isinstance(node, ast.ImportFrom):
        if node.level:  # relative: from . import x / from .x import y (a top-level module of the package)
            parts = (node.module or "").split(".") if node.module else []
            base = [package, *parts]
        else:
            base = (node.module or "").split(".")
            yield "top", base[0]
        if base[0] != package:
            return
        if len(base) > 1:
            yield "own", base[1]
        else:  # from conn_reconcile import x, y
            for alias in node.names:
                yield "own", alias.name


def _call_name(func: ast.expr) -> tuple[str | None, str | None]:
    """(object, attribute) of a call: ``open(...)`` -> (None, "open"), ``os.write(...)`` ->
    ("os", "write"), ``p.read_text()`` -> ("p"-ish or "", "read_text")."""
    if isinstance(func, ast.Name):
        return None, func.id
    if isinstance(func, ast.Attribute):
        owner = func.value.id if isinstance(func.value, ast.Name) else ""
        return owner, func.attr
    return None, None


def module_violations(
    source: str,
    module: str,
    *,
    package: str = PACKAGE,
    edges: Iterable[str] = EDGES,
    forbidden: Iterable[str] = FORBIDDEN_IMPORTS,
) -> list[str]:
    """What in ``source`` (the core module ``module``) breaks the layering, one line each."""
    edges, forbidden = set(edges), set(forbidden)
    problems = []
    for node in ast.walk(ast.parse(source, filename=f"{module}.py")):
        where = f"{module}.py:{getattr(node, 'lineno', '?')}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for kind, name in _imported(node, package, module):
                if kind == "top" and name in forbidden:
                    problems.append(f"{where}: imports {name}")
                elif kind == "own" and name in edges:
                    problems.append(f"{where}: imports the edge module {name} (an upward import)")
        elif isinstance(node, ast.Call):
            owner, name = _call_name(node.func)
            if owner is None and name in FORBIDDEN_CALLS:
                problems.append(f"{where}: calls {name}() (file I/O)")
            elif owner in ("os", "io", "builtins") and name in (FORBIDDEN_OS if owner == "os" else ("open",)):
                problems.append(f"{where}: calls {owner}.{name}() (file I/O)")
            elif owner not in (None, "os", "io", "builtins") and name in FORBIDDEN_METHODS:
                problems.append(f"{where}: calls .{name}() (file I/O)")
    return problems


def layering_violations(src: Path, core: Iterable[str] = CORE, **kwargs: object) -> tuple[list[str], list[str]]:
    """(the core modules checked, the problems found) for the package in ``src``; a core
    module without a file there is skipped."""
    checked, problems = [], []
    for module in core:
        path = src / f"{module}.py"
        if not path.is_file():
            continue
        checked.append(module)
        problems.extend(module_violations(path.read_text(encoding="utf-8"), module, **kwargs))  # type: ignore[arg-type]
    return checked, problems


def test_the_core_imports_no_io_library_no_edge_and_does_no_file_io():
    checked, problems = layering_violations(SRC)
    assert checked, f"no core module found in {SRC}"
    assert not problems, "the pure core breaks the layering of docs/ARCHITECTURE.md:\n  " + "\n  ".join(problems)


def test_the_lists_do_not_overlap_and_name_real_edges():
    assert not set(CORE) & set(EDGES)
    present = {p.stem for p in SRC.glob("*.py")} | {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    # the edges are all there (the core list may name modules still to come)
    assert set(EDGES) <= present, sorted(set(EDGES) - present)


PLANTED = {
    "__init__.py": "",
    "clean.py": (
        "from __future__ import annotations\nimport json\nfrom pkg import models\nfrom pkg.errors import E\n"
        "from . import escape\ntext = 'open(x)'.replace('a', 'b')\n"
    ),
    "net.py": "import httpx\n",
    "deep.py": "def f():\n    import ruamel.yaml\n    from socket import socket\n",
    "upward.py": "from pkg import cli\n",
    "upward2.py": "from pkg.client import Client\n",
    "relative.py": "from .workflow import run\n",
    "emu.py": "import pkg.emulator.server\n",
    "io.py": "def f(p):\n    return open(p).read()\n",
    "path_io.py": "def f(p):\n    p.write_text('x')\n    return p.read_bytes()\n",
    "os_io.py": "import os\ndef f():\n    fd = os.open('x', os.O_RDONLY)\n    os.write(fd, b'x')\n",
}


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    for name, text in PLANTED.items():
        (pkg / name).write_text(text, encoding="utf-8")
    return pkg


def test_the_checker_catches_planted_violations(planted: Path):
    modules = [name.removesuffix(".py") for name in PLANTED if name != "__init__.py"] + ["not_there"]
    checked, problems = layering_violations(planted, modules, package="pkg")
    assert "not_there" not in checked and "clean" in checked
    found: dict[str, list[str]] = defaultdict(list)
    for line in problems:
        found[line.split(":", 1)[0]].append(line.split(": ", 1)[1])
    assert "clean.py" not in found, found["clean.py"]
    assert found["net.py"] == ["imports httpx"]
    assert sorted(found["deep.py"]) == ["imports ruamel", "imports socket"]
    assert found["upward.py"] == ["imports the edge module cli (an upward import)"]
    assert found["upward2.py"] == ["imports the edge module client (an upward import)"]
    assert found["relative.py"] == ["imports the edge module workflow (an upward import)"]
    assert found["emu.py"] == ["imports the edge module emulator (an upward import)"]
    assert found["io.py"] == ["calls open() (file I/O)"]
    assert sorted(found["path_io.py"]) == ["calls .read_bytes() (file I/O)", "calls .write_text() (file I/O)"]
    assert sorted(found["os_io.py"]) == ["calls os.open() (file I/O)", "calls os.write() (file I/O)"]


def test_a_violation_in_a_real_core_module_is_caught():
    """The check on the real tree is not vacuous: the same source with one upward import fails."""
    source = (SRC / "plan.py").read_text(encoding="utf-8")
    assert module_violations(source, "plan") == []
    assert module_violations(source + "\nfrom conn_reconcile.client import Client\n", "plan") == [
        f"plan.py:{len(source.splitlines()) + 2}: imports the edge module client (an upward import)"
    ]
