"""Per-frame records → per-leg results: the one summary that every entry point runs.

``measure`` (clips), ``batch``, ``live`` (each rep as it ends and the saved session) and the
Python API call :func:`summarise_records`; nothing else turns frames into end ranges. Per
leg, in this order and once each:

1. the leg's series of per-frame angles (:func:`hiprom.core.protocol.build_leg_series`);
2. its neutral: its own earliest still period near vertical
   (:func:`hiprom.core.protocol.find_neutral`), whatever the other leg does;
3. with a neutral, the series measured again about the neutral knee and pelvis
   (:func:`hiprom.core.pivot.pivot_rotation_series`), a pure function of the points —
   unless that reading strays from the leg's own knee→ankle reading by more than the
   pivot's usual correction (:func:`hiprom.core.pivot.pivot_disagreement`: the knee
   landmark was elsewhere at neutral than during the movement); then the leg keeps its
   direct reading, is flagged ``pivot_rejected`` and its interval widens by
   :data:`~hiprom.core.calibration.PIVOT_FALLBACK_SD_BY_MODEL`;
4. frames in which the other leg swings further than this one left out;
5. the protocol (:func:`hiprom.core.protocol.summarise_leg`), once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from hiprom.core.calibration import NetworkTerms, terms_for
from hiprom.core.geometry import LegMeasurement
from hiprom.core.holds import Hold
from hiprom.core.pivot import pivot_disagreement, pivot_rotation_series
from hiprom.core.protocol import (
    CompensationLimits,
    LegResult,
    LegSeries,
    build_leg_series,
    find_neutral,
    summarise_leg,
)
from hiprom.pipeline.analysis import FrameRecord, MeasureOptions
from hiprom.vocabulary import OTHER_SIDE, SIDES, Side

__all__ = ["STEEP_VIEW_DEG", "Excluded", "LegsSummary", "compensation_limits", "leg_view_deg",
           "summarise_records"]

def compensation_limits(model: str, *, pivot: bool) -> CompensationLimits:
    """The compensation limits of a leg for pose network ``model``.

    With the fixed fulcrum (``pivot``), knee drift is the knee landmark's sideways move
    beyond its usual slide (:func:`hiprom.core.pivot.knee_shift_px`); a leg measured from
    its own knee landmark is checked on the landmark's raw move. Each has its own limit,
    and the pelvis-roll limit grows with ER at the network's rate
    (:func:`hiprom.core.calibration.terms_for`).
    """
    terms = terms_for(model)
    knee = terms.knee_drift_limit if pivot else terms.knee_drift_direct_limit
    return CompensationLimits(knee_drift_shank_fraction=knee,
                              pelvis_roll_per_er_deg=terms.pelvis_roll_per_er_deg)


#: A leg counts as moving once it is this far from its neutral pose.
MOVING_DEG = 8.0


@dataclass(frozen=True)
class LegsSummary:
    """What :func:`summarise_records` found.

    Attributes:
        legs: the protocol result per anatomical side.
        rotation_deg: per side ``(n,)`` rotation relative to the leg's neutral (0 when it
            has none), NaN where not measured or left out.
        fulcrum: per side measured about a fixed knee, ``(knee_xy, down_xy)`` in pixels.

    """

    legs: dict[str, LegResult]
    rotation_deg: dict[str, npt.NDArray[np.float64]]
    fulcrum: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]


def _while_other_leg_moves(series: LegSeries, mine_deg: float, other: LegSeries,
                           other_deg: float) -> LegSeries:
    """``series`` without the frames in which the other leg swings further than this one.

    The test moves one leg at a time. When the other foot swings (above all inward, in
    external rotation, across the resting shank), the pose model shifts the resting leg's
    knee and ankle, which would read as a rotation of its own. Those frames are left out.
    """
    mine = np.abs(series.rotation_deg - mine_deg)
    theirs = np.abs(other.rotation_deg - other_deg)
    return _leave_out(series, (theirs > MOVING_DEG) & (theirs > mine))


def _leave_out(series: LegSeries, drop: npt.NDArray[np.bool_]) -> LegSeries:
    """``series`` with the ``drop`` frames left out on purpose (NaN, and marked so)."""
    if not drop.any():
        return series
    before = series.left_out if series.left_out is not None else np.zeros_like(drop)
    return replace(series, rotation_deg=np.where(drop, np.nan, series.rotation_deg),
                   left_out=before | drop)


#: A span of a session left out of a leg: (side, or None for both legs; start_s; end_s).
Excluded = tuple[str | None, float, float]


def _rest_deg(series: LegSeries, neutral: Hold | None) -> float:
    """Where the leg rests: its neutral, or without one its median angle over the clip.

    Only for telling when a leg moves (the other leg's frames to leave out, the pivot's
    check); a leg without a neutral is still reported as an absolute angle. A resting leg
    that hangs rotated all clip long (people rarely hang both shins vertical) has no
    neutral, and measured from 0° it would look as if it swung the whole time.
    """
    if neutral is not None:
        return neutral.value_deg
    values = series.rotation_deg[np.isfinite(series.rotation_deg)]
    return float(np.median(values)) if values.size else 0.0


#: A measured leg seen from at least this far off square (above, below or aside, as the view
#: correction estimates it from the thigh) is flagged ``steep_view``: its interval is wider
#: (:meth:`hiprom.core.calibration.NetworkTerms.clip_systematic_sd`) and a camera at knee
#: height, straight on, would narrow it. The 15–25° band is where the accuracy target allows
#: 1° of extra error; 20° is its middle.
STEEP_VIEW_DEG = 20.0


def leg_view_deg(frame_legs: Sequence[LegMeasurement | None], side: Side) -> float:
    """The camera's angle to the leg's thigh over a clip, degrees.

    The view correction's pitch and yaw, each the median over the frames that estimated it,
    combined; NaN if never estimated.
    """
    pitch = [m.leg(side).view_pitch_deg for m in frame_legs if m is not None]
    yaw = [m.leg(side).view_yaw_deg for m in frame_legs if m is not None]
    p = np.asarray(pitch, np.float64)
    y = np.asarray(yaw, np.float64)
    if not (np.isfinite(p).any() and np.isfinite(y).any()):
        return float("nan")
    return float(np.hypot(np.nanmedian(p), np.nanmedian(y)))


def _systematic_sd(terms: NetworkTerms, pivot_rejected: bool, view_deg: float) -> float:
    """The interval's systematic SD for a network's ``terms`` and a leg seen at ``view_deg``.

    Wider when the leg's pivot was rejected.
    """
    sd = terms.clip_systematic_sd(view_deg)
    if not pivot_rejected:
        return sd
    return float(np.hypot(sd, terms.pivot_fallback_sd_deg))


def _excluded(t: npt.NDArray[np.float64], side: str,
              exclude: Sequence[Excluded]) -> npt.NDArray[np.bool_]:
    drop = np.zeros(t.shape, bool)
    for who, start, end in exclude:
        if who is None or who == side:
            drop |= (t >= start) & (t <= end)
    return drop


def summarise_records(records: Sequence[FrameRecord], *, resolution_wh: tuple[int, int],
                      options: MeasureOptions = MeasureOptions(),
                      exclude: Sequence[Excluded] = ()) -> LegsSummary:
    """Summarise a clip's (or a live session's) records into both legs' results.

    Args:
        records: the analysed frames, in time order.
        resolution_wh: frame size, for the camera model of the pivot.
        options: ``pivot``, ``correct_view`` and ``min_visibility`` are read here.
        exclude: spans left out of a leg on purpose (a live session's set-up before the
            test, a rep the person was asked to redo); they do not count as missed frames.

    """
    t = np.array([r.timestamp_s for r in records], np.float64)
    frame_legs = [r.legs for r in records]
    dropped = {side: _excluded(t, side, exclude) for side in SIDES}
    series = {side: _leave_out(build_leg_series(t, frame_legs, side), dropped[side])
              for side in SIDES}
    neutral = {side: find_neutral(series[side]) for side in SIDES}
    fulcrum: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {}
    direct = {side: series[side].rotation_deg - _rest_deg(series[side], neutral[side])
              for side in SIDES}
    terms = terms_for(options.model)
    rejected: set[str] = set()
    for side in SIDES:
        hold = neutral[side]
        if not options.pivot or hold is None:
            continue
        fixed = pivot_rotation_series(
            frame_legs, side, slice(hold.start_index, hold.end_index + 1),
            resolution_wh=resolution_wh, correct_view=options.correct_view,
            min_visibility=options.min_visibility, hip_offset=options.hip_centre_offset,
            knee_slide_per_deg=terms.knee_slide_per_deg)
        excess, _ = pivot_disagreement(direct[side], fixed.rotation_deg - fixed.rest_deg,
                                       direct[OTHER_SIDE[side]],
                                       base_deg=options.pivot_gap_base_deg)
        if excess > 0:
            rejected.add(side)
            continue
        series[side] = replace(
            series[side], knee_x_px=fixed.knee_x_px, pelvis_static=True,
            rotation_deg=np.where(dropped[side], np.nan, fixed.rotation_deg))
        neutral[side] = find_neutral(series[side]) or hold
        if fixed.knee_xy is not None and fixed.down_xy is not None:
            fulcrum[side] = (fixed.knee_xy, fixed.down_xy)
    zero = {side: _rest_deg(series[side], neutral[side]) for side in SIDES}
    # The other leg's swing is judged from where it usually is (its median): a resting leg
    # dragged by the tested leg's ER can hold still near vertical for a second and pass
    # for a neutral, from which its usual rotated posture would look like a swing.
    usual = {side: _rest_deg(series[side], None) for side in SIDES}
    masked = {side: _while_other_leg_moves(series[side], zero[side], series[OTHER_SIDE[side]],
                                           usual[OTHER_SIDE[side]]) for side in SIDES}
    view = {side: leg_view_deg(frame_legs, side) for side in SIDES}
    legs: dict[str, LegResult] = {side: summarise_leg(
        masked[side], systematic_sd_deg=_systematic_sd(terms, side in rejected, view[side]),
        limits=compensation_limits(options.model, pivot=masked[side].pelvis_static),
        neutral=neutral[side], no_neutral_sd_deg=terms.no_neutral_sd_deg) for side in SIDES}
    for side in SIDES:
        extra = {"pivot_rejected"} if side in rejected else set()
        if legs[side].measured and abs(view[side]) >= STEEP_VIEW_DEG:  # NaN: no estimate
            extra.add("steep_view")
        if extra:
            legs[side] = replace(legs[side], quality=tuple(sorted({*legs[side].quality, *extra})))
    rotation: dict[str, npt.NDArray[np.float64]] = {
        side: masked[side].rotation_deg - (legs[side].neutral_deg or 0.0) for side in SIDES}
    return LegsSummary(legs, rotation, fulcrum)
