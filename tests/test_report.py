from __future__ import annotations

import base64
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from html import escape as escape_html
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from hiprom.errors import InputError
from hiprom.plan.assessment import DISCLAIMER, Side
from hiprom.plan.catalogue import EXERCISES
from hiprom.report.diagrams import VIEWS, build_exercise_svg, build_norm_band_svg, exercise_ids
from hiprom.report.history import read_result, save_result
from hiprom.report.html import (
    FLAG_EXPLANATIONS,
    PHOTO_NO_NEUTRAL,
    build_angle_plot_png,
    build_report,
    load_report_inputs,
    read_angle_csv,
)

DATA = Path(__file__).parent / "data" / "results"
PNG = b"\x89PNG\r\n\x1a\n"


class _Tags(HTMLParser):
    """Collect every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


@pytest.fixture()
def clip_dir(tmp_path: Path) -> Path:
    for name in ("seated_clip.json", "seated_clip.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    return tmp_path


def keyframe_png() -> bytes:
    image = np.zeros((60, 80, 3), np.uint8)
    image[:, :40] = (0, 0, 255)
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


# ---------------------------------------------------------------- CSV
def test_read_angle_csv() -> None:
    series = read_angle_csv(DATA / "seated_clip.csv")
    assert series.timestamp_s.shape == (143,)
    assert np.all(np.diff(series.timestamp_s) > 0)
    right = series.rotation_deg[Side.RIGHT]
    assert np.isnan(right[[20, 21, 90]]).all()        # empty cells = not measured
    assert np.isfinite(series.rotation_deg[Side.LEFT]).all()
    assert np.nanmax(right) == pytest.approx(41.2, abs=2.0)


@pytest.mark.parametrize(("text", "match"), [
    ("frame_index,timestamp_s\n0,0.0\n", "lacks the columns"),
    ("timestamp_s,left_rotation_deg,right_rotation_deg\n0.0,abc,1\n", "line 2"),
])
def test_read_angle_csv_errors(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "a.csv").write_text(text)
    with pytest.raises(InputError, match=match):
        read_angle_csv(tmp_path / "a.csv")


# ---------------------------------------------------------------- diagrams
def test_every_catalogue_exercise_has_a_valid_diagram() -> None:
    assert set(exercise_ids()) == {e.id for e in EXERCISES} == set(VIEWS)
    marker_ids = []
    for ex in EXERCISES:
        root = ET.fromstring(build_exercise_svg(ex.id))
        ns = "{http://www.w3.org/2000/svg}"
        assert root.find(f"{ns}title").text == ex.name
        marker_ids += [m.get("id") for m in root.iter(f"{ns}marker")]
        assert not any(el.get("href") or el.get("{http://www.w3.org/1999/xlink}href")
                       for el in root.iter())                  # nothing external
    assert len(marker_ids) == len(set(marker_ids)) == len(EXERCISES)   # ids unique on a page


def _circles(svg: str) -> list[float]:
    return [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', svg)]


def test_norm_band_chart_places_values_on_the_scale() -> None:
    svg = build_norm_band_svg({"Left": (20.0, 2.0, "limited"), "Right": (40.0, 2.0, "typical")})
    ET.fromstring(svg)
    x20, x40 = _circles(svg)
    # 0–60° over 660 units from x=70: 20° → 290, 40° → 510
    assert (x20, x40) == pytest.approx((290.0, 510.0))
    assert "40.0° ±2.0°" in svg
    wide = build_norm_band_svg({"Left": (75.0, 10.0, "above_norm"), "Right": None})
    assert "not measured" in wide
    assert _circles(wide)[0] < 730                             # the axis grows to fit 85°


# ---------------------------------------------------------------- plots
def test_angle_plot_is_a_png() -> None:
    result = read_result(DATA / "seated_clip.json")
    png = build_angle_plot_png(read_angle_csv(DATA / "seated_clip.csv"), result)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert png.startswith(PNG) and image.shape == (540, 1500, 3)


# ---------------------------------------------------------------- the HTML
def test_report_is_self_contained() -> None:
    result = read_result(DATA / "seated_clip.json")
    html = build_report(result, series=read_angle_csv(DATA / "seated_clip.csv"),
                        keyframe_png=keyframe_png())
    for tag, attrs in tags(html):
        assert tag not in {"script", "link", "iframe", "object", "embed"}
        src = attrs.get("src")
        assert src is None or src.startswith("data:image/png;base64,")
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", html)
    assert "@media print" in html and "@import" not in html
    assert len([t for t, _ in tags(html) if t == "img"]) == 2      # trace + key frame


def test_report_content_for_a_clip() -> None:
    result = read_result(DATA / "seated_clip.json")
    html = build_report(result, series=read_angle_csv(DATA / "seated_clip.csv"),
                        keyframe_png=keyframe_png(), measured_at=datetime(2026, 4, 1, tzinfo=UTC))
    assert "28.4°" in html and "41.2°" in html
    assert "limited" in html and "typical" in html
    assert "12.8° less IR" in html                         # asymmetry sentence
    assert ">beyond measurement error</span>" in html
    assert FLAG_EXPLANATIONS["pelvis_roll"] in html
    assert DISCLAIMER in html
    assert html.count('class="exercise-diagram"') == 6      # left restricted, none above norm
    assert "left: 12 slow reps" in html and "right: 8 slow reps" in html   # emphasis doses
    for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"):
        assert f"<th>{day}</th>" in html
    assert "<dt>Test date</dt><dd>2026-04-01 00:00 UTC</dd>" in html
    assert 'id="red-flags"' not in html                     # no number-triggered flag
    assert "acsm.org" in html                               # sources listed


def test_a_reason_shared_by_several_exercises_is_said_once_with_their_names() -> None:
    # Every stretch had repeated the same two-sentence "Why:" in its card.
    from hiprom.plan.interpret import leg_inputs, result_compensations
    from hiprom.plan.routines import build_plan

    result = read_result(DATA / "seated_clip.json")
    plan = build_plan(*leg_inputs(result), compensations=result_compensations(result))
    html = build_report(result)
    whys: dict[str, list[str]] = {}
    for rec in plan.recommendations:
        whys.setdefault(rec.why, []).append(rec.exercise.name)
    shared = {why: names for why, names in whys.items() if len(names) > 1}
    assert shared, "the fixture's plan no longer has a shared reason: pick another"
    for why, names in whys.items():
        assert html.count(escape_html(why)) == 1, why
        if why in shared:
            assert f"<strong>{escape_html(', '.join(names))}:</strong> {escape_html(why)}" in html


def test_the_printed_schedule_is_one_line_per_kind_of_day() -> None:
    result = read_result(DATA / "seated_clip.json")
    html = build_report(result)
    lines = re.findall(r"<li><strong>([A-Z][a-z]{2}(?:, [A-Z][a-z]{2})*):</strong>", html)
    days = [d for line in lines for d in line.split(", ")]
    assert sorted(days) == sorted(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))
    assert 'class="plain week-lines print-only"' in html


def test_keyframe_is_embedded_byte_for_byte() -> None:
    result = read_result(DATA / "seated_clip.json")
    png = keyframe_png()
    html = build_report(result, keyframe_png=png)
    assert base64.b64encode(png).decode() in html
    without = build_report(result)
    assert "No annotated key frame" in without and "not available" in without


def test_report_for_one_leg_below_15_shows_the_red_flag() -> None:
    html = build_report(read_result(DATA / "still_right.json"))
    assert 'id="red-flags"' in html and "Right IR 12.5° is under 15°." in html
    assert "https://doi.org/10.1002/art.1780340502" in html   # its source (Altman 1991)
    assert "not measured" in html
    # a photo: its no_neutral is explained for a photo
    assert PHOTO_NO_NEUTRAL in html and FLAG_EXPLANATIONS["low_visibility"] in html


def test_report_without_any_leg_still_renders() -> None:
    result = read_result(DATA / "still_right.json")
    result["legs"]["right"]["internal_rotation_deg"] = None
    html = build_report(result)
    assert "no plan" in html and "stop or check with a clinician" in html


def test_a_refused_input_s_report_says_why_and_what_to_change() -> None:
    result = read_result(DATA / "still_right.json")
    reason = "the camera is beside the person, not in front; sit on a table edge"
    result["protocol"] = {"valid": False, "reason": reason,
                          "advice": ["the picture is dark (brightness 22 of 255): add light"]}
    for leg in result["legs"].values():
        leg["internal_rotation_deg"] = leg["external_rotation_deg"] = leg["verdict"] = None
    html = build_report(result)
    assert f"not measured as the seated hip test: {reason}." in html
    assert "For the next test:" in html and "the picture is dark (brightness 22" in html
    assert "hip was not measured" not in html      # the reason replaces the per-leg lines
    assert ">not computed</span>" in html and "within measurement error" not in html


def test_a_resting_leg_is_named_as_resting() -> None:
    result = read_result(DATA / "still_right.json")
    result["legs"]["left"]["tested"] = False
    html = build_report(result)
    assert "Your left leg was resting, not tested." in html
    # its card and its chart row say the same, not "not measured"
    card = html.split('class="card leg"')[1]
    assert ">not tested</span>" in card and "not measured" not in card
    chart = html.split('class="band-chart"')[1].split("</svg>")[0]
    assert ">not tested</text>" in chart and "not measured" not in chart


def _label_extent(svg: str, value: str) -> tuple[float, float]:
    """The leftmost and rightmost x a value label can reach (generous glyph widths)."""
    match = re.search(r'<text x="([\d.]+)"( text-anchor="end")? [^>]*>' + re.escape(value), svg)
    assert match, value
    x, width = float(match.group(1)), len(value) * 13 * 0.7
    return (x - width, x) if match.group(2) else (x, x + width)


@pytest.mark.parametrize("ir, ci", [(40.0, 2.0), (57.4, 2.5), (58.0, 2.0), (88.0, 2.0),
                                    (-5.0, 3.0)])
def test_norm_band_value_label_stays_inside_the_chart(ir: float, ci: float) -> None:
    svg = build_norm_band_svg({"Left": (ir, ci, "typical"), "Right": (30.0, 1.0, "typical")})
    width = float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))  # type: ignore[union-attr]
    lo, hi = _label_extent(svg, f"{ir:.1f}° ±{ci:.1f}°")
    assert 0 <= lo and hi <= width


@pytest.mark.reliability(case="markup and unknown flags inside a result file",
                         outcome="escaped in the report")
def test_unknown_flag_and_markup_are_escaped() -> None:
    result = read_result(DATA / "seated_clip.json")
    result["quality"] = ["<b>odd</b>"]
    html = build_report(result, person="<script>x</script>")
    assert "<script>x" not in html and "&lt;script&gt;x" in html
    assert "&lt;b&gt;odd&lt;/b&gt;" in html and "No plain-language explanation" in html


def test_a_flagged_rep_s_quality_row_says_how_much_moved() -> None:
    result = read_result(DATA / "seated_clip.json")
    rep = result["legs"]["left"]["reps"][0]
    assert rep["quality"] == ["pelvis_roll"]
    quality = build_report(result).split('id="quality"')[1].split("</section>")[0]
    assert "hold at" not in quality   # a result written before reps recorded their movement
    rep["movement"] = {"pelvis_roll_deg": -6.24, "trunk_lean_deg": 0.4, "knee_drift": 0.013}
    result["legs"]["left"]["reps"][1]["movement"] = {"pelvis_roll_deg": 9.0}  # not flagged
    quality = build_report(result).split('id="quality"')[1].split("</section>")[0]
    assert "left leg (IR hold at 1.2\u00a0s, the hip line turned 6.2°)" in quality
    assert "9.0°" not in quality and "knee moved" not in quality


def test_a_withheld_value_is_shown_as_not_rated_not_as_not_measured() -> None:
    result = read_result(DATA / "seated_clip.json")
    left = result["legs"]["left"]
    left["verdict"] = {**left["verdict"], "band": None, "code": "withheld",
                       "sentence": "The value is unreliable: the knee drifted sideways."}
    card = build_report(result).split('class="card leg"')[1].split('class="card leg"')[0]
    assert f"{left['internal_rotation_deg']:.1f}°" in card
    assert ">not rated</span>" in card and "not measured" not in card


def test_history_section_only_with_history(clip_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    result = read_result(clip_dir / "seated_clip.json")
    assert 'id="history"' not in build_report(result)
    save_result(result, person="alex", db_path=db, json_path=clip_dir / "seated_clip.json")
    inputs = load_report_inputs(person="alex", db_path=db)
    html = build_report(inputs.result, history=inputs.history, person="alex")
    assert 'id="history"' in html and "One test so far" in html
    assert inputs.series is not None                         # found via the saved JSON path


# ---------------------------------------------------------------- loading inputs
def test_load_report_inputs_finds_companions(clip_dir: Path) -> None:
    (clip_dir / "seated_clip.keyframe.png").write_bytes(keyframe_png())
    inputs = load_report_inputs(clip_dir / "seated_clip.json")
    assert inputs.series is not None and inputs.series.timestamp_s.size == 143
    assert inputs.keyframe_png == keyframe_png()


@pytest.mark.reliability(case="report with its CSV missing and a key frame that is not a PNG",
                         outcome="the report is written without them")
def test_load_report_inputs_tolerates_missing_or_bad_companions(clip_dir: Path) -> None:
    (clip_dir / "seated_clip.csv").unlink()
    (clip_dir / "seated_clip.keyframe.png").write_bytes(b"not a png")
    inputs = load_report_inputs(clip_dir / "seated_clip.json")
    assert inputs.series is None and inputs.keyframe_png is None


def test_load_report_inputs_needs_something() -> None:
    with pytest.raises(InputError, match="Nothing to report"):
        load_report_inputs()


# ---------------------------------------------------------------- headless Chromium
def _chromium(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True, text=True, timeout=120, check=True)


def test_report_renders_in_chromium(clip_dir: Path, tmp_path: Path, require_tool) -> None:
    chromium = require_tool("chromium")
    result = read_result(clip_dir / "seated_clip.json")
    page = tmp_path / "report.html"
    page.write_text(build_report(result, series=read_angle_csv(clip_dir / "seated_clip.csv"),
                                 keyframe_png=keyframe_png()), encoding="utf-8")
    dom = _chromium(chromium, tmp_path, "--dump-dom", page.as_uri()).stdout
    for text in ("Seated hip internal rotation", "Result against the norm", "Angle over time",
                 "key frame", "Measurement quality", "Your routine", "Weekly schedule",
                 "stop or check with a clinician first", "Sources", "90/90 stretch"):
        assert text in dom
    shot = tmp_path / "shot.png"
    _chromium(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1200,3000", page.as_uri())
    image = cv2.imread(str(shot))
    assert image.shape == (3000, 1200, 3)
    top = image[:1500]
    # Drawn content, not a blank page: many colours, and the green of the typical band.
    assert len(np.unique(top.reshape(-1, 3), axis=0)) > 500
    green = (top[..., 1] > 200) & (top[..., 2] < 225) & (top[..., 0] < 225) & \
        (top[..., 1].astype(int) - top[..., 2] > 15)
    assert green.sum() > 2000


NOTE = ("both legs are rotated, so the photo cannot tell which one was tested; both are "
        "reported: pass --side left or --side right to name it")


def test_the_protocol_note_is_shown_in_the_report_and_the_terminal(monkeypatch):
    import io

    from rich.console import Console

    import hiprom.cli.main as cli

    result = read_result(DATA / "still_right.json")
    result["protocol"] = {**(result.get("protocol") or {}), "valid": True, "note": NOTE}
    summary = build_report(result).split('id="summary"')[1].split("</section>")[0]
    assert f"Note: {NOTE}." in summary
    buffer = io.StringIO()
    monkeypatch.setattr(cli, "out_console", Console(file=buffer, width=400))
    cli._summary_table(result)
    assert f"note: {NOTE}" in buffer.getvalue()


def test_a_resting_leg_s_rest_flags_are_not_shown_as_problems(monkeypatch):
    import io

    from rich.console import Console

    import hiprom.cli.main as cli
    from hiprom.batch.store import StoredResult
    from hiprom.batch.summary import _flags

    result = read_result(DATA / "still_right.json")
    result["legs"]["left"].update(tested=False, quality=["no_hold_found", "no_neutral",
                                                         "short_hold"])
    buffer = io.StringIO()
    monkeypatch.setattr(cli, "out_console", Console(file=buffer, width=400))
    cli._summary_table(result)
    [row] = [line for line in buffer.getvalue().splitlines() if "│ left" in line]
    assert "not tested" in row and "no_neutral" not in row and "short_hold" not in row
    item = StoredResult(None, "ok", result, None, None, None, None)  # type: ignore[arg-type]
    assert not any(f.startswith("left") for f in _flags(item))


def test_an_er_only_leg_is_not_called_unmeasured(monkeypatch):
    """A clip that held only external rotation: ER is shown, IR is what was not measured."""
    import io

    from rich.console import Console

    import hiprom.cli.main as cli

    result = read_result(DATA / "still_right.json")
    right = result["legs"]["right"]
    right.update(internal_rotation_deg=None, internal_rotation_ci95_deg=None,
                 external_rotation_deg=31.7, external_rotation_ci95_deg=3.4,
                 verdict={**right["verdict"], "code": "not_measured", "band": None})
    html = build_report(result)
    summary = html.split('id="summary"')[1].split("</section>")[0]
    assert "Your right hip was measured turning out only (ER 32°)" in summary
    assert "right hip was not measured" not in summary
    card = html.split('class="card leg"')[2]
    assert ">IR not measured</span>" in card
    buffer = io.StringIO()
    monkeypatch.setattr(cli, "out_console", Console(file=buffer, width=400))
    cli._summary_table(result)
    [row] = [line for line in buffer.getvalue().splitlines() if "│ right" in line]
    assert "IR not measured" in row and "31.7°" in row


def test_a_photo_s_no_neutral_is_explained_for_a_photo_and_a_resting_leg_is_left_out():
    result = read_result(DATA / "still_right.json")
    assert result["source"]["kind"] == "still"
    result["legs"]["right"]["quality"] = ["no_neutral"]
    result["legs"]["left"].update(tested=False, quality=["no_hold_found"])
    quality = build_report(result).split('id="quality"')[1].split("</section>")[0]
    assert escape_html(PHOTO_NO_NEUTRAL) in quality
    assert escape_html(FLAG_EXPLANATIONS["no_neutral"]) not in quality
    assert "no_hold_found" not in quality and "left leg" not in quality
