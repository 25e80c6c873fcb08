"""Face obscuring: head ellipses from landmarks and detector boxes, their union over people
and frames, and blurred faces with sharp legs."""

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest

from builders import Body, landmarks, seated_xy, write_clip
from hiprom.backends import FakeBackend
from hiprom.backends.faces import FaceBox, tiles
from hiprom.core.landmarks import LandmarkName as L
from hiprom.media.privacy import (
    HOLD_FRAMES,
    FaceBlurrer,
    blur_faces,
    box_ellipse,
    face_blur_hook,
    face_ellipse,
    face_ellipses,
    plausible_boxes,
)

W, H = 640, 480


def textured(seed=0, w=W, h=H):
    """Fine random texture everywhere: plenty of high-frequency energy to destroy."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 2, w // 2, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


#: Knees 120 px apart at y = 300, hips 110 px apart 10 px above them, 150 px shanks,
#: shoulders at y = 150, eyes and ears at y = 80 with the ears 50 px apart.
BODY = Body(centre=(320.0, 300.0), knee_half_width=60.0, hip_half_width=55.0,
            hip_above_knee=10.0, shank=150.0, shoulders=(70.0, 150.0), head=(220.0, 50.0))


def person_xy(cx=320.0, head_y=80.0, ear_span=50.0):
    """(33, 2) landmarks of a seated person facing the camera, head at the top."""
    body = replace(BODY, head=(BODY.centre[1] - head_y, ear_span))
    return seated_xy(body=body, centre=(cx, BODY.centre[1]))


def hf_energy(image_bgr, x0, y0, x1, y1):
    """Variance of the Laplacian in a box: high for detail, near zero for a blur."""
    gray = cv2.cvtColor(image_bgr[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


FACE_BOX = (305, 70, 335, 100)   # inside the face around the nose
LEG_BOX = (230, 320, 420, 440)   # between the knees and the ankles


def test_ellipse_covers_every_head_point_and_scales_with_the_head():
    xy = person_xy(ear_span=50)
    xy[[L.LEFT_SHOULDER, L.RIGHT_SHOULDER]] = np.nan  # size from the head alone
    e = face_ellipse(xy)
    mask = e.mask((W, H))
    for i in range(11):
        x, y = xy[i]
        assert mask[int(round(y)), int(round(x))], f"head landmark {i} is outside the ellipse"
    big_xy = person_xy(ear_span=100)
    big_xy[[L.LEFT_SHOULDER, L.RIGHT_SHOULDER]] = np.nan
    big = face_ellipse(big_xy)
    assert big.half_axes_px[0] > 1.7 * e.half_axes_px[0]
    assert e.half_axes_px[1] > e.half_axes_px[0], "faces are taller than wide"


def test_ellipse_follows_a_tilted_head():
    xy = person_xy()
    centre = xy[L.NOSE].copy()
    t = math.radians(20)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    xy[:11] = (xy[:11] - centre) @ rot.T + centre
    assert face_ellipse(xy).angle_deg == pytest.approx(20.0, abs=0.5)


def test_no_head_landmark_means_no_ellipse_and_bad_shape_raises():
    xy = person_xy()
    xy[:11] = np.nan
    assert face_ellipse(xy) is None
    with pytest.raises(ValueError, match=r"\(33, 2\)"):
        face_ellipse(np.zeros((17, 2)))


def test_face_is_blurred_and_legs_are_untouched():
    image = textured()
    before = image.copy()
    out = blur_faces(image, person_xy())
    np.testing.assert_array_equal(image, before)  # the input is not changed
    assert hf_energy(out, *FACE_BOX) < 0.02 * hf_energy(image, *FACE_BOX)
    x0, y0, x1, y1 = LEG_BOX
    np.testing.assert_array_equal(out[y0:y1, x0:x1], image[y0:y1, x0:x1])


def test_every_person_in_a_stack_is_blurred():
    image = textured(1)
    people = np.stack([person_xy(cx=160), person_xy(cx=480)])
    out = blur_faces(image, people)
    for cx in (160, 480):
        box = (cx - 15, 70, cx + 15, 100)
        assert hf_energy(out, *box) < 0.02 * hf_energy(image, *box)


def seated_sequence(n):
    """Seated landmarks whose left shank swings out to 35° (legs visible: measurable)."""
    thighs_to_camera = replace(BODY, hip_half_width=None, hip_above_knee=0.0)
    return [landmarks(seated_xy(min(35.0, i / 30.0 * 60.0), 0.0, thighs_to_camera),
                      resolution_wh=(W, H)) for i in range(n)]


def test_annotated_video_frames_have_blurred_faces_and_sharp_legs(tmp_path):
    from hiprom.media.outputs import write_outputs
    from hiprom.pipeline.measure import measure_path

    n = 30  # no hold is needed: the legs are measurable, which is all write_outputs needs
    clip = write_clip(tmp_path / "clip.mp4", (textured(seed=i % 3) for i in range(n)))
    seq = seated_sequence(n)
    m = measure_path(clip, backend_factory=lambda mode: FakeBackend(seq))
    written = write_outputs(m, tmp_path / "out", annotate=True, frame_hook=face_blur_hook(m))
    video = next(p for p in written if p.name.endswith(".annotated.webm"))
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 20)
    ok, frame = cap.read()
    cap.release()
    assert ok
    face, legs = hf_energy(frame, *FACE_BOX), hf_energy(frame, 400, 380, 440, 440)
    assert face < 0.05 * legs, f"face energy {face:.0f} vs legs {legs:.0f}"
    key = cv2.imread(str(tmp_path / "out" / "clip.keyframe.png"))
    assert hf_energy(key, *FACE_BOX) < 0.05 * hf_energy(key, 400, 380, 440, 440)


def test_hook_borrows_a_near_frame_and_obscures_all_when_none_is_near():
    class M:  # the two attributes the hook reads
        landmarks_xy = np.stack([person_xy()] + [np.full((33, 2), np.nan, np.float32)] * 30)

    hook = face_blur_hook(M(), max_gap_frames=5)  # type: ignore[arg-type]
    image = textured(2)
    near, far = hook(image, 3), hook(image, 20)
    assert hf_energy(near, *FACE_BOX) < 0.02 * hf_energy(image, *FACE_BOX)
    assert hf_energy(near, *LEG_BOX) == pytest.approx(hf_energy(image, *LEG_BOX))
    assert hf_energy(far, *LEG_BOX) < 0.02 * hf_energy(image, *LEG_BOX)


@pytest.mark.mediapipe
def test_real_photo_face_is_blurred(real_footage):
    from hiprom.backends.mediapipe import MediaPipeBackend

    path = real_footage / "01_seated_floor_knees_bent.jpg"
    if not path.exists():
        pytest.skip(f"{path.name} is absent")
    image = cv2.imread(str(path))
    with MediaPipeBackend(mode="image") as backend:
        lm = backend(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), timestamp_s=0.0)
    assert lm.n_persons >= 1
    xy = lm.xy[0]
    out = blur_faces(image, xy)
    nx, ny = (int(v) for v in xy[L.NOSE])
    face = (nx - 20, ny - 20, nx + 20, ny + 20)
    kx, ky = (int(v) for v in xy[L.LEFT_KNEE])
    knee = (kx - 30, ky - 30, kx + 30, ky + 30)
    assert hf_energy(out, *face) < 0.1 * hf_energy(image, *face)
    assert hf_energy(out, *knee) == pytest.approx(hf_energy(image, *knee))


# --------------------------------------------------------------------- detector boxes, union


def test_box_ellipse_covers_the_box_with_room_for_hair_ears_and_chin():
    box = FaceBox(200, 100, 240, 150, 0.9)  # 40 wide, 50 tall
    mask = box_ellipse(box).mask((W, H))
    assert mask[100:150, 200:240].all(), "every pixel of the box is covered"
    # padding: a third of the height above (hair), a third below (chin), a quarter of the
    # width each side (ears)
    assert mask[100 - 30, 220] and mask[150 + 18, 220]
    assert mask[125, 200 - 12] and mask[125, 240 + 12]
    # and it stays a face-sized patch: far beyond it nothing is covered
    assert not mask[100 - 40, 220] and not mask[150 + 30, 220] and not mask[125, 240 + 40]


def test_a_tiny_box_still_gets_a_minimum_ellipse():
    e = box_ellipse(FaceBox(10, 10, 12, 12, 0.6))
    assert min(e.half_axes_px) >= 8.0


def test_face_ellipses_is_the_union_of_every_person_and_every_box():
    people = np.stack([person_xy(cx=160), person_xy(cx=480)])
    boxes = [FaceBox(300, 300, 330, 340, 0.7)]
    ellipses = face_ellipses(people, boxes)
    assert len(ellipses) == 3
    centres = sorted(round(e.center_xy[0]) for e in ellipses)
    assert centres[0] < 200 and centres[2] > 440 and 300 < centres[1] < 330
    assert face_ellipses(None, boxes) == [box_ellipse(boxes[0])]
    assert face_ellipses(people) == [face_ellipse(people[0]), face_ellipse(people[1])]


def test_tiles_cover_every_pixel_with_overlap():
    for size in ((640, 480), (720, 1280), (1280, 720), (961, 641)):
        cover = np.zeros(size[::-1], np.int32)
        for x0, y0, x1, y1 in tiles(size):
            assert x1 - x0 == y1 - y0 == 360
            cover[y0:y1, x0:x1] += 1
        assert cover.min() >= 1, size
        assert (cover >= 2).any(), size
    assert tiles((320, 240)) == []


class FakeDetector:
    """Returns the boxes scripted per call (then none)."""

    def __init__(self, per_call):
        self.per_call = list(per_call)
        self.calls = 0
        self.parts = []

    def __call__(self, image, part=None):
        self.parts.append(part)
        boxes = self.per_call[self.calls] if self.calls < len(self.per_call) else []
        self.calls += 1
        return boxes


class Subject:
    """What the blurrer reads of a measurement: the subject's and the others' landmarks."""

    def __init__(self, n, others=None, valid=True):
        self.landmarks_xy = np.stack([person_xy()] * n)
        self.others_xy = others
        self.valid = valid          # passed the seated-test check


STRANGER = FaceBox(560, 380, 600, 430, 0.8)         # a face the pose model did not find
STRANGER_PATCH = (572, 395, 590, 415)


def blurred(out, image, box):
    return hf_energy(out, *box) < 0.05 * hf_energy(image, *box)


def test_a_face_only_the_detector_found_is_blurred_and_held_for_a_few_frames():
    image = textured(3)
    blur = FaceBlurrer(Subject(40), FakeDetector([[STRANGER]]))  # seen in the first frame only
    outs = [blur(image, i) for i in range(HOLD_FRAMES + 2)]
    for i in range(HOLD_FRAMES + 1):  # the frame it was found in and the next HOLD_FRAMES
        assert blurred(outs[i], image, STRANGER_PATCH), i
        assert blurred(outs[i], image, FACE_BOX), i  # the subject's face too
    assert not blurred(outs[HOLD_FRAMES + 1], image, STRANGER_PATCH)
    x0, y0, x1, y1 = LEG_BOX
    np.testing.assert_array_equal(outs[0][y0:y1, x0:x1], image[y0:y1, x0:x1])
    assert blur.frames == HOLD_FRAMES + 2 and blur.detections == 1
    # the first frame gets every tile, later ones take the tiles in turn
    assert blur._detector.parts[:4] == [None, (1, 2), (0, 2), (1, 2)]


def test_other_people_found_by_the_pose_model_are_blurred_between_its_searches():
    image = textured(4)
    other = person_xy(cx=520)[None]
    nobody = np.empty((0, 33, 2), np.float32)
    # looked for others in frame 0 (found one) and frame 30 (found nobody); not in between
    others = [other] + [None] * 29 + [nobody] + [None] * 9
    blur = FaceBlurrer(Subject(40, others), None, max_gap_frames=15)
    other_face = (505, 70, 535, 100)
    assert blurred(blur(image, 0), image, other_face)
    assert blurred(blur(image, 14), image, other_face)  # borrowed from frame 0
    assert not blurred(blur(image, 16), image, other_face)  # frame 30 is nearer: nobody
    assert blurred(blur(image, 16), image, FACE_BOX)


def test_without_a_detector_the_hook_is_the_landmark_one():
    image = textured(5)
    m = Subject(3)
    np.testing.assert_array_equal(FaceBlurrer(m)(image, 1), face_blur_hook(m)(image, 1))
    np.testing.assert_array_equal(FaceBlurrer(m)(image, 1), blur_faces(image, person_xy()))


# --------------------------------------------------------------------- the opt-out, everywhere


def test_every_command_that_writes_images_offers_show_faces():
    from typer.testing import CliRunner

    from hiprom.cli.main import app

    for command in ("measure", "batch", "live", "app"):
        run = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
        assert run.exit_code == 0
        assert "--show-faces" in run.output, command
    assert "--blur-faces" not in CliRunner().invoke(app, ["batch", "--help"]).output


def test_batch_blur_faces_is_a_retired_no_op_and_cannot_go_with_show_faces(tmp_path):
    from typer.testing import CliRunner

    from hiprom.cli.main import app

    run = CliRunner().invoke(app, ["batch", str(tmp_path / "none"), "-o", str(tmp_path / "o"),
                                   "--blur-faces", "--show-faces"])
    assert run.exit_code == 1
    assert "contradict" in run.output
    run = CliRunner().invoke(app, ["batch", str(tmp_path / "none"), "-o", str(tmp_path / "o"),
                                   "--blur-faces", "-q"])
    assert "--blur-faces is the default now" in run.output


def test_batch_blurs_by_default_and_show_faces_turns_it_off(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import hiprom.cli.batch as cli_batch
    from hiprom.batch.run import BatchReport
    from hiprom.cli.main import app

    seen = []
    monkeypatch.setattr(cli_batch, "run_batch",
                        lambda config, **kw: seen.append(config.blur_faces) or BatchReport())
    for extra in ([], ["--show-faces"]):
        CliRunner().invoke(app, ["batch", str(tmp_path), "-o", str(tmp_path / "o"), "-q",
                                 *extra])
    assert seen == [True, False]


def test_the_app_page_cannot_turn_blurring_off():
    from hiprom.app.ws import start_settings

    assert start_settings({"keep_video": True, "show_faces": True}).show_faces is False
    assert start_settings({"keep_video": True}, show_faces=True).show_faces is True


def test_write_outputs_on_its_own_keeps_blur_faces_false(tmp_path):
    # write_outputs without a caller's file set called itself again and dropped blur_faces,
    # so hiprom.write_outputs(m, out, blur_faces=False) blurred anyway and said so.
    import json

    from builders import NEAR_BODY
    from hiprom.media.outputs import write_outputs
    from hiprom.pipeline.measure import measure_path

    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), np.full((120, 160, 3), 90, np.uint8))
    m = measure_path(photo, backend_factory=lambda mode: FakeBackend(
        [landmarks(seated_xy(30.0, 20.0, NEAR_BODY))]))
    for blur in (False, True):
        out = tmp_path / f"out-{blur}"
        write_outputs(m, out, blur_faces=blur)
        assert json.loads((out / "p.json").read_text())["faces_blurred"] is blur


# ---------------------------------------------------------------- weak detector boxes
LAP = FaceBox(280, 300, 360, 380, 0.31)          # a weak "face" on the thighs
WALL = FaceBox(430, 40, 630, 240, 0.35)          # weak, four faces wide, its blur reaching
FAR_WALL = FaceBox(760, 40, 960, 240, 0.35)      # the body; as wide, well beside it
BYSTANDER = FaceBox(560, 380, 600, 430, 0.32)    # a weak, face-sized box off the body


def test_weak_boxes_on_the_body_or_far_too_wide_are_not_faces():
    subject = person_xy()
    over = FaceBox(180, 100, 460, 380, 0.45)     # a weak box over the whole person
    assert (plausible_boxes([LAP, WALL, FAR_WALL, BYSTANDER, over], subject)
            == [FAR_WALL, BYSTANDER])
    # a sure face is kept wherever it is, and with nobody found every box is kept
    sure = [replace(LAP, score=0.6), replace(WALL, score=0.5)]
    assert plausible_boxes(sure, subject) == sure
    assert plausible_boxes([LAP, WALL], None) == [LAP, WALL]
    assert plausible_boxes([LAP, WALL], np.full((33, 2), np.nan)) == [LAP, WALL]
    # another person's body counts too: the lap box is on the second person here
    other = person_xy(cx=520)
    lap2 = replace(LAP, x0=480, x1=560)
    assert plausible_boxes([lap2], subject) == [lap2]
    assert plausible_boxes([lap2], np.stack([subject, other])) == []


def test_a_weak_box_on_the_lap_leaves_the_legs_sharp_in_the_seated_test_only():
    image = textured(5)
    out = FaceBlurrer(Subject(3), FakeDetector([[LAP, BYSTANDER]]))(image, 0)
    x0, y0, x1, y1 = LEG_BOX
    np.testing.assert_array_equal(out[y0:y1, x0:x1], image[y0:y1, x0:x1])
    assert blurred(out, image, FACE_BOX)
    assert blurred(out, image, (572, 395, 590, 415))   # the bystander-sized box still is
    # a picture that is not the seated test: every box the detector found is blurred
    refused = FaceBlurrer(Subject(3, valid=False), FakeDetector([[LAP]]))(image, 0)
    assert blurred(refused, image, (300, 320, 340, 360))


@pytest.mark.mediapipe
def test_the_bundled_clip_s_legs_are_not_blurred_by_the_face_detector():
    """Real pixels: at 0.3 the detector fires on this clip's torso and beside its legs."""
    from pathlib import Path

    from hiprom.backends.faces import open_detector
    from hiprom.backends.mediapipe import MediaPipeBackend, RunningMode

    clip = Path(__file__).resolve().parents[1] / "samples" / "seated_ir_left_right.mp4"
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    for t in (0.0, 2.0):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(t * fps))
        ok, frame = cap.read()
        assert ok
        frames.append(frame)
    with open_detector() as detector, MediaPipeBackend(mode=RunningMode.IMAGE,
                                                       num_poses=1) as pose:
        for frame in frames:
            xy = pose(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), timestamp_s=0.0).xy[0]
            boxes = detector(frame)
            kept = plausible_boxes(boxes, xy)
            assert len(kept) < len(boxes)          # there was something to drop
            mask = np.zeros(frame.shape[:2], np.uint8)
            for e in face_ellipses(xy, kept):
                e.draw(mask)
            legs = xy[[L.LEFT_KNEE, L.RIGHT_KNEE, L.LEFT_ANKLE, L.RIGHT_ANKLE]]
            assert not any(mask[int(y), int(x)] for x, y in legs)
            nose = xy[L.NOSE]
            assert mask[int(nose[1]), int(nose[0])]
