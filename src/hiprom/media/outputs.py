"""Write a measurement to disk: JSON, CSV, key frame, annotated media.

File names, per input ``<stem>``: ``<stem>.json``, ``<stem>.csv``, ``<stem>.keyframe.png``
(the frame of the largest held rotation with the overlay), and with ``annotate=True``
``<stem>.annotated.webm`` for a clip (VP8, plays in browsers) or ``<stem>.annotated.png``
for a photo. The files of one measurement are written as a set: each under a temporary
name first, then all renamed into place, so an interrupted or failed write (Ctrl-C, a full
disk) leaves none of them under a final name (:class:`~hiprom.media.sinks.AtomicFiles`).

Faces are blurred in every image written (:class:`hiprom.media.privacy.FaceBlurrer`: the
BlazeFace detectors on each frame and the head landmarks of everyone the pose model
found) unless ``blur_faces=False`` (``--show-faces``); the JSON records which
(``faces_blurred``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from hiprom.core.geometry import assign_sides, pelvis_down
from hiprom.core.landmarks import LEG_LANDMARKS
from hiprom.media import overlay
from hiprom.media.camera import DEFAULT_CAMERA_FPS
from hiprom.media.document import result_document
from hiprom.media.sinks import AtomicFiles, CsvSink, VideoSink, write_image, write_json_atomic
from hiprom.media.sources import iter_images, iter_video, read_frame
from hiprom.results.measurement import CSV_COLUMNS, Measurement, json_number
from hiprom.vocabulary import LATERAL_SIGN, SIDES

__all__ = ["RESULT_SUFFIXES", "annotate_frame", "key_frame_index", "unmatched_results",
           "write_outputs"]

#: Every file ``hiprom measure`` may write for an input ``<stem>``: ``<stem><suffix>``.
RESULT_SUFFIXES = (".json", ".csv", ".keyframe.png", ".annotated.webm", ".annotated.png",
                   ".mot", ".c3d")

log = logging.getLogger(__name__)
FrameHook = Callable[[np.ndarray, int], np.ndarray]


def _anatomical(xy: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(hip, knee, ankle) per anatomical side, by the same rule as the measurement."""
    a, b = (LEG_LANDMARKS["left"], LEG_LANDMARKS["right"])
    if assign_sides(xy):
        a, b = b, a
    return {"left": tuple(xy[i] for i in a), "right": tuple(xy[i] for i in b)}


#: Compensation flags in the words the overlay shows on the frames of a flagged rep.
_COMPENSATION_WORDS = {"pelvis_roll": "pelvis lifting", "trunk_lean": "trunk leaning",
                       "knee_drift": "knee drifting"}


def annotate_frame(image_bgr: np.ndarray, m: Measurement, i: int, *,
                   summary: bool = True) -> np.ndarray:
    """Draw frame ``i`` of ``m`` on ``image_bgr`` (a new image is returned).

    Each measured leg gets its shank, reference and angle, labelled beside the shank on the
    leg's lateral side (``"L IR 37°"``; ER as a positive magnitude, as in the JSON). With
    ``summary``, a header gives each leg's angle in this frame and its held result once the
    reps behind it are over, and a warning names a compensation during a flagged rep. Only
    the legs the result reports get numbers: a leg that was not tested, or any leg of an
    input that is not the seated test, is drawn without them (its JSON values are null).
    """
    out = image_bgr
    if (m.landmarks_xy is None or m.landmarks_visibility is None
            or not np.isfinite(m.landmarks_xy[i]).all()):
        return overlay.draw_panel(out, ["no person"]) if summary else out
    xy, vis = m.landmarks_xy[i], m.landmarks_visibility[i]
    out = overlay.draw_legs(out, xy, vis)
    legs = _anatomical(xy)
    down = pelvis_down(legs["left"][0], legs["right"][0])
    for side in SIDES:
        if not _reported(m, side):
            continue
        _, knee, ankle = legs[side]
        reference = down
        if side in m.fulcrum:  # the angle was measured about the neutral knee
            knee, reference = m.fulcrum[side]
        value = float(m.rotation_deg[side][i])
        if np.isfinite(value):
            out = overlay.draw_angle(out, knee, ankle, knee + reference * 50.0, value,
                                     text=overlay.rotation_label(side, value),
                                     label_side=LATERAL_SIGN[side])
    if summary:
        out = overlay.draw_panel(out, _summary_lines(m, i), corner="top-left")
        warnings = _flagged_rep_lines(m, i)
        if warnings:
            out = overlay.draw_panel(out, warnings, corner="bottom-left", alpha=0.8)
    return out


def _degrees(value: float | None, ci: float | None = None) -> str:
    # rounded as the result file stores them first, so the picture shows what it says
    value, ci = json_number(value), json_number(ci)
    if value is None:
        return "--"
    return f"{value:.1f}°" + ("" if ci is None else f" +/-{ci:.1f}°")  # the font has no ±


def _reported(m: Measurement, side: str) -> bool:
    """Whether the result gives ``side`` a value: a tested leg of a seated test."""
    return m.valid and m.tested.get(side, True)


def _summary_lines(m: Measurement, i: int) -> list[str]:
    """Per leg: the angle in frame ``i``, and the held IR/ER once their reps are over."""
    if not m.valid:
        return ["Not the seated test: no values"]
    t = float(m.timestamps_s[i])
    lines = []
    for side in SIDES:
        if not _reported(m, side):
            lines.append(f"{side.capitalize()}: not tested")
            continue
        leg = m.legs[side]
        if m.source.kind == "still":   # one picture: its value is the result, with no reps
            name, angle, ci = (
                ("IR", leg.internal_rotation_deg, leg.internal_rotation_ci95_deg)
                if leg.internal_rotation_deg is not None else
                ("ER", leg.external_rotation_deg, leg.external_rotation_ci95_deg))
            lines.append(f"{side.capitalize()}: {name} {_degrees(angle, ci)}")
            continue
        now = overlay.rotation_label(side, float(m.rotation_deg[side][i]))[2:]
        held = []
        for direction, value, ci in (
                ("internal", leg.internal_rotation_deg, leg.internal_rotation_ci95_deg),
                ("external", leg.external_rotation_deg, leg.external_rotation_ci95_deg)):
            ends = [r.hold.end_s for r in leg.reps if r.used and r.direction == direction]
            reached = value is not None and ends and t >= max(ends)
            held.append(f"{'IR' if direction == 'internal' else 'ER'} "
                        + (_degrees(value, ci) if reached else "--"))
        lines.append(f"{side.capitalize()}: now {now} | held {', '.join(held)}")
    return lines


def _flagged_rep_lines(m: Measurement, i: int) -> list[str]:
    """A warning for each leg whose rep at frame ``i`` has a compensation flag."""
    lines = []
    for side in (s for s in SIDES if _reported(m, s)):
        for rep in m.legs[side].reps:
            words = [_COMPENSATION_WORDS[f] for f in rep.flags if f in _COMPENSATION_WORDS]
            if words and rep.hold.start_index <= i <= rep.hold.end_index:
                what = "not used" if not rep.used else "value unreliable"
                lines.append(f"Warning: {side} rep with {' and '.join(words)} - {what}")
    return lines


def key_frame_index(m: Measurement) -> int:
    """Index (into the analysed frames) of the middle of the largest used IR hold."""
    best, best_value = None, -np.inf
    for side in (s for s in SIDES if _reported(m, s)):
        for rep in m.legs[side].reps:
            if rep.direction == "internal" and rep.used and rep.value_deg > best_value:
                best, best_value = rep.hold, rep.value_deg
    if best is None:
        finite = [np.nanmax(np.abs(m.rotation_deg[s])) if np.isfinite(m.rotation_deg[s]).any()
                  else -1 for s in SIDES]
        side = SIDES[int(np.argmax(finite))]
        series = np.abs(np.nan_to_num(m.rotation_deg[side], nan=-1.0))
        return int(np.argmax(series))
    mid = (best.start_index + best.end_index) // 2
    return int(np.clip(mid, 0, len(m.timestamps_s) - 1))


def _source_frames(m: Measurement, start_s: float = 0.0):  # noqa: ANN202 - iterator of Frame
    # A re-read of the input just measured: what is wrong with it (a damaged section, a
    # file cut short, a photo scaled down) was logged once then, and is not logged again.
    path = Path(m.source.path)
    if m.source.kind == "still":
        return iter_images([path], warn=False)
    return iter_video(path, start_s=start_s, warn=False)


def _write_annotated(m: Measurement, target: Path, key: int, hook: FrameHook | None,
                     files: AtomicFiles) -> np.ndarray | None:
    """Write the annotated clip or photo into ``files``; returns the key frame's drawing.

    An exception (or Ctrl-C) part-way leaves the video unfinished: the sink sees it and its
    temporary file is dropped instead of being renamed as if complete.
    """
    analysed = np.asarray(m.frame_index, np.int64)
    # Every analysed frame at an even stride (every frame, --stride) is drawn at the stride's
    # rate; adaptively sampled clips are drawn frame by frame, each source frame with the
    # overlay of the last frame analysed at or before it, so the video keeps its length.
    steps = np.diff(analysed)
    uneven = m.source.kind != "still" and steps.size > 0 and bool(np.any(steps != steps[0]))
    wanted = {int(f): i for i, f in enumerate(analysed)}
    key_image = None
    with contextlib.ExitStack() as stack:
        writer: VideoSink | None = None
        for frame in _source_frames(m):
            found = (int(np.searchsorted(analysed, frame.index, side="right")) - 1 if uneven
                     else wanted.get(frame.index, -1))
            if found < 0:
                continue
            i = found
            image = frame.image_bgr[:, ::-1] if m.source.mirrored else frame.image_bgr
            image = np.ascontiguousarray(image)
            if hook is not None:
                image = hook(image, i)
            drawn = annotate_frame(image, m, i)
            if i == key and frame.index == analysed[key]:
                key_image = annotate_frame(image, m, i, summary=False)
            if m.source.kind == "still":
                write_image(target.with_suffix(".png"), drawn, group=files)
                continue
            if writer is None:
                fps = m.source.fps or DEFAULT_CAMERA_FPS
                writer = stack.enter_context(VideoSink(
                    target, fps=fps if uneven else fps / max(1, _stride(m)),
                    resolution_wh=frame.resolution_wh, group=files))
            writer.write_frame(drawn)
    return key_image


def _stride(m: Measurement) -> int:
    if len(m.frame_index) < 2:
        return 1
    return max(1, int(np.median(np.diff(m.frame_index))))


def write_outputs(
    m: Measurement,
    out_dir: str | Path,
    *,
    annotate: bool = False,
    key_frame: bool = True,
    frame_hook: FrameHook | None = None,
    stem: str | None = None,
    files: AtomicFiles | None = None,
    blur_faces: bool = True,
) -> list[Path]:
    """Write the result files of ``m`` into ``out_dir`` as one set; returns their paths.

    Every file goes to a temporary name first; only when all are complete are they renamed
    into place. On any error (or Ctrl-C) none of them appears under its final name.

    Args:
        m: the measurement.
        out_dir: created if missing.
        annotate: also write the annotated clip (``.annotated.webm``) or photo (``.annotated.png``).
        key_frame: write ``<stem>.keyframe.png`` (needs the source file to be readable).
        frame_hook: applied to each source frame before drawing, instead of the face
            blurring (the caller's hook then owns privacy; ``faces_blurred`` records
            ``blur_faces``).
        stem: file stem; defaults to the source's.
        files: add the files to this set (the caller commits it) instead of committing
            them here.
        blur_faces: blur every face in the images written (False: ``--show-faces``).
            Recorded as ``m.faces_blurred`` and in the JSON.

    """
    if files is None:
        with AtomicFiles() as own:
            return write_outputs(m, out_dir, annotate=annotate, key_frame=key_frame,
                                 frame_hook=frame_hook, stem=stem, files=own,
                                 blur_faces=blur_faces)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = stem or Path(m.source.path).stem
    m = replace(m, faces_blurred=blur_faces)
    written = [write_json_atomic(out / f"{stem}.json", result_document(m), group=files)]
    with CsvSink(out / f"{stem}.csv", CSV_COLUMNS, group=files) as sink:
        for row in m.csv_rows():
            sink.append(row)
    written.append(out / f"{stem}.csv")
    if annotate or key_frame:
        key = key_frame_index(m)
        suffix = ".annotated.png" if m.source.kind == "still" else ".annotated.webm"
        target = out / f"{stem}{suffix}"
        with _privacy_hook(m, frame_hook, blur_faces) as hook:
            if annotate:
                key_image = _write_annotated(m, target, key, hook, files)
                if files.pending(target):
                    written.append(target)
            else:
                key_image = _key_image_only(m, key, hook)
        if key_frame and key_image is not None:
            written.append(write_image(out / f"{stem}.keyframe.png", key_image, group=files))
    return written


def unmatched_results(out_dir: str | Path, stem: str, files: AtomicFiles) -> list[Path]:
    """Files named like ``<stem>``'s results that the set ``files`` does not rewrite.

    An earlier run's ``clip.mot`` or ``clip.annotated.webm`` beside this run's ``clip.json``
    may disagree with it (another input of the same name, other options); but a file of
    that name may as well be the user's own (a lab's ``trial01.c3d``), so it is named,
    never removed.
    """
    return [target for suffix in RESULT_SUFFIXES
            if (target := Path(out_dir) / f"{stem}{suffix}").is_file()
            and not files.pending(target)]


@contextlib.contextmanager
def _privacy_hook(m: Measurement, frame_hook: FrameHook | None,
                  blur_faces: bool) -> Iterator[FrameHook | None]:
    """The caller's hook, or a face blurrer with an open face detector, or nothing."""
    if frame_hook is not None or not blur_faces:
        yield frame_hook
        return
    from hiprom.backends.faces import open_detector
    from hiprom.media.privacy import FaceBlurrer

    t0 = time.perf_counter()
    with open_detector() as detector:
        blurrer = FaceBlurrer(m, detector)
        yield blurrer
    log.debug("faces blurred in %d frames (%d detections) in %.2f s", blurrer.frames,
              blurrer.detections, time.perf_counter() - t0)


def _key_image_only(m: Measurement, key: int, hook: FrameHook | None) -> np.ndarray | None:
    if m.source.kind == "still" or not len(m.frame_index):
        frame = next(iter(_source_frames(m)), None)
    else:
        frame = read_frame(m.source.path, index=int(m.frame_index[key]),
                           timestamp_s=float(m.timestamps_s[key]))
    if frame is None:
        return None
    image = frame.image_bgr[:, ::-1] if m.source.mirrored else frame.image_bgr
    image = np.ascontiguousarray(image)
    if hook is not None:
        image = hook(image, key)
    return annotate_frame(image, m, key, summary=False)
