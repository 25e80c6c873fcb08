"""The live session's worker side: options, the capture and model threads, and snapshots.

* **capture** (cameras, and files played in real time): reads frames and keeps only the
  newest one, so a slow consumer never makes the picture lag behind;
* **worker**: pose model → :func:`~hiprom.pipeline.analysis.iter_records` →
  :class:`~hiprom.live.guide.Guide`, publishing the newest :class:`Snapshot`.

:mod:`hiprom.live.session` re-exports the public names and runs the UI thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hiprom.backends.base import RunningMode
from hiprom.core.selection import PersonTracker
from hiprom.errors import CameraDisconnected, HipromError, LiveError
from hiprom.live.guide import Guide
from hiprom.live.states import GuideState, Key
from hiprom.media.frames import Frame
from hiprom.media.sources import iter_video, iter_webcam
from hiprom.pipeline.analysis import (
    Analysis,
    BackendFactory,
    FrameRecord,
    MeasureOptions,
    iter_records,
)

__all__ = ["LiveOptions", "Newest", "Snapshot", "Worker"]

log = logging.getLogger(__name__)


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
        measure: how frames are measured and summarised: the options of ``hiprom measure``,
            carried whole to the pipeline, the guide's rep scoring and the saved session.
        show_faces: save the key frame without blurring faces (``--show-faces``).

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
    measure: MeasureOptions = MeasureOptions()
    render: bool = False
    show_faces: bool = False


@dataclass(frozen=True)
class Snapshot:
    """The newest analysed frame with what to show for it."""

    frame: Frame
    record: FrameRecord
    state: GuideState
    captured_s: float



class Newest:
    """A one-slot mailbox: ``put`` replaces the item, ``get`` waits for a newer one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: object = None
        self._seq = 0
        self._closed = False
        self.error: BaseException | None = None

    def put(self, item: object) -> None:
        """Replace the held item with ``item`` and wake the readers."""
        with self._cond:
            self._item, self._seq = item, self._seq + 1
            self._cond.notify_all()

    def close(self, error: BaseException | None = None) -> None:
        """Close the slot (with the worker's error, if any) and wake the readers."""
        with self._cond:
            self._closed, self.error = True, error
            self._cond.notify_all()

    def get(self, after: int, timeout: float | None = None) -> tuple[int, object, bool]:
        """``(seq, item, closed)``: waits until an item newer than ``after`` or the close."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after or self._closed, timeout)
            return self._seq, self._item, self._closed


def camera_message(camera: int, frames: int) -> str:
    if frames == 0:
        return (f"Camera {camera} opened but sent no picture: close other apps using it, try "
                "--camera 1, check permissions, or list devices with `ls /dev/video*`")
    return (f"Camera {camera} stopped after {frames} frames: check its cable or connection, "
            "then run `hiprom live` again")


def paced(frames: Iterator[Frame]) -> Iterator[Frame]:
    """Yield a file's frames no faster than their timestamps (a camera-like stream)."""
    t0 = time.perf_counter()
    for frame in frames:
        delay = t0 + frame.timestamp_s - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield frame


class Worker:
    """Capture (optional thread) and model + guide (worker thread) of one session."""

    def __init__(self, options: LiveOptions, factory: BackendFactory, guide: Guide,
                 realtime: bool) -> None:
        self.o, self.factory, self.guide, self.realtime = options, factory, guide, realtime
        self.analysis = Analysis(tracker=PersonTracker())
        self.phases: list[str] = []
        self.keys: queue.SimpleQueue[Key] = queue.SimpleQueue()
        self.newest = Newest()
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
            return paced(video) if self.realtime else video
        extra: dict[str, Any] = ({} if self.open_capture is None
                                 else {"open_capture": self.open_capture})
        return iter_webcam(self.o.camera, resolution_wh=self.o.resolution_wh, **extra)

    def _capture(self, box: Newest) -> None:
        try:
            for frame in self._raw_frames():
                self.frames_read += 1
                box.put((frame, time.perf_counter()))
                if self.stop.is_set():
                    break
            box.close()
        except CameraDisconnected:
            box.close(LiveError(camera_message(self.o.camera, self.frames_read)))
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
                raise LiveError(camera_message(self.o.camera, self.frames_read)) from err
            return
        box = Newest()
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
                for record in iter_records(self.frames(), backend, options=self.o.measure,
                                           analysis=self.analysis):
                    if not self.phases:
                        log.debug("live: first frame analysed")  # the model is up
                    snap = self.step(record)
                    if after_step is not None:
                        after_step(snap)
                    if self.guide.finished or self.stop.is_set():
                        break
            self.guide.settle()
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
