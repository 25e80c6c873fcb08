"""What a batch worker keeps between files: loaded once, reused, and leaking nothing.

A worker (:func:`hiprom.batch.run.warm_worker`) keeps the stateless IMAGE-mode networks:
the pose search for other people (:func:`hiprom.backends.mediapipe.preload`) and the face
detectors that blur the key frame (:func:`hiprom.backends.faces.keep_detectors`). These
tests pin that the kept ones are really reused, that a process that did not ask for them
still gets fresh ones, closed after use, and that a file's images do not depend on which
file the kept detector saw before.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import hiprom.backends.faces as faces

pytestmark = pytest.mark.mediapipe

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.fixture
def no_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start with no kept detector and drop whatever the test kept."""
    monkeypatch.setattr(faces, "_KEPT", None)


def test_without_keeping_each_use_gets_a_fresh_detector_closed_after(no_kept):
    with faces.open_detector() as first:
        assert first._detectors, "open while in use"
    with faces.open_detector() as second:
        pass
    assert first is not second
    assert not first._detectors and not second._detectors, "closed after use"


def test_a_kept_detector_is_opened_once_and_stays_open(no_kept, monkeypatch):
    opened = []
    real_init = faces.FaceDetector.__init__

    def counting_init(self, **kwargs):
        opened.append(kwargs)
        real_init(self, **kwargs)

    monkeypatch.setattr(faces.FaceDetector, "__init__", counting_init)
    faces.keep_detectors()
    with faces.open_detector() as first:
        pass
    with faces.open_detector() as second:
        pass
    assert first is second and len(opened) == 1
    assert first._detectors, "a kept detector stays open"
    with faces.open_detector(min_confidence=0.5) as other:  # another setting: its own
        assert other is not first
    first.close()
    other.close()


@pytest.mark.slow
def test_a_key_frame_is_the_same_whatever_the_kept_detector_saw_before(no_kept, tmp_path,
                                                                         real_footage):
    # A file with faces, its key frame blurred by a fresh detector, and by the kept
    # detector after it blurred another file's: the PNGs must be identical.
    from hiprom.media.outputs import write_outputs
    from hiprom.pipeline.measure import measure_path

    item = real_footage / "10_outdoor_two_people_backlit_4s.mp4"
    before = SAMPLES / "seated_ir_left_right.mp4"
    if not (item.exists() and before.exists()):
        pytest.skip("footage or samples absent")
    m = measure_path(item)
    write_outputs(m, tmp_path / "fresh")
    faces.keep_detectors()
    write_outputs(measure_path(before), tmp_path / "before")
    write_outputs(m, tmp_path / "kept")
    name = f"{item.stem}.keyframe.png"
    fresh, kept = (tmp_path / "fresh" / name).read_bytes(), (tmp_path / "kept" / name).read_bytes()
    assert fresh == kept
    # the control: there were faces to blur
    write_outputs(m, tmp_path / "shown", blur_faces=False)
    with faces.open_detector() as detector:
        assert detector(np.ascontiguousarray(cv2.imread(str(tmp_path / "shown" / name))))
    for kept in (faces._KEPT or {}).values():
        kept.close()
