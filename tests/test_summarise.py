"""The one summary of records into legs: per-leg neutral, exclusions, no-neutral intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hiprom.core.calibration import NO_NEUTRAL_SD_DEG
from hiprom.core.geometry import measure_legs
from hiprom.core.landmarks import LandmarkName as L
from hiprom.core.landmarks import Landmarks
from hiprom.pipeline.analysis import FrameRecord, MeasureOptions
from hiprom.pipeline.summarise import summarise_records

FPS = 30.0
SHANK_PX = 150.0
OPTIONS = MeasureOptions(correct_view=False)


def _record(i: int, left_deg: float, right_deg: float) -> FrameRecord:
    """A seated person facing the camera; hips and knees on one line (femurs on the axis)."""
    xy = np.zeros((33, 2), np.float64)
    for hip, knee, ankle, x, lateral, deg in (
            (L.LEFT_HIP, L.LEFT_KNEE, L.LEFT_ANKLE, 370.0, 1.0, left_deg),
            (L.RIGHT_HIP, L.RIGHT_KNEE, L.RIGHT_ANKLE, 270.0, -1.0, right_deg)):
        xy[hip] = xy[knee] = (x, 220.0)
        t = math.radians(deg)
        xy[ankle] = (x + lateral * SHANK_PX * math.sin(t), 220.0 + SHANK_PX * math.cos(t))
    xy[L.LEFT_SHOULDER], xy[L.RIGHT_SHOULDER] = (380.0, 40.0), (260.0, 40.0)
    vis = np.ones(33)
    lm = Landmarks(xy[None].astype(np.float32), vis[None].astype(np.float32), (640, 480))
    legs = measure_legs(lm, correct_view=False)
    return FrameRecord(i, i / FPS, 1, legs, xy.astype(np.float32), vis.astype(np.float32))


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
