"""Frame sources: video files, still images and cameras, all yielding :class:`Frame`.

Every source is an iterator of :class:`~hiprom.media.frames.Frame` whose images are upright
(rotation metadata of phone videos and EXIF orientation of photos are applied) and whose
timestamps are real: container presentation times for files, a monotonic clock for cameras.

OpenCV facts this module relies on (checked with opencv-contrib-python 5.1, FFmpeg backend):
    * ``CAP_PROP_ORIENTATION_AUTO`` is on by default, so frames come out already rotated by
      the display matrix; ``CAP_PROP_ORIENTATION_META`` reports the tag and
      ``CAP_PROP_FRAME_WIDTH``/``HEIGHT`` are the rotated size.
    * ``CAP_PROP_POS_MSEC`` after a read is the decoded frame's presentation time, so a
      variable-frame-rate file gets its true times.
    * ``cv2.imread`` applies EXIF orientation unless ``IMREAD_IGNORE_ORIENTATION`` is given.

The camera source (:func:`iter_webcam`, :class:`CameraDisconnected`) lives in
:mod:`hiprom.media.camera` and is re-exported here.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from hiprom._native import native_stderr_silenced, quiet_ffmpeg_log
from hiprom.errors import SourceError, is_utf8_path, printable
from hiprom.media.camera import DEFAULT_CAMERA_FPS, iter_webcam
from hiprom.media.frames import Frame

__all__ = [
    "IMAGE_SUFFIXES",
    "VideoFrames",
    "VideoInfo",
    "is_image",
    "iter_images",
    "iter_video",
    "iter_webcam",
    "open_source",
    "probe_video",
    "read_frame",
]

logger = logging.getLogger(__name__)

#: File name endings treated as still images when the content cannot be sniffed.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp",
                            ".heic", ".heif"})
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*")
#: ISO-BMFF major brands of HEIF still images (phone photos); MP4 clips have other brands.
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1")
#: A file whose decoded frames fall short of the header's count by more than this is truncated.
_TRUNCATION_TOLERANCE = 0.05
#: Longest side a photo is analysed at (8K). The pose model sees 256 px and the face
#: detector 360-px tiles, so more pixels add nothing but memory and time: a 1.2 MB PNG of
#: 20000 x 20000 px took 6 GB and 40 s, a 30000-px one would exhaust a clinic laptop.
MAX_PHOTO_SIDE_PX = 8192
#: Failed reads in a row after which the rest of a file counts as lost. A damaged section
#: costs about one failed read per lost frame (FFmpeg drops the packets it cannot decode);
#: at the real end of a file reads fail at once, so trying on is cheap.
_MAX_FAILED_READS = 10_000
#: After failed reads, the decoder may still hand out this many buffered frames from before
#: the damage; the jump in time that follows them marks the skipped section.
_GAP_WINDOW = 32


@dataclass(frozen=True)
class VideoInfo:
    """What a video file says about itself before decoding.

    Attributes:
        path: the file.
        frame_count: number of frames the container declares (an estimate: may be 0 or
            wrong for streams without an index).
        fps: average frame rate the container declares (0.0 when unknown).
        duration_s: ``frame_count / fps``, 0.0 when either is unknown.
        resolution_wh: ``(width, height)`` of the frames as yielded, i.e. after rotation.
        rotation_deg: rotation tag applied to make frames upright (0, 90, 180 or 270).
        fourcc: the codec's four-character code, e.g. ``"mp4v"``, ``"avc1"``, ``"vp09"``.

    """

    path: Path
    frame_count: int
    fps: float
    duration_s: float
    resolution_wh: tuple[int, int]
    rotation_deg: int
    fourcc: str


def is_image(path: str | Path) -> bool:
    """Whether ``path`` is a still image, judged by its first bytes, else by its suffix.

    Examples:
        >>> is_image("does-not-exist.PNG")
        True

    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(12)
    except OSError:
        return p.suffix.lower() in IMAGE_SUFFIXES
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return True
    if _is_heif_head(head):
        return True
    return False if head else p.suffix.lower() in IMAGE_SUFFIXES


def _is_heif_head(head: bytes) -> bool:
    """Whether the first 12 bytes are an ISO-BMFF ``ftyp`` box of a HEIF still image."""
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


def open_source(path: str | Path) -> Iterator[Frame]:
    """Frames of ``path``: a still image, a folder of images or a video file.

    Raises:
        SourceError: if the path does not exist or cannot be read.

    """
    p = Path(path)
    if p.is_dir():
        images = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise SourceError(f"Folder {p} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                              "pass a video file or a folder of photos.")
        return iter_images(images)
    if is_image(p):
        return iter_images([p])
    return iter_video(p)


def name_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be opened by name, or None when its name is fine.

    A name holding bytes that are not UTF-8 (Latin-1 names from an old share) reaches
    Python as lone surrogates, and OpenCV's path argument crashes the process (SIGSEGV) on
    them; such a file is refused before OpenCV sees it.
    """
    if is_utf8_path(path):
        return None
    return (f"{printable(path)}: the file's name (or its folder's) is not valid UTF-8 "
            "text, which the video and image readers cannot open; rename it (letters, "
            "digits, '-' and '_' are always safe)")


def _check_file(path: Path, kind: str) -> None:
    """Raise :class:`SourceError` unless ``path`` is a non-empty regular file with a usable name."""
    problem = name_problem(path)
    if problem is not None:
        raise SourceError(f"{kind} {problem}")
    if not path.exists():
        raise SourceError(f"{kind} {path} does not exist; check the path and spelling.")
    if path.is_dir():
        raise SourceError(f"{kind} {path} is a folder; pass a file inside it.")
    if path.stat().st_size == 0:
        raise SourceError(f"{kind} {path} is empty (0 bytes); copy or record it again.")
    if not os.access(path, os.R_OK):   # else OpenCV says only that it cannot open it
        raise SourceError(f"{kind} {path} cannot be read: permission denied; ask for read "
                          "access to it (chmod +r) or copy it somewhere you may read.")


def _fourcc_text(code: float) -> str:
    value = int(code) if math.isfinite(code) and code > 0 else 0
    text = "".join(chr((value >> (8 * k)) & 0xFF) for k in range(4))
    return text if text.isprintable() and value else "?"


def _open_video(path: Path) -> cv2.VideoCapture:
    """Open ``path`` with the FFmpeg backend, rotation applied, or raise SourceError."""
    _check_file(path, "Video")
    # FFmpeg ("moov atom not found") and OpenCV ("[ WARN ] ... cap.cpp") complain on fd 2
    # about a file they cannot open; the SourceError below says it in one line instead.
    quiet_ffmpeg_log()   # before OpenCV first loads FFmpeg: its per-frame decoder errors
    with native_stderr_silenced():
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise SourceError(
            f"Could not open {path} as a video: it is not a video, is cut short (no index), "
            "or uses an unsupported format; re-export it as MP4 (H.264) and try again."
        )
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return cap


def _info_from_capture(path: Path, cap: cv2.VideoCapture) -> VideoInfo:
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = fps if math.isfinite(fps) and fps > 0 else 0.0
    count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    count = int(count) if math.isfinite(count) and count > 0 else 0
    rotation = int(round(cap.get(cv2.CAP_PROP_ORIENTATION_META))) % 360
    return VideoInfo(
        path=path,
        frame_count=count,
        fps=float(fps),
        duration_s=count / fps if fps else 0.0,
        resolution_wh=(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                       int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))),
        rotation_deg=rotation,
        fourcc=_fourcc_text(cap.get(cv2.CAP_PROP_FOURCC)),
    )


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video's header: frame count, fps, duration, upright size, rotation, codec.

    Raises:
        SourceError: if the file is missing, empty or not a readable video.

    """
    p = Path(path)
    cap = _open_video(p)
    try:
        return _info_from_capture(p, cap)
    finally:
        cap.release()


class VideoFrames(Iterator[Frame]):
    """Iterator over a video's frames that also reports what it found.

    Attributes:
        info: the header, read when the iterator is created.
        frames_decoded: frames decoded so far (including skipped ones).
        truncated: ``None`` until the end is reached; then ``True`` when fewer frames
            decoded than the header declares (a file cut short), else ``False``.
        gaps: ``(start_s, end_s)`` of each damaged section that was skipped: the times of
            the last frame before it and the first frame after it.
        warn: whether a damaged section and a file cut short are logged as warnings.

    """

    def __init__(self, path: Path, *, stride: int, start_s: float, end_s: float | None,
                 max_fps: float | None = None, warn: bool = True) -> None:
        self._cap = _open_video(path)
        self.info = _info_from_capture(path, self._cap)
        if max_fps is not None and self.info.fps > 0:
            stride = max(stride, round(self.info.fps / max_fps))
        self.stride = stride
        self.warn = warn
        self.frames_decoded = 0
        self.truncated: bool | None = None
        self.gaps: list[tuple[float, float]] = []
        self._frames_lost = 0
        self._gen = self._generate(stride=stride, start_s=start_s, end_s=end_s)

    def __next__(self) -> Frame:
        return next(self._gen)

    def __enter__(self) -> VideoFrames:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop early and release the file."""
        self._gen.close()
        self._cap.release()

    def _timestamp_s(self, previous_s: float | None) -> float:
        t_s = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if previous_s is not None and not (math.isfinite(t_s) and t_s > previous_s):
            step = 1.0 / self.info.fps if self.info.fps else 1.0 / DEFAULT_CAMERA_FPS
            t_s = previous_s + step
        return t_s

    @property
    def gap_s(self) -> float:
        """Seconds of video lost in damaged sections (0.0 when none)."""
        step = 1.0 / self.info.fps if self.info.fps else 0.0
        return sum(max(0.0, end - start - step) for start, end in self.gaps)

    def _grab(self) -> int | None:
        """Read the next decodable frame; returns how many reads failed first, None at the end.

        A damaged middle section makes reads fail and then succeed again, so failed reads
        are retried (a bounded number of times in a row) instead of being taken for the end.
        """
        failed = 0
        limit = _MAX_FAILED_READS
        if self.info.frame_count:
            limit = min(limit, max(1, self.info.frame_count - self.frames_decoded
                                   - self._frames_lost))
        while not self._cap.grab():
            failed += 1
            if failed >= limit:
                return None
        return failed

    def _after_gap(self, index: int, previous_s: float | None, t_s: float) -> int | None:
        """Record a skipped section before the frame at ``t_s``; returns its true index.

        Returns None when time does not jump here: the decoder still had frames from before
        the damage to hand out (it lags a few frames behind the reads).
        """
        step = 1.0 / self.info.fps if self.info.fps else 1.0 / DEFAULT_CAMERA_FPS
        if previous_s is None or t_s - previous_s <= 1.5 * step:
            return None
        self.gaps.append((previous_s, t_s))
        lost = max(0, round((t_s - previous_s) * self.info.fps) - 1) if self.info.fps else 0
        self._frames_lost += lost
        if self.warn:
            logger.warning("%s: a damaged section from %.2f s to %.2f s could not be decoded "
                           "and was skipped.", self.info.path, previous_s, t_s)
        return index + lost

    def _generate(self, *, stride: int, start_s: float,
                  end_s: float | None) -> Generator[Frame, None, None]:
        previous_s: float | None = None
        first_kept: int | None = None
        ended_early = False
        pending = 0  # good frames left in which a time jump counts as the skipped section
        try:
            while (failed := self._grab()) is not None:
                index = self.frames_decoded + self._frames_lost
                self.frames_decoded += 1
                t_s = self._timestamp_s(previous_s)
                pending = _GAP_WINDOW if failed else max(0, pending - 1)
                if pending and (after := self._after_gap(index, previous_s, t_s)) is not None:
                    index, pending = after, 0
                previous_s = t_s
                if t_s < start_s:
                    continue
                if end_s is not None and t_s > end_s:
                    ended_early = True
                    break
                first_kept = index if first_kept is None else first_kept
                if (index - first_kept) % stride:
                    continue
                ok, image_bgr = self._cap.retrieve()
                if not ok or image_bgr is None:
                    break
                yield Frame(index=index, timestamp_s=t_s,
                            image_bgr=cast(npt.NDArray[np.uint8], image_bgr))
            if not ended_early:
                self._finish()
        finally:
            self._cap.release()

    def _finish(self) -> None:
        declared = self.info.frame_count
        if self.frames_decoded == 0:
            raise SourceError(
                f"Could not decode any frame of {self.info.path} (codec {self.info.fourcc!r}); "
                "re-export it as MP4 (H.264) and try again."
            )
        short = declared - self.frames_decoded - self._frames_lost
        self.truncated = declared > 0 and short > max(1, _TRUNCATION_TOLERANCE * declared)
        if self.truncated and self.warn:
            logger.warning("%s looks truncated: decoded %d of %d frames; results cover the "
                           "first %.1f s only.", self.info.path, self.frames_decoded, declared,
                           self.frames_decoded / self.info.fps if self.info.fps else 0.0)


def iter_video(
    path: str | Path, *, stride: int = 1, start_s: float = 0.0, end_s: float | None = None,
    max_fps: float | None = None, warn: bool = True,
) -> VideoFrames:
    """Decode a video file into upright frames with container timestamps.

    Frames are decoded from the start (skipped ones are grabbed but not converted), so
    ``Frame.index`` is the true position in the file. A file cut short yields what
    decodes, then stops; ``VideoFrames.truncated`` tells the caller afterwards.

    Args:
        path: the video file.
        stride: keep every ``stride``-th frame from the first one at or after ``start_s``.
        start_s: skip frames whose timestamp is before this, seconds.
        end_s: stop after the last frame at or before this, seconds; ``None`` for the end.
        max_fps: keep about this many frames per second: the stride grows to
            round(fps / max_fps) when that is larger (a file without a frame rate keeps
            ``stride``).
        warn: log a warning for each damaged section skipped and for a file cut short.
            False when re-reading a file already measured: its damage was reported then,
            and is on record in the measurement (``decode_gaps``, ``truncated``).

    Returns:
        An iterator of :class:`Frame` with ``info``, ``stride`` (the one applied),
        ``frames_decoded`` and ``truncated``.

    Raises:
        SourceError: missing, empty or unreadable file, or no frame could be decoded.
        ValueError: if ``stride < 1`` or ``end_s < start_s``.

    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if end_s is not None and end_s < start_s:
        raise ValueError(f"end_s must be >= start_s, got start_s={start_s}, end_s={end_s}")
    if max_fps is not None and not max_fps > 0:
        raise ValueError(f"max_fps must be > 0, got {max_fps}")
    return VideoFrames(Path(path), stride=stride, start_s=start_s, end_s=end_s, max_fps=max_fps,
                       warn=warn)


#: Seeking is tried only for frames at least this far into a video (earlier ones are near).
_SEEK_AFTER_S = 2.0
#: The seek lands this long before the frame wanted; decoding goes forward from there.
_SEEK_LEAD_S = 1.0


def read_frame(path: str | Path, *, index: int, timestamp_s: float) -> Frame | None:
    """Frame ``index`` of a video (the one decoded at ``timestamp_s``), or None.

    Far into a file, the decoder seeks to shortly before the frame and decodes forward,
    and the frame is accepted only when both its timestamp and its position match what
    decoding from the start gave (:func:`iter_video`); otherwise (a container without a
    usable index, repaired timestamps) the file is decoded from the start, grabbing
    without converting the frames before it. It logs nothing about damage: the file was
    decoded whole before, which reported it.

    Raises:
        SourceError: missing, empty or unreadable file.

    """
    p = Path(path)
    if timestamp_s >= _SEEK_AFTER_S:
        cap = _open_video(p)
        try:
            if cap.set(cv2.CAP_PROP_POS_MSEC, 1000.0 * (timestamp_s - _SEEK_LEAD_S)):
                frame = _forward_to(cap, index, timestamp_s)
                if frame is not None:
                    return frame
        finally:
            cap.release()
    step_s = 0.5 / DEFAULT_CAMERA_FPS
    for frame in iter_video(p, start_s=max(0.0, timestamp_s - step_s), warn=False):
        if frame.index == index:
            return frame
        if frame.index > index:
            break
    return None


def _forward_to(cap: cv2.VideoCapture, index: int, timestamp_s: float) -> Frame | None:
    """Grab forward to the frame at ``timestamp_s``; None unless it is frame ``index``."""
    tolerance_s = 1e-3
    while cap.grab():
        t_s = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if t_s < timestamp_s - tolerance_s:
            continue
        position = int(round(cap.get(cv2.CAP_PROP_POS_FRAMES))) - 1
        if abs(t_s - timestamp_s) > tolerance_s or position != index:
            return None
        ok, image_bgr = cap.retrieve()
        if not ok or image_bgr is None:
            return None
        return Frame(index=index, timestamp_s=t_s,
                     image_bgr=cast(npt.NDArray[np.uint8], image_bgr))
    return None


def _read_heif(path: Path, *, warn: bool) -> npt.NDArray[np.uint8]:
    """Decode a HEIC/HEIF photo (pillow-heif); libheif applies its rotation and mirroring."""
    try:
        import pillow_heif
    except ImportError as err:
        raise SourceError(f"Cannot read {path}: HEIC/HEIF photos need pillow-heif "
                          "(pip install pillow-heif), or export the photo as JPEG.") from err
    try:
        heif = pillow_heif.open_heif(str(path), convert_hdr_to_8bit=True)
        image = np.asarray(heif)
    except (ValueError, RuntimeError, OSError) as err:
        raise SourceError(f"Could not read {path} as a HEIC/HEIF photo ({err}); export it as "
                          "JPEG and try again.") from err
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise SourceError(f"{path} is a HEIC/HEIF image of an unsupported kind "
                          f"({image.shape} {image.dtype}); export it as JPEG and try again.")
    # libheif gives RGB(A); the rest of hiprom works in OpenCV's BGR.
    code = cv2.COLOR_RGBA2BGR if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
    return _limit_size(path, cast(npt.NDArray[np.uint8], cv2.cvtColor(image, code)), warn=warn)


def _read_image(path: Path, *, warn: bool) -> npt.NDArray[np.uint8]:
    _check_file(path, "Image")
    with path.open("rb") as fh:
        head = fh.read(12)
    if _is_heif_head(head) or (path.suffix.lower() in (".heic", ".heif")
                               and not head.startswith(_IMAGE_MAGIC)):
        return _read_heif(path, warn=warn)
    # imread applies EXIF orientation by default (no IMREAD_IGNORE_ORIENTATION flag).
    # np.fromfile + imdecode would lose that on some builds, so read by path.
    image_bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image_bgr is None:
        raise SourceError(
            f"Could not read {path} as an image; use a JPEG or PNG photo "
            f"({', '.join(sorted(IMAGE_SUFFIXES))})."
        )
    return _limit_size(path, cast(npt.NDArray[np.uint8], image_bgr), warn=warn)  # 8-bit BGR


def _limit_size(path: Path, image_bgr: npt.NDArray[np.uint8], *,
                warn: bool) -> npt.NDArray[np.uint8]:
    """``image_bgr`` scaled down to :data:`MAX_PHOTO_SIDE_PX` on its longest side, if larger.

    With ``warn``, a photo scaled down is logged as a warning.
    """
    h, w = image_bgr.shape[:2]
    if max(h, w) <= MAX_PHOTO_SIDE_PX:
        return image_bgr
    scale = MAX_PHOTO_SIDE_PX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if warn:
        logger.warning("%s is %dx%d px; analysed at %dx%d (photos are read at most %d px on "
                       "their longest side).", printable(path), w, h, *size, MAX_PHOTO_SIDE_PX)
    return cast(npt.NDArray[np.uint8], cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA))


def iter_images(paths: Iterable[str | Path], *, warn: bool = True) -> Iterator[Frame]:
    """Read still images, upright (EXIF orientation applied), in the given order.

    Stills have no time; ``timestamp_s`` is the image's position (0.0, 1.0, 2.0, ...) so
    that time still increases from one frame to the next.

    Args:
        paths: the image files.
        warn: log a warning for a photo scaled down to :data:`MAX_PHOTO_SIDE_PX`. False
            when re-reading a photo already measured: it was reported then.

    Raises:
        SourceError: when a path is missing, empty or not an image (raised when reached).

    """
    for index, path in enumerate(paths):
        yield Frame(index=index, timestamp_s=float(index),
                    image_bgr=_read_image(Path(path), warn=warn))
