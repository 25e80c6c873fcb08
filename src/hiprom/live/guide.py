"""The guided seated IR self-test as a pure state machine (clinical notes §7).

:class:`Guide` consumes one :class:`~hiprom.pipeline.analysis.FrameRecord` per analysed
frame and key presses, and returns a :class:`GuideState`: the phase, the words to show, the
progress of the current step and the reps so far. No camera, window, clock or file here:
time is the records' ``timestamp_s`` (capture time), so a test injects time by building
records.

Phases: ``safety`` (red flags, stop rules) → ``setup`` (legs in view, distance, camera
tilt/yaw/roll estimated from the body) → ``neutral`` (sit still, shins vertical) → ``reps``
(swing one foot out and hold; 3 reps per side, alternating) → ``result``. With
``GuideConfig(auto=True)`` (a recording) no key is needed: every step advances on what the
person does, any side order is followed, and nothing is asked to be redone.

The neutral and the reps are the protocol's: from the test's start every record goes into
an :class:`~hiprom.pipeline.progress.IncrementalSummary`, which runs the pipeline of
``hiprom measure`` (:func:`~hiprom.pipeline.summarise.summarise_records`, same options) on
the session as it goes; the prompts and progress bars read its state (neutral found and
held, a leg moving or holding, reps scored). A scored rep with a compensation, low landmark
confidence or a short hold is asked to be redone in interactive mode.

The data types live in :mod:`hiprom.live.states` (re-exported here) and the reps phase in
:mod:`hiprom.live.reps`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from hiprom.core.geometry import LegMeasurement
from hiprom.core.posture import light_problem, limits_for, posture_features, posture_verdict
from hiprom.live.reps import RepsPhase
from hiprom.live.states import (
    GuideConfig,
    GuideRep,
    GuideState,
    Key,
    Phase,
    median,
)
from hiprom.pipeline.analysis import FrameRecord, MeasureOptions
from hiprom.pipeline.progress import IncrementalSummary, LegPhase, ProtocolState
from hiprom.vocabulary import MIN_VISIBILITY, SIDES, Side

__all__ = ["Guide", "light_tips", "posture_advice", "setup_advice"]

log = logging.getLogger(__name__)


def light_tips(light: tuple[float, float] | None) -> list[str]:
    """The setup step's advice on the light of one frame (``(picture, subject)`` grey level)."""
    problem = None if light is None else light_problem([light])
    if problem is None:
        return []
    if problem[0] == "dark":
        return ["Add light in front of you: the picture is too dark"]
    return ["Turn so the window or lamp lights you from the camera's side"]


#: Seconds of setup frames the seated-test check reads (the pipeline's own check, which
#: would refuse the whole session at the end: saying so before the test starts is kinder).
POSTURE_WINDOW_S = 1.0
#: Frames the window must hold before the check speaks.
POSTURE_MIN_FRAMES = 8


def posture_advice(rows: Sequence[np.ndarray], model: str = "full") -> list[str]:
    """What to do when these setup frames are not the seated test, then why; or [].

    ``rows`` are the frames' :func:`~hiprom.core.posture.posture_features`.
    """
    if len(rows) < POSTURE_MIN_FRAMES:
        return []
    reason = posture_verdict(rows, limits_for(model))[0]
    if reason is None:
        return []
    what = reason.partition("; ")[0]
    return ["Sit on the table edge facing the camera, feet hanging", what[:1].upper() + what[1:]]


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
    hidden = any(j.visibility < MIN_VISIBILITY for j in joints)
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
        view_deg = (median([j.view_pitch_deg for j in joints]),
                    median([j.view_yaw_deg for j in joints]), legs.pelvis_roll_deg)
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


class Guide(RepsPhase):
    """The guided test; feed it every analysed frame with :meth:`update`.

    Args:
        config: thresholds and the auto (recording) mode.
        resolution_wh: frame size, for the setup check and the camera model.
        options: the measurement options; the session is summarised with them by the
            pipeline's :func:`~hiprom.pipeline.summarise.summarise_records` as it goes, as
            ``hiprom measure`` would.
        background: summarise on a thread of its own, so no frame waits for it (a camera
            session); otherwise in :meth:`update`, the same on every run (files, tests).

    """

    def __init__(self, config: GuideConfig = GuideConfig(), *,
                 resolution_wh: tuple[int, int] = (640, 480),
                 options: MeasureOptions = MeasureOptions(), background: bool = False) -> None:
        self.config = config
        self.resolution_wh = resolution_wh
        self.options = options
        self.phase = Phase.SETUP if config.auto else Phase.SAFETY
        self.reps: list[GuideRep] = []
        self.neutral_deg: dict[str, float] = {"left": 0.0, "right": 0.0}
        self.test_start_s: float | None = 0.0 if config.auto else None
        self.setup_view: dict[str, float] = {}
        self.setup_advice: list[str] = []
        self.finished = False
        self.protocol = IncrementalSummary(resolution_wh, options, background=background)
        self._n_scored = 0
        self._excursion: dict[str, bool] = {}
        self._view: deque[tuple[float, float, float, float]] = deque()
        self._posture: deque[tuple[float, np.ndarray]] = deque()   # (t, posture features)
        self._ok_since: float | None = None
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
        self._last_t = record.timestamp_s
        self.protocol.resolution_wh = self.resolution_wh
        if self.config.auto or self.phase in (Phase.NEUTRAL, Phase.REPS):
            protocol = self.protocol.add(record)
            if self.phase is Phase.NEUTRAL:
                self._state = self._neutral(record, protocol)
            elif self.phase is Phase.REPS:
                self._state = self._reps(protocol)
            else:
                self._state = self._setup(record)
        elif self.phase is Phase.SAFETY:
            self._state = self._safety(record)
        elif self.phase is Phase.SETUP:
            self._state = self._setup(record)
        else:
            self._state = self._result(record)
        return self._state

    def settle(self) -> None:
        """At the end of a session: let a background summary finish and tally its reps."""
        self.protocol.wait()
        if self.phase is Phase.REPS:
            for rep in self.protocol.scored[self._n_scored:]:
                self._take(rep)
            self._n_scored = len(self.protocol.scored)

    def discarded_windows(self) -> list[tuple[Side, float, float]]:
        """``(side, start_s, end_s)`` of every rep that must not enter the result."""
        return [(r.side, r.start_s, r.end_s) for r in self.reps if not r.counts]

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
            self._view.append((record.timestamp_s, median([j.view_pitch_deg for j in joints]),
                               median([j.view_yaw_deg for j in joints]), legs.pelvis_roll_deg))
        while self._view and self._view[0][0] < record.timestamp_s - 1.0:
            self._view.popleft()
        cols: list[Sequence[float]] = (list(zip(*self._view, strict=True)) if self._view
                                       else [[], [], [], []])
        return median(list(cols[1])), median(list(cols[2])), median(list(cols[3]))

    def _setup(self, record: FrameRecord) -> GuideState:
        t = record.timestamp_s
        view = self._smoothed_view(record)
        advice = setup_advice(record.legs, record.n_persons, self.resolution_wh,
                              config=self.config, view_deg=view)
        self._posture.append((t, posture_features(record.legs)))
        while self._posture and self._posture[0][0] < t - POSTURE_WINDOW_S:
            self._posture.popleft()
        if record.legs is not None and not (advice and "in view" in advice[0]):
            # Not the seated test (standing, legs stretched out, seen from the side): that
            # comes before any camera advice, which assumes the person sits for the test.
            wrong = posture_advice([row for _, row in self._posture], self.options.model)
            advice = wrong or advice
        visible = record.legs is not None and not (advice and "in view" in advice[0])
        ok = visible if self.config.auto else not advice
        # Light is advice, not a gate: a dim room can still be measured.
        self.setup_advice = advice + light_tips(record.light)
        self.setup_view = {"pitch_deg": view[0], "yaw_deg": view[1], "roll_deg": view[2]}
        if record.legs is not None:
            self.setup_view["shank_px"] = float(np.median(
                [record.legs.leg(s).shank_length_px for s in SIDES]))
        self._ok_since = (self._ok_since if self._ok_since is not None else t) if ok else None
        held = 0.0 if self._ok_since is None else t - self._ok_since
        need = 0.5 if self.config.auto else self.config.setup_ok_s
        if held >= need:
            self._start_neutral(t)
        if self.phase is Phase.NEUTRAL:
            return GuideState(Phase.NEUTRAL, "Sit still, shins straight down",
                              "Hands on the seat edge, both sit bones down, trunk upright",
                              progress=0.0, finished=self.finished)
        if advice:
            return GuideState(Phase.SETUP, advice[0], " · ".join(advice[1:]) or
                              "Camera at knee height, 1.5-2.5 m away, landscape",
                              alert=True, finished=self.finished)
        return GuideState(Phase.SETUP, "Camera setup looks good", "Hold on...",
                          progress=held / need, progress_label="Checking setup",
                          finished=self.finished)

    def _start_neutral(self, t: float | None) -> None:
        self.phase = Phase.NEUTRAL
        if not self.config.auto:
            self.test_start_s = t if t is not None else self._last_t
            self.protocol.restart()

    def _neutral(self, record: FrameRecord, protocol: ProtocolState) -> GuideState:
        """Wait for the protocol's neutral on both legs, held ``neutral_s`` (auto: found)."""
        legs = [protocol.legs[s] for s in SIDES]
        found = all(leg.neutral is not None for leg in legs)
        still_s = min(leg.still_s for leg in legs) if found else 0.0
        moved = any(leg.phase in (LegPhase.MOVING, LegPhase.HOLDING) for leg in legs)
        if found and (still_s >= self.config.neutral_s or (self.config.auto and moved)):
            return self._finish_neutral(protocol)
        if found and not self.config.auto and still_s == 0.0:
            # The neutral ended too soon: the test starts again, so that the protocol's
            # neutral (the earliest still period) is the one held for neutral_s.
            self._start_neutral(record.timestamp_s)
        detail = "Hands on the seat edge, both sit bones down, trunk upright"
        limit = self.config.neutral_max_deg
        if record.legs is not None and any(
                not np.isfinite(leg.rotation_deg) or abs(leg.rotation_deg) > limit
                for leg in legs):
            detail = "Let both lower legs hang straight down and keep still"
        return GuideState(Phase.NEUTRAL, "Sit still, shins straight down", detail,
                          progress=min(still_s / self.config.neutral_s, 1.0),
                          progress_label=f"Keep still {still_s:.1f} / "
                                         f"{self.config.neutral_s:.0f} s",
                          finished=self.finished)

    def _finish_neutral(self, protocol: ProtocolState) -> GuideState:
        for side in SIDES:
            self.neutral_deg[side] = protocol.legs[side].neutral_deg
        log.debug("neutral %s", self.neutral_deg)
        self.protocol.fix_neutral()
        self.phase = Phase.REPS
        return self._reps(protocol)
