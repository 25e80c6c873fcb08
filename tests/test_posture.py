"""The seated-test check's features (hiprom.core.posture) on constructed points."""

from __future__ import annotations

import numpy as np
import pytest

from builders import BODY, landmarks, seated_xy
from hiprom.core.geometry import measure_legs
from hiprom.core.landmarks import LandmarkName as L
from hiprom.core.posture import FEATURES, LIMITS, check_seated_test, posture_features


def _features(xy: np.ndarray) -> dict[str, float]:
    legs = measure_legs(landmarks(xy), correct_view=False)
    return dict(zip(FEATURES, posture_features(legs), strict=True))


def test_knee_drop_reads_the_higher_knee():
    """A rotated leg's knee landmark slides down its shank; the other knee gives the drop."""
    xy = seated_xy(0.0, 0.0)
    level = _features(xy)["knee_drop"]
    slid = xy.copy()
    slide = 0.2 * BODY.shank
    slid[L.LEFT_KNEE, 1] += slide  # the left knee landmark slides toward the ankle
    shanks = [BODY.shank - slide, BODY.shank]
    expected = level * BODY.shank / np.mean(shanks)  # the right knee, over the mean shank
    # Averaged over both knees it would read half the slide more: 0.11 shank lengths here.
    assert _features(slid)["knee_drop"] == pytest.approx(expected, rel=1e-6)


def test_both_knees_low_is_refused_as_not_the_test():
    """Standing: both knees a whole thigh below the hips, so the higher one is low too."""
    xy = seated_xy(0.0, 0.0)
    for hip in (L.LEFT_HIP, L.RIGHT_HIP):
        xy[hip, 1] -= BODY.shank  # the hips a shank length higher: knees far below
    legs = measure_legs(landmarks(xy), correct_view=False)
    check = check_seated_test([legs] * 5)
    assert check.features["knee_drop"] > LIMITS.max_knee_drop
    assert not check.valid and check.reason
