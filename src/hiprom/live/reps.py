"""The reps phase of the guided test: prompts and the rep tally, read from the protocol.

The guide detects nothing itself. :class:`~hiprom.pipeline.progress.IncrementalSummary` runs
the pipeline's protocol on the session as it goes and says, per leg, whether it rests,
moves or holds an end range, and which reps it has scored; this phase words that for the
person and decides, in interactive mode, whether a scored rep is accepted or asked again
(its quality flags are the protocol's).
:class:`RepsPhase` is a mixin of :class:`~hiprom.live.guide.Guide`, which owns the state.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from hiprom.live.states import REDO_CUES, GuideRep, GuideState, Phase
from hiprom.pipeline.progress import LegPhase, ProtocolState, ScoredRep
from hiprom.vocabulary import SIDES, Side

if TYPE_CHECKING:
    from hiprom.live.states import GuideConfig

__all__ = ["RepsPhase"]

log = logging.getLogger(__name__)


class RepsPhase:
    """The reps phase and the rep tally; mixed into :class:`~hiprom.live.guide.Guide`."""

    config: GuideConfig
    phase: Phase
    reps: list[GuideRep]
    finished: bool
    _n_scored: int
    _excursion: dict[str, bool]
    _note: str
    _redos: int

    def counts(self) -> dict[str, int]:
        """Reps that count, per side."""
        return {s: sum(r.side == s and r.counts for r in self.reps) for s in SIDES}

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

    def _reps(self, state: ProtocolState) -> GuideState:
        scored = state.scored[self._n_scored:]
        self._n_scored = len(state.scored)
        for rep in scored:
            self._take(rep)
        if scored and self.reps:
            self._excursion.clear()
            self._maybe_done()
            if self.phase is Phase.RESULT:
                return self._result(None)
        legs = state.legs
        away = [s for s in SIDES if legs[s].open_rep is not None
                or legs[s].phase in (LegPhase.MOVING, LegPhase.HOLDING)]
        if not away:
            self._after_excursion()
            return self._wait_state({s: legs[s].rotation_deg for s in SIDES})
        side = max(away, key=lambda s: abs(np.nan_to_num(legs[s].rotation_deg)))
        leg = legs[side]
        if leg.open_rep is not None:
            self._excursion["rep"] = True
        if abs(np.nan_to_num(leg.rotation_deg)) >= self.config.move_deg:
            self._excursion["away"] = True
        return self._excursion_state(Side(side), leg.phase, leg.rotation_deg, leg.held_s,
                                     leg.open_rep is not None)

    def _after_excursion(self) -> None:
        """A swing out and back without a hold the protocol could score: say how to hold."""
        if self._excursion.get("away") and not self._excursion.get("rep"):
            self._note = "Hold the end position still for 2 seconds, then come back"
        self._excursion.clear()

    def _excursion_state(self, side: Side, phase: LegPhase, x: float, held_s: float,
                         has_rep: bool) -> GuideState:
        cfg = self.config
        if np.isfinite(x) and x <= -cfg.move_deg:
            return self._rep_state("Swing the foot OUTWARD", "Away from the other foot", side, x,
                                   alert=True)
        if phase is LegPhase.HOLDING and held_s < cfg.hold_s:
            return self._rep_state("Hold it there", "Stop at once if it pinches", side, x,
                                   progress=held_s / cfg.hold_s,
                                   label=f"Hold {held_s:.1f} / {cfg.hold_s:.0f} s")
        if phase is LegPhase.HOLDING or has_rep:
            return self._rep_state("Good! Now bring the foot back", "Slowly, to hanging straight",
                                   side, x, progress=1.0, label="Hold done")
        return self._rep_state("Out to your first firm stop, then hold", "Slowly; no pain",
                               side, x)

    def _take(self, scored: ScoredRep) -> None:
        """Tally a rep the protocol scored: accept it, ask for it again, or record it."""
        rep, side = scored.rep, scored.side
        if rep.direction != "internal" or abs(rep.value_deg) < self.config.move_deg:
            return  # not a swing of the test (an inward or small movement)
        redo = sorted(set(rep.flags) & set(REDO_CUES))
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
        self.reps.append(GuideRep(side, scored.start_s, scored.end_s, rep.hold.start_s,
                                  rep.hold.end_s, rep.value_deg, rep.flags, status))
        log.debug("rep %s", self.reps[-1])

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

    def _result(self, record: object) -> GuideState:
        return GuideState(Phase.RESULT, "Test complete", "Press SPACE or Q to finish",
                          counts=self.counts(), reps=tuple(self.reps), finished=self.finished)
