"""Is this the seated test? A check of posture and view from the legs' points (pure numpy).

The test needs one person facing the camera, seated with the thighs roughly horizontal and
toward the camera, knees bent near 90° and the shanks hanging, both knees and ankles in
view, and the camera in front. In the image that gives, per frame (lengths in units of the
image shank length, knee → ankle):

* ``thigh``: hip → knee length. The thigh points at the camera, so it is foreshortened
  (short); standing, walking or sitting with the legs stretched forward it is not.
* ``knee_drop``: how far the higher knee lies below the hips. Seated on a plinth the knees
  sit at about hip height; standing they lie a whole thigh below; sitting on the floor with
  the knees up they lie above the hips. The higher of the two knees is read because the
  model's knee landmark slides down the shank of a leg that rotates far (photos of 53–56°
  rotation from 22–25° above read 0.80 and 0.75 averaged over both knees, 0.75 and 0.70
  from the higher one); standing, both knees lie low.
* ``hang``: the shank's direction against the pelvis's downward perpendicular, as a cosine:
  1 when the shank hangs straight down.
* ``hip_width``: the distance between the hips; seen from the side the hips overlap.
* ``thigh_across``: the part of the hip → knee line across the pelvis's downward direction.
  A thigh that points at the camera shows, however high the camera, as a short line going
  down the picture; a thigh seen from the side, stretched forward on the floor, or splayed
  sitting on the floor lies across it. Unlike ``thigh`` it does not grow when the camera
  looks down on the knees.

:func:`check_seated_test` takes the median of each over the frames with both legs visible
and compares them with :data:`LIMITS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from hiprom.core.geometry import LegMeasurement, pelvis_down
from hiprom.vocabulary import MIN_VISIBILITY, SIDES

__all__ = [
    "LIMITS", "LIMITS_BY_MODEL", "PostureCheck", "PostureLimits", "camera_advice",
    "check_seated_test", "light_advice", "light_problem", "limits_for", "posture_features",
    "posture_verdict",
]

FloatArray = npt.NDArray[np.float64]
FEATURES = ("thigh", "knee_drop", "hang", "hip_width", "thigh_across")


@dataclass(frozen=True)
class PostureLimits:
    """Where the seated test's posture and view end (image shank lengths; cosines).

    Fitted per pose network by ``benchmarks/protocol_check.py`` (``make protocol-check``)
    on the fit part of the renders only: the seated tests of validation and validation2's
    fit part, and the postures set's non-test postures (side views, legs stretched forward,
    standing, floor sitting). Each non-test posture is given to the feature that separates
    it most clearly from the tests, and each bound sits in the middle of the gap between
    the tests and the nearest posture it must refuse. Checked, not fitted, on the held-out
    renders and on real footage (docs/ACCURACY.md, "Seated-test check"). The defaults are
    the full network's; :data:`LIMITS_BY_MODEL` has each network's. ``max_thigh`` and
    ``max_hip_width`` are loose guards, not fitted: the thigh's length grows with the
    camera's height (``thigh_across`` does its work), and the hip width over the shank
    length varies with body proportions (0.34–0.50 over the 13 fit bodies; more in people
    with wide hips or short shanks than the renders hold).
    """

    max_thigh: float = 0.90
    min_knee_drop: float = -0.01
    max_knee_drop: float = 0.72
    min_hang: float = 0.69
    min_hip_width: float = 0.19
    max_hip_width: float = 0.90
    max_thigh_across: float = 0.43
    min_fraction: float = 0.5


LIMITS = PostureLimits()
#: The limits per pose network (``--model``): each network places the hip and knee
#: landmarks a little differently, so each has its own fit (benchmarks/protocol_check.py).
LIMITS_BY_MODEL: dict[str, PostureLimits] = {
    "full": LIMITS,
    "heavy": PostureLimits(min_knee_drop=-0.12, max_knee_drop=0.75, min_hang=0.60,
                           min_hip_width=0.17, max_thigh_across=0.39),
    "lite": PostureLimits(min_knee_drop=-0.08, max_knee_drop=0.84, min_hang=0.81,
                          max_thigh_across=0.45),
}


@dataclass(frozen=True)
class PostureCheck:
    """The verdict on the input's posture and view.

    Attributes:
        valid: whether this looks like the seated test.
        reason: why not, in plain words with what to do; None when valid.
        features: the medians of :data:`FEATURES` over the usable frames (NaN if none).
        usable_fraction: frames with both knees and ankles visible, of all frames.
        advice: what to change about the camera, in numbers (:func:`camera_advice`).

    """

    valid: bool
    reason: str | None
    features: dict[str, float]
    usable_fraction: float
    advice: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Return the JSON block ``protocol``."""
        return {"valid": self.valid, "reason": self.reason, "advice": list(self.advice),
                "features": {k: None if not np.isfinite(v) else round(float(v), 3)
                             for k, v in self.features.items()},
                "usable_fraction": round(self.usable_fraction, 3)}


def posture_features(legs: LegMeasurement | None,
                     min_visibility: float = MIN_VISIBILITY) -> FloatArray:
    """``(5,)`` features of one frame (:data:`FEATURES`); NaN when a knee or ankle is unseen."""
    out = np.full(len(FEATURES), np.nan)
    if legs is None:
        return out
    poses = [legs.leg(side) for side in SIDES]
    if min(p.visibility for p in poses) < min_visibility:
        return out
    shank = float(np.mean([p.shank_length_px for p in poses]))
    if not np.isfinite(shank) or shank <= 0:
        return out
    down = pelvis_down(poses[0].hip_xy, poses[1].hip_xy)
    if not (np.all(np.isfinite(down)) and down.any()):
        return out
    thigh = np.mean([np.hypot(*(p.knee_xy - p.hip_xy)) for p in poses]) / shank
    drop = min((p.knee_xy - p.hip_xy) @ down for p in poses) / shank
    across = np.mean([abs(float(down[0] * (p.knee_xy - p.hip_xy)[1]
                                - down[1] * (p.knee_xy - p.hip_xy)[0])) for p in poses]) / shank
    hang = np.mean([(p.ankle_xy - p.knee_xy) @ down / p.shank_length_px for p in poses])
    width = float(np.hypot(*(poses[0].hip_xy - poses[1].hip_xy))) / shank
    out[:] = (thigh, drop, hang, width, across)
    return out


def check_seated_test(frames: Sequence[LegMeasurement | None], *,
                      limits: PostureLimits = LIMITS,
                      min_visibility: float = MIN_VISIBILITY,
                      resolution_wh: tuple[int, int] = (0, 0),
                      light: Sequence[tuple[float, float]] = ()) -> PostureCheck:
    """Whether the frames show the seated test, with a plain reason when they do not.

    ``light`` is per frame ``(picture, subject)`` mean grey level (0–255), for the advice.
    """
    rows = [posture_features(f, min_visibility) for f in frames]
    reason, features, fraction = posture_verdict(rows, limits)
    advice = camera_advice(frames, resolution_wh, usable_fraction=fraction, light=light)
    return PostureCheck(reason is None, reason, features, fraction, advice)


def posture_verdict(rows: Sequence[FloatArray], limits: PostureLimits = LIMITS
                    ) -> tuple[str | None, dict[str, float], float]:
    """The check of :func:`check_seated_test` on frames' :func:`posture_features` rows.

    Returns:
        ``(reason, features, usable_fraction)``: why this is not the seated test (None when
        it is), the medians of :data:`FEATURES` over the usable frames, and their share.

    """
    table = np.array(rows, np.float64).reshape(-1, len(FEATURES))
    usable = np.all(np.isfinite(table), axis=1)
    fraction = float(usable.mean()) if len(table) else 0.0
    medians = (np.median(table[usable], axis=0) if usable.any()
               else np.full(len(FEATURES), np.nan))
    features = dict(zip(FEATURES, (float(v) for v in medians), strict=True))
    return _reason(features, fraction, limits), features, fraction


def limits_for(model: str = "full") -> PostureLimits:
    """A pose network's limits (``"full"``, ``"heavy"``, ``"lite"``, or the enum)."""
    return LIMITS_BY_MODEL[str(getattr(model, "value", model))]


#: Camera pitch or yaw beyond which the result suggests moving the camera (clinical notes
#: §5: ±15° costs up to about 1°; the protocol asks for under 10°).
ADVISE_VIEW_DEG = 12.0
#: The lower legs should fill at least this much of the picture's height.
ADVISE_MIN_SHANK_FRACTION = 0.12
#: A picture whose mean grey level (0–255) is below this is called dark. An evenly lit
#: room filmed by a phone averages 90–140; the dim-room renders of the validation set
#: average about 40, where the pose model starts to lose the ankles.
ADVISE_MIN_LIGHT = 60.0
#: The subject is called backlit when their body box is darker than this fraction of the
#: picture's mean (a window or lamp behind them).
ADVISE_BACKLIT_RATIO = 0.6


def light_problem(light: Sequence[tuple[float, float]]
                  ) -> tuple[Literal["dark", "backlit"], float] | None:
    """What is wrong with the light, from per-frame ``(picture, subject)`` grey levels.

    Returns:
        ``("dark", picture level)``, ``("backlit", subject / picture ratio)`` or None.

    """
    if not light:
        return None
    levels = np.asarray(light, np.float64).reshape(-1, 2)
    picture = float(np.nanmedian(levels[:, 0]))
    subject = levels[:, 1][np.isfinite(levels[:, 1])]
    if np.isfinite(picture) and picture < ADVISE_MIN_LIGHT:
        return "dark", picture
    if subject.size and np.isfinite(picture) and picture > 0:
        ratio = float(np.median(subject)) / picture
        if ratio < ADVISE_BACKLIT_RATIO:
            return "backlit", ratio
    return None


def light_advice(light: Sequence[tuple[float, float]]) -> tuple[str, ...]:
    """Advice on the light from per-frame ``(picture, subject)`` mean grey levels (0–255)."""
    problem = light_problem(light)
    if problem is None:
        return ()
    kind, value = problem
    if kind == "dark":
        return (f"the picture is dark (brightness {value:.0f} of 255): add light in front of "
                "the person, e.g. a lamp beside the camera, and avoid a window behind them",)
    return (f"the person is {1 - value:.0%} darker than the picture around them (light "
            "behind them?): turn so that the window or lamp lights the person from the "
            "camera's side",)


def camera_advice(frames: Sequence[LegMeasurement | None], resolution_wh: tuple[int, int],
                  *, usable_fraction: float = 1.0,
                  light: Sequence[tuple[float, float]] = ()) -> tuple[str, ...]:
    """What to change about the camera, in numbers a person can act on (may be empty).

    From the view angles the geometry estimates (pitch: camera above or below the knees;
    yaw: beside them), the shank's share of the picture height, how often both knees
    and ankles were seen, and the light (:func:`light_advice`). Distances are given for a
    camera 2 m away.
    """
    pitch, yaw, shank, ankle_y = [], [], [], []
    for f in frames:
        if f is None:
            continue
        for pose in (f.left, f.right):
            if np.isfinite(pose.view_pitch_deg):
                pitch.append(pose.view_pitch_deg)
                yaw.append(pose.view_yaw_deg)
            if pose.visibility >= MIN_VISIBILITY:
                shank.append(pose.shank_length_px)
                ankle_y.append(float(pose.ankle_xy[1]))
    advice = []
    height = resolution_wh[1]
    if pitch:
        p = float(np.median(pitch))
        if abs(p) > ADVISE_VIEW_DEG:
            cm = abs(np.tan(np.radians(p))) * 200
            where = "down" if p > 0 else "up"
            advice.append(f"the camera looks {'down' if p > 0 else 'up'} at the knees by about "
                          f"{abs(p):.0f}°: move it {where} about {cm:.0f} cm (at 2 m) to knee "
                          "height and level it")
        y = float(np.median(yaw))
        if abs(y) > ADVISE_VIEW_DEG:
            cm = abs(np.tan(np.radians(y))) * 200
            advice.append(f"the camera is about {abs(y):.0f}° to the side: move it about "
                          f"{cm:.0f} cm (at 2 m) until it faces the knees straight on")
    if shank and height > 0:
        share = float(np.median(shank)) / height
        if share < ADVISE_MIN_SHANK_FRACTION:
            advice.append(f"the lower legs fill only {share:.0%} of the picture height: move "
                          "the camera closer, or zoom, until they fill about a quarter")
        if ankle_y and float(np.percentile(ankle_y, 95)) > 0.97 * height:
            advice.append("the feet touch the bottom edge: tilt the camera down a little or "
                          "step it back so the feet are fully in frame")
    if usable_fraction < 0.9:
        advice.append(f"both knees and ankles were clearly seen in only {usable_fraction:.0%} "
                      "of the frames: keep the whole lower legs in frame, uncovered, in good "
                      "light")
    advice.extend(light_advice(light))
    return tuple(advice)


_SIT = "sit on a table edge facing the camera, knees bent over the edge and feet hanging"


def _reason(f: dict[str, float], fraction: float, limits: PostureLimits) -> str | None:
    if fraction < limits.min_fraction:
        return ("both knees and ankles were not clearly in view; keep the whole lower legs "
                "and feet in frame, in good light, and " + _SIT)
    if f["hip_width"] < limits.min_hip_width:
        return "the camera is beside the person, not in front; " + _SIT
    if f["hip_width"] > limits.max_hip_width:
        return ("the lower legs look short, as if stretched out toward the camera; " + _SIT)
    if f["hang"] < limits.min_hang:
        return "the lower legs are not hanging down; " + _SIT
    if f["knee_drop"] < limits.min_knee_drop:
        return "the knees are above the hips (sitting on the floor?); " + _SIT
    if f["thigh_across"] > limits.max_thigh_across:
        return ("the thighs do not point at the camera (seen from the side, or stretched out "
                "or splayed on the floor?); " + _SIT)
    if f["knee_drop"] > limits.max_knee_drop or f["thigh"] > limits.max_thigh:
        return ("the thighs are not level and pointing at the camera (standing, or the "
                "camera far above the knees?); " + _SIT)
    return None
