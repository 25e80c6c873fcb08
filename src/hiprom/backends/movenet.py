"""A second pose network on the knees and ankles (``--second-network``).

BlazePose's knee and ankle points err in ways of their own (long trousers in the seat's
colour, a camera below the knees); Google's MoveNet Thunder, another network with its own
training data and the 17 COCO keypoints, errs differently: over validation2's 958
leg-frames their shank angle errors correlate only 0.56. :class:`SecondNetworkBackend`
wraps a BlazePose backend and replaces each person's knee and ankle points by the mean of
both networks' points where MoveNet is sure of its point and both name the same joint;
everything else (hips, visibility, the person search) stays BlazePose's. docs/ACCURACY.md
has what it changes and what it costs.

MoveNet runs on a square crop around the person's BlazePose points, through the LiteRT
interpreter (``ai_edge_litert``, imported when the backend opens); the model is the
bundled ``movenet_thunder.tflite`` (models/README.md; ``models/build_movenet.py``).
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hiprom._native import native_stderr_silenced
from hiprom.backends.base import PoseBackend
from hiprom.core.landmarks import LandmarkName, Landmarks
from hiprom.errors import BackendError

__all__ = ["MAX_GAP_SHANKS", "MIN_SCORE", "MODEL_NAME", "SecondNetworkBackend", "model_path",
           "refine_points"]

#: The bundled second network (models/README.md).
MODEL_NAME = "movenet_thunder.tflite"
#: MoveNet Thunder's input: a square RGB crop of this many pixels.
INPUT_SIZE = 256
#: The crop spans the person's points' larger extent times this (centred on them).
CROP_SCALE = 1.2
#: A person needs this many finite BlazePose points to place the crop.
MIN_POINTS = 20
#: MoveNet's score below which its point is not used: what its model card advises for
#: occluded or out-of-frame keypoints, which it still places, with a low score.
MIN_SCORE = 0.3
#: Farther than this from BlazePose's point (in BlazePose's shank lengths), the two
#: networks are not looking at the same joint (another person, a hidden leg: 1.4-3.7 shanks
#: apart on the shared footage): not averaged. Not a tuned limit: on the renders the two
#: disagree by far less, and a gate at 0.3 shanks dropped the very points averaging mends
#: (validation2's fit clips: 1.31° → 1.41° mean, largest 5.68° → 7.79°).
MAX_GAP_SHANKS = 1.0
#: BlazePose's knee and ankle landmarks, by the model's own side labels.
_BLAZEPOSE = {"left": (LandmarkName.LEFT_KNEE, LandmarkName.LEFT_ANKLE),
              "right": (LandmarkName.RIGHT_KNEE, LandmarkName.RIGHT_ANKLE)}
#: MoveNet's (COCO) knee and ankle keypoints, by its own side labels.
_MOVENET = {"left": (13, 15), "right": (14, 16)}


def model_path() -> Path:
    """Path of the bundled MoveNet Thunder model."""
    return Path(str(resources.files("hiprom.models").joinpath(MODEL_NAME)))


def _crop(points: npt.NDArray[np.float64]) -> tuple[float, float, float] | None:
    """Top-left corner and pixels per crop pixel of the square around ``points``."""
    finite = np.isfinite(points).all(axis=1)
    if finite.sum() < MIN_POINTS:
        return None
    lo, hi = points[finite].min(axis=0), points[finite].max(axis=0)
    half = CROP_SCALE / 2 * float(max(hi - lo))
    if not half > 0:
        return None
    centre = (lo + hi) / 2
    return float(centre[0] - half), float(centre[1] - half), 2 * half / INPUT_SIZE


def refine_points(points: npt.ArrayLike, keypoints: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """BlazePose's 33 points with each knee and ankle averaged with MoveNet's.

    Args:
        points: ``(33, 2)`` one person's BlazePose points, pixels.
        keypoints: ``(17, 3)`` MoveNet's points of the same person: x, y (pixels), score.

    The two networks' side labels are paired by which pairing puts the knees closer (a
    network may swap left and right on its own). A point stays BlazePose's where either is
    not finite, where MoveNet's score is below :data:`MIN_SCORE`, or where the two lie
    more than :data:`MAX_GAP_SHANKS` of BlazePose's shank apart.

    Examples:
        >>> bp = np.zeros((33, 2)); mn = np.zeros((17, 3))
        >>> bp[25], bp[26], bp[27], bp[28] = (10, 0), (20, 0), (10, 40), (20, 40)
        >>> mn[13], mn[14], mn[15], mn[16] = (21, 0, .9), (12, 0, .9), (21, 40, .9), (12, 40, .9)
        >>> refine_points(bp, mn)[[25, 26], 0].tolist()  # MoveNet's labels were swapped
        [11.0, 20.5]

    """
    out = np.array(points, dtype=np.float64)
    kp = np.asarray(keypoints, dtype=np.float64)
    b_left, b_right = out[_BLAZEPOSE["left"][0]], out[_BLAZEPOSE["right"][0]]
    m_left, m_right = kp[_MOVENET["left"][0], :2], kp[_MOVENET["right"][0], :2]
    if not (np.isfinite([b_left, b_right, m_left, m_right]).all()):
        return out.astype(np.float32)
    same = (np.hypot(*(b_left - m_left)) + np.hypot(*(b_right - m_right))
            <= np.hypot(*(b_left - m_right)) + np.hypot(*(b_right - m_left)))
    for side, other in (("left", "right"), ("right", "left")):
        knee, ankle = _BLAZEPOSE[side]
        shank = float(np.hypot(*(out[ankle] - out[knee])))
        for b, m in zip(_BLAZEPOSE[side], _MOVENET[side if same else other], strict=True):
            agree = (np.isfinite(kp[m]).all() and np.isfinite(out[b]).all()
                     and kp[m, 2] >= MIN_SCORE
                     and np.hypot(*(kp[m, :2] - out[b])) <= MAX_GAP_SHANKS * shank)
            if agree:
                out[b] = (out[b] + kp[m, :2]) / 2
    return out.astype(np.float32)


class SecondNetworkBackend:
    """A pose backend whose knees and ankles are BlazePose's averaged with MoveNet Thunder's.

    Args:
        inner: the BlazePose backend (any :class:`~hiprom.backends.base.PoseBackend`).
        model: the MoveNet ``.tflite``; the bundled one by default.
        num_threads: the interpreter's threads (one: a batch runs a process per core).

    Raises:
        BackendError: on opening, when the model file is missing or the LiteRT runtime
            cannot load it.

    """

    def __init__(self, inner: PoseBackend, model: Path | None = None,
                 num_threads: int = 1) -> None:
        self.inner = inner
        self.name = f"{inner.name}+movenet_thunder"
        self._path = model or model_path()
        self._threads = num_threads
        self._interpreter: Any = None

    def _open(self) -> None:
        if not self._path.is_file():
            raise BackendError(f"second pose network not found at {self._path}: reinstall "
                               "hiprom, or rebuild it with models/build_movenet.py")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as err:  # a broken install: the package is a dependency
            raise BackendError(f"the LiteRT runtime (ai-edge-litert) cannot be imported "
                               f"({err}); reinstall hiprom") from None
        try:
            # LiteRT announces its CPU delegate on stderr when the first run sets it up.
            with native_stderr_silenced():
                interpreter = Interpreter(model_path=str(self._path),
                                          num_threads=self._threads)
                interpreter.allocate_tensors()
                self._in = interpreter.get_input_details()[0]["index"]
                self._out = interpreter.get_output_details()[0]["index"]
                interpreter.set_tensor(self._in, np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3),
                                                          np.int32))
                interpreter.invoke()
        except (RuntimeError, ValueError) as err:
            raise BackendError(f"second pose network {self._path} cannot be loaded ({err}); "
                               "reinstall hiprom") from None
        self._interpreter = interpreter

    def keypoints(self, image_rgb: npt.NDArray[np.uint8],
                  points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64] | None:
        """MoveNet's ``(17, 3)`` points of the person at ``points`` (x, y in pixels, score).

        None when the person's points cannot place a crop.
        """
        import cv2

        crop = _crop(points)
        if crop is None:
            return None
        if self._interpreter is None:
            self._open()
        x0, y0, scale = crop
        warp = np.array([[1 / scale, 0, -x0 / scale], [0, 1 / scale, -y0 / scale]], np.float32)
        patch = cv2.warpAffine(image_rgb, warp, (INPUT_SIZE, INPUT_SIZE),
                               flags=cv2.INTER_LINEAR)
        self._interpreter.set_tensor(self._in, patch[None].astype(np.int32))
        self._interpreter.invoke()
        yxs = np.asarray(self._interpreter.get_tensor(self._out), np.float64)[0, 0]
        return np.column_stack([yxs[:, 1] * INPUT_SIZE * scale + x0,
                                yxs[:, 0] * INPUT_SIZE * scale + y0, yxs[:, 2]])

    def __call__(self, image_rgb: npt.NDArray[np.uint8], *, timestamp_s: float) -> Landmarks:
        """BlazePose's landmarks with each person's knees and ankles refined."""
        landmarks = self.inner(image_rgb, timestamp_s=timestamp_s)
        if landmarks.n_persons == 0:
            return landmarks
        xy = landmarks.xy.copy()
        for person in range(landmarks.n_persons):
            points = xy[person].astype(np.float64)
            keypoints = self.keypoints(image_rgb, points)
            if keypoints is not None:
                xy[person] = refine_points(points, keypoints)
        return replace(landmarks, xy=xy)

    def _release(self) -> None:
        with native_stderr_silenced():  # LiteRT says goodbye to its CPU delegate on stderr
            self._interpreter = None

    def close(self) -> None:
        """Release both networks."""
        self._release()
        self.inner.close()

    def __enter__(self) -> SecondNetworkBackend:
        if self._interpreter is None:
            self._open()   # first: a second network that cannot load leaves nothing open
        try:
            self.inner.__enter__()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
