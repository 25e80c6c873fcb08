"""The protocol as a session goes on: :func:`summarise_records` run again on the newest frames.

The live guide does not detect reps itself. It feeds each analysed frame's
:class:`~hiprom.pipeline.analysis.FrameRecord` to an :class:`IncrementalSummary`, which re-runs
the pipeline's own summary (:func:`~hiprom.pipeline.summarise.summarise_records`, the same
options as ``hiprom measure``) on the records so far, and reads from its output, per leg:

* the neutral (the protocol's neutral hold) and whether it is still being held;
* whether the leg is resting, moving or holding an end range (the rep in progress);
* the reps found so far: a rep is *scored* once its excursion has come back at least
  halfway toward neutral, the protocol's own rule for the end of an excursion.

Cost is bounded, not per frame (docs/PERFORMANCE.md, live section):

* a refresh runs at most every ``refresh_s`` seconds of capture time, and only while
  something can change: before the neutral is fixed, or while a leg is away from its
  neutral and not inside an end-range hold it is known to hold (a hold's length is then
  counted on from the protocol's hold start);
* it summarises a bounded window: the fixed neutral (its last ``anchor_s`` seconds) plus
  the frames since the last scored rep (at most ``window_s`` seconds), never the whole
  session. The saved session is summarised once, whole, as ``hiprom measure`` does;
* with ``background=True`` (a camera session) a refresh runs on its own thread, one at a
  time, and its result is taken in by the next :meth:`IncrementalSummary.add`, so no frame
  waits for it; without (files, tests) it runs in :meth:`~IncrementalSummary.add` and the
  guide's state is the same on every run.

Degrees and seconds; + is internal rotation.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from hiprom.core.holds import Hold
from hiprom.core.protocol import Rep
from hiprom.pipeline.analysis import FrameRecord, MeasureOptions
from hiprom.pipeline.summarise import MOVING_DEG, LegsSummary, summarise_records
from hiprom.vocabulary import SIDES, Side

__all__ = ["IncrementalSummary", "LegPhase", "LegProgress", "ProtocolState", "ScoredRep"]

#: Seconds of capture time between two refreshes, at most one per this.
REFRESH_S = 0.5
#: The neutral kept in every window: its last this many seconds.
ANCHOR_S = 3.0
#: The frames since the last scored rep kept in a window: at most this many seconds.
WINDOW_S = 12.0
#: A hold reaching this close to the newest summarised frame is still being held.
OPEN_TOLERANCE_S = 0.5
#: Within this of a hold's level (raw per-frame angle) the leg still holds it.
HOLD_BAND_DEG = 3.0
#: A leg this far from its neutral may be starting or ending something: refresh.
AWAY_DEG = MOVING_DEG / 2


class LegPhase(StrEnum):
    """Where one leg is in the protocol, as of the newest frame."""

    NO_NEUTRAL = "no_neutral"
    RESTING = "resting"
    MOVING = "moving"
    HOLDING = "holding"


@dataclass(frozen=True)
class ScoredRep:
    """A rep whose excursion has closed: it will not change any more in this session.

    Attributes:
        side: the leg.
        start_s: the excursion left halfway toward its hold (seconds).
        end_s: it came back halfway toward neutral (seconds).
        rep: the protocol's rep (value vs neutral, hold, quality flags).

    """

    side: Side
    start_s: float
    end_s: float
    rep: Rep


@dataclass(frozen=True)
class LegProgress:
    """One leg as of the newest frame.

    Attributes:
        phase: resting, moving or holding, or no neutral yet.
        rotation_deg: this frame's angle from the neutral (raw per-frame; NaN if unknown).
        neutral: the protocol's neutral hold, or None.
        neutral_deg: the raw per-frame angle over that hold (0 without one).
        still_s: how long the neutral has been held so far (0 when it is not being held).
        open_rep: the rep being held or returned from, not yet scored, or None.
        held_s: how long the open rep's hold has lasted (0 without one).

    """

    phase: LegPhase
    rotation_deg: float
    neutral: Hold | None = None
    neutral_deg: float = 0.0
    still_s: float = 0.0
    open_rep: Rep | None = None
    held_s: float = 0.0


@dataclass(frozen=True)
class ProtocolState:
    """The protocol's view of the session so far.

    Attributes:
        t_s: the newest frame's time.
        legs: per anatomical side.
        scored: every rep scored so far, in time order.

    """

    t_s: float
    legs: dict[str, LegProgress]
    scored: tuple[ScoredRep, ...]


@dataclass
class _Reading:
    """What the guide needs from one refresh, per leg (raw per-frame angles)."""

    neutral: Hold | None = None
    neutral_raw_deg: float = 0.0
    open_rep: Rep | None = None
    hold_raw_deg: float = math.nan


def _raw(record: FrameRecord, side: str) -> float:
    legs = record.legs
    return math.nan if legs is None else float(legs.leg(Side(side)).rotation_deg)


def _median_between(window: Sequence[FrameRecord], side: str, start_s: float,
                    end_s: float) -> float:
    values = np.array([_raw(r, side) for r in window if start_s <= r.timestamp_s <= end_s])
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else math.nan


def _closing_index(rotation: np.ndarray, rep: Rep) -> int | None:
    """First frame after the rep's hold back at least halfway toward neutral, or None."""
    after = np.abs(rotation[rep.hold.end_index + 1:])
    back = np.flatnonzero(np.isfinite(after) & (after < 0.5 * abs(rep.value_deg)))
    return None if back.size == 0 else rep.hold.end_index + 1 + int(back[0])


def _opening_index(rotation: np.ndarray, rep: Rep) -> int:
    """Last frame before the rep's hold still less than halfway out, or the window start."""
    before = np.abs(rotation[: rep.hold.start_index])
    out = np.flatnonzero(np.isfinite(before) & (before < 0.5 * abs(rep.value_deg)))
    return 0 if out.size == 0 else int(out[-1])


@dataclass
class IncrementalSummary:
    """Feed a session's records one at a time; read the protocol's state after each.

    Args:
        resolution_wh: frame size, for the pivot's camera model.
        options: the measurement options, as ``hiprom measure`` uses them.
        refresh_s, anchor_s, window_s: see the module docstring.
        background: run each refresh on its own thread (see the module docstring).

    Attributes:
        refresh_cost_s: the time each refresh took (seconds), for the benchmarks.
        refresh_frames: the records each refresh summarised.

    """

    resolution_wh: tuple[int, int]
    options: MeasureOptions = MeasureOptions()
    refresh_s: float = REFRESH_S
    anchor_s: float = ANCHOR_S
    window_s: float = WINDOW_S
    background: bool = False
    refresh_cost_s: list[float] = field(default_factory=list, init=False, repr=False)
    refresh_frames: list[int] = field(default_factory=list, init=False, repr=False)
    _records: list[FrameRecord] = field(default_factory=list, init=False, repr=False)
    _anchor: tuple[float, float] | None = field(default=None, init=False)
    _after_s: float = field(default=-math.inf, init=False)
    _scored: list[ScoredRep] = field(default_factory=list, init=False, repr=False)
    _reading: dict[str, _Reading] = field(
        default_factory=lambda: {s: _Reading() for s in SIDES}, init=False, repr=False)
    _refreshed_s: float = field(default=-math.inf, init=False)
    _summarised_s: float = field(default=-math.inf, init=False)
    _running: threading.Thread | None = field(default=None, init=False, repr=False)
    _done: tuple[int, list[FrameRecord], LegsSummary, float] | None = field(
        default=None, init=False, repr=False)
    _generation: int = field(default=0, init=False)

    @property
    def neutral_fixed(self) -> bool:
        """Whether :meth:`fix_neutral` has fixed the neutral carried along in every window."""
        return self._anchor is not None

    @property
    def scored(self) -> tuple[ScoredRep, ...]:
        """Every rep scored so far."""
        return tuple(self._scored)

    def restart(self) -> None:
        """Forget everything: the test starts again from the next record."""
        self._records.clear()
        self._scored.clear()
        self._anchor, self._after_s = None, -math.inf
        self._reading = {s: _Reading() for s in SIDES}
        self._refreshed_s = self._summarised_s = -math.inf
        self._generation += 1  # a refresh still running belongs to the old test

    def fix_neutral(self) -> None:
        """Keep the legs' neutral from now on: later windows carry its frames along."""
        holds = [r.neutral for r in self._reading.values() if r.neutral is not None]
        if holds and self._records:
            end = self._records[-1].timestamp_s
            start = max(min(h.start_s for h in holds), end - self.anchor_s)
            self._anchor, self._after_s = (start, end), end

    def add(self, record: FrameRecord) -> ProtocolState:
        """Take the next record; returns the protocol's state as of it."""
        self._records.append(record)
        self._take_background()
        t = record.timestamp_s
        if t - self._refreshed_s >= self.refresh_s and self._worth_refreshing(record):
            self.refresh()
        return ProtocolState(t, {s: self._progress(record, s) for s in SIDES},
                             tuple(self._scored))

    def _worth_refreshing(self, record: FrameRecord) -> bool:
        """Before the neutral is fixed always; after it while a leg is away and not held."""
        if self._anchor is None:
            return True
        for side in SIDES:
            reading = self._reading[side]
            rel = _raw(record, side) - reading.neutral_raw_deg
            holding = (reading.open_rep is not None
                       and abs(_raw(record, side) - reading.hold_raw_deg) <= HOLD_BAND_DEG)
            if (reading.open_rep is not None or abs(rel) >= AWAY_DEG) and not holding:
                return True
        return False

    def _window(self) -> list[FrameRecord]:
        newest = self._records[-1].timestamp_s
        start = max(self._after_s, newest - self.window_s)
        if self._anchor is None:
            return [r for r in self._records if r.timestamp_s >= newest - self.window_s]
        a0, a1 = self._anchor
        return [r for r in self._records
                if a0 <= r.timestamp_s <= a1 or (r.timestamp_s > a1 and r.timestamp_s >= start)]

    def refresh(self) -> None:
        """Summarise the window now (what :meth:`add` does when a refresh is due)."""
        window = self._window()
        self._refreshed_s = window[-1].timestamp_s
        if not self.background:
            self._apply(window, *self._summarise(window))
            return
        if self._running is not None and self._running.is_alive():
            return  # one refresh at a time; the next due frame asks again
        generation = self._generation

        def run() -> None:
            self._done = (generation, window, *self._summarise(window))

        self._running = threading.Thread(target=run, name="protocol-refresh", daemon=True)
        self._running.start()

    def wait(self) -> None:
        """Let a refresh running in the background finish and take its result in."""
        if self._running is not None:
            self._running.join()
        self._take_background()

    def _take_background(self) -> None:
        if self._running is None or self._running.is_alive():
            return
        self._running = None
        done, self._done = self._done, None
        if done is not None and done[0] == self._generation:
            self._apply(done[1], done[2], done[3])

    def _summarise(self, window: list[FrameRecord]) -> tuple[LegsSummary, float]:
        t0 = time.perf_counter()
        summary = summarise_records(window, resolution_wh=self.resolution_wh,
                                    options=self.options)
        return summary, time.perf_counter() - t0

    def _apply(self, window: list[FrameRecord], summary: LegsSummary, cost_s: float) -> None:
        """Take a refresh's summary in: scored reps, and per leg its neutral and open rep."""
        self.refresh_frames.append(len(window))
        self.refresh_cost_s.append(cost_s)
        self._summarised_s = window[-1].timestamp_s
        times = np.array([r.timestamp_s for r in window])
        self._score_closed(summary, times)
        for side in SIDES:
            self._reading[side] = self._read(window, summary, side)

    def _new_reps(self, summary: LegsSummary, side: str) -> list[Rep]:
        return [r for r in summary.legs[side].reps if r.hold.start_s > self._after_s]

    def _score_closed(self, summary: LegsSummary, times: np.ndarray) -> None:
        closed = []
        for side in SIDES:
            rotation = summary.rotation_deg[side]
            for rep in self._new_reps(summary, side):
                end = _closing_index(rotation, rep)
                if end is not None:
                    start = _opening_index(rotation, rep)
                    closed.append(ScoredRep(Side(side), float(times[start]), float(times[end]),
                                            rep))
        for scored in sorted(closed, key=lambda s: s.end_s):
            self._scored.append(scored)
            self._after_s = max(self._after_s, scored.end_s)

    def _read(self, window: Sequence[FrameRecord], summary: LegsSummary, side: str) -> _Reading:
        neutral = summary.legs[side].neutral_hold
        if neutral is None and self._anchor is not None:
            neutral = self._reading[side].neutral
        reading = _Reading(neutral=neutral)
        if neutral is not None:
            raw = _median_between(window, side, neutral.start_s, neutral.end_s)
            reading.neutral_raw_deg = raw if math.isfinite(raw) else 0.0
        open_reps = self._new_reps(summary, side)
        if open_reps:
            rep = open_reps[-1]
            reading.open_rep = rep
            reading.hold_raw_deg = _median_between(window, side, rep.hold.start_s,
                                                   rep.hold.end_s)
        return reading

    def _progress(self, record: FrameRecord, side: str) -> LegProgress:
        reading, t = self._reading[side], record.timestamp_s
        raw = _raw(record, side)
        if reading.neutral is None:
            return LegProgress(LegPhase.NO_NEUTRAL, raw)
        rel = raw - reading.neutral_raw_deg
        neutral = reading.neutral
        still = (neutral.end_s >= self._summarised_s - OPEN_TOLERANCE_S
                 and abs(rel) < AWAY_DEG and not self._scored_since(neutral.end_s))
        still_s = t - neutral.start_s if still else 0.0
        rep = reading.open_rep
        if rep is not None:
            open_hold = rep.hold.end_s >= self._summarised_s - OPEN_TOLERANCE_S
            inside = abs(raw - reading.hold_raw_deg) <= HOLD_BAND_DEG
            if open_hold and inside:
                return LegProgress(LegPhase.HOLDING, rel, neutral, reading.neutral_raw_deg,
                                   still_s, rep, t - rep.hold.start_s)
            phase = LegPhase.MOVING if abs(rel) >= AWAY_DEG else LegPhase.RESTING
            return LegProgress(phase, rel, neutral, reading.neutral_raw_deg, still_s, rep,
                               rep.hold.duration_s)
        phase = LegPhase.MOVING if abs(rel) >= MOVING_DEG else LegPhase.RESTING
        return LegProgress(phase, rel, neutral, reading.neutral_raw_deg, still_s)

    def _scored_since(self, t_s: float) -> bool:
        return any(s.end_s > t_s for s in self._scored)
