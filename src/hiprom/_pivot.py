"""Clip-level leg geometry with a fixed goniometer fulcrum (pure numpy).

A goniometer's axis stays on the knee while the moving arm follows the ankle. The pose
model's knee landmark does not: on rendered clips with known angles it slides toward the
foot as the shank rotates (about 15 % of the shank length at 38°, so the knee→ankle
angle under-reads by 2–4°), while the ankle landmark stays within about 1 px of the truth.
The model's hip landmarks also shift by 1.5–2.5° of hip-line angle when one leg rotates,
with no real pelvic motion. So once the neutral pose is known, each frame is measured
from the *neutral* knee position to the current ankle, against the *neutral* hip line,
with the camera view estimated from the neutral thigh. Pelvic roll is still watched: a rep
in which the hip line turns by more than the protocol allows is flagged ``pelvis_roll``
and left out when clean reps exist, as the clinical protocol rejects such reps. It is not
subtracted: on rendered clips the model's own hip-line shift reaches 5° during a large
rotation with a still pelvis, so subtracting it made clean reps worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hiprom.geometry import (
    LegMeasurement,
    Side,
    estimate_leg_directions,
    hip_joint_centres,
    measure_legs,
)
from hiprom.landmarks import LandmarkName as L
from hiprom.landmarks import Landmarks

__all__ = ["PivotSeries", "pivot_rotation_series"]

#: Field of view assumed by :func:`hiprom.geometry.measure_legs` (its default).
ASSUMED_HFOV_DEG = 65.0
#: Below this rotation the knee's sideways drift cannot be told from the ankle's path.
_MIN_DRIFT_ANGLE_DEG = 10.0

_POINTS = {"left": (L.LEFT_HIP, L.LEFT_KNEE, L.LEFT_ANKLE),
           "right": (L.RIGHT_HIP, L.RIGHT_KNEE, L.RIGHT_ANKLE)}


def _median_xy(values: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    return np.nanmedian(np.array(values, np.float64), axis=0)


@dataclass(frozen=True)
class PivotSeries:
    """One leg measured about its neutral knee.

    Attributes:
        rotation_deg: ``(n,)`` hip rotation, + = internal, NaN where not measurable.
        knee_x_px: ``(n,)`` the knee's x estimated from the ankle's path: the neutral knee x
            plus the sideways drift that explains how far the ankle left its circle about
            the neutral knee (see :func:`_drift_px`); the neutral x where the leg is within
            10° of neutral (drift is not observable there).
        knee_xy: ``(2,)`` the fulcrum (neutral knee), pixels.
        down_xy: ``(2,)`` unit vector of the reference vertical (perpendicular of the
            neutral pelvis line, pointing down), pixels.

    """

    rotation_deg: npt.NDArray[np.float64]
    knee_x_px: npt.NDArray[np.float64]
    knee_xy: npt.NDArray[np.float64] | None = None
    down_xy: npt.NDArray[np.float64] | None = None


def _drift_px(ankle: npt.NDArray[np.float64], knee0: npt.NDArray[np.float64],
              shank0_px: float, rotation_deg: float, view: tuple | None, lateral: float) -> float:
    """Sideways knee drift (px, + lateral) that moves the ankle off its circle.

    Rotation about the femur keeps the ankle on a circle about the knee (an ellipse of known
    shape under camera pitch/yaw, from the neutral femur and shank directions ``view``). A
    knee that drifts sideways by d carries the ankle along, which changes its distance from
    the neutral knee by about d·sin θ.
    """
    theta = np.radians(rotation_deg)
    if not np.isfinite(theta) or abs(rotation_deg) < _MIN_DRIFT_ANGLE_DEG:
        return 0.0
    ratio = 1.0
    if view is not None:
        femur, down = view
        side = np.cross(femur, down)
        side = side * np.sign(side[0] * lateral or 1.0) / np.linalg.norm(side)
        shank = np.cos(theta) * down + np.sin(theta) * side
        ratio = float(np.hypot(*shank[:2]) / np.hypot(*down[:2]))
    radius = float(np.hypot(*(ankle - knee0)))
    return (radius - shank0_px * ratio) / abs(np.sin(theta))


def pivot_rotation_series(
    legs: Sequence[LegMeasurement | None],
    shoulders_xy: npt.NDArray[np.float64],
    side: Side,
    neutral: slice,
    *,
    resolution_wh: tuple[int, int],
    correct_view: bool = True,
    min_visibility: float = 0.5,
) -> npt.NDArray[np.float64]:
    """Hip rotation of one leg in every frame, measured about the neutral knee.

    Args:
        legs: per-frame measurements from :func:`hiprom.geometry.measure_legs` (None where
            nobody was found); their points are already in anatomical sides.
        shoulders_xy: ``(n, 2, 2)`` left/right shoulder pixels per frame (for the body axis).
        side: the leg to measure.
        neutral: the frames of the neutral hold.
        resolution_wh: frame size, for the camera model.
        correct_view: undo camera pitch/yaw (see :func:`hiprom.geometry.measure_legs`).
        min_visibility: knee/ankle visibility below this gives NaN.

    Returns:
        A :class:`PivotSeries`. Like the per-frame angle, the rotation is absolute; the
        protocol subtracts the neutral value.

    """
    still = [m for m in legs[neutral] if m is not None]
    out = np.full(len(legs), np.nan)
    if not still:
        return PivotSeries(out, np.full(len(legs), np.nan))
    correct_view = correct_view and min(resolution_wh) > 0
    knee0 = _median_xy([m.leg(side).knee_xy for m in still])
    ankle0 = _median_xy([m.leg(side).ankle_xy for m in still])
    hips0 = {s: _median_xy([m.leg(s).hip_xy for m in still]) for s in ("left", "right")}
    shank0 = float(np.hypot(*(ankle0 - knee0)))
    centres0 = hip_joint_centres(np.array([hips0["left"], hips0["right"]]), shank0)
    centre0 = centres0[0] if side == "left" else centres0[1]
    view = _neutral_view(centre0, knee0, ankle0, resolution_wh) if correct_view else None
    lateral = 1.0 if side == "left" else -1.0
    knee_x = np.full(len(legs), knee0[0])
    for i, m in enumerate(legs):
        if m is None or not np.isfinite(m.leg(side).rotation_deg):
            continue
        xy = np.full((33, 2), np.nan)
        vis = np.zeros(33)
        for s in ("left", "right"):
            hip, knee, ankle = _POINTS[s]
            pose = m.leg(s)
            xy[hip], xy[knee], xy[ankle] = hips0[s], pose.knee_xy, pose.ankle_xy
            # Only this side is read back: the other one is placed (sides and joint
            # centres depend on it) but left invisible, which skips its view solve.
            vis[[hip, knee, ankle]] = (1.0, pose.visibility, pose.visibility) if s == side else 0.0
        xy[_POINTS[side][1]] = knee0
        xy[[L.LEFT_SHOULDER, L.RIGHT_SHOULDER]] = shoulders_xy[i]
        vis[[L.LEFT_SHOULDER, L.RIGHT_SHOULDER]] = 1.0
        frame = Landmarks(xy[None], vis[None], resolution_wh)
        measured = measure_legs(frame, correct_view=correct_view, min_visibility=min_visibility)
        out[i] = measured.leg(side).rotation_deg
        from_neutral = out[i] - (float(np.nanmedian(out[neutral]))
                                 if np.isfinite(out[neutral]).any() else 0.0)
        knee_x[i] = knee0[0] + lateral * _drift_px(
            m.leg(side).ankle_xy, knee0, shank0, from_neutral, view, lateral)
    line = hips0["left"] - hips0["right"]
    down = np.array([-line[1], line[0]]) / max(float(np.hypot(*line)), 1e-9)
    return PivotSeries(out, knee_x, knee0, down if down[1] >= 0 else -down)


def _neutral_view(hip: npt.NDArray[np.float64], knee: npt.NDArray[np.float64],
                  ankle: npt.NDArray[np.float64], resolution_wh: tuple[int, int]) -> tuple | None:
    """Femur and neutral shank unit vectors (camera frame) from the neutral pose, or None."""
    width, height = resolution_wh
    focal = width / 2 / np.tan(np.radians(ASSUMED_HFOV_DEG) / 2)
    if not (np.all(np.isfinite(hip)) and np.all(np.isfinite(knee)) and np.all(np.isfinite(ankle))):
        return None
    return estimate_leg_directions(hip, knee, ankle, focal_px=focal,
                                   principal_xy=(width / 2, height / 2))
