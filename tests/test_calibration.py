"""Each pose network (``--model``) gets the interval terms and hip offset fitted on its own
landmarks (hiprom.core.calibration; docs/ACCURACY.md), not the full network's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from builders import (
    Body,
    build_landmarks,
    build_scene,
    frame_record,
    held_angles,
    project,
    seated_xy,
)
from hiprom.backends import FakeBackend
from hiprom.backends.base import PoseModel
from hiprom.core.calibration import (
    CLIP_SD_GROWTH_BY_MODEL,
    CLIP_SYSTEMATIC_SD_BY_MODEL,
    HIP_CENTRE_OFFSET_BY_MODEL,
    KNEE_DRIFT_LIMIT_BY_MODEL,
    KNEE_SLIDE_PER_DEG_BY_MODEL,
    NO_NEUTRAL_SD_BY_MODEL,
    PELVIS_ROLL_PER_ER_BY_MODEL,
    PIVOT_FALLBACK_SD_BY_MODEL,
    PIVOT_GAP_BASE_BY_MODEL,
    STILL_SYSTEMATIC_SD_BY_MODEL,
    UNKNOWN_VIEW_DEG,
    terms_for,
)
from hiprom.core.geometry import measure_legs
from hiprom.core.landmarks import LandmarkName as L
from hiprom.core.landmarks import Landmarks
from hiprom.core.pivot import knee_shift_px
from hiprom.core.protocol import LegSeries, summarise_leg
from hiprom.pipeline import analysis
from hiprom.pipeline.analysis import FrameRecord, MeasureOptions
from hiprom.pipeline.measure import measure_path
from hiprom.pipeline.summarise import compensation_limits, leg_view_deg, summarise_records
from hiprom.vocabulary import Side

MODELS = [m.value for m in PoseModel]
BODY = Body(centre=(320.0, 220.0), knee_half_width=50.0, shank=150.0, shoulders=(60.0, 180.0))


def clip_systematic_sd(model: str) -> float:
    """The network's clip term for a leg whose view angle is unknown, as ``frame_record``'s
    legs are (measured without the view correction): the widest angle's."""
    return terms_for(model).clip_systematic_sd(float("nan"))


def still_systematic_sd(model: str) -> float:
    return terms_for(model).still_sd_deg


def test_every_bundled_network_has_its_own_terms() -> None:
    for table in (HIP_CENTRE_OFFSET_BY_MODEL, CLIP_SYSTEMATIC_SD_BY_MODEL, CLIP_SD_GROWTH_BY_MODEL,
                  STILL_SYSTEMATIC_SD_BY_MODEL, NO_NEUTRAL_SD_BY_MODEL,
                  PIVOT_FALLBACK_SD_BY_MODEL, KNEE_SLIDE_PER_DEG_BY_MODEL,
                  KNEE_DRIFT_LIMIT_BY_MODEL, PELVIS_ROLL_PER_ER_BY_MODEL, PIVOT_GAP_BASE_BY_MODEL):
        assert set(table) == set(MODELS)
    for model in PoseModel:   # the enum and its value look up the same terms
        terms = terms_for(model)
        assert terms == terms_for(model.value)
        assert terms.clip_sd_deg == CLIP_SYSTEMATIC_SD_BY_MODEL[model.value] > 0
        assert terms.pivot_fallback_sd_deg == PIVOT_FALLBACK_SD_BY_MODEL[model.value] > 0
        assert terms.knee_drift_limit == KNEE_DRIFT_LIMIT_BY_MODEL[model.value] > 0


def test_the_hip_offset_follows_the_network_unless_given() -> None:
    for model in PoseModel:
        offset = MeasureOptions(model=model).hip_centre_offset
        assert offset == HIP_CENTRE_OFFSET_BY_MODEL[model.value]
    assert MeasureOptions(model=PoseModel.LITE, hip_offset=0.0).hip_centre_offset == 0.0


def test_a_clip_s_interval_carries_its_network_s_systematic_term() -> None:
    records = [frame_record(i, seated_xy(a, 0.0, BODY), fps=30.0)
               for i, a in enumerate(held_angles([(1.5, 0.0), (2.0, 38.0), (1.5, 0.0)],
                                                 fps=30.0))]
    ci = {}
    for model in PoseModel:
        options = MeasureOptions(correct_view=False, model=model)
        left = summarise_records(records, resolution_wh=(640, 480), options=options).legs["left"]
        assert left.internal_rotation_deg == pytest.approx(38.0, abs=0.3)
        ci[model.value] = left.internal_rotation_ci95_deg
        assert ci[model.value] >= 1.96 * clip_systematic_sd(model)
    # The same clip: only the network's term differs, so the intervals order as the terms do.
    order = sorted(MODELS, key=clip_systematic_sd)
    assert [ci[m] for m in order] == sorted(ci.values())
    assert ci["lite"] > ci["heavy"] > ci["full"]


def test_a_clip_s_systematic_term_grows_with_the_camera_s_angle_to_the_thigh() -> None:
    for model in PoseModel:
        terms = terms_for(model)
        growth = CLIP_SD_GROWTH_BY_MODEL[model.value]
        assert terms.clip_sd_growth == growth >= 0
        assert terms.clip_systematic_sd(0.0) == terms.clip_sd_deg
        assert terms.clip_systematic_sd(-20.0) == pytest.approx(terms.clip_sd_deg * (1 + growth))
        # never estimated, or beyond what the view correction accepts: the widest angle
        widest = terms.clip_systematic_sd(UNKNOWN_VIEW_DEG)
        assert terms.clip_systematic_sd(float("nan")) == widest
        assert terms.clip_systematic_sd(80.0) == widest
    assert max(CLIP_SD_GROWTH_BY_MODEL.values()) > 0  # lite's errors grow with the angle


def _scene_clip(pitch_deg: float) -> list[FrameRecord]:
    """A 38° IR hold of the left leg between still starts, filmed from ``pitch_deg`` above."""
    records = []
    for i, a in enumerate(held_angles([(1.5, 0.0), (2.0, 38.0), (1.5, 0.0)], fps=30.0)):
        lm = build_landmarks(project(build_scene(a, 0.0), pitch=pitch_deg))
        records.append(FrameRecord(i, i / 30.0, 1, measure_legs(lm), lm.xy[0], lm.visibility[0]))
    return records


def test_a_clip_seen_from_above_gets_its_network_s_wider_interval() -> None:
    level, steep = _scene_clip(0.0), _scene_clip(22.0)
    views = [leg_view_deg([r.legs for r in clip], "left") for clip in (level, steep)]
    assert views[0] == pytest.approx(0.0, abs=1.5)
    assert views[1] == pytest.approx(22.0, abs=2.0)
    for model in PoseModel:
        terms = terms_for(model)
        ci = []
        for clip, view in zip((level, steep), views, strict=True):
            left = summarise_records(clip, resolution_wh=(1920, 1080),
                                     options=MeasureOptions(model=model)).legs["left"]
            assert left.internal_rotation_deg == pytest.approx(38.0, abs=1.0)
            assert left.internal_rotation_ci95_deg is not None
            assert left.internal_rotation_ci95_deg >= 1.96 * terms.clip_systematic_sd(view)
            ci.append(left.internal_rotation_ci95_deg)
        if terms.clip_sd_growth > 0:
            assert ci[1] > ci[0]
        else:
            assert ci[1] == pytest.approx(ci[0], abs=0.05)


def test_a_leg_seen_well_off_square_is_flagged_so_the_wider_interval_has_a_reason() -> None:
    options = MeasureOptions()
    flagged = {}
    for pitch in (0.0, 12.0, 24.0):
        legs = summarise_records(_scene_clip(pitch), resolution_wh=(1920, 1080),
                                 options=options).legs
        flagged[pitch] = "steep_view" in legs["left"].quality
        # the still right leg has no value, so nothing to qualify
        assert legs["right"].internal_rotation_deg is None
        assert "steep_view" not in legs["right"].quality
    assert flagged == {0.0: False, 12.0: False, 24.0: True}
    # measured without the view correction the angle is unknown: the widest term, no claim
    records = [frame_record(i, seated_xy(a, 0.0, BODY), fps=30.0)
               for i, a in enumerate(held_angles([(1.5, 0.0), (2.0, 38.0), (1.5, 0.0)],
                                                 fps=30.0))]
    unknown = summarise_records(records, resolution_wh=(640, 480), options=options).legs["left"]
    assert unknown.internal_rotation_deg is not None and "steep_view" not in unknown.quality


def _seated(left_deg: float) -> np.ndarray:
    xy = np.zeros((33, 2), np.float32)
    for hip, knee, ankle, x, lateral, deg in ((23, 25, 27, 380.0, 1.0, left_deg),
                                             (24, 26, 28, 260.0, -1.0, 0.0)):
        xy[hip], xy[knee] = (x, 200.0), (x, 240.0)
        t = np.radians(deg)
        xy[ankle] = (x + lateral * 160 * np.sin(t), 240 + 160 * np.cos(t))
    xy[11], xy[12] = (390, 40), (250, 40)
    return xy


def test_a_photo_s_interval_carries_its_network_s_systematic_term(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((480, 640, 3), 90, np.uint8))
    lm = Landmarks(_seated(35.0)[None], np.ones((1, 33), np.float32), (640, 480))
    base = MeasureOptions(still_augment=False, side=analysis.TestedSide.LEFT)
    ci = {}
    for model in PoseModel:
        m = measure_path(photo, options=replace(base, model=model),
                         backend_factory=lambda mode: FakeBackend([lm]))
        leg = m.legs["left"]
        assert leg.internal_rotation_deg is not None
        ci[model.value] = leg.internal_rotation_ci95_deg
        assert ci[model.value] >= 1.96 * still_systematic_sd(model)
    order = sorted(MODELS, key=still_systematic_sd)
    assert [ci[m] for m in order] == sorted(ci.values())
    assert ci["lite"] > ci["full"] > ci["heavy"]


def _without_neutral() -> list[FrameRecord]:
    """No still period near vertical: 20° still, 38° hold, 20° still."""
    return [frame_record(i, seated_xy(a, 0.0, BODY), fps=30.0)
            for i, a in enumerate(held_angles([(1.5, 20.0), (2.0, 38.0), (1.5, 20.0)], fps=30.0))]


def _knee_elsewhere_at_neutral(shift_px: float = 75.0) -> list[FrameRecord]:
    """The knee landmark ``shift_px`` lower (+) or higher (−) during the still start than
    afterwards (trousers in the seat's colour), on a 150 px shank: measured about that
    knee, a 38° hold reads 65° (+75) or 23° (−100)."""
    records = []
    for i, a in enumerate(held_angles([(1.5, 0.0), (2.0, 38.0), (1.5, 0.0)], fps=30.0)):
        xy = seated_xy(a, 0.0, BODY)
        if i / 30.0 < 1.5:
            xy[L.LEFT_KNEE, 1] += shift_px
        records.append(frame_record(i, xy, fps=30.0))
    return records


def test_each_network_rejects_a_pivot_at_its_own_gap() -> None:
    # 15° between the pivot (23°) and the direct (38°) reading: beyond full's and heavy's
    # allowed gap at 38° (6.0 + 3.8°, 7.0 + 3.8°), within lite's (16.5 + 3.8°), whose own
    # knee slides so far that its direct reading strays that much on sound clips.
    records = _knee_elsewhere_at_neutral(-100.0)
    for model in PoseModel:
        options = MeasureOptions(correct_view=False, model=model)
        left = summarise_records(records, resolution_wh=(640, 480), options=options).legs["left"]
        allowed = terms_for(model).pivot_gap_base_deg + 0.1 * 38.0
        assert ("pivot_rejected" in left.quality) == (allowed < 14.0), model
        assert left.internal_rotation_deg == pytest.approx(
            38.0 if allowed < 14.0 else 23.0, abs=1.5)
        forced = replace(options, pivot_gap=40.0)   # the benchmark's override keeps it
        kept = summarise_records(records, resolution_wh=(640, 480), options=forced).legs["left"]
        assert "pivot_rejected" not in kept.quality
    assert MeasureOptions(model=PoseModel.LITE).pivot_gap_base_deg == PIVOT_GAP_BASE_BY_MODEL[
        "lite"]


@pytest.mark.parametrize(("make", "flag", "term"), [
    (_without_neutral, "no_neutral", "no_neutral_sd_deg"),
    (_knee_elsewhere_at_neutral, "pivot_rejected", "pivot_fallback_sd_deg"),
])
def test_a_leg_s_extra_term_is_its_network_s(make, flag: str, term: str) -> None:
    records = make()
    for model in PoseModel:
        options = MeasureOptions(correct_view=False, model=model)
        left = summarise_records(records, resolution_wh=(640, 480), options=options).legs["left"]
        assert flag in left.quality
        ci = left.internal_rotation_ci95_deg
        assert ci is not None
        terms = terms_for(model)
        assert ci >= 1.96 * float(np.hypot(terms.clip_sd_deg, getattr(terms, term)))


def _knee_series(drift_shank: float, shank_px: float = 150.0) -> LegSeries:
    """A left-leg rep about the neutral knee whose knee moves ``drift_shank`` shank lengths
    laterally during the 38° hold, beyond the usual slide (as the pivot reports it)."""
    angles = np.array(held_angles([(1.5, 0.0), (2.0, 38.0), (1.5, 0.0)], fps=30.0))
    knee_x = np.where(angles == 38.0, 380.0 + drift_shank * shank_px, 380.0)
    return LegSeries(np.arange(angles.size) / 30.0, angles, knee_x_px=knee_x,
                     shank_length_px=np.full(angles.size, shank_px), side=Side.LEFT,
                     pelvis_static=True)


def test_each_network_flags_knee_drift_at_its_own_limit() -> None:
    limits = {m: terms_for(m).knee_drift_limit for m in PoseModel}
    drift = (min(limits.values()) + max(limits.values())) / 2
    flagged = {}
    for model in PoseModel:
        result = summarise_leg(_knee_series(drift), limits=compensation_limits(model, pivot=True))
        (rep,) = (r for r in result.reps if "short_hold" not in r.flags)
        assert rep.movement["knee_drift"] == pytest.approx(drift)
        flagged[model] = "knee_drift" in rep.flags
        assert flagged[model] == (drift > limits[model])
        still = summarise_leg(_knee_series(0.0), limits=compensation_limits(model, pivot=True))
        assert not any("knee_drift" in r.flags for r in still.reps)
    assert set(flagged.values()) == {True, False}


@pytest.mark.parametrize("lateral", [1.0, -1.0])
def test_each_network_s_own_knee_slide_is_not_drift(lateral: float) -> None:
    shank, theta = 150.0, 38.0
    knee0, ankle = np.array([300.0, 200.0]), np.array([300.0, 350.0])
    t = np.radians(theta)
    ankle = knee0 + shank * np.array([lateral * np.sin(t), np.cos(t)])
    normal = np.array([np.cos(t), -lateral * np.sin(t)]) * lateral   # ⊥ shank, lateral
    slides = {m: terms_for(m).knee_slide_per_deg for m in PoseModel}
    assert len(set(slides.values())) == len(slides)
    for model, slide in slides.items():
        knee = knee0 + slide * theta * shank * normal
        for other, other_slide in slides.items():
            shift = knee_shift_px(knee, ankle, knee0, shank, theta, lateral, other_slide)
            expected = (slide - other_slide) * theta * shank
            assert shift == pytest.approx(expected, abs=1e-6), (model, other)


def _er_with_hip_line_turning(roll_deg: float, er_deg: float) -> LegSeries:
    """An ER rep of the left leg about its neutral during whose hold the hip line turns."""
    angles = np.array(held_angles([(1.5, 0.0), (2.0, -er_deg), (1.5, 0.0)], fps=30.0))
    roll = np.where(angles == -er_deg, roll_deg, 0.0)
    return LegSeries(np.arange(angles.size) / 30.0, angles, pelvis_roll_deg=roll,
                     side=Side.LEFT, pelvis_static=True)


def test_the_pelvis_roll_limit_grows_with_er_by_the_network_s_own_rate() -> None:
    er = 35.0
    limits = {m: 4.0 + terms_for(m).pelvis_roll_per_er_deg * er for m in PoseModel}
    roll = (min(limits.values()) + max(limits.values())) / 2
    flagged = {}
    for model in PoseModel:
        about_neutral_knee = compensation_limits(model, pivot=True)
        result = summarise_leg(_er_with_hip_line_turning(roll, er), limits=about_neutral_knee)
        (rep,) = (r for r in result.reps if "short_hold" not in r.flags)
        assert rep.value_deg == pytest.approx(-er)
        assert rep.movement["pelvis_roll_deg"] == pytest.approx(roll)
        flagged[model] = "pelvis_roll" in rep.flags
        assert flagged[model] == (roll > limits[model])
        # an IR rep keeps the protocol's 4° whatever the network
        ir = summarise_leg(_er_with_hip_line_turning(4.5, -er), limits=about_neutral_knee)
        assert all("pelvis_roll" in r.flags for r in ir.reps if "short_hold" not in r.flags)
    assert set(flagged.values()) == {True, False}
