"""BlazeFace face detection (MediaPipe Tasks ``FaceDetector``, IMAGE mode) for face blurring.

Two bundled detectors run on every image (``models/README.md``):

* full range (192×192 input, faces up to about 5 m away) on the whole image and on
  overlapping square tiles of it, so that a face a few dozen pixels across in a large
  frame (a person at the back of the room) is still seen at a size the network finds;
* short range (128×128 input, selfie distance, within about 2 m) on the whole image, for
  large, close faces that the full-range network can miss.

Boxes from every pass are returned together; overlapping boxes are not merged (the caller
blurs their union). Like the pose backend, the detector keeps MediaPipe's usage logging
off the network while it is open (:func:`hiprom._native.block_mediapipe_usage_logging`).

Conventions: images are ``(H, W, 3)`` uint8 **BGR** (the exported frames); boxes are in
pixels of that image, origin top-left, y down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hiprom._native import (
    UsageLoggingBlock,
    block_mediapipe_usage_logging,
    native_stderr_silenced,
)
from hiprom.errors import BackendError

__all__ = [
    "FACE_MODELS",
    "MIN_CONFIDENCE",
    "FaceBox",
    "FaceDetector",
    "face_model_info",
    "face_model_path",
    "keep_detectors",
    "open_detector",
    "tiles",
]

log = logging.getLogger(__name__)

#: The bundled BlazeFace networks, by range.
FACE_MODELS = {
    "full_range": "face_detection_full_range.tflite",
    "short_range": "face_detection_short_range.tflite",
}
#: Side of the square tiles the full-range network also scans, in pixels of the image, and
#: their overlap (a fraction of the side): a face up to a quarter of a tile across lies
#: whole in at least one tile.
TILE_PX = 360
TILE_OVERLAP = 0.25
#: The score from which a detection counts as a face. Below MediaPipe's own default (0.5):
#: for blurring, a patch blurred for nothing costs little and a face missed costs much.
MIN_CONFIDENCE = 0.3
_TFLITE_MAGIC = b"TFL3"


@dataclass(frozen=True)
class FaceBox:
    """One detected face: a box in pixels and the detector's score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def size_px(self) -> tuple[float, float]:
        """``(width, height)``."""
        return (self.x1 - self.x0, self.y1 - self.y0)


def face_model_path(kind: str) -> Path:
    """Path of a bundled face detector (``full_range`` or ``short_range``)."""
    if kind not in FACE_MODELS:
        raise BackendError(f"unknown face detector {kind!r}; use full_range or short_range")
    return Path(str(resources.files("hiprom.models").joinpath(FACE_MODELS[kind])))


@lru_cache(maxsize=4)
def _read_model(path: Path) -> bytes:
    if not path.is_file():
        raise BackendError(f"face detector not found at {path}: reinstall hiprom "
                           "(see models/README.md)")
    data = path.read_bytes()
    if len(data) < 1024 or data[4:8] != _TFLITE_MAGIC:
        raise BackendError(f"face detector {path} is corrupt (not a TFLite model): "
                           "reinstall hiprom")
    return data


def face_model_info() -> list[dict[str, str]]:
    """Name and sha256 of each bundled face detector, for provenance."""
    from hiprom._hashing import sha256_file

    return [{"name": FACE_MODELS[k], "sha256": sha256_file(face_model_path(k))}
            for k in FACE_MODELS]


def tiles(resolution_wh: tuple[int, int], tile_px: int = TILE_PX,
          overlap: float = TILE_OVERLAP) -> list[tuple[int, int, int, int]]:
    """Overlapping square tiles ``(x0, y0, x1, y1)`` covering an image, edge to edge.

    Empty when the image fits in one tile (the whole-image pass already sees it at that
    scale).

    Examples:
        >>> tiles((640, 480))
        [(0, 0, 360, 360), (0, 120, 360, 480), (270, 0, 630, 360), (270, 120, 630, 480), \
(280, 0, 640, 360), (280, 120, 640, 480)]
        >>> tiles((300, 200))
        []

    """
    w, h = resolution_wh
    if w <= tile_px and h <= tile_px:
        return []
    side = min(tile_px, w, h)
    step = max(1, int(side * (1.0 - overlap)))

    def starts(length: int) -> list[int]:
        out = list(range(0, max(1, length - side + 1), step))
        if out[-1] + side < length:
            out.append(length - side)
        return out

    return [(x, y, x + side, y + side) for x in starts(w) for y in starts(h)]


class FaceDetector:
    """Both bundled BlazeFace detectors, IMAGE mode, on the CPU.

    Args:
        min_confidence: detection score threshold (MediaPipe's default is 0.5).
        tile_px: side of the tiles the full-range detector also scans (0: no tiles).

    Call it on an image for its faces; ``part=(k, n)`` scans only every n-th tile from the
    k-th (with the two whole-image passes), for callers that scan a video's frames in turn
    and hold what they found (:class:`hiprom.media.privacy.FaceBlurrer`).

    Raises:
        BackendError: a model is missing or corrupt, or MediaPipe cannot load it.

    """

    def __init__(self, *, min_confidence: float = MIN_CONFIDENCE, tile_px: int = TILE_PX
                 ) -> None:
        self.min_confidence = min_confidence
        self.tile_px = tile_px
        buffers = {k: _read_model(face_model_path(k)) for k in FACE_MODELS}
        self._offline: UsageLoggingBlock | None = block_mediapipe_usage_logging()
        self._detectors: dict[str, Any] = {}
        try:
            for kind, buffer in buffers.items():
                self._detectors[kind] = self._create(kind, buffer)
        except BaseException:
            self.close()
            raise
        self._calls = 0

    def _create(self, kind: str, buffer: bytes) -> Any:
        from hiprom.backends.mediapipe import _import_tasks

        try:
            _import_tasks()
            from mediapipe.tasks.python.core.base_options import BaseOptions
            from mediapipe.tasks.python.vision import FaceDetector as MpFaceDetector
            from mediapipe.tasks.python.vision import FaceDetectorOptions
            from mediapipe.tasks.python.vision.core.vision_task_running_mode import (
                VisionTaskRunningMode,
            )
        except ImportError as err:  # pragma: no cover - mediapipe is a core dependency
            raise BackendError(f"mediapipe is not importable ({err}): reinstall hiprom") from err
        options = FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=buffer),
            running_mode=VisionTaskRunningMode.IMAGE,
            min_detection_confidence=self.min_confidence,
        )
        try:
            with native_stderr_silenced():
                return MpFaceDetector.create_from_options(options)
        except (FileNotFoundError, RuntimeError, ValueError) as err:
            raise BackendError(f"MediaPipe could not load the face detector "
                               f"{FACE_MODELS[kind]} ({err}); reinstall hiprom") from err

    def __call__(self, image_bgr: npt.NDArray[np.uint8], *,
                 part: tuple[int, int] | None = None) -> list[FaceBox]:
        """Every face found in ``image_bgr`` (``(H, W, 3)`` uint8 BGR), by any pass."""
        import cv2
        import mediapipe as mp

        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise BackendError(
                f"image_bgr must be (H, W, 3) uint8, got {image_bgr.shape} {image_bgr.dtype}")
        if not self._detectors:
            raise BackendError("this face detector is closed; open a new one")
        h, w = image_bgr.shape[:2]
        rgb: npt.NDArray[np.uint8] = np.ascontiguousarray(
            cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        passes: list[tuple[str, int, int, npt.NDArray[np.uint8]]] = [
            ("full_range", 0, 0, rgb), ("short_range", 0, 0, rgb)]
        if self.tile_px > 0:
            scanned = tiles((w, h), self.tile_px)
            if part is not None:
                scanned = scanned[part[0]::part[1]]
            passes += [("full_range", x0, y0, np.ascontiguousarray(rgb[y0:y1, x0:x1]))
                       for x0, y0, x1, y1 in scanned]
        found = []
        with native_stderr_silenced(self._calls < 2):
            for kind, x0, y0, pixels in passes:
                image = mp.Image(image_format=mp.ImageFormat.SRGB, data=pixels)
                for d in self._detectors[kind].detect(image).detections:
                    b = d.bounding_box
                    score = float(d.categories[0].score) if d.categories else 0.0
                    bx0 = float(np.clip(x0 + b.origin_x, 0, w))
                    by0 = float(np.clip(y0 + b.origin_y, 0, h))
                    bx1 = float(np.clip(x0 + b.origin_x + b.width, 0, w))
                    by1 = float(np.clip(y0 + b.origin_y + b.height, 0, h))
                    if bx1 > bx0 and by1 > by0:
                        found.append(FaceBox(bx0, by0, bx1, by1, score))
        self._calls += 1
        return found

    def close(self) -> None:
        """Release the native graphs and the network block."""
        for kind in list(getattr(self, "_detectors", {})):
            detector = self._detectors.pop(kind)
            with native_stderr_silenced():
                detector.close()
        offline = getattr(self, "_offline", None)
        if offline is not None:
            offline.release()
            self._offline = None

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Detectors kept for the life of the process, by (min_confidence, tile_px); None: none
#: kept (the default). See :func:`keep_detectors`.
_KEPT: dict[tuple[float, int], FaceDetector] | None = None


def keep_detectors() -> None:
    """Keep the face detectors that :func:`open_detector` opens, for the life of the process.

    For batch workers (:func:`hiprom.batch.run.warm_worker`), which blur the key frame of
    every file they score: the two networks are then loaded once per worker instead of once
    per file. A detector has no state between images (IMAGE mode; which tiles a video frame
    scans is the caller's, :class:`hiprom.media.privacy.FaceBlurrer`, made afresh for each
    file), so the faces found do not depend on what it saw before. Like the kept pose
    searcher, a kept detector holds MediaPipe's usage logging off the network for as long
    as the process runs, so this is for processes that only score files.
    """
    global _KEPT
    if _KEPT is None:
        _KEPT = {}


@contextmanager
def open_detector(*, min_confidence: float = MIN_CONFIDENCE, tile_px: int = TILE_PX
                  ) -> Iterator[FaceDetector]:
    """A :class:`FaceDetector` for one use: a fresh one, closed after, or the kept one.

    The kept one (after :func:`keep_detectors`) is opened on first use and left open.

    Raises:
        BackendError: a model is missing or corrupt, or MediaPipe cannot load it.

    """
    if _KEPT is None:
        with FaceDetector(min_confidence=min_confidence, tile_px=tile_px) as detector:
            yield detector
        return
    key = (min_confidence, tile_px)
    if key not in _KEPT:
        _KEPT[key] = FaceDetector(min_confidence=min_confidence, tile_px=tile_px)
    yield _KEPT[key]
