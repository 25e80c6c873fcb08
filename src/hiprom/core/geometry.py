"""Per-frame geometry of the seated hip-rotation test: pure numpy, no I/O.

Conventions:
    * Angles are in degrees; lengths in pixels.
    * Image coordinates: origin top-left, x right, y down. Every ``xy`` returned here is in
      the **unmirrored** frame: a mirrored (selfie) frame is un-mirrored first (x → W − x),
      so a scene and its mirror image give identical numbers.
    * Left/right are the person's **anatomical** sides. The person faces the camera, so in
      an unmirrored frame their left leg is on the image's right (larger x).
    * Image angles (:func:`shank_angle_deg`, :func:`pelvis_roll_deg`) turn counter-clockwise
      as seen on screen. Rotating the whole image content by r that way adds r to both, so
      their difference does not depend on camera roll.
    * Hip rotation: **+ = internal rotation** (the foot moves laterally, away from the
      midline); − = external rotation. It is the shank angle measured from the
      perpendicular of the hip line, so camera roll and pelvic roll cancel.
    * Camera frame for the view correction: x right, y down, z from the camera into the
      scene. The femur (hip → knee) of a seated person facing the camera points to −z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hiprom.core.calibration import HIP_CENTRE_OFFSET_BY_MODEL
from hiprom.core.landmarks import LEG_LANDMARKS, N_LANDMARKS, LandmarkName, Landmarks
from hiprom.core.view import _as_xy, estimate_leg_directions, recover_rotation_deg
from hiprom.errors import InputError, MeasurementError
from hiprom.vocabulary import LATERAL_SIGN, MIN_VISIBILITY, OTHER_SIDE, SIDES, Side

__all__ = [
    "LegMeasurement",
    "LegPose",
    "assign_sides",
    "HIP_CENTRE_BELOW_LANDMARK",
    "estimate_leg_directions",
    "hip_joint_centres",
    "measure_leg",
    "measure_legs",
    "pelvis_down",
    "pelvis_roll_deg",
    "recover_rotation_deg",
    "shank_angle_deg",
    "trunk_lean_deg",
    "view_model",
]

FloatArray = npt.NDArray[np.float64]
_L = LandmarkName


@dataclass(frozen=True)
class LegPose:
    """One anatomical leg in one frame.

    Attributes:
        rotation_deg: hip rotation, + = internal; view-corrected when ``view_corrected``.
            NaN when the knee or ankle is not visible enough or the shank is degenerate.
        rotation_uncorrected_deg: the same angle without the view correction.
        shank_angle_deg: raw image angle of knee → ankle (see :func:`shank_angle_deg`).
        hip_xy, knee_xy, ankle_xy: ``(2,)`` pixels, unmirrored frame.
        shank_length_px: image length of knee → ankle.
        visibility: min of the knee and ankle visibility scores, in [0, 1].
        view_corrected: whether ``rotation_deg`` used the view correction.
        view_pitch_deg: femur direction vs the optical axis, vertical part; + = the knee is
            lower in the image than the hip (camera above the thigh line). NaN if not estimated.
        view_yaw_deg: horizontal part; + = the knee lies toward image +x. NaN if not estimated.

    """

    rotation_deg: float
    rotation_uncorrected_deg: float
    shank_angle_deg: float
    hip_xy: FloatArray
    knee_xy: FloatArray
    ankle_xy: FloatArray
    shank_length_px: float
    visibility: float
    view_corrected: bool
    view_pitch_deg: float
    view_yaw_deg: float


@dataclass(frozen=True)
class LegMeasurement:
    """Both legs of one person in one frame.

    Attributes:
        left, right: the person's anatomical legs.
        pelvis_roll_deg: hip-line angle (see :func:`pelvis_roll_deg`).
        trunk_lean_deg: shoulder line vs the pelvis (see :func:`trunk_lean_deg`); NaN when
            shoulders are missing.
        labels_swapped: True when the model's LEFT_* leg is the person's right leg.
        pelvis_visibility: min visibility of the two hips.

    """

    left: LegPose
    right: LegPose
    pelvis_roll_deg: float
    trunk_lean_deg: float
    labels_swapped: bool
    pelvis_visibility: float

    def leg(self, side: Side) -> LegPose:
        """The leg on the given anatomical side."""
        if side not in LATERAL_SIGN:
            raise InputError(f"side must be 'left' or 'right', got {side!r}")
        return self.left if side == "left" else self.right


def _difference(name_a: str, a: npt.ArrayLike, name_b: str, b: npt.ArrayLike) -> FloatArray:
    pa, pb = _as_xy(name_a, a), _as_xy(name_b, b)
    try:
        np.broadcast_shapes(pa.shape, pb.shape)
    except ValueError as err:
        raise InputError(
            f"{name_a} {pa.shape} and {name_b} {pb.shape} do not broadcast; pass matching shapes"
        ) from err
    return pb - pa


def _wrap_deg(angle_deg: FloatArray | float) -> FloatArray:
    return (np.asarray(angle_deg) + 180.0) % 360.0 - 180.0


def shank_angle_deg(knee_xy: npt.ArrayLike, ankle_xy: npt.ArrayLike) -> FloatArray:
    """Image angle of the shank (knee → ankle) from image-down, + toward image +x.

    Args:
        knee_xy: ``(..., 2)`` pixels.
        ankle_xy: ``(..., 2)`` pixels; broadcasts with ``knee_xy``.

    Returns:
        ``(...)`` degrees in [−180, 180); NaN where the two points coincide.

    Examples:
        >>> float(shank_angle_deg([100.0, 100.0], [110.0, 110.0]))
        45.0

    """
    v = _difference("knee_xy", knee_xy, "ankle_xy", ankle_xy)
    angle = np.degrees(np.arctan2(v[..., 0], v[..., 1]))
    return np.where(np.hypot(v[..., 0], v[..., 1]) > 0, angle, np.nan)


def pelvis_roll_deg(left_hip_xy: npt.ArrayLike, right_hip_xy: npt.ArrayLike) -> FloatArray:
    """Angle of the hip line (anatomical right hip → left hip), same sense as the shank angle.

    In an unmirrored frame of a level pelvis the right → left hip vector points to image +x
    and the angle is 0; it turns counter-clockwise on screen like :func:`shank_angle_deg`.

    Args:
        left_hip_xy: ``(..., 2)`` pixels, the person's left hip (unmirrored frame).
        right_hip_xy: ``(..., 2)`` pixels, the person's right hip.

    Returns:
        ``(...)`` degrees in [−180, 180); NaN where the hips coincide.

    Examples:
        >>> float(pelvis_roll_deg([110.0, 90.0], [100.0, 100.0]))
        45.0

    """
    v = _difference("right_hip_xy", right_hip_xy, "left_hip_xy", left_hip_xy)
    angle = np.degrees(np.arctan2(-v[..., 1], v[..., 0]))
    return np.where(np.hypot(v[..., 0], v[..., 1]) > 0, angle, np.nan)


def trunk_lean_deg(
    left_shoulder_xy: npt.ArrayLike,
    right_shoulder_xy: npt.ArrayLike,
    left_hip_xy: npt.ArrayLike,
    right_hip_xy: npt.ArrayLike,
) -> FloatArray:
    """Lateral trunk lean: hip-mid → shoulder-mid line vs the pelvis perpendicular.

    Measured against the upward perpendicular of the hip line (not image vertical), so it is
    free of camera roll and does not repeat the pelvis roll. + = shoulders toward the
    person's left. Shoulder and hip labels only enter through midpoints, so label swaps do
    not matter.

    Args:
        left_shoulder_xy: ``(..., 2)`` pixels.
        right_shoulder_xy: ``(..., 2)`` pixels.
        left_hip_xy: ``(..., 2)`` pixels (a landmark or a joint centre).
        right_hip_xy: ``(..., 2)`` pixels.

    Returns:
        ``(...)`` degrees in [−180, 180).

    """
    shoulder_mid = (_as_xy("left_shoulder_xy", left_shoulder_xy)
                    + _as_xy("right_shoulder_xy", right_shoulder_xy)) / 2
    hip_mid = (_as_xy("left_hip_xy", left_hip_xy) + _as_xy("right_hip_xy", right_hip_xy)) / 2
    trunk = _difference("hip_mid", hip_mid, "shoulder_mid", shoulder_mid)
    image_lean = np.degrees(np.arctan2(trunk[..., 0], -trunk[..., 1]))
    return _wrap_deg(image_lean + pelvis_roll_deg(left_hip_xy, right_hip_xy))


def assign_sides(xy: npt.ArrayLike, *, mirrored: bool = False) -> npt.NDArray[np.bool_]:
    """Decide whether the model's LEFT_*/RIGHT_* leg labels are the person's anatomical sides.

    The person faces the camera, so after un-mirroring their left side lies to the image
    right *of their own body axis*: the direction ``(-up_y, up_x)``, where ``up`` points from
    the hip centre to the shoulder centre (image "up" for an upright person, so this is
    image +x then). Using the body axis keeps the sides right in a photo or video that was
    turned 90° without rotation metadata. The decision uses the sum of hip and knee
    positions of each labelled leg projected on that direction (ankles can cross during
    external rotation, so they are not used), and the whole leg is swapped together.
    Un-mirroring x → W − x only reverses the order of x, so the frame width is not needed.

    Args:
        xy: ``(33, 2)`` or ``(n, 33, 2)`` pixels as labelled by the model.
        mirrored: True if the frame is a mirrored (selfie) view.

    Returns:
        Bool array of shape ``()`` or ``(n,)``: True where the model's LEFT_* leg is the
        person's right leg. Ties and NaN keep the model's labels (False).

    """
    arr = np.asarray(xy, dtype=np.float64)
    if arr.ndim not in (2, 3) or arr.shape[-2:] != (N_LANDMARKS, 2):
        raise InputError(f"xy must have shape (33, 2) or (n, 33, 2), got {arr.shape}")
    arr = arr * np.array([-1.0 if mirrored else 1.0, 1.0])
    left_dir = _body_left_direction(arr)
    left = np.sum((arr[..., _L.LEFT_HIP, :] + arr[..., _L.LEFT_KNEE, :]) * left_dir, axis=-1)
    right = np.sum((arr[..., _L.RIGHT_HIP, :] + arr[..., _L.RIGHT_KNEE, :]) * left_dir, axis=-1)
    return np.asarray(left < right)


def _body_left_direction(xy: FloatArray) -> FloatArray:
    """Unit vector toward the person's left in the image, from hip centre → shoulder centre.

    ``xy`` is ``(..., 33, 2)``; returns ``(..., 2)``. Falls back to image +x where the
    shoulders are missing or coincide with the hips.
    """
    hips = (xy[..., _L.LEFT_HIP, :] + xy[..., _L.RIGHT_HIP, :]) / 2.0
    shoulders = (xy[..., _L.LEFT_SHOULDER, :] + xy[..., _L.RIGHT_SHOULDER, :]) / 2.0
    up = shoulders - hips
    norm = np.hypot(up[..., 0], up[..., 1])[..., None]
    left = np.stack([-up[..., 1], up[..., 0]], axis=-1) / np.where(norm > 0, norm, 1.0)
    ok = np.isfinite(left).all(axis=-1, keepdims=True) & (norm > 1e-6)
    return np.where(ok, left, np.array([1.0, 0.0]))


#: The pose model's hip landmark sits above the hip joint centre: on rendered seated
#: clips with known joints (13 bodies, 14 camera setups, neutral pose) by 0.157 of the
#: image shank length for the full network, along the pelvis line's perpendicular (each
#: network's fit: :data:`hiprom.core.calibration.HIP_CENTRE_OFFSET_BY_MODEL`). The femur
#: direction for the view correction is taken from the joint centre; using the landmark
#: overstated femur pitch by about 10° (docs/ACCURACY.md).
HIP_CENTRE_BELOW_LANDMARK = HIP_CENTRE_OFFSET_BY_MODEL["full"]


def pelvis_down(left_hip_xy: npt.ArrayLike, right_hip_xy: npt.ArrayLike) -> FloatArray:
    """Unit perpendicular of the pelvis (hip) line, pointing toward the feet (image +y).

    This is the reference vertical of the rotation angle. Zeros when the hips coincide;
    NaN when a hip is not finite.
    """
    line = np.asarray(left_hip_xy, dtype=np.float64) - np.asarray(right_hip_xy, dtype=np.float64)
    down = np.array([-line[1], line[0]]) / max(float(np.hypot(*line)), 1e-9)
    return down if down[1] >= 0 else -down


def hip_joint_centres(hips: FloatArray, shank_px: float,
                      offset: float = HIP_CENTRE_BELOW_LANDMARK) -> FloatArray:
    """Hip joint centres from the model's hip landmarks ``(2, 2)`` (left, right), pixels.

    Both move by ``offset`` × ``shank_px`` along the perpendicular of the hip line,
    toward the feet, so the hip line's direction (pelvic roll) is unchanged.
    """
    down = pelvis_down(hips[0], hips[1])
    if not (np.all(np.isfinite(down)) and down.any() and np.isfinite(shank_px)):
        return hips
    return hips + offset * shank_px * down


def _person_xy(landmarks: Landmarks, person: int, mirrored: bool) -> tuple[FloatArray, FloatArray]:
    if landmarks.n_persons == 0:
        raise MeasurementError("no person detected in this frame; check framing and lighting")
    if not 0 <= person < landmarks.n_persons:
        raise InputError(f"person must be in [0, {landmarks.n_persons}), got {person}")
    xy = landmarks.xy[person].astype(np.float64)
    if mirrored:
        xy[:, 0] = landmarks.resolution_wh[0] - xy[:, 0]
    return xy, landmarks.visibility[person].astype(np.float64)


@dataclass(frozen=True)
class _ViewModel:
    correct: bool
    ratio: float
    focal_px: float | None
    principal_xy: tuple[float, float]
    max_view_deg: float

    def hip_line_3d(self, hips: FloatArray, femur: FloatArray) -> FloatArray:
        """Right → left hip vector in 3D, taken perpendicular to the femur.

        ``hips`` is ``(2, 2)`` (left, right) pixels. Under a pinhole the two hips may lie at
        different depths; requiring the hip line ⊥ femur fixes their depth ratio.
        """
        if self.focal_px is None:
            line = hips[0] - hips[1]
            return np.append(line, -(line @ femur[:2]) / femur[2])
        rays = np.column_stack([(hips - np.asarray(self.principal_xy)) / self.focal_px,
                                np.ones(2)])
        line_3d: FloatArray = (rays[0] @ femur) * rays[1] - (rays[1] @ femur) * rays[0]
        return line_3d


def view_model(
    resolution_wh: tuple[int, int],
    *,
    correct_view: bool = True,
    thigh_to_shank_ratio: float = 1.0,
    assumed_hfov_deg: float | None = 65.0,
    max_view_deg: float = 35.0,
) -> _ViewModel:
    """The camera model of the view correction (see :func:`measure_legs` for the arguments).

    A frame of unknown size (0 × 0) gets no view correction.
    """
    width, height = resolution_wh
    focal = None
    if assumed_hfov_deg is not None:
        focal = max(width, height) / 2 / np.tan(np.radians(assumed_hfov_deg) / 2)
    return _ViewModel(correct_view and min(width, height) > 0, thigh_to_shank_ratio, focal,
                      (width / 2, height / 2), max_view_deg)


def measure_leg(
    side: str, joints: FloatArray, vis: FloatArray, hips: FloatArray, centres: FloatArray,
    view: _ViewModel, min_visibility: float = MIN_VISIBILITY, min_shank_px: float = 10.0,
) -> LegPose:
    """One anatomical leg from its points: the per-frame angle and the clip's pivot share it.

    Args:
        side: the anatomical side.
        joints: ``(3, 2)`` hip, knee, ankle pixels (un-mirrored frame).
        vis: ``(3,)`` their visibility.
        hips: ``(2, 2)`` left and right hip landmarks (the pelvis line).
        centres: ``(2, 2)`` left and right hip joint centres (:func:`hip_joint_centres`).
        view: the camera model (:func:`view_model`).
        min_visibility: knee/ankle visibility below this gives a NaN rotation.
        min_shank_px: shorter image shanks give a NaN rotation.

    """
    hip, knee, ankle = joints
    length = float(np.hypot(*(ankle - knee)))
    visibility = float(min(vis[1], vis[2]))
    lat = LATERAL_SIGN[side]
    roll = float(pelvis_roll_deg(hips[0], hips[1]))
    raw = float(shank_angle_deg(knee, ankle)) if length > 0 else np.nan
    ok = (visibility >= min_visibility and length >= min_shank_px and np.isfinite(roll)
          and bool(np.all(np.isfinite(joints))))
    plain = lat * float(_wrap_deg(raw - roll)) if ok else np.nan
    solved = None
    if ok and view.correct:
        centre = centres[0] if side == "left" else centres[1]
        solved = estimate_leg_directions(
            centre, knee, ankle, thigh_to_shank_ratio=view.ratio, focal_px=view.focal_px,
            principal_xy=view.principal_xy, max_view_deg=view.max_view_deg)
    rotation, pitch, yaw = plain, np.nan, np.nan
    if solved is not None:
        femur, shank_dir = solved
        down = np.cross(view.hip_line_3d(centres, femur), femur)
        rotation = float(recover_rotation_deg(shank_dir[:2], femur, down, lat))
        pitch = float(np.degrees(np.arctan2(femur[1], -femur[2])))
        yaw = float(np.degrees(np.arctan2(femur[0], -femur[2])))
    return LegPose(rotation, plain, raw, hip.copy(), knee.copy(), ankle.copy(), length,
                   visibility, solved is not None, pitch, yaw)


def measure_legs(
    landmarks: Landmarks,
    person: int = 0,
    *,
    mirrored: bool = False,
    correct_view: bool = True,
    thigh_to_shank_ratio: float = 1.0,
    assumed_hfov_deg: float | None = 65.0,
    min_visibility: float = MIN_VISIBILITY,
    min_shank_px: float = 10.0,
    max_view_deg: float = 35.0,
    hip_offset: float = HIP_CENTRE_BELOW_LANDMARK,
) -> LegMeasurement:
    """Measure both legs of one person in one frame.

    Args:
        landmarks: the frame's landmarks (model labels; sides are re-assigned here).
        person: index of the person in ``landmarks``.
        mirrored: True for a mirrored (selfie) frame; it is un-mirrored first.
        correct_view: undo camera pitch/yaw by estimating the femur direction
            (:func:`estimate_leg_directions`); falls back per leg to the plain angle when
            the thigh vector is implausible.
        thigh_to_shank_ratio: assumed 3D thigh over shank length for the view correction.
        assumed_hfov_deg: field of view across the frame's long side for the pinhole model
            (principal point at the image centre): a lens keeps its focal length when the
            camera is turned to portrait. None for orthographic projection.
        min_visibility: knee and ankle visibility below this gives a NaN rotation.
        min_shank_px: shorter image shanks give a NaN rotation.
        max_view_deg: femur angles from the optical axis beyond this disable the correction.
        hip_offset: hip joint centre below the hip landmark, in shank lengths (see
            :data:`HIP_CENTRE_BELOW_LANDMARK`); 0 for landmarks that are joint centres.

    Returns:
        The per-frame :class:`LegMeasurement`.

    Raises:
        MeasurementError: nobody was detected. InputError: ``person`` out of range.

    """
    xy, vis = _person_xy(landmarks, person, mirrored)
    swapped = bool(assign_sides(xy))
    width, height = landmarks.resolution_wh
    focal = None
    if assumed_hfov_deg is not None:
        focal = max(width, height) / 2 / np.tan(np.radians(assumed_hfov_deg) / 2)
    # Not view_model(): a frame of unknown size keeps its orthographic correction here.
    view = _ViewModel(correct_view, thigh_to_shank_ratio, focal, (width / 2, height / 2),
                      max_view_deg)
    labels = OTHER_SIDE if swapped else {side: side for side in SIDES}
    idx = {side: list(LEG_LANDMARKS[labels[side]]) for side in SIDES}
    hips = xy[[idx[Side.LEFT][0], idx[Side.RIGHT][0]]]
    shanks = [float(np.hypot(*(xy[idx[s][2]] - xy[idx[s][1]]))) for s in SIDES]
    finite = [v for v in shanks if np.isfinite(v)]
    centres = hip_joint_centres(hips, float(np.mean(finite)) if finite else np.nan,
                                hip_offset)
    legs = {side: measure_leg(side, xy[idx[side]], vis[idx[side]], hips, centres, view,
                               min_visibility, min_shank_px) for side in SIDES}
    lean = float(trunk_lean_deg(xy[_L.LEFT_SHOULDER], xy[_L.RIGHT_SHOULDER],
                                centres[0], centres[1]))
    return LegMeasurement(
        left=legs[Side.LEFT], right=legs[Side.RIGHT],
        pelvis_roll_deg=float(pelvis_roll_deg(hips[0], hips[1])),
        trunk_lean_deg=lean, labels_swapped=swapped,
        pelvis_visibility=float(min(vis[_L.LEFT_HIP], vis[_L.RIGHT_HIP])),
    )
