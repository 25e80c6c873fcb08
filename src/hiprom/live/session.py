"""The live guided test: a capture/inference worker thread, a UI thread, and the saved session.

Threads:
    * **capture** (cameras, and files played in real time): reads frames and keeps only the
      newest one, so a slow consumer never makes the picture lag behind;
    * **worker**: pose model → :func:`~hiprom.pipeline.analysis.iter_records` →
      :class:`~hiprom.live.guide.Guide`,
      publishing the newest (frame, record, guide state) snapshot;
    * **UI** (the calling thread; OpenCV highgui wants it): draws the newest snapshot mirrored
      (selfie view), shows it, reads keys. It never waits for the model.

A file played "fast" (tests, benchmarks) feeds every frame to the model in order, so the
records, and therefore the result, are exactly those of ``hiprom measure`` on that file. The
session is summarised with :func:`~hiprom.pipeline.measure.measurement_from_analysis` and
written with :func:`~hiprom.media.outputs.write_outputs`, plus a ``phase`` CSV column and a
``live`` JSON block.

The worker side lives in :mod:`hiprom.live.worker`, the drawing in :mod:`hiprom.live.view`
and the saving in :mod:`hiprom.live.save`; their public names are re-exported here.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from hiprom.errors import HipromError, InputError, printable
from hiprom.live.guide import Guide
from hiprom.live.save import build_session, save_session
from hiprom.live.save import save_history as save_history
from hiprom.live.states import GuideConfig, GuideState, Key, Phase
from hiprom.live.view import render_view, result_lines, safety_lines
from hiprom.live.worker import LiveOptions, Snapshot, Worker
from hiprom.media.document import result_document
from hiprom.media.frames import Frame
from hiprom.media.sources import is_image
from hiprom.pipeline.analysis import BackendFactory
from hiprom.pipeline.measure import default_backend_factory
from hiprom.results.measurement import Measurement

__all__ = ["DEFAULT_OUT_PARENT", "LiveOptions", "LiveResult", "Snapshot", "build_session",
           "run_live"]

#: Called with each drawn picture (None when not drawn) and its state; may return a key.
FrameCallback = Callable[[np.ndarray | None, GuideState], Key | None]


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
        interrupted: the session was stopped by Ctrl-C or a stop signal (what was measured
            before it is saved, flagged ``truncated``).

    """

    measurement: Measurement | None = None
    written: list[Path] = field(default_factory=list)
    error: HipromError | None = None
    latency_s: list[float] = field(default_factory=list)
    shown_s: list[float] = field(default_factory=list)
    frames_analysed: int = 0
    interrupted: bool = False

    @property
    def fps(self) -> float:
        """Frames shown per second over the session."""
        if len(self.shown_s) < 2:
            return float("nan")
        return (len(self.shown_s) - 1) / (self.shown_s[-1] - self.shown_s[0])


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


#: The folder each session without an output folder of its own is saved below.
DEFAULT_OUT_PARENT = Path("hiprom-results")


def _default_out() -> Path:
    return DEFAULT_OUT_PARENT / f"live-{datetime.now():%Y%m%d-%H%M%S}"


def run_live(options: LiveOptions, *, backend_factory: BackendFactory | None = None,
             on_frame: FrameCallback | None = None,
             open_capture: Callable[[int], object] | None = None,
             frames: Callable[[], Iterator[Frame]] | None = None) -> LiveResult:
    """Run a guided session, save it, and return what happened.

    Args:
        options: see :class:`LiveOptions`.
        backend_factory: makes the pose backend; defaults to the bundled MediaPipe model.
        on_frame: called in the UI thread with each drawn picture (None when not drawn)
            and its guide state; a returned :class:`~hiprom.live.guide.Key` is applied like a
            key press (tests, scripted demos).
        open_capture: opens the camera (tests inject fakes; see ``iter_webcam``).
        frames: makes the frame stream instead of the camera (tests, custom sources); it is
            guided like a camera (keys) but, unless ``realtime``, every frame is analysed.

    Returns:
        The result; ``error`` holds a camera failure that ended the session early (what was
        measured before it is saved).

    Raises:
        HipromError: the source could not be opened at all, or the model failed to load;
            InputError when ``options.source`` is a photo (one frame holds no test).

    """
    if options.source is not None and frames is None and is_image(options.source):
        # One frame cannot hold a neutral and reps: it would be saved as an empty test.
        raise InputError(f"{printable(options.source)} is a photo; hiprom live plays a video "
                         "(measure a photo with hiprom measure)")
    auto = options.source is not None
    realtime = (not options.headless) if options.realtime is None else options.realtime
    guide = Guide(GuideConfig(auto=auto), resolution_wh=options.resolution_wh,
                  options=options.measure, background=realtime)
    worker = Worker(options, backend_factory or partial(default_backend_factory,
                                                         model=options.measure.model),
                    guide, realtime)
    worker.open_capture, worker.frames_factory = open_capture, frames
    result = LiveResult()
    out_dir = options.out_dir or _default_out()
    ui = _Ui(options, result, on_frame)

    def finalise(interrupted: bool, *, only_with_values: bool = False) -> None:
        if result.measurement is None:
            result.measurement, result.written = save_session(
                worker, guide, options, out_dir, custom_model=backend_factory is not None,
                interrupted=interrupted, only_with_values=only_with_values)
        if result.measurement is not None:
            result.frames_analysed = len(result.measurement.timestamps_s)
            ui.screen = result_lines(result_document(result.measurement), out_dir)

    thread = threading.Thread(target=worker.run, daemon=True, name="hiprom-worker")
    try:
        try:
            if options.threaded:
                thread.start()
                snap = _loop(ui, worker, lambda: finalise(False))
            else:
                snap = _inline(ui, worker, lambda: finalise(False))
            if isinstance(worker.newest.error, KeyboardInterrupt):  # the inline worker's
                raise worker.newest.error
        except KeyboardInterrupt:
            # Ctrl-C (or a stop signal turned into one) ends the test like q: what was
            # measured so far is saved, flagged truncated, once the worker has stopped.
            worker.stop.set()
            if thread.is_alive():
                thread.join(timeout=5.0)
            if not thread.is_alive():  # stopped: tally its last reps (again is harmless)
                guide.settle()
            if guide.phase is Phase.RESULT:  # the test was complete: saved, nothing lost
                finalise(False)
                return result
            result.interrupted = True
            # Stopped before any value was measured: nothing to keep, so nothing is saved.
            finalise(True, only_with_values=True)
            return result
        error = worker.newest.error
        if error is not None and not (isinstance(error, HipromError) and worker.phases):
            raise error
        result.error = error  # a camera that failed mid-test: save what was measured
        finalise(not auto and guide.phase is not Phase.RESULT)
        if snap is not None and ui.window and ui.screen and not guide.finished:
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C closes the saved result
                _linger(ui, snap, options.linger_s if auto else None)
    finally:
        worker.stop.set()
        if thread.is_alive():
            thread.join(timeout=5.0)
        ui.close()
    return result


def _handle_keys(ui: _Ui, worker: Worker) -> None:
    key = ui.key()
    if key is not None:
        worker.keys.put(key)
        if key is Key.QUIT:
            worker.stop.set()


def _present(ui: _Ui, snap: Snapshot, on_result: Callable[[], None]) -> None:
    if snap.state.phase is Phase.RESULT and ui.screen is None:
        on_result()
    ui.show(snap)


def _loop(ui: _Ui, worker: Worker, on_result: Callable[[], None]) -> Snapshot | None:
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


def _inline(ui: _Ui, worker: Worker, on_result: Callable[[], None]) -> Snapshot | None:
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
