"""MediaPipe Pose Landmarker (Tasks API) behind the :class:`PoseBackend` protocol.

``mediapipe`` is imported lazily, and its result objects are converted once, by
:func:`from_mediapipe`, so nothing downstream sees a MediaPipe type.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hiprom._hashing import sha256_file
from hiprom._native import block_mediapipe_usage_logging, native_stderr_silenced
from hiprom.backends.base import PoseModel, RunningMode
from hiprom.core.landmarks import N_LANDMARKS, LandmarkName, Landmarks
from hiprom.errors import BackendError

__all__ = [
    "DEFAULT_MODEL_NAME",
    "MediaPipeBackend",
    "default_model_path",
    "from_mediapipe",
    "model_info",
    "preload",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "pose_landmarker_full.task"
_ZIP_MAGIC = b"PK\x03\x04"


def default_model_path(model: PoseModel | str = PoseModel.FULL) -> Path:
    """Path of a model bundled with hiprom (``models/pose_landmarker_<model>.task``)."""
    try:
        bundle = PoseModel(model).bundle
    except ValueError:
        raise BackendError(f"unknown pose model {model!r}; use full, heavy or lite") from None
    return Path(str(resources.files("hiprom.models").joinpath(bundle)))


@lru_cache(maxsize=8)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    """Cached per (path, size, mtime): the model is hashed once per process."""
    return sha256_file(path)


def model_info(path: Path | None = None, model: PoseModel | str = PoseModel.FULL
               ) -> dict[str, str]:
    """Name and sha256 of a model file (default: the bundled ``model``), for provenance."""
    path = Path(path) if path is not None else default_model_path(model)
    stat = path.stat()
    return {"name": path.name, "sha256": _sha256(path, stat.st_size, stat.st_mtime_ns)}


@lru_cache(maxsize=4)
def _model_bytes(path: Path, size: int, mtime_ns: int) -> bytes:
    """Cached per (path, size, mtime): a process reads the model file once."""
    return path.read_bytes()


def _check_model_file(path: Path) -> bytes:
    if not path.is_file():
        raise BackendError(
            f"pose model not found at {path}: reinstall hiprom, or rebuild it with "
            "models/build_pose_model.py (see models/README.md)"
        )
    stat = path.stat()
    data = _model_bytes(path, stat.st_size, stat.st_mtime_ns)
    if len(data) < 1024 or not data.startswith(_ZIP_MAGIC):
        raise BackendError(
            f"pose model {path} is corrupt (not a MediaPipe .task bundle): reinstall hiprom, "
            "or rebuild it with models/build_pose_model.py"
        )
    return data


@lru_cache(maxsize=1)
def _import_tasks() -> None:
    """Import MediaPipe's vision tasks once, without its matplotlib drawing helpers.

    ``mediapipe`` imports ``matplotlib.pyplot`` for its drawing utilities (about 0.4 s of
    a process's start-up here); hiprom never uses them. While MediaPipe is imported, empty
    placeholders stand in for ``matplotlib`` and ``matplotlib.pyplot`` (only when they are
    not imported yet); they are removed right after, so any later ``import matplotlib``
    gets the real package.

    Its audio tasks import ``sounddevice`` (PortAudio through cffi: about 60 ms of every
    process's start-up, each batch worker's included) for microphone recording, which
    hiprom never does; MediaPipe's ``audio_record`` is written to do without it (it
    catches the ImportError). While MediaPipe is imported, ``sounddevice`` is blocked
    (only when it is not imported yet) and unblocked right after, so a later
    ``import sounddevice`` works as usual.
    """
    import sys
    import types

    placeholders: dict[str, types.ModuleType | None] = {}
    for name in ("matplotlib", "matplotlib.pyplot"):
        if name not in sys.modules:
            module = types.ModuleType(name, "placeholder while mediapipe is imported")
            module.__path__ = []
            placeholders[name] = sys.modules[name] = module
    if "sounddevice" not in sys.modules:
        sys.modules["sounddevice"] = None  # type: ignore[assignment]  # import fails
        placeholders["sounddevice"] = None
    try:
        import mediapipe.tasks.python.vision  # noqa: F401
    finally:
        for name, placeholder in placeholders.items():
            if name in sys.modules and sys.modules[name] is placeholder:
                del sys.modules[name]


#: IMAGE-mode 2-person searchers kept between backends, by (model, confidence); see preload.
_KEPT_SEARCHERS: dict[tuple[Path, float], tuple[Any, Any]] | None = None


def preload(model_path: Path | None = None, *, keep_searcher: bool = False) -> None:
    """Pay start-up once per process: import MediaPipe and read the model file.

    Batch workers call it when they start (:func:`hiprom.batch.run.warm_worker`), so each
    file then only creates its landmarker.

    With ``keep_searcher``, the IMAGE-mode search for other people (``crowd_check_s``) is
    created once and kept for the life of the process instead of once per backend: it has
    no state between images, so results do not change, and each clip then creates only
    its VIDEO-mode tracker (the tracker, which carries state from frame to frame, is always
    fresh). The kept searcher holds MediaPipe's usage logging off the network (see
    :class:`MediaPipeBackend`) for as long as the process runs, so this is for worker
    processes that only score files, one at a time.

    Raises:
        BackendError: the model is missing or corrupt, or MediaPipe cannot be imported.

    """
    try:
        _import_tasks()
    except ImportError as err:  # pragma: no cover - mediapipe is a core dependency
        raise BackendError(f"mediapipe is not importable ({err}): reinstall hiprom") from err
    _check_model_file(Path(model_path) if model_path is not None else default_model_path())
    global _KEPT_SEARCHERS
    if keep_searcher and _KEPT_SEARCHERS is None:
        _KEPT_SEARCHERS = {}


def from_mediapipe(result: Any, resolution_wh: tuple[int, int]) -> Landmarks:
    """Convert a MediaPipe ``PoseLandmarkerResult`` into :class:`Landmarks`.

    MediaPipe gives x, y normalised to [0, 1] of the image width/height; they are scaled
    to pixels here. World landmarks (metres, hip-centred) are kept as ``world_xyz``.
    """
    poses = result.pose_landmarks or []
    if not poses:
        return Landmarks.empty(resolution_wh)
    w, h = resolution_wh
    xy = np.zeros((len(poses), N_LANDMARKS, 2), np.float32)
    vis = np.zeros((len(poses), N_LANDMARKS), np.float32)
    for p, pose in enumerate(poses):
        for i, lm in enumerate(pose[:N_LANDMARKS]):
            xy[p, i] = (lm.x * w, lm.y * h)
            vis[p, i] = lm.visibility if lm.visibility is not None else 0.0
    world = None
    worlds = result.pose_world_landmarks or []
    if len(worlds) == len(poses):
        world = np.array(
            [[(lm.x, lm.y, lm.z) for lm in pose[:N_LANDMARKS]] for pose in worlds], np.float32
        )
    return Landmarks(xy=xy, visibility=vis, resolution_wh=resolution_wh, world_xyz=world)


class MediaPipeBackend:
    """MediaPipe PoseLandmarker on the CPU.

    Args:
        mode: ``VIDEO`` for frames of one clip (tracking between frames, faster),
            ``IMAGE`` for independent stills.
        num_poses: how many people to follow in every frame. With 1 in VIDEO mode the
            model tracks the subject and skips the person detector (about half the cost
            of 2 here), so others are looked for only every ``crowd_check_s`` seconds.
        crowd_check_s: with ``num_poses=1`` in VIDEO mode, every this many seconds of
            video a separate IMAGE-mode search for up to 2 people runs on the frame, and
            the people it finds besides the subject are appended; those frames are
            marked ``complete``. None disables the check (frames are then incomplete).
        model_path: a ``.task`` bundle; defaults to the bundled ``model``.
        model: which bundled network (:class:`~hiprom.backends.base.PoseModel`) when no
            ``model_path`` is given.
        min_confidence: detection/presence/tracking thresholds.

    While it is open, MediaPipe's built-in usage logging is kept on this machine: this
    process's ``https_proxy`` points at a refusing loopback port and ``no_proxy`` is unset
    (restored when the last backend closes; see README.md, "Privacy").

    Raises:
        BackendError: the model is missing or corrupt, or MediaPipe cannot load it.

    """

    name = "mediapipe"

    def __init__(
        self,
        *,
        mode: RunningMode = RunningMode.VIDEO,
        num_poses: int = 2,
        crowd_check_s: float | None = 1.0,
        model_path: Path | None = None,
        min_confidence: float = 0.5,
        model: PoseModel | str = PoseModel.FULL,
    ) -> None:
        self.model_path = (Path(model_path) if model_path is not None
                           else default_model_path(model))
        self.mode = RunningMode(mode)
        self.num_poses = num_poses
        buffer = _check_model_file(self.model_path)
        # MediaPipe's built-in usage logging would reach out to Google; see _native.py.
        self._offline = block_mediapipe_usage_logging()
        self._landmarker = self._searcher = None
        self._searcher_kept = False
        try:
            self._landmarker = self._create(buffer, self.mode, num_poses, min_confidence)
            if crowd_check_s is not None and num_poses == 1 and self.mode is RunningMode.VIDEO:
                self._searcher = self._kept_searcher(buffer, min_confidence)
                self._searcher_kept = self._searcher is not None
                if self._searcher is None:
                    self._searcher = self._create(buffer, RunningMode.IMAGE, 2, min_confidence)
        except BaseException:
            self.close()
            raise
        self._crowd_check_s = crowd_check_s
        self._next_check_s = float("-inf")
        self._last_ms = -1
        self._calls = 0

    def _kept_searcher(self, buffer: bytes, min_confidence: float) -> Any | None:
        """The process's kept IMAGE-mode searcher (see :func:`preload`), or None."""
        if _KEPT_SEARCHERS is None:
            return None
        key = (self.model_path, min_confidence)
        if key not in _KEPT_SEARCHERS:
            block = block_mediapipe_usage_logging()  # held until the process ends
            try:
                searcher = self._create(buffer, RunningMode.IMAGE, 2, min_confidence)
            except BaseException:
                block.release()
                raise
            _KEPT_SEARCHERS[key] = (searcher, block)
        return _KEPT_SEARCHERS[key][0]

    def _create(self, buffer: bytes, mode: RunningMode, num_poses: int,
                min_confidence: float) -> Any:
        try:
            _import_tasks()
            from mediapipe.tasks.python.core.base_options import BaseOptions
            from mediapipe.tasks.python.vision import PoseLandmarker, PoseLandmarkerOptions
            from mediapipe.tasks.python.vision.core.vision_task_running_mode import (
                VisionTaskRunningMode,
            )
        except ImportError as err:  # pragma: no cover - mediapipe is a core dependency
            raise BackendError(f"mediapipe is not importable ({err}): reinstall hiprom") from err
        running = (
            VisionTaskRunningMode.VIDEO if mode is RunningMode.VIDEO
            else VisionTaskRunningMode.IMAGE
        )
        options = PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=buffer),
            running_mode=running,
            num_poses=num_poses,
            min_pose_detection_confidence=min_confidence,
            min_pose_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )
        try:
            with native_stderr_silenced():
                return PoseLandmarker.create_from_options(options)
        except (FileNotFoundError, RuntimeError, ValueError) as err:
            raise BackendError(
                f"MediaPipe could not load the pose model {self.model_path.name} ({err}); "
                "rebuild it with models/build_pose_model.py"
            ) from err

    def __call__(self, image_rgb: npt.NDArray[np.uint8], *, timestamp_s: float) -> Landmarks:
        """Landmarks of every person found in ``image_rgb`` (``(H, W, 3)`` uint8 RGB)."""
        import mediapipe as mp

        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
            raise BackendError(
                f"image_rgb must be (H, W, 3) uint8, got {image_rgb.shape} {image_rgb.dtype}"
            )
        landmarker = self._landmarker
        if landmarker is None:
            raise BackendError("this pose backend is closed; open a new one")
        h, w = image_rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image_rgb))
        # The first inferences log one-off native warnings; later ones are silent.
        with native_stderr_silenced(self._calls < 2):
            if self.mode is RunningMode.VIDEO:
                # MediaPipe needs strictly increasing integer milliseconds.
                ms = max(int(round(timestamp_s * 1000.0)), self._last_ms + 1)
                self._last_ms = ms
                result = landmarker.detect_for_video(image, ms)
            else:
                result = landmarker.detect(image)
        self._calls += 1
        landmarks = from_mediapipe(result, (w, h))
        if self.mode is RunningMode.VIDEO and self.num_poses == 1:
            landmarks = self._with_others(image, landmarks, timestamp_s)
        return landmarks

    def _with_others(self, image: Any, subject: Landmarks, timestamp_s: float) -> Landmarks:
        """Every ``crowd_check_s``, look for other people and append them to ``subject``."""
        if self._searcher is None or timestamp_s < self._next_check_s:
            return replace(subject, complete=False)
        self._next_check_s = timestamp_s + float(self._crowd_check_s or 0.0)
        with native_stderr_silenced(self._calls < 3):
            everyone = from_mediapipe(self._searcher.detect(image), subject.resolution_wh)
        if subject.n_persons == 0 or everyone.n_persons == 0:
            return everyone if subject.n_persons == 0 else subject
        # Drop the search's copy of the subject: the person whose hips are nearest.
        hips = [LandmarkName.LEFT_HIP, LandmarkName.RIGHT_HIP]
        centre = subject.xy[0, hips].mean(axis=0)
        dist = np.hypot(*(everyone.xy[:, hips].mean(axis=1) - centre).T)
        others = [i for i in range(everyone.n_persons) if i != int(np.argmin(dist))]
        if not others:
            return subject
        return Landmarks(
            xy=np.concatenate([subject.xy, everyone.xy[others]]),
            visibility=np.concatenate([subject.visibility, everyone.visibility[others]]),
            resolution_wh=subject.resolution_wh,
        )

    def close(self) -> None:
        """Release the native graph (its usage logging posts once more as it closes)."""
        if getattr(self, "_searcher_kept", False):
            self._searcher = None  # kept for the next backend of this process (preload)
        for attr in ("_landmarker", "_searcher"):
            landmarker = getattr(self, attr, None)
            if landmarker is not None:
                with native_stderr_silenced():
                    landmarker.close()
                setattr(self, attr, None)
        offline = getattr(self, "_offline", None)
        if offline is not None:
            offline.release()

    def __enter__(self) -> MediaPipeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
