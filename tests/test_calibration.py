"""Each pose network (``--model``) gets the interval terms and hip offset fitted on its own
landmarks (hiprom.core.calibration; docs/ACCURACY.md), not the full network's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from builders import Body, frame_record, held_angles, seated_xy
from hiprom.backends import FakeBackend
from hiprom.backends.base import PoseModel
from hiprom.core.calibration import (
    CLIP_SYSTEMATIC_SD_BY_MODEL,
    HIP_CENTRE_OFFSET_BY_MODEL,
    NO_NEUTRAL_SD_BY_MODEL,
    PIVOT_FALLBACK_SD_BY_MODEL,
    STILL_SYSTEMATIC_SD_BY_MODEL,
    terms_for,
)
from hiprom.core.landmarks import LandmarkName as L
from hiprom.core.landmarks import Landmarks
from hiprom.pipeline import analysis
from hiprom.pipeline.analysis import FrameRecord, MeasureOptions
from hiprom.pipeline.measure import measure_path
from hiprom.pipeline.summarise import summarise_records

MODELS = [m.value for m in PoseModel]
BODY = Body(centre=(320.0, 220.0), knee_half_width=50.0, shank=150.0, shoulders=(60.0, 180.0))


def clip_systematic_sd(model: str) -> float:
    return terms_for(model).clip_sd_deg


def still_systematic_sd(model: str) -> float:
    return terms_for(model).still_sd_deg


def test_every_bundled_network_has_its_own_terms() -> None:
    for table in (HIP_CENTRE_OFFSET_BY_MODEL, CLIP_SYSTEMATIC_SD_BY_MODEL,
                  STILL_SYSTEMATIC_SD_BY_MODEL, NO_NEUTRAL_SD_BY_MODEL,
                  PIVOT_FALLBACK_SD_BY_MODEL):
        assert set(table) == set(MODELS)
    for model in PoseModel:   # the enum and its value look up the same terms
        terms = terms_for(model)
        assert terms == terms_for(model.value)
        assert terms.clip_sd_deg == CLIP_SYSTEMATIC_SD_BY_MODEL[model.value] > 0
        assert terms.pivot_fallback_sd_deg == PIVOT_FALLBACK_SD_BY_MODEL[model.value] > 0


def test_the_hip_offset_follows_the_network_unless_given() -> None:
    for model in PoseModel:
        offset = MeasureOptions(model=model).hip_centre_offset
        assert offset == HIP_CENTRE_OFFSET_BY_MODEL[model.value]
    assert MeasureOptions(model=PoseModel.LITE, hip_offset=0.0).hip_centre_offset == 0.0


def test_a_clip_s_interval_carries_its_network_s_systematic_term() -> None:
    records = [frame_record(i, seated_xy(a, 0.0, BODY), fps=30.0)
               for i, a in enumerate(held_angles([(1.5, 0.0), (2.0, 38.0), (1.5, 0.0)],
                                                 fps=30.0))]
    ci = {}
    for model in PoseModel:
        options = MeasureOptions(correct_view=False, model=model)
        left = summarise_records(records, resolution_wh=(640, 480), options=options).legs["left"]
        assert left.internal_rotation_deg == pytest.approx(38.0, abs=0.3)
        ci[model.value] = left.internal_rotation_ci95_deg
        assert ci[model.value] >= 1.96 * clip_systematic_sd(model)
    # The same clip: only the network's term differs, so the intervals order as the terms do.
    order = sorted(MODELS, key=clip_systematic_sd)
    assert [ci[m] for m in order] == sorted(ci.values())
    assert ci["lite"] > ci["heavy"] > ci["full"]


def _seated(left_deg: float) -> np.ndarray:
    xy = np.zeros((33, 2), np.float32)
    for hip, knee, ankle, x, lateral, deg in ((23, 25, 27, 380.0, 1.0, left_deg),
                                             (24, 26, 28, 260.0, -1.0, 0.0)):
        xy[hip], xy[knee] = (x, 200.0), (x, 240.0)
        t = np.radians(deg)
        xy[ankle] = (x + lateral * 160 * np.sin(t), 240 + 160 * np.cos(t))
    xy[11], xy[12] = (390, 40), (250, 40)
    return xy


def test_a_photo_s_interval_carries_its_network_s_systematic_term(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((480, 640, 3), 90, np.uint8))
    lm = Landmarks(_seated(35.0)[None], np.ones((1, 33), np.float32), (640, 480))
    base = MeasureOptions(still_augment=False, side=analysis.TestedSide.LEFT)
    ci = {}
    for model in PoseModel:
        m = measure_path(photo, options=replace(base, model=model),
                         backend_factory=lambda mode: FakeBackend([lm]))
        leg = m.legs["left"]
        assert leg.internal_rotation_deg is not None
        ci[model.value] = leg.internal_rotation_ci95_deg
        assert ci[model.value] >= 1.96 * still_systematic_sd(model)
    order = sorted(MODELS, key=still_systematic_sd)
    assert [ci[m] for m in order] == sorted(ci.values())
    assert ci["lite"] > ci["full"] > ci["heavy"]


def _without_neutral() -> list[FrameRecord]:
    """No still period near vertical: 20° still, 38° hold, 20° still."""
    return [frame_record(i, seated_xy(a, 0.0, BODY), fps=30.0)
            for i, a in enumerate(held_angles([(1.5, 20.0), (2.0, 38.0), (1.5, 20.0)], fps=30.0))]


def _knee_elsewhere_at_neutral() -> list[FrameRecord]:
    """The knee landmark 100 px higher during the still start than afterwards (trousers in
    the seat's colour): the pivot reading is rejected and the leg's own reading kept."""
    records = []
    for i, a in enumerate(held_angles([(1.5, 0.0), (2.0, 38.0), (1.5, 0.0)], fps=30.0)):
        xy = seated_xy(a, 0.0, BODY)
        if i / 30.0 < 1.5:
            xy[L.LEFT_KNEE, 1] -= 100.0
        records.append(frame_record(i, xy, fps=30.0))
    return records


@pytest.mark.parametrize(("make", "flag", "term"), [
    (_without_neutral, "no_neutral", "no_neutral_sd_deg"),
    (_knee_elsewhere_at_neutral, "pivot_rejected", "pivot_fallback_sd_deg"),
])
def test_a_leg_s_extra_term_is_its_network_s(make, flag: str, term: str) -> None:
    records = make()
    for model in PoseModel:
        options = MeasureOptions(correct_view=False, model=model)
        left = summarise_records(records, resolution_wh=(640, 480), options=options).legs["left"]
        assert flag in left.quality
        ci = left.internal_rotation_ci95_deg
        assert ci is not None
        terms = terms_for(model)
        assert ci >= 1.96 * float(np.hypot(terms.clip_sd_deg, getattr(terms, term)))
