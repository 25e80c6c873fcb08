"""A finished measurement: what the pipeline measured, as frozen data (docs/RESULTS.md).

:class:`Measurement` holds the per-frame arrays, the per-leg protocol results (values,
intervals, reps, quality flags), the seated-test check and which legs were tested. What
may be said about it (verdicts, asymmetry, the routine, red flags) is decided outside it,
by :func:`hiprom.plan.interpret.interpret`; the writers join the two
(:func:`hiprom.media.outputs.result_document` is the JSON contract). ``csv_rows`` is the
per-frame table. Pure: no file I/O here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from hiprom.core.posture import PostureCheck
from hiprom.core.protocol import LegResult
from hiprom.vocabulary import SIDES

__all__ = ["CSV_COLUMNS", "CONVENTION", "Measurement", "SourceInfo", "json_number", "rep_dict"]

CONVENTION = "degrees; + = internal rotation (foot moves outward); person's anatomical left/right"
CSV_COLUMNS = (
    "frame_index", "timestamp_s",
    "left_rotation_deg", "right_rotation_deg",
    "left_naive_deg", "right_naive_deg",
    "pelvis_roll_deg", "trunk_lean_deg",
    "left_visibility", "right_visibility",
    "n_persons",
)


@dataclass(frozen=True)
class SourceInfo:
    """Where a measurement came from."""

    path: str
    kind: str
    fps: float | None
    n_frames: int
    duration_s: float | None
    resolution_wh: tuple[int, int]
    mirrored: bool
    sha256: str | None = None
    truncated: bool = False
    frames_analysed: int | None = None
    sampling: str = "every_frame"
    #: Damaged sections that could not be decoded and were skipped: (last frame before,
    #: first frame after) in seconds, and the video time they lost in total.
    decode_gaps: tuple[tuple[float, float], ...] = ()
    decode_gap_s: float = 0.0

    @property
    def frames_analysed_fraction(self) -> float | None:
        """Frames analysed over frames decoded (None when not known)."""
        analysed = self.n_frames if self.frames_analysed is None else self.frames_analysed
        return round(analysed / self.n_frames, 4) if self.n_frames else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": self.path, "kind": self.kind, "fps": self.fps, "n_frames": self.n_frames,
            "duration_s": self.duration_s, "resolution_wh": list(self.resolution_wh),
            "mirrored": self.mirrored, "sha256": self.sha256, "truncated": self.truncated,
            "sampling": self.sampling,
            "frames_analysed": self.n_frames if self.frames_analysed is None
            else self.frames_analysed,
            "frames_analysed_fraction": self.frames_analysed_fraction,
            "decode_gap_s": _num(self.decode_gap_s, 3),
            "decode_gaps": [[_num(a, 3), _num(b, 3)] for a, b in self.decode_gaps],
        }


def _num(value: float | None, digits: int = 2) -> float | None:
    """``value`` rounded for JSON; None when missing or not finite."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def json_number(value: float | None, digits: int = 2) -> float | None:
    """``value`` rounded to ``digits`` for the result files; None for None, NaN or inf."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def rep_dict(rep: Any) -> dict[str, Any]:
    """One rep as the result JSON lists it."""
    return {
        "direction": rep.direction,
        "value_deg": json_number(rep.value_deg),
        "ci95_deg": json_number(rep.ci95_deg),
        "start_s": json_number(rep.hold.start_s, 3),
        "end_s": json_number(rep.hold.end_s, 3),
        "quality": list(rep.flags),
        "used": rep.used,
        "movement": {key: json_number(value, 3 if key == "knee_drift" else 2)
                     for key, value in rep.movement.items()},
    }


@dataclass(frozen=True)
class Measurement:
    """One measured input (clip, still or live session).

    Attributes:
        source: where it came from.
        legs: protocol result per anatomical side.
        timestamps_s: ``(n,)`` analysed frame times; the arrays below share this length.
        frame_index: ``(n,)`` source frame indices.
        rotation_deg: per side ``(n,)`` hip rotation relative to neutral, NaN = not measured.
        naive_deg: per side ``(n,)`` raw image knee→ankle angle, + lateral.
        pelvis_roll_deg, trunk_lean_deg, visibility: per-frame extras for the CSV.
        n_persons: ``(n,)`` people found per frame.
        quality: whole-input flags.
        measured_at: when the measurement was made, ISO 8601 UTC.
        model: pose model name and sha256.
        landmarks_xy: ``(n, 33, 2)`` subject landmarks per frame (px, un-mirrored), NaN if none.
        landmarks_visibility: ``(n, 33)`` their visibility.
        others_xy: per frame, ``(k, 33, 2)`` landmarks of the other people found (px,
            un-mirrored), or None where the model did not look for them; for face blurring.
        faces_blurred: whether faces are blurred in the images exported with this result
            (set by :func:`hiprom.media.outputs.write_outputs`; None until then).
        fulcrum: per side measured about a fixed knee, ``(knee_xy, down_xy)``: the neutral
            knee and the unit reference vertical, pixels (drawn by the overlay).

    """

    source: SourceInfo
    legs: dict[str, LegResult]
    timestamps_s: np.ndarray
    frame_index: np.ndarray
    rotation_deg: dict[str, np.ndarray]
    naive_deg: dict[str, np.ndarray]
    pelvis_roll_deg: np.ndarray
    trunk_lean_deg: np.ndarray
    visibility: dict[str, np.ndarray]
    n_persons: np.ndarray
    model: dict[str, str]
    quality: tuple[str, ...] = ()
    measured_at: str = field(default_factory=_utc_now)
    landmarks_xy: np.ndarray | None = None
    landmarks_visibility: np.ndarray | None = None
    others_xy: list[np.ndarray | None] | None = None
    faces_blurred: bool | None = None
    fulcrum: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    protocol: PostureCheck | None = None
    tested: dict[str, bool] = field(default_factory=lambda: {s: True for s in SIDES})
    side_note: str | None = None

    @property
    def valid(self) -> bool:
        """Whether the input passed the seated-test check (True when it was not checked)."""
        return self.protocol is None or self.protocol.valid

    def protocol_dict(self) -> dict[str, object]:
        """The ``protocol`` block of the result JSON: the seated-test check and the side note."""
        protocol: dict[str, object] = (self.protocol.to_dict() if self.protocol is not None
                                       else {"valid": True, "reason": None})
        if self.side_note:
            protocol["note"] = self.side_note
        return protocol

    def csv_rows(self) -> list[dict[str, Any]]:
        """One dict per analysed frame, keys :data:`CSV_COLUMNS`; NaN becomes None."""
        rows = []
        for i in range(len(self.timestamps_s)):
            rows.append({
                "frame_index": int(self.frame_index[i]),
                "timestamp_s": json_number(self.timestamps_s[i], 4),
                "left_rotation_deg": json_number(self.rotation_deg["left"][i]),
                "right_rotation_deg": json_number(self.rotation_deg["right"][i]),
                "left_naive_deg": json_number(self.naive_deg["left"][i]),
                "right_naive_deg": json_number(self.naive_deg["right"][i]),
                "pelvis_roll_deg": json_number(self.pelvis_roll_deg[i]),
                "trunk_lean_deg": json_number(self.trunk_lean_deg[i]),
                "left_visibility": json_number(self.visibility["left"][i], 3),
                "right_visibility": json_number(self.visibility["right"][i], 3),
                "n_persons": int(self.n_persons[i]),
            })
        return rows
