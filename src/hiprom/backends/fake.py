"""A deterministic backend that replays given landmarks; used by tests and docs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hiprom.core.landmarks import Landmarks

__all__ = ["FakeBackend"]


class FakeBackend:
    """Replays one :class:`Landmarks` per call, in order.

    Args:
        landmarks_per_frame: what to return for the 1st, 2nd, ... call. After the last
            one the backend keeps returning the last item.

    Examples:
        >>> import numpy as np
        >>> lm = Landmarks.empty((64, 48))
        >>> with FakeBackend([lm]) as backend:
        ...     backend(np.zeros((48, 64, 3), np.uint8), timestamp_s=0.0).n_persons
        0

    """

    name = "fake"

    def __init__(self, landmarks_per_frame: Sequence[Landmarks]) -> None:
        if not landmarks_per_frame:
            raise ValueError("FakeBackend needs at least one Landmarks to replay")
        self._items = list(landmarks_per_frame)
        self._calls = 0
        self.timestamps_s: list[float] = []

    def __call__(self, image_rgb: npt.NDArray[np.uint8], *, timestamp_s: float) -> Landmarks:
        """Return the next landmarks; ``image_rgb`` is only checked for its shape."""
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
            raise ValueError(f"image_rgb must have shape (H, W, 3), got {image_rgb.shape}")
        item = self._items[min(self._calls, len(self._items) - 1)]
        self._calls += 1
        self.timestamps_s.append(timestamp_s)
        return item

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> FakeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
