"""Which detected person is the one being tested (pure numpy).

The seated test has one subject. When the model finds several people, the subject is
the person whose legs are measurable and largest in the frame, then followed from frame
to frame by the nearest pelvis centre, so a passer-by does not steal the measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt

from hiprom.core.landmarks import LandmarkName, Landmarks
from hiprom.vocabulary import MIN_VISIBILITY

__all__ = ["PersonPolicy", "PersonTracker", "leg_extent_px", "legs_visible"]

_LEG_POINTS = np.array(
    [
        LandmarkName.LEFT_HIP,
        LandmarkName.RIGHT_HIP,
        LandmarkName.LEFT_KNEE,
        LandmarkName.RIGHT_KNEE,
        LandmarkName.LEFT_ANKLE,
        LandmarkName.RIGHT_ANKLE,
    ]
)
_KNEES_ANKLES = np.array(
    [LandmarkName.LEFT_KNEE, LandmarkName.RIGHT_KNEE,
     LandmarkName.LEFT_ANKLE, LandmarkName.RIGHT_ANKLE]
)
_HIPS = np.array([LandmarkName.LEFT_HIP, LandmarkName.RIGHT_HIP])


class PersonPolicy(str, Enum):
    """How to choose the subject when several people are in view.

    ``auto`` picks the largest person with visible legs but reports that others were seen,
    so the caller can refuse an ambiguous clip; ``largest`` and ``center`` just choose.
    """

    AUTO = "auto"
    LARGEST = "largest"
    CENTER = "center"


def legs_visible(visibility: npt.NDArray[np.float32], *,
                 threshold: float = 0.5) -> npt.NDArray[np.bool_]:
    """Whether both knees and both ankles pass ``threshold``, per person.

    Args:
        visibility: ``(n, 33)`` visibility scores.
        threshold: minimum score of each of the four points.

    Returns:
        ``(n,)`` booleans.

    """
    ok: npt.NDArray[np.bool_] = np.all(np.asarray(visibility)[:, _KNEES_ANKLES] >= threshold,
                                       axis=1)
    return ok


def leg_extent_px(xy: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Diagonal of the bounding box of hips, knees and ankles, per person, in pixels.

    Args:
        xy: ``(n, 33, 2)`` landmark pixels.

    """
    pts = np.asarray(xy, np.float64)[:, _LEG_POINTS]
    if pts.shape[0] == 0:
        return np.zeros(0)
    span = pts.max(axis=1) - pts.min(axis=1)
    extent: npt.NDArray[np.float64] = np.hypot(span[:, 0], span[:, 1])
    return extent


@dataclass
class PersonTracker:
    """Chooses the subject in each frame and follows them.

    Attributes:
        policy: how to choose among several people.
        frames_seen: frames with at least one person.
        frames_checked: frames with a person in which the backend looked for everybody
            (see :attr:`Landmarks.complete`).
        frames_crowded: checked frames with two or more people whose legs are visible and
            at least half the subject's size.

    """

    policy: PersonPolicy = PersonPolicy.AUTO
    visibility_threshold: float = MIN_VISIBILITY
    frames_seen: int = 0
    frames_checked: int = 0
    frames_crowded: int = 0
    _last_centre: npt.NDArray[np.float64] | None = field(default=None, repr=False)

    def select(self, landmarks: Landmarks) -> int | None:
        """Index of the subject in ``landmarks``, or None when nobody is there."""
        n = landmarks.n_persons
        if n == 0:
            return None
        self.frames_seen += 1
        extent = leg_extent_px(landmarks.xy)
        visible = legs_visible(landmarks.visibility, threshold=self.visibility_threshold)
        centres = landmarks.xy[:, _HIPS].mean(axis=1).astype(np.float64)
        if landmarks.complete:
            self.frames_checked += 1
            if n > 1 and visible.sum() >= 2:
                sizes = np.sort(extent[visible])[::-1]
                if sizes[1] >= 0.5 * sizes[0]:
                    self.frames_crowded += 1
        index = self._choose(extent, visible, centres, landmarks.resolution_wh)
        self._last_centre = centres[index]
        return index

    def _choose(
        self,
        extent: npt.NDArray[np.float64],
        visible: npt.NDArray[np.bool_],
        centres: npt.NDArray[np.float64],
        resolution_wh: tuple[int, int],
    ) -> int:
        if len(extent) == 1:
            return 0
        if self._last_centre is not None:
            # Follow the subject: the nearest pelvis, unless it jumped by more than its size.
            dist = np.hypot(*(centres - self._last_centre).T)
            nearest = int(np.argmin(dist))
            if dist[nearest] < max(extent[nearest], 1.0):
                return nearest
        score = extent * np.where(visible, 1.0, 0.25)
        if self.policy is PersonPolicy.CENTER:
            mid = np.array(resolution_wh, np.float64) / 2.0
            score = -np.hypot(*(centres - mid).T)
        return int(np.argmax(score))

    @property
    def crowded_fraction(self) -> float:
        """Fraction of checked frames in which a second, comparable person was seen."""
        return self.frames_crowded / self.frames_checked if self.frames_checked else 0.0
