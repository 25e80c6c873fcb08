"""The one summary of records into legs: per-leg neutral, exclusions, no-neutral intervals."""

from __future__ import annotations

import numpy as np
import pytest

from builders import Body, frame_record, seated_xy
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
    angles: list[float] = []
    previous = left[0][1]
    for seconds, deg in left:
        angles += list(np.linspace(previous, deg, int(0.5 * FPS)))
        angles += [deg] * int(seconds * FPS)
        previous = deg
    return [_record(i, a, right_deg) for i, a in enumerate(angles)]


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
