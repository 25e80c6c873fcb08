"""The guided test state machine, driven by synthetic per-frame records (no model, no camera)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from builders import frame_record, seated_xy
from hiprom.live.guide import Guide, setup_advice
from hiprom.live.states import GuideConfig, Key, Phase
from hiprom.pipeline.analysis import FrameRecord

FPS = 30.0


def record(i: int, left: float, right: float, *, roll_deg: float = 0.0,
           visible: bool = True) -> FrameRecord:
    """Frame ``i`` of the default seated person (``roll_deg``: the pelvis lifting on a side)."""
    return frame_record(i, seated_xy(left, right, roll_deg=roll_deg), 1.0 if visible else 0.1,
                        fps=FPS)


Timeline = Callable[[float], tuple[float, float, float]]


def rep_timeline(plan: list[tuple[str, float, float]], *, start_s: float) -> Timeline:
    """(left, right, roll) at time t: after ``start_s``, one 5 s rep per plan entry.

    Each entry is (side, IR degrees, pelvis roll during the hold); a rep is 0.6 s out,
    2.4 s hold, 0.6 s back, 1.4 s rest.
    """

    def at(t: float) -> tuple[float, float, float]:
        k, u = divmod(t - start_s, 5.0)
        if t < start_s or k >= len(plan):
            return 0.0, 0.0, 0.0
        side, deg, roll = plan[int(k)]
        a = deg * min(u / 0.6, 1.0, max(0.0, (3.6 - u) / 0.6))
        holding = 0.6 <= u <= 3.0
        return (a, 0.0, roll * holding) if side == "left" else (0.0, a, roll * holding)

    return at


def drive(guide: Guide, timeline: Timeline, seconds: float, *, start: int = 0,
          keys: dict[int, Key] | None = None):
    states = []
    for i in range(start, start + int(seconds * FPS)):
        if keys and i in keys:
            guide.press(keys[i])
        left, right, roll = timeline(i / FPS)
        states.append(guide.update(record(i, left, right, roll_deg=roll)))
    return states


def test_interactive_test_alternates_sides_and_ends_on_the_result():
    guide = Guide()
    plan = [("left", 30.0, 0), ("right", 40.0, 0)] * 3
    timeline = rep_timeline(plan, start_s=6.0)
    states = drive(guide, timeline, 1.0)
    assert {s.phase for s in states} == {Phase.SAFETY}, "waits for SPACE on the safety screen"
    states = drive(guide, timeline, 40.0, start=30, keys={30: Key.NEXT})
    phases = [s.phase for s in states]
    assert phases.index(Phase.SETUP) < phases.index(Phase.NEUTRAL) < phases.index(Phase.REPS)
    assert states[-1].phase is Phase.RESULT
    assert [r.side for r in guide.reps] == ["left", "right"] * 3
    assert all(r.status == "accepted" for r in guide.reps)
    for rep, (_, deg, _) in zip(guide.reps, plan, strict=True):
        assert rep.value_deg == pytest.approx(deg, abs=1.0)
        assert rep.hold_end_s - rep.hold_start_s >= 1.0
    assert guide.counts() == {"left": 3, "right": 3}
    asked = [s.headline for s in states if s.phase is Phase.REPS and s.headline.startswith("Swing")]
    assert asked[0] == "Swing your LEFT foot out" and "Swing your RIGHT foot out" in asked
    holds = [s.progress for s in states if s.progress_label.startswith("Hold")]
    assert holds and max(holds) <= 1.0 and min(holds) < 0.5


def test_a_rep_with_the_pelvis_lifting_is_flagged_and_asked_again():
    guide = Guide()
    guide.press(Key.NEXT)
    plan = [("left", 35.0, 8.0), ("left", 35.0, 0.0)]
    states = drive(guide, rep_timeline(plan, start_s=5.0), 16.0)
    first, second = guide.reps
    assert first.status == "redo" and "pelvis_roll" in first.flags
    assert second.status == "accepted" and second.side == "left"
    asked = next(s for s in states if s.alert and s.phase is Phase.REPS)
    assert "sit bones" in asked.detail and asked.headline == "Swing your LEFT foot out"
    assert guide.discarded_windows() == [("left", first.start_s, first.end_s)]


def test_r_discards_the_last_rep_and_asks_for_the_same_side():
    guide = Guide()
    guide.press(Key.NEXT)
    timeline = rep_timeline([("left", 30.0, 0.0)], start_s=5.0)
    drive(guide, timeline, 10.5)
    assert guide.reps[-1].status == "accepted"
    state = guide.press(Key.REDO)
    assert guide.reps[-1].status == "discarded" and guide.counts()["left"] == 0
    state = guide.update(record(400, 0.0, 0.0))
    assert state.headline == "Swing your LEFT foot out" and "again" in state.detail


def test_space_keeps_a_flagged_rep_and_q_finishes():
    guide = Guide()
    guide.press(Key.NEXT)
    drive(guide, rep_timeline([("right", 35.0, 8.0)], start_s=5.0), 10.5)
    assert guide.reps[-1].status == "redo"
    guide.press(Key.NEXT)
    assert guide.reps[-1].status == "accepted" and guide.counts()["right"] == 1
    assert guide.press(Key.QUIT).finished


def test_a_recording_is_followed_in_any_side_order_without_keys():
    guide = Guide(GuideConfig(auto=True))
    plan = [("right", 25.0, 0.0), ("right", 26.0, 0.0), ("left", 38.0, 8.0)]
    states = drive(guide, rep_timeline(plan, start_s=2.0), 17.5)
    assert states[0].phase is Phase.SETUP  # no safety screen to confirm
    assert [r.side for r in guide.reps] == ["right", "right", "left"]
    assert all(r.status == "recorded" for r in guide.reps)  # never asks a video to redo
    assert "pelvis_roll" in guide.reps[-1].flags
    assert guide.test_start_s == 0.0 and states[-1].phase is Phase.REPS


def test_a_quick_flick_is_not_a_rep():
    guide = Guide()
    guide.press(Key.NEXT)

    def flick(t: float) -> tuple[float, float, float]:
        u = t - 6.0
        return (30.0 * max(0.0, 1 - abs(u - 0.4) / 0.4) if 0 <= u <= 0.8 else 0.0), 0.0, 0.0

    states = drive(guide, flick, 8.0)
    assert guide.reps == []
    assert any("Hold the end position" in s.detail for s in states)


def test_inward_swing_is_corrected():
    guide = Guide()
    guide.press(Key.NEXT)
    states = drive(guide, lambda t: ((-25.0 if t > 6.0 else 0.0), 0.0, 0.0), 7.5)
    assert states[-1].headline == "Swing the foot OUTWARD" and states[-1].alert


def test_setup_waits_for_a_level_view_then_calibrates_neutral():
    guide = Guide()
    guide.press(Key.NEXT)
    states = drive(guide, lambda t: (0.0, 0.0, 9.0), 3.0)
    assert all(s.phase is Phase.SETUP and s.alert for s in states)
    assert states[-1].headline.startswith("Level the camera")
    states = drive(guide, lambda t: (3.0, -2.0, 0.0), 5.0, start=90)
    assert states[-1].phase is Phase.REPS
    assert guide.neutral_deg["left"] == pytest.approx(3.0, abs=0.1)
    assert guide.neutral_deg["right"] == pytest.approx(-2.0, abs=0.1)


def _legs(left: float = 0.0, right: float = 0.0, **kwargs):
    return record(0, left, right, **kwargs).legs


@pytest.mark.parametrize(
    ("legs", "n_persons", "view", "expected"),
    [
        # nobody: sit down in view
        (None, 0, None, ["Sit on the table edge"]),
        # two people
        (_legs(), 2, None, ["Only one person"]),
        # knees/ankles not confidently seen
        (_legs(visible=False), 1, None, ["Move back so your knees and feet are in view"]),
        # a good view
        (_legs(), 1, (0.0, 0.0, 0.0), []),
        # camera high, looking down at the thighs
        (_legs(), 1, (30.0, 0.0, 0.0), ["Lower the camera to knee height"]),
        # camera low
        (_legs(), 1, (-30.0, 0.0, 0.0), ["Raise the camera to knee height"]),
        # camera off to one side
        (_legs(), 1, (0.0, 28.0, 0.0), ["Turn the camera to face you"]),
        # tilted picture
        (_legs(), 1, (0.0, 0.0, -8.0), ["Level the camera"]),
    ],
)
def test_setup_advice(legs, n_persons, view, expected):
    advice = setup_advice(legs, n_persons, (640, 480), view_deg=view)
    assert len(advice) == len(expected)
    for got, want in zip(advice, expected, strict=True):
        assert got.startswith(want)


def test_setup_advice_on_distance():
    far = setup_advice(_legs(), 1, (640, 1440), view_deg=(0.0, 0.0, 0.0))
    near = setup_advice(_legs(), 1, (640, 240), view_deg=(0.0, 0.0, 0.0))
    assert far == ["Move closer to the camera: your lower legs look small"]
    assert near and near[0].startswith("Move back")


def test_the_setup_step_says_when_the_picture_is_dark_or_backlit():
    from hiprom.live.guide import light_tips

    assert light_tips(None) == [] and light_tips((120.0, 110.0)) == []
    assert light_tips((30.0, 25.0)) == ["Add light in front of you: the picture is too dark"]
    assert "window" in light_tips((180.0, 50.0))[0]


def _standing(i: int) -> FrameRecord:
    """The default person standing: hips a shank length higher, knees far below them."""
    from hiprom.core.landmarks import LandmarkName as L

    xy = seated_xy(0.0, 0.0)
    xy[[L.LEFT_HIP, L.RIGHT_HIP], 1] -= 120.0
    return frame_record(i, xy, fps=FPS)


def test_setup_says_when_the_person_is_not_seated_for_the_test():
    guide = Guide()
    guide.press(Key.NEXT)
    states = [guide.update(_standing(i)) for i in range(int(3 * FPS))]
    assert all(s.phase is Phase.SETUP for s in states)   # the test never starts
    last = states[-1]
    assert last.alert and last.headline.startswith("Sit on the table edge")
    assert last.detail.startswith("The thighs are not level")   # why, from the check
    assert "Move" not in last.headline + last.detail   # no camera advice for a sitter
    # Sitting down, the setup goes on to the neutral as usual.
    states = drive(guide, lambda t: (0.0, 0.0, 0.0), 3.0, start=int(3 * FPS))
    assert states[-1].phase is not Phase.SETUP
