"""Synthetic people, their landmarks and frame records, and small clips, for the tests.

One place builds every synthetic person the tests measure, draw or blur:

* :func:`seated_xy`: the ``(33, 2)`` landmarks a pose model would report for a person
  seated facing the camera, each shank turned by a given angle, in a :class:`Body` of given
  proportions, optionally scaled, moved and rolled;
* :func:`landmarks`, :func:`visibility`, :func:`frame_record`: the objects the pipeline
  passes around, built from those arrays;
* :func:`build_scene`, :func:`project`, :func:`build_landmarks`: the same person in 3D,
  seen through a pinhole or orthographic camera (the geometry tests' ground truth);
* :func:`blank_clip`, :func:`write_clip`, :func:`mirrored_clip`: small MP4 clips in a test's
  ``tmp_path``.

Conventions are the pose model's and hiprom's: pixels, origin top-left, y down, arrays
indexed by :class:`~hiprom.core.landmarks.LandmarkName`. The person faces the camera, so
their left leg is on the image right (larger x). Angles are in degrees, + = the foot swings
laterally = internal rotation of that hip. Tests import this module as ``builders``
(``tests/`` is on pytest's ``pythonpath``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from hiprom.core.geometry import HIP_CENTRE_BELOW_LANDMARK, measure_legs
from hiprom.core.landmarks import N_LANDMARKS, LandmarkName, Landmarks
from hiprom.pipeline.analysis import FrameRecord

L = LandmarkName
FloatArray = npt.NDArray[np.float64]
XY = npt.NDArray[np.float32]

#: The four points whose visibility decides whether the legs are measurable.
KNEES_ANKLES = (L.LEFT_KNEE, L.RIGHT_KNEE, L.LEFT_ANKLE, L.RIGHT_ANKLE)


# --------------------------------------------------------------------------- 2D people
@dataclass(frozen=True)
class Body:
    """Proportions of a synthetic seated person, in pixels (before ``scale``).

    Attributes:
        centre: midway between the knees, at knee height.
        knee_half_width: each knee is this far left/right of the centre.
        hip_half_width: the same for the hips; None = straight above the knees.
        hip_above_knee: how far the hip landmark sits above the knee. 0 is a femur along
            the optical axis (the hip hides behind the knee and the thigh has no image
            length), so the hip rotation is exactly the shank's tilt from the vertical.
        shank: knee → ankle length.
        shoulders: ``(half width, height above the knees)``, or None to leave them unset.
        head: ``(height of the eyes and ears above the knees, ear-to-ear span)``: nose,
            eyes, ears and mouth; None to leave them unset.
        feet: ``(heel, toe)`` lateral offsets from the ankle and their depth below it;
            None to leave them unset.

    """

    centre: tuple[float, float] = (320.0, 260.0)
    knee_half_width: float = 50.0
    hip_half_width: float | None = None
    hip_above_knee: float = 0.0
    shank: float = 120.0
    shoulders: tuple[float, float] | None = (60.0, 170.0)
    head: tuple[float, float] | None = None
    feet: tuple[float, float, float] | None = None


#: The default body: knees 100 px apart at (320 ± 50, 260), 120 px shanks, thighs along the
#: optical axis, shoulders 120 px apart 170 px above the knees, in a 640 × 480 frame.
BODY = Body()
#: The same person as a pose model reports them: the hip landmark sits above the hip joint
#: centre by HIP_CENTRE_BELOW_LANDMARK shank lengths, which measure_legs undoes.
MODEL_BODY = Body(hip_above_knee=HIP_CENTRE_BELOW_LANDMARK * BODY.shank)
#: A person nearer the camera: knees 120 px apart at (320 ± 60, 240), 160 px shanks,
#: shoulders 140 px apart 180 px above the knees, hip landmarks where the model puts them
#: (the hip joint centres on the knees: femurs along the optical axis).
NEAR_BODY = Body(centre=(320.0, 240.0), knee_half_width=60.0, shank=160.0,
                 shoulders=(70.0, 180.0), hip_above_knee=HIP_CENTRE_BELOW_LANDMARK * 160.0)


def held_angles(segments: Iterable[tuple[float, float]], *, fps: float = 30.0,
                ramp_s: float = 0.5) -> list[float]:
    """One angle per frame: ``(seconds, degrees)`` holds joined by ``ramp_s`` ramps.

    The first hold is reached by a ramp from its own angle (a still start).
    """
    out: list[float] = []
    previous: float | None = None
    for seconds, deg in segments:
        start = deg if previous is None else previous
        out += list(np.linspace(start, deg, int(ramp_s * fps)))
        out += [deg] * int(seconds * fps)
        previous = deg
    return out


def one_rep_deg(t: float, peak_deg: float) -> float:
    """One rep in time: neutral 2 s, out to ``peak_deg`` in 0.6 s, hold 2 s, back, neutral."""
    if t < 2.0:
        return 0.0
    if t < 2.6:
        return peak_deg * (t - 2.0) / 0.6
    if t < 4.6:
        return peak_deg
    if t < 5.2:
        return peak_deg * (5.2 - t) / 0.6
    return 0.0


def seated_xy(left_deg: float = 0.0, right_deg: float = 0.0, body: Body = BODY, *,
              centre: tuple[float, float] | None = None, scale: float = 1.0,
              roll_deg: float = 0.0, fill: float = 0.0) -> XY:
    """``(33, 2)`` float32 landmarks of a person seated facing the camera.

    Args:
        left_deg: rotation of the left hip: its shank turns this far from straight down,
            + toward the image right (the left foot moving laterally).
        right_deg: the same for the right hip (+ toward the image left).
        body: the proportions.
        centre: overrides ``body.centre``.
        scale: multiplies every length of ``body``.
        roll_deg: rolls the whole frame of points about the centre (one side of the pelvis
            rising), + counter-clockwise on screen; every landmark moves, unset ones too.
        fill: the value of the landmarks the body does not place.

    """
    cx, ky = body.centre if centre is None else centre
    xy = np.full((N_LANDMARKS, 2), fill, np.float64)
    hip_half = body.knee_half_width if body.hip_half_width is None else body.hip_half_width
    for hip, knee, ankle, heel, toe, lateral, deg in (
        (L.LEFT_HIP, L.LEFT_KNEE, L.LEFT_ANKLE, L.LEFT_HEEL, L.LEFT_FOOT_INDEX, 1.0, left_deg),
        (L.RIGHT_HIP, L.RIGHT_KNEE, L.RIGHT_ANKLE, L.RIGHT_HEEL, L.RIGHT_FOOT_INDEX, -1.0,
         right_deg),
    ):
        kx = cx + lateral * body.knee_half_width * scale
        xy[knee] = (kx, ky)
        xy[hip] = (cx + lateral * hip_half * scale, ky - body.hip_above_knee * scale)
        t = math.radians(deg)
        shank = body.shank * scale
        xy[ankle] = (kx + lateral * shank * math.sin(t), ky + shank * math.cos(t))
        if body.feet is not None:
            heel_out, toe_out, below = (v * scale for v in body.feet)
            xy[heel] = xy[ankle] + (lateral * heel_out, below)
            xy[toe] = xy[ankle] + (lateral * toe_out, below)
    if body.shoulders is not None:
        half, above = (v * scale for v in body.shoulders)
        xy[L.LEFT_SHOULDER] = (cx + half, ky - above)
        xy[L.RIGHT_SHOULDER] = (cx - half, ky - above)
    if body.head is not None:
        _place_head(xy, cx, ky - body.head[0] * scale, body.head[1] * scale, scale)
    if roll_deg:
        r = math.radians(roll_deg)
        rot = np.array([[math.cos(r), math.sin(r)], [-math.sin(r), math.cos(r)]])
        xy = (xy - (cx, ky)) @ rot.T + (cx, ky)
    return xy.astype(np.float32)


def _place_head(xy: FloatArray, cx: float, head_y: float, ear_span: float,
                scale: float) -> None:
    """Nose, eyes, ears and mouth of a face looking at the camera; eyes and ears at head_y."""
    xy[L.NOSE] = (cx, head_y + 5 * scale)
    for i, dx in ((L.LEFT_EYE_INNER, 6), (L.LEFT_EYE, 11), (L.LEFT_EYE_OUTER, 16),
                  (L.RIGHT_EYE_INNER, -6), (L.RIGHT_EYE, -11), (L.RIGHT_EYE_OUTER, -16)):
        xy[i] = (cx + dx * scale, head_y - 5 * scale)
    xy[L.LEFT_EAR], xy[L.RIGHT_EAR] = (cx + ear_span / 2, head_y), (cx - ear_span / 2, head_y)
    xy[L.MOUTH_LEFT] = (cx + 8 * scale, head_y + 20 * scale)
    xy[L.MOUTH_RIGHT] = (cx - 8 * scale, head_y + 20 * scale)


def visibility(score: float = 1.0, *, low: Iterable[LandmarkName] = (),
               low_score: float = 0.1) -> npt.NDArray[np.float32]:
    """``(33,)`` visibility scores: ``score`` everywhere, ``low_score`` at ``low``."""
    vis = np.full(N_LANDMARKS, score, np.float32)
    vis[list(low)] = low_score
    return vis


def landmarks(xy: npt.ArrayLike, vis: npt.ArrayLike = 1.0, *,
              resolution_wh: tuple[int, int] = (640, 480)) -> Landmarks:
    """The model's output for one frame.

    Args:
        xy: one person ``(33, 2)`` or several ``(n, 33, 2)``.
        vis: a score for every point, per point ``(33,)``, or per person ``(n, 33)``.
        resolution_wh: the frame size.

    """
    pts = np.asarray(xy, np.float32)
    pts = pts[None] if pts.ndim == 2 else pts
    scores = np.broadcast_to(np.asarray(vis, np.float32), pts.shape[:2]).copy()
    return Landmarks(pts, scores, resolution_wh)


def frame_record(index: int, xy: XY, vis: npt.ArrayLike = 1.0, *, fps: float = 30.0,
                 resolution_wh: tuple[int, int] = (640, 480)) -> FrameRecord:
    """What the pipeline records for frame ``index`` showing one person at ``xy``.

    The legs are measured without the camera-view correction, as a level camera sees them.
    """
    scores = np.broadcast_to(np.asarray(vis, np.float32), (N_LANDMARKS,)).copy()
    legs = measure_legs(landmarks(xy, scores, resolution_wh=resolution_wh), correct_view=False)
    return FrameRecord(index, index / fps, 1, legs, xy, scores)


# --------------------------------------------------------------------------- 3D people
#: Frame size and horizontal field of view of the 3D scenes' default camera.
SCENE_WH = (1920, 1080)
SCENE_HFOV_DEG = 65.0


def rotation(axis: str, angle_deg: float) -> FloatArray:
    """The 3 × 3 rotation by ``angle_deg`` about ``axis`` ("x", "y" or "z")."""
    a = np.radians(angle_deg)
    c, s = np.cos(a), np.sin(a)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def build_scene(theta_left: float, theta_right: float, *, pelvic_roll: float = 0.0,
                thigh: float = 0.42, shank: float = 0.42) -> dict[str, FloatArray]:
    """3D points (metres) of a seated person facing the camera.

    Frame: x = person's left, y = down, z = away from the camera. Femurs point to −z, each
    shank hangs down and is turned by θ about its femur (+ = foot lateral). The whole body
    is then rolled by ``pelvic_roll`` about the forward axis. Keys are landmark names
    (``"LEFT_HIP"``, ...).
    """
    pts: dict[str, FloatArray] = {}
    for label, lat, theta in (("LEFT", 1.0, theta_left), ("RIGHT", -1.0, theta_right)):
        hip = np.array([lat * 0.1, 0.0, 0.0])
        knee = hip + np.array([0.0, 0.0, -thigh])
        t = np.radians(theta)
        pts[f"{label}_HIP"], pts[f"{label}_KNEE"] = hip, knee
        pts[f"{label}_ANKLE"] = knee + shank * np.array([lat * np.sin(t), np.cos(t), 0.0])
        pts[f"{label}_SHOULDER"] = np.array([lat * 0.18, -0.5, 0.02])
    return {k: rotation("z", pelvic_roll) @ v for k, v in pts.items()}


def project(pts: Mapping[str, FloatArray], *, pitch: float = 0.0, yaw: float = 0.0,
            roll: float = 0.0, distance: float = 2.0, hfov: float = SCENE_HFOV_DEG,
            ortho: bool = False, wh: tuple[int, int] = SCENE_WH) -> dict[str, FloatArray]:
    """Pinhole (or orthographic) projection, knees ``distance`` metres from the camera.

    ``hfov`` spans the frame's long side, as a camera's field of view does whichever way
    the camera is held.
    """
    focal = max(wh) / 2 / np.tan(np.radians(hfov) / 2)
    rot = rotation("z", roll) @ rotation("x", pitch) @ rotation("y", yaw)
    out = {}
    for k, p in pts.items():
        q = rot @ (p - np.array([0.0, 0.0, -0.42])) + np.array([0.0, 0.0, distance])
        depth = distance if ortho else q[2]
        out[k] = focal * q[:2] / depth + np.array(wh) / 2
    return out


def model_hips(p2: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    """The hip landmarks a pose model reports for these projected joint centres.

    The model places its hip landmark HIP_CENTRE_BELOW_LANDMARK image shank lengths above
    the joint centre (along the hip line's perpendicular); ``measure_legs`` undoes that.
    """
    shank = np.mean([np.hypot(*(p2[f"{s}_ANKLE"] - p2[f"{s}_KNEE"])) for s in ("LEFT", "RIGHT")])
    line = p2["LEFT_HIP"] - p2["RIGHT_HIP"]
    down = np.array([-line[1], line[0]]) / np.hypot(*line)
    down = down if down[1] >= 0 else -down
    up = HIP_CENTRE_BELOW_LANDMARK * shank * down
    return {**p2, "LEFT_HIP": p2["LEFT_HIP"] - up, "RIGHT_HIP": p2["RIGHT_HIP"] - up}


def build_landmarks(p2: Mapping[str, FloatArray], *, swap: bool = False,
                    visibility: Mapping[str, float] | None = None,
                    wh: tuple[int, int] = SCENE_WH) -> Landmarks:
    """A (1, 33, 2) Landmarks as the model reports the projected joints (see model_hips).

    Points not in ``p2`` sit at the hips' midpoint; ``swap`` gives each point the other
    side's label (a model that confuses sides); ``visibility`` lowers named points' scores.
    """
    p2 = model_hips(p2)
    xy = np.zeros((1, N_LANDMARKS, 2))
    xy[0, :] = (p2["LEFT_HIP"] + p2["RIGHT_HIP"]) / 2
    vis = np.ones((1, N_LANDMARKS))
    for key, value in p2.items():
        side, part = key.split("_", 1)
        label = {"LEFT": "RIGHT", "RIGHT": "LEFT"}[side] if swap else side
        xy[0, LandmarkName[f"{label}_{part}"]] = value
    for key, value in (visibility or {}).items():
        vis[0, LandmarkName[key]] = value
    return Landmarks(xy.astype(np.float32), vis.astype(np.float32), wh)


# --------------------------------------------------------------------------- clips
def write_clip(path: Path, frames: Iterable[npt.NDArray[np.uint8]], *,
               fps: float = 30.0) -> Path:
    """Write BGR ``frames`` (all one size) as an MP4 (mp4v) clip at ``fps``."""
    writer = None
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
                assert writer.isOpened(), f"OpenCV cannot write mp4v to {path}"
            writer.write(frame)
    finally:
        if writer is not None:
            writer.release()
    assert writer is not None, "a clip needs at least one frame"
    return path


def blank_clip(path: Path, n: int, *, fps: float = 30.0,
               resolution_wh: tuple[int, int] = (640, 480), level: int = 90) -> Path:
    """An ``n``-frame clip of flat grey ``level`` (for a fake backend, which ignores pixels)."""
    w, h = resolution_wh
    frame = np.full((h, w, 3), level, np.uint8)
    return write_clip(path, (frame for _ in range(n)), fps=fps)


def mirrored_clip(source: Path, path: Path) -> Path:
    """A horizontally mirrored copy of ``source`` (a selfie view), same size and frame rate."""
    cap = cv2.VideoCapture(str(source))
    assert cap.isOpened(), f"cannot open {source}"
    fps = cap.get(cv2.CAP_PROP_FPS)

    def frames() -> Iterable[npt.NDArray[np.uint8]]:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield cv2.flip(frame, 1)

    try:
        return write_clip(path, frames(), fps=fps)
    finally:
        cap.release()
