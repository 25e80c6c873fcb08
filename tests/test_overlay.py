from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import Body, seated_xy, visibility
from hiprom.core.landmarks import LandmarkName
from hiprom.errors import InputError
from hiprom.media.overlay import (
    draw_angle,
    draw_fps,
    draw_legs,
    draw_panel,
    draw_progress,
    rotation_label,
    ui_scale,
)

L = LandmarkName


def grey(h: int = 480, w: int = 640, level: int = 128) -> np.ndarray:
    return np.full((h, w, 3), level, np.uint8)


def seated_pose(w: int = 640, h: int = 480) -> tuple[np.ndarray, np.ndarray]:
    """Hips at mid-height, knees below them, ankles straight below the knees, feet set.

    Only the legs are placed (hips at 0.4/0.6 w, knees and ankles at 0.35/0.65 w, at 0.4,
    0.6 and 0.9 h); every other landmark is NaN.
    """
    body = Body(centre=(0.5 * w, 0.6 * h), knee_half_width=0.15 * w, hip_half_width=0.1 * w,
                hip_above_knee=0.2 * h, shank=0.3 * h, shoulders=None,
                feet=(0.01 * w, 0.05 * w, 0.03 * h))
    return seated_xy(body=body, fill=np.nan), visibility()


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).sum(axis=2) > 30


def test_ui_scale_follows_short_side() -> None:
    assert ui_scale(grey(480, 640)) == pytest.approx(480 / 720)
    assert ui_scale(grey(2160, 3840)) == pytest.approx(3.0)
    assert ui_scale(grey(1280, 720)) == pytest.approx(1.0)  # portrait: the width counts


# --- draw_legs -------------------------------------------------------------------------------


def test_draw_legs_draws_bones_and_leaves_input_alone() -> None:
    image = grey()
    before = image.copy()
    xy, vis = seated_pose()
    out = draw_legs(image, xy, vis)
    assert np.array_equal(image, before)
    assert out is not image and out.shape == image.shape
    mid_left_shank = ((xy[L.LEFT_KNEE] + xy[L.LEFT_ANKLE]) / 2).astype(int)
    b, g, r = out[mid_left_shank[1], mid_left_shank[0]]
    assert b > 200 and r < 100  # left side is blue
    mid_right_shank = ((xy[L.RIGHT_KNEE] + xy[L.RIGHT_ANKLE]) / 2).astype(int)
    b, g, r = out[mid_right_shank[1], mid_right_shank[0]]
    assert r > 200 and b < 100  # right side is orange
    assert not changed(out, image)[:100].any()  # nothing drawn far above the hips


def test_draw_legs_joint_colour_by_visibility_and_hidden_bones() -> None:
    xy, vis = seated_pose()
    vis[L.LEFT_ANKLE] = 0.1
    out = draw_legs(grey(), xy, vis)
    ax, ay = xy[L.LEFT_ANKLE].astype(int)
    b, g, r = out[ay, ax]
    assert r > 200 and g < 100  # low visibility: red joint
    kx, ky = xy[L.LEFT_KNEE].astype(int)
    assert out[ky, kx][1] > 180  # full visibility: green joint
    mid = ((xy[L.LEFT_KNEE] + xy[L.LEFT_ANKLE]) / 2).astype(int)
    assert tuple(out[mid[1], mid[0]]) == (128, 128, 128)  # bone to a hidden joint not drawn


def test_draw_legs_mirrored_draws_at_w_minus_x() -> None:
    xy, vis = seated_pose()
    xy[L.LEFT_KNEE] = (500.0, 300.0)
    out = draw_legs(grey(), xy, vis, mirrored=True)
    assert out[300, 640 - 500][1] > 180  # green joint at the mirrored x
    assert tuple(out[300, 500]) == (128, 128, 128)  # nothing at the unmirrored x


def test_draw_legs_rejects_wrong_shape() -> None:
    with pytest.raises(InputError, match=r"xy \(33, 2\)"):
        draw_legs(grey(), np.zeros((17, 2)), np.ones(17))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5000, 5000) | st.just(float("nan")), min_size=66, max_size=66),
       st.lists(st.floats(0, 1), min_size=33, max_size=33))
def test_draw_legs_never_fails_on_any_points(coords: list[float], vis: list[float]) -> None:
    image = grey(120, 160)
    out = draw_legs(image, np.array(coords).reshape(33, 2), np.array(vis))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (image == 128).all()


# --- draw_angle ------------------------------------------------------------------------------


def test_draw_angle_lines_arc_and_value() -> None:
    image = grey(level=200)
    knee, ankle = np.array([320.0, 200.0]), np.array([400.0, 400.0])
    out = draw_angle(image, knee, ankle, knee + (0, 50), 21.8, label="L")
    assert (image == 200).all()
    diff = changed(out, image)
    below = (knee + (0, 150)).astype(int)
    assert diff[below[1] - 8 : below[1] + 8, below[0] - 3 : below[0] + 4].any()  # reference
    mid = ((knee + ankle) / 2).astype(int)
    b, g, r = out[mid[1], mid[0]]
    assert r > 200 and g > 200 and b < 120  # yellow shank
    # the value box sits on the far side of the knee from the shank (up-left of it)
    assert diff[: int(knee[1]), : int(knee[0])].sum() > 300
    assert not diff[440:, :200].any()


def test_draw_angle_near_edge_stays_inside_and_nan_prints_dashes() -> None:
    image = grey(240, 320)
    out = draw_angle(image, (2.0, 2.0), (10.0, 200.0), (2.0, 50.0), float("nan"), label="R")
    assert out.shape == image.shape
    assert changed(out, image)[:60, :120].any()


def test_draw_angle_degenerate_points_only_draw_value() -> None:
    image = grey()
    out = draw_angle(image, (100, 100), (100, 100), (100, 150), 10.0)
    assert changed(out, image).any()
    assert np.array_equal(image, grey())


# --- panels, progress, fps -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("corner", "region"),
    [("top-left", (slice(10, 40), slice(10, 60))),
     ("bottom-right", (slice(-40, -10), slice(-60, -10)))],
)
def test_draw_panel_darkens_its_corner(corner: str, region: tuple[slice, slice]) -> None:
    image = grey(level=220)
    out = draw_panel(image, ["Left IR 38°", "Right IR 41°"], corner=corner)
    assert (image == 220).all()
    assert out[region].mean() < 150
    opposite = grey(level=220)[region]
    assert out[::-1, ::-1][region].mean() == pytest.approx(opposite.mean())


def test_draw_panel_long_line_shrinks_to_fit() -> None:
    out = draw_panel(grey(480, 320, level=220), ["x" * 200])
    assert (out[:, -5:] == 220).all()  # the box never reaches the right edge


@pytest.mark.parametrize(("fraction", "filled"), [(0.0, 0.0), (0.5, 0.5), (1.0, 1.0),
                                                  (7.0, 1.0), (float("nan"), 0.0)])
def test_draw_progress_fill_matches_fraction(fraction: float, filled: float) -> None:
    out = draw_progress(grey(level=0), fraction, label="Hold")
    green = (out[..., 1] > 150) & (out[..., 2] < 150)
    cols = green.any(axis=0)
    bar_w = int(0.6 * 640)
    assert cols.sum() / bar_w == pytest.approx(filled, abs=0.02)


def test_draw_progress_label_reads_on_a_light_picture() -> None:
    """The label ("Hold 1.8 / 2 s") is white: on a light wall it needs a dark backing."""
    light = grey(level=220)
    out = draw_progress(light, 0.5, label="Hold 1.8 / 2 s").astype(int)
    bare = draw_progress(light, 0.5, label="").astype(int)
    rows, cols = np.nonzero(np.abs(out - bare).sum(axis=2))
    box = out[rows.min():rows.max() + 1, cols.min():cols.max() + 1].mean(axis=2)
    assert np.median(box) < 110, f"label box median grey {np.median(box):.0f} of 255"
    assert (box > 200).mean() > 0.05  # the white letters are still there


def test_draw_fps_top_right() -> None:
    out = draw_fps(grey(level=220), 29.97)
    assert out[8:25, -45:-10].mean() < 150
    assert (out[:, :300] == 220).all()


def test_demo_png_on_real_photo(real_footage: Path, tmp_path: Path) -> None:
    image = cv2.imread(str(real_footage / "01_seated_floor_knees_bent.jpg"))
    xy, vis = seated_pose(image.shape[1], image.shape[0])
    out = draw_legs(image, xy, vis)
    out = draw_angle(out, xy[L.LEFT_KNEE], xy[L.LEFT_ANKLE], xy[L.LEFT_KNEE] + (0, 1), 0.0,
                     label="L")
    out = draw_panel(out, ["Seated hip rotation"])
    assert cv2.imwrite(str(tmp_path / "demo.png"), out)
    assert changed(out, image).mean() > 0.01


# --- leg labels --------------------------------------------------------------------------------

@pytest.mark.parametrize(("side", "value", "text"), [
    ("left", 37.4, "L IR 37°"),
    ("right", -31.6, "R ER 32°"),     # ER as a positive magnitude, as in the JSON
    ("left", -0.4, "L 0°"),           # never "-0"
    ("right", float("nan"), "R --"),
])
def test_rotation_label(side, value, text):
    assert rotation_label(side, value) == text


def _dark_columns(image: np.ndarray) -> np.ndarray:
    """x of the pixels darkened by a label box on a light grey image."""
    return np.nonzero((image.max(axis=2) < 90).any(axis=0))[0]


def test_leg_labels_sit_beside_their_shanks_and_never_overlap_at_neutral():
    # Both shanks vertical, 100 px apart: the labels used to overlap over the pelvis.
    image = grey(level=200)
    left_knee, right_knee = np.array([370.0, 220.0]), np.array([270.0, 220.0])
    left = draw_angle(image, left_knee, left_knee + (0, 150), left_knee + (0, 50), 0.0,
                      text=rotation_label("left", 0.0), label_side=1.0)
    right = draw_angle(image, right_knee, right_knee + (0, 150), right_knee + (0, 50), -0.2,
                       text=rotation_label("right", -0.2), label_side=-1.0)
    left_box, right_box = _dark_columns(left), _dark_columns(right)
    # Outlines of the drawn lines are dark too: they stay within a few px of each shank.
    left_box = left_box[np.abs(left_box - left_knee[0]) > 8]
    right_box = right_box[np.abs(right_box - right_knee[0]) > 8]
    assert left_box.min() > left_knee[0] and right_box.max() < right_knee[0]
    assert right_box.max() < left_box.min()
