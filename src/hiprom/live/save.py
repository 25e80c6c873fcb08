"""Saving a live session: summarise it as ``hiprom measure`` would, and write its files.

:mod:`hiprom.live.session` re-exports :func:`build_session`, :func:`save_session` and
:func:`save_history`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from hiprom._hashing import sha256_file
from hiprom.core.selection import PersonTracker
from hiprom.live.guide import Guide
from hiprom.live.states import ONE_PERSON
from hiprom.live.worker import LiveOptions, Worker
from hiprom.media.document import result_document
from hiprom.media.outputs import annotate_frame, write_outputs
from hiprom.media.sinks import AtomicFiles, CsvSink, write_image
from hiprom.pipeline.analysis import Analysis, FrameRecord, MeasureOptions, check_subject
from hiprom.pipeline.measure import measurement_from_analysis
from hiprom.pipeline.summarise import Excluded
from hiprom.results.measurement import CSV_COLUMNS, Measurement, SourceInfo

__all__ = ["build_session", "save_history", "save_session"]

log = logging.getLogger(__name__)


def build_session(records: list[FrameRecord], guide: Guide, source: SourceInfo, *,
                  model: dict[str, str], quality: tuple[str, ...] = (),
                  options: MeasureOptions = MeasureOptions(),
                  tracker: PersonTracker | None = None) -> Measurement:
    """Summarise a session with the pipeline of ``hiprom measure``, once.

    The per-frame arrays cover every recorded frame. The legs are summarised over the test
    itself (from the neutral calibration on; everything for a recording): the set-up before
    it and the reps the person was asked to redo are left out of the summary on purpose.
    For a recording this is exactly what ``hiprom measure`` computes from the same frames.
    """
    start = guide.test_start_s
    exclude: list[Excluded] = [] if not start else [(None, float("-inf"), start - 1e-9)]
    exclude += guide.discarded_windows()
    crowded = ("crowded",) if tracker is not None and tracker.frames_crowded else ()
    m = measurement_from_analysis(
        Analysis(records=list(records), resolution_wh=source.resolution_wh), source,
        model=model, quality=(*quality, *crowded), options=options, exclude=exclude)
    return replace(m, extra={"live": {"reps": [r.to_dict() for r in guide.reps],
                        "test_start_s": start, "auto": guide.config.auto,
                        "setup": {"advice": guide.setup_advice,
                                  **{k: None if not np.isfinite(v) else round(v, 2)
                                     for k, v in guide.setup_view.items()}}}})


def _model(custom: bool, options: MeasureOptions) -> dict[str, str]:
    if custom:
        return {"name": "custom", "sha256": ""}
    from hiprom.backends.mediapipe import model_info

    return model_info(model=options.model)


def _write_phase_csv(m: Measurement, phases: list[str], path: Path, files: AtomicFiles) -> None:
    with CsvSink(path, (*CSV_COLUMNS, "phase"), group=files) as sink:
        for row, phase in zip(m.csv_rows(), phases, strict=True):
            sink.append({**row, "phase": phase})


def _key_frame(m: Measurement, stash: dict[int, tuple[int, np.ndarray]], path: Path,
               files: AtomicFiles, *, blur_faces: bool = True) -> Path | None:
    reps = m.extra["live"]["reps"]
    best = max((k for k in stash if k < len(reps) and reps[k]["value_deg"] is not None),
               key=lambda k: reps[k]["value_deg"], default=None)
    if best is None:
        return None
    index, image = stash[best]
    if blur_faces:
        from hiprom.backends.faces import FaceDetector
        from hiprom.media.privacy import FaceBlurrer

        with FaceDetector() as detector:
            image = FaceBlurrer(m, detector)(image, index)
    return write_image(path, annotate_frame(image, m, index, summary=False), group=files)


def save_session(worker: Worker, guide: Guide, options: LiveOptions, out_dir: Path, *,
                 custom_model: bool, interrupted: bool, only_with_values: bool = False,
                 ) -> tuple[Measurement | None, list[Path]]:
    """Build and write the session's files; returns the measurement and the paths.

    With ``only_with_values``, a session in which no leg has a value writes nothing and
    returns ``(None, [])`` (a test stopped before its first rep).
    """
    n = len(worker.phases)
    records = worker.analysis.records[:n]
    if not records:
        return None, []
    check_subject(Analysis(records=list(records), tracker=worker.analysis.tracker),
                  options=options.measure, what="the live test", choose=ONE_PERSON)
    file = options.source
    source = SourceInfo(
        path=str(file) if file else f"camera:{options.camera}", kind="live",
        fps=worker.source_fps, n_frames=worker.frames_read,
        duration_s=float(records[-1].timestamp_s), resolution_wh=worker.analysis.resolution_wh,
        mirrored=False, sha256=sha256_file(file) if file else None, truncated=interrupted)
    m = build_session(records, guide, source, model=_model(custom_model, options.measure),
                      quality=("truncated",) if interrupted else (), options=options.measure,
                      tracker=worker.analysis.tracker)
    if only_with_values and not has_values(m):
        return None, []
    stem = file.stem if file else "live"
    blur = not options.show_faces
    with AtomicFiles() as files:  # the session's files appear together or not at all
        written = write_outputs(m, out_dir, key_frame=file is not None, stem=stem, files=files,
                                blur_faces=blur)
        _write_phase_csv(m, worker.phases[:n], out_dir / f"{stem}.csv", files)
        if file is None:
            key = _key_frame(m, worker.stash, out_dir / f"{stem}.keyframe.png", files,
                             blur_faces=blur)
            written += [key] if key is not None else []
    return m, written


def has_values(m: Measurement) -> bool:
    """Whether any leg of ``m`` has a held IR or ER value."""
    return any(leg.measured for leg in m.legs.values())


def save_history(m: Measurement, person: str, json_path: Path) -> bool:
    """Also save into ``person``'s history when :mod:`hiprom.report.history` is available."""
    try:
        from hiprom.report.history import save_result
    except ImportError:
        log.warning("history is not available in this hiprom; the result is saved as files only")
        return False
    save_result(result_document(m), person=person, json_path=json_path)
    return True
