"""Damaged middles of clips are skipped, not taken for the end; HEIC/HEIF photos are read."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hiprom.errors import SourceError
from hiprom.media.sources import is_image, iter_images, iter_video, read_frame

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "seated_ir_left_right.mp4"


def _need_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("ffmpeg is missing on CI; .ci/run installs it")
        pytest.skip("ffmpeg CLI not installed")


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """The sample re-encoded with a keyframe every 10 frames, then its middle 10% zeroed."""
    _need_ffmpeg()
    folder = tmp_path_factory.mktemp("damaged")
    intact = folder / "intact.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(SAMPLE), "-c:v", "libx264",
                    "-g", "10", "-pix_fmt", "yuv420p", str(intact)], check=True)
    data = bytearray(intact.read_bytes())
    a, b = int(len(data) * 0.45), int(len(data) * 0.55)
    data[a:b] = bytes(b - a)
    broken = folder / "damaged.mp4"
    broken.write_bytes(bytes(data))
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v",
                            "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0",
                            str(broken)], capture_output=True, text=True, check=True)
    return intact, broken, int(probe.stdout.strip())


@pytest.mark.reliability(case="clip whose middle 10% is damaged (keyframe every 10 frames)",
                         outcome="read on past it: the frames after it are measured, "
                         "`decode_gap` flag with its seconds")
def test_a_damaged_middle_is_skipped_not_taken_for_the_end(damaged):
    intact, broken, ffmpeg_frames = damaged
    frames = iter_video(broken)
    got = list(frames)
    # Before: decoding stopped at the damage (159 of 345 frames) and called it truncated.
    assert len(got) == ffmpeg_frames == frames.frames_decoded
    assert ffmpeg_frames < 345 - 20 and got[-1].timestamp_s == pytest.approx(344 / 30, abs=1e-3)
    assert frames.truncated is False
    assert len(frames.gaps) == 1
    start, end = frames.gaps[0]
    assert 4.0 < start < end < 7.5
    assert frames.gap_s == pytest.approx((345 - ffmpeg_frames) / 30, abs=0.1)
    # Indices stay true positions in the file: they jump over the lost frames.
    assert [f.index for f in got] == sorted({f.index for f in got})
    assert got[-1].index == 344
    reference = {f.index: f.image_bgr for f in iter_video(intact)}
    after = [f for f in got if f.timestamp_s > end + 0.5][:5]
    for f in after:
        assert np.abs(f.image_bgr.astype(int) - reference[f.index]).mean() < 1.0


def test_read_frame_after_the_damage_gives_the_decoded_frame(damaged):
    _, broken, _ = damaged
    frames = iter_video(broken)
    got = list(frames)
    (_, end), = frames.gaps
    after = [f for f in got if f.timestamp_s >= end]
    for f in (after[0], after[len(after) // 2], got[-1]):
        found = read_frame(broken, index=f.index, timestamp_s=f.timestamp_s)
        assert found is not None, f"frame {f.index} at {f.timestamp_s:.3f} s not found"
        assert found.index == f.index
        assert np.array_equal(found.image_bgr, f.image_bgr)


def test_the_adaptive_sampler_reads_on_past_the_damage(damaged):
    from hiprom.pipeline.sampling import AdaptiveFrames, interval_step

    _, broken, _ = damaged
    got = list(iter_video(broken))
    video = iter_video(broken)
    sampler = AdaptiveFrames(video, [], step=interval_step(30.0, 3.0))
    indices = [f.index for f in sampler]
    (_, end), = video.gaps
    assert set(indices) <= {f.index for f in got} and indices == sorted(set(indices))
    # Sparse where nothing moves, yet the interval across the gap is analysed densely: the
    # first frame after the damage is measured, and so is the last frame of the clip.
    assert len(indices) < len(got)
    assert next(f.index for f in got if f.timestamp_s >= end) in indices
    assert indices[-1] == got[-1].index


@pytest.mark.slow
@pytest.mark.mediapipe
@pytest.mark.parametrize("every_frame", [True, False], ids=["every-frame", "adaptive"])
def test_the_hold_after_the_damage_is_measured_and_the_gap_flagged(damaged, every_frame):
    from hiprom.media.document import result_document
    from hiprom.pipeline.analysis import MeasureOptions
    from hiprom.pipeline.measure import measure_path
    from hiprom.results.files import validate_result

    _, broken, _ = damaged
    m = measure_path(broken, options=MeasureOptions(every_frame=every_frame))
    result = validate_result(result_document(m))
    # The right leg's IR hold (about 7.3-9.7 s) comes after the damaged section.
    right = result["legs"]["right"]
    assert right["internal_rotation_deg"] == pytest.approx(30.9, abs=1.5)
    assert "decode_gap" in result["quality"] and "truncated" not in result["quality"]
    assert result["source"]["decode_gap_s"] == pytest.approx(1.0, abs=0.2)
    assert len(result["source"]["decode_gaps"]) == 1


# --------------------------------------------------------------------------- HEIC / HEIF


def _heic(path: Path, image_rgb: np.ndarray) -> Path:
    pillow_heif = pytest.importorskip("pillow_heif")
    h, w = image_rgb.shape[:2]
    pillow_heif.from_bytes(mode="RGB", size=(w, h), data=image_rgb.tobytes()).save(
        str(path), quality=95)
    return path


@pytest.mark.reliability(case="HEIC/HEIF phone photo", outcome="read as a photo (pillow-heif)")
@pytest.mark.parametrize("name", ["photo.heic", "photo.HEIF", "photo_named.jpg.bin"])
def test_heic_photos_are_read_as_photos(tmp_path, name):
    rgb = np.full((64, 96, 3), 90, np.uint8)
    rgb[:8] = (255, 0, 0)  # red band on top, in RGB
    path = _heic(tmp_path / name, rgb)
    assert is_image(path)
    (frame,) = list(iter_images([path]))
    assert frame.resolution_wh == (96, 64)
    bgr = frame.image_bgr
    assert bgr[2, 40, 2] > 200 and bgr[2, 40, 0] < 40, "red in BGR order"
    assert abs(int(bgr[40, 40, 1]) - 90) < 6


def test_a_broken_heic_is_one_clear_error(tmp_path):
    path = _heic(tmp_path / "photo.heic", np.zeros((32, 32, 3), np.uint8))
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(SourceError, match="Could not read .* as a HEIC/HEIF photo") as info:
        list(iter_images([path]))
    assert "\n" not in str(info.value)


@pytest.mark.mediapipe
def test_a_real_photo_as_heic_is_measured_as_a_photo(real_footage, tmp_path):
    import cv2

    from hiprom.pipeline.measure import measure_path

    jpeg = real_footage / "01_seated_floor_knees_bent.jpg"
    bgr = cv2.imread(str(jpeg))
    heic = _heic(tmp_path / "photo.heic", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    (frame,) = list(iter_images([heic]))
    # The same pixels (HEVC at quality 95 is within a grey level on average). The model's
    # still angles move by several degrees with such small changes, so they are not compared.
    assert np.abs(frame.image_bgr.astype(int) - bgr).mean() < 1.5
    m = measure_path(heic)
    assert m.source.kind == "still" and m.source.resolution_wh == (960, 640)
    assert any(m.legs[s].internal_rotation_deg is not None for s in ("left", "right"))
