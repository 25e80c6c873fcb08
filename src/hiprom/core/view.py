"""View correction for :mod:`hiprom.core.geometry` (private): undo camera pitch and yaw.

Camera frame: x right, y down, z from the camera into the scene; the femur (hip → knee) of a
seated person facing the camera points to −z. Public names are re-exported by
:mod:`hiprom.core.geometry`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from hiprom.errors import InputError

FloatArray = npt.NDArray[np.float64]


def _as_xy(name: str, value: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[-1] != 2:
        raise InputError(f"{name} must have shape (..., 2) in pixels, got {arr.shape}")
    return arr


def recover_rotation_deg(
    shank_xy_vec: npt.ArrayLike,
    femur_dir_cam: npt.ArrayLike,
    down_dir_cam: npt.ArrayLike,
    lateral_sign: npt.ArrayLike,
) -> FloatArray:
    """Hip rotation from the shank's in-image components, given the femur direction.

    Exact orthographic model: the shank s is perpendicular to the femur f, so its depth part
    is s_z = −(s_x f_x + s_y f_y) / f_z. "Down" d is ``down_dir_cam`` projected into the
    plane ⊥ f, the lateral unit vector is l = lateral_sign · (f × d), and the rotation is
    atan2(s·l, s·d). With f = (0, 0, −1) this is the plain image angle from the perpendicular.

    Args:
        shank_xy_vec: ``(..., 2)`` knee → ankle, x/y components (any unit).
        femur_dir_cam: ``(..., 3)`` hip → knee direction in the camera frame, f_z < 0.
        down_dir_cam: ``(..., 3)`` the pelvis "down" direction in the camera frame.
        lateral_sign: ``(...)`` +1 for the left leg, −1 for the right leg.

    Returns:
        ``(...)`` degrees, + = internal rotation.

    Examples:
        >>> float(recover_rotation_deg([1.0, 1.0], [0, 0, -1.0], [0, 1.0, 0], 1.0))
        45.0

    """
    s_xy = _as_xy("shank_xy_vec", shank_xy_vec)
    f = np.asarray(femur_dir_cam, dtype=np.float64)
    down = np.asarray(down_dir_cam, dtype=np.float64)
    if f.shape[-1:] != (3,) or down.shape[-1:] != (3,):
        raise InputError(
            f"femur_dir_cam and down_dir_cam must have shape (..., 3), got {f.shape}, {down.shape}"
        )
    f = f / np.linalg.norm(f, axis=-1, keepdims=True)
    s_z = -(s_xy[..., 0] * f[..., 0] + s_xy[..., 1] * f[..., 1]) / f[..., 2]
    s = np.concatenate([np.broadcast_to(s_xy, s_z.shape + (2,)), s_z[..., None]], axis=-1)
    d = down - np.sum(down * f, axis=-1, keepdims=True) * f
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    f_x_d = np.stack([f[..., 1] * d[..., 2] - f[..., 2] * d[..., 1],
                      f[..., 2] * d[..., 0] - f[..., 0] * d[..., 2],
                      f[..., 0] * d[..., 1] - f[..., 1] * d[..., 0]], axis=-1)
    lat = np.asarray(lateral_sign, dtype=np.float64)[..., None] * f_x_d
    deg: npt.NDArray[np.float64] = np.degrees(np.arctan2(np.sum(s * lat, axis=-1),
                                                         np.sum(s * d, axis=-1)))
    return deg


def _solve_orthographic(
    thigh: FloatArray, shank: FloatArray, ratio: float, max_sin: float
) -> tuple[FloatArray, FloatArray] | None:
    """Femur and shank unit vectors under orthographic projection (fixed-point iteration)."""
    s_z = 0.0
    for _ in range(50):
        len_s = float(np.hypot(np.hypot(*shank), s_z))
        len_t = ratio * len_s
        t_norm = float(np.hypot(*thigh))
        if t_norm > len_t * max_sin:
            return None
        t_z = -np.sqrt(len_t**2 - t_norm**2)
        new_s_z = -float(shank @ thigh) / t_z
        done = abs(new_s_z - s_z) <= 1e-13 * len_s
        s_z = new_s_z
        if done:
            break
    femur = np.array([thigh[0], thigh[1], t_z]) / len_t
    shank3 = np.array([shank[0], shank[1], s_z])
    return femur, shank3 / np.linalg.norm(shank3)


def _solve_perspective(
    rays: FloatArray, ratio: float, max_sin: float
) -> tuple[FloatArray, FloatArray] | None:
    """Femur and shank unit vectors under a pinhole model; knee at unit depth.

    ``rays`` is ``(3, 3)``: hip, knee, ankle rays (x, y, 1). Unknown hip and ankle depths
    satisfy |thigh| = ratio·|shank| and shank ⊥ thigh. Plain floats: this runs for every
    leg of every frame, and numpy's per-call overhead dominated on 3-vectors.
    """
    (hx, hy, hz), (kx, ky, kz), (ax, ay, az) = rays.tolist()
    a, b = hx * hx + hy * hy + hz * hz, hx * kx + hy * ky + hz * kz
    kk = kx * kx + ky * ky + kz * kz
    z_a = 1.0
    fx = fy = fz = 0.0
    for _ in range(50):
        len_t = ratio * math.sqrt((z_a * ax - kx) ** 2 + (z_a * ay - ky) ** 2
                                  + (z_a * az - kz) ** 2)
        disc = b * b - a * (kk - len_t**2)
        if disc < 0 or len_t == 0:
            return None
        c = (b + math.sqrt(disc)) / a
        fx, fy, fz = (kx - c * hx) / len_t, (ky - c * hy) / len_t, (kz - c * hz) / len_t
        denom = ax * fx + ay * fy + az * fz
        if abs(denom) < 1e-9:
            return None
        new_z_a = (kx * fx + ky * fy + kz * fz) / denom
        done = abs(new_z_a - z_a) <= 1e-13
        z_a = new_z_a
        if done:
            break
    if math.hypot(fx, fy) > max_sin or fz >= 0:
        return None
    shank = np.array([z_a * ax - kx, z_a * ay - ky, z_a * az - kz])
    return np.array([fx, fy, fz]), shank / math.sqrt(float(shank @ shank))


def estimate_leg_directions(
    hip_xy: npt.ArrayLike,
    knee_xy: npt.ArrayLike,
    ankle_xy: npt.ArrayLike,
    *,
    thigh_to_shank_ratio: float = 1.0,
    focal_px: float | None = None,
    principal_xy: tuple[float, float] = (0.0, 0.0),
    max_view_deg: float = 35.0,
) -> tuple[FloatArray, FloatArray] | None:
    """Estimate the 3D femur and shank directions of one leg from its 2D joints.

    The femur points roughly at the camera, so its image (hip → knee) is foreshortened. Its
    3D length is taken as ``thigh_to_shank_ratio`` × the 3D shank length, and the shank is
    assumed perpendicular to the femur (knee at 90°); the two are solved by fixed-point
    iteration. With ``focal_px`` the joints are back-projected through a pinhole camera.

    Args:
        hip_xy: ``(2,)`` pixels, unmirrored frame: the hip joint centre.
        knee_xy: ``(2,)`` pixels.
        ankle_xy: ``(2,)`` pixels.
        thigh_to_shank_ratio: assumed 3D hip–knee over knee–ankle length.
        focal_px: focal length in pixels, or None for orthographic projection.
        principal_xy: principal point in pixels (used with ``focal_px``).
        max_view_deg: largest plausible femur angle from the optical axis.

    Returns:
        ``(femur_dir, shank_dir)`` unit ``(3,)`` vectors in the camera frame, or None when
        the thigh vector is implausible (too long for the assumed thigh length).

    """
    pts = np.stack([_as_xy(n, p) for n, p in
                    (("hip_xy", hip_xy), ("knee_xy", knee_xy), ("ankle_xy", ankle_xy))])
    if pts.shape != (3, 2) or not np.all(np.isfinite(pts)):
        raise InputError(f"hip_xy, knee_xy, ankle_xy must be finite (2,) points, got {pts.shape}")
    max_sin = float(np.sin(np.radians(max_view_deg)))
    if focal_px is None:
        return _solve_orthographic(pts[1] - pts[0], pts[2] - pts[1], thigh_to_shank_ratio, max_sin)
    rays = np.column_stack([(pts - np.asarray(principal_xy)) / focal_px, np.ones(3)])
    return _solve_perspective(rays, thigh_to_shank_ratio, max_sin)
