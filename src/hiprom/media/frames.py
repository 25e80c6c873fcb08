"""The frame type every source yields."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Frame"]


@dataclass(frozen=True)
class Frame:
    """One decoded image with its place in time.

    Attributes:
        index: 0-based position in the source (decoded order).
        timestamp_s: presentation time in seconds from the start of the source
            (real timestamps of the container, so variable frame rate is honoured;
            a monotonic clock for cameras).
        image_bgr: ``(H, W, 3)`` uint8 in OpenCV's BGR order, already upright
            (rotation metadata / EXIF orientation applied).

    """

    index: int
    timestamp_s: float
    image_bgr: npt.NDArray[np.uint8]

    @property
    def resolution_wh(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        h, w = self.image_bgr.shape[:2]
        return (int(w), int(h))
