"""Camera frames: open, configure and read a webcam with monotonic timestamps.

The camera half of :mod:`hiprom.media.sources` (which re-exports everything public here). The
capture is injectable (``open_capture``), so tests drive it with fakes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import Protocol, cast

import cv2
import numpy as np
import numpy.typing as npt

from hiprom._native import native_stderr_silenced
from hiprom.errors import CameraDisconnected, SourceError
from hiprom.media.frames import Frame

__all__ = ["DEFAULT_CAMERA_FPS", "iter_webcam"]

logger = logging.getLogger(__name__)

#: Fallback frame rate when a camera reports 0 fps.
DEFAULT_CAMERA_FPS = 30.0


class _Capture(Protocol):
    """The part of ``cv2.VideoCapture`` the camera source uses (tests inject fakes)."""

    def isOpened(self) -> bool: ...  # noqa: N802, D102
    def read(self) -> tuple[bool, npt.NDArray[np.uint8] | None]: ...  # noqa: D102
    def set(self, prop_id: int, value: float) -> bool: ...  # noqa: D102
    def get(self, prop_id: int) -> float: ...  # noqa: D102
    def release(self) -> None: ...  # noqa: D102


def _open_camera(camera_id: int) -> _Capture:
    # OpenCV logs each backend it tries for a missing camera (a dozen WARN/ERROR lines);
    # hiprom says in one line what failed and what to do.
    with native_stderr_silenced():
        # VideoCapture's stub types read() as any Mat; a camera gives 8-bit BGR frames.
        return cast(_Capture, cv2.VideoCapture(camera_id))


def _configure_camera(cap: _Capture, camera_id: int, resolution_wh: tuple[int, int],
                      fps: float) -> None:
    cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(resolution_wh[0]))
    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(resolution_wh[1]))
    cap.set(cv2.CAP_PROP_FPS, float(fps))
    got_wh = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    got_fps = cap.get(cv2.CAP_PROP_FPS)
    if got_wh != tuple(resolution_wh):
        logger.warning("Camera %d gives %dx%d instead of the requested %dx%d.",
                       camera_id, *got_wh, *resolution_wh)
    if not (math.isfinite(got_fps) and got_fps > 0):
        logger.warning("Camera %d reports no frame rate; assuming %.0f fps.",
                       camera_id, DEFAULT_CAMERA_FPS)
    elif abs(got_fps - fps) > 0.5:
        logger.warning("Camera %d runs at %.1f fps instead of %.1f.", camera_id, got_fps, fps)


def iter_webcam(
    camera_id: int,
    *,
    resolution_wh: tuple[int, int] = (640, 480),
    fps: float = 30.0,
    max_failed_reads: int = 30,
    clock: Callable[[], float] = time.monotonic,
    open_capture: Callable[[int], _Capture] = _open_camera,
) -> Iterator[Frame]:
    """Frames from a camera with monotonic timestamps (seconds since the first frame).

    Args:
        camera_id: OpenCV camera index (0 is usually the built-in camera).
        resolution_wh: requested ``(width, height)``; a warning is logged if the camera
            gives something else.
        fps: requested frame rate.
        max_failed_reads: consecutive failed reads after which the camera counts as gone.
        clock: monotonic clock in seconds (injectable for tests).
        open_capture: builds the capture from ``camera_id`` (injectable for tests).

    Raises:
        SourceError: if the camera cannot be opened.
        CameraDisconnected: if it stops delivering frames; frames already yielded stand.

    """
    cap = open_capture(camera_id)
    try:
        if not cap.isOpened():
            other = "1" if camera_id == 0 else "0"
            raise SourceError(
                f"Could not open camera {camera_id}. Try another index (--camera {other}), "
                "close other apps using the camera, check permissions, or list devices with "
                "`ls /dev/video*`."
            )
        _configure_camera(cap, camera_id, resolution_wh, fps)
        yield from _read_camera(cap, camera_id, max_failed_reads, clock)
    finally:
        cap.release()


def _read_camera(cap: _Capture, camera_id: int, max_failed_reads: int,
                 clock: Callable[[], float]) -> Iterator[Frame]:
    index = 0
    failed = 0
    t0: float | None = None
    while True:
        ok, image_bgr = cap.read()
        if not ok or image_bgr is None:
            failed += 1
            if failed >= max_failed_reads:
                raise CameraDisconnected(
                    f"Camera {camera_id} stopped sending frames after {index} frames; "
                    "check the cable or connection and start again."
                )
            continue
        failed = 0
        now = clock()
        t0 = now if t0 is None else t0
        yield Frame(index=index, timestamp_s=now - t0, image_bgr=image_bgr)
        index += 1
