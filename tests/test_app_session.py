"""hiprom app's measuring adapter: browser frames through the measure pipeline and the guide."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import builders
from hiprom.app.session import STEADY_S, AppSession, SessionSettings, decode_jpeg
from hiprom.core.landmarks import LandmarkName, Landmarks
from hiprom.errors import InputError
from hiprom.media.document import result_document

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "seated_ir_left_right.mp4"
FPS = 30.0


def seated_xy(left_deg: float, right_deg: float) -> np.ndarray:
    """The default person as the model reports them (hip landmark above the joint)."""
    return builders.seated_xy(left_deg, right_deg, builders.MODEL_BODY)


def one_rep_each(t: float) -> tuple[float, float]:
    """Still until 2.5 s, left to 35° (held 3–5 s), still, right to 25° (held 7.5–9.5 s)."""
    def rep(start: float, value: float) -> float:
        u = t - start
        return value * max(0.0, min(u / 0.5, 1.0, (3.0 - u) / 0.5))
    return rep(2.5, 35.0), rep(7.0, 25.0)


class ScriptedBackend:
    """A fake pose model: one seated person whose angles follow ``angles(t)``."""

    def __init__(self, angles=one_rep_each, persons: int = 1) -> None:
        self.angles, self.persons, self.closed = angles, persons, False

    def __call__(self, image_rgb, *, timestamp_s: float) -> Landmarks:
        h, w = image_rgb.shape[:2]
        if timestamp_s < 0 or self.persons == 0:
            return Landmarks.empty((w, h))
        xy = seated_xy(*self.angles(timestamp_s))
        return Landmarks(np.repeat(xy[None], self.persons, 0), np.ones((self.persons, 33)), (w, h))

    def close(self) -> None:
        self.closed = True


def jpeg(level: int = 120, size: tuple[int, int] = (640, 480)) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((size[1], size[0], 3), level, np.uint8))
    assert ok
    return buf.tobytes()


def run(session: AppSession, seconds: float = 12.0, *, frame: bytes | None = None,
        t0_ms: float = 5000.0) -> list[dict]:
    """Feed ``seconds`` of 30 fps frames (or until the test is complete)."""
    frame = frame or jpeg()
    replies = []
    for i in range(int(seconds * FPS)):
        replies.append(session.process(frame, t0_ms + 1000.0 * i / FPS))
        if session.complete:
            break
    return replies


def auto_session(**kwargs) -> tuple[AppSession, ScriptedBackend]:
    backend = ScriptedBackend()
    settings = SessionSettings(auto=True, reps_per_side=1, **kwargs)
    session = AppSession(settings, backend_factory=lambda mode: backend)
    session.open()
    return session, backend


def test_auto_session_follows_the_test_and_writes_the_result(tmp_path):
    session, backend = auto_session()
    replies = run(session)
    assert session.complete
    phases = [r["state"]["phase"] for r in replies]
    assert phases[0] == "setup" and "neutral" in phases and phases[-1] == "reps"
    first = replies[0]
    assert len(first["landmarks"]) == 33 and first["n_persons"] == 1
    assert first["t_s"] == 0.0 and replies[1]["t_s"] == pytest.approx(1 / FPS, abs=1e-3)
    assert set(first["legs"]) == {"left", "right", "down"}
    assert first["legs"]["down"] == pytest.approx([0.0, 1.0], abs=1e-3)
    holding = [r for r in replies if r["state"]["progress_label"].startswith("Hold")]
    assert holding and holding[-1]["state"]["side"] in ("left", "right")
    assert replies[-1]["state"]["counts"] == {"left": 1, "right": 1}
    outcome = session.finish(tmp_path, stem="app-test")
    session.close()
    assert backend.closed and outcome.error is None
    assert [p.name for p in outcome.written] == ["app-test.json", "app-test.csv"]
    saved = json.loads((tmp_path / "app-test.json").read_text())
    assert saved["schema"] == "hiprom-result/2" and saved["source"]["kind"] == "live"
    assert saved["source"]["path"] == "browser:camera"
    assert saved["source"]["n_frames"] == len(replies)
    assert saved["legs"]["left"]["internal_rotation_deg"] == pytest.approx(35.0, abs=0.5)
    assert saved["legs"]["right"]["internal_rotation_deg"] == pytest.approx(25.0, abs=0.5)
    assert [r["side"] for r in saved["live"]["reps"]] == ["left", "right"]
    with (tmp_path / "app-test.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(replies) and rows[0]["phase"] == "setup"
    assert not list(tmp_path.glob("*.webm")) and not list(tmp_path.glob("*.png"))


def test_keep_video_writes_the_annotated_video_and_key_frame(tmp_path):
    session, _ = auto_session(keep_video=True)
    run(session)
    outcome = session.finish(tmp_path, stem="kept")
    session.close()
    names = {p.name for p in outcome.written}
    assert {"kept.annotated.webm", "kept.keyframe.png"} <= names
    video = cv2.VideoCapture(str(tmp_path / "kept.annotated.webm"))
    assert video.isOpened() and video.read()[0]


@pytest.mark.reliability(case="a full disk while the web app saves a session's key frame",
                         outcome="the error reaches the caller; none of the session's files "
                         "appears and no temporary file is left")
def test_a_failed_save_leaves_none_of_the_sessions_files(tmp_path, monkeypatch):
    import errno

    import hiprom.media.sinks

    session, _ = auto_session(keep_video=True)
    run(session)
    real = hiprom.media.sinks.write_image

    def write_image(path, image, **kwargs):
        if str(path).endswith(".keyframe.png"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, image, **kwargs)

    monkeypatch.setattr(hiprom.media.sinks, "write_image", write_image)
    with pytest.raises(OSError, match="No space left"):
        session.finish(tmp_path, stem="kept")
    session.close()
    assert list(tmp_path.iterdir()) == []


def test_the_test_ends_after_max_seconds():
    session, _ = auto_session(max_seconds=2.0)
    replies = run(session)
    assert session.complete and 2.0 <= replies[-1]["t_s"] < 2.1


def test_interactive_session_starts_at_the_safety_step_and_uses_keys(tmp_path):
    session = AppSession(SessionSettings(), backend_factory=lambda mode: ScriptedBackend())
    assert session.state_dict()["phase"] == "safety"
    assert session.press("next")["phase"] == "setup"
    with pytest.raises(InputError, match="unknown key"):
        session.press("jump")
    replies = run(session, seconds=4.0)
    assert "neutral" in {r["state"]["phase"] for r in replies}
    assert not session.complete
    outcome = session.finish(tmp_path, stem="early")
    saved = json.loads((tmp_path / "early.json").read_text())
    assert outcome.result is not None and saved["source"]["truncated"] is True
    assert "truncated" in saved["quality"]


def test_the_page_is_never_told_to_press_a_key(tmp_path):
    """The guide's words name the live window's keys; the page has buttons instead."""
    later = ScriptedBackend(angles=lambda t: one_rep_each(t - 6.0))  # after setup and neutral
    session = AppSession(SessionSettings(reps_per_side=1), backend_factory=lambda mode: later)
    states = [session.state_dict(), session.press("next")]
    states += [r["state"] for r in run(session, seconds=25.0, t0_ms=0.0)]
    assert states[-1]["phase"] == "result" and states[0]["phase"] == "safety"
    for state in states:
        words = f"{state['headline']} {state['detail']}"
        assert "SPACE" not in words and "Press" not in words and "key" not in words, words
    assert states[0]["headline"] and states[0]["detail"]


def test_setup_checks_name_what_to_fix():
    session = AppSession(SessionSettings(auto=True), backend_factory=lambda mode: ScriptedBackend())
    reply = session.process(jpeg(level=20), 0.0)
    checks = {c["id"]: c for c in reply["setup"]}
    assert list(checks) == ["legs", "distance", "height", "angle", "level", "light"]
    assert checks["light"]["ok"] is False and "dark" in checks["light"]["advice"]
    assert checks["distance"]["value"] == 120 and checks["legs"]["ok"] is True
    bright = session.process(jpeg(level=250), 1000.0 * STEADY_S + 40.0)  # dark advice held
    assert "bright" in {c["id"]: c for c in bright["setup"]}["light"]["advice"]
    crowd = AppSession(SessionSettings(auto=True),
                       backend_factory=lambda mode: ScriptedBackend(persons=2))
    legs = {c["id"]: c for c in crowd.process(jpeg(), 0.0)["setup"]}["legs"]
    assert legs["ok"] is False and "one person" in legs["advice"].lower()


class FlickeringCrowd(ScriptedBackend):
    """A second person at the edge of the picture, found in every other frame."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __call__(self, image_rgb, *, timestamp_s: float) -> Landmarks:
        self.calls += 1
        self.persons = 1 + self.calls % 2
        return super().__call__(image_rgb, timestamp_s=timestamp_s)


def test_instructions_and_checks_do_not_flicker_when_the_picture_does():
    """Advice that alternates frame by frame is shown for a second at least, not 30 times."""
    session = AppSession(SessionSettings(auto=True), backend_factory=lambda mode: FlickeringCrowd())
    replies = run(session, seconds=3.0)
    assert {r["state"]["phase"] for r in replies} == {"setup"}
    words = [(r["state"]["headline"], r["state"]["detail"]) for r in replies]
    legs = [next((c["ok"], c["advice"]) for c in r["setup"] if c["id"] == "legs")
            for r in replies]
    assert "Only one person in view, please" in {w[0] for w in words}
    for shown in (words, legs):
        changes = [r["t_s"] for r, a, b in zip(replies[1:], shown, shown[1:], strict=False)
                   if a != b]
        assert len(changes) <= 3, changes  # at most one a second over 3 s
        assert all(b - a >= STEADY_S - 0.04 for a, b in zip(changes, changes[1:], strict=False))


def test_a_new_step_replaces_the_instruction_at_once():
    session = AppSession(SessionSettings(auto=True, reps_per_side=1),
                         backend_factory=lambda mode: ScriptedBackend())
    replies = run(session)
    for before, after in zip(replies, replies[1:], strict=False):
        if after["state"]["phase"] != before["state"]["phase"]:
            assert after["state"]["headline"] != before["state"]["headline"]


def test_nobody_in_view_is_said_and_nothing_is_written(tmp_path):
    session = AppSession(SessionSettings(auto=True),
                         backend_factory=lambda mode: ScriptedBackend(persons=0))
    reply = session.process(jpeg(), 0.0)
    assert reply["landmarks"] is None and reply["legs"] is None
    assert "whole body in view" in reply["setup"][0]["advice"]
    outcome = session.finish(tmp_path, stem="nobody")
    assert outcome.result is None and "no person found" in outcome.error
    assert not list(tmp_path.iterdir())
    assert "no camera frame" in AppSession(SessionSettings()).finish(tmp_path, stem="x").error


def standing_xy(left_deg: float, right_deg: float) -> np.ndarray:
    """The same person standing: hips a shank length higher, knees far below them."""
    xy = seated_xy(left_deg, right_deg)
    for hip in (LandmarkName.LEFT_HIP, LandmarkName.RIGHT_HIP):
        xy[hip, 1] -= builders.MODEL_BODY.shank
    return xy


@pytest.mark.reliability(case="a person standing in front of the web app's camera",
                         outcome="no leg scored; the result card says it is not the seated "
                                 "test and why")
def test_a_standing_person_is_not_scored_and_the_card_says_why(tmp_path):
    """The seated-test check refuses it as in ``hiprom measure``; the card must say so."""
    from hiprom.app.cards import result_card

    session = AppSession(SessionSettings(auto=True, reps_per_side=1),
                         backend_factory=lambda mode: StandingBackend())
    session.open()
    run(session)
    outcome = session.finish(tmp_path, stem="standing")
    assert outcome.result is not None and outcome.result["protocol"]["valid"] is False
    card = result_card(outcome.result, session_id="s", person="Ada", written=outcome.written,
                       in_history=False)
    assert card["refused"] and "thighs" in card["refused"]
    assert all(card["legs"][s]["ir_deg"] is None for s in ("left", "right"))
    assert card["exercises"] == []


class StandingBackend(ScriptedBackend):
    """The scripted person, standing."""

    def __call__(self, image_rgb, *, timestamp_s: float) -> Landmarks:
        h, w = image_rgb.shape[:2]
        if timestamp_s < 0:
            return Landmarks.empty((w, h))
        return Landmarks(standing_xy(*self.angles(timestamp_s))[None], np.ones((1, 33)), (w, h))


@pytest.mark.reliability(case="two people in front of the web app's camera",
                         outcome="nothing is scored or written; the page is told to ask the "
                                 "others to step out (as measure refuses a crowded clip)")
def test_two_people_in_view_are_refused_as_measure_refuses_them(tmp_path):
    """Two comparable people all along: ``hiprom measure`` refuses the clip, so must the app.

    The app checked a fresh tracker that had seen nobody, and scored the test.
    """
    session = AppSession(SessionSettings(auto=True, reps_per_side=1),
                         backend_factory=lambda mode: ScriptedBackend(persons=2))
    session.open()
    run(session)
    outcome = session.finish(tmp_path, stem="two")
    assert outcome.result is None and not list(tmp_path.iterdir())
    assert "several people" in outcome.error and "step out" in outcome.error
    assert "--subject" not in outcome.error  # the page has no such option


def test_a_leg_left_resting_reads_not_tested_on_the_card(tmp_path):
    """Only the left foot swung: the right leg gets no value, and no advice about holding it
    (the card said 'Not measured' and 'the leg moved but never stayed still')."""
    from hiprom.app.cards import result_card

    left_only = ScriptedBackend(angles=lambda t: (one_rep_each(t)[0], 0.0))
    session = AppSession(SessionSettings(auto=True, max_seconds=10.0),
                         backend_factory=lambda mode: left_only)
    session.open()
    run(session)
    outcome = session.finish(tmp_path, stem="left")
    assert outcome.result is not None
    card = result_card(outcome.result, session_id="s", person="Ada", written=outcome.written,
                       in_history=False)
    right = card["legs"]["right"]
    assert right["ir_deg"] is None and right["tested"] is False and right["quality"] == []
    assert card["legs"]["left"]["tested"] is True and card["legs"]["left"]["ir_deg"] is not None


def test_bad_frames_are_refused_in_plain_words():
    with pytest.raises(InputError, match="not a decodable JPEG"):
        decode_jpeg(b"not an image")
    with pytest.raises(InputError, match="larger than"):
        decode_jpeg(jpeg(size=(2000, 100)))
    session, _ = auto_session()
    session.process(jpeg(), 0.0)
    with pytest.raises(InputError, match="changed from"):
        session.process(jpeg(size=(320, 240)), 33.0)


@pytest.mark.mediapipe
@pytest.mark.slow
@pytest.mark.skipif(not SAMPLE.is_file(), reason="rendered sample not present")
def test_sample_frames_through_the_app_session_equal_measure(tmp_path):
    """Lossless frames of the sample through the app's path give ``measure``'s numbers."""
    from hiprom.media.sources import iter_video
    from hiprom.pipeline.analysis import MeasureOptions
    from hiprom.pipeline.measure import measure_path

    session = AppSession(SessionSettings(auto=True, reps_per_side=1))
    session.open()
    for frame in iter_video(SAMPLE):
        ok, png = cv2.imencode(".png", frame.image_bgr)
        session.process(png.tobytes(), 1000.0 * frame.timestamp_s)
        if session.complete:
            break
    outcome = session.finish(tmp_path, stem="sample")
    session.close()
    # The app analyses every frame it gets, so it is compared with measure --every-frame.
    expected = result_document(measure_path(SAMPLE, options=MeasureOptions(every_frame=True)))
    for side in ("left", "right"):
        got = outcome.result["legs"][side]["internal_rotation_deg"]
        assert got == pytest.approx(expected["legs"][side]["internal_rotation_deg"], abs=0.1)


def test_a_withheld_value_reads_not_rated_on_the_card():
    """A compensated leg keeps its value but no verdict band: the card said 'not measured'."""
    from hiprom.app.cards import result_card

    path = Path(__file__).parent / "data" / "results" / "seated_clip.json"
    result = json.loads(path.read_text())
    left = result["legs"]["left"]
    left["verdict"] = {**left["verdict"], "band": None, "code": "withheld"}
    result["legs"]["right"]["internal_rotation_deg"] = None
    result["legs"]["right"]["verdict"] = {"band": None, "code": "not_measured"}
    card = result_card(result, session_id="s", person="Ada", written=[], in_history=False)
    assert card["legs"]["left"]["ir_deg"] is not None
    assert card["legs"]["left"]["band"] == "not rated"
    assert card["legs"]["right"]["band"] == "not measured"
