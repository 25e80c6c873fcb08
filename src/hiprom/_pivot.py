"""Clip-level leg geometry with a fixed goniometer fulcrum (pure numpy).

A goniometer's axis stays on the knee while the moving arm follows the ankle. The pose
model's knee landmark does not: on rendered clips with known angles it slides toward the
foot as the shank rotates (about 15 % of the shank length at 38°, so the knee→ankle
angle under-reads by 2–4°), while the ankle landmark stays within about 1 px of the truth.
The model's hip landmarks also shift by 1.5–2.5° of hip-line angle when one leg rotates,
with no real pelvic motion. So once the neutral pose is known, each frame is measured
from the *neutral* knee position to the current ankle, against the *neutral* hip line,
with the camera view estimated from the neutral thigh. Real pelvic roll is still watched
(the ``pelvis_roll`` flag) and subtracted from the reps it flags.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hiprom.geometry import LegMeasurement, Side, measure_legs
from hiprom.landmarks import LandmarkName as L
from hiprom.landmarks import Landmarks

__all__ = ["pivot_rotation_series"]

_POINTS = {"left": (L.LEFT_HIP, L.LEFT_KNEE, L.LEFT_ANKLE),
           "right": (L.RIGHT_HIP, L.RIGHT_KNEE, L.RIGHT_ANKLE)}


def _median_xy(values: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    return np.nanmedian(np.array(values, np.float64), axis=0)


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
        ``(n,)`` degrees, + = internal, NaN where the leg was not measurable. Like the
        per-frame angle, it is absolute; the protocol subtracts the neutral value.
    """
    still = [m for m in legs[neutral] if m is not None]
    out = np.full(len(legs), np.nan)
    if not still:
        return out
    correct_view = correct_view and min(resolution_wh) > 0
    knee0 = _median_xy([m.leg(side).knee_xy for m in still])
    hips0 = {s: _median_xy([m.leg(s).hip_xy for m in still]) for s in ("left", "right")}
    for i, m in enumerate(legs):
        if m is None or not np.isfinite(m.leg(side).rotation_deg):
            continue
        xy = np.full((33, 2), np.nan)
        vis = np.zeros(33)
        for s in ("left", "right"):
            hip, knee, ankle = _POINTS[s]
            pose = m.leg(s)
            xy[hip], xy[knee], xy[ankle] = hips0[s], pose.knee_xy, pose.ankle_xy
            vis[[hip, knee, ankle]] = 1.0, pose.visibility, pose.visibility
        xy[_POINTS[side][1]] = knee0
        xy[[L.LEFT_SHOULDER, L.RIGHT_SHOULDER]] = shoulders_xy[i]
        vis[[L.LEFT_SHOULDER, L.RIGHT_SHOULDER]] = 1.0
        frame = Landmarks(xy[None], vis[None], resolution_wh)
        measured = measure_legs(frame, correct_view=correct_view, min_visibility=min_visibility)
        out[i] = measured.leg(side).rotation_deg
    return out
