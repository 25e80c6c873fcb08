"""hiprom: measure seated hip internal rotation range of motion from a camera.

The public API, in the order a notebook uses it::

    import hiprom
    m = hiprom.measure_path("clip.mp4")                  # a Measurement
    m.legs["left"].internal_rotation_deg                  # degrees, + = internal rotation
    hiprom.write_outputs(m, "results/", annotate=True)    # JSON, CSV, key frame, video
    plan = hiprom.build_plan(m.leg_input("left"), m.leg_input("right"))
    print(plan.format_text())
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hiprom")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

# Imported after __version__: results.py records the version in every result.
from hiprom.assessment import DISCLAIMER, LegInput, asymmetry, safety_screen, verdict_for  # noqa: E402
from hiprom.backends import FakeBackend, PoseBackend, RunningMode  # noqa: E402
from hiprom.errors import (  # noqa: E402
    BackendError,
    HipromError,
    InputError,
    MeasurementError,
    SourceError,
)
from hiprom.frames import Frame  # noqa: E402
from hiprom.landmarks import LandmarkName, Landmarks  # noqa: E402
from hiprom.measure import measure_path  # noqa: E402
from hiprom.outputs import write_outputs  # noqa: E402
from hiprom.pipeline import MeasureOptions  # noqa: E402
from hiprom.results import Measurement  # noqa: E402
from hiprom.routines import build_plan  # noqa: E402
from hiprom.selection import PersonPolicy  # noqa: E402

__all__ = [
    "DISCLAIMER",
    "BackendError",
    "FakeBackend",
    "Frame",
    "HipromError",
    "InputError",
    "LandmarkName",
    "Landmarks",
    "LegInput",
    "MeasureOptions",
    "Measurement",
    "MeasurementError",
    "PersonPolicy",
    "PoseBackend",
    "RunningMode",
    "SourceError",
    "__version__",
    "asymmetry",
    "build_plan",
    "measure_path",
    "safety_screen",
    "verdict_for",
    "write_outputs",
]
