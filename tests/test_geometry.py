"""Tests of hiprom.core.geometry: conventions, shapes, errors, and 3D round trips."""

from __future__ import annotations

from contextlib import nullcontext as DoesNotRaise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import SCENE_HFOV_DEG, SCENE_WH, build_landmarks, build_scene, project
from hiprom.core.geometry import (
    assign_sides,
    estimate_leg_directions,
    hip_joint_centres,
    measure_legs,
    pelvis_down,
    pelvis_roll_deg,
    recover_rotation_deg,
    shank_angle_deg,
    trunk_lean_deg,
)
from hiprom.core.landmarks import Landmarks
from hiprom.errors import InputError, MeasurementError

WH = SCENE_WH
HFOV_DEG = SCENE_HFOV_DEG
#: float32 landmark storage limits agreement to ~1e-4 degrees.
F32_TOL_DEG = 2e-4


@pytest.mark.parametrize("roll_deg", [0.0, 12.0, -30.0])
def test_hip_joint_centres_move_toward_the_feet_along_the_pelvis_perpendicular(roll_deg):
    r = np.radians(roll_deg)
    # Left hip on the image right; the pelvis rolled on screen by roll_deg.
    line = np.array([np.cos(r), -np.sin(r)]) * 200.0
    hips = np.array([[500.0, 400.0] + line / 2, [500.0, 400.0] - line / 2])
    centres = hip_joint_centres(hips, shank_px=300.0, offset=0.15)
    moved = centres - hips
    np.testing.assert_allclose(moved[0], moved[1])
    assert np.hypot(*moved[0]) == pytest.approx(45.0)
    assert moved[0] @ line == pytest.approx(0.0, abs=1e-9)
    assert moved[0][1] > 0  # toward the feet (image down)
    assert pelvis_roll_deg(*centres) == pytest.approx(pelvis_roll_deg(*hips))


def test_pelvis_down_is_the_unit_perpendicular_toward_the_feet():
    down = pelvis_down([600.0, 380.0], [400.0, 420.0])  # left hip higher on screen
    assert np.hypot(*down) == pytest.approx(1.0)
    assert down @ np.array([200.0, -40.0]) == pytest.approx(0.0, abs=1e-12)
    assert down[1] > 0
    np.testing.assert_array_equal(pelvis_down([5.0, 5.0], [5.0, 5.0]), [0.0, 0.0])
    assert np.isnan(pelvis_down([np.nan, 1.0], [0.0, 0.0])).all()


def test_hip_joint_centres_leave_unusable_input_alone():
    hips = np.array([[500.0, 400.0], [500.0, 400.0]])
    np.testing.assert_array_equal(hip_joint_centres(hips, 300.0), hips)
    np.testing.assert_array_equal(hip_joint_centres(hips + [[10.0, 0], [0, 0]], np.nan),
                                  hips + [[10.0, 0], [0, 0]])


def test_hip_landmark_offset_matters_for_the_view_correction():
    # The same scene read with the model's hip landmarks taken as joint centres (offset 0)
    # overstates the femur pitch, which is what the offset removes.
    p2 = project(build_scene(40.0, 0.0), pitch=15.0)
    lm = build_landmarks(p2)
    fixed = measure_legs(lm)
    naive = measure_legs(lm, hip_offset=0.0)
    assert fixed.left.rotation_deg == pytest.approx(40.0, abs=0.05)
    assert fixed.left.view_pitch_deg == pytest.approx(15.0, abs=0.5)
    assert naive.left.view_pitch_deg > fixed.left.view_pitch_deg + 3.0


def rotate_on_screen(xy: np.ndarray, r_deg: float, centre: np.ndarray) -> np.ndarray:
    """Rotate image points counter-clockwise as seen on screen (y down) by ``r_deg``."""
    r = np.radians(r_deg)
    d = xy - centre
    return centre + np.stack([d[..., 0] * np.cos(r) + d[..., 1] * np.sin(r),
                              -d[..., 0] * np.sin(r) + d[..., 1] * np.cos(r)], axis=-1)


def rotations(m) -> np.ndarray:
    return np.array([m.left.rotation_deg, m.right.rotation_deg])


angles = st.floats(-40.0, 60.0)


# ---------------------------------------------------------------- conventions
@pytest.mark.parametrize(
    ("ankle", "expected"),
    [
        ([100.0, 200.0], 0.0),  # straight down
        ([200.0, 100.0], 90.0),  # toward image +x
        ([0.0, 100.0], -90.0),  # toward image −x
        ([150.0, 150.0], 45.0),  # down and right
    ],
)
def test_convention_shank_angle_from_image_down_positive_toward_plus_x(ankle, expected):
    assert float(shank_angle_deg([100.0, 100.0], ankle)) == pytest.approx(expected)


@pytest.mark.parametrize("r_deg", [-30.0, -7.5, 12.0, 40.0])
def test_convention_camera_roll_adds_to_shank_and_pelvis_alike(r_deg):
    pts = np.array([[300.0, 200.0], [100.0, 210.0], [310.0, 400.0], [330.0, 600.0]])
    hip_l, hip_r, knee, ankle = rotate_on_screen(pts, r_deg, np.array([500.0, 300.0]))
    assert float(shank_angle_deg(knee, ankle)) - float(shank_angle_deg(pts[2], pts[3])) == (
        pytest.approx(r_deg))
    assert float(pelvis_roll_deg(hip_l, hip_r)) - float(pelvis_roll_deg(pts[0], pts[1])) == (
        pytest.approx(r_deg))


def test_convention_internal_rotation_is_foot_lateral_for_both_legs():
    # Unmirrored frame: the person's left leg is on the image right; lateral is image +x for
    # it and image −x for the right leg. Both feet move outward by 30°.
    p2 = project(build_scene(30.0, 30.0), ortho=True)
    assert p2["LEFT_KNEE"][0] > p2["RIGHT_KNEE"][0]
    assert p2["LEFT_ANKLE"][0] > p2["LEFT_KNEE"][0]
    assert p2["RIGHT_ANKLE"][0] < p2["RIGHT_KNEE"][0]
    m = measure_legs(build_landmarks(p2), assumed_hfov_deg=None)
    np.testing.assert_allclose(rotations(m), [30.0, 30.0], atol=F32_TOL_DEG)
    assert not m.labels_swapped


def test_convention_mirrored_frame_gives_identical_numbers():
    lm = build_landmarks(project(build_scene(35.0, -12.0), pitch=8.0, yaw=-6.0, roll=3.0))
    a = measure_legs(lm)
    b = measure_legs(lm.flipped_horizontally(), mirrored=True)
    np.testing.assert_allclose(rotations(b), rotations(a), atol=F32_TOL_DEG)
    np.testing.assert_allclose(b.left.knee_xy, a.left.knee_xy, atol=1e-3)
    assert b.pelvis_roll_deg == pytest.approx(a.pelvis_roll_deg, abs=F32_TOL_DEG)
    assert b.labels_swapped == a.labels_swapped


def test_convention_mirrored_flag_matters():
    # The same mirrored pixels read without mirrored=True swap the sides and flip signs.
    lm = build_landmarks(project(build_scene(35.0, -12.0), ortho=True))
    wrong = measure_legs(lm.flipped_horizontally(), assumed_hfov_deg=None)
    assert wrong.labels_swapped
    np.testing.assert_allclose(rotations(wrong), [-12.0, 35.0], atol=F32_TOL_DEG)


def test_convention_trunk_lean_positive_toward_persons_left():
    scene = build_scene(0.0, 0.0)
    for key in ("LEFT_SHOULDER", "RIGHT_SHOULDER"):
        scene[key] = scene[key] + np.array([0.1, 0.0, 0.0])  # shoulders to the person's left
    m = measure_legs(build_landmarks(project(scene, ortho=True)), assumed_hfov_deg=None)
    assert m.trunk_lean_deg == pytest.approx(np.degrees(np.arctan2(0.1, 0.5)), abs=1e-3)


# ---------------------------------------------------------------- shapes and errors
@pytest.mark.parametrize(
    ("knee", "ankle", "shape", "exception"),
    [
        (np.zeros(2), np.ones(2), (), DoesNotRaise()),  # single points
        (np.zeros((5, 2)), np.ones(2), (5,), DoesNotRaise()),  # broadcast over frames
        (np.zeros((0, 2)), np.ones((0, 2)), (0,), DoesNotRaise()),  # zero frames
        (np.zeros((4, 3, 2)), np.ones((4, 3, 2)), (4, 3), DoesNotRaise()),  # frames × persons
        (np.zeros(3), np.ones(3), None, pytest.raises(InputError, match=r"\(\.\.\., 2\)")),
        (np.zeros((5, 2)), np.ones((4, 2)), None, pytest.raises(InputError, match="broadcast")),
    ],
)
def test_shank_angle_shapes(knee, ankle, shape, exception):
    with exception:
        assert np.shape(shank_angle_deg(knee, ankle)) == shape


def test_degenerate_vectors_give_nan_not_zero():
    assert np.isnan(shank_angle_deg([5.0, 5.0], [5.0, 5.0]))
    assert np.isnan(pelvis_roll_deg([5.0, 5.0], [5.0, 5.0]))


def test_assign_sides_shapes_and_errors():
    lm = build_landmarks(project(build_scene(10.0, 10.0), ortho=True))
    assert assign_sides(lm.xy[0]).shape == ()
    assert assign_sides(np.repeat(lm.xy, 4, axis=0)).shape == (4,)
    assert assign_sides(np.zeros((0, 33, 2))).shape == (0,)
    with pytest.raises(InputError, match=r"\(33, 2\) or \(n, 33, 2\)"):
        assign_sides(np.zeros((17, 2)))


def test_assign_sides_detects_swapped_labels_and_mirroring():
    p2 = project(build_scene(10.0, 10.0), ortho=True)
    assert not assign_sides(build_landmarks(p2).xy[0])
    assert assign_sides(build_landmarks(p2, swap=True).xy[0])
    assert assign_sides(build_landmarks(p2).xy[0], mirrored=True)


def test_no_person_and_bad_person_index_raise():
    with pytest.raises(MeasurementError, match="no person"):
        measure_legs(Landmarks.empty(WH))
    lm = build_landmarks(project(build_scene(0.0, 0.0)))
    with pytest.raises(InputError, match=r"person must be in \[0, 1\)"):
        measure_legs(lm, person=1)


def test_leg_accessor_rejects_unknown_side():
    m = measure_legs(build_landmarks(project(build_scene(0.0, 0.0))))
    assert m.leg("left") is m.left
    with pytest.raises(InputError, match="'left' or 'right'"):
        m.leg("middle")  # type: ignore[arg-type]


# ---------------------------------------------------------------- NaN, not exceptions
@pytest.mark.parametrize("hidden", ["LEFT_KNEE", "LEFT_ANKLE"])
def test_invisible_knee_or_ankle_gives_nan_for_that_leg_only(hidden):
    p2 = project(build_scene(20.0, 25.0))
    m = measure_legs(build_landmarks(p2, visibility={hidden: 0.2}))
    assert np.isnan(m.left.rotation_deg)
    assert m.left.visibility == pytest.approx(0.2)
    assert m.right.rotation_deg == pytest.approx(25.0, abs=F32_TOL_DEG)


def test_degenerate_shank_gives_nan():
    p2 = project(build_scene(20.0, 25.0))
    p2["RIGHT_ANKLE"] = p2["RIGHT_KNEE"] + 2.0
    m = measure_legs(build_landmarks(p2))
    assert np.isnan(m.right.rotation_deg)
    assert np.isfinite(m.left.rotation_deg)


# ---------------------------------------------------------------- view correction pieces
def test_recover_rotation_without_view_is_plain_image_angle():
    f, down = np.array([0.0, 0.0, -1.0]), np.array([0.0, 1.0, 0.0])
    vec = np.array([np.sin(np.radians(33.0)), np.cos(np.radians(33.0))])
    assert float(recover_rotation_deg(vec, f, down, 1.0)) == pytest.approx(33.0, abs=1e-9)
    assert float(recover_rotation_deg(vec * [-1, 1], f, down, -1.0)) == pytest.approx(33.0)


@pytest.mark.parametrize("theta", [20.0, 35.0, 45.0])
@pytest.mark.parametrize("tau", [10.0, 15.0, 30.0])
def test_recover_rotation_undoes_pitch_formula(theta, tau):
    # Clinical notes §5: pitch τ gives tan θ′ = tan θ / cos τ in the image.
    t, p = np.radians(theta), np.radians(tau)
    apparent = np.arctan(np.tan(t) / np.cos(p))
    femur = np.array([0.0, np.sin(p), -np.cos(p)])
    vec = np.array([np.sin(apparent), np.cos(apparent)])
    got = float(recover_rotation_deg(vec, femur, np.array([0.0, 1.0, 0.0]), 1.0))
    assert got == pytest.approx(theta, abs=1e-9)
    assert np.degrees(apparent) > theta  # the uncorrected image angle overestimates


@pytest.mark.parametrize("psi", [10.0, 15.0, 30.0])
def test_recover_rotation_undoes_yaw_formula(psi):
    # Clinical notes §5: yaw ψ gives tan θ′ = tan θ · cos ψ.
    t, p = np.radians(35.0), np.radians(psi)
    apparent = np.arctan(np.tan(t) * np.cos(p))
    femur = np.array([np.sin(p), 0.0, -np.cos(p)])
    vec = np.array([np.sin(apparent), np.cos(apparent)])
    got = float(recover_rotation_deg(vec, femur, np.array([0.0, 1.0, 0.0]), 1.0))
    assert got == pytest.approx(35.0, abs=1e-9)


def test_recover_rotation_broadcasts_and_checks_shapes():
    vecs = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    got = recover_rotation_deg(vecs, [0.0, 0.0, -1.0], [0.0, 1.0, 0.0], np.ones(3))
    np.testing.assert_allclose(got, [0.0, 45.0, 90.0], atol=1e-9)
    with pytest.raises(InputError, match=r"\(\.\.\., 3\)"):
        recover_rotation_deg(vecs, [0.0, -1.0], [0.0, 1.0, 0.0], 1.0)


def test_estimate_leg_directions_recovers_known_femur_orthographic():
    femur = np.array([0.2, 0.3, -np.sqrt(1 - 0.13)])
    shank = np.cross(femur, [1.0, 0.0, 0.0])
    shank /= np.linalg.norm(shank)
    knee = np.array([50.0, 60.0])
    hip, ankle = knee - 200 * femur[:2], knee + 200 * shank[:2]
    f, s = estimate_leg_directions(hip, knee, ankle)
    np.testing.assert_allclose(f, femur, atol=1e-9)
    np.testing.assert_allclose(s, shank, atol=1e-9)


def test_estimate_leg_directions_rejects_implausible_thigh():
    # A thigh as long in the image as the shank cannot point at the camera.
    assert estimate_leg_directions([0.0, 0.0], [0.0, 200.0], [0.0, 400.0]) is None
    with pytest.raises(InputError, match="finite"):
        estimate_leg_directions([np.nan, 0.0], [0.0, 200.0], [0.0, 400.0])


def test_implausible_thigh_falls_back_to_uncorrected():
    p2 = project(build_scene(30.0, 30.0))
    p2["LEFT_HIP"] = p2["LEFT_KNEE"] - np.array([0.0, 250.0])
    m = measure_legs(build_landmarks(p2))
    assert not m.left.view_corrected
    assert np.isnan(m.left.view_pitch_deg)
    assert m.left.rotation_deg == m.left.rotation_uncorrected_deg


def test_view_angles_are_estimated_with_documented_signs():
    m = measure_legs(build_landmarks(project(build_scene(30.0, 30.0), pitch=12.0, ortho=True)),
                     assumed_hfov_deg=None)
    assert m.left.view_pitch_deg == pytest.approx(12.0, abs=1e-3)
    assert m.left.knee_xy[1] > m.left.hip_xy[1]  # + pitch: knee lower in the image
    assert m.left.view_yaw_deg == pytest.approx(0.0, abs=1e-3)


def test_correct_view_off_gives_uncorrected():
    lm = build_landmarks(project(build_scene(30.0, 30.0), pitch=12.0, ortho=True))
    m = measure_legs(lm, correct_view=False)
    assert not m.left.view_corrected
    assert m.left.rotation_deg == m.left.rotation_uncorrected_deg
    expected = np.degrees(np.arctan(np.tan(np.radians(30.0)) / np.cos(np.radians(12.0))))
    assert m.left.rotation_deg == pytest.approx(expected, abs=F32_TOL_DEG)  # notes §5


# ---------------------------------------------------------------- 3D round trips
@settings(max_examples=150, deadline=None)
@given(angles, angles, st.floats(-20, 20), st.floats(-20, 20), st.floats(-10, 10),
       st.floats(-10, 10), st.floats(1.5, 3.0))
def test_orthographic_view_correction_is_exact(tl, tr, pitch, yaw, roll, pelvic, dist):
    p2 = project(build_scene(tl, tr, pelvic_roll=pelvic), pitch=pitch, yaw=yaw, roll=roll,
                 distance=dist, ortho=True)
    m = measure_legs(build_landmarks(p2), assumed_hfov_deg=None)
    np.testing.assert_allclose(rotations(m), [tl, tr], atol=F32_TOL_DEG)


@settings(max_examples=100, deadline=None)
@given(angles, angles, st.floats(-10, 10), st.floats(-10, 10), st.floats(1.5, 3.0))
def test_no_pitch_yaw_orthographic_uncorrected_is_exact(tl, tr, roll, pelvic, dist):
    p2 = project(build_scene(tl, tr, pelvic_roll=pelvic), roll=roll, distance=dist, ortho=True)
    m = measure_legs(build_landmarks(p2), correct_view=False)
    np.testing.assert_allclose(rotations(m), [tl, tr], atol=F32_TOL_DEG)


#: Bounds achieved under a pinhole camera with pitch/yaw ≤ 15°, roll ≤ 10°, 1.5–3 m
#: (1000 random poses plus a grid of the corners): corrected ≤ 1e-4° when the focal length and
#: thigh ratio are right, ≤ 0.73° with the thigh 10% longer than assumed and ≤ 0.46° with
#: the true FOV 10° narrower than assumed; uncorrected up to 3.6°.
PERSPECTIVE_CASES = [
    # (true thigh m, true hfov, tolerance corrected)
    (0.42, HFOV_DEG, 1e-3),  # model assumptions hold
    (0.46, HFOV_DEG, 0.8),  # thigh 10% longer than thigh_to_shank_ratio=1 assumes
    (0.42, 55.0, 0.5),  # camera FOV 10° narrower than assumed
]


@pytest.mark.parametrize(("thigh", "hfov", "tol"), PERSPECTIVE_CASES)
@settings(max_examples=60, deadline=None)
@given(angles, angles, st.floats(-15, 15), st.floats(-15, 15), st.floats(-10, 10),
       st.floats(-10, 10), st.floats(1.5, 3.0))
def test_perspective_view_correction_within_bound(thigh, hfov, tol, tl, tr, pitch, yaw, roll,
                                                  pelvic, dist):
    p2 = project(build_scene(tl, tr, pelvic_roll=pelvic, thigh=thigh), pitch=pitch, yaw=yaw,
                 roll=roll, distance=dist, hfov=hfov)
    m = measure_legs(build_landmarks(p2))
    assert m.left.view_corrected and m.right.view_corrected
    np.testing.assert_allclose(rotations(m), [tl, tr], atol=tol)


@pytest.mark.parametrize(("pitch", "yaw"), [(15.0, 0.0), (0.0, -15.0), (12.0, 12.0)])
def test_portrait_frames_use_the_focal_length_of_the_long_side(pitch, yaw):
    # A phone held upright: same lens, so the field of view spans the image height.
    portrait = (1080, 1920)
    p2 = project(build_scene(45.0, -30.0), pitch=pitch, yaw=yaw, distance=1.5, wh=portrait)
    m = measure_legs(build_landmarks(p2, wh=portrait))
    np.testing.assert_allclose(rotations(m), [45.0, -30.0], atol=1e-3)


def test_view_correction_gain_is_visible():
    rng = np.random.default_rng(7)
    err_corr, err_plain = [], []
    for _ in range(200):
        tl, tr = rng.uniform(-40, 60, 2)
        p2 = project(build_scene(tl, tr, thigh=0.45), pitch=rng.uniform(-15, 15),
                     yaw=rng.uniform(-15, 15), distance=rng.uniform(1.5, 3.0))
        m = measure_legs(build_landmarks(p2))
        err_corr += list(np.abs(rotations(m) - [tl, tr]))
        err_plain += [abs(m.left.rotation_uncorrected_deg - tl),
                      abs(m.right.rotation_uncorrected_deg - tr)]
    assert np.max(err_plain) > 2.0  # the uncorrected error is real
    assert np.mean(err_corr) < np.mean(err_plain) / 3
    assert np.max(err_corr) < 0.8


# ---------------------------------------------------------------- invariances
@settings(max_examples=60, deadline=None)
@given(angles, angles, st.floats(-300, 300), st.floats(-200, 200), st.floats(0.5, 2.0))
def test_translation_and_scale_invariance(tl, tr, dx, dy, scale):
    lm = build_landmarks(project(build_scene(tl, tr), pitch=10.0, yaw=-8.0, ortho=True))
    moved = Landmarks(lm.xy * np.float32(scale) + np.array([dx, dy], np.float32),
                      lm.visibility, WH)
    for kwargs in ({"correct_view": False}, {"assumed_hfov_deg": None}):
        a, b = measure_legs(lm, **kwargs), measure_legs(moved, **kwargs)
        np.testing.assert_allclose(rotations(b), rotations(a), atol=1e-3)
        assert b.pelvis_roll_deg == pytest.approx(a.pelvis_roll_deg, abs=1e-3)


@settings(max_examples=60, deadline=None)
@given(angles, angles, st.floats(-10, 10), st.floats(-10, 10))
def test_camera_roll_and_pelvic_roll_cancel(tl, tr, roll, pelvic):
    base = measure_legs(build_landmarks(project(build_scene(tl, tr), pitch=9.0, yaw=-7.0)))
    rolled = measure_legs(build_landmarks(
        project(build_scene(tl, tr, pelvic_roll=pelvic), pitch=9.0, yaw=-7.0, roll=roll)))
    np.testing.assert_allclose(rotations(rolled), rotations(base), atol=1e-3)
    # rotation("z") with y down turns clockwise on screen, so the hip-line angle drops by both
    # rolls (to second order under pitch/yaw).
    assert rolled.pelvis_roll_deg - base.pelvis_roll_deg == pytest.approx(
        -(roll + pelvic), abs=0.5)


@settings(max_examples=40, deadline=None)
@given(angles, angles, st.floats(-15, 15), st.floats(-15, 15))
def test_swapped_labels_give_identical_numbers(tl, tr, pitch, yaw):
    p2 = project(build_scene(tl, tr), pitch=pitch, yaw=yaw)
    a, b = measure_legs(build_landmarks(p2)), measure_legs(build_landmarks(p2, swap=True))
    assert not a.labels_swapped and b.labels_swapped
    np.testing.assert_allclose(rotations(b), rotations(a), atol=1e-9)
    np.testing.assert_allclose(b.left.ankle_xy, a.left.ankle_xy)


def test_trunk_lean_shapes_and_roll_free():
    pts = np.array([[320.0, 100.0], [200.0, 100.0], [300.0, 300.0], [220.0, 300.0]])
    assert float(trunk_lean_deg(*pts)) == pytest.approx(0.0, abs=1e-9)
    rolled = rotate_on_screen(pts, 17.0, np.array([0.0, 0.0]))
    assert float(trunk_lean_deg(*rolled)) == pytest.approx(0.0, abs=1e-9)
    assert trunk_lean_deg(np.tile(pts[0], (3, 1)), *pts[1:]).shape == (3,)


@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_convention_sides_follow_the_body_axis_in_a_turned_frame(quarter_turns):
    """A frame turned by 90/180/270° without metadata keeps anatomical sides and angles."""
    from hiprom.core.landmarks import LandmarkName as Ln
    from hiprom.core.landmarks import Landmarks as Lm

    xy = np.zeros((33, 2))
    xy[Ln.LEFT_SHOULDER], xy[Ln.RIGHT_SHOULDER] = (390, 60), (250, 60)
    xy[Ln.LEFT_HIP], xy[Ln.RIGHT_HIP] = (380, 240), (260, 240)
    xy[Ln.LEFT_KNEE], xy[Ln.RIGHT_KNEE] = (380, 240), (260, 240)
    t_left, t_right = np.radians(30.0), np.radians(-10.0)
    xy[Ln.LEFT_ANKLE] = (380 + 150 * np.sin(t_left), 240 + 150 * np.cos(t_left))
    xy[Ln.RIGHT_ANKLE] = (260 - 150 * np.sin(t_right), 240 + 150 * np.cos(t_right))
    upright = measure_legs(Lm(xy[None], np.ones((1, 33)), (640, 480)), correct_view=False)
    turned_xy = xy.copy()
    for _ in range(quarter_turns):  # 90° clockwise on screen about the origin
        turned_xy = np.stack([-turned_xy[:, 1], turned_xy[:, 0]], axis=1)
    turned = measure_legs(Lm(turned_xy[None], np.ones((1, 33)), (640, 480)), correct_view=False)
    assert upright.left.rotation_deg == pytest.approx(30.0, abs=1e-3)
    assert upright.right.rotation_deg == pytest.approx(-10.0, abs=1e-3)
    assert turned.left.rotation_deg == pytest.approx(30.0, abs=1e-3)
    assert turned.right.rotation_deg == pytest.approx(-10.0, abs=1e-3)
    assert not turned.labels_swapped
