"""The synthetic people and clips of tests/builders.py follow the conventions they state."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from builders import (
    BODY,
    KNEES_ANKLES,
    MODEL_BODY,
    blank_clip,
    frame_record,
    landmarks,
    mirrored_clip,
    seated_xy,
    visibility,
    write_clip,
)
from hiprom.core.geometry import measure_legs
from hiprom.core.landmarks import LandmarkName as L
from hiprom.core.selection import leg_extent_px

ANGLES = [(0.0, 0.0), (30.0, -12.0), (55.0, 20.0), (-35.0, 10.0)]


def test_the_person_faces_the_camera_with_straight_shanks_at_zero():
    xy = seated_xy()
    assert xy.shape == (33, 2) and xy.dtype == np.float32
    assert xy[L.LEFT_KNEE, 0] > xy[L.RIGHT_KNEE, 0]  # their left leg on the image right
    np.testing.assert_array_equal(xy[L.LEFT_ANKLE], xy[L.LEFT_KNEE] + (0.0, BODY.shank))
    np.testing.assert_array_equal(xy[L.RIGHT_ANKLE], xy[L.RIGHT_KNEE] + (0.0, BODY.shank))
    assert (xy[[L.LEFT_SHOULDER, L.RIGHT_SHOULDER], 1] < xy[L.LEFT_KNEE, 1]).all()
    assert (xy[L.NOSE] == 0).all()  # not placed: the fill value


def test_positive_angles_swing_each_foot_laterally():
    xy = seated_xy(20.0, 20.0)
    assert xy[L.LEFT_ANKLE, 0] > xy[L.LEFT_KNEE, 0]
    assert xy[L.RIGHT_ANKLE, 0] < xy[L.RIGHT_KNEE, 0]


@pytest.mark.parametrize(("left", "right"), ANGLES)
@pytest.mark.parametrize("body", [BODY, MODEL_BODY], ids=["thighs-to-camera", "model-hips"])
def test_geometry_measures_the_angles_it_was_built_with(body, left, right):
    m = measure_legs(landmarks(seated_xy(left, right, body)), correct_view=False)
    assert m.left.rotation_deg == pytest.approx(left, abs=1e-4)
    assert m.right.rotation_deg == pytest.approx(right, abs=1e-4)
    assert m.pelvis_roll_deg == pytest.approx(0.0, abs=1e-9)


def test_roll_tilts_the_pelvis_and_keeps_the_hip_rotation():
    m = measure_legs(landmarks(seated_xy(20.0, 0.0, roll_deg=6.0)), correct_view=False)
    assert m.pelvis_roll_deg == pytest.approx(6.0, abs=1e-4)
    assert m.left.rotation_deg == pytest.approx(20.0, abs=1e-4)


def test_scale_and_centre_move_and_size_the_person():
    small, big = seated_xy(), seated_xy(scale=2.0, centre=(900.0, 500.0))
    ext = leg_extent_px(np.stack([small, big]))
    assert ext[1] == pytest.approx(2 * ext[0])
    knees = big[[L.LEFT_KNEE, L.RIGHT_KNEE]]
    np.testing.assert_array_equal(knees.mean(axis=0), (900.0, 500.0))


def test_landmarks_visibility_and_records():
    vis = visibility(low=KNEES_ANKLES)
    assert vis[L.LEFT_HIP] == 1.0 and (vis[list(KNEES_ANKLES)] == np.float32(0.1)).all()
    crowd = landmarks([seated_xy(), seated_xy(centre=(100.0, 260.0))], 0.9)
    assert crowd.xy.shape == (2, 33, 2) and (crowd.visibility == np.float32(0.9)).all()
    rec = frame_record(15, seated_xy(10.0, 0.0), fps=30.0)
    assert rec.timestamp_s == 0.5 and rec.n_persons == 1
    assert rec.legs is not None and rec.legs.left.rotation_deg == pytest.approx(10.0, abs=1e-4)


def test_clips_have_the_asked_frames_and_mirror_horizontally(tmp_path):
    blank = blank_clip(tmp_path / "blank.mp4", 4, fps=15.0, resolution_wh=(64, 48), level=90)
    cap = cv2.VideoCapture(str(blank))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(15.0)
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    cap.release()
    ramp = np.repeat(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], 48, 0)
    image = np.repeat(ramp, 3, 2)  # dark on the left, bright on the right
    source = write_clip(tmp_path / "ramp.mp4", [image] * 3, fps=10.0)
    flipped = mirrored_clip(source, tmp_path / "flipped.mp4")
    frames = {}
    for name, path in (("source", source), ("flipped", flipped)):
        cap = cv2.VideoCapture(str(path))
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
        ok, frames[name] = cap.read()
        cap.release()
        assert ok and frames[name].shape == image.shape

    def error(a, b):
        return np.abs(a.astype(int) - b.astype(int)).mean()

    # One more mp4v generation costs a few grey levels; not mirroring costs about 128.
    assert error(frames["flipped"], frames["source"][:, ::-1]) < 8
    assert error(frames["flipped"], frames["source"]) > 60
