"""Face obscuring: the head ellipse from landmarks, and blurred faces with sharp legs."""

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest

from builders import Body, landmarks, seated_xy, write_clip
from hiprom.backends import FakeBackend
from hiprom.core.landmarks import LandmarkName as L
from hiprom.media.privacy import blur_faces, face_blur_hook, face_ellipse

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
