"""Face obscuring for exported images: pixelate and smooth an ellipse around every face.

Faces are found two ways, and every face either way finds is blurred:

* from the pose model's head landmarks (nose, eyes, ears and mouth, BlazePose indices
  0–10) of the subject and of every other person the pose model found: an ellipse sized
  from the ear-to-ear span (or the spread of the head points, or the shoulder width when
  the head is seen side-on), tilted with the ear line, covering hair and chin;
* by the BlazeFace face detectors (:class:`hiprom.backends.faces.FaceDetector`), run on
  every exported frame, which also find people the pose model missed (a person at the
  back of the room, a face at the edge of the picture): each box becomes an ellipse about
  twice its height and 1.7 times its width, raised a little to cover the hair. In a
  picture of the seated test, a weak box (score under 0.5) on the person's body below the
  head, or one several faces wide reaching onto it, is not a face and is not blurred
  (:func:`plausible_boxes`): it would hide the legs being measured.

Inside an ellipse the image is pixelated to a few blocks and then Gaussian-smoothed, which
removes the fine detail that identifies a person and cannot be undone; outside, every pixel
is left exactly as it was, so the legs keep their detail.

Conventions: ``xy`` in pixels, origin top-left, y down; images are ``(H, W, 3)`` uint8 BGR.
Functions return new images and never change their inputs.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

import cv2
import numpy as np
import numpy.typing as npt

from hiprom.backends.faces import FaceBox
from hiprom.core.landmarks import LandmarkName as L

if TYPE_CHECKING:
    from hiprom.results.measurement import Measurement

__all__ = [
    "HEAD_LANDMARKS",
    "FaceBlurrer",
    "FaceEllipse",
    "blur_ellipses",
    "blur_faces",
    "box_ellipse",
    "face_blur_hook",
    "face_ellipse",
    "face_ellipses",
    "plausible_boxes",
]

log = logging.getLogger(__name__)

#: The head landmarks used to place the face ellipse (indices 0–10).
HEAD_LANDMARKS: tuple[L, ...] = tuple(L(i) for i in range(11))
#: Semi-axes relative to the ear-to-ear span: width and height of the ellipse.
_HALF_WIDTH_PER_SPAN = 0.85
_HALF_HEIGHT_PER_SPAN = 1.15
#: Head width as a fraction of the shoulder width (fallback for side-on heads).
_HEAD_PER_SHOULDERS = 0.45
_MIN_HALF_AXIS_PX = 8.0
#: Blocks across the ellipse's width after pixelation.
_BLOCKS_ACROSS = 6
#: A detector box (which spans brows to chin and cheek to cheek) as an ellipse: half-axes
#: relative to the box's width and height, and how far above the box centre the ellipse's
#: centre sits, relative to its height (forehead and hair).
_BOX_HALF_WIDTH = 0.85
_BOX_HALF_HEIGHT = 1.05
_BOX_LIFT = 0.1
#: A detector box scoring below this is weighed against the people the pose model found
#: (:func:`plausible_boxes`); at or above it a box is always blurred.
SURE_FACE_SCORE = 0.5
#: A weak box this many times wider than the person's own face (from their head landmarks)
#: is not a face of anyone in the picture.
_MAX_FACE_RATIO = 3.0
#: The landmarks whose outline is a person's body below the head: shoulders, hips, knees,
#: ankles, heels and toes.
_BODY_LANDMARKS = (L.LEFT_SHOULDER, L.RIGHT_SHOULDER, L.LEFT_HIP, L.RIGHT_HIP, L.LEFT_KNEE,
                   L.RIGHT_KNEE, L.LEFT_ANKLE, L.RIGHT_ANKLE, L.LEFT_HEEL, L.RIGHT_HEEL,
                   L.LEFT_FOOT_INDEX, L.RIGHT_FOOT_INDEX)
#: A face the detector found is still blurred in this many following frames, so a face it
#: misses for a moment (motion blur, a turned head) stays covered.
HOLD_FRAMES = 8
#: After the first frame, each frame scans one in this many of the detector's tiles, in
#: turn (the whole-image passes run on every frame); the hold covers the frames between.
TILE_STAGGER = 2

FrameHook = Callable[[npt.NDArray[np.uint8], int], npt.NDArray[np.uint8]]


class FaceFinder(Protocol):
    """What :class:`FaceBlurrer` calls: :class:`hiprom.backends.faces.FaceDetector`."""

    def __call__(self, image_bgr: npt.NDArray[np.uint8], *,
                 part: tuple[int, int] | None = None) -> Sequence[FaceBox]: ...  # noqa: D102


@dataclass(frozen=True)
class FaceEllipse:
    """An ellipse covering one face.

    Attributes:
        center_xy: centre in pixels.
        half_axes_px: ``(half width, half height)`` in pixels, before rotation.
        angle_deg: rotation of the width axis from +x, clockwise on screen (y down), as
            ``cv2.ellipse`` takes it.

    """

    center_xy: tuple[float, float]
    half_axes_px: tuple[float, float]
    angle_deg: float

    def mask(self, resolution_wh: tuple[int, int]) -> npt.NDArray[np.bool_]:
        """``(H, W)`` boolean mask of the pixels inside the ellipse."""
        w, h = resolution_wh
        canvas = np.zeros((h, w), np.uint8)
        self.draw(canvas)
        return canvas > 0

    def draw(self, canvas: npt.NDArray[np.uint8]) -> None:
        """Fill the ellipse with 255 on a ``(H, W)`` uint8 canvas (clipped at its edges)."""
        cx, cy = self.center_xy
        ax, ay = self.half_axes_px
        cv2.ellipse(canvas, (round(cx), round(cy)), (max(1, round(ax)), max(1, round(ay))),
                    self.angle_deg, 0, 360, 255, thickness=-1)


def _head_span_px(head: npt.NDArray[np.float64], xy: npt.NDArray[np.float64]) -> float:
    """Ear-to-ear distance, else the head points' spread, else a share of the shoulders."""
    ears = xy[[L.LEFT_EAR, L.RIGHT_EAR]]
    spans = []
    if np.isfinite(ears).all():
        spans.append(float(np.linalg.norm(ears[0] - ears[1])))
    if len(head) >= 2:
        spans.append(float(np.ptp(head, axis=0).max()))
    shoulders = xy[[L.LEFT_SHOULDER, L.RIGHT_SHOULDER]]
    if np.isfinite(shoulders).all():
        spans.append(_HEAD_PER_SHOULDERS * float(np.linalg.norm(shoulders[0] - shoulders[1])))
    return max(spans) if spans else 0.0


def _tilt_deg(xy: npt.NDArray[np.float64]) -> float:
    ears = xy[[L.RIGHT_EAR, L.LEFT_EAR]]
    if not np.isfinite(ears).all() or np.allclose(ears[0], ears[1]):
        return 0.0
    dx, dy = ears[1] - ears[0]
    angle = math.degrees(math.atan2(dy, dx))
    # The ear line's direction does not matter, only its slope: fold into (-90, 90].
    return angle - 180.0 if angle > 90.0 else angle + 180.0 if angle <= -90.0 else angle


def face_ellipse(xy: npt.ArrayLike) -> FaceEllipse | None:
    """The ellipse covering a person's face, from their ``(33, 2)`` landmarks in pixels.

    Uses every finite head landmark (0–10) whatever its visibility: for privacy a head
    that is partly hidden is still covered. Returns None when no head landmark is finite.

    Examples:
        >>> xy = np.full((33, 2), np.nan)
        >>> xy[L.NOSE] = (100, 50); xy[L.LEFT_EAR] = (120, 45); xy[L.RIGHT_EAR] = (80, 45)
        >>> e = face_ellipse(xy)
        >>> e.half_axes_px
        (34.0, 46.0)

    """
    points = np.asarray(xy, np.float64)
    if points.shape != (33, 2):
        raise ValueError(f"xy must have shape (33, 2), got {points.shape}")
    head = points[list(HEAD_LANDMARKS)]
    head = head[np.isfinite(head).all(axis=1)]
    if len(head) == 0:
        return None
    span = _head_span_px(head, points)
    half_w = max(_MIN_HALF_AXIS_PX, _HALF_WIDTH_PER_SPAN * span)
    half_h = max(_MIN_HALF_AXIS_PX, _HALF_HEIGHT_PER_SPAN * span)
    cx, cy = head.mean(axis=0)
    return FaceEllipse((float(cx), float(cy)), (round(half_w, 3), round(half_h, 3)),
                       _tilt_deg(points))


def box_ellipse(box: FaceBox) -> FaceEllipse:
    """The ellipse covering the face in a detector's box, padded to the hair, ears and chin.

    Examples:
        >>> box_ellipse(FaceBox(100, 100, 140, 150, 0.9))
        FaceEllipse(center_xy=(120.0, 120.0), half_axes_px=(34.0, 52.5), angle_deg=0.0)

    """
    w, h = box.size_px
    cx, cy = (box.x0 + box.x1) / 2.0, (box.y0 + box.y1) / 2.0 - _BOX_LIFT * h
    half_w = max(_MIN_HALF_AXIS_PX, _BOX_HALF_WIDTH * w)
    half_h = max(_MIN_HALF_AXIS_PX, _BOX_HALF_HEIGHT * h)
    return FaceEllipse((round(cx, 3), round(cy, 3)), (round(half_w, 3), round(half_h, 3)), 0.0)


def plausible_boxes(boxes: Sequence[FaceBox], xy: npt.ArrayLike | None) -> list[FaceBox]:
    """The detector boxes that may be faces, given the people the pose model found.

    The detector is run at a low score so that no face is missed, and at that score it also
    fires on a seated person's torso, lap or thighs, or over the whole person with a box
    several faces wide; blurred, those hide the legs being measured. A box scoring under
    :data:`SURE_FACE_SCORE` is dropped when its centre lies on a found person's body below
    the head (the outline of their shoulders, hips, knees and feet: any face there would be
    behind that body), or when its blur would reach onto such a body and it is more than
    three times as wide as the widest face of the people found. A box at or above that
    score, a weak box off every body, and every box in a picture where the pose model found
    nobody, are kept.

    Args:
        boxes: the detector's boxes in pixels.
        xy: ``(33, 2)`` or ``(n_persons, 33, 2)`` landmarks in pixels of the same image, or
            None.

    """
    persons, outlines = [], []
    for p in ([] if xy is None else np.asarray(xy, np.float64).reshape(-1, 33, 2)):
        body = p[list(_BODY_LANDMARKS)]
        body = body[np.isfinite(body).all(axis=1)]
        if len(body) >= 3:
            persons.append(p)
            outlines.append(cv2.convexHull(body.astype(np.float32)))
    if not persons:
        return list(boxes)
    faces = [e.half_axes_px[0] for p in persons if (e := face_ellipse(p)) is not None]
    widest = max(faces, default=math.inf) / _HALF_WIDTH_PER_SPAN   # a face's width, pixels

    def plausible(box: FaceBox) -> bool:
        if box.score >= SURE_FACE_SCORE:
            return True
        centre = ((box.x0 + box.x1) / 2.0, (box.y0 + box.y1) / 2.0)
        if any(cv2.pointPolygonTest(o, centre, False) > 0 for o in outlines):
            return False
        # what would be blurred: the box's ellipse (wider and taller than the box)
        e = box_ellipse(box)
        (cx, cy), (ax, ay) = e.center_xy, e.half_axes_px
        # (ellipse2Poly repeats its first point last; a convex polygon must not)
        spread = np.asarray(cv2.ellipse2Poly((round(cx), round(cy)), (round(ax), round(ay)),
                                             0, 0, 360, 15), np.float32)[:-1]
        reaches = any(cv2.intersectConvexConvex(o, spread)[0] > 0 for o in outlines)
        return not (reaches and box.size_px[0] > _MAX_FACE_RATIO * widest)

    return [b for b in boxes if plausible(b)]


def face_ellipses(xy: npt.ArrayLike | None = None,
                  boxes: Sequence[FaceBox] = ()) -> list[FaceEllipse]:
    """The union of the faces implied by pose landmarks and the faces a detector found.

    Args:
        xy: ``(33, 2)`` or ``(n_persons, 33, 2)`` landmarks in pixels (NaN rows are
            ignored), or None.
        boxes: face detector boxes in pixels of the same image.

    """
    persons = (np.empty((0, 33, 2)) if xy is None
               else np.asarray(xy, np.float64).reshape(-1, 33, 2))
    ellipses = [e for p in persons if (e := face_ellipse(p)) is not None]
    return ellipses + [box_ellipse(b) for b in boxes]


def _obscure(roi_bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Pixelate ``roi_bgr`` to a few blocks, then smooth away the block edges.

    The smoothing (a Gaussian of half a block) runs at no more than 8 pixels per block and
    the result is scaled up to the patch: the same look as smoothing at full size, at a
    small fraction of the cost for a large face.
    """
    h, w = roi_bgr.shape[:2]
    block = max(2, max(w, h) // _BLOCKS_ACROSS)
    small = cv2.resize(roi_bgr, (max(1, w // block), max(1, h // block)),
                       interpolation=cv2.INTER_AREA)
    step = min(block, 8)
    coarse = cv2.resize(small, (small.shape[1] * step, small.shape[0] * step),
                        interpolation=cv2.INTER_LINEAR)
    smooth = cv2.GaussianBlur(coarse, (0, 0), sigmaX=step / 2.0, sigmaY=step / 2.0,
                              borderType=cv2.BORDER_REPLICATE)
    return cast(npt.NDArray[np.uint8],  # same depth as roi_bgr
                cv2.resize(smooth, (w, h), interpolation=cv2.INTER_LINEAR))


def blur_ellipses(image_bgr: npt.NDArray[np.uint8], ellipses: Sequence[FaceEllipse]
                  ) -> npt.NDArray[np.uint8]:
    """A copy of ``image_bgr`` with the union of the ellipses pixelated and smoothed.

    Overlapping ellipses (a face found by the pose model and by the detector, or held over
    frames) are obscured as one patch: each connected region of their union is pixelated to
    about six blocks across its bounding box and smoothed, once.
    """
    out = image_bgr.copy()
    if not ellipses:
        return out
    h, w = out.shape[:2]
    union = np.zeros((h, w), np.uint8)
    for ellipse in set(ellipses):
        ellipse.draw(union)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(union, connectivity=8)
    for k in range(1, n):
        x, y, bw, bh = (int(v) for v in stats[k, :4])
        roi = out[y:y + bh, x:x + bw]
        mask = labels[y:y + bh, x:x + bw] == k
        roi[mask] = _obscure(roi)[mask]
    return out


def blur_faces(image_bgr: npt.NDArray[np.uint8], xy: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """A copy of ``image_bgr`` with the face of every person in ``xy`` obscured.

    Args:
        image_bgr: ``(H, W, 3)`` uint8 BGR.
        xy: ``(33, 2)`` or ``(n_persons, 33, 2)`` landmarks in pixels of that image
            (NaN rows are ignored).

    """
    return blur_ellipses(image_bgr, face_ellipses(xy))


T = TypeVar("T")


def _fill_from_nearest(items: list[T | None], max_gap: int) -> list[T | None]:
    """Fill the None frames from the nearest frame that has a value, at most ``max_gap`` away."""
    known = [i for i, e in enumerate(items) if e is not None]
    filled: list[T | None] = []
    for i, e in enumerate(items):
        if e is None and known:
            j = min(known, key=lambda k: abs(k - i))
            e = items[j] if abs(j - i) <= max_gap else None
        filled.append(e)
    return filled


class FaceBlurrer:
    """A ``frame_hook`` for :func:`hiprom.media.outputs.write_outputs`: every face blurred.

    Frame ``i`` (an index into ``m``'s analysed frames) gets the union of

    * the subject's face from their head landmarks; a frame where the subject was not
      found borrows the ellipse of the nearest frame within ``max_gap_frames``; with none
      that close, the whole frame is obscured, since the face could be anywhere;
    * the faces of the other people the pose model found in that frame (or, between the
      pose model's searches for other people, in the nearest frame within
      ``max_gap_frames`` where it looked);
    * every face ``detector`` finds in the image, and every face it found in the
      ``hold_frames`` images hooked just before (a face it misses for a moment stays
      covered). The first image gets every pass of the detector; later ones its two
      whole-image passes and one in ``TILE_STAGGER`` of its tiles, in turn, so every tile
      is scanned every ``TILE_STAGGER`` frames, well within the hold.

    Args:
        m: the measurement whose frames are exported (reads ``landmarks_xy`` and, when
            present, ``others_xy``).
        detector: a face detector (:class:`hiprom.backends.faces.FaceDetector`), or None
            for the landmarks alone.
        max_gap_frames: how far a pose ellipse is borrowed, in analysed frames.
        hold_frames: how many later images a detected face stays blurred in.

    """

    def __init__(self, m: Measurement, detector: FaceFinder | None = None, *,
                 max_gap_frames: int = 15, hold_frames: int = HOLD_FRAMES) -> None:
        xy = m.landmarks_xy
        n = 0 if xy is None else len(xy)
        self._subject = _fill_from_nearest(
            [face_ellipse(xy[i]) for i in range(n)] if xy is not None else [], max_gap_frames)
        others = getattr(m, "others_xy", None) or []
        self._xy, self._others_xy = xy, others
        # Weak boxes are weighed against the bodies only in the seated test, whose layout
        # (one person facing the camera) that was checked on; in any other picture every
        # box the detector finds is blurred.
        self._seated_test = bool(getattr(m, "valid", False))
        self._others = _fill_from_nearest(
            [None if o is None else face_ellipses(o) for o in others], max_gap_frames)
        self._detector = detector
        self._held: deque[list[FaceEllipse]] = deque(maxlen=hold_frames + 1)
        #: Frames hooked, and faces the detector found in them (for the log).
        self.frames = self.detections = 0

    def ellipses(self, image_bgr: npt.NDArray[np.uint8], i: int) -> list[FaceEllipse] | None:
        """The faces to blur in ``image_bgr`` (frame ``i``); None: obscure the whole frame."""
        subject = self._subject[i] if 0 <= i < len(self._subject) else None
        others = self._others[i] if 0 <= i < len(self._others) else None
        if self._detector is not None:
            part = None if self.frames == 0 else (self.frames % TILE_STAGGER, TILE_STAGGER)
            boxes = self._detector(image_bgr, part=part)
            if self._seated_test:
                boxes = plausible_boxes(boxes, self._people(i))
            self.detections += len(boxes)
            self._held.append([box_ellipse(b) for b in boxes])
        self.frames += 1
        if subject is None:
            return None
        return [subject, *(others or []), *(e for held in self._held for e in held)]

    def _people(self, i: int) -> npt.NDArray[np.float64] | None:
        """``(n, 33, 2)`` landmarks of the subject and the others found in frame ``i``."""
        found = [] if self._xy is None or not 0 <= i < len(self._xy) else [self._xy[i]]
        if 0 <= i < len(self._others_xy) and self._others_xy[i] is not None:
            found += list(self._others_xy[i])
        return np.asarray(found, np.float64) if found else None

    def __call__(self, image_bgr: npt.NDArray[np.uint8], i: int) -> npt.NDArray[np.uint8]:
        """A copy of ``image_bgr`` (frame ``i``) with every face blurred."""
        ellipses = self.ellipses(image_bgr, i)
        if ellipses is None:
            log.debug("frame %d: no face location; obscuring the whole frame", i)
            return _obscure(image_bgr)
        return blur_ellipses(image_bgr, ellipses)


def face_blur_hook(m: Measurement, *, max_gap_frames: int = 15,
                   detector: FaceFinder | None = None) -> FrameHook:
    """A :class:`FaceBlurrer` for ``m`` (kept for callers of the landmark-only hook)."""
    return FaceBlurrer(m, detector, max_gap_frames=max_gap_frames)
