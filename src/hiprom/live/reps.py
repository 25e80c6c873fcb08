"""The reps phase of the guided test: detect each excursion, its hold, and score it.

A rep is followed through ``wait`` → ``moving`` → ``holding`` → ``release``; when the foot
is back near neutral the rep is scored by the pipeline of ``hiprom measure``
(:func:`~hiprom.pipeline.summarise.summarise_records`, same options) and accepted, asked
to be redone, or recorded.
:class:`RepsPhase` is a mixin of :class:`~hiprom.live.guide.Guide`, which owns the state.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from hiprom.core.geometry import LegMeasurement
from hiprom.core.protocol import Rep
from hiprom.live.states import REDO_CUES, GuideRep, GuideState, Phase, median
from hiprom.pipeline.analysis import FrameRecord, MeasureOptions
from hiprom.pipeline.summarise import summarise_records
from hiprom.vocabulary import SIDES, Side

if TYPE_CHECKING:
    from hiprom.live.states import GuideConfig

__all__ = ["RepsPhase"]

log = logging.getLogger(__name__)


class _RepProgress(TypedDict, total=False):
    """What is known so far of the rep being followed (times in seconds, angles in degrees)."""

    start: float
    raw: list[float]
    hold_start: float
    hold_end: float
    level: float
    left_band: float


class RepsPhase:
    """The reps phase and the rep tally; mixed into :class:`~hiprom.live.guide.Guide`."""

    config: GuideConfig
    options: MeasureOptions
    resolution_wh: tuple[int, int]
    phase: Phase
    reps: list[GuideRep]
    neutral_deg: dict[str, float]
    finished: bool
    _t: list[float]
    _legs: list[LegMeasurement | None]
    _still: deque[tuple[float, float, float]]
    _sub: str
    _active: Side | None
    _rep: _RepProgress
    _note: str
    _redos: int

    def counts(self) -> dict[str, int]:
        """Reps that count, per side."""
        return {s: sum(r.side == s and r.counts for r in self.reps) for s in SIDES}

    def _still_span(self) -> float:
        return self._still[-1][0] - self._still[0][0] if len(self._still) > 1 else 0.0

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
            return Side.LEFT
        other = Side.RIGHT if done[-1] == Side.LEFT else Side.LEFT
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
        raw = self._rep.setdefault("raw", [])
        raw.append(rel[side])
        x = median(raw[-3:])
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
        if steady and median(window) >= cfg.move_deg:
            self._rep.update({"hold_start": self._still[0][0], "hold_end": t,
                              "level": median(window)})
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
        """Score the rep as ``hiprom measure`` would: protocol over the test so far."""
        records = [FrameRecord(i, t, 1, legs)
                   for i, (t, legs) in enumerate(zip(self._t, self._legs, strict=True))]
        try:
            result = summarise_records(records, resolution_wh=self.resolution_wh,
                                       options=self.options).legs[side]
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
