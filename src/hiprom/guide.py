"""The guided seated IR self-test as a pure state machine (clinical notes §7).

:class:`Guide` consumes one :class:`~hiprom.pipeline.FrameRecord` per analysed frame and key
presses, and returns a :class:`GuideState`: the phase, the words to show, the progress of the
current step and the reps so far. No camera, window, clock or file here: time is the records'
``timestamp_s`` (capture time), so a test injects time by building records.

Phases: ``safety`` (red flags, stop rules) → ``setup`` (legs in view, distance, camera
tilt/yaw/roll estimated from the body) → ``neutral`` (sit still, shins vertical) → ``reps``
(swing one foot out and hold; 3 reps per side, alternating) → ``result``. With
``GuideConfig(auto=True)`` (a recording) no key is needed: every step advances on what the
person does, any side order is followed, and nothing is asked to be redone.

Each finished rep is scored with the same protocol code as ``hiprom measure``
(:func:`~hiprom.protocol.summarise_leg`); a rep with a compensation, low landmark confidence
or a short hold is flagged and, in interactive mode, asked to be redone.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np

from hiprom.geometry import LegMeasurement, Side
from hiprom.pipeline import FrameRecord
from hiprom.protocol import Rep, build_leg_series, summarise_leg

__all__ = ["GuideConfig", "GuideRep", "GuideState", "Guide", "Key", "Phase", "setup_advice"]

log = logging.getLogger(__name__)
SIDES: tuple[Side, Side] = ("left", "right")
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
class GuideConfig:
    """Tunables of the guide; defaults follow clinical notes §5 and §7.

    Attributes:
        auto: follow a recording: advance without keys and never ask for a redo.
        reps_per_side: measured reps per side.
        neutral_s: still time asked for the neutral (shins vertical) calibration.
        min_still_s: shortest still period that counts (neutral in auto mode, and a hold).
        hold_s: end-range hold asked for (progress bar length).
        setup_ok_s: how long the setup must stay good before the test starts.
        move_deg: rotation from neutral that counts as the foot moving out.
        still_band_deg: largest swing of the smoothed angle within a still period.
        neutral_max_deg: shins count as vertical within this angle of the hip-line normal.
        min_shank_frac, max_shank_frac: shank length as a fraction of the image height.
        max_view_deg: camera pitch/yaw beyond which the setup asks to move the camera.
        max_roll_deg: hip-line tilt beyond which the setup asks to level camera or seat.
        max_redos: redo requests per rep before a flagged rep is kept (with its flags).
    """

    auto: bool = False
    reps_per_side: int = 3
    neutral_s: float = 3.0
    min_still_s: float = 1.0
    hold_s: float = 2.0
    setup_ok_s: float = 1.0
    move_deg: float = 8.0
    still_band_deg: float = 5.0
    neutral_max_deg: float = 12.0
    min_shank_frac: float = 0.12
    max_shank_frac: float = 0.42
    max_view_deg: float = 25.0
    max_roll_deg: float = 5.0
    max_redos: int = 2


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


def _median(values: list[float]) -> float:
    arr = np.asarray(values, np.float64)
    arr = arr[np.isfinite(arr)]
    return float(np.median(arr)) if arr.size else float("nan")


def setup_advice(legs: LegMeasurement | None, n_persons: int, resolution_wh: tuple[int, int],
                 *, config: GuideConfig = GuideConfig(),
                 view_deg: tuple[float, float, float] | None = None) -> list[str]:
    """Concrete advice for the camera setup in one frame; empty when all is well.

    Args:
        legs: the subject's legs in the (unmirrored) frame, or None when nobody is seen.
        n_persons: people the model found.
        resolution_wh: frame size in pixels.
        config: thresholds.
        view_deg: smoothed ``(pitch, yaw, roll)`` in degrees (geometry's ``view_pitch_deg``,
            ``view_yaw_deg`` and the pelvis roll); taken from ``legs`` when None.
    """
    if legs is None:
        return ["Sit on the table edge facing the camera, whole body in view"]
    if n_persons > 1:
        return ["Only one person in view, please"]
    w, h = resolution_wh
    joints = [legs.leg(s) for s in SIDES]
    hidden = any(j.visibility < 0.5 for j in joints)
    outside = any(not (0 <= j.ankle_xy[1] <= 0.97 * h and 0 <= j.ankle_xy[0] <= w) for j in joints)
    if hidden or outside:
        return ["Move back so your knees and feet are in view"]
    advice = []
    shank = float(np.median([j.shank_length_px for j in joints]))
    if shank < config.min_shank_frac * h:
        advice.append("Move closer to the camera: your lower legs look small")
    elif shank > config.max_shank_frac * h:
        advice.append("Move back from the camera a little")
    if view_deg is None:
        view_deg = (_median([j.view_pitch_deg for j in joints]),
                    _median([j.view_yaw_deg for j in joints]), legs.pelvis_roll_deg)
    pitch, yaw, roll = view_deg
    if np.isfinite(pitch) and pitch > config.max_view_deg:
        advice.append("Lower the camera to knee height, lens level")
    elif np.isfinite(pitch) and pitch < -config.max_view_deg:
        advice.append("Raise the camera to knee height, lens level")
    if np.isfinite(yaw) and abs(yaw) > config.max_view_deg:
        advice.append("Turn the camera to face you straight on")
    if np.isfinite(roll) and abs(roll) > config.max_roll_deg:
        advice.append("Level the camera and sit with both sit bones down")
    return advice


class Guide:
    """The guided test; feed it every analysed frame with :meth:`update`.

    Args:
        config: thresholds and the auto (recording) mode.
        resolution_wh: frame size, for the setup check.
    """

    def __init__(self, config: GuideConfig = GuideConfig(), *,
                 resolution_wh: tuple[int, int] = (640, 480)) -> None:
        self.config = config
        self.resolution_wh = resolution_wh
        self.phase = Phase.SETUP if config.auto else Phase.SAFETY
        self.reps: list[GuideRep] = []
        self.neutral_deg: dict[str, float] = {"left": 0.0, "right": 0.0}
        self.test_start_s: float | None = 0.0 if config.auto else None
        self.setup_view: dict[str, float] = {}
        self.setup_advice: list[str] = []
        self.finished = False
        self._t: list[float] = []
        self._legs: list[LegMeasurement | None] = []
        self._view: deque[tuple[float, float, float, float]] = deque()
        self._still: deque[tuple[float, float, float]] = deque()
        self._ok_since: float | None = None
        self._sub = "wait"
        self._active: Side | None = None
        self._rep: dict[str, float] = {}
        self._note = ""
        self._redos = 0
        self._last_t = 0.0
        self._state = GuideState(self.phase, "")

    # --- public API -----------------------------------------------------------------------

    def press(self, key: Key) -> GuideState:
        """Apply a key press; returns the state to show."""
        if key is Key.QUIT:
            self.finished = True
        elif key is Key.NEXT:
            self._next()
        elif key is Key.REDO:
            self._redo_last()
        self._state = replace(self._state, finished=self.finished)
        return self._state

    def update(self, record: FrameRecord) -> GuideState:
        """Consume one frame's record; returns the state to show for it."""
        t = record.timestamp_s
        self._last_t = t
        if self.config.auto or self.phase in (Phase.NEUTRAL, Phase.REPS):
            self._t.append(t)
            self._legs.append(record.legs)
        handler = {Phase.SAFETY: self._safety, Phase.SETUP: self._setup,
                   Phase.NEUTRAL: self._neutral, Phase.REPS: self._reps,
                   Phase.RESULT: self._result}[self.phase]
        self._state = handler(record)
        return self._state

    def discarded_windows(self) -> list[tuple[Side, float, float]]:
        """``(side, start_s, end_s)`` of every rep that must not enter the result."""
        return [(r.side, r.start_s, r.end_s) for r in self.reps if not r.counts]

    def counts(self) -> dict[str, int]:
        """Reps that count, per side."""
        return {s: sum(r.side == s and r.counts for r in self.reps) for s in SIDES}

    # --- keys ------------------------------------------------------------------------------

    def _next(self) -> None:
        if self.phase is Phase.SAFETY:
            self.phase = Phase.SETUP
        elif self.phase is Phase.SETUP:
            self._start_neutral(None)
        elif self.phase is Phase.REPS and self.reps and self.reps[-1].status == "redo":
            self.reps[-1] = replace(self.reps[-1], status="accepted")
            self._note = ""
            self._maybe_done()
        elif self.phase is Phase.RESULT:
            self.finished = True

    def _redo_last(self) -> None:
        if self.phase is not Phase.REPS or not self.reps:
            return
        last = self.reps[-1]
        self.reps[-1] = replace(last, status="discarded")
        self._note = f"Rep removed: do it again with your {last.side.upper()} foot"

    # --- phases -------------------------------------------------------------------------------

    def _safety(self, record: FrameRecord) -> GuideState:
        return GuideState(Phase.SAFETY, "Before you start", "Press SPACE if none of this "
                          "applies to you, Q to quit", finished=self.finished)

    def _smoothed_view(self, record: FrameRecord) -> tuple[float, float, float]:
        legs = record.legs
        if legs is not None:
            joints = [legs.leg(s) for s in SIDES]
            self._view.append((record.timestamp_s, _median([j.view_pitch_deg for j in joints]),
                               _median([j.view_yaw_deg for j in joints]), legs.pelvis_roll_deg))
        while self._view and self._view[0][0] < record.timestamp_s - 1.0:
            self._view.popleft()
        cols = list(zip(*self._view, strict=True)) if self._view else [[], [], [], []]
        return _median(list(cols[1])), _median(list(cols[2])), _median(list(cols[3]))

    def _setup(self, record: FrameRecord) -> GuideState:
        t = record.timestamp_s
        view = self._smoothed_view(record)
        advice = setup_advice(record.legs, record.n_persons, self.resolution_wh,
                              config=self.config, view_deg=view)
        visible = record.legs is not None and not (advice and "in view" in advice[0])
        ok = visible if self.config.auto else not advice
        self.setup_advice = advice
        self.setup_view = {"pitch_deg": view[0], "yaw_deg": view[1], "roll_deg": view[2]}
        if record.legs is not None:
            self.setup_view["shank_px"] = float(np.median(
                [record.legs.leg(s).shank_length_px for s in SIDES]))
        self._ok_since = (self._ok_since if self._ok_since is not None else t) if ok else None
        held = 0.0 if self._ok_since is None else t - self._ok_since
        need = 0.5 if self.config.auto else self.config.setup_ok_s
        if held >= need:
            self._start_neutral(t)
            return self._neutral(record)
        if advice:
            return GuideState(Phase.SETUP, advice[0], " · ".join(advice[1:]) or
                              "Camera at knee height, 1.5-2.5 m away, landscape",
                              alert=True, finished=self.finished)
        return GuideState(Phase.SETUP, "Camera setup looks good", "Hold on...",
                          progress=held / need, progress_label="Checking setup",
                          finished=self.finished)

    def _start_neutral(self, t: float | None) -> None:
        self.phase = Phase.NEUTRAL
        self._still.clear()
        if not self.config.auto:
            self.test_start_s = t if t is not None else self._last_t

    def _neutral(self, record: FrameRecord) -> GuideState:
        t, legs = record.timestamp_s, record.legs
        values = (float("nan"),) * 2 if legs is None else tuple(
            legs.leg(s).rotation_deg for s in SIDES)
        vertical = all(np.isfinite(v) and abs(v) <= self.config.neutral_max_deg for v in values)
        if vertical and self._still and max(
                abs(v - _median([s[i + 1] for s in self._still])) for i, v in enumerate(values)
        ) > self.config.still_band_deg / 2 + 1.0:
            vertical = False
        if not vertical:
            moved_after = self.config.auto and self._still_span() >= self.config.min_still_s
            if moved_after:
                return self._finish_neutral(record)
            self._still.clear()
        else:
            self._still.append((t, *values))
        span = self._still_span()
        if span >= self.config.neutral_s:
            return self._finish_neutral(record)
        detail = "Hands on the seat edge, both sit bones down, trunk upright"
        if legs is not None and not vertical:
            detail = "Let both lower legs hang straight down and keep still"
        return GuideState(Phase.NEUTRAL, "Sit still, shins straight down", detail,
                          progress=span / self.config.neutral_s,
                          progress_label=f"Keep still {span:.1f} / {self.config.neutral_s:.0f} s",
                          finished=self.finished)

    def _still_span(self) -> float:
        return self._still[-1][0] - self._still[0][0] if len(self._still) > 1 else 0.0

    def _finish_neutral(self, record: FrameRecord) -> GuideState:
        for i, side in enumerate(SIDES):
            self.neutral_deg[side] = _median([s[i + 1] for s in self._still])
        log.debug("neutral %s", self.neutral_deg)
        self.phase = Phase.REPS
        self._still.clear()
        return self._reps(record)

    # --- reps ---------------------------------------------------------------------------------

    def _rel(self, record: FrameRecord) -> dict[str, float]:
        legs = record.legs
        return {s: float("nan") if legs is None else legs.leg(s).rotation_deg - self.neutral_deg[s]
                for s in SIDES}

    def _target(self) -> Side:
        counts, n = self.counts(), self.config.reps_per_side
        open_sides = [s for s in SIDES if counts[s] < n] or list(SIDES)
        if self.reps and not self.reps[-1].counts and self.reps[-1].side in open_sides:
            return self.reps[-1].side
        if len(open_sides) == 1:
            return open_sides[0]
        done = [r.side for r in self.reps if r.counts]
        if not done:
            return "left"
        other: Side = "right" if done[-1] == "left" else "left"
        return other if counts[other] <= counts[done[-1]] else done[-1]

    def _reps(self, record: FrameRecord) -> GuideState:
        t, rel = record.timestamp_s, self._rel(record)
        if self._sub == "wait":
            moving = [s for s in SIDES
                      if np.isfinite(rel[s]) and abs(rel[s]) > self.config.move_deg]
            if not moving:
                return self._wait_state(rel)
            self._active = max(moving, key=lambda s: abs(rel[s]))
            self._sub, self._rep = "moving", {"start": t}
            self._still.clear()
        side = self._active
        assert side is not None
        self._rep.setdefault("raw", [])
        raw: list[float] = self._rep["raw"]  # type: ignore[assignment]
        raw.append(rel[side])
        x = _median(raw[-3:])
        step = {"moving": self._moving, "holding": self._holding, "release": self._release}
        return step[self._sub](t, x, side)

    def _moving(self, t: float, x: float, side: Side) -> GuideState:
        cfg = self.config
        if np.isfinite(x) and abs(x) < cfg.move_deg / 2:
            self._note = "Hold the end position still for 2 seconds, then come back"
            self._sub = "wait"
            return self._wait_state({side: x})
        self._still.append((t, x, 0.0))
        while self._still and self._still[0][0] < t - 0.5:
            self._still.popleft()
        window = [v for _, v, _ in self._still]
        steady = (self._still_span() >= 0.4 and np.all(np.isfinite(window))
                  and max(window) - min(window) <= cfg.still_band_deg)
        if steady and _median(window) >= cfg.move_deg:
            self._rep.update(hold_start=self._still[0][0], hold_end=t, level=_median(window))
            self._sub = "holding"
            return self._holding(t, x, side)
        if np.isfinite(x) and x <= -cfg.move_deg:
            return self._rep_state("Swing the foot OUTWARD", "Away from the other foot", side, x,
                                   alert=True)
        return self._rep_state("Out to your first firm stop, then hold", "Slowly; no pain",
                               side, x)

    def _holding(self, t: float, x: float, side: Side) -> GuideState:
        cfg = self.config
        level = float(self._rep["level"])
        held = float(self._rep["hold_end"]) - float(self._rep["hold_start"])
        if np.isfinite(x) and abs(x - level) <= 0.6 * cfg.still_band_deg:
            self._rep["hold_end"] = t
            held = t - float(self._rep["hold_start"])
            if held >= cfg.hold_s:
                self._sub = "release"
        elif held >= cfg.min_still_s:
            self._sub = "release"
            self._rep["left_band"] = 1.0
        else:
            self._sub = "moving"
            self._still.clear()
        if self._sub == "release":
            return self._release(t, x, side)
        return self._rep_state("Hold it there", "Stop at once if it pinches", side, x,
                               progress=held / cfg.hold_s,
                               label=f"Hold {held:.1f} / {cfg.hold_s:.0f} s")

    def _release(self, t: float, x: float, side: Side) -> GuideState:
        level = float(self._rep["level"])
        inside = np.isfinite(x) and abs(x - level) <= 0.6 * self.config.still_band_deg
        if inside and "left_band" not in self._rep:
            self._rep["hold_end"] = t
        elif not inside:
            self._rep["left_band"] = 1.0
        if np.isfinite(x) and abs(x) < max(4.0, 0.35 * level):
            return self._complete(t, side)
        return self._rep_state("Good! Now bring the foot back", "Slowly, to hanging straight",
                               side, x, progress=1.0, label="Hold done")

    def _complete(self, t: float, side: Side) -> GuideState:
        hold = (float(self._rep["hold_start"]), float(self._rep["hold_end"]))
        value, flags = self._score(side, hold)
        redo = sorted(set(flags) & set(REDO_CUES))
        status, self._note = "accepted", ""
        if self.config.auto:
            status = "recorded"
        elif self.counts()[side] >= self.config.reps_per_side:
            status = "discarded"
            self._note = f"Your {side.upper()} side is done already"
        elif redo and self._redos < self.config.max_redos:
            status, self._redos = "redo", self._redos + 1
            self._note = f"Let's redo that one: {REDO_CUES[redo[0]].lower()}"
        if status == "accepted":
            self._redos = 0
        self.reps.append(GuideRep(side, float(self._rep["start"]), t, *hold, value,
                                  tuple(flags), status))
        log.debug("rep %s", self.reps[-1])
        self._sub, self._active, self._rep = "wait", None, {}
        self._still.clear()
        self._maybe_done()
        if self.phase is Phase.RESULT:
            return self._result(None)
        return self._wait_state({})

    def _score(self, side: Side, hold: tuple[float, float]) -> tuple[float | None, tuple[str, ...]]:
        """The rep as ``hiprom measure`` would score it: protocol over the test so far."""
        try:
            result = summarise_leg(build_leg_series(np.array(self._t), self._legs, side))
        except Exception:  # noqa: BLE001 - a scoring failure must not stop the session
            log.debug("rep scoring failed", exc_info=True)
            return None, ("few_frames",)

        def overlap(rep: Rep) -> float:
            return min(rep.hold.end_s, hold[1]) - max(rep.hold.start_s, hold[0])

        best = max(result.reps, key=overlap, default=None)
        if best is None or overlap(best) < 0:
            return None, ("short_hold",)
        return best.value_deg, best.flags

    def _maybe_done(self) -> None:
        if not self.config.auto and all(
                c >= self.config.reps_per_side for c in self.counts().values()):
            self.phase = Phase.RESULT

    def _wait_state(self, rel: dict[str, float]) -> GuideState:
        if self.config.auto:
            return self._rep_state("Swing one foot out and hold", self._note or
                                   "Following the recording", None, float("nan"))
        target = self._target()
        n = self.config.reps_per_side
        detail = self._note or (f"{target.capitalize()} hip, rep {self.counts()[target] + 1} "
                                f"of {n}: the foot moves away from the other foot")
        return self._rep_state(f"Swing your {target.upper()} foot out", detail, target,
                               rel.get(target, float("nan")), alert=bool(self._note))

    def _rep_state(self, headline: str, detail: str, side: Side | None, x: float, *,
                   progress: float | None = None, label: str = "",
                   alert: bool = False) -> GuideState:
        return GuideState(Phase.REPS, headline, detail, progress, label, side, x, self.counts(),
                          tuple(self.reps), alert, self.finished)

    def _result(self, record: FrameRecord | None) -> GuideState:
        return GuideState(Phase.RESULT, "Test complete", "Press SPACE or Q to finish",
                          counts=self.counts(), reps=tuple(self.reps), finished=self.finished)
