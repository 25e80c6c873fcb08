import numpy as np

from builders import Body, seated_xy, visibility
from hiprom.core.landmarks import LandmarkName as L
from hiprom.core.landmarks import Landmarks
from hiprom.core.selection import PersonPolicy, PersonTracker, leg_extent_px, legs_visible

#: Hips 80 px apart 30 px above knees 100 px apart, 200 px shanks; legs only (no shoulders).
LEGS = Body(centre=(0.0, 230.0), knee_half_width=50.0, hip_half_width=40.0,
            hip_above_knee=30.0, shank=200.0, shoulders=None)


def _person(cx, scale=1.0, vis=1.0):
    """A seated person facing the camera, pelvis centre at x=cx, legs `scale`× LEGS."""
    return seated_xy(body=LEGS, centre=(cx, 230.0), scale=scale), visibility(vis)


def _frame(*people):
    xy = np.stack([p[0] for p in people]) if people else np.zeros((0, 33, 2))
    vis = np.stack([p[1] for p in people]) if people else np.zeros((0, 33))
    return Landmarks(xy, vis, (1280, 720))


def test_legs_visible_needs_all_four_points():
    _, vis = _person(300)
    vis[L.RIGHT_ANKLE] = 0.2
    assert legs_visible(vis[None]).tolist() == [False]
    assert legs_visible(np.ones((2, 33))).tolist() == [True, True]


def test_leg_extent_grows_with_scale_and_handles_nobody():
    small, big = _person(300, 1.0), _person(600, 2.0)
    ext = leg_extent_px(np.stack([small[0], big[0]]))
    assert ext[1] > 1.9 * ext[0]
    assert leg_extent_px(np.zeros((0, 33, 2))).shape == (0,)


def test_largest_person_is_chosen_then_followed():
    tracker = PersonTracker()
    assert tracker.select(_frame()) is None
    assert tracker.select(_frame(_person(300, 0.6), _person(700, 1.5))) == 1
    # The model reorders people: the tracker follows the subject's pelvis, not the index.
    assert tracker.select(_frame(_person(705, 1.5), _person(300, 0.6))) == 0


def test_crowd_is_counted_only_for_comparable_people():
    tracker = PersonTracker()
    tracker.select(_frame(_person(300, 1.0), _person(800, 0.9)))  # comparable: crowded
    tracker.select(_frame(_person(300, 1.0), _person(800, 0.3)))  # tiny passer-by
    tracker.select(_frame(_person(300, 1.0)))
    assert tracker.frames_seen == 3
    assert tracker.frames_crowded == 1
    assert abs(tracker.crowded_fraction - 1 / 3) < 1e-9


def test_center_policy_prefers_the_middle():
    tracker = PersonTracker(policy=PersonPolicy.CENTER)
    assert tracker.select(_frame(_person(100, 1.5), _person(640, 1.0))) == 1
