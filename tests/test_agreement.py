"""hiprom agreement: statistics on synthetic pairs with known bias and noise, pairing, CLI.

The ground-truth check on the rendered samples (real MediaPipe) is in
test_agreement_truth.py.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from scipy import stats as sps
from typer.testing import CliRunner

from hiprom.agreement import run_agreement, write_agreement
from hiprom.agreement.stats import agreement_stats, loa_ci95_half_width_deg
from hiprom.batch.store import LEG_COLUMNS
from hiprom.cli.agreement import register
from hiprom.errors import HipromError, InputError

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "results"
NOTES = ROOT.parent / "shared" / "domain" / "clinical-notes.md"
runner = CliRunner()


def _app() -> typer.Typer:
    """The real app when cli.py has registered the command, else one made here."""
    from hiprom.cli.main import app

    if "agreement" in {c.name for c in app.registered_commands}:
        return app
    local = typer.Typer(pretty_exceptions_enable=False)

    @local.callback()
    def _root() -> None:
        """hiprom (test app)."""

    register(local)
    return local


APP = _app()


def run(*args: object):
    return runner.invoke(APP, ["agreement", *(str(a) for a in args)])


def failed_with(result, text: str) -> bool:
    """Exit 1, exactly one (error) line containing ``text``, no traceback."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    return (result.exit_code == 1 and len(lines) == 1 and text in lines[0]
            and "error" in lines[0] and "Traceback" not in result.output)


# ---------------------------------------------------------------------------- builders
def write_results(path: Path, rows: list[dict]) -> Path:
    """A batch results.csv with the columns hiprom batch writes."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=LEG_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({"status": "ok", **row})
    return path


def write_reference(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def synthetic(folder: Path, *, n_people: int = 100, bias_deg: float = 2.0, sd_deg: float = 3.0,
              slope: float = 1.0, seed: int = 20261125, extra: dict | None = None
              ) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """Both legs of ``n_people``: truth ~ N(35, 8); the reference reads the truth and hiprom
    reads ``slope``·truth + offset + N(0, sd), the offset making the mean bias ``bias_deg``."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(35.0, 8.0, size=2 * n_people)
    offset = bias_deg + (1.0 - slope) * 35.0
    hiprom = slope * truth + offset + rng.normal(0.0, sd_deg, size=truth.size)
    results, reference = [], []
    for i, (h, t) in enumerate(zip(hiprom, truth, strict=True)):
        pid, leg = f"P{i // 2:03d}", ("left", "right")[i % 2]
        results.append({"path": f"/clinic/{pid}.mp4", "leg": leg, "patient_id": pid,
                        "internal_rotation_deg": f"{h:.6f}", "verdict": "typical"})
        reference.append({"patient_id": pid, "leg": leg, "reference_deg": f"{t:.6f}",
                          "method": "inclinometer", **(extra or {})})
    folder.mkdir(parents=True, exist_ok=True)
    return (write_results(folder / "results.csv", results),
            write_reference(folder / "reference.csv", reference), hiprom, truth)


# ---------------------------------------------------------------------------- statistics
@pytest.fixture(scope="module")
def known(tmp_path_factory) -> tuple:
    """n = 200 pairs (100 people), bias 2°, SD 3°, no proportional bias."""
    folder = tmp_path_factory.mktemp("known")
    res, ref, hiprom, truth = synthetic(folder)
    return run_agreement(res, ref), hiprom, truth


def test_bias_and_limits_recover_the_known_bias_and_noise(known):
    report, hiprom, truth = known
    o, ba = report.overall, report.overall.bland_altman
    assert (o.n_pairs, o.n_subjects) == (200, 100)
    lo, hi = ba.bias_deg.ci95
    assert lo < 2.0 < hi and ba.bias_deg.n == 200
    # SD of the differences: 3° lies in its chi-square 95% interval.
    sd, df = ba.sd_diff_deg, 199
    assert sd * math.sqrt(df / sps.chi2.ppf(0.975, df)) < 3.0 < sd * math.sqrt(
        df / sps.chi2.ppf(0.025, df))
    for est, true in ((ba.loa_low_deg, 2.0 - 1.96 * 3.0), (ba.loa_high_deg, 2.0 + 1.96 * 3.0)):
        assert est.ci95[0] < true < est.ci95[1] and est.n == 200
    # The figures are exactly those of the differences as written.
    d = hiprom - truth
    assert ba.bias_deg.value == pytest.approx(d.mean(), abs=1e-5)
    assert ba.sd_diff_deg == pytest.approx(d.std(ddof=1), abs=1e-5)
    assert ba.loa_high_deg.value - ba.loa_high_deg.ci95[0] == pytest.approx(
        loa_ci95_half_width_deg(ba.sd_diff_deg, 200))


def test_no_proportional_bias_is_reported_where_there_is_none(known):
    ba = known[0].overall.bland_altman
    assert ba.slope.ci95[0] < 0.0 < ba.slope.ci95[1]
    assert ba.proportional_bias is False and ba.slope_p > 0.05


def test_icc_sem_mdc_and_mean_abs_difference_recover_their_true_values(known):
    o = known[0].overall
    # Population ICCs of reference = t, hiprom = t + 2 + e (σt = 8, σe = 3, two "raters").
    icc3 = 2 * 64 / (2 * 64 + 9)
    icc2 = 64 / (64 + 9 / 2 + 2.0**2 / 2)
    assert o.icc.icc_3_1.ci95[0] < icc3 < o.icc.icc_3_1.ci95[1]
    assert o.icc.icc_2_1.ci95[0] < icc2 < o.icc.icc_2_1.ci95[1]
    assert o.icc.icc_2_1.value < o.icc.icc_3_1.value  # absolute agreement pays for the bias
    assert o.icc.n_targets == 200 and o.icc.k == 2
    sd = o.bland_altman.sd_diff_deg
    assert o.sem_deg.value == pytest.approx(sd / math.sqrt(2))
    assert o.mdc95_deg.value == pytest.approx(1.96 * math.sqrt(2) * o.sem_deg.value)
    # E|d| of d ~ N(2, 3) (folded normal) lies in the interval of the mean |d|.
    mu, s = 2.0, 3.0
    folded = s * math.sqrt(2 / math.pi) * math.exp(-mu**2 / (2 * s**2)) + mu * (
        1 - 2 * sps.norm.cdf(-mu / s))
    assert o.mean_abs_diff_deg.ci95[0] < folded < o.mean_abs_diff_deg.ci95[1]


def test_a_known_proportional_bias_is_detected(tmp_path):
    res, ref, *_ = synthetic(tmp_path, slope=0.8, sd_deg=1.5, seed=7)
    ba = run_agreement(res, ref).overall.bland_altman
    # d = −0.2·t + c + e and m = 0.9·t + c/2 + e/2: the OLS slope is about −0.198.
    expected = (-0.2 * 0.9 * 64 + 1.5**2 / 2) / (0.81 * 64 + 1.5**2 / 4)
    assert ba.proportional_bias is True and ba.slope_p < 1e-6
    assert ba.slope.ci95[0] < expected < ba.slope.ci95[1] < 0.0


def test_test_retest_of_hiprom_across_sessions(tmp_path):
    """Two sessions; hiprom's own error SD 2° per session, so its SEM should be about 2°."""
    rng = np.random.default_rng(5)
    truth = rng.normal(35, 8, size=60)
    results, reference = [], []
    for i, t in enumerate(truth):
        pid, leg = f"P{i // 2:02d}", ("left", "right")[i % 2]
        for session in ("1", "2"):
            h = t + rng.normal(0, 2.0)
            results.append({"path": f"/v/{pid}_{session}.mp4", "leg": leg, "patient_id": pid,
                            "session_date": session, "internal_rotation_deg": f"{h:.6f}"})
            reference.append({"patient_id": pid, "session": session, "leg": leg,
                              "reference_deg": f"{t + rng.normal(0, 1.0):.6f}"})
    report = run_agreement(write_results(tmp_path / "r.csv", results),
                           write_reference(tmp_path / "ref.csv", reference))
    hiprom, ref = (b for b in report.reliability if b.factor == "session")
    assert hiprom.measure == "hiprom" and hiprom.levels == ("1", "2")
    assert hiprom.icc.n_targets == 60 and hiprom.sem_deg.n == 60
    values = {(r["patient_id"], r["leg"], r["session_date"]): float(r["internal_rotation_deg"])
              for r in results}
    diffs = np.array([values[(p, leg, "2")] - values[(p, leg, "1")]
                      for (p, leg, s) in values if s == "1"])
    # With two sessions the SEM is the SD of the session differences / √2 …
    assert hiprom.sem_deg.value == pytest.approx(diffs.std(ddof=1) / math.sqrt(2), rel=1e-6)
    # … and recovers the 2° within its chi-square interval (df = 59).
    df = 59
    lo = hiprom.sem_deg.value * math.sqrt(df / sps.chi2.ppf(0.975, df))
    hi = hiprom.sem_deg.value * math.sqrt(df / sps.chi2.ppf(0.025, df))
    assert lo < 2.0 < hi
    assert hiprom.mdc95_deg.value == pytest.approx(1.96 * math.sqrt(2) * hiprom.sem_deg.value)
    assert hiprom.icc.icc_3_1.value > 0.9
    assert ref.measure == "reference" and ref.icc is not None


def test_loa_interval_width_table_in_the_protocol_matches_the_formula():
    text = (ROOT / "docs" / "VALIDATION.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| ±([\d.]+)·s \| ±([\d.]+)° \| ±([\d.]+)° \|$", text,
                      flags=re.MULTILINE)
    assert [int(r[0]) for r in rows] == [20, 30, 50, 100]
    for n, factor, at3, at5 in rows:
        assert float(factor) == pytest.approx(loa_ci95_half_width_deg(1.0, int(n)), abs=0.005)
        assert float(at3) == pytest.approx(loa_ci95_half_width_deg(3.0, int(n)), abs=0.05)
        assert float(at5) == pytest.approx(loa_ci95_half_width_deg(5.0, int(n)), abs=0.05)


def test_agreement_stats_refuses_fewer_than_three_pairs():
    with pytest.raises(ValueError, match="n ≥ 3"):
        agreement_stats([30.0, 31.0], [29.0, 33.0], ["a", "b"])


# ---------------------------------------------------------------------------- pairing
@pytest.fixture()
def clinic(tmp_path: Path) -> tuple[Path, Path]:
    """Four inputs; one failed, one with only the left side tested; a reference with an
    unknown patient, an unknown session, a duplicated reading and an empty cell."""
    results = write_results(tmp_path / "results.csv", [
        {"path": "/v/P1.mp4", "leg": "left", "patient_id": "P1", "session_date": "1",
         "internal_rotation_deg": "30"},
        {"path": "/v/P1.mp4", "leg": "right", "patient_id": "P1", "session_date": "1",
         "internal_rotation_deg": "40"},
        {"path": "/v/P2.mp4", "leg": "left", "patient_id": "P2", "internal_rotation_deg": "25"},
        {"path": "/v/P2.mp4", "leg": "right", "patient_id": "P2", "internal_rotation_deg": "33"},
        {"path": "/v/P3.mp4", "leg": "left", "patient_id": "P3", "status": "failed",
         "error": "MeasurementError: nobody in view"},
        {"path": "/v/P3.mp4", "leg": "right", "patient_id": "P3", "status": "failed",
         "error": "MeasurementError: nobody in view"},
        {"path": "/v/P4.mp4", "leg": "left", "patient_id": "P4", "side_tested": "left",
         "internal_rotation_deg": "44"},
        {"path": "/v/P4.mp4", "leg": "right", "patient_id": "P4", "side_tested": "left",
         "internal_rotation_deg": "12"},
    ])
    reference = write_reference(tmp_path / "reference.csv", [
        {"patient_id": "P1", "leg": "left", "reference_deg": "28", "camera": "webcam"},
        {"patient_id": "P1", "leg": "right", "reference_deg": "41", "camera": "webcam"},
        {"patient_id": "P2", "leg": "L", "reference_deg": "27", "camera": "phone"},
        {"patient_id": "P2", "leg": "right", "reference_deg": "30", "camera": "phone"},
        {"patient_id": "P2", "leg": "right", "reference_deg": "31", "camera": "phone"},
        {"patient_id": "P3", "leg": "left", "reference_deg": "35", "camera": "phone"},
        {"patient_id": "P4", "leg": "left", "reference_deg": "42", "camera": "phone"},
        {"patient_id": "P4", "leg": "right", "reference_deg": "15", "camera": "phone"},
        {"patient_id": "P9", "leg": "left", "reference_deg": "30", "camera": "phone"},
        {"patient_id": "P1", "leg": "left", "reference_deg": "30", "camera": "phone",
         "session": "2"},
        {"patient_id": "P1", "leg": "left", "reference_deg": "", "camera": "phone",
         "rater": "CD"},
    ])
    return results, reference


def test_unmatched_duplicated_and_excluded_rows_are_listed_not_dropped(clinic):
    m = run_agreement(*clinic).matching
    assert [(p.subject, p.leg, p.hiprom_deg, p.reference_deg) for p in m.pairs] == [
        ("P1", "left", 30.0, 28.0), ("P1", "right", 40.0, 41.0), ("P2", "left", 25.0, 27.0),
        ("P4", "left", 44.0, 42.0)]
    assert [(r["line"], r["patient_id"]) for r in m.unmatched_reference] == [(10, "P9"),
                                                                             (11, "P1")]
    assert "no hiprom result for patient P9" in m.unmatched_reference[0]["reason"]
    assert m.unmatched_reference[1]["reason"] == (
        "no hiprom result for patient P1 session 2 (left leg); results have session_date: 1")
    assert [d["lines"] for d in m.duplicates] == [[5, 6]]
    reasons = {r["line"]: r["reason"] for r in m.excluded}
    assert reasons == {7: "input failed (MeasurementError: nobody in view)",
                       9: "not the tested side (side_tested = left)",
                       12: "reference_deg is empty"}
    assert [(h["source"], h["leg"]) for h in m.unmatched_hiprom] == [("/v/P2.mp4", "right"),
                                                                     ("/v/P3.mp4", "right")]
    assert (m.n_reference_rows, m.n_hiprom_legs) == (11, 8)


def test_ids_results_csv_quoted_against_formulas_still_pair(tmp_path):
    # results.csv writes "=1+1" as "'=1+1" so a spreadsheet shows it as text; the reader
    # had kept the quote, so such a patient or session could never be paired.
    from hiprom.media.sinks import csv_text

    rows = [{"path": f"/v/{i}.mp4", "leg": leg, "patient_id": csv_text(pid),
             "session_date": csv_text(session), "internal_rotation_deg": str(30 + i)}
            for i, (pid, session) in enumerate([("=1+1", "-2026-03-02"), ("@P2", "+1"),
                                                ("'P3", "s1")])
            for leg in ("left", "right")]
    results = write_results(tmp_path / "results.csv", rows)
    reference = write_reference(tmp_path / "reference.csv", [
        {"patient_id": pid, "session": session, "leg": "left", "reference_deg": "31"}
        for pid, session in (("=1+1", "-2026-03-02"), ("@P2", "+1"), ("'P3", "s1"))])
    m = run_agreement(results, reference).matching
    assert [p.subject for p in m.pairs] == ["=1+1", "@P2", "'P3"]
    assert not m.unmatched_reference


def test_one_recording_under_two_paths_is_a_duplicate_not_two_readings(tmp_path):
    # A copy of a clip scored under a second name had been paired as an independent
    # reading: "4 pairs, 2 people" from one recording, and intervals too narrow.
    same = "ab" * 32
    results = write_results(tmp_path / "results.csv", [
        {"path": path, "leg": leg, "patient_id": pid, "input_sha256": sha,
         "internal_rotation_deg": ir}
        for path, pid, sha in (("/v/P1.mp4", "P1", same), ("/v/sub/P1_copy.mp4", "P1b", same),
                               ("/v/P2.mp4", "P2", "cd" * 32), ("/v/P3.mp4", "P3", "ef" * 32),
                               ("/v/P4.mp4", "P4", "01" * 32))
        for leg, ir in (("left", "30"), ("right", "40"))])
    reference = write_reference(tmp_path / "reference.csv", [
        {"patient_id": pid, "leg": "left", "reference_deg": "31"}
        for pid in ("P1", "P1b", "P2", "P3", "P4")])
    m = run_agreement(results, reference).matching
    assert [p.subject for p in m.pairs] == ["P2", "P3", "P4"]
    content = [d for d in m.duplicates if "identical bytes" in d["reason"]]
    assert {d["key"]["leg"] for d in content} == {"left", "right"}
    assert all("under 2 paths" in d["reason"] for d in content)
    assert {r["patient_id"] for r in m.unmatched_reference} == {"P1", "P1b"}


def test_pairing_by_path_in_a_folder_of_result_jsons(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    for name in ("seated_clip.json", "still_right.json"):
        shutil.copy(DATA / name, folder / name)
    (folder / "notes.json").write_text('{"not": "a result"}')
    reference = write_reference(tmp_path / "ref.csv", [
        {"path": "seated_clip.mp4", "leg": "left", "reference_deg": "30"},
        {"path": "seated_clip.mp4", "leg": "right", "reference_deg": "40"},
        {"path": "/data/still_right.jpg", "leg": "right", "reference_deg": "14"},
        {"path": "still_right.jpg", "leg": "left", "reference_deg": "20"},
    ])
    report = run_agreement(folder, reference)
    m = report.matching
    assert [(p.source, p.leg, p.diff_deg) for p in m.pairs] == [
        ("/data/seated_clip.mp4", "left", pytest.approx(-1.6)),
        ("/data/seated_clip.mp4", "right", pytest.approx(1.2)),
        ("/data/still_right.jpg", "right", pytest.approx(-1.5))]
    assert m.excluded[0]["reason"] == "no IR value (quality: low_visibility)"
    assert report.overall.mean_abs_diff_deg.value == pytest.approx((1.6 + 1.2 + 1.5) / 3)
    assert m.pairs[0].quality == ("pelvis_roll",)


def test_by_splits_into_groups_and_says_when_a_group_is_too_small(tmp_path):
    res, ref, *_ = synthetic(tmp_path, n_people=10, extra={"camera": "webcam"})
    rows = read_rows(ref)
    for row in rows[:2]:
        row["camera"] = "phone"
    write_reference(ref, rows)
    report = run_agreement(res, ref, by="camera")
    assert [(g.name, g.n_pairs, g.stats is None) for g in report.groups] == [
        ("phone", 2, True), ("webcam", 18, False)]
    assert report.groups[0].reason == "2 pair(s); needs 3"
    assert report.groups[1].stats.n_pairs == 18


# ---------------------------------------------------------------------------- CLI
def test_cli_writes_every_output_and_prints_the_summary(tmp_path):
    res, ref, *_ = synthetic(tmp_path / "in", n_people=20,
                             extra={"camera": "webcam", "rater": "[red]AB[/red]"})
    out = tmp_path / "out"
    result = run(res, ref, "-o", out, "--by", "camera")
    assert result.exit_code == 0, result.output
    assert "bias (hiprom − reference)" in result.output and "40 pairs" in result.output
    assert sorted(p.name for p in out.iterdir()) == sorted([
        "agreement.html", "agreement.json", "bland_altman.png", "bland_altman.svg",
        "scatter.png", "scatter.svg"])  # and no temporary file left behind
    doc = json.loads((out / "agreement.json").read_text(encoding="utf-8"))
    assert doc["schema"] == "hiprom-agreement/1"
    assert doc["overall"]["n_pairs"] == 40 and doc["matching"]["n_pairs"] == 40
    assert doc["overall"]["icc"]["icc_2_1"]["n"] == 40
    assert doc["overall"]["sem_method"].startswith("SD of the differences / √2")
    assert {"unmatched_reference", "unmatched_hiprom", "duplicates", "excluded"} <= set(
        doc["matching"])
    assert doc["groups"][0]["name"] == "webcam"
    assert (out / "bland_altman.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in (out / "scatter.svg").read_bytes()[:500]


def test_quiet_prints_nothing(tmp_path):
    res, ref, *_ = synthetic(tmp_path, n_people=5)
    result = run(res, ref, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0 and result.output == ""


def test_user_strings_are_escaped_in_the_page_and_the_terminal(tmp_path):
    res, ref, *_ = synthetic(tmp_path, n_people=5)
    rows = read_rows(ref)
    rows.append({**rows[0], "patient_id": "<script>alert(1)</script>"})
    rows.append({**rows[0], "patient_id": "[bold red]P[/]"})
    write_reference(ref, rows)
    result = run(res, ref, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "[bold red]P[/]" in result.output  # printed as written, not as markup
    html = (tmp_path / "out" / "agreement.html").read_text(encoding="utf-8")
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_page_is_self_contained(tmp_path):
    res, ref, *_ = synthetic(tmp_path, n_people=5)
    report = run_agreement(res, ref)
    write_agreement(report, tmp_path / "out")
    html = (tmp_path / "out" / "agreement.html").read_text(encoding="utf-8")
    assert "<style>" in html and "data:image/png;base64," in html
    assert "<script" not in html and "<link" not in html
    assert not re.search(r'(src|href)="(?!#|data:image/png;base64,|https://(doi\.org|pubmed|'
                         r'pmc|creighton|mayoclinic))', html)
    assert "Agreement of hiprom with a criterion" in html


def test_plots_are_titled_and_labelled_with_units(tmp_path):
    from hiprom.agreement.plots import build_bland_altman, build_scatter

    res, ref, *_ = synthetic(tmp_path, n_people=5)
    report = run_agreement(res, ref)
    ba, sc = build_bland_altman(report).axes[0], build_scatter(report).axes[0]
    assert ba.get_title(loc="left").startswith("Bland–Altman") and "n = 10 pairs" in (
        ba.get_title(loc="left"))
    assert ba.get_xlabel().endswith("(°)") and ba.get_ylabel() == "hiprom − reference (°)"
    assert sc.get_xlabel() == "reference IR (°)" and sc.get_ylabel() == "hiprom IR (°)"
    assert "identity" in sc.get_legend_handles_labels()[1][0]


def test_the_page_cites_only_references_of_the_clinical_notes():
    from hiprom.agreement.page import SOURCES

    if not NOTES.is_file():
        pytest.skip(f"clinical notes {NOTES} are absent")
    notes = NOTES.read_text(encoding="utf-8")
    refs = notes[notes.index("## References"):]
    for key, (_, links) in SOURCES.items():
        entry = re.search(rf"^- \[{re.escape(key)}\] (.+)$", refs, flags=re.MULTILINE)
        assert entry, key
        for link in links:
            assert link in entry.group(1), (key, link)
    protocol = (ROOT / "docs" / "VALIDATION.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"\[([A-Z][^\]]*)\](?!\()", protocol))  # not [links](...)
    assert {"Gradoz 2018", "Krause 2015", "PMC4893951 appendix"} <= cited
    for key in cited:
        entry = re.search(rf"^- \[{re.escape(key)}\] (.+)$", refs, flags=re.MULTILINE)
        assert entry, f"[{key}] of VALIDATION.md is not in the notes' References"
        listed = re.search(rf"^\* \[{re.escape(key)}\] (.+?)(?=^\* |^\S)", protocol,
                           flags=re.MULTILINE | re.DOTALL)
        assert listed, f"[{key}] is cited but not listed with its link"
        for link in re.findall(r"https?://\S+", listed.group(1)):
            assert link in entry.group(1), (key, link)


# ---------------------------------------------------------------------------- bad input
def _pairs(tmp_path: Path, n: int) -> tuple[Path, Path]:
    res, ref, *_ = synthetic(tmp_path, n_people=3)
    rows = read_rows(ref)[:n]
    return res, write_reference(ref, rows)


@pytest.mark.parametrize(("case", "message"), [
    ("no_overlap", "No reference reading pairs with a valid hiprom value"),
    ("one_pair", "Only 1 reference reading(s) pair"),
    ("non_numeric", "reference_deg 'about 30' is not a number"),
    ("decimal_comma", "(use a decimal point, not a comma)"),
    ("out_of_range", "not an IR angle between −90 and 90°"),
    ("missing_columns", "lacks the column(s) reference_deg, patient_id or path"),
    ("empty_file", "is empty"),
    ("header_only", "has a header but no rows"),
    ("bad_leg", "leg 'both' is not left or right"),
    ("no_results", "not found"),
    ("frame_csv", "is not a hiprom batch results.csv"),
    ("by_absent", "--by camera needs a 'camera' column in REFERENCE"),
])
def test_bad_input_is_one_clear_line_and_exit_1(tmp_path, case, message):
    res, ref = _pairs(tmp_path, 6)
    rows = read_rows(ref)
    extra: list[str] = []
    if case == "no_overlap":
        write_reference(ref, [{**r, "patient_id": "X" + r["patient_id"]} for r in rows])
    elif case == "one_pair":
        write_reference(ref, rows[:1])
    elif case in ("non_numeric", "decimal_comma", "out_of_range", "bad_leg"):
        value = {"non_numeric": "about 30", "decimal_comma": "30,5", "out_of_range": "320"}
        key = "leg" if case == "bad_leg" else "reference_deg"
        rows[2][key] = value.get(case, "both")
        write_reference(ref, rows)
    elif case == "missing_columns":
        write_reference(ref, [{"leg": r["leg"], "value": r["reference_deg"]} for r in rows])
    elif case == "empty_file":
        ref.write_text("")
    elif case == "header_only":
        ref.write_text("patient_id,leg,reference_deg\n")
    elif case == "no_results":
        res = tmp_path / "missing.csv"
    elif case == "frame_csv":
        res.write_text("frame_index,timestamp_s,left_rotation_deg\n0,0.0,1.0\n")
    elif case == "by_absent":
        extra = ["--by", "camera"]
    result = run(res, ref, "-o", tmp_path / "out", *extra)
    if case in ("no_overlap", "one_pair"):   # the line, then each reading that did not pair
        head, *details = [ln for ln in result.output.splitlines() if ln.strip()]
        assert result.exit_code == 1 and message in head and head.startswith("error")
        assert all(ln.startswith("  reference line ") for ln in details), details
        # every reference row that did not pair is listed, not only the first (6 rows, none
        # pairs; 1 row, and it pairs)
        assert len(details) == (6 if case == "no_overlap" else 0), details
    else:
        assert failed_with(result, message), result.output
    assert not (tmp_path / "out").exists()


def test_a_missing_validation_extra_names_the_install_command(tmp_path, monkeypatch):
    res, ref, *_ = synthetic(tmp_path, n_people=3)
    monkeypatch.setitem(sys.modules, "pingouin", None)  # import pingouin → ImportError
    with pytest.raises(ImportError, match=re.escape('pip install "hiprom[validation]"')) as err:
        run_agreement(res, ref)
    assert isinstance(err.value, HipromError)
    result = run(res, ref, "-o", tmp_path / "out")
    assert failed_with(result, 'pip install "hiprom[validation]"'), result.output


def test_reader_errors_are_input_errors(tmp_path):
    res, ref = _pairs(tmp_path, 6)
    ref.write_text("patient_id,leg,reference_deg\nP000,left,abc\n")
    with pytest.raises(InputError, match="line 2"):
        run_agreement(res, ref)
