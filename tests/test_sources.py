from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from hiprom.errors import CameraDisconnected, SourceError
from hiprom.media.frames import Frame
from hiprom.media.sources import (
    is_image,
    iter_images,
    iter_video,
    iter_webcam,
    open_source,
    probe_video,
)


def centre_level(image_bgr: npt.NDArray[np.uint8]) -> int:
    h, w = image_bgr.shape[:2]
    return int(np.median(image_bgr[h // 2 - 2 : h // 2 + 2, w // 2 - 2 : w // 2 + 2]))


def red_band_side(image_bgr: npt.NDArray[np.uint8]) -> str:
    """Which edge carries the red marker band ('top', 'right', 'bottom', 'left')."""
    h, w = image_bgr.shape[:2]
    red = (image_bgr[..., 2].astype(int) - image_bgr[..., 1].astype(int)) > 100
    strips = {"top": red[: h // 10].mean(), "bottom": red[-h // 10 :].mean(),
              "left": red[:, : w // 10].mean(), "right": red[:, -w // 10 :].mean()}
    return max(strips, key=strips.__getitem__)


# --- video: content, order, timestamps -------------------------------------------------


def test_iter_video_yields_every_frame_in_order_with_timestamps(synth_media) -> None:
    path = synth_media.video(n_frames=12, fps=10.0)
    frames = list(iter_video(path))
    assert [f.index for f in frames] == list(range(12))
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 10 for i in range(12)], abs=1e-6)
    levels = [centre_level(f.image_bgr) for f in frames]
    assert levels == pytest.approx([synth_media.level(i) for i in range(12)], abs=6)
    assert frames[0].resolution_wh == (96, 64)


def test_iter_video_stride_and_time_window(synth_media) -> None:
    path = synth_media.video(n_frames=20, fps=10.0)
    frames = list(iter_video(path, stride=3, start_s=0.5, end_s=1.5))
    assert [f.index for f in frames] == [5, 8, 11, 14]
    assert [centre_level(f.image_bgr) for f in frames] == pytest.approx(
        [synth_media.level(i) for i in (5, 8, 11, 14)], abs=6)


@pytest.mark.parametrize(("fps", "max_fps", "stride", "expected"), [
    (30.0, 10.0, 1, 3),   # 30 fps footage measured at 10 fps
    (25.0, 10.0, 1, 2),   # 12.5 fps: the nearest whole step
    (60.0, 10.0, 1, 6),
    (10.0, 10.0, 1, 1),
    (5.0, 10.0, 1, 1),    # never below every frame
    (30.0, 10.0, 5, 5),   # an explicit larger stride wins
])
def test_iter_video_max_fps_sets_the_stride_from_the_clip_rate(
        synth_media, fps, max_fps, stride, expected) -> None:
    path = synth_media.video(n_frames=13, fps=fps)
    frames = iter_video(path, stride=stride, max_fps=max_fps)
    indices = [f.index for f in frames]
    assert frames.stride == expected
    assert indices == list(range(0, 13, expected))


@pytest.mark.parametrize("kwargs", [{"stride": 0}, {"start_s": 2.0, "end_s": 1.0},
                                    {"max_fps": 0.0}, {"max_fps": -5.0}])
def test_iter_video_rejects_bad_options(synth_media, kwargs) -> None:
    with pytest.raises(ValueError):
        iter_video(synth_media.video(), **kwargs)


@pytest.mark.reliability(case="variable frame rate (VFR) clip",
                         outcome="frames carry the container's presentation times")
def test_variable_frame_rate_gives_container_times(synth_media) -> None:
    durations = [0.1, 0.1, 0.5, 0.05, 0.05, 0.2, 0.1]
    path = synth_media.vfr_video(durations)
    times = [f.timestamp_s for f in iter_video(path)]
    expected = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    assert times == pytest.approx(expected.tolist(), abs=1e-3)


# --- rotation metadata -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("degrees_cw", "size_wh", "red_side"),
    [(0, (96, 64), "top"), (90, (64, 96), "right"), (180, (96, 64), "bottom"),
     (270, (64, 96), "left")],
)
@pytest.mark.reliability(case="rotation tags 90°, 180°, 270° (phone videos)",
                         outcome="frames come out upright with the rotated size")
def test_rotation_metadata_gives_upright_frames(synth_media, degrees_cw, size_wh, red_side) -> None:
    path = synth_media.rotated_video(degrees_cw)
    frame = next(iter(iter_video(path)))
    assert frame.resolution_wh == size_wh
    assert red_band_side(frame.image_bgr) == red_side
    info = probe_video(path)
    assert info.resolution_wh == size_wh
    assert info.rotation_deg in {0, 90, 180, 270}
    assert (info.rotation_deg != 0) == (degrees_cw != 0)


def test_rotation_matches_ffmpeg_autorotate(synth_media, tmp_path: Path, require_tool) -> None:
    ffmpeg = require_tool("ffmpeg")
    path = synth_media.rotated_video(90)
    png = tmp_path / "ffmpeg.png"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(path), "-frames:v", "1", str(png)],
                   check=True)
    reference = cv2.imread(str(png))
    ours = next(iter(iter_video(path))).image_bgr
    assert ours.shape == reference.shape
    assert np.abs(ours.astype(int) - reference).mean() < 3


# --- probe ------------------------------------------------------------------------------


def test_probe_video_reports_header(synth_media) -> None:
    info = probe_video(synth_media.video(n_frames=15, fps=15.0))
    assert info.frame_count == 15
    assert info.fps == pytest.approx(15.0)
    assert info.duration_s == pytest.approx(1.0)
    assert info.resolution_wh == (96, 64)
    assert info.rotation_deg == 0
    assert info.fourcc in {"mp4v", "FMP4"}  # OpenCV reports FFmpeg's tag for MPEG-4 Part 2


# --- errors: one failing path each -------------------------------------------------------


@pytest.mark.reliability(case="input path that does not exist",
                         outcome="one-line SourceError: does not exist")
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        iter_video(tmp_path / "nope.mp4")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is a folder"):
        probe_video(tmp_path)


@pytest.mark.reliability(case="0-byte video file",
                         outcome="one-line SourceError: empty (0 bytes)")
def test_zero_byte_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(SourceError, match="empty"):
        iter_video(empty)


@pytest.mark.reliability(case="text file named .mp4",
                         outcome="one-line SourceError: could not open as a video")
def test_text_file_renamed_mp4(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("these are not the frames you are looking for\n" * 20)
    with pytest.raises(SourceError, match="Could not open .* as a video"):
        iter_video(fake)


@pytest.mark.reliability(case="MP4 cut short before its index (moov at the end)",
                         outcome="one-line SourceError: cut short")
def test_truncated_without_index_cannot_open(synth_media) -> None:
    path = synth_media.video(n_frames=20)  # OpenCV writes the index (moov) at the end
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="cut short"):
        iter_video(path)


def _move_index_to_front(path: Path) -> None:
    """Rewrite an MP4 as ftyp + moov + mdat (like `-movflags +faststart`) by hand."""
    import struct

    data = path.read_bytes()
    boxes: dict[bytes, bytes] = {}
    off = 0
    while off < len(data):
        size, typ = struct.unpack(">I4s", data[off : off + 8])
        boxes[typ] = data[off : off + size]
        off += size
    moov = bytearray(boxes[b"moov"])
    shift = len(moov) - len(boxes.get(b"free", b""))
    pos = moov.find(b"stco")
    count = struct.unpack(">I", moov[pos + 8 : pos + 12])[0]
    for k in range(count):
        at = pos + 12 + 4 * k
        moov[at : at + 4] = struct.pack(">I", struct.unpack(">I", moov[at : at + 4])[0] + shift)
    path.write_bytes(boxes[b"ftyp"] + bytes(moov) + boxes[b"mdat"])


@pytest.mark.reliability(case="MP4 cut short with its index at the front",
                         outcome="the decodable part is measured and flagged `truncated`")
def test_truncated_video_yields_decodable_part_and_flags_it(synth_media) -> None:
    path = synth_media.video(n_frames=40, resolution_wh=(160, 128))
    _move_index_to_front(path)
    assert len(list(iter_video(path))) == 40  # the rewrite itself is lossless
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    frames = iter_video(path)
    got = list(frames)
    assert 5 <= len(got) < 35
    assert frames.truncated is True
    assert [f.index for f in got] == list(range(len(got)))


def test_video_frames_context_manager_releases_early(synth_media) -> None:
    with iter_video(synth_media.video(n_frames=10)) as frames:
        first = next(frames)
    assert first.index == 0
    with pytest.raises(StopIteration):
        next(frames)


def test_complete_video_is_not_flagged_truncated(synth_media) -> None:
    frames = iter_video(synth_media.video())
    list(frames)
    assert frames.truncated is False


@pytest.mark.reliability(case="a codec that cannot be decoded (HEVC tag on other data)",
                         outcome="one-line SourceError naming the codec")
def test_unknown_codec(synth_media) -> None:
    path = synth_media.retag_codec(synth_media.video())
    with pytest.raises(SourceError, match="Could not decode any frame .*codec 'hevc'"):
        list(iter_video(path))


# --- stills ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "red_side"),
    [(1, "top"), (6, "right"), (3, "bottom"), (8, "left")],  # 6 = rotate 90° clockwise
)
@pytest.mark.reliability(case="EXIF orientation 1, 3, 6, 8 on JPEG photos",
                         outcome="photos come out upright")
def test_iter_images_applies_exif_orientation(synth_media, orientation, red_side) -> None:
    raw = synth_media.frame(0, (96, 64))
    path = synth_media.jpeg(f"o{orientation}.jpg", raw, orientation=orientation)
    (frame,) = list(iter_images([path]))
    assert red_band_side(frame.image_bgr) == red_side


def test_iter_images_order_and_times(synth_media, tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), synth_media.frame(i, (48, 32)))
    frames = list(iter_images(paths))
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.timestamp_s for f in frames] == [0.0, 1.0, 2.0]
    assert [centre_level(f.image_bgr) for f in frames] == [synth_media.level(i) for i in range(3)]


@pytest.mark.reliability(case="text file named .jpg",
                         outcome="one-line SourceError: could not read as an image")
def test_iter_images_rejects_non_image(tmp_path: Path) -> None:
    bogus = tmp_path / "photo.jpg"
    bogus.write_text("not a jpeg")
    with pytest.raises(SourceError, match="Could not read .* as an image"):
        list(iter_images([bogus]))


@pytest.mark.reliability(case="PNG photo named .mp4",
                         outcome="recognised by its bytes and read as a photo")
def test_is_image_sniffs_content(synth_media, tmp_path: Path) -> None:
    png_named_mp4 = tmp_path / "still.mp4"
    cv2.imwrite(str(tmp_path / "x.png"), synth_media.frame(0, (8, 8)))
    (tmp_path / "x.png").rename(png_named_mp4)
    assert is_image(png_named_mp4)
    assert not is_image(synth_media.video())
    assert is_image(tmp_path / "missing.JPG")


def test_open_source_dispatches(synth_media, tmp_path: Path) -> None:
    still = tmp_path / "a.png"
    cv2.imwrite(str(still), synth_media.frame(0, (16, 16)))
    assert len(list(open_source(still))) == 1
    assert len(list(open_source(synth_media.video(n_frames=4)))) == 4
    assert len(list(open_source(tmp_path))) == 1  # the folder holds one image


# --- real footage ------------------------------------------------------------------------


def test_real_rotated_still_and_video(real_footage: Path) -> None:
    (upright,) = list(iter_images([real_footage / "01_seated_floor_knees_bent.jpg"]))
    assert upright.resolution_wh == (960, 640)
    frames = iter_video(real_footage / "04_seated_floor_knees_bent_handheld_2p5s.mp4")
    got = list(frames)
    assert len(got) == 75 and frames.truncated is False
    assert got[-1].timestamp_s == pytest.approx(74 / 30, abs=1e-3)
    info = probe_video(real_footage / "05_lab_single_person_portrait.mp4")
    assert info.resolution_wh == (720, 1280) and info.fps == pytest.approx(60)


# --- webcam ------------------------------------------------------------------------------


@pytest.mark.reliability(case="camera index that does not exist",
                         outcome="one-line SourceError suggesting another --camera")
def test_missing_camera_fails_cleanly() -> None:
    with pytest.raises(SourceError,
                       match=r"Could not open camera 7\. Try another index \(--camera 0\)"):
        next(iter_webcam(7))


def test_a_missing_camera_leaves_no_opencv_log_on_stderr() -> None:
    # OpenCV logged each backend it tried ("[ WARN:0@0.44] global cap_v4l.cpp:915 ...",
    # "[ERROR:0@0.44] ... obsensor ...") above hiprom's one line.
    import os
    import subprocess
    import sys

    code = ("from hiprom.media.sources import iter_webcam\n"
            "try:\n    next(iter_webcam(7))\nexcept Exception as e:\n    print(e)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env={k: v for k, v in os.environ.items()
                                          if k not in ("OPENCV_LOG_LEVEL", "HIPROM_NATIVE_LOGS")})
    assert "Could not open camera 7" in run.stdout, run.stdout + run.stderr
    assert "WARN" not in run.stderr and "ERROR" not in run.stderr, run.stderr


class FakeCapture:
    """Delivers ``good`` frames, then fails every read; records release()."""

    def __init__(self, good: int, size_wh: tuple[int, int] = (320, 240)) -> None:
        self.good, self.size_wh, self.released, self.reads = good, size_wh, False, 0

    def isOpened(self) -> bool:  # noqa: N802
        return True

    def read(self) -> tuple[bool, npt.NDArray[np.uint8] | None]:
        self.reads += 1
        if self.reads > self.good:
            return False, None
        return True, np.zeros((self.size_wh[1], self.size_wh[0], 3), np.uint8)

    def set(self, prop_id: int, value: float) -> bool:
        return True

    def get(self, prop_id: int) -> float:
        return {cv2.CAP_PROP_FRAME_WIDTH: self.size_wh[0], cv2.CAP_PROP_FRAME_HEIGHT:
                self.size_wh[1], cv2.CAP_PROP_FPS: 0.0}.get(prop_id, 0.0)

    def release(self) -> None:
        self.released = True


def fake_clock(step: float) -> Iterator[float]:
    t = 100.0
    while True:
        yield t
        t += step


@pytest.mark.reliability(case="webcam stops sending frames mid-stream",
                         outcome="CameraDisconnected with the frame count; frames kept; camera "
                                 "released")
def test_webcam_disconnect_keeps_frames_and_releases(caplog) -> None:
    cap = FakeCapture(good=5)
    ticks = fake_clock(0.04)
    got: list[Frame] = []
    with pytest.raises(CameraDisconnected, match="stopped sending frames after 5 frames"):
        for frame in iter_webcam(0, max_failed_reads=3, clock=lambda: next(ticks),
                                 open_capture=lambda _: cap):
            got.append(frame)
    assert [f.index for f in got] == list(range(5))
    assert [f.timestamp_s for f in got] == pytest.approx([0.0, 0.04, 0.08, 0.12, 0.16])
    assert cap.released
    assert "instead of the requested 640x480" in caplog.text
    assert "assuming 30 fps" in caplog.text


def test_webcam_released_when_consumer_stops_early() -> None:
    cap = FakeCapture(good=100)
    stream = iter_webcam(0, open_capture=lambda _: cap)
    next(stream)
    stream.close()
    assert cap.released


# --- one frame, by seeking -----------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 5, 31, 58, 79])
def test_read_frame_gives_the_frame_decoding_from_the_start_gives(synth_media, index) -> None:
    from hiprom.media.sources import read_frame

    path = synth_media.video(n_frames=80, fps=10.0)   # frames beyond 2 s are sought
    expected = list(iter_video(path))[index]
    frame = read_frame(path, index=index, timestamp_s=expected.timestamp_s)
    assert frame is not None
    assert (frame.index, frame.timestamp_s) == (index, pytest.approx(expected.timestamp_s))
    np.testing.assert_array_equal(frame.image_bgr, expected.image_bgr)


def test_read_frame_on_variable_frame_rate_video(synth_media) -> None:
    from hiprom.media.sources import read_frame

    path = synth_media.vfr_video([0.1] * 20 + [0.3] * 20 + [0.05] * 20)
    frames = list(iter_video(path))
    for index in (25, 45, 59):
        frame = read_frame(path, index=index, timestamp_s=frames[index].timestamp_s)
        assert frame is not None and frame.index == index
        assert centre_level(frame.image_bgr) == centre_level(frames[index].image_bgr)


def test_read_frame_of_a_timestamp_the_file_does_not_have_is_none(synth_media) -> None:
    from hiprom.media.sources import read_frame

    path = synth_media.video(n_frames=40, fps=10.0)
    assert read_frame(path, index=30, timestamp_s=3.05) is None


@pytest.mark.reliability(case="a photo far larger than any camera's (20000 x 20000 px in a "
                              "1.2 MB PNG)",
                         outcome="analysed at 8192 px on its longest side, with a warning "
                                 "(was: 6 GB of memory and 40 s; larger ones exhaust RAM)")
def test_oversized_photos_are_scaled_down_to_the_limit(tmp_path, caplog):
    from hiprom.media.sources import MAX_PHOTO_SIDE_PX, iter_images

    wide = tmp_path / "wide.png"
    image = np.zeros((300, 9000, 3), np.uint8)
    image[:, 4500:] = 200          # the right half bright: the content is kept, not cropped
    cv2.imwrite(str(wide), image)
    with caplog.at_level("WARNING"):
        (frame,) = list(iter_images([wide]))
    h, w = frame.image_bgr.shape[:2]
    assert w == MAX_PHOTO_SIDE_PX == 8192 and h == round(300 * 8192 / 9000)
    assert frame.image_bgr[:, : w // 2 - 2].max() == 0
    assert frame.image_bgr[:, w // 2 + 2:].min() == 200
    assert "9000x300 px; analysed at 8192x273" in caplog.text
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), image[:, :4000])
    (frame,) = list(iter_images([small]))
    assert frame.image_bgr.shape == (300, 4000, 3)      # within the limit: untouched
