"""The package's layers: what each folder may import, and no import cycles.

Read from the source with ``ast`` (every import, including those inside functions), so a
lazy import cannot hide a dependency that breaks the layering.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import hiprom

PACKAGE = Path(hiprom.__file__).resolve().parent
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

#: What each layer may import from hiprom (by module prefix) and from outside (top-level
#: distribution names). A layer may always import itself.
HIPROM_BELOW = {
    "hiprom.vocabulary": (),
    "hiprom.errors": (),
    "hiprom._version": (),
    "hiprom._hashing": (),
    "hiprom._native": (),
    "hiprom.core": ("hiprom.vocabulary", "hiprom.errors"),
    "hiprom.plan": ("hiprom.vocabulary", "hiprom.errors"),
    "hiprom.backends": ("hiprom.core", "hiprom.vocabulary", "hiprom.errors", "hiprom._native",
                        "hiprom._hashing"),
    # Results are data: what may be said about them (plan.interpret) is not theirs to say.
    "hiprom.results": ("hiprom.core", "hiprom.vocabulary", "hiprom.errors"),
    # media.document joins a result's data with its interpretation into the result JSON.
    "hiprom.media": ("hiprom.core", "hiprom.backends", "hiprom.results", "hiprom.plan",
                     "hiprom.vocabulary", "hiprom.errors", "hiprom._native", "hiprom._hashing",
                     "hiprom._version"),
    "hiprom.pipeline": ("hiprom.core", "hiprom.backends", "hiprom.media", "hiprom.results",
                        "hiprom.vocabulary", "hiprom.errors", "hiprom._hashing",
                        "hiprom._native"),
    "hiprom.report": ("hiprom.plan", "hiprom.results", "hiprom.media", "hiprom.vocabulary",
                      "hiprom.errors", "hiprom._version"),
    "hiprom.agreement": ("hiprom.results", "hiprom.plan", "hiprom.report", "hiprom.media",
                         "hiprom.vocabulary", "hiprom.errors", "hiprom._version"),
}
#: Numpy only (and scipy for the filters): the core opens no files, cameras or windows.
CORE_THIRD_PARTY = {"numpy", "scipy"}
PURE_THIRD_PARTY = {"plan": set()}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(("hiprom", *parts))
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    is_package = path.name == "__init__.py"
    # Imports for type checkers only never run: they are not dependencies.
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                   for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # ``from hiprom.media import overlay`` imports the module hiprom.media.overlay
            found |= {f"{module}.{a.name}" for a in node.names}
    return found


MODULES = _modules()
GRAPH = {m: {i for i in _imports(m, p) if i in MODULES and i != m} for m, p in MODULES.items()}
EXTERNAL = {m: {i.split(".")[0] for i in _imports(m, p) if not i.startswith("hiprom")}
            for m, p in MODULES.items()}


def _layer(module: str) -> str | None:
    return next((layer for layer in sorted(HIPROM_BELOW, key=len, reverse=True)
                 if module == layer or module.startswith(layer + ".")), None)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m)))
def test_each_layer_imports_only_what_lies_below_it(module: str) -> None:
    layer = _layer(module)
    allowed = (layer, *HIPROM_BELOW[layer])
    bad = sorted(i for i in GRAPH[module]
                 if not any(i == a or i.startswith(a + ".") for a in allowed))
    assert not bad, f"{module} ({layer}) imports {bad}; it may import only {allowed}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) == "hiprom.core"))
def test_core_imports_no_io_library(module: str) -> None:
    third_party = EXTERNAL[module] - STDLIB
    assert third_party <= CORE_THIRD_PARTY, f"{module} imports {third_party - CORE_THIRD_PARTY}"
    io = EXTERNAL[module] & {"os", "io", "pathlib", "shutil", "subprocess", "socket", "sqlite3"}
    assert not io, f"{module} imports {io}: the core does no I/O"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) == "hiprom.plan"))
def test_plan_is_pure_python(module: str) -> None:
    assert not (EXTERNAL[module] - STDLIB), f"{module} imports {EXTERNAL[module] - STDLIB}"


def test_nothing_imports_the_command_line_or_the_package_root() -> None:
    for module, deps in GRAPH.items():
        if module.startswith("hiprom.cli") or module == "hiprom":
            continue
        assert not {d for d in deps if d == "hiprom" or d.startswith("hiprom.cli")}, module


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for dep in sorted(GRAPH[m]):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[m] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    # The rules above read real source: a core module importing cv2 must be caught.
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    import cv2\n    from hiprom.media import sinks\n")
    found = _imports("hiprom.core.x", bad)
    assert "cv2" in found and "hiprom.media.sinks" in found
