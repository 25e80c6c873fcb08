"""Pose backends: turn an RGB image into :class:`hiprom.core.landmarks.Landmarks`."""

from hiprom.backends.base import PoseBackend, RunningMode
from hiprom.backends.fake import FakeBackend

__all__ = ["FakeBackend", "PoseBackend", "RunningMode"]
