from __future__ import annotations

import json
import math
import re
from contextlib import nullcontext as does_not_raise
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hiprom.errors import InputError
from hiprom.plan.assessment import (
    BANDS,
    DEFAULT_CI95_DEG,
    DISCLAIMER,
    BandCode,
    LegInput,
    Side,
    asymmetry,
    band_for,
    red_flags_for,
    safety_screen,
    total_rotation,
    verdict_for,
)
from hiprom.plan.catalogue import EXERCISES, FREQUENCY_ANCHORS, RED_FLAGS
from hiprom.plan.references import REFERENCES, ReferenceKind

NOTES = Path(__file__).resolve().parents[2] / "shared" / "domain" / "clinical-notes.md"
ORDER = [BandCode.MARKEDLY_LIMITED, BandCode.LIMITED, BandCode.MILDLY_LIMITED,
         BandCode.TYPICAL, BandCode.ABOVE_NORM]


@pytest.fixture
def notes_text() -> str:
    if not NOTES.is_file():
        pytest.skip(f"clinical notes {NOTES} are absent")
    return NOTES.read_text(encoding="utf-8")


# --- band edges (clinical-notes §2 suggested tool bands) -------------------------------------

@pytest.mark.parametrize(
    ("ir_deg", "code"),
    [
        (34.9, BandCode.MILDLY_LIMITED),  # just under the 35° target edge
        (35.0, BandCode.TYPICAL),  # the target edge itself is typical
        (45.0, BandCode.TYPICAL),  # the top of the target is still typical
        (45.1, BandCode.ABOVE_NORM),  # just over the top of the target
        (30.0, BandCode.MILDLY_LIMITED),  # mild band starts at 30
        (29.9, BandCode.LIMITED),
        (20.0, BandCode.LIMITED),  # limited band starts at 20
        (19.9, BandCode.MARKEDLY_LIMITED),
        (0.0, BandCode.MARKEDLY_LIMITED),
        (-5.0, BandCode.MARKEDLY_LIMITED),  # cannot reach neutral
        (40, BandCode.TYPICAL),  # ints are accepted
        (np.float32(40.0), BandCode.TYPICAL),  # numpy scalars from the pipeline too
        (60.0, BandCode.ABOVE_NORM),
    ],
)
def test_convention_band_edges(ir_deg, code):
    verdict = verdict_for(ir_deg, ci95_deg=0.0)
    assert verdict.code is code
    assert band_for(ir_deg).code is code
    assert verdict.borderline is False


def test_not_measured_verdict():
    verdict = verdict_for(None)
    assert verdict.code is BandCode.NOT_MEASURED
    assert verdict.band is None and verdict.ir_deg is None
    assert "not measured" in verdict.sentence


@pytest.mark.parametrize(
    ("ir_deg", "ci95_deg", "borderline", "codes"),
    [
        (40.0, 3.5, False, ("typical",)),  # 36.5–43.5 stays inside 35–45
        (44.0, 2.0, True, ("typical", "above_norm")),  # 46 is above the norm
        (36.0, 3.5, True, ("mildly_limited", "typical")),  # 32.5 is mildly limited
        (33.0, 2.0, True, ("mildly_limited", "typical")),  # 33 ± 2 reaches 35.0, typical
        (33.0, 1.9, False, ("mildly_limited",)),  # 31.1–34.9 stays mildly limited
        (31.0, 12.0, True, ("markedly_limited", "limited", "mildly_limited", "typical")),
        (35.0, 0.0, False, ("typical",)),  # zero interval: never borderline
    ],
)
def test_borderline_when_interval_crosses_an_edge(ir_deg, ci95_deg, borderline, codes):
    verdict = verdict_for(ir_deg, ci95_deg=ci95_deg)
    assert verdict.borderline is borderline
    assert tuple(c.value for c in verdict.ci_band_codes) == codes
    assert ("Borderline" in verdict.sentence) is borderline


def test_default_interval_is_mdc95_over_root_two():
    assert DEFAULT_CI95_DEG == pytest.approx(5.0 / math.sqrt(2))
    assert verdict_for(40.0).ci95_deg == pytest.approx(3.536, abs=1e-3)


@pytest.mark.parametrize(
    ("ir_deg", "ci95_deg", "expectation"),
    [
        (30.0, 3.0, does_not_raise()),
        (float("nan"), 3.0, pytest.raises(InputError, match="finite number of degrees")),
        (float("inf"), 3.0, pytest.raises(InputError, match="finite number of degrees")),
        (120.0, 3.0, pytest.raises(InputError, match="within ±90°, got 120")),
        ("30", 3.0, pytest.raises(InputError, match="got '30'")),
        (True, 3.0, pytest.raises(InputError, match="got True")),  # bool is not an angle
        (30.0, -1.0, pytest.raises(InputError, match="ci95_deg must be .* ≥ 0")),
    ],
)
def test_verdict_input_errors(ir_deg, ci95_deg, expectation):
    with expectation:
        verdict_for(ir_deg, ci95_deg=ci95_deg)


@given(st.floats(-90, 90), st.floats(-90, 90))
def test_band_order_is_monotonic_in_ir(a, b):
    low, high = sorted((a, b))
    assert ORDER.index(band_for(low).code) <= ORDER.index(band_for(high).code)


def test_verdict_states_scope_and_is_json_ready():
    verdict = verdict_for(28.0, ci95_deg=0.0)
    assert "28.0°" in verdict.sentence and "limited" in verdict.sentence
    json.dumps(verdict.to_dict())
    import hiprom.plan.assessment as mod
    assert "seated active" in mod.__doc__.lower() and "derived" in mod.__doc__


# --- asymmetry -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("left", "right", "mdc95", "diff", "side", "exceeds", "marked"),
    [
        (40.0, 35.0, 5.0, 5.0, Side.RIGHT, False, False),  # equal to the MDC95: not beyond it
        (40.1, 35.0, 5.0, 5.1, Side.RIGHT, True, False),  # just beyond
        (30.0, 38.0, 5.0, 8.0, Side.LEFT, True, True),  # 8° is marked
        (30.0, 37.9, 5.0, 7.9, Side.LEFT, True, False),  # beyond error, not marked
        (30.0, 37.0, 8.0, 7.0, Side.LEFT, False, False),  # clinician-level MDC95 of 8°
        (30.0, 39.0, 10.0, 9.0, Side.LEFT, False, False),  # ≥ 8 but within error: not marked
        (40.0, 40.0, 5.0, 0.0, None, False, False),  # symmetric
    ],
)
def test_asymmetry_against_mdc95(left, right, mdc95, diff, side, exceeds, marked):
    result = asymmetry(left, right, mdc95_deg=mdc95)
    assert result.difference_deg == pytest.approx(diff)
    assert result.restricted_side is side
    assert result.exceeds_error is exceeds
    assert result.marked is marked
    assert "No validated threshold" in result.sentence


def test_the_stored_difference_carries_no_float_dust():
    # |27.4 - 18.37| is not exactly 9.03 in floating point; the JSON had kept the dust.
    assert asymmetry(27.4, 18.37).to_dict()["difference_deg"] == 9.03


@pytest.mark.parametrize(("left", "right", "says"), [
    (None, 30.0, "only the right hip's internal rotation is reported"),
    (30.0, None, "only the left hip's internal rotation is reported"),
    (None, None, "neither hip's internal rotation is reported"),
])
def test_asymmetry_with_a_missing_side(left, right, says):
    result = asymmetry(left, right)
    assert result.difference_deg is None and result.restricted_side is None
    assert result.exceeds_error is False
    assert result.sentence == f"Left–right difference not computed: {says}."
    json.dumps(result.to_dict())


def test_asymmetry_docstring_says_no_validated_threshold():
    assert "No validated threshold" in asymmetry.__doc__


# --- total rotation --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("left", "right", "totals", "both_below"),
    [
        (LegInput(30.0), LegInput(30.0), (None, None), None),  # no ER measured
        (LegInput(30.0, er_deg=40.0), LegInput(35.0, er_deg=45.0), (70.0, 80.0), True),
        (LegInput(30.0, er_deg=40.0), LegInput(40.0, er_deg=50.0), (70.0, 90.0), False),
        (LegInput(40.0, er_deg=45.0), LegInput(40.0, er_deg=45.0), (85.0, 85.0), False),
        (LegInput(30.0, er_deg=40.0), None, (70.0, None), None),
    ],
)
def test_total_rotation(left, right, totals, both_below):
    result = total_rotation(left, right)
    assert (result.left_deg, result.right_deg) == totals
    assert result.both_below_85 is both_below
    assert "not a prediction" in result.note
    assert "IR alone was not" in result.note


# --- red flags -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("leg", "ids"),
    [
        (LegInput(14.9), ["ir_below_15"]),  # ACR refer level
        (LegInput(15.0), []),
        (LegInput(40.0), []),
        (LegInput(45.0, er_deg=10.0), []),  # top of the norm is not above it
        (LegInput(45.1), ["ir_above_norm"]),
        (LegInput(50.0, er_deg=30.0), ["ir_above_norm", "anteversion_pattern"]),
        (LegInput(50.0, er_deg=60.0), ["ir_above_norm"]),  # ER not below IR
    ],
)
def test_red_flags_for_numbers(leg, ids):
    flags = red_flags_for(leg, None)
    assert [f.flag.id for f in flags] == ids
    assert all(f.side is Side.LEFT for f in flags)
    assert all(f"{leg.ir_deg:.1f}°" in f.why for f in flags)


def test_red_flags_report_both_sides_left_first():
    flags = red_flags_for(LegInput(50.0), LegInput(10.0))
    assert [(f.side, f.flag.id) for f in flags] == [(Side.LEFT, "ir_above_norm"),
                                                   (Side.RIGHT, "ir_below_15")]


def test_safety_screen_lists_stop_rules_before_a_test():
    ids = {f.id for f in safety_screen()}
    assert {"hip_replacement_posterior", "recent_surgery", "pain_during_test",
            "adolescent_hip_knee_pain", "systemic", "hypermobility"} <= ids
    assert not ids & {"ir_below_15", "ir_above_norm", "anteversion_pattern"}


def _reference_entry(notes_text: str, key: str) -> str:
    """The notes' References line for ``key`` (the test fails when there is none)."""
    refs = notes_text[notes_text.index("## References"):]
    match = re.search(rf"^- \[{re.escape(key)}\] (.+)$", refs, flags=re.MULTILINE)
    assert match, f"[{key}] is not in the References of clinical-notes.md"
    return match.group(1)


def test_every_red_flag_cites_a_reference_of_the_notes(notes_text):
    for flag in RED_FLAGS:
        assert flag.sources, flag.id
        for key in flag.sources:
            assert key in REFERENCES, (flag.id, key)
            _reference_entry(notes_text, key)
        if flag.source_note:
            assert flag.source_note in notes_text


def test_every_caution_and_anchor_cites_a_reference_of_the_notes(notes_text):
    keys = [k for ex in EXERCISES for c in ex.cautions for k in c.sources]
    keys += [k for a in FREQUENCY_ANCHORS.values() for k in a.sources if k in REFERENCES]
    keys.append(total_rotation(None, None).source)
    assert "Tak 2017" in keys and "ACSM 2021" in keys
    for key in keys:
        assert key in REFERENCES, key
        _reference_entry(notes_text, key)


def test_reference_links_are_the_notes_own_and_none_is_a_mirror(notes_text):
    for key, ref in REFERENCES.items():
        entry = _reference_entry(notes_text, key)
        for link in ref.links:
            assert link in entry, (key, link)
            assert not re.match(r"https?://\d+\.\d+\.\d+\.\d+", link), link
        for doi in re.findall(r"https://doi\.org/\S+", entry):
            assert doi.rstrip(".,;") in ref.links, (key, doi)
        if "not peer-reviewed" in entry or "professional press" in entry:
            assert ref.kind is ReferenceKind.SECONDARY, key


def test_no_anchor_cites_a_bare_link():
    cited = [k for f in RED_FLAGS for k in f.sources]
    cited += [k for ex in EXERCISES for c in ex.cautions for k in c.sources]
    cited += [k for a in FREQUENCY_ANCHORS.values() for k in a.sources]
    assert not [k for k in cited if "://" in k]


def test_not_retrieved_marker_is_kept_for_the_20_degree_cut_off(notes_text):
    assert "not retrieved" in notes_text.lower()
    marked = next(b for b in BANDS if b.code is BandCode.MARKEDLY_LIMITED)
    assert "[not retrieved]" in marked.basis


def test_leg_input_validates():
    with pytest.raises(InputError, match="er_deg must be a finite"):
        LegInput(30.0, er_deg=float("nan"))
    with pytest.raises(InputError, match="ci95_deg"):
        LegInput(30.0, ci95_deg=-2.0)


def test_disclaimer_says_screening_not_diagnosis():
    assert "does not diagnose" in DISCLAIMER
    assert re.search(r"screens and educates", DISCLAIMER)
