"""The app's one adapter to the measurement code: a browser camera session, frame by frame.

Everything :mod:`hiprom.app` asks of the measuring side goes through this module, so it can
be re-pointed when the pipeline changes. A session is ``hiprom measure``'s path fed by
JPEG frames from the browser instead of a file:

* each frame goes through :func:`hiprom.pipeline.analysis.iter_records` with a VIDEO-mode backend
  (:func:`hiprom.pipeline.measure.default_backend_factory`), then the guide of ``hiprom live``
  (:class:`hiprom.live.guide.Guide`), and the reply carries what the page draws;
* at the end the records are summarised by :func:`hiprom.live.session.build_session` (which is
  :func:`hiprom.pipeline.measure.measurement_from_analysis` for a recording) and written by
  :func:`hiprom.media.outputs.write_outputs`, so the JSON follows docs/RESULTS.md.

Not thread-safe: the server calls one session from one worker thread at a time.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from hiprom.backends.base import PoseBackend, RunningMode
from hiprom.core.geometry import pelvis_down
from hiprom.core.landmarks import EDGES
from hiprom.core.selection import PersonTracker
from hiprom.errors import InputError, MeasurementError
from hiprom.live.guide import Guide, setup_advice
from hiprom.live.states import ONE_PERSON, GuideConfig, GuideState, Key, Phase
from hiprom.media.document import result_document
from hiprom.media.frames import Frame
from hiprom.pipeline.analysis import (
    Analysis,
    FrameRecord,
    MeasureOptions,
    check_subject,
    iter_records,
)
from hiprom.vocabulary import SIDES

if TYPE_CHECKING:
    from hiprom.media.sinks import AtomicFiles

__all__ = ["AppSession", "Outcome", "SessionSettings", "Steady", "decode_jpeg", "skeleton_edges"]

BackendMaker = Callable[[RunningMode], PoseBackend]
_SIDES = SIDES
#: Mean grey level (0–255) of a frame below which the light is too dim, above which too bright.
DARK_LEVEL, BRIGHT_LEVEL = 60.0, 215.0
#: Largest frame the page may send (it sends 640×480).
MAX_SIDE_PX = 1920
#: Seconds between the backend's searches for other people. ``measure`` searches once a
#: second of video; the search costs 3–5 tracked frames (≈ 45 ms at 640×480 here), and on
#: the live path every such frame is a late overlay, so the app searches every 3 s. The
#: subject's landmarks do not depend on it (docs/PERFORMANCE.md, "hiprom app").
CROWD_CHECK_S = 3.0


#: Seconds of video an instruction or a camera-check item stays on the page before a newer
#: one replaces it (a new phase replaces it at once). The guide re-reads every frame, and
#: near a threshold its advice alternates from one frame to the next (the camera check's
#: second line changed up to ten times a second); the page showed each change.
STEADY_S = 1.0


class Steady:
    """Shows a value for at least ``hold_s`` seconds; a newer value waits, the newest wins.

    Examples:
        >>> words = Steady(1.0)
        >>> [words.update(w, t) for w, t in (("a", 0.0), ("b", 0.1), ("a", 0.5), ("b", 1.2))]
        ['a', 'a', 'a', 'b']
        >>> words.update("c", 1.3, now=True)
        'c'

    """

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.value: Any = None
        self._since = -math.inf

    def update(self, value: Any, t: float, *, now: bool = False) -> Any:
        """The value to show at time ``t`` (seconds) when ``value`` is the newest one."""
        if value != self.value and (now or t - self._since >= self.hold_s):
            self.value, self._since = value, t
        return self.value


#: The guide's words for the live window name its keys (SPACE, Q); the page's own steps and
#: buttons take their place there.
_PAGE_WORDS = {
    Phase.SAFETY: ("Before you start", "Read the safety screen and tick the box to go on"),
    Phase.RESULT: ("Test complete", "Saving your result…"),
}


@dataclass(frozen=True)
class SessionSettings:
    """How one browser session runs.

    Attributes:
        auto: follow what the camera shows without clicks (``?auto=1``): the guide's
            recording mode, which never asks for a redo.
        reps_per_side: the test is complete once each side has this many reps (auto mode
            uses it to end; None: the guide's default of 3).
        max_seconds: end the test after this much video (None: no limit).
        keep_video: write the annotated video and its key frame (off: no picture is stored).
        camera: the camera's label, for the result's ``source.path``.
        show_faces: keep faces unblurred in that video and key frame (``hiprom app
            --show-faces``; the page cannot ask for it).

    """

    auto: bool = False
    reps_per_side: int | None = None
    max_seconds: float | None = None
    keep_video: bool = False
    camera: str = "camera"
    show_faces: bool = False


@dataclass
class Outcome:
    """What finishing a session produced: the result dict and the files, or why not."""

    result: dict[str, Any] | None = None
    written: list[Path] = field(default_factory=list)
    error: str | None = None


def skeleton_edges() -> list[list[int]]:
    """Landmark index pairs the page draws as bones."""
    return [[int(a), int(b)] for a, b in EDGES]


def _default_backend(mode: RunningMode) -> PoseBackend:
    from hiprom.pipeline.measure import default_backend_factory

    return default_backend_factory(mode, crowd_check_s=CROWD_CHECK_S)


class _Inbox:
    """An endless frame iterator that yields whatever frame was put last (one at a time)."""

    def __init__(self) -> None:
        self.frame: Frame | None = None

    def __iter__(self) -> Iterator[Frame]:
        while self.frame is not None:
            frame, self.frame = self.frame, None
            yield frame


def decode_jpeg(data: bytes) -> np.ndarray:
    """Decode a JPEG (or PNG) frame to BGR; raises :class:`InputError` when it is not one."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.ndim != 3:
        raise InputError("the frame is not a decodable JPEG image")
    if max(image.shape[:2]) > MAX_SIDE_PX:
        raise InputError(f"frame {image.shape[1]}x{image.shape[0]} is larger than "
                         f"{MAX_SIDE_PX} px; send 640x480")
    return image


def _xy(point: np.ndarray) -> list[float] | None:
    return [round(float(v), 1) for v in point] if np.all(np.isfinite(point)) else None


def _num(value: float, digits: int = 1) -> float | None:
    return round(float(value), digits) if value is not None and np.isfinite(value) else None


class AppSession:
    """One browser camera session: frames in, per-frame replies out, result files at the end.

    Args:
        settings: see :class:`SessionSettings`.
        backend_factory: makes the pose backend (tests inject fakes); default: the bundled
            MediaPipe model in VIDEO mode, as ``hiprom measure`` uses for clips.

    """

    def __init__(self, settings: SessionSettings = SessionSettings(), *,
                 backend_factory: BackendMaker | None = None) -> None:
        self.settings = settings
        reps = settings.reps_per_side or GuideConfig.reps_per_side
        self.guide = Guide(GuideConfig(auto=settings.auto, reps_per_side=reps))
        self.analysis = Analysis(tracker=PersonTracker())
        self.phases: list[str] = []
        self.frames_received = 0
        self.custom_model = backend_factory is not None
        self._factory = backend_factory or _default_backend
        self._backend: PoseBackend | None = None
        self._records: Iterator[FrameRecord] | None = None
        self._inbox = _Inbox()
        self._t0_ms: float | None = None
        self._last_t = -1.0
        self._state = GuideState(self.guide.phase, "")
        self._words = Steady(STEADY_S)
        self._shown_phase: Phase | None = None
        self._checks: dict[str, Steady] = {}
        self._spool = tempfile.TemporaryFile() if settings.keep_video else None
        self._spooled: list[tuple[int, int]] = []

    # --- life cycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Load the pose model (about a second); call before the first frame."""
        if self._backend is None:
            self._backend = self._factory(RunningMode.VIDEO)
            # The first inference initialises the graph (≈ 0.2 s): do it on a blank frame
            # now, not on the person's first frame. Nobody is found in it; the tracker
            # starts from the first real frame as it does in a clip.
            self._backend(np.zeros((480, 640, 3), np.uint8), timestamp_s=-1.0)

    def close(self) -> None:
        """Release the model and any kept frames."""
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    # --- frames and keys --------------------------------------------------------------------

    def process(self, jpeg: bytes, capture_ms: float) -> dict[str, Any]:
        """Measure one frame; returns the reply the page draws (see :meth:`reply`).

        Args:
            jpeg: the encoded frame as the camera saw it (not mirrored).
            capture_ms: its capture time in milliseconds on the page's clock.

        """
        image = decode_jpeg(jpeg)
        size = (image.shape[1], image.shape[0])
        if self.analysis.records and size != self.analysis.resolution_wh:
            raise InputError(f"the camera changed from {self.analysis.resolution_wh} to {size} "
                             "px during the test; start the test again")
        if self._backend is None:
            self.open()
        if self._records is None:
            self._records = iter_records(self._inbox, self._backend,  # type: ignore[arg-type]
                                         options=MeasureOptions(), analysis=self.analysis)
        if self._t0_ms is None:
            self._t0_ms = capture_ms
        t = max((capture_ms - self._t0_ms) / 1000.0, self._last_t + 1e-3)
        self._last_t = t
        self._inbox.frame = Frame(self.frames_received, t, image)
        self.frames_received += 1
        self.guide.resolution_wh = size
        record = next(self._records)
        self._state = self.guide.update(record)
        self.phases.append(self._state.phase.value)
        self._keep(jpeg)
        return self.reply(record, image)

    def press(self, key: str) -> dict[str, Any]:
        """Apply a button press (``next``, ``redo`` or ``quit``); returns the new state."""
        try:
            parsed = Key(key)
        except ValueError as err:
            raise InputError(f"unknown key {key!r}; use next, redo or quit") from err
        self._state = self.guide.press(parsed)
        if self.guide.phase is not self._state.phase and not self.guide.finished:
            self._state = GuideState(self.guide.phase, "Get ready", "Starting the camera check")
        return self.state_dict()

    @property
    def complete(self) -> bool:
        """The test is over: the guide finished, reached its result, or the settings' end."""
        g, s = self.guide, self.settings
        if g.finished or g.phase is Phase.RESULT:
            return True
        counts = self._state.counts
        if s.auto and s.reps_per_side and all(counts[x] >= s.reps_per_side for x in _SIDES):
            return True
        return s.max_seconds is not None and self._last_t >= s.max_seconds

    def _keep(self, jpeg: bytes) -> None:
        if self._spool is not None:
            self._spooled.append((self._spool.tell(), len(jpeg)))
            self._spool.write(jpeg)

    # --- what the page draws --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The guide's state in JSON form, worded for the page (which has buttons, not keys)."""
        s = self._state
        words = (*_PAGE_WORDS.get(s.phase, (s.headline, s.detail)), s.alert)
        headline, detail, alert = self._words.update(words, self._last_t,
                                                     now=s.phase is not self._shown_phase)
        self._shown_phase = s.phase
        return {"phase": s.phase.value, "headline": headline, "detail": detail,
                "progress": _num(s.progress or 0.0, 3) if s.progress is not None else None,
                "progress_label": s.progress_label, "side": s.side,
                "rotation_deg": _num(s.rotation_deg), "counts": dict(s.counts),
                "reps_per_side": self.guide.config.reps_per_side, "alert": alert,
                "reps": [r.to_dict() for r in s.reps], "complete": self.complete}

    def reply(self, record: FrameRecord, image: np.ndarray) -> dict[str, Any]:
        """The per-frame message: landmarks, both legs' angles, guide state, setup checks."""
        out: dict[str, Any] = {
            "t_s": round(record.timestamp_s, 3), "n_persons": record.n_persons,
            "landmarks": None, "legs": None, "state": self.state_dict(),
            "setup": self.setup_checks(record, image)}
        if record.xy is not None and record.visibility is not None:
            out["landmarks"] = [[round(float(x), 1), round(float(y), 1), round(float(v), 2)]
                                for (x, y), v in zip(record.xy, record.visibility, strict=True)]
        legs = record.legs
        if legs is not None:
            down = pelvis_down(legs.left.hip_xy, legs.right.hip_xy)
            out["legs"] = {"down": _xy(down), **{side: {
                "hip": _xy(legs.leg(side).hip_xy), "knee": _xy(legs.leg(side).knee_xy),
                "ankle": _xy(legs.leg(side).ankle_xy),
                "rotation_deg": _num(legs.leg(side).rotation_deg - self.guide.neutral_deg[side]),
                "visibility": _num(legs.leg(side).visibility, 2)} for side in _SIDES}}
        return out

    def setup_checks(self, record: FrameRecord, image: np.ndarray) -> list[dict[str, Any]]:
        """The camera check: legs in view, distance, camera height, angle, level, light.

        The words are the guide's (:func:`hiprom.live.guide.setup_advice`), each placed on the
        item it is about; the light check is the frame's mean grey level.
        """
        view = self.guide.setup_view if self.guide.phase is Phase.SETUP else {}
        view_deg = None
        if {"pitch_deg", "yaw_deg", "roll_deg"} <= view.keys():
            view_deg = (view["pitch_deg"], view["yaw_deg"], view["roll_deg"])
        advice = setup_advice(record.legs, record.n_persons, self.guide.resolution_wh,
                              config=self.guide.config, view_deg=view_deg)
        legs = record.legs
        values: dict[str, float | None] = {"legs": None, "distance": None, "height": None,
                                           "angle": None, "level": None}
        if legs is not None:
            values["distance"] = _num(float(np.median(
                [legs.leg(s).shank_length_px for s in _SIDES])), 0)
            pitch = view_deg[0] if view_deg else np.median([legs.leg(s).view_pitch_deg
                                                             for s in _SIDES])
            yaw = view_deg[1] if view_deg else np.median([legs.leg(s).view_yaw_deg for s in _SIDES])
            values.update(height=_num(pitch), angle=_num(yaw), level=_num(legs.pelvis_roll_deg))
        checks = {k: {"id": k, "ok": legs is not None, "value": v, "advice": ""}
                  for k, v in values.items()}
        for text in advice:
            item = checks[_advice_item(text)]
            item["ok"], item["advice"] = False, item["advice"] or text
        brightness = float(cv2.cvtColor(image[::4, ::4], cv2.COLOR_BGR2GRAY).mean())
        light = {"id": "light", "ok": DARK_LEVEL <= brightness <= BRIGHT_LEVEL,
                 "value": round(brightness), "advice": ""}
        if brightness < DARK_LEVEL:
            light["advice"] = "Too dark: switch on a light in front of you, or face a window"
        elif brightness > BRIGHT_LEVEL:
            light["advice"] = "Too bright: turn away from the window or lamp behind you"
        items: list[dict[str, Any]] = [*checks.values(), light]
        for item in items:  # each item's verdict and advice held as the instructions are
            steady = self._checks.setdefault(str(item["id"]), Steady(STEADY_S))
            item["ok"], item["advice"] = steady.update((item["ok"], item["advice"]),
                                                       record.timestamp_s)
        return items

    # --- the result -----------------------------------------------------------------------------

    def finish(self, out_dir: Path, *, stem: str) -> Outcome:
        """Summarise the session as ``hiprom measure`` would and write its files.

        Writes ``<stem>.json`` and ``<stem>.csv`` (with the ``phase`` column) into
        ``out_dir``; with ``keep_video`` also ``<stem>.annotated.webm`` and
        ``<stem>.keyframe.png``. Returns the error in plain words when nothing measurable
        was seen (no file is written then).
        """
        from hiprom.backends.mediapipe import model_info
        from hiprom.live.session import build_session
        from hiprom.media.outputs import write_outputs
        from hiprom.media.sinks import AtomicFiles
        from hiprom.results.measurement import SourceInfo

        n = len(self.phases)
        records = self.analysis.records[:n]
        if not records:
            return Outcome(error="no camera frame reached the pose model; check the camera")
        try:
            check_subject(Analysis(records=list(records), tracker=self.analysis.tracker),
                          options=MeasureOptions(), what="the camera session", choose=ONE_PERSON)
        except MeasurementError as err:
            return Outcome(error=str(err))
        interrupted = not self.settings.auto and self.guide.phase is not Phase.RESULT
        duration = float(records[-1].timestamp_s)
        source = SourceInfo(
            path=f"browser:{self.settings.camera}", kind="live",
            fps=round((n - 1) / duration, 2) if duration > 0 else None, n_frames=n,
            duration_s=duration, resolution_wh=self.analysis.resolution_wh, mirrored=False,
            truncated=interrupted)
        model = {"name": "custom", "sha256": ""} if self.custom_model else model_info()
        m = build_session(records, self.guide, source, model=model,
                          quality=("truncated",) if interrupted else (),
                          tracker=self.analysis.tracker)
        with AtomicFiles() as files:  # the session's files appear together or not at all
            written = write_outputs(m, out_dir, key_frame=False, stem=stem, files=files,
                                    blur_faces=not self.settings.show_faces)
            _write_phase_csv(m, self.phases[:n], Path(out_dir) / f"{stem}.csv", files)
            if self._spool is not None:
                written += self._write_video(m, Path(out_dir), stem, files)
        return Outcome(result=result_document(m), written=written)

    def _frames(self) -> Iterator[np.ndarray]:
        assert self._spool is not None
        for offset, size in self._spooled[: len(self.phases)]:
            self._spool.seek(offset)
            yield decode_jpeg(self._spool.read(size))

    def _write_video(self, m: Any, out_dir: Path, stem: str, files: AtomicFiles) -> list[Path]:
        """The annotated video and key frame (:func:`hiprom.media.outputs.annotate_frame`)."""
        from hiprom.media.outputs import annotate_frame, key_frame_index
        from hiprom.media.sinks import VideoSink, write_image

        key, key_image, target = key_frame_index(m), None, out_dir / f"{stem}.annotated.webm"
        with contextlib.ExitStack() as stack:
            blur = None
            if not self.settings.show_faces:  # every face blurred, as in hiprom measure
                from hiprom.backends.faces import FaceDetector
                from hiprom.media.privacy import FaceBlurrer

                blur = FaceBlurrer(m, stack.enter_context(FaceDetector()))
            sink = stack.enter_context(VideoSink(target, fps=m.source.fps or 30.0,
                                                 resolution_wh=m.source.resolution_wh,
                                                 group=files))
            for i, image in enumerate(self._frames()):
                if blur is not None:
                    image = blur(image, i)
                sink.write_frame(annotate_frame(image, m, i))
                if i == key:
                    key_image = annotate_frame(image, m, i, summary=False)
        written = [target] if files.pending(target) else []
        if key_image is not None:
            written.append(write_image(out_dir / f"{stem}.keyframe.png", key_image, group=files))
        return written


def _advice_item(text: str) -> str:
    """Which setup item one of the guide's advice sentences is about."""
    lowered = text.lower()
    for item, words in (("legs", ("in view", "whole body", "one person")),
                        ("distance", ("closer", "move back")),
                        ("height", ("lower the camera", "raise the camera")),
                        ("angle", ("turn the camera",)), ("level", ("level",))):
        if any(w in lowered for w in words):
            return item
    return "legs"


def _write_phase_csv(m: Any, phases: list[str], path: Path, files: AtomicFiles) -> None:
    """Rewrite the CSV with the ``phase`` column of live sessions (docs/RESULTS.md)."""
    from hiprom.media.sinks import CsvSink
    from hiprom.results.measurement import CSV_COLUMNS

    with CsvSink(path, (*CSV_COLUMNS, "phase"), group=files) as sink:
        for row, phase in zip(m.csv_rows(), phases, strict=True):
            sink.append({**row, "phase": phase})

