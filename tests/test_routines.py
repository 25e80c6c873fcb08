from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hiprom.errors import InputError
from hiprom.plan.assessment import DISCLAIMER, Side
from hiprom.plan.catalogue import SOURCE_ARTICLE, exercise
from hiprom.plan.routines import (
    DAYS,
    EXERCISES,
    Compensation,
    ExerciseKind,
    LegInput,
    build_plan,
)

ARTICLE = Path(__file__).resolve().parents[2] / "shared" / "domain" / "source-article.txt"

MOB = ["ninety_ninety_stretch", "seated_cross_leg_stretch", "frog_stretch"]
STR = ["seated_ir_lift", "reverse_clamshell", "band_resisted_ir"]
L, R = Side.LEFT, Side.RIGHT


def leg(ir: float | None) -> LegInput | None:
    return None if ir is None else LegInput(ir, ci95_deg=0.0)


def rec(plan, exercise_id):
    return next(r for r in plan.recommendations if r.exercise.id == exercise_id)


@pytest.fixture
def article() -> str:
    if not ARTICLE.is_file():
        pytest.skip(f"source article {ARTICLE} is absent")
    return ARTICLE.read_text(encoding="utf-8")


# --- rules: hand-derived from "restricted → mobility then strength; typical → strength;
#     above → strength, no stretching; frog (both hips) only if a leg is restricted and none
#     is above; asymmetry > MDC95 (5°) → the lower side is emphasised" -----------------------

@pytest.mark.parametrize(
    ("left", "right", "ids", "stretch_sides", "emphasis"),
    [
        (28.0, 40.0, MOB + STR, (L,), L),  # limited vs typical, 12° apart
        (40.0, 40.0, STR, (), None),  # both typical: strength to keep it
        (50.0, 40.0, STR, (), R),  # above vs typical: no stretching; 10° apart
        (28.0, 50.0, MOB[:2] + STR, (L,), L),  # frog dropped: right is above the norm
        (32.0, 34.0, MOB + STR, (L, R), None),  # both mildly limited, 2° apart
        (34.9, 35.0, MOB + STR, (L,), None),  # band edge: left mild, right typical
        (45.1, None, STR, (), None),  # above the norm, right not measured
        (None, 10.0, MOB + STR, (R,), None),  # markedly limited, left not measured
        (35.0, 45.0, STR, (), L),  # both typical but 10° apart
        (25.0, 30.5, MOB + STR, (L, R), L),  # limited vs mild, 5.5° apart
        (25.0, 30.0, MOB + STR, (L, R), None),  # exactly 5°: within the error
    ],
)
def test_plan_rules(left, right, ids, stretch_sides, emphasis):
    plan = build_plan(leg(left), leg(right))
    assert [r.exercise.id for r in plan.recommendations] == ids
    assert plan.emphasis_side is emphasis
    if "ninety_ninety_stretch" in ids:
        assert tuple(s.side for s in rec(plan, "ninety_ninety_stretch").sides) == stretch_sides
    measured = tuple(s for s, v in ((L, left), (R, right)) if v is not None)
    for exercise_id in STR:
        assert tuple(s.side for s in rec(plan, exercise_id).sides) == measured


@pytest.mark.parametrize(
    ("left", "right", "exercise_id", "expected"),
    [
        # emphasised side gets the top of the article's range, the other side the bottom
        (28.0, 40.0, "reverse_clamshell", {L: ((3, 3), (10, 15)), R: ((2, 2), (10, 15))}),
        (28.0, 40.0, "seated_ir_lift", {L: (None, (12, 12)), R: (None, (8, 8))}),
        # no emphasis: the article's full range on each side
        (32.0, 34.0, "band_resisted_ir", {L: ((2, 3), (10, 15)), R: ((2, 3), (10, 15))}),
        (40.0, 40.0, "seated_ir_lift", {L: (None, (8, 12)), R: (None, (8, 12))}),
    ],
)
def test_strength_dose_emphasis(left, right, exercise_id, expected):
    sides = {s.side: (s.sets, s.reps) for s in rec(build_plan(leg(left), leg(right)),
                                                    exercise_id).sides}
    assert sides == expected


@pytest.mark.parametrize(
    ("left", "right", "holds"),
    [
        (25.0, 32.0, {L: (4, 4), R: (3, 3)}),  # 7° apart: left emphasised
        (32.0, 25.0, {L: (3, 3), R: (4, 4)}),  # mirror image
        (28.0, 40.0, {L: (4, 4)}),  # only the restricted side stretches, at the top
        (32.0, 34.0, {L: (3, 4), R: (3, 4)}),  # within the error: full range
    ],
)
def test_stretch_holds_emphasis(left, right, holds):
    sides = rec(build_plan(leg(left), leg(right)), "ninety_ninety_stretch").sides
    assert {s.side: s.holds_per_side for s in sides} == holds
    assert all(s.emphasised is (s.holds_per_side == (4, 4)) for s in sides)


def test_frog_is_bilateral_and_never_emphasised():
    frog = rec(build_plan(leg(25.0), leg(40.0)), "frog_stretch")
    assert [(s.side, s.holds_per_side, s.emphasised) for s in frog.sides] == [(None, (3, 4),
                                                                               False)]


def test_mdc95_is_configurable():
    assert build_plan(leg(30.0), leg(37.0), mdc95_deg=8.0).emphasis_side is None
    assert build_plan(leg(30.0), leg(37.0), mdc95_deg=5.0).emphasis_side is L


# --- why, cues, notes -------------------------------------------------------------------------

@pytest.mark.parametrize(("left", "right"), [(28.0, 40.0), (50.0, 33.0), (None, 12.0),
                                             (40.0, None), (36.0, 44.0)])
def test_every_recommendation_has_a_why_with_the_numbers(left, right):
    plan = build_plan(leg(left), leg(right))
    for r in plan.recommendations:
        assert r.why.strip()
        for side, ir in ((L, left), (R, right)):
            if any(s.side is side for s in r.sides):
                assert f"{ir:.1f}°" in r.why


def test_why_names_the_asymmetry_and_no_stretching_above_norm():
    plan = build_plan(leg(28.0), leg(50.0))
    assert "22.0° lower" in rec(plan, "reverse_clamshell").why
    assert "no extra stretching" in rec(plan, "seated_ir_lift").why
    assert any("No stretching for the right hip" in n for n in plan.notes)


@pytest.mark.parametrize(
    ("compensation", "cued"),
    [
        ("pelvis_roll", {"ninety_ninety_stretch", "seated_cross_leg_stretch", "seated_ir_lift",
                         "reverse_clamshell", "band_resisted_ir"}),
        ("trunk_lean", {"ninety_ninety_stretch", "frog_stretch", "seated_ir_lift"}),
        ("knee_drift", {"seated_ir_lift", "reverse_clamshell", "band_resisted_ir"}),
        (Compensation.KNEE_DRIFT, {"seated_ir_lift", "reverse_clamshell", "band_resisted_ir"}),
    ],
)
def test_compensations_are_cued(compensation, cued):
    plan = build_plan(leg(28.0), leg(30.0), compensations=[compensation])
    assert {r.exercise.id for r in plan.recommendations if r.cues} == cued


def test_pelvis_roll_cue_says_sit_bones_down():
    plan = build_plan(leg(28.0), leg(30.0), compensations=("pelvis_roll", "pelvis_roll"))
    cues = rec(plan, "ninety_ninety_stretch").cues
    assert len(cues) == 1 and "sit bones" in cues[0]


def test_no_compensation_no_cues():
    assert all(not r.cues for r in build_plan(leg(28.0), leg(30.0)).recommendations)


@pytest.mark.parametrize(
    ("left", "right", "compensations", "match"),
    [
        (None, None, (), "Neither leg was measured"),
        (30.0, 30.0, ("hip_hike",), "Unknown compensation 'hip_hike'"),
    ],
)
def test_build_plan_errors(left, right, compensations, match):
    with pytest.raises(InputError, match=match):
        build_plan(leg(left), leg(right), compensations=compensations)


def test_missing_leg_is_reported():
    plan = build_plan(None, leg(28.0))
    assert plan.left.code.value == "not_measured"
    assert any("left leg's internal rotation was not measured" in n for n in plan.notes)
    assert plan.asymmetry.difference_deg is None


# --- schedule ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("left", "right", "mobility_days"), [(28.0, 40.0, 7), (40.0, 42.0, 0)])
def test_weekly_schedule(left, right, mobility_days):
    plan = build_plan(leg(left), leg(right))
    assert [d.day for d in plan.schedule] == list(DAYS)
    strength_days = [i for i, d in enumerate(plan.schedule) if "reverse_clamshell" in
                     d.exercise_ids]
    assert 2 <= len(strength_days) <= 3  # the article's 2–3 times per week
    assert all(b - a >= 2 for a, b in zip(strength_days, strength_days[1:], strict=False))
    assert (7 + strength_days[0] - strength_days[-1]) >= 2  # not Sun→Mon either
    days_with_mobility = [d for d in plan.schedule if "ninety_ninety_stretch" in d.exercise_ids]
    assert len(days_with_mobility) == mobility_days
    for day in plan.schedule:  # mobility before strength within a day
        kinds = [exercise(i).kind for i in day.exercise_ids]
        assert kinds == sorted(kinds, key=lambda k: k is ExerciseKind.STRENGTH)


# --- catalogue vs the source article -----------------------------------------------------------

def test_catalogue_has_the_six_article_exercises():
    assert [e.id for e in EXERCISES] == MOB + STR
    assert [e.kind for e in EXERCISES] == [ExerciseKind.MOBILITY] * 3 + [ExerciseKind.STRENGTH] * 3
    assert all(e.instructions and e.dose.source == SOURCE_ARTICLE for e in EXERCISES)
    assert "Lie on your back" in exercise("seated_cross_leg_stretch").instructions[0]


def _range(pattern: str, text: str) -> tuple[int, ...]:
    match = re.search(pattern, text)
    assert match, pattern
    return tuple(int(g) for g in match.groups())


def test_doses_match_the_source_article(article):
    hold = _range(r"(\d+) to (\d+) seconds", article)
    frog_hold = _range(r"(\d+) seconds to a minute", article) + (60,)
    holds = _range(r"(\d+)-(\d+) times on each side", article)
    lift = _range(r"(\d+) to (\d+) repetitions", article)
    sets_reps = _range(r"(\d+)-(\d+) sets of (\d+)-(\d+) repetitions", article)
    sets, reps = sets_reps[:2], sets_reps[2:]
    weekly = _range(r"(\d+)-(\d+) times per week", article)
    assert (hold, frog_hold, holds, lift) == ((30, 60), (30, 60), (3, 4), (8, 12))
    for exercise_id in MOB:
        dose = exercise(exercise_id).dose
        assert dose.hold_s == (frog_hold if exercise_id == "frog_stretch" else hold)
        assert dose.holds_per_side == holds
    assert exercise("seated_ir_lift").dose.reps == lift
    for exercise_id in ("reverse_clamshell", "band_resisted_ir"):
        dose = exercise(exercise_id).dose
        assert (dose.sets, dose.reps, dose.per_week) == (sets, reps, weekly)


def test_instructions_are_not_copied_from_the_article(article):
    sentences = {s.strip().lower() for s in re.split(r"[.;]", article) if len(s.strip()) > 30}
    for ex in EXERCISES:
        for step in ex.instructions:
            assert step.rstrip(".").strip().lower() not in sentences


def test_cautions_cover_frog_and_posterior_hip_replacement():
    assert all(any("posterior-approach" in c.text for c in e.cautions) for e in EXERCISES)
    frog = " ".join(c.text for c in exercise("frog_stretch").cautions)
    assert "FAI" in frog and "hypermobility" in frog and "hip-replacement" in frog
    with pytest.raises(InputError, match="Unknown exercise id"):
        exercise("pigeon")


# --- output -------------------------------------------------------------------------------------

def test_to_dict_is_json_ready():
    plan = build_plan(LegInput(28.0, er_deg=40.0), LegInput(50.0, er_deg=30.0),
                      compensations=["knee_drift"])
    data = json.loads(json.dumps(plan.to_dict()))
    assert set(data) >= {"disclaimer", "legs", "asymmetry", "total_rotation", "exercises",
                         "schedule", "red_flags", "safety_screen", "notes"}
    assert data["disclaimer"] == DISCLAIMER
    assert data["exercises"][0]["dose"]["hold_s"] == [30, 60]
    assert all(e["why"] for e in data["exercises"])
    assert {f["id"] for f in data["red_flags"]} == {"ir_above_norm", "anteversion_pattern"}
    assert all(f["sources"] for f in data["red_flags"] + data["safety_screen"])


@pytest.mark.parametrize(("left", "right"), [(28.0, 40.0), (None, 50.0), (12.0, 14.0)])
def test_format_text_fits_80_columns(left, right):
    text = build_plan(leg(left), leg(right), compensations=["pelvis_roll"]).format_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "does not diagnose" in text and "Weekly schedule" in text
    assert ("not measured" in text) is (left is None)
