"""Measure one file end to end: source → pose backend → geometry → protocol → Measurement."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from hiprom._hashing import sha256_file
from hiprom.backends.base import PoseBackend, PoseModel, RunningMode
from hiprom.core.calibration import terms_for
from hiprom.core.geometry import LegMeasurement
from hiprom.core.landmarks import Landmarks
from hiprom.core.posture import check_seated_test, limits_for
from hiprom.core.protocol import (
    LegResult,
    summarise_still,
)
from hiprom.core.selection import PersonPolicy, PersonTracker
from hiprom.errors import MeasurementError, SourceError
from hiprom.media.camera import DEFAULT_CAMERA_FPS
from hiprom.media.frames import Frame
from hiprom.media.sources import VideoFrames, is_image, iter_images, iter_video
from hiprom.pipeline import sampling
from hiprom.pipeline.analysis import (
    Analysis,
    BackendFactory,
    FrameRecord,
    MeasureOptions,
    TestedSide,
    augment_still,
    check_subject,
    iter_records,
    light_levels,
    measure_frame,
    others_of,
)
from hiprom.pipeline.sampling import AdaptiveFrames, interval_step
from hiprom.pipeline.summarise import Excluded, summarise_records
from hiprom.results.measurement import Measurement, SourceInfo
from hiprom.vocabulary import LATERAL_SIGN, SIDES, Side

__all__ = ["Progress", "default_backend_factory", "measure_path", "measurement_from_analysis"]

#: ``progress(frames_done, frames_declared)``: called per analysed frame of a clip.
Progress = Callable[[int, int], None]

log = logging.getLogger(__name__)
#: Clips look for people besides the subject once every this many measured frames (once
#: a second at 30 fps): the 2-person search costs about 1.6 tracked frames, so ~5%.
CROWD_CHECK_FRAMES = 30
#: With adaptive sampling, other people are looked for every this many seconds of video:
#: about once per 30 analysed frames, as at full rate (about 35 % of a 30 fps clip's
#: frames are analysed; docs/PERFORMANCE.md).
ADAPTIVE_CROWD_CHECK_S = 3.0


def default_backend_factory(mode: RunningMode, *, follow_several: bool = False,
                            crowd_check_s: float = 1.0,
                            model: PoseModel = PoseModel.FULL,
                            second_network: bool = False) -> PoseBackend:
    """The bundled MediaPipe model in the given mode.

    Clips track one subject and look for other people every ``crowd_check_s`` seconds of
    video (see :class:`~hiprom.backends.mediapipe.MediaPipeBackend`); with
    ``follow_several`` (an explicit ``--subject largest|center`` choice) and for stills,
    up to 2 people are found in every frame. With ``second_network`` the knees and ankles
    are averaged with MoveNet Thunder's (:mod:`hiprom.backends.movenet`).
    """
    from hiprom.backends.mediapipe import MediaPipeBackend

    backend: PoseBackend
    if mode is RunningMode.VIDEO and not follow_several:
        backend = MediaPipeBackend(mode=mode, num_poses=1, crowd_check_s=crowd_check_s,
                                   model=model)
    else:
        backend = MediaPipeBackend(mode=mode, num_poses=2, model=model)
    if not second_network:
        return backend
    from hiprom.backends.movenet import SecondNetworkBackend

    return SecondNetworkBackend(backend)


def _model_of(backend_factory: BackendFactory | None,
              options: MeasureOptions) -> dict[str, Any]:
    """The result's ``model``: the pose network's name and sha256 (and the second's)."""
    if backend_factory is not None:
        return {"name": "custom", "sha256": ""}
    from hiprom.backends.mediapipe import model_info

    info: dict[str, Any] = model_info(model=options.model)
    if options.second_network:
        from hiprom.backends import movenet

        info["second_network"] = model_info(movenet.model_path())
    return info


def _per_frame(analysis: Analysis, attr: str) -> np.ndarray:
    return np.array(
        [np.nan if r.legs is None else getattr(r.legs, attr) for r in analysis.records], np.float64
    )


def _leg_array(analysis: Analysis, side: Side, attr: str) -> np.ndarray:
    return np.array(
        [np.nan if r.legs is None else getattr(r.legs.leg(side), attr) for r in analysis.records],
        np.float64,
    )


def measurement_from_analysis(
    analysis: Analysis,
    source: SourceInfo,
    *,
    model: dict[str, str],
    quality: tuple[str, ...] = (),
    options: MeasureOptions = MeasureOptions(),
    exclude: Sequence[Excluded] = (),
) -> Measurement:
    """A clip's measurement: its records summarised, plus the result files' per-frame arrays.

    The legs come from :func:`~hiprom.pipeline.summarise.summarise_records`, as in every
    other entry point; ``exclude`` is passed on to it.
    """
    t = np.array([r.timestamp_s for r in analysis.records], np.float64)
    summary = summarise_records(analysis.records, resolution_wh=analysis.resolution_wh,
                                options=options, exclude=exclude)
    legs, rotation, fulcrum = summary.legs, summary.rotation_deg, summary.fulcrum
    tested: dict[str, bool] = {
        side: _tested_in_clip(side, legs[side], rotation[side], options) for side in SIDES}
    protocol = (check_seated_test([r.legs for r in analysis.records],
                                  limits=limits_for(options.model),
                                  min_visibility=options.min_visibility,
                                  resolution_wh=analysis.resolution_wh,
                                  light=[r.light for r in analysis.records
                                         if r.light is not None])
                if options.check_posture else None)
    xy = np.full((len(t), 33, 2), np.nan, np.float32)
    vis = np.zeros((len(t), 33), np.float32)
    for i, r in enumerate(analysis.records):
        if r.xy is not None:
            xy[i], vis[i] = r.xy, r.visibility
    return Measurement(
        source=source,
        legs=legs,
        timestamps_s=t,
        frame_index=np.array([r.frame_index for r in analysis.records], np.int64),
        rotation_deg=rotation,
        naive_deg={s: LATERAL_SIGN[s] * _leg_array(analysis, s, "shank_angle_deg") for s in SIDES},
        pelvis_roll_deg=_per_frame(analysis, "pelvis_roll_deg"),
        trunk_lean_deg=_per_frame(analysis, "trunk_lean_deg"),
        visibility={s: _leg_array(analysis, s, "visibility") for s in SIDES},
        n_persons=np.array([r.n_persons for r in analysis.records], np.int64),
        model=model,
        quality=quality,
        landmarks_xy=xy,
        landmarks_visibility=vis,
        others_xy=[r.others_xy for r in analysis.records],
        fulcrum=fulcrum,
        protocol=protocol,
        tested=tested,
        side_note=_clip_side_note(legs, rotation, tested, options),
    )


def _clip_side_note(legs: dict[str, LegResult], rotation: dict[str, np.ndarray],
                    tested: dict[str, bool], options: MeasureOptions) -> str | None:
    """A note when the legs' movement contradicts which leg was (said to be) tested."""
    if options.side is TestedSide.AUTO:
        return None if any(tested.values()) else UNTESTED_CLIP_NOTE
    if options.side is TestedSide.BOTH:
        return None
    auto = replace(options, side=TestedSide.AUTO)
    moved = {str(side): _tested_in_clip(side, legs[side], rotation[side], auto)
             for side in SIDES}
    named = options.side.value
    other = "left" if named == "right" else "right"
    if moved[other] and not moved[named]:
        return (f"--side {named} named the {named} leg, but only the {other} leg moved: "
                f"was the {other} leg the one tested? (--side auto finds it)")
    return None


#: The note of a clip in which neither leg moved from its posture (``--side auto``).
UNTESTED_CLIP_NOTE = ("neither leg moved from its starting posture, so neither was tested: "
                      "film from the neutral (shins hanging vertical) through the turn "
                      "(hiprom measure --side left or right scores a leg held still)")

#: A leg that moves this far (5th to 95th percentile of its angle) was tested, hold or not.
EXCURSION_DEG = 6.0


def _tested_in_clip(side: str, leg: LegResult, rotation_deg: np.ndarray,
                    options: MeasureOptions) -> bool:
    """Whether ``side`` was tested in a clip (see ``MeasureOptions.side``).

    A leg with a rep that was used, measured from its own neutral, was tested. Otherwise
    the leg's movement decides: a resting leg's landmarks can wobble into a short "rep"
    that is never used, and a resting leg that never hangs vertical has no neutral, so its
    posture for the whole clip reads as one long "rep" against vertical; neither makes it
    tested unless the leg also moved.
    """
    if options.side is TestedSide.BOTH:
        return True
    if options.side is not TestedSide.AUTO:
        return side == options.side.value
    if leg.neutral_hold is not None and any(rep.used for rep in leg.reps):
        return True
    finite = rotation_deg[np.isfinite(rotation_deg)]
    if finite.size < 2:
        return False
    spread = float(np.percentile(finite, 95) - np.percentile(finite, 5))
    return spread > EXCURSION_DEG


#: In a photo, a leg within this of vertical is the resting one when the other is clearly
#: rotated (beyond :data:`STILL_ROTATED_DEG`).
STILL_RESTING_DEG = 5.0
STILL_ROTATED_DEG = 10.0


def _tested_in_still(angles: dict[str, float], options: MeasureOptions
                     ) -> tuple[dict[str, bool], str | None]:
    """Which legs a photo tested, and a note when that cannot be told."""
    if options.side is TestedSide.BOTH:
        return {s: True for s in SIDES}, None
    if options.side is not TestedSide.AUTO:
        return {s: s == options.side.value for s in SIDES}, None
    size = {s: abs(a) if np.isfinite(a) else 0.0 for s, a in angles.items()}
    for side, other in (("left", "right"), ("right", "left")):
        if size[side] < STILL_RESTING_DEG and size[other] > STILL_ROTATED_DEG:
            return {side: False, other: True}, None
    note = None
    if all(v > STILL_RESTING_DEG for v in size.values()):
        note = ("both legs are rotated, so the photo cannot tell which one was tested; "
                "both are reported: pass --side left or --side right to name it")
    return {s: True for s in SIDES}, note


def _whole_input_flags(analysis: Analysis, truncated: bool,
                       decode_gap: bool = False) -> tuple[str, ...]:
    flags = []
    if truncated:
        flags.append("truncated")
    if decode_gap:
        flags.append("decode_gap")
    if analysis.tracker.frames_crowded:
        flags.append("crowded")
    return tuple(flags)


def _clip_frames(path: Path, options: MeasureOptions, analysis: Analysis
                 ) -> tuple[VideoFrames, Iterator[Frame], float]:
    """The clip's decoder, the frames to analyse, and how often to look for other people.

    Adaptive by default (:mod:`hiprom.pipeline.sampling`); every frame or a fixed stride
    when the options ask for it.
    """
    if not options.adaptive:
        video = iter_video(path, stride=options.stride, max_fps=options.max_fps)
        fps = video.info.fps if video.info.fps > 0 else DEFAULT_CAMERA_FPS
        return video, video, CROWD_CHECK_FRAMES * video.stride / fps
    video = iter_video(path)
    fps = video.info.fps if video.info.fps > 0 else DEFAULT_CAMERA_FPS
    step = interval_step(fps, sampling.DEFAULT_POLICY.sparse_fps)
    frames = AdaptiveFrames(video, analysis.records, step=step, mirrored=options.mirrored)
    return video, frames, ADAPTIVE_CROWD_CHECK_S


def _sampling_label(options: MeasureOptions, video: VideoFrames) -> str:
    if options.adaptive:
        return "adaptive"
    return "every_frame" if video.stride == 1 else f"stride_{video.stride}"


def measure_clip(
    path: Path,
    *,
    options: MeasureOptions,
    backend_factory: BackendFactory | None = None,
    sha256: str | None = None,
    progress: Progress | None = None,
) -> Measurement:
    """Measure a video file (see :func:`measure_path`)."""
    analysis = Analysis(tracker=PersonTracker(policy=options.subject))
    video, frames, crowd_check_s = _clip_frames(path, options, analysis)
    total = video.info.frame_count
    if backend_factory is None:
        several = options.subject is not PersonPolicy.AUTO
        backend = default_backend_factory(RunningMode.VIDEO, follow_several=several,
                                          crowd_check_s=crowd_check_s, model=options.model,
                                          second_network=options.second_network)
    else:
        backend = backend_factory(RunningMode.VIDEO)
    with backend:
        for record in iter_records(frames, backend, options=options, analysis=analysis):
            if progress is not None:
                progress(record.frame_index + 1, total)
    check_subject(analysis, options=options, what=str(path))
    info = video.info
    source = SourceInfo(
        path=str(path), kind="clip", fps=info.fps or None, n_frames=video.frames_decoded,
        duration_s=float(analysis.records[-1].timestamp_s) if analysis.records else None,
        resolution_wh=analysis.resolution_wh, mirrored=options.mirrored,
        sha256=sha256 or sha256_file(path), truncated=bool(video.truncated),
        frames_analysed=len(analysis.records), sampling=_sampling_label(options, video),
        decode_gaps=tuple(video.gaps), decode_gap_s=video.gap_s,
    )
    return measurement_from_analysis(
        analysis, source, model=_model_of(backend_factory, options),
        quality=_whole_input_flags(analysis, bool(video.truncated), bool(video.gaps)),
        options=options,
    )


def _average_legs(measurements: list[LegMeasurement]) -> LegMeasurement:
    """Average the per-leg angles of several measurements of the same scene."""
    first = measurements[0]
    legs = {}
    for side in SIDES:
        poses = [m.leg(side) for m in measurements]
        mean: dict[str, Any] = {  # LegPose float fields by name
            name: float(np.nanmean([getattr(p, name) for p in poses]))
            if any(np.isfinite(getattr(p, name)) for p in poses) else float("nan")
            for name in ("rotation_deg", "rotation_uncorrected_deg", "shank_angle_deg")
        }
        legs[side] = replace(poses[0], **mean)
    return replace(first, left=legs[Side.LEFT], right=legs[Side.RIGHT])


def _still_landmarks(image_bgr: np.ndarray, backend: PoseBackend) -> list[tuple[Landmarks, bool]]:
    import cv2

    out = []
    for k, image in enumerate(augment_still(image_bgr)):
        image_rgb = cast(npt.NDArray[np.uint8], cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        lm = backend(image_rgb, timestamp_s=0.0)
        out.append((lm if k == 0 else lm.flipped_horizontally(), k > 0))
    return out


def measure_still(
    path: Path,
    *,
    options: MeasureOptions,
    backend_factory: BackendFactory | None = None,
    sha256: str | None = None,
) -> Measurement:
    """Measure a photo (see :func:`measure_path`)."""
    frame = next(iter(iter_images([path])))
    image = np.ascontiguousarray(frame.image_bgr[:, ::-1]) if options.mirrored else frame.image_bgr
    factory = backend_factory or partial(default_backend_factory, model=options.model,
                                         second_network=options.second_network)
    with factory(RunningMode.IMAGE) as backend:
        passes = _still_landmarks(image, backend)
    if not options.still_augment:
        passes = passes[:1]
    analysis = Analysis(tracker=PersonTracker(policy=options.subject),
                        resolution_wh=frame.resolution_wh)
    measured = []

    for k, (lm, _) in enumerate(passes):
        tracker = analysis.tracker if k == 0 else PersonTracker(policy=options.subject)
        legs, person = measure_frame(lm, tracker, options=options)
        if k == 0:
            xy, vis = (None, None) if person is None else (lm.xy[person].copy(),
                                                           lm.visibility[person].copy())
            analysis.records.append(FrameRecord(0, 0.0, lm.n_persons, legs, xy, vis,
                                                others_of(lm, person),
                                                light_levels(image, xy)))
        if legs is not None:
            measured.append(legs)
    check_subject(analysis, options=options, what=str(path))
    combined = _average_legs(measured)
    analysis.records[0] = replace(analysis.records[0], legs=combined)
    source = SourceInfo(path=str(path), kind="still", fps=None, n_frames=1, duration_s=None,
                        resolution_wh=frame.resolution_wh, mirrored=options.mirrored,
                        sha256=sha256 or sha256_file(path))
    m = measurement_from_analysis(analysis, source,
                                  model=_model_of(backend_factory, options),
                                  options=options)
    tested, note = _tested_in_still(
        {side: combined.leg(side).rotation_deg for side in SIDES}, options)
    return replace(
        m, legs={side: summarise_still(combined, side=side,
                                       systematic_sd_deg=terms_for(options.model).still_sd_deg)
                 for side in SIDES},
        rotation_deg={side: np.array([combined.leg(side).rotation_deg]) for side in SIDES},
        tested=tested, side_note=note)


def measure_path(
    path: str | Path,
    *,
    options: MeasureOptions = MeasureOptions(),
    backend_factory: BackendFactory | None = None,
    sha256: str | None = None,
    progress: Progress | None = None,
) -> Measurement:
    """Measure a video or a photo and summarise both legs.

    Args:
        path: a video file or a still image.
        options: see :class:`~hiprom.pipeline.analysis.MeasureOptions`.
        backend_factory: makes the pose backend for a running mode; defaults to the
            bundled MediaPipe model.
        sha256: the file's content hash when the caller already has it (the batch hashes
            every input to key its store); computed here otherwise.
        progress: called as ``progress(frames_done, frames_declared)`` while a clip is
            measured (``frames_declared`` is the container's estimate, 0 when unknown).

    Raises:
        SourceError: the file is missing, empty, not a video/image, or undecodable.
        MeasurementError: no person, legs not visible, or several people.
        BackendError: the pose model could not be loaded.

    """
    p = Path(path)
    if p.is_dir():
        raise SourceError(f"{p} is a folder; pass video or image files (or use hiprom batch)")
    if p.exists() and not p.is_file():
        # Opening a FIFO would wait for a writer forever; a device never ends.
        raise SourceError(f"{p} is not a regular file (a pipe, socket or device); pass a "
                          "video or photo file")
    if is_image(p):
        return measure_still(p, options=options, backend_factory=backend_factory, sha256=sha256)
    return measure_clip(p, options=options, backend_factory=backend_factory, sha256=sha256,
                        progress=progress)


__all__ += ["measure_clip", "measure_still", "MeasurementError"]
