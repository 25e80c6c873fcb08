"""One small exception hierarchy; the CLI catches :class:`HipromError` once.

Every message states what was wrong and what to do about it, in one line.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "HipromError",
    "InputError",
    "MeasurementError",
    "SourceError",
]


class HipromError(Exception):
    """Base class of every error hiprom raises on purpose."""


class SourceError(HipromError):
    """A video, image or camera could not be opened or read."""


class BackendError(HipromError):
    """The pose model is missing, corrupt, or failed to run."""


class InputError(HipromError):
    """An argument or file has the wrong shape, type or content."""


class MeasurementError(HipromError):
    """The input was read but nothing measurable was found (no person, legs out of frame...)."""


class MissingExtraError(HipromError, ImportError):
    """An optional dependency (an ``hiprom[...]`` extra) is not installed."""


class StoreError(HipromError):
    """The results store cannot be opened or has an unknown schema."""


class LiveError(SourceError):
    """The camera failed before or during a live session (reps measured so far are saved)."""


class CameraDisconnected(SourceError):
    """The camera stopped delivering frames in the middle of a stream."""


class SinkError(HipromError):
    """An output file could not be written."""
