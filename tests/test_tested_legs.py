"""Which legs a clip tested (``--side auto``): a resting leg is never scored."""

from __future__ import annotations

from builders import frame_record, held_angles, seated_xy
from hiprom.media.document import result_document
from hiprom.pipeline.analysis import Analysis, MeasureOptions
from hiprom.pipeline.analysis import TestedSide as Side_
from hiprom.pipeline.measure import UNTESTED_CLIP_NOTE, measurement_from_analysis
from hiprom.results.measurement import SourceInfo

FPS = 30.0


def _measure(left: list[float], right: list[float]):
    n = min(len(left), len(right))
    records = [frame_record(i, seated_xy(left[i], right[i]), fps=FPS) for i in range(n)]
    source = SourceInfo(path="synthetic.mp4", kind="clip", fps=FPS, n_frames=n,
                        duration_s=n / FPS, resolution_wh=(640, 480), mirrored=False)
    return measurement_from_analysis(Analysis(records=records, resolution_wh=(640, 480)),
                                     source, model={"name": "fake", "sha256": ""},
                                     options=MeasureOptions(check_posture=False))


def test_a_resting_leg_that_never_hangs_vertical_is_not_scored():
    # The audit's renders: the resting leg hung in 19° of IR the whole clip. With no
    # vertical period it had no neutral, its posture read as one long "rep" against
    # vertical, and it got a value, a verdict and an asymmetry.
    tested = held_angles([(2.0, 0.0), (2.0, 40.0), (2.0, 0.0), (1.0, 0.0)])
    m = _measure([19.0] * len(tested), tested)
    assert m.tested == {"left": False, "right": True}
    doc = result_document(m)
    assert doc["legs"]["left"]["internal_rotation_deg"] is None
    assert doc["legs"]["left"]["verdict"] is None
    assert abs(doc["legs"]["right"]["internal_rotation_deg"] - 40.0) < 1.0
    assert doc["asymmetry_deg"] is None
    assert doc["protocol"].get("note") is None


def test_a_small_rep_from_a_neutral_still_counts():
    # A very stiff hip: 4° of rotation is less than the excursion rule's 6°, but it left
    # its own neutral and came back, so it was tested.
    small = held_angles([(2.0, 0.0), (2.0, 4.0), (2.0, 0.0), (1.0, 0.0)])
    m = _measure(small, [0.0] * len(small))
    assert m.tested["left"] is True and m.tested["right"] is False
    assert abs(m.legs["left"].internal_rotation_deg - 4.0) < 1.0


def test_a_clip_in_which_no_leg_moved_says_so():
    m = _measure([12.0] * 150, [0.0] * 150)
    assert m.tested == {"left": False, "right": False}
    doc = result_document(m)
    assert doc["protocol"]["note"] == UNTESTED_CLIP_NOTE
    assert "--side left or right" in UNTESTED_CLIP_NOTE


def test_naming_the_leg_that_did_not_move_gets_a_note():
    tested = held_angles([(2.0, 0.0), (2.0, 40.0), (2.0, 0.0), (1.0, 0.0)])
    n = len(tested)
    records = [frame_record(i, seated_xy(tested[i], 0.0), fps=FPS) for i in range(n)]
    source = SourceInfo(path="synthetic.mp4", kind="clip", fps=FPS, n_frames=n,
                        duration_s=n / FPS, resolution_wh=(640, 480), mirrored=False)

    def measured(side: Side_):
        return measurement_from_analysis(
            Analysis(records=records, resolution_wh=(640, 480)), source,
            model={"name": "fake", "sha256": ""},
            options=MeasureOptions(check_posture=False, side=side))

    wrong = result_document(measured(Side_.RIGHT))
    assert wrong["legs"]["left"]["tested"] is False
    assert "only the left leg moved" in wrong["protocol"]["note"]
    assert result_document(measured(Side_.LEFT))["protocol"].get("note") is None
