"""The measurement's mathematics, pure numpy/scipy.

Landmarks, per-frame geometry, the view correction, the neutral-knee pivot, holds and the
seated-test protocol. No OpenCV, no files, no cameras, nothing from the layers above
(tests/test_layers.py enforces it).
"""
