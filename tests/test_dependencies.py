"""Every third-party package that hiprom imports is declared in pyproject.toml.

The imports are read from the source with ``ast`` (module level and inside functions), each
top-level import name is mapped to the distributions that provide it in this environment
(``importlib.metadata.packages_distributions``), and one of them must be named in
``[project] dependencies`` or in a runtime extra. A package that comes only with an extra
(``hiprom[dask]``) must be imported inside a function, so ``import hiprom`` and every
command that does not need it work without it. The ``test`` extra does not count: the
package must not import test tooling.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "hiprom"
#: Extras that are tooling, not features: src/hiprom may not rely on them.
TOOLING_EXTRAS = {"test"}


@dataclass(frozen=True)
class Import:
    """One ``import x`` / ``from x import y`` of a top-level module ``name``."""

    name: str
    where: str
    deferred: bool  # inside a function body or an ``if TYPE_CHECKING:`` block


def _normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, f"cannot read a distribution name from {requirement!r}"
    return _normalise(match.group(1))


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_in(source: str, where: str) -> Iterator[Import]:
    """The absolute imports in ``source``, each with whether it runs only when called."""

    def visit(node: ast.AST, deferred: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(alias.name.split(".")[0], f"{where}:{child.lineno}", deferred)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                yield Import(child.module.split(".")[0], f"{where}:{child.lineno}", deferred)
            inner = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from visit(child, deferred or inner or _is_type_checking_block(child))

    yield from visit(ast.parse(source), False)


def third_party_imports() -> list[Import]:
    """Every import in src/hiprom of a module that is neither stdlib nor hiprom."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(ROOT))
        for imp in imports_in(path.read_text(encoding="utf-8"), where):
            if imp.name not in sys.stdlib_module_names and imp.name != "hiprom":
                found.append(imp)
    return found


def declared() -> tuple[set[str], dict[str, set[str]]]:
    """Distributions in ``dependencies`` and, per runtime extra, in that extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    required = {_requirement_name(r) for r in project["dependencies"]}
    extras = {name: {_requirement_name(r) for r in reqs}
              for name, reqs in project.get("optional-dependencies", {}).items()
              if name not in TOOLING_EXTRAS}
    return required, extras


def test_the_scan_sees_module_level_function_level_and_type_checking_imports() -> None:
    source = (
        "import numpy as np\n"
        "from scipy.special import stdtrit\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    from rich.console import Console\n"
        "def f():\n"
        "    import distributed\n"
        "    return lambda: __import__('x')\n"
        "class C:\n"
        "    import typer\n"
        "    def m(self):\n"
        "        from matplotlib.figure import Figure\n"
    )
    got = {(i.name, i.deferred) for i in imports_in(source, "x.py")}
    assert got == {("numpy", False), ("scipy", False), ("rich", True), ("distributed", True),
                   ("typer", False), ("matplotlib", True)}


def test_the_package_imports_its_known_dependencies() -> None:
    # Guards against a scan that silently finds nothing.
    names = {i.name for i in third_party_imports()}
    assert {"numpy", "cv2", "mediapipe", "matplotlib", "distributed"} <= names


def test_every_third_party_import_is_declared() -> None:
    required, extras = declared()
    optional = set().union(*extras.values())
    providers = packages_distributions()
    problems = []
    for imp in third_party_imports():
        dists = {_normalise(d) for d in providers.get(imp.name, [])}
        if not dists:
            problems.append(f"{imp.where}: {imp.name} is not installed here, so no "
                            "distribution can be checked for it")
        elif not dists & (required | optional):
            problems.append(f"{imp.where}: {imp.name} comes from {sorted(dists)}, which "
                            "pyproject.toml does not declare")
    assert not problems, "\n".join(problems)


def test_packages_of_extras_are_imported_only_inside_functions() -> None:
    required, extras = declared()
    providers = packages_distributions()
    problems = []
    for imp in third_party_imports():
        dists = {_normalise(d) for d in providers.get(imp.name, [])}
        if dists & required or imp.deferred:
            continue
        for extra, names in extras.items():
            if dists & names:
                problems.append(f"{imp.where}: {imp.name} (extra {extra!r}) is imported at "
                                "module level; import it inside the function that needs it")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("requirement, name", [
    ("dask[distributed]>=2024.1", "dask"),
    ("opencv-contrib-python==5.1.0.95", "opencv-contrib-python"),
    ("Scipy_Stubs >=1.17", "scipy-stubs"),
])
def test_requirement_names_are_normalised(requirement: str, name: str) -> None:
    assert _requirement_name(requirement) == name


def test_the_version_literal_is_the_installed_distributions() -> None:
    """pyproject.toml reads the version from ``_version.py``: what is installed says the same."""
    from importlib.metadata import version

    from hiprom._version import __version__

    assert __version__ == version("hiprom")
