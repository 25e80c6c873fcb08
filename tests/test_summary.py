"""summary.html: content, self-containment, and what headless Chromium actually draws."""

import re
import subprocess
from dataclasses import replace

import cv2
import numpy as np
import pytest

from hiprom.batch.store import InputRecord, StoredResult
from hiprom.batch.summary import build_summary_html, write_exports, write_summary_html


def stored(path, left, right, *, patient=None, flags=(), exceeds=False, status="ok",
           error=None):
    doc = None
    if status == "ok":
        leg = lambda ir: {"internal_rotation_deg": ir, "quality": list(flags)}  # noqa: E731
        doc = {"legs": {"left": leg(left), "right": leg(right)},
               "asymmetry_deg": None if left is None or right is None else left - right,
               "asymmetry": {"difference_deg": None if left is None or right is None
                             else abs(left - right), "exceeds_error": exceeds,
                             "restricted_side": "right"}, "quality": []}
    return StoredResult(InputRecord(path, "h" + path, patient_id=patient), status, doc,
                        None if status == "ok" else "SourceError", error, None, None)


@pytest.fixture
def results():
    rng = np.random.default_rng(3)
    items = [stored(f"/clinic/p{i:02d}.mp4", float(rng.normal(38, 6)), float(rng.normal(36, 6)),
                    patient=f"P{i:02d}") for i in range(20)]
    items.append(stored("/clinic/asym.mp4", 44.0, 24.0, patient="P77", exceeds=True))
    items.append(stored("/clinic/<b>odd</b>.mp4", 40.0, None, flags=["pelvis_roll"]))
    items.append(stored("/clinic/broken.mp4", None, None, status="failed",
                        error="Video is empty (0 bytes)"))
    return items


def test_page_lists_asymmetric_flagged_and_failed(results):
    page = build_summary_html(results, generated_at="2026-01-01T00:00:00+00:00")
    assert "P77" in page and "20.0°" in page  # the asymmetric patient and the difference
    assert "left: pelvis lifted" in page
    assert "broken.mp4" in page and "Video is empty (0 bytes)" in page
    assert "<b>odd</b>" not in page and "&lt;b&gt;odd&lt;/b&gt;" in page  # escaped
    assert page.count("<svg") == 2  # one histogram per leg
    assert "target 35–45°" in page


def test_the_resting_side_of_a_one_leg_test_is_not_flagged():
    one_side = stored("/clinic/left_only.mp4", 41.0, None)
    one_side.result["legs"]["right"]["quality"] = ["no_hold_found"]
    nothing = stored("/clinic/nothing.mp4", None, None, flags=["no_hold_found"])
    page = build_summary_html([one_side, nothing])
    assert "left_only.mp4" not in page.split("Flagged videos")[1]
    assert "nothing.mp4" in page.split("Flagged videos")[1]  # no leg measured at all
    assert "left: no held end range, right: no held end range" in page


def test_page_is_self_contained(results):
    links = {r.input.path: [("JSON", "videos/x/a.json")] for r in results}
    page = build_summary_html(results, links=links)
    assert not re.search(r"src\s*=|url\(|@import|<link|https?:|//", page, re.IGNORECASE)
    assert re.findall(r'href="([^"]*)"', page) == ["videos/x/a.json"] * len(results)
    assert page.count("<script>") == 1   # the inline table sorter; nothing is loaded


def test_empty_batch_still_renders():
    page = build_summary_html([])
    assert "Every video was scored." in page and "n = 0" in page


def test_exports_are_written(tmp_path, results):
    csv_path, html_path = write_exports(results, tmp_path / "out")
    assert csv_path.name == "results.csv" and html_path.name == "summary.html"
    assert len(csv_path.read_text().splitlines()) == 1 + 2 * len(results)


def test_headless_chromium_draws_band_bars_and_tables(tmp_path, results, require_tool):
    chromium = require_tool("chromium")
    (html_path,) = [p for p in write_exports(results, tmp_path) if p.suffix == ".html"]
    png = tmp_path / "shot.png"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           f"--screenshot={png}", "--window-size=1200,2000", html_path.as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    assert png.exists(), "chromium wrote no screenshot"
    shot = cv2.imread(str(png))[:, :, ::-1].astype(int)  # BGR → RGB
    assert shot.shape[:2] == (2000, 1200)

    def pixels(rgb, tol=6):
        return int((np.abs(shot - np.array(rgb)).max(axis=2) <= tol).sum())

    assert pixels((0xD9, 0xF2, 0xE1)) > 5000, "the 35–45° band is not drawn"
    assert pixels((0x37, 0x63, 0xC4)) > 2000, "the histogram bars are not drawn"
    assert pixels((0xB3, 0x26, 0x1E)) > 50, "the failed count is not drawn in red"


def test_counts_are_honest_and_flagged_values_stay_out_of_the_histograms():
    clean = stored("/c/clean.mp4", 41.0, 38.0)
    rolled = stored("/c/rolled.mp4", 60.0, 39.0)
    rolled.result["legs"]["left"]["quality"] = ["pelvis_roll"]
    empty = stored("/c/empty.mp4", None, None, flags=["no_hold_found"])
    page = build_summary_html([clean, rolled, empty])
    assert "<b>2</b>scored" in page and "<b>1</b>no angle found" in page
    left = page.split("Left leg: n = ")[1]
    assert left.startswith("1,")              # 60° from the rolled rep is not counted
    assert "pelvis lifted" in page


def test_the_video_table_links_each_videos_files(tmp_path):
    item = stored("/c/clip.mp4", 41.0, 38.0)
    folder = tmp_path / "videos" / "clip-1"
    folder.mkdir(parents=True)
    for suffix in (".json", ".csv", ".keyframe.png"):
        (folder / f"clip{suffix}").write_text("x")
    item = replace(item, output_dir=str(folder))
    path = write_summary_html([item], tmp_path)
    page = path.read_text()
    for label, name in (("JSON", "clip.json"), ("CSV", "clip.csv"),
                        ("key frame", "clip.keyframe.png")):
        assert f'<a href="videos/clip-1/{name}">{label}</a>' in page
    assert "annotated.webm" not in page        # only files that exist are linked


def test_links_to_files_with_url_characters_in_their_names_open_those_files(tmp_path):
    # "Patient #12 50%?.mp4": unencoded, '#' starts a fragment and '?' a query, so the
    # browser looked for "videos/Patient " and the link opened nothing.
    from urllib.parse import unquote, urlsplit

    name = "Patient #12 50%?"
    item = replace(stored(f"/c/{name}.mp4", 41.0, 38.0),
                   output_dir=str(tmp_path / "videos" / f"{name}-1"))
    folder = tmp_path / "videos" / f"{name}-1"
    folder.mkdir(parents=True)
    (folder / f"{name}.json").write_text("x")
    page = write_summary_html([item], tmp_path).read_text()
    (href,) = re.findall(r'<a href="([^"]*)">JSON</a>', page)
    parts = urlsplit(href)
    assert not parts.query and not parts.fragment, href
    assert (tmp_path / unquote(parts.path)).is_file(), href


def test_an_er_only_leg_and_a_refused_video_read_plainly():
    er_only = stored("/clinic/er.mp4", None, None)
    er_only.result["legs"]["right"].update(external_rotation_deg=31.7,
                                           verdict={"code": "not_measured", "band": None})
    refused = stored("/clinic/floor.mp4", None, None, flags=["no_hold_found", "no_neutral"])
    refused.result["protocol"] = {"valid": False, "reason": "the knees are above the hips"}
    page = build_summary_html([er_only, refused])
    rows = {name: page.split(name, 1)[1].split("</tr>", 1)[0]
            for name in ("er.mp4", "floor.mp4")}
    assert "R: IR not measured" in rows["er.mp4"] and "not_measured" not in rows["er.mp4"]
    assert "refused: the knees are above the hips" in rows["floor.mp4"]
    assert "no held end range" not in rows["floor.mp4"] and "<td>–</td>" in rows["floor.mp4"]
    # a table wider than the page scrolls inside it rather than running past its edge
    assert '<div class="scroll"><table class="sortable">' in page


def test_a_video_is_refused_on_the_page_exactly_when_results_csv_says_refused():
    # A result whose protocol says neither true nor false (no check recorded) is counted
    # as a scored video, as results.csv and the history count it; the page had called it
    # refused. Only valid: false is a refusal.
    from hiprom.batch.store import iter_leg_rows

    unknown = stored("/c/unknown.mp4", 41.0, 38.0)
    unknown.result["protocol"] = {"valid": None}
    refused = stored("/c/refused.mp4", None, None)
    refused.result["protocol"] = {"valid": False, "reason": "the knees are above the hips"}
    page = build_summary_html([unknown, refused])
    assert "<b>1</b>scored" in page and "<b>1</b>refused" in page
    rows = {name: page.split(name, 1)[1].split("</tr>", 1)[0]
            for name in ("unknown.mp4", "refused.mp4")}
    assert "refused" not in rows["unknown.mp4"] and "refused" in rows["refused.mp4"]
    assert {r["path"]: r["status"] for r in iter_leg_rows([unknown, refused])} == {
        "/c/unknown.mp4": "ok", "/c/refused.mp4": "refused"}



def test_a_failed_videos_row_gives_its_reason_without_the_path():
    # The raw message carried the full path, an unbreakable token that pushed the table's
    # last column off the page.
    failed = stored("/clinic/deep/folder/broken.mp4", None, None, status="failed",
                    error="Video /clinic/deep/folder/broken.mp4 is empty (0 bytes)")
    page = build_summary_html([failed])
    row = page.split('<table class="sortable">', 1)[1].split("</tr>", 2)[1]
    assert "Video broken.mp4 is empty (0 bytes)" in row and "/clinic/deep" not in row
    assert "table.sortable td{overflow-wrap:anywhere}" in page


def test_one_recording_under_two_paths_is_one_value_in_the_histograms():
    # The same bytes found twice (a copy in another folder) had been drawn as two hips.
    first = stored("/c/a/clip.mp4", 41.0, 38.0)
    copy = replace(stored("/c/b/clip.mp4", 41.0, 38.0),
                   input=replace(first.input, path="/c/b/clip.mp4"))
    other = stored("/c/other.mp4", 30.0, 33.0)
    sided = replace(copy, input=replace(copy.input, side_tested="left"))  # scored anew
    page = build_summary_html([first, copy, other, sided])
    assert page.split("Left leg: n = ")[1].startswith("3,"), page
    assert page.split("Right leg: n = ")[1].startswith("3,"), page
    assert "<b>4</b>scored" in page   # every input is still listed and counted
