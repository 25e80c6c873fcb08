"""Adaptive sampling: analyse a clip sparsely where nothing moves and densely where it does.

The pose model is what costs (docs/PERFORMANCE.md); the seated test is mostly still (the
neutral, the middle of each hold), and a held end range is a median over a still stretch,
so analysing every frame of a still stretch adds little. :class:`AdaptiveFrames` picks
the frames to analyse as the clip is decoded, in one pass, so one VIDEO-mode landmarker
sees them in timestamp order and tracks the subject throughout:

1. The clip is cut into *intervals* of ``step`` frames (``step = round(fps /
   SamplingPolicy.sparse_fps)``: 4 at 30 fps). The frame that ends an interval is always
   analysed, so still stretches are analysed at about ``sparse_fps``.
2. Before that end frame goes to the model, the interval is looked at (the look-ahead):
   the lower legs' region of the picture (from the subject's landmarks in the last
   analysed frame, widened by the shank length so a swinging foot stays inside) is
   compared between the interval's first and last frame. When enough pixels changed,
   something moves there, and every frame of the interval is analysed, in order.
3. The angles measured at the end of each interval are compared with those at its start:
   a leg that turned by more than ``still_deg`` keeps the next ``hot_intervals`` intervals
   dense too (the end of a movement, where a hold starts, and a backstop for footage
   whose motion the pixel test cannot see).

So a rise, the arrival at each hold and the leaving of it are analysed at the full frame
rate, the still neutral and the middle of a hold at ``sparse_fps``. The frames skipped
are decoded (they must be, for the ones after them) but never converted or analysed.
Which frames were analysed is in the records (their ``frame_index``); the protocol works
on whatever frames it is given (:mod:`hiprom.pipeline.summarise`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from hiprom.core.landmarks import LandmarkName
from hiprom.media.frames import Frame
from hiprom.pipeline.analysis import FrameRecord

__all__ = ["DEFAULT_POLICY", "AdaptiveFrames", "SamplingPolicy", "interval_step", "leg_region",
           "moved_fraction"]

#: Knees, ankles, heels and toes: the points that move in the seated test.
_LOWER_LEG = np.array([
    LandmarkName.LEFT_KNEE, LandmarkName.RIGHT_KNEE, LandmarkName.LEFT_ANKLE,
    LandmarkName.RIGHT_ANKLE, LandmarkName.LEFT_HEEL, LandmarkName.RIGHT_HEEL,
    LandmarkName.LEFT_FOOT_INDEX, LandmarkName.RIGHT_FOOT_INDEX,
])
_KNEES = [LandmarkName.LEFT_KNEE, LandmarkName.RIGHT_KNEE]
_ANKLES = [LandmarkName.LEFT_ANKLE, LandmarkName.RIGHT_ANKLE]
#: The motion test runs on a grey copy of the region at most this many pixels across.
_PROBE_PX = 160


@dataclass(frozen=True)
class SamplingPolicy:
    """How sparse is sparse and what counts as movement.

    Attributes:
        sparse_fps: frames analysed per second of video where nothing moves.
        motion_level: grey levels (0–255, after a light blur and removing the region's
            change in mean brightness) by which a pixel must change to count as moved.
        motion_fraction: fraction of the legs' region that must have moved for the
            interval to be analysed densely.
        still_deg: a leg whose measured angle changed by less than this between two
            analysed interval ends counts as still.
        margin_shank: the legs' region reaches this many shank lengths beyond the
            outermost knee, ankle, heel or toe.
        warmup_s: the clip's first seconds are analysed every frame, while the tracker
            settles on the subject.
        moving_step: in the middle of a movement (moving intervals before and after),
            every ``moving_step``-th frame is analysed.
        lookahead: intervals decoded ahead of the one being chosen (0 or 1); with 1, the
            end of a movement (the start of a hold) is seen before it is analysed.

    """

    sparse_fps: float = 7.5
    motion_level: float = 12.0
    motion_fraction: float = 0.003
    still_deg: float = 1.0
    margin_shank: float = 0.8
    warmup_s: float = 0.25
    moving_step: int = 4
    lookahead: int = 1
    onset_dense: bool = True


def interval_step(fps: float, sparse_fps: float) -> int:
    """Frames per interval: ``round(fps / sparse_fps)``, at least 1 (1 when fps is unknown).

    Examples:
        >>> interval_step(30.0, 7.5), interval_step(60.0, 7.5), interval_step(0.0, 7.5)
        (4, 8, 1)

    """
    if not (math.isfinite(fps) and fps > 0):
        return 1
    return max(1, round(fps / sparse_fps))


def leg_region(record: FrameRecord | None, resolution_wh: tuple[int, int], *,
               mirrored: bool = False, margin_shank: float = 0.8
               ) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` pixels of the raw frame around the subject's lower legs.

    From the landmarks of ``record`` (which are in the un-mirrored frame, so they are
    flipped back for a mirrored input); the whole frame when there are none.
    """
    w, h = resolution_wh
    if record is None or record.xy is None:
        return 0, 0, w, h
    pts = np.asarray(record.xy, np.float64)[_LOWER_LEG]
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if pts.size == 0:
        return 0, 0, w, h
    shank = np.hypot(*(record.xy[_ANKLES] - record.xy[_KNEES]).T)
    margin = margin_shank * float(np.nanmax(shank)) if np.isfinite(shank).any() else 0.0
    margin = max(margin, 0.05 * max(w, h))
    x0, y0 = pts.min(axis=0) - margin
    x1, y1 = pts.max(axis=0) + margin
    if mirrored:
        x0, x1 = w - x1, w - x0
    x0, y0 = int(np.clip(x0, 0, w - 1)), int(np.clip(y0, 0, h - 1))
    x1, y1 = int(np.clip(np.ceil(x1), x0 + 1, w)), int(np.clip(np.ceil(y1), y0 + 1, h))
    return x0, y0, x1, y1


def _probe(image_bgr: npt.NDArray[np.uint8], region: tuple[int, int, int, int]
           ) -> npt.NDArray[np.float32]:
    x0, y0, x1, y1 = region
    grey = cv2.cvtColor(image_bgr[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    scale = min(1.0, _PROBE_PX / max(grey.shape))
    if scale < 1.0:
        size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    grey = cv2.GaussianBlur(grey, (3, 3), 0).astype(np.float32)
    return grey - float(grey.mean())


def moved_fraction(a_bgr: npt.NDArray[np.uint8], b_bgr: npt.NDArray[np.uint8],
                   region: tuple[int, int, int, int], *, level: float = 12.0) -> float:
    """Fraction of ``region``'s pixels whose grey value differs by more than ``level``.

    Both crops are shrunk to at most 160 px across and lightly blurred (sensor noise and
    compression grain stay below ``level``), and their mean brightness is removed, so a
    camera's exposure drift does not count as movement.
    """
    diff = np.abs(_probe(a_bgr, region) - _probe(b_bgr, region))
    return float(np.count_nonzero(diff > level)) / float(diff.size)


def _angles(record: FrameRecord | None) -> tuple[float, float]:
    if record is None or record.legs is None:
        return (math.nan, math.nan)
    return (record.legs.left.rotation_deg, record.legs.right.rotation_deg)


def _changed(a: tuple[float, float], b: tuple[float, float], still_deg: float) -> bool:
    """Whether a leg turned by more than ``still_deg``, or became (un)measurable."""
    for x, y in zip(a, b, strict=True):
        if math.isfinite(x) != math.isfinite(y):
            return True
        if math.isfinite(x) and abs(x - y) > still_deg:
            return True
    return False


@dataclass
class _Interval:
    frames: list[Frame]
    moved: bool
    #: A damaged section was skipped in or just before it (frame indices jump).
    gap: bool = False


class AdaptiveFrames(Iterator[Frame]):
    """The frames of a clip worth analysing, chosen while the clip is decoded.

    Iterate it instead of the clip's frames and feed what it yields to the per-frame
    loop (:func:`hiprom.pipeline.analysis.iter_records`), which appends each frame's
    record to ``records`` before it asks for the next frame: the choice of the next
    frames uses the records of the frames already analysed.

    Args:
        frames: every frame of the clip, in order.
        records: the list the per-frame loop appends its records to.
        step: frames per interval (:func:`interval_step`).
        mirrored: the frames are mirrored (the records' landmarks are not).
        policy: thresholds (:class:`SamplingPolicy`).

    Attributes:
        frames_seen: frames taken from ``frames``.
        frames_yielded: frames handed on for analysis.
        intervals: intervals looked at; ``dense_intervals`` of them analysed every frame.

    """

    def __init__(self, frames: Iterator[Frame], records: Sequence[FrameRecord], *, step: int,
                 mirrored: bool = False, policy: SamplingPolicy | None = None) -> None:
        if step < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        self.step = step
        self.policy = policy or DEFAULT_POLICY
        self.frames_seen = 0
        self.frames_yielded = 0
        self.intervals = 0
        self.dense_intervals = 0
        self._frames = frames
        self._records = records
        self._mirrored = mirrored
        self._gen = self._generate()

    def __next__(self) -> Frame:
        frame = next(self._gen)
        self.frames_yielded += 1
        return frame

    def _record_of(self, frame: Frame | None) -> FrameRecord | None:
        """The record the loop made for ``frame`` (the last one, if it was analysed)."""
        if frame is None or not self._records:
            return None
        last = self._records[-1]
        return last if last.frame_index == frame.index else None

    def _read_interval(self, previous_end: Frame) -> _Interval | None:
        """The next ``step`` frames (fewer at the end), and whether the legs moved in them."""
        frames = []
        for frame in self._frames:
            self.frames_seen += 1
            frames.append(frame)
            if len(frames) == self.step:
                break
        if not frames:
            return None
        latest = self._records[-1] if self._records else None
        region = leg_region(latest, previous_end.resolution_wh, mirrored=self._mirrored,
                            margin_shank=self.policy.margin_shank)
        moved = moved_fraction(previous_end.image_bgr, frames[-1].image_bgr, region,
                               level=self.policy.motion_level) > self.policy.motion_fraction
        indices = [previous_end.index, *(f.index for f in frames)]
        gap = any(b - a > 1 for a, b in zip(indices, indices[1:], strict=False))
        return _Interval(frames, moved, gap)

    def _choose(self, interval: _Interval, *, before: bool, after: bool, hot: bool,
                warm: bool) -> list[Frame]:
        """The frames of ``interval`` to analyse, given movement in it and around it."""
        frames = interval.frames
        # After a damaged section the picture jumps: analyse the interval densely, so the
        # frames after the gap start from a fresh record instead of being held over it.
        if warm or hot or interval.gap or (interval.moved and before and not after):
            return frames
        if interval.moved and not before and self.policy.onset_dense:
            return frames
        if interval.moved:  # in the middle of a movement
            return frames[len(frames) - 1::-self.policy.moving_step][::-1]
        return frames[-1:]

    def _generate(self) -> Iterator[Frame]:
        policy = self.policy
        try:
            first = next(self._frames)
        except StopIteration:
            return
        self.frames_seen += 1
        yield first
        start_angles = _angles(self._record_of(first))
        ahead: deque[_Interval] = deque()
        before = hot = False
        end_of_clip = False
        previous_end = first
        while True:
            while not end_of_clip and len(ahead) <= policy.lookahead:
                interval = self._read_interval(previous_end)
                if interval is None:
                    end_of_clip = True
                else:
                    ahead.append(interval)
                    previous_end = interval.frames[-1]
            if not ahead:
                return
            interval = ahead.popleft()
            after = ahead[0].moved if ahead else False
            end = interval.frames[-1]
            warm = end.timestamp_s - first.timestamp_s <= policy.warmup_s
            chosen = self._choose(interval, before=before, after=after, hot=hot, warm=warm)
            self.intervals += 1
            self.dense_intervals += len(chosen) == len(interval.frames)
            yield from chosen
            end_angles = _angles(self._record_of(end))
            turned = _changed(start_angles, end_angles, policy.still_deg)
            # A turn the picture did not show: analyse the next interval densely.
            hot = turned and not interval.moved
            before = interval.moved or turned
            start_angles = end_angles


#: The policy :func:`hiprom.pipeline.measure.measure_clip` samples clips with.
DEFAULT_POLICY = SamplingPolicy()
