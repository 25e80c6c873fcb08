"""Run notebooks/01_quickstart.ipynb headless so it cannot rot (plain exec, no Jupyter needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "01_quickstart.ipynb"
SAMPLE = ROOT / "samples" / "seated_ir_left_right.mp4"


def code_cells() -> list[str]:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def test_committed_notebook_has_no_outputs() -> None:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_notebook_uses_only_public_modules() -> None:
    for source in code_cells():
        compile(source, str(NOTEBOOK), "exec")
        assert not re.search(r"hiprom\._[a-z]", source)   # no private modules


@pytest.mark.mediapipe
@pytest.mark.skipif(not SAMPLE.is_file(), reason="needs samples/seated_ir_left_right.mp4")
def test_notebook_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(NOTEBOOK.parent)             # where Jupyter would start it
    monkeypatch.setenv("HIPROM_OUT", str(tmp_path / "out"))
    namespace: dict[str, object] = {"__name__": "__main__"}
    try:
        for source in code_cells():
            exec(compile(source, str(NOTEBOOK), "exec"), namespace)  # noqa: S102
    finally:
        plt.close("all")
    result = namespace["result"]
    assert isinstance(result, dict) and result["schema"] == "hiprom-result/2"
    assert any(result["legs"][s]["internal_rotation_deg"] is not None for s in ("left", "right"))
    assert namespace["plan"].schedule and len(namespace["plan"].schedule) == 7
    report = tmp_path / "out" / "quickstart_report.html"
    assert report.is_file() and "Your routine" in report.read_text(encoding="utf-8")
    assert (tmp_path / "out" / "seated_ir_left_right.json").is_file()
