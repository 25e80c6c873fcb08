"""A finished measurement and its two file forms (see docs/RESULTS.md).

:class:`Measurement` joins what the pipeline measured (per-frame records, per-leg
protocol results, the seated-test check, which legs were tested) with what it means
(verdicts — withheld when a value rests only on compensated reps —, asymmetry, the routine;
none of them for an untested leg or an input that is not the seated test). ``to_dict`` is
the JSON contract; ``csv_rows`` the per-frame table. Pure: no file I/O here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from hiprom._version import __version__
from hiprom.core.posture import PostureCheck
from hiprom.core.protocol import LegResult
from hiprom.plan.assessment import DISCLAIMER, LegInput, asymmetry, verdict_for
from hiprom.plan.routines import build_plan
from hiprom.results.files import SCHEMA
from hiprom.vocabulary import SIDES

__all__ = ["CSV_COLUMNS", "Measurement", "SourceInfo", "CONVENTION"]

CONVENTION = "degrees; + = internal rotation (foot moves outward); person's anatomical left/right"
CSV_COLUMNS = (
    "frame_index", "timestamp_s",
    "left_rotation_deg", "right_rotation_deg",
    "left_naive_deg", "right_naive_deg",
    "pelvis_roll_deg", "trunk_lean_deg",
    "left_visibility", "right_visibility",
    "n_persons",
)
_COMPENSATIONS = ("pelvis_roll", "trunk_lean", "knee_drift")


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
        }


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _num(value: float | None, digits: int = 2) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _rep_dict(rep: Any) -> dict[str, Any]:
    return {
        "direction": rep.direction,
        "value_deg": _num(rep.value_deg),
        "ci95_deg": _num(rep.ci95_deg),
        "start_s": _num(rep.hold.start_s, 3),
        "end_s": _num(rep.hold.end_s, 3),
        "quality": list(rep.flags),
        "used": rep.used,
    }


@dataclass
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

    def reported(self, side: str) -> bool:
        """Whether ``side`` gets a value: a valid seated test and a tested leg."""
        return self.valid and self.tested.get(side, True)

    def withheld(self, side: str) -> str | None:
        """Why the verdict on ``side`` is withheld (its value rests on a compensated rep)."""
        flags = [f for f in _COMPENSATIONS if f in self.legs[side].quality]
        if not flags or self.legs[side].internal_rotation_deg is None:
            return None
        words = {"pelvis_roll": "the pelvis lifted", "trunk_lean": "the trunk leaned",
                 "knee_drift": "the knee drifted sideways"}
        cues = {"pelvis_roll": "keep both sit bones down", "trunk_lean": "sit tall and still",
                "knee_drift": "keep the knee still over its start point"}
        return (f"The value is unreliable: {' and '.join(words[f] for f in flags)} during every "
                f"rep. Repeat the test and {'; '.join(cues[f] for f in flags)}.")

    def leg_input(self, side: str) -> LegInput | None:
        """The leg's result as the assessment/routine engine reads it (None: no verdict)."""
        leg = self.legs[side]
        if (leg.internal_rotation_deg is None or not self.reported(side)
                or self.withheld(side) is not None):
            return None
        ci = leg.internal_rotation_ci95_deg
        return LegInput(
            ir_deg=leg.internal_rotation_deg,
            er_deg=leg.external_rotation_deg,
            **({} if ci is None else {"ci95_deg": ci}),
        )

    def compensations(self) -> tuple[str, ...]:
        """Compensation flags seen on either leg."""
        seen = {f for leg in self.legs.values() for f in leg.quality}
        return tuple(f for f in _COMPENSATIONS if f in seen)

    def _leg_dict(self, side: str) -> dict[str, Any]:
        leg = self.legs[side]
        reported = self.reported(side)
        ci = leg.internal_rotation_ci95_deg if reported else None
        withheld = self.withheld(side) if reported else None
        verdict: dict[str, Any] | None = None
        if reported and withheld is not None:
            verdict = {"code": "withheld", "reason": withheld, "sentence": withheld,
                       "band": None, "borderline": False}
        elif reported:
            verdict = verdict_for(leg.internal_rotation_deg,
                                  **({} if ci is None else {"ci95_deg": ci})).to_dict()
        er_ci = leg.external_rotation_ci95_deg if reported else None
        return {
            "tested": self.tested.get(side, True),
            "internal_rotation_deg": _num(leg.internal_rotation_deg) if reported else None,
            "internal_rotation_ci95_deg": _num(ci),
            "external_rotation_deg": _num(leg.external_rotation_deg) if reported else None,
            "external_rotation_ci95_deg": _num(er_ci),
            "neutral_deg": _num(leg.neutral_deg),
            "noise_sd_deg": _num(leg.noise_sd_deg),
            "verdict": verdict,
            "quality": list(leg.quality),
            "reps": [_rep_dict(r) for r in leg.reps],
        }

    def to_dict(self) -> dict[str, Any]:
        """The result JSON (docs/RESULTS.md)."""
        left, right = self.leg_input("left"), self.leg_input("right")
        asym = asymmetry(
            None if left is None else left.ir_deg, None if right is None else right.ir_deg
        )
        plan = None
        if left is not None or right is not None:
            plan = build_plan(left, right, compensations=self.compensations()).to_dict()
        protocol: dict[str, object] = (self.protocol.to_dict() if self.protocol is not None
                                       else {"valid": True, "reason": None})
        if self.side_note:
            protocol["note"] = self.side_note
        return {
            "schema": SCHEMA,
            "hiprom_version": __version__,
            "model": dict(self.model),
            "measured_at": self.measured_at,
            "source": self.source.to_dict(),
            "faces_blurred": self.faces_blurred,
            "convention": CONVENTION,
            "protocol": protocol,
            "legs": {side: self._leg_dict(side) for side in SIDES},
            "asymmetry_deg": (None if left is None or right is None
                              else _num(left.ir_deg - right.ir_deg)),
            "asymmetry": asym.to_dict(),
            "quality": list(self.quality),
            "recommendations": plan,
            "red_flags": [] if plan is None else plan["red_flags"],
            "disclaimer": DISCLAIMER,
            **self.extra,
        }

    def csv_rows(self) -> list[dict[str, Any]]:
        """One dict per analysed frame, keys :data:`CSV_COLUMNS`; NaN becomes None."""
        rows = []
        for i in range(len(self.timestamps_s)):
            rows.append({
                "frame_index": int(self.frame_index[i]),
                "timestamp_s": _num(self.timestamps_s[i], 4),
                "left_rotation_deg": _num(self.rotation_deg["left"][i]),
                "right_rotation_deg": _num(self.rotation_deg["right"][i]),
                "left_naive_deg": _num(self.naive_deg["left"][i]),
                "right_naive_deg": _num(self.naive_deg["right"][i]),
                "pelvis_roll_deg": _num(self.pelvis_roll_deg[i]),
                "trunk_lean_deg": _num(self.trunk_lean_deg[i]),
                "left_visibility": _num(self.visibility["left"][i], 3),
                "right_visibility": _num(self.visibility["right"][i], 3),
                "n_persons": int(self.n_persons[i]),
            })
        return rows
