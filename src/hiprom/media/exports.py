"""Exports for researchers: the per-frame hip rotation as OpenSim ``.mot`` and as C3D.

Both need every frame of the clip analysed (a fixed rate), so ``hiprom measure --export``
measures every frame. Angles are degrees, + = internal rotation, the person's own sides
(docs/CONVENTIONS.md); NaN marks a frame in which a leg was not measured.

* ``<stem>.mot``: an OpenSim motion file (storage header ``name``, ``version=1``, ``nRows``,
  ``nColumns``, ``inDegrees=yes``, ``endheader``) with the columns ``time``,
  ``hip_rotation_l`` and ``hip_rotation_r`` relative to each leg's neutral.
* ``<stem>.c3d``: the 2-D hip, knee and ankle points (pixels of the un-mirrored frame, z = 0,
  residual −1 where missing) and the two angles as points ``LHipRotation`` /
  ``RHipRotation`` (x = angle in degrees, as motion-capture systems store angles), at the
  clip's frame rate. Written with the ``c3d`` package.
"""

from __future__ import annotations

import io
import warnings
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hiprom.core.geometry import assign_sides
from hiprom.core.landmarks import LEG_LANDMARKS
from hiprom.errors import InputError, MissingExtraError
from hiprom.media.camera import DEFAULT_CAMERA_FPS
from hiprom.media.sinks import AtomicFiles, write_bytes_atomic
from hiprom.results.measurement import Measurement
from hiprom.vocabulary import SIDES

__all__ = ["ExportFormat", "c3d_bytes", "mot_text", "write_exports"]

#: C3D point labels: the six joints, then the two angles.
C3D_POINTS = ("LHip", "LKnee", "LAnkle", "RHip", "RKnee", "RAnkle", "LHipRotation",
              "RHipRotation")


class ExportFormat(StrEnum):
    """Research export formats."""

    MOT = "mot"
    C3D = "c3d"


def _check_clip(m: Measurement) -> None:
    if m.source.kind == "still":
        raise InputError(f"{m.source.path} is a photo; exports need a clip")


def _frame_rate(m: Measurement) -> float:
    """The clip's frame rate (the camera default when the file does not say)."""
    return float(m.source.fps or DEFAULT_CAMERA_FPS)


def _check_even_frames(m: Measurement) -> None:
    """C3D has one frame rate and no times: every frame, evenly spaced, or nothing."""
    _check_clip(m)
    rate = _frame_rate(m)
    gaps = np.diff(m.timestamps_s)
    steps = np.diff(m.frame_index)
    analysed_all = not steps.size or bool(np.all(steps == 1))
    # A damaged section skips frames too: say so before asking for every frame.
    if m.source.decode_gaps or (analysed_all and gaps.size
                                and np.abs(gaps * rate - 1.0).max() > 0.25):
        raise InputError("C3D holds one frame rate, and this clip's frames are not evenly "
                         "spaced (a damaged section or a variable frame rate): the .mot "
                         "export keeps each frame's own time")
    if not analysed_all:
        raise InputError("C3D needs every frame analysed; measure again with "
                         "--every-frame (and without --stride)")


def mot_text(m: Measurement, *, name: str = "hiprom") -> str:
    """The OpenSim motion file of ``m``'s per-frame hip rotation (each row its own time)."""
    _check_clip(m)
    t = m.timestamps_s - m.timestamps_s[0]
    columns = ("time", "hip_rotation_l", "hip_rotation_r")
    lines = [name, "version=1", f"nRows={t.size}", f"nColumns={len(columns)}", "inDegrees=yes",
             "endheader", "\t".join(columns)]
    for i in range(t.size):
        values = (t[i], m.rotation_deg["left"][i], m.rotation_deg["right"][i])
        lines.append("\t".join(f"{v:.6f}" if np.isfinite(v) else "nan" for v in values))
    return "\n".join(lines) + "\n"


def _points(m: Measurement, i: int) -> npt.NDArray[np.float32]:
    """``(8, 5)`` C3D points of frame ``i``: x, y, z, residual, camera mask."""
    out = np.zeros((len(C3D_POINTS), 5), np.float32)
    out[:, 3] = -1.0                                   # invalid until filled
    if m.landmarks_xy is not None and np.isfinite(m.landmarks_xy[i]).all():
        xy = m.landmarks_xy[i]
        labels = ("right", "left") if bool(assign_sides(xy)) else ("left", "right")
        for k, label in enumerate(labels):
            out[3 * k: 3 * k + 3, :2] = xy[list(LEG_LANDMARKS[label])]
            out[3 * k: 3 * k + 3, 3] = 0.0
    for k, side in enumerate(SIDES):
        value = m.rotation_deg[side][i]
        if np.isfinite(value):
            out[6 + k, 0], out[6 + k, 3] = value, 0.0
    return out


def c3d_bytes(m: Measurement) -> bytes:
    """A C3D file of ``m``'s 2-D leg points and hip rotation angles."""
    _check_even_frames(m)
    try:
        import c3d
    except ImportError as err:
        raise MissingExtraError('C3D export needs the c3d package: pip install '
                                '"hiprom[research]"') from err
    writer = c3d.Writer(point_rate=_frame_rate(m), point_units="px  ")   # float32 points
    empty = np.zeros((0, 0), np.float32)
    frames = [_points(m, i) for i in range(len(m.timestamps_s))]
    writer.add_frames([(points, empty) for points in frames])
    writer.set_point_labels(list(C3D_POINTS))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The file holds no analog channels on purpose; c3d warns about that.
        warnings.filterwarnings("ignore", message="No analog data", category=UserWarning)
        writer.write(buffer)
    return _zero_invalid_points(bytearray(buffer.getvalue()), frames)


def _zero_invalid_points(data: bytearray, frames: list[npt.NDArray[np.float32]]) -> bytes:
    """``data`` with each invalid point's coordinates 0 (its residual stays −1).

    The ``c3d`` writer reuses one buffer for every frame and sets only the residual of an
    invalid point, so its coordinates kept the last valid frame's values: a reader that
    ignores residuals drew a flat line through a gap. The points are float32 (x, y, z,
    residual) per point per frame from the data block the header's 9th word names.
    """
    start = 512 * (int.from_bytes(data[16:18], "little") - 1)
    if not frames:
        return bytes(data)
    raw = np.frombuffer(data, np.float32, len(frames) * frames[0].shape[0] * 4, start)
    raw = raw.reshape(len(frames), frames[0].shape[0], 4).copy()
    invalid = np.array([f[:, 3] < 0 for f in frames])
    raw[invalid, :3] = 0.0
    data[start:start + raw.nbytes] = raw.tobytes()
    return bytes(data)


def write_exports(m: Measurement, out_dir: str | Path, formats: tuple[ExportFormat, ...], *,
                  stem: str | None = None, files: AtomicFiles | None = None) -> list[Path]:
    """Write the requested exports of ``m`` into ``out_dir``; returns their paths.

    With ``files`` they are renamed into place with the rest of that set.
    """
    stem = stem or Path(m.source.path).stem
    written = []
    for kind in dict.fromkeys(formats):
        target = Path(out_dir) / f"{stem}.{kind.value}"
        data = (mot_text(m, name=stem).encode("utf-8") if kind is ExportFormat.MOT
                else c3d_bytes(m))
        written.append(write_bytes_atomic(target, data, group=files))
    return written
