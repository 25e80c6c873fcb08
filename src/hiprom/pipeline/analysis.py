"""From frames to a measurement: the loop shared by ``measure``, ``batch`` and ``live``.

``analyse`` runs the pose backend over frames, picks the subject, and measures both legs
in every frame (pure geometry). ``measure_path`` wraps it for one file: it opens the
source, chooses the backend mode (tracking for clips, independent images for stills),
and summarises the legs with the seated-test protocol into a :class:`Measurement`.
No printing, no windows, no argument parsing here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from hiprom.backends.base import PoseBackend, PoseModel, RunningMode
from hiprom.core.calibration import terms_for
from hiprom.core.geometry import LegMeasurement, measure_legs
from hiprom.core.landmarks import Landmarks
from hiprom.core.selection import PersonPolicy, PersonTracker
from hiprom.errors import InputError, MeasurementError
from hiprom.media.frames import Frame
from hiprom.vocabulary import MIN_VISIBILITY

__all__ = [
    "Analysis", "FrameRecord", "MeasureOptions", "TestedSide", "analyse", "augment_still",
]

log = logging.getLogger(__name__)

#: Hip rotation beyond this is not anatomically possible: such a frame is a landmark failure.
PLAUSIBLE_ROTATION_DEG = 90.0
BackendFactory = Callable[[RunningMode], PoseBackend]
#: Frames measured per second of video by the retired ``--fast`` (adaptive sampling is
#: the default now; ``MeasureOptions(max_fps=FAST_MAX_FPS)`` still measures at this rate).
#: On the rendered validation clips (holds of about 1.2 s) 15 fps kept every held end
#: range within 0.4° of full rate, 10 fps did not (0.63°).
FAST_MAX_FPS = 15.0


class TestedSide(str, Enum):
    """Which leg a test was of (``--side``)."""

    AUTO = "auto"
    LEFT = "left"
    RIGHT = "right"
    BOTH = "both"


@dataclass(frozen=True)
class MeasureOptions:
    """How to measure; every field has a sensible default.

    Attributes:
        mirrored: the input is a mirrored (selfie) view; it is un-mirrored before measuring.
        subject: how to choose the subject among several people (``--subject``); "person"
            means only the history profile.
        every_frame: analyse every frame of a clip (what ``--every-frame``, annotated
            videos, exports and ``live`` use). By default a clip is sampled adaptively:
            sparsely where nothing moves, every frame where the legs move
            (:mod:`hiprom.pipeline.sampling`); ``stride`` > 1 or ``max_fps`` ask for a
            fixed stride instead.
        stride: measure every ``stride``-th frame of a clip.
        max_fps: measure about this many frames per second of a clip: every n-th
            frame with n = round(clip fps / max_fps), never less than ``stride``. None
            measures every ``stride``-th frame whatever the clip's rate.
            :data:`FAST_MAX_FPS` is what the retired ``--fast`` used.
        correct_view: correct the shank angle for camera pitch/yaw estimated from the body.
        min_visibility: knee/ankle visibility below which a leg is not measured in a frame.
        max_crowded_fraction: with ``subject=auto``, refuse a clip in which a second person
            with visible legs, comparable in size, is in more than this fraction of frames.
        min_measurable_fraction: refuse an input in which fewer frames than this have a leg
            measured at a plausible angle.
        side: which leg was tested: ``auto`` (a clip: a leg that never leaves its starting
            posture was not; a photo: a leg near vertical while the other is clearly
            rotated was not), ``left``, ``right``, or ``both`` (measure both whatever their
            posture). An untested leg gets no value, verdict or red flag.
        model: which bundled pose network measures (``full``, ``heavy`` or ``lite``).
        check_posture: refuse an input that does not look like the seated test
            (:func:`hiprom.core.posture.check_seated_test`): it gets no value or verdict.
        hip_offset: hip joint centre below the model's hip landmark, in image shank lengths;
            None (the default) takes ``model``'s fitted offset
            (:func:`hiprom.core.calibration.terms_for`); the accuracy benchmark
            refits it out of sample.
        pivot: in clips, measure each leg about its neutral knee and pelvis once the
            neutral pose is found (see :mod:`hiprom.core.pivot`); False uses every frame's own
            knee and hip landmarks.
        pivot_gap: how far (degrees at 0°) the pivot reading may stray from the leg's own
            before the pivot is rejected (:func:`hiprom.core.pivot.pivot_disagreement`);
            None (the default) takes ``model``'s fitted base; the benchmark refits it.
        still_augment: for photos, also measure a mirrored copy and average, which cancels
            the model's left/right asymmetric bias.
        second_network: also run a second pose network, MoveNet Thunder, on every analysed
            frame and average its knee and ankle points with BlazePose's
            (:mod:`hiprom.backends.movenet`; ``--second-network``). Only with the full
            network, the one it was checked with; about twice the time per frame.

    """

    mirrored: bool = False
    subject: PersonPolicy = PersonPolicy.AUTO
    every_frame: bool = False
    stride: int = 1
    max_fps: float | None = None
    correct_view: bool = True
    min_visibility: float = MIN_VISIBILITY
    max_crowded_fraction: float = 0.3
    min_measurable_fraction: float = 0.25
    still_augment: bool = True
    pivot: bool = True
    hip_offset: float | None = None
    pivot_gap: float | None = None
    side: TestedSide = TestedSide.AUTO
    check_posture: bool = True
    model: PoseModel = PoseModel.FULL
    second_network: bool = False

    def __post_init__(self) -> None:
        if self.second_network and PoseModel(self.model) is not PoseModel.FULL:
            raise InputError(f"the second network was checked with the full pose network "
                             f"only, not {PoseModel(self.model).value}; drop --model or "
                             "--second-network")

    @property
    def hip_centre_offset(self) -> float:
        """``hip_offset``, or the pose network's own fitted offset when it is None."""
        return terms_for(self.model).hip_offset if self.hip_offset is None else self.hip_offset

    @property
    def pivot_gap_base_deg(self) -> float:
        """``pivot_gap``, or the pose network's own fitted base when it is None."""
        if self.pivot_gap is None:
            return terms_for(self.model).pivot_gap_base_deg
        return self.pivot_gap

    @property
    def adaptive(self) -> bool:
        """Whether clips are sampled adaptively (no full rate or fixed stride asked for)."""
        return not self.every_frame and self.stride == 1 and self.max_fps is None


@dataclass(frozen=True)
class FrameRecord:
    """What one frame contributed.

    Attributes:
        frame_index: index of the frame in its source.
        timestamp_s: its presentation time.
        n_persons: people the model found.
        legs: the subject's leg measurement, or None when nobody was found.
        xy: ``(33, 2)`` subject landmarks in px of the un-mirrored frame, or None.
        visibility: ``(33,)`` their visibility, or None.
        others_xy: ``(k, 33, 2)`` landmarks of everyone else the model found, in px of the
            un-mirrored frame (for face blurring), or None when the model did not look for
            other people in this frame (a tracked frame between searches).
        light: ``(picture, subject)`` mean grey level 0–255 (:func:`light_levels`), or None
            where it was not read.

    """

    frame_index: int
    timestamp_s: float
    n_persons: int
    legs: LegMeasurement | None
    xy: np.ndarray | None = None
    visibility: np.ndarray | None = None
    others_xy: np.ndarray | None = None
    light: tuple[float, float] | None = None


@dataclass
class Analysis:
    """Per-frame records of a clip or still plus what the subject tracker saw."""

    records: list[FrameRecord] = field(default_factory=list)
    tracker: PersonTracker = field(default_factory=PersonTracker)
    resolution_wh: tuple[int, int] = (0, 0)

    @property
    def frames_with_person(self) -> int:
        """Frames in which at least one person was found."""
        return sum(r.n_persons > 0 for r in self.records)


#: Landmarks whose bounding box is the subject's region for the light level: shoulders,
#: hips, knees and ankles.
_BODY_POINTS = (11, 12, 23, 24, 25, 26, 27, 28)


def light_levels(image_bgr: npt.NDArray[np.uint8],
                 xy: npt.NDArray[np.floating] | None) -> tuple[float, float]:
    """Mean grey level (0–255) of the picture and of the subject's body box (NaN: nobody).

    Read on every 8th pixel each way (about 50 µs at 720p): enough for a mean.
    """
    grey = image_bgr[::8, ::8].mean(axis=2)
    picture = float(grey.mean())
    if xy is None:
        return picture, float("nan")
    pts = np.asarray(xy, np.float64)[list(_BODY_POINTS)] / 8.0
    if not np.isfinite(pts).all():
        return picture, float("nan")
    h, w = grey.shape
    x0, y0 = np.clip(np.floor(pts.min(axis=0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(pts.max(axis=0)).astype(int) + 1, 1, [w, h])
    box = grey[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
    return picture, float(box.mean()) if box.size else float("nan")


def _unmirror(frame: Frame, mirrored: bool) -> Frame:
    if not mirrored:
        return frame
    return Frame(frame.index, frame.timestamp_s, np.ascontiguousarray(frame.image_bgr[:, ::-1]))


def measure_frame(
    landmarks: Landmarks, tracker: PersonTracker, *, options: MeasureOptions
) -> tuple[LegMeasurement | None, int | None]:
    """Pick the subject in one frame's landmarks and measure their legs."""
    person = tracker.select(landmarks)
    if person is None:
        return None, None
    legs = measure_legs(
        landmarks,
        person,
        correct_view=options.correct_view,
        min_visibility=options.min_visibility,
        hip_offset=options.hip_centre_offset,
    )
    return legs, person


def others_of(landmarks: Landmarks, person: int | None) -> np.ndarray | None:
    """``(k, 33, 2)`` landmarks of everyone but ``person``; None when others were not sought."""
    if not landmarks.complete:
        return None
    keep = [p for p in range(landmarks.n_persons) if p != person]
    return np.asarray(landmarks.xy[keep], np.float32).reshape(-1, 33, 2)


def iter_records(
    frames: Iterable[Frame],
    backend: PoseBackend,
    *,
    options: MeasureOptions = MeasureOptions(),
    analysis: Analysis | None = None,
) -> Iterator[FrameRecord]:
    """Measure frame after frame, yielding each :class:`FrameRecord` as it is made.

    A mirrored input is flipped back first, so every number refers to the true scene.
    """
    analysis = analysis if analysis is not None else Analysis()
    for raw in frames:
        frame = _unmirror(raw, options.mirrored)
        analysis.resolution_wh = frame.resolution_wh
        # OpenCV decodes BGR; the model wants RGB.
        image_rgb = cast(npt.NDArray[np.uint8], cv2.cvtColor(frame.image_bgr, cv2.COLOR_BGR2RGB))
        landmarks = backend(image_rgb, timestamp_s=frame.timestamp_s)
        legs, person = measure_frame(landmarks, analysis.tracker, options=options)
        record = FrameRecord(
            frame.index,
            frame.timestamp_s,
            landmarks.n_persons,
            legs,
            None if person is None else landmarks.xy[person].copy(),
            None if person is None else landmarks.visibility[person].copy(),
            others_of(landmarks, person),
            light_levels(frame.image_bgr,
                         None if person is None else landmarks.xy[person]),
        )
        analysis.records.append(record)
        yield record


def analyse(
    frames: Iterable[Frame],
    backend: PoseBackend,
    *,
    options: MeasureOptions = MeasureOptions(),
    on_frame: Callable[[FrameRecord], None] | None = None,
) -> Analysis:
    """Run :func:`iter_records` to the end and return the whole :class:`Analysis`."""
    analysis = Analysis(tracker=PersonTracker(policy=options.subject))
    for record in iter_records(frames, backend, options=options, analysis=analysis):
        if on_frame is not None:
            on_frame(record)
    return analysis


def check_subject(analysis: Analysis, *, options: MeasureOptions, what: str,
                  choose: str = "pass --subject largest or --subject center to choose") -> None:
    """Raise a clear :class:`MeasurementError` when the input cannot be measured.

    ``choose`` says how to pick one of several people (the commands without ``--subject``,
    the app and ``hiprom live``, pass their own words).
    """
    if not analysis.records:
        raise MeasurementError(f"{what}: no frame could be decoded; check the file plays")
    if analysis.frames_with_person == 0:
        raise MeasurementError(
            f"{what}: no person found; film the whole body from the front in good light"
        )
    crowded = analysis.tracker.crowded_fraction
    if options.subject is PersonPolicy.AUTO and crowded > options.max_crowded_fraction:
        raise MeasurementError(
            f"{what}: several people with visible legs ({crowded:.0%} of frames); "
            f"film one person, or {choose}"
        )
    measurable = sum(_plausible(r) for r in analysis.records)
    needed = max(1, int(options.min_measurable_fraction * len(analysis.records)))
    if measurable < needed:
        raise MeasurementError(
            f"{what}: knees and ankles clearly visible in only {measurable} of "
            f"{len(analysis.records)} frames; keep both lower legs and feet in frame, "
            "uncovered, in good light"
        )


def _plausible(record: FrameRecord) -> bool:
    """A leg measured at an angle a hip can take (|rotation| ≤ 90°) in this frame."""
    if record.legs is None:
        return False
    values = (record.legs.left.rotation_deg, record.legs.right.rotation_deg)
    return any(np.isfinite(v) and abs(v) <= PLAUSIBLE_ROTATION_DEG for v in values)


def augment_still(image_bgr: np.ndarray) -> list[np.ndarray]:
    """The photo and its mirror image, to average the model's side-dependent bias."""
    return [image_bgr, np.ascontiguousarray(image_bgr[:, ::-1])]
