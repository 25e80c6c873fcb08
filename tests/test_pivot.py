"""hiprom.core.pivot: the knee-drift estimate tells a drifting thigh from the landmark's slide."""

from __future__ import annotations

import numpy as np
import pytest

from hiprom.core.pivot import KNEE_SLIDE_PERP_PER_DEG, knee_shift_px

SHANK = 300.0
KNEE0 = np.array([500.0, 400.0])


def leg(theta_deg: float, lateral: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ankle, unit shank direction and unit lateral normal for a shank turned by theta."""
    t = np.radians(theta_deg)
    u = np.array([lateral * np.sin(t), np.cos(t)])
    normal = np.array([u[1], -u[0]])
    normal = normal if normal[0] * lateral > 0 else -normal
    return KNEE0 + SHANK * u, u, normal


@pytest.mark.parametrize("lateral", [1.0, -1.0])
@pytest.mark.parametrize("theta", [-35.0, 0.0, 20.0, 45.0])
def test_the_usual_slide_is_not_drift(lateral, theta):
    ankle, u, normal = leg(theta, lateral)
    # The landmark slides toward the foot along the shank and, by the measured amount,
    # toward the side the foot turned to.
    knee = KNEE0 + 0.2 * SHANK * u + KNEE_SLIDE_PERP_PER_DEG * theta * SHANK * normal
    assert knee_shift_px(knee, ankle, KNEE0, SHANK, theta, lateral) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("lateral", [1.0, -1.0])
@pytest.mark.parametrize(("theta", "drift_px"), [(30.0, 40.0), (30.0, -40.0), (-25.0, 35.0)])
def test_a_sideways_knee_is_drift_in_its_own_direction(lateral, theta, drift_px):
    ankle, u, normal = leg(theta, lateral)
    slide = 0.15 * SHANK * u + KNEE_SLIDE_PERP_PER_DEG * theta * SHANK * normal
    # + = toward the leg's lateral side (image +x for the left leg, -x for the right).
    knee = KNEE0 + slide + np.array([lateral * drift_px, 0.0])
    shift = knee_shift_px(knee, ankle, KNEE0, SHANK, theta, lateral)
    assert shift == pytest.approx(drift_px * np.cos(np.radians(theta)), rel=1e-9)


def test_unusable_points_give_no_shift():
    ankle, _, _ = leg(30.0, 1.0)
    assert knee_shift_px(np.array([np.nan, 1.0]), ankle, KNEE0, SHANK, 30.0, 1.0) == 0.0
    assert knee_shift_px(KNEE0 + 5, KNEE0, KNEE0, SHANK, 30.0, 1.0) == 0.0
