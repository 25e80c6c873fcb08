"""``--second-network``: MoveNet Thunder's knees and ankles averaged with BlazePose's."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from hiprom.backends import movenet
from hiprom.backends.base import PoseModel
from hiprom.backends.fake import FakeBackend
from hiprom.cli.main import app
from hiprom.core.landmarks import Landmarks
from hiprom.errors import InputError
from hiprom.pipeline.analysis import MeasureOptions

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "samples" / "seated_ir_left_right.mp4"
KNEES_ANKLES = [25, 26, 27, 28]


def _points() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(100, 300, (33, 2))


def _seated_points() -> np.ndarray:
    """BlazePose-like points: knees at y 200, ankles 100 px below (a 100 px shank)."""
    bp = _points()
    bp[25], bp[26], bp[27], bp[28] = (100, 200), (200, 200), (100, 300), (200, 300)
    return bp


def _movenet(at: np.ndarray, score: float = 0.9) -> np.ndarray:
    """MoveNet keypoints (x, y, score) with its knees and ankles at ``at`` (4, 2)."""
    kp = np.full((17, 3), np.nan)
    kp[[13, 14, 15, 16], :2] = at
    kp[[13, 14, 15, 16], 2] = score
    return kp


def test_knees_and_ankles_are_averaged_and_nothing_else_moves():
    bp = _seated_points()
    mn = _movenet(bp[KNEES_ANKLES] + [[4.0, -2.0], [6.0, 0.0], [-8.0, 2.0], [0.0, 10.0]])
    out = movenet.refine_points(bp, mn)
    np.testing.assert_allclose(out[KNEES_ANKLES] - bp[KNEES_ANKLES],
                               [[2.0, -1.0], [3.0, 0.0], [-4.0, 1.0], [0.0, 5.0]], atol=1e-4)
    others = [i for i in range(33) if i not in KNEES_ANKLES]
    np.testing.assert_allclose(out[others], bp[others], atol=1e-4)


def test_the_networks_side_labels_are_paired_by_position():
    # MoveNet may call the person's left knee "right": pair by where the knees are.
    bp = _seated_points()
    mn = _movenet(np.array([(204, 200), (96, 200), (204, 300), (96, 300)], float))
    out = movenet.refine_points(bp, mn)
    np.testing.assert_allclose(out[[25, 26, 27, 28], 0], [98, 202, 98, 202])


def test_a_point_either_network_lacks_stays_blazeposes():
    bp = _seated_points()
    mn = _movenet(bp[KNEES_ANKLES] + 5.0)
    mn[15] = np.nan
    out = movenet.refine_points(bp, mn)
    np.testing.assert_allclose(out[27], bp[27], atol=1e-4)
    bp_missing = bp.copy()
    bp_missing[26] = np.nan
    assert np.isnan(movenet.refine_points(bp_missing, mn)[26]).all()


def test_a_point_movenet_doubts_or_places_elsewhere_stays_blazeposes():
    # MoveNet places occluded keypoints with a low score; on footage of two people its
    # legs were another person's, 1.4-3.7 shanks away: neither is averaged in.
    bp = _seated_points()
    unsure = movenet.refine_points(bp, _movenet(bp[KNEES_ANKLES] + 5.0, score=0.2))
    np.testing.assert_allclose(unsure[KNEES_ANKLES], bp[KNEES_ANKLES], atol=1e-4)
    far = _movenet(bp[KNEES_ANKLES] + [[0.0, 101.0], [0.0, 99.0], [0.0, 0.0], [0.0, 0.0]])
    out = movenet.refine_points(bp, far)
    np.testing.assert_allclose(out[25], bp[25], atol=1e-4)             # 1.01 shanks away
    np.testing.assert_allclose(out[26], bp[26] + [0.0, 49.5], atol=1e-4)  # 0.99: averaged


def test_a_person_with_too_few_points_is_left_alone():
    points = np.full((33, 2), np.nan)
    points[:movenet.MIN_POINTS - 1] = 100.0
    assert movenet._crop(points) is None


def test_the_bundled_model_is_the_one_models_readme_and_the_build_script_name():
    data = movenet.model_path().read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    readme = (ROOT / "models" / "README.md").read_text()
    assert f"`{movenet.MODEL_NAME}` | `{digest}`" in readme
    script = (ROOT / "models" / "build_movenet.py").read_text()
    assert re.search(rf'EXPECTED_SHA256 = "{digest}"', script)


def test_only_the_full_network_takes_a_second_network():
    with pytest.raises(InputError, match="full pose network only"):
        MeasureOptions(model=PoseModel.LITE, second_network=True)
    run = CliRunner().invoke(app, ["measure", str(CLIP), "--second-network", "--model",
                                   "heavy", "-o", "unused"])
    assert run.exit_code == 2, run.output
    assert run.output.count("\n") == 1 and "--second-network" in run.output, run.output


@pytest.mark.mediapipe
def test_real_movenet_finds_the_rendered_knees_and_ankles():
    # Real pixels, both real networks: on frames of the sample, MoveNet's knees and ankles
    # (cropped around BlazePose's points, as measuring does) lie on the renderer's true
    # joints, as BlazePose's do: typically within 5% of the shank; a rotated leg's knee
    # point slides down the shank by up to a fifth in both networks (the pivot's reason).
    # A crop mapped back wrongly (x for y, the wrong scale) would put them far off.
    from hiprom.backends.base import RunningMode
    from hiprom.backends.mediapipe import MediaPipeBackend

    truth = json.loads(CLIP.with_name(CLIP.stem + ".truth.json").read_text())
    capture = cv2.VideoCapture(str(CLIP))
    errors = {"movenet": [], "average": []}
    with MediaPipeBackend(mode=RunningMode.IMAGE, num_poses=1) as blazepose, \
            movenet.SecondNetworkBackend(blazepose) as second:
        for index in range(0, len(truth["frames"]), 40):
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, bgr = capture.read()
            assert ok
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            points = blazepose(rgb, timestamp_s=0.0).xy[0].astype(np.float64)
            kp = second.keypoints(rgb, points)
            assert kp is not None and kp.shape == (17, 3)
            assert np.median(kp[[13, 14, 15, 16], 2]) > movenet.MIN_SCORE   # legs in view
            averaged = movenet.refine_points(points, kp)
            joints = truth["frames"][index]["joints_2d_px"]
            for side in ("left", "right"):
                shank = np.hypot(*np.subtract(joints[f"{side}_ankle"], joints[f"{side}_knee"]))
                for name, mn_index, bp_index in (("knee", 13, 25), ("ankle", 15, 27)):
                    true = np.array([joints[f"{s}_{name}"] for s in ("left", "right")])
                    for key, xy in (("movenet", kp[[mn_index, mn_index + 1], :2]),
                                    ("average", averaged[[bp_index, bp_index + 1]])):
                        # nearest true joint: the labels may be the person's or the picture's
                        errors[key] += [np.min(np.hypot(*(true - p).T)) / shank for p in xy]
    assert len(errors["movenet"]) >= 20
    for key in ("movenet", "average"):
        assert np.median(errors[key]) < 0.05, errors
        assert max(errors[key]) < 0.25, errors


@pytest.mark.mediapipe
def test_measure_with_the_second_network_names_it_and_stays_on_the_truth(tmp_path):
    run = CliRunner().invoke(app, ["measure", str(CLIP), "--second-network", "-o",
                                   str(tmp_path), "--no-history", "-q"])
    assert run.exit_code == 0, run.output
    doc = json.loads((tmp_path / f"{CLIP.stem}.json").read_text())
    digest = hashlib.sha256(movenet.model_path().read_bytes()).hexdigest()
    assert doc["model"]["second_network"] == {"name": movenet.MODEL_NAME, "sha256": digest}
    truth = json.loads(CLIP.with_name(CLIP.stem + ".truth.json").read_text())
    for side, leg in doc["legs"].items():
        expected = truth["end_range"][side]["internal_rotation_deg"]
        assert abs(leg["internal_rotation_deg"] - expected) <= leg["internal_rotation_ci95_deg"]


def test_the_backend_refines_every_person_it_is_given():
    frame = np.full((480, 640, 3), 90, np.uint8)
    bp = np.stack([_seated_points(), _seated_points() + 150])
    landmarks = Landmarks(bp.astype(np.float32), np.ones((2, 33), np.float32), (640, 480))

    class Fixed(movenet.SecondNetworkBackend):
        def keypoints(self, image_rgb, points):
            kp = np.zeros((17, 3))
            kp[[13, 14, 15, 16], :2] = points[KNEES_ANKLES] + 10.0
            kp[:, 2] = 0.9
            return kp

    with Fixed(FakeBackend([landmarks])) as second:
        out = second(frame, timestamp_s=0.0)
    np.testing.assert_allclose(out.xy[:, KNEES_ANKLES], bp[:, KNEES_ANKLES] + 5.0, atol=1e-3)
    np.testing.assert_allclose(out.visibility, landmarks.visibility)


@pytest.mark.mediapipe
@pytest.mark.parametrize("name", ["still_right_ir45_far.png", "seated_ir_left_right.mp4"])
def test_measuring_with_the_option_runs_the_second_network_on_every_analysed_frame(
        name, monkeypatch):
    # The result's provenance alone would pass if the option stopped reaching the backend.
    from hiprom.pipeline.measure import measure_path

    calls = []
    original = movenet.SecondNetworkBackend.keypoints

    def counted(self, image_rgb, points):
        calls.append(image_rgb.shape)
        return original(self, image_rgb, points)

    monkeypatch.setattr(movenet.SecondNetworkBackend, "keypoints", counted)
    plain = measure_path(ROOT / "samples" / name)
    assert calls == []
    second = measure_path(ROOT / "samples" / name, options=MeasureOptions(second_network=True))
    analysed = len(second.timestamps_s) * (2 if name.endswith(".png") else 1)  # photo: +mirror
    assert len(calls) >= analysed > 0
    common = sorted(set(plain.frame_index.tolist()) & set(second.frame_index.tolist()))
    assert common

    def at(m):
        rows = {int(f): i for i, f in enumerate(m.frame_index)}
        return m.landmarks_xy[[rows[f] for f in common]][:, KNEES_ANKLES]

    # the knees and ankles it recorded are the averaged ones
    assert np.nanmax(np.abs(at(second) - at(plain))) > 0.5
