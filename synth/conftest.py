"""The renderer's tests use the suite's one ``require_tool`` (from tests/conftest.py).

A missing Blender skips the smoke render on a developer's machine and fails it under
``CI=true``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "hiprom_tests_conftest", Path(__file__).resolve().parents[1] / "tests" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_tests_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tests_conftest)

require_tool_fixture = _tests_conftest.require_tool_fixture
