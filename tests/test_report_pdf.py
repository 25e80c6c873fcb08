"""The printable report: one test fits on three A4 pages, figures whole, safety before routine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import hiprom
from hiprom.cli.main import app

DATA = Path(__file__).parent / "data" / "results"
pdfium = pytest.importorskip("pypdfium2")


def _pages(pdf: Path) -> list[str]:
    doc = pdfium.PdfDocument(str(pdf))
    return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]


@pytest.fixture(scope="module")
def clip_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pdf") / "clip.pdf"
    # Module-scoped, so set up before the per-test history isolation: isolate it here.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HIPROM_HOME", str(tmp_path_factory.mktemp("home")))
        return hiprom.write_report(DATA / "seated_clip.json", out, person="Ada Lovelace",
                                   clinician="J. Smith, PT", clinic="Hip Lab")


def test_one_test_fits_on_three_a4_pages(clip_pdf: Path) -> None:
    doc = pdfium.PdfDocument(str(clip_pdf))
    assert 1 <= len(doc) <= 3
    for i in range(len(doc)):
        width, height = doc[i].get_size()
        assert (round(width), round(height)) == (595, 842)   # A4 in points


def test_one_test_with_a_history_still_fits_on_three_a4_pages(tmp_path: Path) -> None:
    """A person with months of tests: the progress chart and table must not push a page.

    With any history the report ran to 4 pages (the words and sources alone on the last);
    the README and ``report --help`` promise at most 3.
    """
    import copy
    import json
    from datetime import UTC, datetime, timedelta

    from hiprom.report.history import save_result

    base = json.loads((DATA / "seated_clip.json").read_text())
    start = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    for week in range(0, 24, 4):
        doc = copy.deepcopy(base)
        doc["source"]["sha256"] = f"{week:064x}"
        doc["legs"]["left"]["internal_rotation_deg"] = 30.0 + week / 3
        save_result(doc, person="Ada Lovelace", measured_at=start + timedelta(weeks=week),
                    json_path=DATA / "seated_clip.json")
    out = hiprom.write_report(DATA / "seated_clip.json", tmp_path / "history.pdf",
                              person="Ada Lovelace", clinician="J. Smith, PT", clinic="Hip Lab")
    pages = _pages(out)
    assert len(pages) <= 3, f"{len(pages)} pages"
    assert "Progress of Ada Lovelace" in "\n".join(pages) and "Sources" in pages[-1]


def test_pages_read_in_the_order_a_person_needs(clip_pdf: Path) -> None:
    pages = _pages(clip_pdf)
    text = "\n".join(pages)
    for words in ("Ada Lovelace", "J. Smith, PT", "Hip Lab", "In short"):
        assert words in pages[0], words
    assert "Words used here" in text
    assert text.index("In short") < text.index("Result against the norm")
    assert text.index("stop or check with a clinician") < text.index("Your routine")
    assert "Your routine" in pages[1] and "Sources" in pages[-1]
    # Cautions are listed once, not under every exercise.
    assert text.count("Stop if you feel a pinch in the groin") == 1


def test_every_page_is_drawn(clip_pdf: Path, tmp_path: Path) -> None:
    doc = pdfium.PdfDocument(str(clip_pdf))
    for i in range(len(doc)):
        image = np.asarray(doc[i].render(scale=0.6).to_pil().convert("L"))
        (tmp_path / f"page-{i + 1}.npy").write_bytes(image.tobytes())
        ink = float((image < 200).mean())
        assert ink > 0.03, f"page {i + 1} is nearly blank ({ink:.1%} ink)"


def test_cli_pdf_flag_and_suffix(tmp_path: Path) -> None:
    runner = CliRunner()
    run = runner.invoke(app, ["report", str(DATA / "still_right.json"), "--pdf", "-o",
                              str(tmp_path / "a.pdf"), "-q"])
    assert run.exit_code == 0, run.output
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")
    run = runner.invoke(app, ["report", str(DATA / "still_right.json"), "-o",
                              str(tmp_path / "b.pdf")])
    assert run.exit_code == 0 and (tmp_path / "b.pdf").read_bytes().startswith(b"%PDF")
    run = runner.invoke(app, ["report", str(DATA / "still_right.json"), "-o",
                              str(tmp_path / "c.html")])
    assert (tmp_path / "c.html").read_text().startswith("<!DOCTYPE html>")
    assert not list(tmp_path.glob(".*"))   # no temporary file left behind


def test_printing_a_pdf_prints_nothing_else(tmp_path: Path) -> None:
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "hiprom.cli.main", "report",
                          str(DATA / "still_right.json"), "--pdf", "-o", str(tmp_path / "a.pdf"),
                          "-q"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr == "" and run.stdout == ""
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")


def test_printing_fetches_nothing(tmp_path: Path) -> None:
    from hiprom.errors import InputError
    from hiprom.report.document import html_to_pdf

    with pytest.raises(InputError, match="embed every image"):
        html_to_pdf('<img src="http://127.0.0.1:9/x.png">')
    with pytest.raises(InputError, match="embed every image"):
        html_to_pdf(f'<img src="file://{tmp_path}/x.png">')
