"""hiprom: measure seated hip internal rotation range of motion from a camera.

The public API, in the order a notebook uses it::

    import hiprom
    m = hiprom.measure_path("clip.mp4")                  # a Measurement
    m.legs["left"].internal_rotation_deg                  # degrees, + = internal rotation
    hiprom.write_outputs(m, "results/", annotate=True)    # JSON, CSV, key frame, video
    said = hiprom.interpret_measurement(m)             # verdicts, asymmetry, routine
    print(said.plan.format_text() if said.plan else "no routine: nothing to act on")
"""

from __future__ import annotations

from hiprom._version import __version__
from hiprom.backends import FakeBackend, PoseBackend, RunningMode
from hiprom.core.landmarks import LandmarkName, Landmarks
from hiprom.core.selection import PersonPolicy
from hiprom.errors import (
    BackendError,
    HipromError,
    InputError,
    MeasurementError,
    SourceError,
)
from hiprom.media.document import interpret_measurement, result_document
from hiprom.media.frames import Frame
from hiprom.media.outputs import write_outputs
from hiprom.pipeline.analysis import MeasureOptions
from hiprom.pipeline.measure import measure_path
from hiprom.plan.assessment import DISCLAIMER, LegInput, asymmetry, safety_screen, verdict_for
from hiprom.plan.routines import build_plan
from hiprom.report.document import write_report
from hiprom.results.measurement import Measurement

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
    "interpret_measurement",
    "measure_path",
    "result_document",
    "safety_screen",
    "verdict_for",
    "write_outputs",
    "write_report",
]
