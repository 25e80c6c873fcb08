"""The one summary of records into legs: per-leg neutral, exclusions, no-neutral intervals."""

from __future__ import annotations

import numpy as np
import pytest

from builders import Body, frame_record, held_angles, seated_xy
from hiprom.core.calibration import NO_NEUTRAL_SD_DEG
from hiprom.pipeline.analysis import FrameRecord, MeasureOptions
from hiprom.pipeline.summarise import summarise_records

FPS = 30.0
OPTIONS = MeasureOptions(correct_view=False)
#: Knees at (320 ± 50, 220), 150 px shanks, femurs along the optical axis (hips on the knees).
BODY = Body(centre=(320.0, 220.0), knee_half_width=50.0, shank=150.0, shoulders=(60.0, 180.0))


def _record(i: int, left_deg: float, right_deg: float) -> FrameRecord:
    """Frame ``i`` of the seated BODY with its shanks at these angles."""
    return frame_record(i, seated_xy(left_deg, right_deg, BODY), fps=FPS)


def _clip(left: list[tuple[float, float]], right_deg: float) -> list[FrameRecord]:
    """Left leg through ``(seconds, degrees)`` segments (ramps of 0.5 s between); right still."""
    return [_record(i, a, right_deg) for i, a in enumerate(held_angles(left, fps=FPS))]


def test_a_rotated_resting_leg_does_not_take_the_tested_legs_neutral() -> None:
    # The right leg hangs in 15° of IR all clip long (beyond a neutral's ±12°); the left
    # leg starts still and vertical, holds 38° IR, and comes back.
    records = _clip([(1.5, 0.0), (2.0, 38.0), (1.5, 0.0)], right_deg=15.0)
    summary = summarise_records(records, resolution_wh=(640, 480), options=OPTIONS)
    left = summary.legs["left"]
    assert "no_neutral" not in left.quality
    assert left.internal_rotation_deg == pytest.approx(38.0, abs=0.3)
    assert "no_neutral" in summary.legs["right"].quality


def test_a_leg_without_a_neutral_has_an_interval_wider_by_the_measured_term() -> None:
    # No still period near vertical: 20° still, 38° hold, 20° still.
    records = _clip([(1.5, 20.0), (2.0, 38.0), (1.5, 20.0)], right_deg=0.0)
    summary = summarise_records(records, resolution_wh=(640, 480), options=OPTIONS)
    left = summary.legs["left"]
    assert "no_neutral" in left.quality
    assert left.internal_rotation_deg == pytest.approx(38.0, abs=0.3)   # absolute angle
    with_neutral = summarise_records(_clip([(1.5, 0.0), (2.0, 38.0), (1.5, 0.0)], 0.0),
                                     resolution_wh=(640, 480), options=OPTIONS).legs["left"]
    ci, ci0 = left.internal_rotation_ci95_deg, with_neutral.internal_rotation_ci95_deg
    assert ci is not None and ci0 is not None
    assert ci > ci0 and ci >= 1.96 * NO_NEUTRAL_SD_DEG


def test_excluded_spans_are_left_out_not_missed() -> None:
    records = _clip([(1.5, 0.0), (2.0, 38.0), (1.5, 0.0), (2.0, 25.0), (1.5, 0.0)],
                    right_deg=0.0)
    t_second = records[int((1.5 + 0.5 + 2.0 + 0.5 + 1.5 + 0.5) * FPS) + 10].timestamp_s
    both = summarise_records(records, resolution_wh=(640, 480), options=OPTIONS)
    assert both.legs["left"].internal_rotation_deg == pytest.approx((38 + 25) / 2, abs=0.3)
    one = summarise_records(records, resolution_wh=(640, 480), options=OPTIONS,
                            exclude=[("left", t_second - 1.0, records[-1].timestamp_s)])
    assert one.legs["left"].internal_rotation_deg == pytest.approx(38.0, abs=0.3)
    assert "few_frames" not in one.legs["left"].quality
    assert np.isnan(one.rotation_deg["left"][-1]) and np.isfinite(one.rotation_deg["right"][-1])


def _knee_up_during_neutral(records: list[FrameRecord], until_s: float,
                            up_px: float) -> list[FrameRecord]:
    """The left knee landmark ``up_px`` higher in the frames before ``until_s``."""
    from hiprom.core.landmarks import LandmarkName as L

    out = []
    for r in records:
        xy = np.array(r.xy, np.float32)
        if r.timestamp_s < until_s:
            xy[L.LEFT_KNEE, 1] -= up_px
        out.append(frame_record(r.frame_index, xy, fps=FPS))
    return out


def test_a_pivot_reading_that_strays_from_the_direct_one_is_rejected() -> None:
    # The knee landmark sits 100 px (two thirds of a shank) higher during the still start
    # than in the rest of the clip, as with trousers matching the seat: measured about that
    # neutral knee, a 38° hold would read about 23°. The direct reading keeps 38°.
    clean = _clip([(1.5, 0.0), (2.0, 38.0), (1.5, 0.0)], right_deg=0.0)
    records = _knee_up_during_neutral(clean, until_s=1.5, up_px=100.0)
    left = summarise_records(records, resolution_wh=(640, 480), options=OPTIONS).legs["left"]
    assert "pivot_rejected" in left.quality
    assert left.internal_rotation_deg == pytest.approx(38.0, abs=0.5)
    trusted = summarise_records(clean, resolution_wh=(640, 480), options=OPTIONS).legs["left"]
    assert "pivot_rejected" not in trusted.quality
    ci, ci0 = left.internal_rotation_ci95_deg, trusted.internal_rotation_ci95_deg
    assert ci is not None and ci0 is not None and ci > ci0


def test_pivot_disagreement_allows_the_usual_correction_and_ignores_the_other_leg() -> None:
    from hiprom.core.pivot import PIVOT_GAP_BASE_DEG, pivot_disagreement

    direct = np.r_[np.zeros(20), np.full(30, 36.0), np.zeros(20)]
    still = np.zeros_like(direct)
    # The pivot reads 4° more than the direct reading (the knee landmark's slide): trusted.
    excess, gap = pivot_disagreement(direct, direct * 40 / 36, still)
    assert gap == pytest.approx(4.0) and excess < 0
    # 25° more: rejected, by how much it exceeds the allowance at 36°.
    excess, gap = pivot_disagreement(direct, direct + np.where(direct > 0, 25.0, 0.0), still)
    assert excess == pytest.approx(25.0 - PIVOT_GAP_BASE_DEG - 3.6)
    # The same gap while the other leg swings further is the other leg's doing: not compared.
    excess, _ = pivot_disagreement(direct, direct + np.where(direct > 0, 25.0, 0.0),
                                   np.where(direct > 0, 50.0, 0.0))
    assert np.isnan(excess)
    # A leg that never moves is not judged.
    assert np.isnan(pivot_disagreement(still, still + 3.0, still)[0])


def test_a_small_range_is_measured_beside_a_resting_leg_that_hangs_rotated() -> None:
    # The right leg rests in 15° of IR all clip long (no neutral of its own); the left leg
    # holds only 10° IR. The resting leg does not move, so none of the left leg's frames
    # may be taken for "the other leg swinging further" (measured from 0° it would be).
    records = _clip([(1.5, 0.0), (2.0, 10.0), (1.5, 0.0), (2.0, -7.0), (1.5, 0.0)],
                    right_deg=15.0)
    left = summarise_records(records, resolution_wh=(640, 480), options=OPTIONS).legs["left"]
    assert left.internal_rotation_deg == pytest.approx(10.0, abs=0.3)
    assert left.external_rotation_deg == pytest.approx(7.0, abs=0.3)


def test_a_resting_leg_dragged_during_the_other_s_er_does_not_blank_its_ir() -> None:
    # The left leg rests in 16° of IR, except while the right leg holds 33° of ER: the
    # swinging foot drags the left leg's landmarks to -6°, still for 2 s, which passes
    # for a neutral. From that "neutral" the left leg's usual 16° looks like a 22° swing,
    # larger than the right leg's 17° IR hold, whose frames must still count.
    segments = [(1.0, 0.0, 16.0), (2.0, -33.0, -6.0), (1.5, 0.0, 16.0), (2.0, 17.0, 16.0),
                (1.5, 0.0, 16.0)]
    left = held_angles([(seconds, deg) for seconds, _, deg in segments], fps=FPS)
    right_angles = held_angles([(seconds, deg) for seconds, deg, _ in segments], fps=FPS)
    records = [_record(i, a, b) for i, (a, b) in enumerate(zip(left, right_angles, strict=True))]
    right = summarise_records(records, resolution_wh=(640, 480), options=OPTIONS).legs["right"]
    assert right.internal_rotation_deg == pytest.approx(17.0, abs=0.5)
    assert right.external_rotation_deg == pytest.approx(33.0, abs=0.5)
