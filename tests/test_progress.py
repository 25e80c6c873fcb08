"""The protocol as a session goes (pipeline.progress): phases, scored reps, bounded cost."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from builders import Body, frame_record, seated_xy
from hiprom.pipeline.analysis import FrameRecord, MeasureOptions
from hiprom.pipeline.progress import IncrementalSummary, LegPhase, ProtocolState
from hiprom.pipeline.summarise import summarise_records

FPS = 30.0
BODY = Body(centre=(320.0, 220.0), knee_half_width=50.0, shank=150.0, shoulders=(60.0, 180.0))
OPTIONS = MeasureOptions()


def _session(reps: list[tuple[str, float]], *, rest_s: float = 3.0,
             noise_deg: float = 0.3) -> list[FrameRecord]:
    """Still neutral, then per rep: 0.5 s out, 2.5 s hold, 0.5 s back, 1.5 s rest."""
    rng = np.random.default_rng(1)
    pairs: list[tuple[float, float]] = [(0.0, 0.0)] * int(rest_s * FPS)
    for side, deg in reps:
        ramp = list(np.linspace(0.0, deg, int(0.5 * FPS)))
        path = ramp + [deg] * int(2.5 * FPS) + ramp[::-1] + [0.0] * int(1.5 * FPS)
        pairs += [(a, 0.0) if side == "left" else (0.0, a) for a in path]
    return [frame_record(i, seated_xy(a + rng.normal(0, noise_deg), b + rng.normal(0, noise_deg),
                                      BODY), fps=FPS)
            for i, (a, b) in enumerate(pairs)]


def _feed(records: list[FrameRecord], progress: IncrementalSummary,
          fix_after_s: float = 3.0) -> list[ProtocolState]:
    states = []
    for r in records:
        states.append(progress.add(r))
        if r.timestamp_s >= fix_after_s and not progress.neutral_fixed:
            progress.fix_neutral()
    return states


def test_a_leg_goes_from_neutral_to_moving_holding_and_a_scored_rep() -> None:
    records = _session([("left", 35.0)])
    states = _feed(records, IncrementalSummary((640, 480), OPTIONS))
    phases = [s.legs["left"].phase for s in states]
    assert phases[0] is LegPhase.NO_NEUTRAL
    order = [phases.index(p) for p in (LegPhase.RESTING, LegPhase.MOVING, LegPhase.HOLDING)]
    assert order == sorted(order)
    assert phases[-1] is LegPhase.RESTING
    assert all(s.legs["right"].phase is not LegPhase.HOLDING for s in states)
    held = [s.legs["left"].held_s for s in states if s.legs["left"].phase is LegPhase.HOLDING]
    assert held == sorted(held) and held[-1] > 2.0
    first_scored = next(i for i, s in enumerate(states) if s.scored)
    assert records[first_scored].timestamp_s < 3.0 + 0.5 + 2.5 + 0.5 + 0.6  # soon after return
    (scored,) = states[-1].scored
    assert scored.side == "left" and scored.start_s < scored.rep.hold.start_s
    assert scored.rep.hold.end_s < scored.end_s


def test_scored_reps_are_the_protocols_reps_of_the_whole_session() -> None:
    records = _session([("left", 35.0), ("right", 28.0), ("left", 33.0), ("right", 40.0)])
    progress = IncrementalSummary((640, 480), OPTIONS)
    scored = _feed(records, progress)[-1].scored
    whole = summarise_records(records, resolution_wh=(640, 480), options=OPTIONS)
    expected = sorted(((side, r) for side in ("left", "right") for r in whole.legs[side].reps),
                      key=lambda sr: sr[1].hold.start_s)
    assert [s.side for s in scored] == [side for side, _ in expected]
    for got, (_, want) in zip(scored, expected, strict=True):
        assert got.rep.direction == want.direction and got.rep.flags == want.flags
        # The same protocol on a window (the neutral and this rep) instead of the session:
        # the hold's edges and noise estimate may move by a frame or so.
        assert got.rep.value_deg == pytest.approx(want.value_deg, abs=0.3)
        assert got.rep.hold.start_s == pytest.approx(want.hold.start_s, abs=0.2)


def test_the_cost_of_a_long_session_is_bounded() -> None:
    # 2 minutes: neutral then 24 reps. Each refresh sees at most the fixed neutral and the
    # frames since the last scored rep, and refreshes stop while a hold is held.
    records = _session([("left", 35.0), ("right", 30.0)] * 12)
    assert records[-1].timestamp_s > 120.0
    progress = IncrementalSummary((640, 480), OPTIONS)
    states = _feed(records, progress)
    sizes = progress.refresh_frames
    assert len(states[-1].scored) == 24
    assert max(sizes) <= (progress.anchor_s + progress.window_s) * FPS + 2
    # About 5 per rep (swing out until the hold is found, the return, the close), not one
    # every refresh_s (246 over this session).
    assert len(sizes) <= 6 * 24


def test_a_background_refresh_gives_what_the_inline_one_gives() -> None:
    records = _session([("left", 35.0), ("right", 28.0)])
    inline = _feed(records, IncrementalSummary((640, 480), OPTIONS))[-1].scored
    background = IncrementalSummary((640, 480), OPTIONS, background=True)
    for r in records:
        background.add(r)
        background.wait()  # as if every refresh finished before the next frame
        if r.timestamp_s >= 3.0 and not background.neutral_fixed:
            background.fix_neutral()
    assert [(s.side, s.rep.value_deg, s.end_s) for s in background.scored] == [
        (s.side, s.rep.value_deg, s.end_s) for s in inline]


def _refreshing() -> bool:
    return any(t.name == "protocol-refresh" and t.is_alive() for t in threading.enumerate())


def test_a_restart_drops_the_refresh_still_running() -> None:
    records = _session([])
    progress = IncrementalSummary((640, 480), OPTIONS, background=True)
    for r in records[:60]:
        state = progress.add(r)
        progress.wait()
    assert state.legs["left"].neutral is not None
    taken = len(progress.refresh_frames)
    for r in records[60:]:
        progress.add(r)
        if _refreshing():
            break
    progress.restart()   # the new test must not get the old test's neutral
    progress.wait()
    assert len(progress.refresh_frames) == taken
    assert progress.add(records[-1]).legs["left"].neutral is None
