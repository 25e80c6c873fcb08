"""docs/RELIABILITY.md is exactly what benchmarks/reliability_table.py makes from the marks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "reliability_table.py"
DOC = ROOT / "docs" / "RELIABILITY.md"


def _check(doc: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--check", "--doc", str(doc)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_reliability_doc_is_generated_from_the_marked_tests():
    result = _check(DOC)
    assert result.returncode == 0, result.stderr + result.stdout


def test_the_check_fails_when_the_doc_differs(tmp_path):
    lines = DOC.read_text(encoding="utf-8").splitlines(keepends=True)
    rows = [i for i, line in enumerate(lines) if line.startswith("| 1 |")]
    assert rows, "the table has rows"
    stale = tmp_path / "RELIABILITY.md"
    stale.write_text("".join(lines[: rows[0]] + lines[rows[0] + 1:]), encoding="utf-8")
    result = _check(stale)
    assert result.returncode == 1 and "out of date" in result.stderr


def test_every_row_names_a_test_that_exists():
    table = [line for line in DOC.read_text(encoding="utf-8").splitlines()
             if line.startswith("| ") and "`tests/" in line]
    assert len(table) >= 40
    for line in table:
        node = line.split("`tests/", 1)[1].split("`", 1)[0]
        file, name = node.split("::")
        assert f"def {name}(" in (ROOT / "tests" / file).read_text(encoding="utf-8"), node
