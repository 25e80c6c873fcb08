"""The backend protocol every pose estimator implements."""

from __future__ import annotations

from enum import Enum
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from hiprom.core.landmarks import Landmarks

__all__ = ["PoseBackend", "PoseModel", "RunningMode"]


class RunningMode(str, Enum):
    """How frames relate to each other.

    ``IMAGE``: every frame is independent (stills). ``VIDEO``: frames come from one clip
    in increasing time, so the backend may track the person between frames.
    """

    IMAGE = "image"
    VIDEO = "video"


class PoseModel(str, Enum):
    """The bundled BlazePose landmark networks (``--model``): accuracy against speed.

    ``heavy`` is ~3× slower than ``full`` and, on our renders, no more accurate (a second
    opinion); ``lite`` is the fastest and errs about three times more, so its intervals are
    much wider (docs/PERFORMANCE.md, docs/ACCURACY.md).
    """

    FULL = "full"
    HEAVY = "heavy"
    LITE = "lite"

    @property
    def bundle(self) -> str:
        """The ``.task`` file in ``models/``."""
        return f"pose_landmarker_{self.value}.task"


@runtime_checkable
class PoseBackend(Protocol):
    """Anything that finds pose landmarks in an image.

    Implementations are context managers; ``close()`` frees native resources.
    """

    name: str

    def __call__(self, image_rgb: npt.NDArray[np.uint8], *, timestamp_s: float) -> Landmarks:
        """Landmarks of every person in ``image_rgb`` (``(H, W, 3)`` uint8, RGB order)."""
        ...

    def close(self) -> None:
        """Release the model."""
        ...

    def __enter__(self) -> PoseBackend: ...

    def __exit__(self, *exc: object) -> None: ...
