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

Knee drift (the thigh moving sideways during a hold) is watched through the knee landmark's
movement perpendicular to the current shank: the landmark's slide runs mostly along the
shank, and its sideways part grows steadily with the rotation (measured on clean rendered
reps, :data:`KNEE_SLIDE_PERP_PER_DEG`), so what remains after removing it is drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hiprom.core.calibration import KNEE_SLIDE_PER_DEG_BY_MODEL, PIVOT_GAP_BASE_BY_MODEL
from hiprom.core.geometry import (
    HIP_CENTRE_BELOW_LANDMARK,
    LegMeasurement,
    hip_joint_centres,
    measure_leg,
    pelvis_down,
    view_model,
)
from hiprom.vocabulary import LATERAL_SIGN, MIN_VISIBILITY, OTHER_SIDE, SIDES, Side

__all__ = [
    "KNEE_SLIDE_PERP_PER_DEG", "PIVOT_GAP_BASE_DEG", "PIVOT_GAP_PER_DEG", "PivotSeries",
    "knee_shift_px", "pivot_disagreement", "pivot_rotation_series",
]

#: How far the model's knee landmark moves perpendicular to the shank, toward the side the
#: foot turns to, per degree of rotation, in shank lengths: the full network's
#: (each network's: :data:`hiprom.core.calibration.KNEE_SLIDE_PER_DEG_BY_MODEL`).
KNEE_SLIDE_PERP_PER_DEG = KNEE_SLIDE_PER_DEG_BY_MODEL["full"]


def _median_xy(values: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    return np.nanmedian(np.array(values, np.float64), axis=0)


@dataclass(frozen=True)
class PivotSeries:
    """One leg measured about its neutral knee.

    Attributes:
        rotation_deg: ``(n,)`` hip rotation, + = internal, NaN where not measurable.
        knee_x_px: ``(n,)`` the neutral knee x plus the knee's sideways movement that the
            landmark's slide does not explain (:func:`knee_shift_px`), pixels.
        knee_xy: ``(2,)`` the fulcrum (neutral knee), pixels.
        down_xy: ``(2,)`` unit vector of the reference vertical (perpendicular of the
            neutral pelvis line, pointing down), pixels.
        rest_deg: the median of ``rotation_deg`` over the neutral frames (0 when none is
            measurable): the reading's own zero.

    """

    rotation_deg: npt.NDArray[np.float64]
    knee_x_px: npt.NDArray[np.float64]
    knee_xy: npt.NDArray[np.float64] | None = None
    down_xy: npt.NDArray[np.float64] | None = None
    rest_deg: float = 0.0


def knee_shift_px(knee: npt.NDArray[np.float64], ankle: npt.NDArray[np.float64],
                  knee0: npt.NDArray[np.float64], shank0_px: float, rotation_deg: float,
                  lateral: float, slide_per_deg: float = KNEE_SLIDE_PERP_PER_DEG) -> float:
    """Sideways knee movement (px, + lateral) that the landmark's slide does not explain.

    The knee landmark's move from the neutral knee ``knee0`` is taken perpendicular to the
    current shank (``knee0`` → ``ankle``), where a drifting thigh carries the knee and the
    landmark's slide along the shank does not reach; the slide's steady sideways part,
    ``slide_per_deg`` × ``rotation_deg`` (from neutral, + = internal) shank lengths toward
    the foot's side, is removed. ``lateral`` is +1 for the left leg (its
    lateral side is image +x), −1 for the right.
    """
    shank = ankle - knee0
    norm = float(np.hypot(*shank))
    if not (np.isfinite(norm) and norm > 0 and np.all(np.isfinite(knee))
            and np.isfinite(rotation_deg)):
        return 0.0
    normal = np.array([shank[1], -shank[0]]) / norm
    normal = normal if normal[0] * lateral > 0 else -normal
    return float((knee - knee0) @ normal) - slide_per_deg * rotation_deg * shank0_px


def pivot_rotation_series(
    legs: Sequence[LegMeasurement | None],
    side: Side,
    neutral: slice,
    *,
    resolution_wh: tuple[int, int],
    correct_view: bool = True,
    min_visibility: float = MIN_VISIBILITY,
    hip_offset: float = HIP_CENTRE_BELOW_LANDMARK,
    knee_slide_per_deg: float = KNEE_SLIDE_PERP_PER_DEG,
) -> PivotSeries:
    """Hip rotation of one leg in every frame, measured about the neutral knee.

    A pure function of the per-frame points: each frame's angle is
    :func:`~hiprom.core.geometry.measure_leg` of the neutral hips, the neutral knee and the
    frame's ankle, with the same camera model as the per-frame angle.

    Args:
        legs: per-frame measurements from :func:`hiprom.core.geometry.measure_legs` (None
            where nobody was found); their points are already in anatomical sides.
        side: the leg to measure.
        neutral: the frames of the leg's neutral hold.
        resolution_wh: frame size, for the camera model.
        correct_view: undo camera pitch/yaw (see :func:`hiprom.core.geometry.measure_legs`).
        min_visibility: knee/ankle visibility below this gives NaN.
        hip_offset: hip joint centre below the hip landmark, in shank lengths.
        knee_slide_per_deg: the knee landmark's steady sideways slide (:func:`knee_shift_px`).

    Returns:
        A :class:`PivotSeries`. Like the per-frame angle, the rotation is absolute; the
        protocol subtracts the neutral value.

    """
    still = [m for m in legs[neutral] if m is not None]
    out = np.full(len(legs), np.nan)
    if not still:
        return PivotSeries(out, np.full(len(legs), np.nan))
    knee0 = _median_xy([m.leg(side).knee_xy for m in still])
    ankle0 = _median_xy([m.leg(side).ankle_xy for m in still])
    hips0 = np.array([_median_xy([m.leg(s).hip_xy for m in still]) for s in SIDES])
    view = view_model(resolution_wh, correct_view=correct_view)
    other = OTHER_SIDE[side]
    for i, m in enumerate(legs):
        if m is None or not np.isfinite(m.leg(side).rotation_deg):
            continue
        pose, rest_leg = m.leg(side), m.leg(other)
        shanks = [float(np.hypot(*(pose.ankle_xy - knee0))),
                  float(np.hypot(*(rest_leg.ankle_xy - rest_leg.knee_xy)))]
        finite = [v for v in shanks if np.isfinite(v)]
        centres = hip_joint_centres(hips0, float(np.mean(finite)) if finite else np.nan,
                                    hip_offset)
        joints = np.array([hips0[SIDES.index(side)], knee0, pose.ankle_xy])
        vis = np.array([1.0, pose.visibility, pose.visibility])
        out[i] = measure_leg(side, joints, vis, hips0, centres, view,
                             min_visibility=min_visibility).rotation_deg
    shank0 = float(np.hypot(*(ankle0 - knee0)))
    rest = float(np.nanmedian(out[neutral])) if np.isfinite(out[neutral]).any() else 0.0
    lateral = LATERAL_SIGN[side]
    knee_x = np.full(len(legs), knee0[0])
    for i, m in enumerate(legs):
        if m is not None and np.isfinite(out[i]):
            knee_x[i] += lateral * knee_shift_px(m.leg(side).knee_xy, m.leg(side).ankle_xy,
                                                 knee0, shank0, out[i] - rest, lateral,
                                                 knee_slide_per_deg)
    return PivotSeries(out, knee_x, knee0, pelvis_down(hips0[0], hips0[1]), rest)


#: How far the pivot reading may differ from the direct knee→ankle reading before its
#: assumption (the knee landmark stays where it was at neutral, apart from its usual slide)
#: is taken to have failed: ``PIVOT_GAP_BASE_DEG + PIVOT_GAP_PER_DEG × |direct|``. On the
#: 21 clean moving legs of the rendered validation set the two differed by at most 4.7°
#: (the pivot's whole point: the direct reading under-reads by 2–4° as the knee landmark
#: slides), which the limit clears at every angle; a pelvis-roll rep differed by 10.4° and a
#: low-contrast clip in which the knee landmark sat elsewhere at neutral by 29°. The full
#: network's base; each network's is fitted on the renders
#: (:data:`hiprom.core.calibration.PIVOT_GAP_BASE_BY_MODEL`).
PIVOT_GAP_BASE_DEG = PIVOT_GAP_BASE_BY_MODEL["full"]
PIVOT_GAP_PER_DEG = 0.1


def pivot_disagreement(direct_deg: npt.NDArray[np.float64], pivot_deg: npt.NDArray[np.float64],
                       other_deg: npt.NDArray[np.float64], *,
                       moving_deg: float = 8.0,
                       base_deg: float = PIVOT_GAP_BASE_DEG) -> tuple[float, float]:
    """How far the pivot reading strays from the direct one while this leg moves.

    Args:
        direct_deg: ``(n,)`` the leg's per-frame angle from its own knee, vs its neutral.
        pivot_deg: ``(n,)`` the same leg measured about the neutral knee, vs its neutral.
        other_deg: ``(n,)`` the other leg's per-frame angle vs its neutral (frames in which
            it moves more than this leg are not compared: they shift this leg's landmarks).
        moving_deg: frames with ``|direct_deg|`` below this are not compared.
        base_deg: the allowed gap at 0° (the pose network's:
            :func:`hiprom.core.calibration.terms_for`).

    Returns:
        ``(excess_deg, gap_deg)``: the largest median gap over the two directions of
        movement, and by how much it exceeds the allowed gap at that direction's median
        angle (``≤ 0``: the pivot is trusted). ``(nan, nan)`` when the leg never moves.

    """
    direct = np.asarray(direct_deg, np.float64)
    pivot = np.asarray(pivot_deg, np.float64)
    other = np.abs(np.asarray(other_deg, np.float64))
    with np.errstate(invalid="ignore"):
        usable = (np.isfinite(direct) & np.isfinite(pivot) & (np.abs(direct) >= moving_deg)
                  & ~(other > np.abs(direct)))
    worst = (float("nan"), float("nan"))
    for sign in (1.0, -1.0):
        sel = usable & (np.sign(direct) == sign)
        if sel.sum() < 3:
            continue
        gap = float(np.median(np.abs(pivot[sel] - direct[sel])))
        allowed = base_deg + PIVOT_GAP_PER_DEG * float(np.median(np.abs(direct[sel])))
        if not np.isfinite(worst[0]) or gap - allowed > worst[0]:
            worst = (gap - allowed, gap)
    return worst
