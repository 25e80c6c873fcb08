"""The live guided test: a capture/inference worker thread, a UI thread, and the saved session.

Threads:
    * **capture** (cameras, and files played in real time): reads frames and keeps only the
      newest one, so a slow consumer never makes the picture lag behind;
    * **worker**: pose model → :func:`~hiprom.pipeline.iter_records` →
      :class:`~hiprom.guide.Guide`,
      publishing the newest (frame, record, guide state) snapshot;
    * **UI** (the calling thread; OpenCV highgui wants it): draws the newest snapshot mirrored
      (selfie view), shows it, reads keys. It never waits for the model.

A file played "fast" (tests, benchmarks) feeds every frame to the model in order, so the
records, and therefore the result, are exactly those of ``hiprom measure`` on that file. The
session is summarised with :func:`~hiprom.measure.measurement_from_analysis` and written with
:func:`~hiprom.outputs.write_outputs`, plus a ``phase`` CSV column and a ``live`` JSON block.
"""

from __future__ import annotations

import logging
import queue
import textwrap
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from hiprom import overlay
from hiprom.assessment import safety_screen
from hiprom.backends.base import RunningMode
from hiprom.errors import HipromError, SourceError
from hiprom.frames import Frame
from hiprom.geometry import LegMeasurement
from hiprom.guide import Guide, GuideConfig, GuideState, Key, Phase
from hiprom.measure import default_backend_factory, file_sha256, measurement_from_analysis
from hiprom.outputs import annotate_frame, write_outputs
from hiprom.pipeline import Analysis, BackendFactory, FrameRecord, MeasureOptions, iter_records
from hiprom.results import CSV_COLUMNS, Measurement, SourceInfo
from hiprom.selection import PersonTracker
from hiprom.sinks import CsvSink, write_image
from hiprom.sources import CameraDisconnected, iter_video, iter_webcam

__all__ = ["LiveError", "LiveOptions", "LiveResult", "Snapshot", "build_session", "run_live"]

log = logging.getLogger(__name__)


#: Called with each drawn picture (None when not drawn) and its state; may return a key.
FrameCallback = Callable[[np.ndarray | None, GuideState], Key | None]


class LiveError(SourceError):
    """The camera failed before or during a live session (reps measured so far are saved)."""


@dataclass(frozen=True)
class LiveOptions:
    """How to run a live session.

    Attributes:
        camera: OpenCV camera index (ignored with ``source``).
        source: a video file fed through the same loop instead of a camera; the guide then
            follows the recording on its own (no keys).
        headless: run without a window.
        out_dir: where to save; None = ``hiprom-results/live-<timestamp>``.
        resolution_wh: camera resolution asked for.
        realtime: play a file at its own pace, dropping frames like a camera would; default:
            with a window yes, headless no (every frame analysed, as ``hiprom measure`` does).
        mode: pose model running mode (VIDEO tracks between frames and is faster).
        threaded: run the model in a worker thread (False: one thread, for benchmarks).
        linger_s: with a window, how long the result stays up after a file ends (None: until
            a key). A camera session's result stays up until a key.
        display_height: height of the window's picture, pixels.
        render: draw the view even when headless (benchmarks measure the drawing too).
    """

    camera: int = 0
    source: Path | None = None
    headless: bool = False
    out_dir: Path | None = None
    resolution_wh: tuple[int, int] = (640, 480)
    realtime: bool | None = None
    mode: RunningMode = RunningMode.VIDEO
    threaded: bool = True
    linger_s: float | None = None
    display_height: int = 600
    render: bool = False


@dataclass(frozen=True)
class Snapshot:
    """The newest analysed frame with what to show for it."""

    frame: Frame
    record: FrameRecord
    state: GuideState
    captured_s: float


@dataclass
class LiveResult:
    """What a session produced.

    Attributes:
        measurement: the saved measurement, or None when nothing was recorded.
        written: files written.
        error: the camera error that ended the session early, if any.
        latency_s: per shown frame, capture → shown (perf_counter seconds).
        shown_s: perf_counter time at which each frame was shown.
        frames_analysed: frames that went through the model.
    """

    measurement: Measurement | None = None
    written: list[Path] = field(default_factory=list)
    error: HipromError | None = None
    latency_s: list[float] = field(default_factory=list)
    shown_s: list[float] = field(default_factory=list)
    frames_analysed: int = 0

    @property
    def fps(self) -> float:
        """Frames shown per second over the session."""
        if len(self.shown_s) < 2:
            return float("nan")
        return (len(self.shown_s) - 1) / (self.shown_s[-1] - self.shown_s[0])


class _Newest:
    """A one-slot mailbox: ``put`` replaces the item, ``get`` waits for a newer one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: object = None
        self._seq = 0
        self._closed = False
        self.error: BaseException | None = None

    def put(self, item: object) -> None:
        with self._cond:
            self._item, self._seq = item, self._seq + 1
            self._cond.notify_all()

    def close(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._closed, self.error = True, error
            self._cond.notify_all()

    def get(self, after: int, timeout: float | None = None) -> tuple[int, object, bool]:
        """``(seq, item, closed)``: waits until an item newer than ``after`` or the close."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after or self._closed, timeout)
            return self._seq, self._item, self._closed


def _camera_message(camera: int, frames: int) -> str:
    if frames == 0:
        return (f"Camera {camera} opened but sent no picture: close other apps using it, try "
                "--camera 1, check permissions, or list devices with `ls /dev/video*`")
    return (f"Camera {camera} stopped after {frames} frames: check its cable or connection, "
            "then run `hiprom live` again")


def _paced(frames: Iterator[Frame]) -> Iterator[Frame]:
    """Yield a file's frames no faster than their timestamps (a camera-like stream)."""
    t0 = time.perf_counter()
    for frame in frames:
        delay = t0 + frame.timestamp_s - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield frame


class _Worker:
    """Capture (optional thread) and model + guide (worker thread) of one session."""

    def __init__(self, options: LiveOptions, factory: BackendFactory, guide: Guide,
                 realtime: bool) -> None:
        self.o, self.factory, self.guide, self.realtime = options, factory, guide, realtime
        self.analysis = Analysis(tracker=PersonTracker())
        self.phases: list[str] = []
        self.keys: queue.SimpleQueue[Key] = queue.SimpleQueue()
        self.newest = _Newest()
        self.stop = threading.Event()
        self.frames_read = 0
        self.source_fps: float | None = None
        self.stash: dict[int, tuple[int, np.ndarray]] = {}
        self._frame: tuple[Frame, float] | None = None
        self.open_capture: Callable[[int], object] | None = None
        self.frames_factory: Callable[[], Iterator[Frame]] | None = None

    def _raw_frames(self) -> Iterator[Frame]:
        if self.frames_factory is not None:
            return self.frames_factory()
        if self.o.source is not None:
            video = iter_video(self.o.source)
            self.source_fps = video.info.fps or None
            return _paced(video) if self.realtime else video
        extra = {} if self.open_capture is None else {"open_capture": self.open_capture}
        return iter_webcam(self.o.camera, resolution_wh=self.o.resolution_wh, **extra)

    def _capture(self, box: _Newest) -> None:
        try:
            for frame in self._raw_frames():
                self.frames_read += 1
                box.put((frame, time.perf_counter()))
                if self.stop.is_set():
                    break
            box.close()
        except CameraDisconnected:
            box.close(LiveError(_camera_message(self.o.camera, self.frames_read)))
        except HipromError as err:
            box.close(err)

    def frames(self) -> Iterator[Frame]:
        """Frames for the model: every frame of a fast file, else always the newest one."""
        if (self.o.source is not None or self.frames_factory) and not self.realtime:
            try:
                for frame in self._raw_frames():
                    self.frames_read += 1
                    self._frame = (frame, time.perf_counter())
                    yield frame
                    if self.stop.is_set():
                        return
            except CameraDisconnected as err:
                raise LiveError(_camera_message(self.o.camera, self.frames_read)) from err
            return
        box = _Newest()
        threading.Thread(target=self._capture, args=(box,), daemon=True, name="capture").start()
        seq = 0
        while not self.stop.is_set():
            new_seq, item, closed = box.get(seq, timeout=0.5)
            if new_seq > seq and isinstance(item, tuple):
                seq, self._frame = new_seq, item
                yield item[0]
            elif closed:
                break
        self.stop.set()
        if box.error is not None:
            raise box.error

    def run(self, after_step: Callable[[Snapshot], None] | None = None) -> None:
        """Model + guide over the frames; closes ``newest`` (with the error) at the end."""
        error: BaseException | None = None
        try:
            with self.factory(self.o.mode) as backend:
                for record in iter_records(self.frames(), backend, options=MeasureOptions(),
                                           analysis=self.analysis):
                    snap = self.step(record)
                    if after_step is not None:
                        after_step(snap)
                    if self.guide.finished or self.stop.is_set():
                        break
        except BaseException as err:  # noqa: BLE001 - handed to the UI thread
            log.debug("live worker stopped", exc_info=True)
            error = err
        self.stop.set()
        self.newest.close(error)

    def step(self, record: FrameRecord) -> Snapshot:
        """Apply pending keys, update the guide, publish the snapshot."""
        while not self.keys.empty():
            self.guide.press(self.keys.get())
        state = self.guide.update(record)
        self.phases.append(state.phase.value)
        assert self._frame is not None
        frame, captured = self._frame
        self.guide.resolution_wh = frame.resolution_wh
        if (state.progress or 0.0) >= 0.5 and state.progress_label.startswith("Hold"):
            self.stash.setdefault(len(state.reps), (len(self.analysis.records) - 1,
                                                    frame.image_bgr))
        snap = Snapshot(frame, record, state, captured)
        self.newest.put(snap)
        return snap


# --- the view -------------------------------------------------------------------------------

_STEPS = {Phase.SAFETY: "Safety check", Phase.SETUP: "Camera setup", Phase.NEUTRAL: "Neutral",
          Phase.REPS: "Measure", Phase.RESULT: "Result"}
_BANNER_BG = (48, 38, 30)
_ALERT_BG = (0, 120, 215)
_DONE_BG = (60, 120, 40)


def _text(image: np.ndarray, lines: list[str], size: float, *, alpha: float = 0.0,
          corner: overlay.Corner = "top-left") -> np.ndarray:
    """``overlay.draw_panel`` with a text size independent of the image's own size."""
    return overlay.draw_panel(image, lines, corner=corner, alpha=alpha,
                              text_scale=size / overlay.ui_scale(image))


_ASCII = str.maketrans({"±": "+/-", "–": "-", "—": "-", "≥": ">=", "≤": "<=", "×": "x",
                        "’": "'"})


def _wrap(lines: list[str], width: int = 58) -> list[str]:
    """Wrap for the screen; Hershey fonts only draw ASCII (and ° via overlay)."""
    out: list[str] = []
    for line in lines:
        out += textwrap.wrap(line.translate(_ASCII), width, subsequent_indent="  ") or [""]
    return out


def safety_lines() -> list[str]:
    """The safety screen (from :func:`hiprom.assessment.safety_screen`), wrapped."""
    flags = safety_screen()
    lines = ["Do not do this test if any of these applies to you:"]
    lines += [f"- {f.situation}" for f in flags if f.id != "pain_during_test"]
    pain = [f for f in flags if f.id == "pain_during_test"]
    lines += [""] + [f"If you feel pain or a pinch in the groin: {f.rule[:1].lower()}{f.rule[1:]}"
                     for f in pain]
    return _wrap(lines)


def result_lines(result: dict, saved_to: Path | None) -> list[str]:
    """The result screen: IR per leg with verdict, asymmetry, routine with doses, red flags."""
    lines = []
    for side in ("left", "right"):
        leg = result["legs"][side]
        ir, verdict = leg["internal_rotation_deg"], leg["verdict"]
        if ir is None:
            lines.append(f"{side.capitalize()} hip: not measured")
            continue
        band = verdict["band"]["label"] if verdict.get("band") else verdict["code"]
        used = sum(r.get("used", False) for r in leg["reps"] if r["direction"] == "internal")
        ci = leg["internal_rotation_ci95_deg"]
        lines.append(f"{side.capitalize()} hip IR {ir:.0f}° (±{ci:.0f}°): {band}, "
                     f"target 35-45°  [{used} rep{'s' * (used != 1)}]")
    asym = result.get("asymmetry") or {}
    if asym.get("difference_deg") is not None:
        side = asym.get("restricted_side") or "neither"
        judged = "beyond the measurement error" if asym["exceeds_error"] else "within the error"
        lines.append(f"Difference {asym['difference_deg']:.0f}° ({side} less), {judged}")
    plan = result.get("recommendations") or {}
    if plan.get("exercises"):
        lines += ["", "Your routine:"]
        for ex in plan["exercises"]:
            doses = "; ".join(s["text"] for s in ex["sides"]) or ex["dose"]["text"]
            lines.append(f"- {ex['name']}: {doses}")
    lines += [f"! {f['rule']}" for f in result.get("red_flags") or []]
    if saved_to is not None:
        lines += ["", f"Saved in {saved_to}"]
    return _wrap(lines, 64)


def _display_xy(xy: np.ndarray, scale: float, width: int) -> np.ndarray:
    """Unmirrored frame pixels → mirrored, scaled display pixels."""
    out = np.asarray(xy, np.float64) * scale
    out[..., 0] = width - out[..., 0]
    return out


def _draw_angle(view: np.ndarray, legs: LegMeasurement, side: str, value: float,
                scale: float) -> np.ndarray:
    leg, w = legs.leg(side), view.shape[1]
    knee, ankle = _display_xy(leg.knee_xy, scale, w), _display_xy(leg.ankle_xy, scale, w)
    hip_line = _display_xy(legs.left.hip_xy, scale, w) - _display_xy(legs.right.hip_xy, scale, w)
    down = np.array([-hip_line[1], hip_line[0]])
    down = down if down[1] >= 0 else -down
    word = "IR" if not np.isfinite(value) or value >= 0 else "ER"
    return overlay.draw_angle(view, knee, ankle, knee + down, value,
                              label=f"{side[0].upper()} {word}")


def _angles(view: np.ndarray, record: FrameRecord, state: GuideState, scale: float) -> np.ndarray:
    legs = record.legs
    if legs is None:
        return view
    if state.phase is Phase.REPS and state.side is not None:
        view = _draw_angle(view, legs, state.side, state.rotation_deg, scale)
    return view


def _banner(width: int, height: int, state: GuideState) -> np.ndarray:
    colour = _ALERT_BG if state.alert else _DONE_BG if state.phase is Phase.RESULT else _BANNER_BG
    banner = np.empty((height, width, 3), np.uint8)
    banner[:] = colour
    top, bottom = banner[: int(0.58 * height)], banner[int(0.5 * height):]
    banner[: top.shape[0]] = _text(top, [state.headline], 1.55)
    indent = int(round(22 * (1.55 - 0.95)))
    banner[-bottom.shape[0]:, indent:] = _text(bottom[:, indent:], [state.detail], 0.95)
    return banner


def render_view(snap: Snapshot, *, fps: float, display_height: int = 600,
                screen: list[str] | None = None) -> np.ndarray:
    """The window's picture: mirrored (selfie) frame, skeleton, angle, progress, instructions.

    Args:
        snap: the frame, its record (unmirrored pixels) and the guide state.
        fps: frames shown per second.
        display_height: height of the picture part, pixels (a banner is added below).
        screen: full-screen text (safety check, result) drawn over the picture, or None.
    """
    h, w = snap.frame.image_bgr.shape[:2]
    scale = display_height / h
    width = int(round(w * scale))
    view = cv2.resize(cv2.flip(snap.frame.image_bgr, 1), (width, display_height),
                      interpolation=cv2.INTER_LINEAR)  # selfie view: mirrored for display only
    record, state = snap.record, snap.state
    if screen:
        view = _text(view, screen, 0.88, alpha=0.85)
    else:
        if record.xy is not None:
            view = overlay.draw_legs(view, record.xy * scale, record.visibility, mirrored=True)
        view = _angles(view, record, state, scale)
        if state.progress is not None:
            view = overlay.draw_progress(view, state.progress, label=state.progress_label)
        step = list(Phase).index(state.phase) + 1
        tally = (f"  |  Left {state.counts['left']}/3  Right {state.counts['right']}/3"
                 if state.phase is Phase.REPS else "")
        view = _text(view, [f"Step {step} of 5: {_STEPS[state.phase]}{tally}"], 0.75,
                     alpha=0.6, corner="bottom-left" if state.progress is None else "top-left")
    view = overlay.draw_fps(view, fps)
    return np.vstack([view, _banner(width, int(0.2 * display_height), state)])


# --- saving ---------------------------------------------------------------------------------


def _mask(records: list[FrameRecord], windows: list[tuple[str, float, float]]) -> list[FrameRecord]:
    """Records with the leg of every discarded rep blanked (NaN) inside its window."""
    out = []
    for r in records:
        legs = r.legs
        for side, start, end in windows:
            if legs is not None and start <= r.timestamp_s <= end:
                leg = replace(legs.leg(side), rotation_deg=float("nan"))
                legs = replace(legs, **{side: leg})
        out.append(r if legs is r.legs else replace(r, legs=legs))
    return out


def build_session(records: list[FrameRecord], guide: Guide, source: SourceInfo, *,
                  model: dict[str, str], quality: tuple[str, ...] = ()) -> Measurement:
    """Summarise a session with the protocol code of ``hiprom measure``.

    The per-frame arrays cover every recorded frame. The legs are summarised over the test
    itself (from the neutral calibration on; everything for a recording), leaving out reps
    the person asked to redo. With nothing discarded and a recording, this is exactly
    :func:`~hiprom.measure.measurement_from_analysis` of the same frames.
    """
    m = measurement_from_analysis(
        Analysis(records=list(records), resolution_wh=source.resolution_wh), source,
        model=model, quality=quality)
    start = guide.test_start_s
    test = [r for r in records if start is None or r.timestamp_s >= start]
    windows = guide.discarded_windows()
    if len(test) != len(records) or windows:
        legs = measurement_from_analysis(
            Analysis(records=_mask(test, windows), resolution_wh=source.resolution_wh),
            source, model=model).legs
        for side in ("left", "right"):
            shift = (m.legs[side].neutral_deg or 0.0) - (legs[side].neutral_deg or 0.0)
            m.rotation_deg[side] = m.rotation_deg[side] + shift
        m.legs = legs
    m.extra = {"live": {"reps": [r.to_dict() for r in guide.reps],
                        "test_start_s": start, "auto": guide.config.auto,
                        "setup": {"advice": guide.setup_advice,
                                  **{k: None if not np.isfinite(v) else round(v, 2)
                                     for k, v in guide.setup_view.items()}}}}
    return m


def _model(custom: bool) -> dict[str, str]:
    if custom:
        return {"name": "custom", "sha256": ""}
    from hiprom.backends.mediapipe import model_info

    return model_info()


def _write_phase_csv(m: Measurement, phases: list[str], path: Path) -> None:
    with CsvSink(path, (*CSV_COLUMNS, "phase")) as sink:
        for row, phase in zip(m.csv_rows(), phases, strict=True):
            sink.append({**row, "phase": phase})


def _key_frame(m: Measurement, stash: dict[int, tuple[int, np.ndarray]], path: Path) -> Path | None:
    reps = m.extra["live"]["reps"]
    best = max((k for k in stash if k < len(reps) and reps[k]["value_deg"] is not None),
               key=lambda k: reps[k]["value_deg"], default=None)
    if best is None:
        return None
    index, image = stash[best]
    return write_image(path, annotate_frame(image, m, index, summary=False))


def save_session(worker: _Worker, guide: Guide, options: LiveOptions, out_dir: Path, *,
                 custom_model: bool, interrupted: bool) -> tuple[Measurement | None, list[Path]]:
    """Build and write the session's files; returns the measurement and the paths."""
    n = len(worker.phases)
    records = worker.analysis.records[:n]
    if not records:
        return None, []
    file = options.source
    source = SourceInfo(
        path=str(file) if file else f"camera:{options.camera}", kind="live",
        fps=worker.source_fps, n_frames=worker.frames_read,
        duration_s=float(records[-1].timestamp_s), resolution_wh=worker.analysis.resolution_wh,
        mirrored=False, sha256=file_sha256(file) if file else None, truncated=interrupted)
    m = build_session(records, guide, source, model=_model(custom_model),
                      quality=("truncated",) if interrupted else ())
    stem = file.stem if file else "live"
    written = write_outputs(m, out_dir, key_frame=file is not None, stem=stem)
    _write_phase_csv(m, worker.phases[:n], out_dir / f"{stem}.csv")
    if file is None:
        key = _key_frame(m, worker.stash, out_dir / f"{stem}.keyframe.png")
        written += [key] if key is not None else []
    return m, written


def save_history(m: Measurement, person: str, json_path: Path) -> bool:
    """Also save into ``person``'s history when :mod:`hiprom.history` is available."""
    try:
        from hiprom.history import save_result
    except ImportError:
        log.warning("history is not available in this hiprom; the result is saved as files only")
        return False
    save_result(m.to_dict(), person=person, json_path=json_path)
    return True


# --- the UI thread ----------------------------------------------------------------------------

_WINDOW = "hiprom live - seated hip rotation test"
_KEYS = {ord(" "): Key.NEXT, ord("r"): Key.REDO, ord("q"): Key.QUIT, 27: Key.QUIT}


class _Ui:
    """Shows the newest snapshot and reads keys (OpenCV highgui, or nothing when headless)."""

    def __init__(self, options: LiveOptions, result: LiveResult,
                 on_frame: FrameCallback | None) -> None:
        self.o, self.result, self.on_frame = options, result, on_frame
        self.window = not options.headless
        self.render = self.window or options.render or on_frame is not None
        self.screen: list[str] | None = None
        self.keys_from_callback: list[Key] = []
        self._shown: deque[float] = deque(maxlen=30)
        if self.window:
            # GUI_NORMAL: no Qt toolbar or status bar, just the picture.
            cv2.namedWindow(_WINDOW, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO
                            | cv2.WINDOW_GUI_NORMAL)
        self._sized = False

    def fps(self) -> float:
        if len(self._shown) < 2:
            return float("nan")
        return (len(self._shown) - 1) / max(1e-9, self._shown[-1] - self._shown[0])

    def show(self, snap: Snapshot) -> None:
        image = None
        state, screen = snap.state, self.screen
        if screen is not None:
            snap = replace(snap, state=replace(state, phase=Phase.RESULT, headline="Your result",
                                               detail="Press Q to close", progress=None,
                                               alert=False))
        elif state.phase is Phase.SAFETY:
            screen = safety_lines()
        if self.render:
            image = render_view(snap, fps=self.fps(), display_height=self.o.display_height,
                                screen=screen)
        if self.window and image is not None:
            if not self._sized:
                cv2.resizeWindow(_WINDOW, image.shape[1], image.shape[0])
                self._sized = True
            cv2.imshow(_WINDOW, image)
        now = time.perf_counter()
        self._shown.append(now)
        self.result.shown_s.append(now)
        self.result.latency_s.append(now - snap.captured_s)
        if self.on_frame is not None:
            key = self.on_frame(image, state)
            if key is not None:
                self.keys_from_callback.append(key)

    def key(self, wait_ms: int = 1) -> Key | None:
        if self.keys_from_callback:
            return self.keys_from_callback.pop(0)
        if not self.window:
            return None
        code = cv2.waitKey(wait_ms) & 0xFF
        if cv2.getWindowProperty(_WINDOW, cv2.WND_PROP_VISIBLE) < 1:
            return Key.QUIT
        return _KEYS.get(code)

    def close(self) -> None:
        if self.window:
            cv2.destroyWindow(_WINDOW)
            cv2.waitKey(1)


def _default_out() -> Path:
    return Path("hiprom-results") / f"live-{datetime.now():%Y%m%d-%H%M%S}"


def run_live(options: LiveOptions, *, backend_factory: BackendFactory | None = None,
             on_frame: FrameCallback | None = None,
             open_capture: Callable[[int], object] | None = None,
             frames: Callable[[], Iterator[Frame]] | None = None) -> LiveResult:
    """Run a guided session, save it, and return what happened.

    Args:
        options: see :class:`LiveOptions`.
        backend_factory: makes the pose backend; defaults to the bundled MediaPipe model.
        on_frame: called in the UI thread with each drawn picture (None when not drawn)
            and its guide state; a returned :class:`~hiprom.guide.Key` is applied like a
            key press (tests, scripted demos).
        open_capture: opens the camera (tests inject fakes; see ``iter_webcam``).
        frames: makes the frame stream instead of the camera (tests, custom sources); it is
            guided like a camera (keys) but, unless ``realtime``, every frame is analysed.

    Returns:
        The result; ``error`` holds a camera failure that ended the session early (what was
        measured before it is saved).

    Raises:
        HipromError: the source could not be opened at all, or the model failed to load.
    """
    auto = options.source is not None
    realtime = (not options.headless) if options.realtime is None else options.realtime
    guide = Guide(GuideConfig(auto=auto), resolution_wh=options.resolution_wh)
    worker = _Worker(options, backend_factory or default_backend_factory, guide, realtime)
    worker.open_capture, worker.frames_factory = open_capture, frames
    result = LiveResult()
    out_dir = options.out_dir or _default_out()
    ui = _Ui(options, result, on_frame)

    def finalise(interrupted: bool) -> None:
        if result.measurement is None:
            result.measurement, result.written = save_session(
                worker, guide, options, out_dir, custom_model=backend_factory is not None,
                interrupted=interrupted)
        if result.measurement is not None:
            result.frames_analysed = len(result.measurement.timestamps_s)
            ui.screen = result_lines(result.measurement.to_dict(), out_dir)

    thread = threading.Thread(target=worker.run, daemon=True, name="hiprom-worker")
    try:
        if options.threaded:
            thread.start()
            snap = _loop(ui, worker, lambda: finalise(False))
        else:
            snap = _inline(ui, worker, lambda: finalise(False))
        error = worker.newest.error
        if error is not None and not (isinstance(error, HipromError) and worker.phases):
            raise error
        result.error = error  # a camera that failed mid-test: save what was measured
        finalise(not auto and guide.phase is not Phase.RESULT)
        if snap is not None and ui.window and ui.screen and not guide.finished:
            _linger(ui, snap, options.linger_s if auto else None)
    finally:
        worker.stop.set()
        if thread.is_alive():
            thread.join(timeout=5.0)
        ui.close()
    return result


def _handle_keys(ui: _Ui, worker: _Worker) -> None:
    key = ui.key()
    if key is not None:
        worker.keys.put(key)
        if key is Key.QUIT:
            worker.stop.set()


def _present(ui: _Ui, snap: Snapshot, on_result: Callable[[], None]) -> None:
    if snap.state.phase is Phase.RESULT and ui.screen is None:
        on_result()
    ui.show(snap)


def _loop(ui: _Ui, worker: _Worker, on_result: Callable[[], None]) -> Snapshot | None:
    """UI thread: show every newer snapshot as soon as it exists, pass keys to the worker."""
    seq, snap = 0, None
    while True:
        new_seq, item, closed = worker.newest.get(seq, timeout=0.03)
        if new_seq > seq and isinstance(item, Snapshot):
            seq, snap = new_seq, item
            _present(ui, snap, on_result)
        elif closed:
            return snap
        _handle_keys(ui, worker)


def _inline(ui: _Ui, worker: _Worker, on_result: Callable[[], None]) -> Snapshot | None:
    """One thread (benchmark baseline): model, guide and display in turn."""
    last: list[Snapshot] = []

    def after_step(snap: Snapshot) -> None:
        last[:] = [snap]
        _present(ui, snap, on_result)
        _handle_keys(ui, worker)

    worker.run(after_step=after_step)
    return last[0] if last else None


def _linger(ui: _Ui, snap: Snapshot, seconds: float | None) -> None:
    """Keep the result on screen until a key, the window closing, or ``seconds``."""
    end = None if seconds is None else time.perf_counter() + seconds
    ui.show(snap)
    while end is None or time.perf_counter() < end:
        key = ui.key(30)
        if key in (Key.QUIT, Key.NEXT):
            return
