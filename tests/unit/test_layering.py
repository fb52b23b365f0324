"""The architecture of docs/ARCHITECTURE.md, on packages: each package imports only packages
of a lower layer; the pure ones (model, plan) import no I/O library and do no file I/O; no
module-level import cycle. Read from the source (ast), so nothing is imported to check it."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

PACKAGE = "conn_reconcile"
SRC = Path(__file__).resolve().parents[2] / "src" / PACKAGE

#: the layers, lowest first: a package imports only packages of a lower layer (and itself)
LAYERS: dict[str, int] = {
    "escape": 0,
    "errors": 1,
    "model": 2,
    "config": 3,
    "files": 4,
    "plan": 5,
    "state": 6,
    "apply": 7,
    "api": 7,
    "workflows": 8,
    "output": 8,
    "emulator": 8,
    "cli": 9,
    "github": 9,
}
#: packages that hold no I/O: no network, CLI, YAML parsing, processes or OS locks, no file access
PURE = ("errors", "escape", "model", "plan")
FORBIDDEN_IMPORTS = ("httpx", "click", "ruamel", "subprocess", "socket", "fcntl")
FORBIDDEN_METHODS = ("open", "read_text", "write_text", "read_bytes", "write_bytes")
FORBIDDEN_OS = ("open", "fdopen", "read", "write", "remove", "unlink", "rename", "replace", "mkdir", "makedirs")
EXEMPT = ("__init__", "__main__")


def modules(src: Path) -> Iterator[tuple[str, Path]]:
    """(dotted name inside the package, path) of every module."""
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] not in EXEMPT or len(parts) > 1:
            yield ".".join(parts), path


def _targets(node: ast.AST, package: str, module: str) -> Iterator[tuple[str, str]]:
    """(top-level module, dotted name inside ``package`` or "") of each name ``node`` imports."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            parts = alias.name.split(".")
            yield parts[0], ".".join(parts[1:]) if parts[0] == package else ""
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".")[: -node.level] + ((node.module or "").split(".") if node.module else [])
            parts = [package, *base]
        else:
            parts = (node.module or "").split(".")
        if parts[0] != package:
            yield parts[0], ""
        elif len(parts) > 1:
            yield package, ".".join(parts[1:])
        else:  # from conn_reconcile import x
            for alias in node.names:
                yield package, alias.name


def layer_of(dotted: str) -> str:
    return dotted.split(".")[0]


def import_problems(source: str, module: str, package: str = PACKAGE) -> list[str]:
    """Imports of ``module`` that go to its own layer's other packages or to a higher layer."""
    mine = layer_of(module)
    problems = []
    for node in ast.walk(ast.parse(source)):
        for top, inner in _targets(node, package, module):
            if top != package or not inner or inner == "__version__":
                continue
            other = layer_of(inner)
            if other not in LAYERS:
                problems.append(f"{module}:{node.lineno}: imports {inner}, of no layer")  # type: ignore[attr-defined]
            elif other != mine and LAYERS[other] >= LAYERS[mine]:
                problems.append(f"{module}:{node.lineno}: imports {inner} (layer {other}, not below {mine})")  # type: ignore[attr-defined]
    return problems


def purity_problems(source: str, module: str) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(source)):
        where = f"{module}:{getattr(node, 'lineno', '?')}"
        for top, _ in _targets(node, PACKAGE, module):
            if top in FORBIDDEN_IMPORTS:
                problems.append(f"{where}: imports {top}")
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "open":
                problems.append(f"{where}: calls open() (file I/O)")
            elif isinstance(func, ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else ""
                if owner == "os" and func.attr in FORBIDDEN_OS:
                    problems.append(f"{where}: calls os.{func.attr}() (file I/O)")
                elif owner not in ("os", "io") and func.attr in FORBIDDEN_METHODS:
                    problems.append(f"{where}: calls .{func.attr}() (file I/O)")
    return problems


def _module_level_imports(source: str, module: str) -> set[str]:
    """The package's modules imported when ``module`` is (not inside functions or TYPE_CHECKING)."""
    out = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {inner for top, inner in _targets(node, PACKAGE, module) if top == PACKAGE and inner}
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by a depth-first walk (each reported once, from its first module)."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def _resolve(name: str, known: Iterable[str]) -> str | None:
    """``name`` (a module, or a name inside one) as a module of the package."""
    known = set(known)
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def test_every_package_has_a_layer() -> None:
    top = {layer_of(name) for name, _ in modules(SRC)}
    assert top <= set(LAYERS), sorted(top - set(LAYERS))
    assert {"model", "files", "config", "plan", "state", "api", "apply", "workflows", "output", "cli"} <= top


def test_each_package_imports_only_lower_layers() -> None:
    problems = [p for name, path in modules(SRC) for p in import_problems(path.read_text(encoding="utf-8"), name)]
    assert not problems, "imports against the layers of docs/ARCHITECTURE.md:\n  " + "\n  ".join(problems)


def test_the_pure_packages_do_no_io() -> None:
    checked = [(name, path) for name, path in modules(SRC) if layer_of(name) in PURE]
    assert len(checked) > 10
    problems = [p for name, path in checked for p in purity_problems(path.read_text(encoding="utf-8"), name)]
    assert not problems, "I/O in a pure package:\n  " + "\n  ".join(problems)


def test_no_module_level_import_cycle() -> None:
    names = {name for name, _ in modules(SRC)}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules(SRC):
        for inner in _module_level_imports(path.read_text(encoding="utf-8"), name):
            target = _resolve(inner, names)
            if target is not None and target != name:
                graph[name].add(target)
    assert not cycles(graph)


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        ("plan.model", "from conn_reconcile.api.client import CohereClient", "layer api, not below plan"),
        ("model.state", "from conn_reconcile.plan import model", "layer plan, not below model"),
        ("apply.applier", "from conn_reconcile.api import client", "layer api, not below apply"),
        ("files.loader", "from ..workflows.common import Settings", "layer workflows, not below files"),
        ("plan.model", "import conn_reconcile.nowhere.x", "of no layer"),
    ],
)
def test_the_checks_catch_a_planted_violation(module: str, line: str, expected: str) -> None:
    assert import_problems("from conn_reconcile.model import connector\n", module) == []
    (problem,) = import_problems(f"import json\n{line}\n", module)
    assert expected in problem and problem.startswith(f"{module}:2:")


def test_the_purity_and_cycle_checks_catch_planted_problems() -> None:
    source = "import httpx\nimport os\ndef f(p):\n    os.write(1, b'')\n    return open(p).read() + p.read_text()\n"
    assert sorted(p.split(": ", 1)[1] for p in purity_problems(source, "plan.x")) == [
        "calls .read_text() (file I/O)",
        "calls open() (file I/O)",
        "calls os.write() (file I/O)",
        "imports httpx",
    ]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_architecture_document_draws_these_layers() -> None:
    text = (SRC.parents[1] / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    drawn = {name: int(layer) for layer, name in re.findall(r"^\| (\d+) \| `(\w+)/?` \|", text, re.M)}
    assert drawn == LAYERS


def test_the_house_rules_hold_in_every_module() -> None:
    """Module docstrings of at most 4 lines saying what the module owns; no module over 400
    lines or function over 60; no timing or benchmark figure in the code."""
    problems = []
    for name, path in modules(SRC):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        doc = ast.get_docstring(tree)
        if not doc or len(doc.splitlines()) > 4:
            problems.append(f"{name}: module docstring of {len(doc.splitlines()) if doc else 0} lines")
        if len(source.splitlines()) > 400:
            problems.append(f"{name}: {len(source.splitlines())} lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 60:  # type: ignore[operator]
                problems.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")  # type: ignore[operator]
        if re.search(r"\d\s?(µs|ms)\b|\d(\.\d+)?x (the |its )?floor|faster than", source):
            problems.append(f"{name}: a timing or benchmark figure")
    assert not problems, "\n".join(problems)
