"""The guided test's vocabulary: phases, keys, reps, redo cues and the state to show.

Pure data; :mod:`hiprom.live.guide` re-exports the public names .
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from hiprom.vocabulary import Side

__all__ = ["ONE_PERSON", "REDO_CUES", "GuideConfig", "GuideRep", "GuideState", "Key", "Phase",
           "median"]

#: How the guided test (window or app) asks for one person in view: it has no ``--subject``.
ONE_PERSON = "ask the others to step out of the picture"

#: Rep flags that make a rep untrustworthy, with the cue to fix it.
REDO_CUES: dict[str, str] = {
    "pelvis_roll": "Keep both sit bones down on the seat",
    "trunk_lean": "Keep your trunk upright, hands on the seat edge",
    "knee_drift": "Keep your knee still over its start point",
    "low_visibility": "Keep your knees and feet clearly in view",
    "labels_swapped": "Keep your knees apart and in view",
    "short_hold": "Hold the end position still for 2 seconds",
}


class Phase(StrEnum):
    """Steps of the guided test, in order (also the CSV ``phase`` column)."""

    SAFETY = "safety"
    SETUP = "setup"
    NEUTRAL = "neutral"
    REPS = "reps"
    RESULT = "result"


class Key(StrEnum):
    """What the person can ask for: next (space), redo the last rep (r), quit (q/Esc)."""

    NEXT = "next"
    REDO = "redo"
    QUIT = "quit"


@dataclass(frozen=True)
class GuideRep:
    """One rep as the guide saw it.

    Attributes:
        side: the leg that moved (anatomical).
        start_s, end_s: the excursion, from leaving neutral to coming back (seconds).
        hold_start_s, hold_end_s: the still end-range hold inside it.
        value_deg: the protocol's rep value (hold − neutral, + = IR), or None.
        flags: the protocol's quality flags of the rep.
        status: ``accepted``, ``redo`` (asked to repeat), ``discarded`` (the person pressed r)
            or ``recorded`` (auto mode: kept as it is).

    """

    side: Side
    start_s: float
    end_s: float
    hold_start_s: float
    hold_end_s: float
    value_deg: float | None
    flags: tuple[str, ...]
    status: str

    @property
    def counts(self) -> bool:
        """Whether the rep enters the result."""
        return self.status in ("accepted", "recorded")

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"side": self.side, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "hold_start_s": round(self.hold_start_s, 3),
                "hold_end_s": round(self.hold_end_s, 3),
                "value_deg": None if self.value_deg is None else round(self.value_deg, 2),
                "quality": list(self.flags), "status": self.status}


@dataclass(frozen=True)
class GuideState:
    """What to show for the newest frame.

    Attributes:
        phase: the current step.
        headline: the big instruction.
        detail: a second, smaller line (advice, reason, what comes next).
        progress: fraction of the current timed step (hold, neutral, setup), or None.
        progress_label: text over the progress bar.
        side: the leg to draw the angle of (moving or asked for), or None.
        rotation_deg: that leg's rotation from neutral in this frame (NaN if unknown).
        counts: accepted reps per side.
        reps: every rep so far.
        alert: the headline asks for a correction (shown in a warning colour).
        finished: the test is over (result reached and acknowledged, or quit).

    """

    phase: Phase
    headline: str
    detail: str = ""
    progress: float | None = None
    progress_label: str = ""
    side: Side | None = None
    rotation_deg: float = float("nan")
    counts: dict[str, int] = field(default_factory=lambda: {"left": 0, "right": 0})
    reps: tuple[GuideRep, ...] = ()
    alert: bool = False
    finished: bool = False


def median(values: list[float]) -> float:
    """Return the median of the finite values, NaN when there is none."""
    arr = np.asarray(values, np.float64)
    arr = arr[np.isfinite(arr)]
    return float(np.median(arr)) if arr.size else float("nan")


@dataclass(frozen=True)
class GuideConfig:
    """Tunables of the guide; defaults follow clinical notes §5 and §7.

    Attributes:
        auto: follow a recording: advance without keys and never ask for a redo.
        reps_per_side: measured reps per side.
        neutral_s: still time asked for the neutral (shins vertical) calibration.
        hold_s: end-range hold asked for (progress bar length).
        setup_ok_s: how long the setup must stay good before the test starts.
        move_deg: smallest IR rep the guide counts, and the inward swing it corrects.
        neutral_max_deg: the neutral prompt asks for shins within this angle of vertical
            (the protocol's neutral lies within it).
        min_shank_frac, max_shank_frac: shank length as a fraction of the image height.
        max_view_deg: camera pitch/yaw beyond which the setup asks to move the camera.
        max_roll_deg: hip-line tilt beyond which the setup asks to level camera or seat.
        max_redos: redo requests per rep before a flagged rep is kept (with its flags).

    """

    auto: bool = False
    reps_per_side: int = 3
    neutral_s: float = 3.0
    hold_s: float = 2.0
    setup_ok_s: float = 1.0
    move_deg: float = 8.0
    neutral_max_deg: float = 12.0
    min_shank_frac: float = 0.12
    max_shank_frac: float = 0.42
    max_view_deg: float = 25.0
    max_roll_deg: float = 5.0
    max_redos: int = 2
