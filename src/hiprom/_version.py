"""The distribution's version, recorded in every result and report.

The one place it is written: ``pyproject.toml`` reads it from here (``[tool.setuptools.dynamic]``),
so the installed metadata agrees by construction. A literal, not ``importlib.metadata``: that
lookup cost every process, each batch worker included, about 30 ms of start-up.
"""

from __future__ import annotations

__version__ = "0.1.0"
