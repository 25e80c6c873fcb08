"""Shared test helpers: small synthetic media files written into ``tmp_path``.

Everything here is made with OpenCV plus a little byte patching of the MP4/JPEG
containers, so no ffmpeg binary is needed:

* ``synth_media.video(...)``: an MP4 (mp4v) or WebM clip whose frame ``i`` shows grey
  level ``synth_media.level(i)`` in a centre block, a red band along the top edge and a
  white band along the left edge (orientation markers).
* ``synth_media.rotated_video(...)``: the same clip with a display-rotation matrix in the
  track header, as phones write it.
* ``synth_media.vfr_video(...)``: the same clip with given per-frame durations (variable
  frame rate), written into the MP4 sample table.
* ``synth_media.retag_codec(...)``: relabels the codec so the file opens but cannot decode.
* ``synth_media.jpeg(...)``: a JPEG with an EXIF Orientation tag.

The footage fixture ``real_footage`` points at ``/work/shared/footage`` and skips when absent.

``require_tool`` finds a system program a test drives (Chromium, Xvfb, ImageMagick's
``import``, ffmpeg, strace, Blender for synth/): on a developer's machine a missing one skips
the test, under ``CI=true`` it fails it, since ``.ci/run`` installs them all.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

FOOTAGE_DIR = Path(__file__).resolve().parents[2] / "shared" / "footage"
_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl")


def _find_box(data: bytes, path: tuple[bytes, ...]) -> list[int]:
    """Offsets of each box along ``path`` (outermost first) in an ISO-BMFF file."""
    offsets: list[int] = []
    start, end = 0, len(data)
    for name in path:
        off = start
        while off < end:
            size, typ = struct.unpack(">I4s", data[off : off + 8])
            if typ == name:
                break
            off += size
        else:
            raise AssertionError(f"box {name!r} not found")
        offsets.append(off)
        start, end = off + 8, off + size
    return offsets


def _replace_box(data: bytes, path: tuple[bytes, ...], new_box: bytes) -> bytes:
    """Replace the last box of ``path``, fixing the sizes of its ancestors (moov must be last)."""
    offsets = _find_box(data, path)
    old_size = struct.unpack(">I", data[offsets[-1] : offsets[-1] + 4])[0]
    delta = len(new_box) - old_size
    out = bytearray(data[: offsets[-1]] + new_box + data[offsets[-1] + old_size :])
    for off in offsets[:-1]:
        size = struct.unpack(">I", out[off : off + 4])[0]
        out[off : off + 4] = struct.pack(">I", size + delta)
    return bytes(out)


def _put_u32(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack(">I", value) + data[offset + 4 :]


class SynthMedia:
    """Factory of small synthetic media files in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @staticmethod
    def level(index: int) -> int:
        """Grey level of the centre block in frame ``index``."""
        return 30 + (index * 23) % 200

    def frame(self, index: int, resolution_wh: tuple[int, int]) -> npt.NDArray[np.uint8]:
        """The raw (unrotated) frame ``index``: markers plus a grey centre block."""
        w, h = resolution_wh
        image = np.full((h, w, 3), 90, np.uint8)
        image[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = self.level(index)
        image[: h // 8, :] = (0, 0, 255)  # red band on top
        image[:, : w // 8] = (255, 255, 255)  # white band on the left
        return image

    def video(self, name: str = "clip.mp4", *, n_frames: int = 10, fps: float = 10.0,
              resolution_wh: tuple[int, int] = (96, 64), fourcc: str = "mp4v") -> Path:
        """Write a clip with OpenCV and return its path."""
        path = self.folder / name
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, resolution_wh)
        assert writer.isOpened(), f"OpenCV cannot write {fourcc} to {path.suffix}"
        for i in range(n_frames):
            writer.write(self.frame(i, resolution_wh))
        writer.release()
        return path

    def rotated_video(self, degrees_cw: int, name: str = "rotated.mp4", **kwargs: object) -> Path:
        """A clip whose track header asks players to rotate it ``degrees_cw`` clockwise."""
        path = self.video(name, **kwargs)  # type: ignore[arg-type]
        data = path.read_bytes()
        tkhd = _find_box(data, (b"moov", b"trak", b"tkhd"))[-1]
        assert data[tkhd + 8] == 0, "expected a version-0 tkhd"
        w, h = kwargs.get("resolution_wh", (96, 64))  # type: ignore[misc]
        one = 0x10000
        a, b, c, d, tx, ty = {
            0: (one, 0, 0, one, 0, 0),
            90: (0, one, -one, 0, h, 0),
            180: (-one, 0, 0, -one, w, h),
            270: (0, -one, one, 0, 0, w),
        }[degrees_cw]
        matrix = struct.pack(">9i", a, b, 0, c, d, 0, tx * one, ty * one, 0x40000000)
        start = tkhd + 8 + 40  # header, version/flags, times, ids, reserved, layer... volume
        path.write_bytes(data[:start] + matrix + data[start + 36 :])
        return path

    def vfr_video(self, durations_s: list[float], name: str = "vfr.mp4", **kwargs: object) -> Path:
        """A clip whose frame ``i`` lasts ``durations_s[i]`` seconds (variable frame rate)."""
        path = self.video(name, n_frames=len(durations_s), **kwargs)  # type: ignore[arg-type]
        data = path.read_bytes()
        mdhd = _find_box(data, (b"moov", b"trak", b"mdia", b"mdhd"))[-1]
        timescale = struct.unpack(">I", data[mdhd + 20 : mdhd + 24])[0]
        ticks = [round(d * timescale) for d in durations_s]
        body = struct.pack(">II", 0, len(ticks)) + b"".join(struct.pack(">II", 1, t) for t in ticks)
        stts = struct.pack(">I4s", 8 + len(body), b"stts") + body
        data = _replace_box(data, (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stts"), stts)
        data = _put_u32(data, mdhd + 24, sum(ticks))
        # The movie-level durations (mvhd, tkhd, edit list) cap playback: update them too.
        mvhd = _find_box(data, (b"moov", b"mvhd"))[-1]
        movie_scale = struct.unpack(">I", data[mvhd + 20 : mvhd + 24])[0]
        movie_ticks = round(sum(durations_s) * movie_scale)
        data = _put_u32(data, mvhd + 24, movie_ticks)
        data = _put_u32(data, _find_box(data, (b"moov", b"trak", b"tkhd"))[-1] + 28, movie_ticks)
        elst = _find_box(data, (b"moov", b"trak", b"edts", b"elst"))[-1]
        data = _put_u32(data, elst + 16, movie_ticks)
        path.write_bytes(data)
        return path

    def retag_codec(self, path: Path, fourcc: bytes = b"hvc1") -> Path:
        """Relabel an mp4v clip as codec ``fourcc``: it opens, but no frame decodes.

        The ``esds`` box (which would let FFmpeg recognise MPEG-4 anyway) is renamed.
        """
        data = path.read_bytes().replace(b"esds", b"xxxx")
        stsd = _find_box(data, (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"))[-1]
        entry_type = stsd + 8 + 8 + 4
        path.write_bytes(data[:entry_type] + fourcc + data[entry_type + 4 :])
        return path

    def jpeg(self, name: str, image_bgr: npt.NDArray[np.uint8], *, orientation: int) -> Path:
        """Write ``image_bgr`` as JPEG with an EXIF Orientation tag (1..8)."""
        ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        jpg = buf.tobytes()
        ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
        tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd + struct.pack(">I", 0)
        payload = b"Exif\x00\x00" + tiff
        app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
        path = self.folder / name
        path.write_bytes(jpg[:2] + app1 + jpg[2:])
        return path


@pytest.fixture
def synth_media(tmp_path: Path) -> SynthMedia:
    """Factory of small synthetic videos and images in ``tmp_path``."""
    return SynthMedia(tmp_path)


#: The Debian package of each program a test drives (what .ci/run installs).
TOOL_PACKAGES = {"chromium": "chromium", "chromium-browser": "chromium", "Xvfb": "xvfb",
                 "import": "imagemagick", "ffmpeg": "ffmpeg", "strace": "strace",
                 "blender": "blender"}


def require_tool(*names: str) -> str:
    """Path of the first of ``names`` found on PATH; skip, or fail under ``CI=true``, if none."""
    for name in names:
        found = shutil.which(name)
        if found is not None:
            return found
    packages = sorted({TOOL_PACKAGES.get(name, name) for name in names})
    message = f"{' or '.join(names)} is not installed (apt-get install {' '.join(packages)})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must have it: .ci/run installs it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(name="require_tool")
def require_tool_fixture() -> Callable[..., str]:
    """:func:`require_tool`, for tests (they cannot import conftest)."""
    return require_tool


@pytest.fixture
def real_footage() -> Path:
    """The shared real-footage folder; skips the test when it is absent."""
    if not FOOTAGE_DIR.is_dir():
        pytest.skip(f"real footage folder {FOOTAGE_DIR} is absent")
    return FOOTAGE_DIR


@pytest.fixture
def fake_measure(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """``hiprom measure`` with a fake pose model that finds one seated person in every frame
    (real decoding and output files, no MediaPipe); the list of the paths measured, in
    order."""
    import hiprom.pipeline.measure
    from builders import NEAR_BODY, landmarks, seated_xy
    from hiprom.backends import FakeBackend

    real = hiprom.pipeline.measure.measure_path
    measured: list[Path] = []

    def measure_path(path, *, options=None, progress=None):
        measured.append(Path(path))
        return real(path, options=options, backend_factory=lambda mode: FakeBackend(
            [landmarks(seated_xy(30.0, 20.0, NEAR_BODY))]))

    monkeypatch.setattr(hiprom.pipeline.measure, "measure_path", measure_path)
    return measured


@pytest.fixture(autouse=True)
def _isolated_history(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep every test's history database out of the real home folder."""
    monkeypatch.setenv("HIPROM_HOME", str(tmp_path_factory.mktemp("hiprom-home")))
