"""Know what it is looking at: the seated-test check, the tested leg, and earned verdicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hiprom.core.posture import PostureLimits, check_seated_test, posture_features
from hiprom.errors import MeasurementError
from hiprom.media.document import result_document
from hiprom.pipeline.analysis import MeasureOptions
from hiprom.pipeline.analysis import TestedSide as Side_
from hiprom.pipeline.measure import _tested_in_clip, _tested_in_still, measure_path

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
FOOTAGE = Path(__file__).resolve().parents[2] / "shared" / "footage"


# ---------------------------------------------------------------- pure rules
@pytest.mark.parametrize(("angles", "side", "tested", "note"), [
    ({"left": 1.2, "right": 45.0}, Side_.AUTO, {"left": False, "right": True}, False),
    ({"left": 30.0, "right": -25.0}, Side_.AUTO, {"left": True, "right": True}, True),
    ({"left": 1.2, "right": 45.0}, Side_.BOTH, {"left": True, "right": True}, False),
    ({"left": 30.0, "right": -25.0}, Side_.LEFT, {"left": True, "right": False}, False),
])
def test_the_tested_leg_of_a_photo(angles, side, tested, note):
    got, why = _tested_in_still(angles, MeasureOptions(side=side))
    assert got == tested and (why is not None) is note


class _Rep:
    def __init__(self, used):
        self.used = used


class _Leg:
    """What _tested_in_clip reads of a LegResult: its reps and its neutral hold."""

    def __init__(self, reps, neutral=None):
        self.reps, self.neutral_hold = reps, neutral


def test_a_resting_leg_s_unused_wobble_rep_does_not_make_it_tested():
    rng = np.random.default_rng(0)
    resting = 19.2 + rng.normal(0, 1.0, 120)           # hangs rotated, wobbles a little
    swung = np.r_[np.zeros(40), np.linspace(0, 40, 20), np.full(40, 40.0), np.zeros(20)]
    auto = MeasureOptions()
    assert not _tested_in_clip("left", _Leg([_Rep(False)]), resting, auto)
    # a used rep from the leg's own neutral makes it tested; against no neutral it is only
    # the leg's resting posture read against vertical
    assert _tested_in_clip("left", _Leg([_Rep(True)], neutral=object()), resting, auto)
    assert not _tested_in_clip("left", _Leg([_Rep(True)]), resting, auto)
    # a leg that swung but whose reps were all set aside was still tested
    assert _tested_in_clip("right", _Leg([_Rep(False)]), swung, auto)
    assert _tested_in_clip("right", _Leg([]), swung, auto)
    assert _tested_in_clip("left", _Leg([]), resting, MeasureOptions(side=Side_.BOTH))


def test_no_frame_is_not_the_test():
    check = check_seated_test([None, None])
    assert not check.valid and "knees and ankles" in check.reason
    assert posture_features(None).shape == (5,)


def test_limits_are_ordered_sensibly():
    limits = PostureLimits()
    assert limits.min_knee_drop < 0 < limits.max_knee_drop and 0 < limits.min_hang < 1


# ---------------------------------------------------------------- real pixels
@pytest.mark.mediapipe
@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*") if
                                        p.suffix in (".mp4", ".png")))
def test_every_rendered_sample_is_the_seated_test(name):
    m = measure_path(SAMPLES / name)
    assert m.valid, m.protocol.reason if m.protocol else ""
    doc = result_document(m)
    assert doc["protocol"]["valid"] is True and doc["protocol"]["reason"] is None


FOOTAGE_ITEMS = sorted(p.name for p in FOOTAGE.glob("*") if p.suffix in (".mp4", ".jpg"))


@pytest.mark.mediapipe
@pytest.mark.slow
@pytest.mark.skipif(not FOOTAGE_ITEMS, reason="shared footage not present")
@pytest.mark.parametrize("name", FOOTAGE_ITEMS)
def test_footage_that_is_not_the_test_is_refused_with_a_reason(name):
    options = MeasureOptions(max_fps=10.0)
    try:
        m = measure_path(FOOTAGE / name, options=options)
    except MeasurementError as err:   # nothing measurable at all: refused before any value
        assert str(err)
        return
    doc = result_document(m)
    assert doc["protocol"]["valid"] is False and doc["protocol"]["reason"], doc["protocol"]
    assert "sit on a table edge facing the camera" in doc["protocol"]["reason"]
    for leg in doc["legs"].values():
        assert leg["internal_rotation_deg"] is None and leg["verdict"] is None
    assert doc["red_flags"] == [] and doc["recommendations"] is None


@pytest.mark.mediapipe
def test_the_still_s_resting_leg_gets_no_value_verdict_or_flag():
    doc = result_document(measure_path(SAMPLES / "still_right_ir45_far.png"))
    left, right = doc["legs"]["left"], doc["legs"]["right"]
    assert left["tested"] is False and left["internal_rotation_deg"] is None
    assert left["verdict"] is None
    assert right["tested"] is True and right["internal_rotation_deg"] > 35
    assert all(f["side"] == "right" for f in doc["red_flags"])
    assert doc["asymmetry_deg"] is None


@pytest.mark.mediapipe
def test_a_clip_s_resting_leg_is_not_tested_and_side_names_it():
    clip = SAMPLES / "seated_ir_pelvis_roll_comp.mp4"
    doc = result_document(measure_path(clip))
    assert doc["legs"]["right"]["tested"] is False
    assert doc["legs"]["right"]["internal_rotation_deg"] is None
    both = result_document(measure_path(clip, options=MeasureOptions(side=Side_.BOTH)))
    assert both["legs"]["right"]["tested"] is True


@pytest.mark.mediapipe
def test_a_value_resting_on_pelvis_roll_has_its_verdict_withheld():
    doc = result_document(measure_path(SAMPLES / "seated_ir_pelvis_roll_comp.mp4"))
    left = doc["legs"]["left"]
    assert "pelvis_roll" in left["quality"]
    assert left["verdict"]["code"] == "withheld" and "sit bones" in left["verdict"]["reason"]
    assert left["internal_rotation_deg"] is not None          # kept, with its reason
    assert not [f for f in doc["red_flags"] if f["side"] == "left"]


def _legs(pitch_deg: float, shank_px: float = 150.0, ankle_y: float = 370.0):
    import math
    from dataclasses import replace

    import numpy as np

    from hiprom.core.geometry import measure_legs
    from hiprom.core.landmarks import LandmarkName as L
    from hiprom.core.landmarks import Landmarks

    xy = np.zeros((33, 2))
    for hip, knee, ankle, x in ((L.LEFT_HIP, L.LEFT_KNEE, L.LEFT_ANKLE, 370.0),
                                (L.RIGHT_HIP, L.RIGHT_KNEE, L.RIGHT_ANKLE, 270.0)):
        xy[hip] = xy[knee] = (x, ankle_y - shank_px)
        xy[ankle] = (x, ankle_y)
    xy[L.LEFT_SHOULDER], xy[L.RIGHT_SHOULDER] = (380.0, 40.0), (260.0, 40.0)
    m = measure_legs(Landmarks(xy[None], np.ones((1, 33)), (640, 480)), correct_view=False)
    assert math.isnan(m.left.view_pitch_deg)
    return replace(m, left=replace(m.left, view_pitch_deg=pitch_deg, view_yaw_deg=0.0),
                   right=replace(m.right, view_pitch_deg=pitch_deg, view_yaw_deg=0.0))


def test_camera_advice_says_what_to_move_in_numbers():
    from hiprom.core.posture import camera_advice

    assert camera_advice([_legs(3.0)] * 10, (640, 480)) == ()
    (above,) = camera_advice([_legs(22.0)] * 10, (640, 480))
    assert "down" in above and "22°" in above and "81 cm" in above
    small = camera_advice([_legs(0.0, shank_px=40.0)] * 10, (640, 480))
    assert any("closer" in a and "8%" in a for a in small)
    cut = camera_advice([_legs(0.0, ankle_y=478.0)] * 10, (640, 480))
    assert any("bottom edge" in a for a in cut)


def test_light_advice_names_a_dark_picture_and_a_backlit_person():
    from hiprom.core.posture import ADVISE_MIN_LIGHT, light_advice

    assert light_advice([(120.0, 110.0)] * 5) == ()
    assert light_advice([]) == ()
    (dark,) = light_advice([(ADVISE_MIN_LIGHT - 20, ADVISE_MIN_LIGHT - 25)] * 5)
    assert "dark" in dark and f"{ADVISE_MIN_LIGHT - 20:.0f} of 255" in dark
    (backlit,) = light_advice([(180.0, 60.0)] * 5)
    assert "67% darker" in backlit
    # Nobody seen: only the picture's level counts.
    assert light_advice([(150.0, float("nan"))] * 3) == ()


def test_light_levels_reads_the_picture_and_the_body_box():
    import numpy as np

    from hiprom.pipeline.analysis import light_levels

    image = np.full((480, 640, 3), 200, np.uint8)
    image[200:400, 200:400] = 40
    xy = np.full((33, 2), 300.0)
    xy[[11, 23, 25, 27], 0] = 210.0
    xy[[12, 24, 26, 28], 0] = 390.0
    xy[[11, 12], 1] = 210.0
    xy[[27, 28], 1] = 390.0
    picture, body = light_levels(image, xy)
    assert picture == pytest.approx(200 - 160 * (200 * 200) / (480 * 640), abs=3)
    assert body == pytest.approx(40, abs=10)
    assert np.isnan(light_levels(image, None)[1])


@pytest.mark.mediapipe
@pytest.mark.skipif(not (FOOTAGE / "03_seated_floor_knees_bent_dark.jpg").exists(),
                    reason="shared footage not present")
def test_a_dark_photo_gets_light_advice():
    m = measure_path(FOOTAGE / "03_seated_floor_knees_bent_dark.jpg",
                     options=MeasureOptions())
    advice = result_document(m)["protocol"]["advice"]
    assert any("dark" in a for a in advice), advice


def test_the_annotated_frame_gives_numbers_only_for_reported_legs():
    from dataclasses import replace

    import numpy as np

    from builders import Body, frame_record, held_angles, seated_xy
    from hiprom.core.posture import PostureCheck
    from hiprom.media import overlay
    from hiprom.media.outputs import annotate_frame
    from hiprom.pipeline.analysis import Analysis
    from hiprom.pipeline.measure import measurement_from_analysis
    from hiprom.results.measurement import SourceInfo

    body = Body(centre=(320.0, 220.0), knee_half_width=50.0, shank=150.0,
                shoulders=(60.0, 180.0))
    angles = held_angles([(1.5, 0.0), (2.0, 38.0), (1.5, 0.0)])
    analysis = Analysis(resolution_wh=(640, 480))
    analysis.records.extend(frame_record(i, seated_xy(a, 0.0, body))
                            for i, a in enumerate(angles))
    source = SourceInfo(path="built.mp4", kind="video", fps=30.0, n_frames=len(angles),
                        duration_s=len(angles) / 30.0, resolution_wh=(640, 480),
                        mirrored=False, sha256="0" * 64)
    m = measurement_from_analysis(analysis, source, model={"name": "built", "sha256": ""},
                                  options=MeasureOptions(correct_view=False, check_posture=False))
    i = 80                                    # inside the 38° hold
    blank = np.zeros((480, 640, 3), np.uint8)
    legs_only = overlay.draw_legs(blank, m.landmarks_xy[i], m.landmarks_visibility[i])
    drawn = annotate_frame(blank, m, i, summary=False)
    assert (drawn != legs_only).any()         # the tested leg's angle is drawn
    refused = replace(m, protocol=PostureCheck(False, "not the test", {}, 1.0))
    assert (annotate_frame(blank, refused, i, summary=False) == legs_only).all()
    resting = replace(m, tested={"left": False, "right": False})
    assert (annotate_frame(blank, resting, i, summary=False) == legs_only).all()
