"""Pose landmarks as plain numpy arrays: the only pose type the core sees.

Conventions:
    * ``xy`` is in pixels of the frame given to the backend, origin at the top-left
      corner, x to the right, y down.
    * Landmark indices follow the 33-point BlazePose topology; refer to them by
      :class:`LandmarkName`, never by bare integers.
    * ``LEFT_*``/``RIGHT_*`` are the labels the pose model assigned. The measurement
      core decides the person's anatomical side itself (see :mod:`hiprom.core.geometry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from hiprom.errors import InputError

__all__ = [
    "EDGES", "LEG_EDGES", "LEG_LANDMARKS", "LandmarkName", "Landmarks", "N_LANDMARKS",
]

N_LANDMARKS = 33


class LandmarkName(IntEnum):
    """BlazePose landmark indices."""

    NOSE = 0
    LEFT_EYE_INNER = 1
    LEFT_EYE = 2
    LEFT_EYE_OUTER = 3
    RIGHT_EYE_INNER = 4
    RIGHT_EYE = 5
    RIGHT_EYE_OUTER = 6
    LEFT_EAR = 7
    RIGHT_EAR = 8
    MOUTH_LEFT = 9
    MOUTH_RIGHT = 10
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_PINKY = 17
    RIGHT_PINKY = 18
    LEFT_INDEX = 19
    RIGHT_INDEX = 20
    LEFT_THUMB = 21
    RIGHT_THUMB = 22
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28
    LEFT_HEEL = 29
    RIGHT_HEEL = 30
    LEFT_FOOT_INDEX = 31
    RIGHT_FOOT_INDEX = 32


_L = LandmarkName
#: Skeleton edges of the legs and pelvis, drawn by the overlay.
#: (hip, knee, ankle) of each leg as the model labels it. In an un-mirrored frame of a person
#: facing the camera the model's labels are the anatomical sides (geometry re-checks them).
LEG_LANDMARKS: dict[str, tuple[LandmarkName, LandmarkName, LandmarkName]] = {
    "left": (LandmarkName.LEFT_HIP, LandmarkName.LEFT_KNEE, LandmarkName.LEFT_ANKLE),
    "right": (LandmarkName.RIGHT_HIP, LandmarkName.RIGHT_KNEE, LandmarkName.RIGHT_ANKLE),
}
LEG_EDGES: tuple[tuple[LandmarkName, LandmarkName], ...] = (
    (_L.LEFT_HIP, _L.RIGHT_HIP),
    (_L.LEFT_HIP, _L.LEFT_KNEE),
    (_L.LEFT_KNEE, _L.LEFT_ANKLE),
    (_L.LEFT_ANKLE, _L.LEFT_HEEL),
    (_L.LEFT_ANKLE, _L.LEFT_FOOT_INDEX),
    (_L.RIGHT_HIP, _L.RIGHT_KNEE),
    (_L.RIGHT_KNEE, _L.RIGHT_ANKLE),
    (_L.RIGHT_ANKLE, _L.RIGHT_HEEL),
    (_L.RIGHT_ANKLE, _L.RIGHT_FOOT_INDEX),
)
#: Skeleton edges of the whole body (legs plus trunk and arms).
EDGES: tuple[tuple[LandmarkName, LandmarkName], ...] = LEG_EDGES + (
    (_L.LEFT_SHOULDER, _L.RIGHT_SHOULDER),
    (_L.LEFT_SHOULDER, _L.LEFT_HIP),
    (_L.RIGHT_SHOULDER, _L.RIGHT_HIP),
    (_L.LEFT_SHOULDER, _L.LEFT_ELBOW),
    (_L.LEFT_ELBOW, _L.LEFT_WRIST),
    (_L.RIGHT_SHOULDER, _L.RIGHT_ELBOW),
    (_L.RIGHT_ELBOW, _L.RIGHT_WRIST),
)


@dataclass(frozen=True)
class Landmarks:
    """Landmarks of every person detected in one frame.

    Attributes:
        xy: ``(n_persons, 33, 2)`` float32, pixels, origin top-left, y down.
        visibility: ``(n_persons, 33)`` float32 in [0, 1], the model's visibility score.
        resolution_wh: ``(width, height)`` of the frame in pixels.
        world_xyz: optional ``(n_persons, 33, 3)`` float32 metres, hip-centred (model output;
            its z is unreliable and the core does not use it for angles).
        complete: True when the backend looked for every person in view; False when it
            only followed the tracked subject (then ``n_persons`` says nothing about crowds).

    Examples:
        >>> lm = Landmarks.empty((640, 480))
        >>> lm.n_persons
        0

    """

    xy: npt.NDArray[np.float32]
    visibility: npt.NDArray[np.float32]
    resolution_wh: tuple[int, int]
    world_xyz: npt.NDArray[np.float32] | None = None
    complete: bool = True

    def __post_init__(self) -> None:
        xy = np.asarray(self.xy, dtype=np.float32)
        vis = np.asarray(self.visibility, dtype=np.float32)
        if xy.ndim != 3 or xy.shape[1:] != (N_LANDMARKS, 2):
            raise InputError(f"landmarks.xy must have shape (n, {N_LANDMARKS}, 2), got {xy.shape}")
        if vis.shape != xy.shape[:2]:
            raise InputError(
                f"landmarks.visibility must have shape {xy.shape[:2]}, got {vis.shape}"
            )
        object.__setattr__(self, "xy", xy)
        object.__setattr__(self, "visibility", vis)
        if self.world_xyz is not None:
            w = np.asarray(self.world_xyz, dtype=np.float32)
            if w.shape != (xy.shape[0], N_LANDMARKS, 3):
                raise InputError(
                    f"landmarks.world_xyz must have shape {(xy.shape[0], N_LANDMARKS, 3)}, "
                    f"got {w.shape}"
                )
            object.__setattr__(self, "world_xyz", w)

    @property
    def n_persons(self) -> int:
        """Number of persons detected."""
        return int(self.xy.shape[0])

    @classmethod
    def empty(cls, resolution_wh: tuple[int, int]) -> Landmarks:
        """Landmarks of a frame in which nobody was found."""
        return cls(
            xy=np.zeros((0, N_LANDMARKS, 2), np.float32),
            visibility=np.zeros((0, N_LANDMARKS), np.float32),
            resolution_wh=resolution_wh,
        )

    def person(self, index: int) -> Landmarks:
        """The landmarks of one person, as a single-person :class:`Landmarks`."""
        world = None if self.world_xyz is None else self.world_xyz[index : index + 1]
        return Landmarks(
            xy=self.xy[index : index + 1],
            visibility=self.visibility[index : index + 1],
            resolution_wh=self.resolution_wh,
            world_xyz=world,
            complete=self.complete,
        )

    def flipped_horizontally(self) -> Landmarks:
        """The same landmarks in a horizontally mirrored frame (x → width − x).

        Labels are left as the model gave them; only coordinates change.
        """
        w = self.resolution_wh[0]
        xy = self.xy.copy()
        xy[..., 0] = w - xy[..., 0]
        world = None
        if self.world_xyz is not None:
            world = self.world_xyz.copy()
            world[..., 0] = -world[..., 0]
        return Landmarks(xy, self.visibility.copy(), self.resolution_wh, world, self.complete)
