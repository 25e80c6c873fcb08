"""The result JSON (docs/RESULTS.md, hiprom-result/2) stays the same, key order included.

Snapshots of the document for built measurements that cover what the interpretation may
say: verdicts on two clean legs and their asymmetry and routine, a verdict withheld for a
compensated leg, an untested leg, an input that is not the seated test, a leg without a
value, and a photo's side note with extra blocks. The files under
``tests/data/result_documents`` were written by ``Measurement.to_dict`` before the
interpretation moved out of the result type (:mod:`hiprom.plan.interpret`,
:func:`hiprom.media.document.result_document`); any change to the document shows up here.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from builders import Body, frame_record, held_angles, seated_xy
from hiprom._version import __version__
from hiprom.core.posture import PostureCheck
from hiprom.media.document import result_document
from hiprom.media.sinks import to_jsonable
from hiprom.pipeline.analysis import Analysis, MeasureOptions
from hiprom.pipeline.measure import measurement_from_analysis
from hiprom.results.measurement import Measurement, SourceInfo

SNAPSHOTS = Path(__file__).parent / "data" / "result_documents"
FPS = 30.0
OPTIONS = MeasureOptions(correct_view=False)
BODY = Body(centre=(320.0, 220.0), knee_half_width=50.0, shank=150.0, shoulders=(60.0, 180.0))


def _measurement() -> Measurement:
    """Left: neutral, 38° IR twice; then right: neutral, 24° IR twice (the other leg still)."""
    left = held_angles([(1.5, 0.0), (2.0, 38.0), (1.5, 0.0), (2.0, 37.0), (1.5, 0.0)], fps=FPS)
    right = held_angles([(1.5, 0.0), (2.0, 24.0), (1.5, 0.0), (2.0, 25.0), (1.5, 0.0)], fps=FPS)
    pairs = [(a, 0.0) for a in left] + [(0.0, b) for b in right]
    analysis = Analysis(resolution_wh=(640, 480))
    analysis.records.extend(frame_record(i, seated_xy(a, b, BODY), fps=FPS)
                            for i, (a, b) in enumerate(pairs))
    source = SourceInfo(path="built.mp4", kind="video", fps=FPS, n_frames=len(pairs),
                        duration_s=len(pairs) / FPS, resolution_wh=(640, 480), mirrored=False,
                        sha256="0" * 64)
    m = measurement_from_analysis(analysis, source, model={"name": "built", "sha256": ""},
                                  options=OPTIONS)
    return replace(m, measured_at="2026-01-02T03:04:05+00:00")


def _with_quality(m: Measurement, side: str, *flags: str) -> Measurement:
    leg = m.legs[side]
    legs = {**m.legs, side: replace(leg, quality=tuple(sorted({*leg.quality, *flags})))}
    return replace(m, legs=legs)


def _cases() -> dict[str, Measurement]:
    base = _measurement()
    invalid = PostureCheck(False, "The knees are not seen bent; sit on a chair.",
                           {"knee_angle": 150.0, "shank_tilt": float("nan")}, 0.5,
                           ("Lower the camera to knee height.",))
    no_value = replace(base.legs["right"], internal_rotation_deg=None,
                       internal_rotation_ci95_deg=None, external_rotation_deg=None,
                       external_rotation_ci95_deg=None, reps=())
    flagged = {**base.legs,
               "left": replace(base.legs["left"], internal_rotation_deg=50.0,
                               external_rotation_deg=30.0, external_rotation_ci95_deg=4.0),
               "right": replace(base.legs["right"], internal_rotation_deg=12.0)}
    return {
        "two_legs": base,
        "red_flags": replace(base, legs=flagged),
        "withheld_left": _with_quality(base, "left", "pelvis_roll", "trunk_lean"),
        "right_only": replace(base, tested={"left": False, "right": True}),
        "not_seated": replace(base, protocol=invalid),
        "right_without_value": replace(base, legs={**base.legs, "right": no_value}),
        "note_and_extra": replace(_with_quality(base, "right", "knee_drift"),
                                  side_note="Both legs look rotated; pass --side.",
                                  quality=("low_fps",), extra={"live": {"reps": []}}),
    }


def _text(doc: dict[str, Any]) -> str:
    """The document as JSON text, keys in the document's own order."""
    return json.dumps(to_jsonable(doc), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_result_document_matches_its_snapshot(name: str) -> None:
    doc = result_document(CASES[name])
    assert doc["hiprom_version"] == __version__
    doc["hiprom_version"] = "<version>"
    assert _text(doc) == (SNAPSHOTS / f"{name}.json").read_text(encoding="utf-8")


def test_the_snapshots_differ_where_the_interpretation_does() -> None:
    # The cases are not all alike: each one changes what may be said.
    texts = {(SNAPSHOTS / f"{name}.json").read_text(encoding="utf-8") for name in CASES}
    assert len(texts) == len(CASES)
    two = json.loads((SNAPSHOTS / "two_legs.json").read_text(encoding="utf-8"))
    assert two["legs"]["left"]["verdict"]["code"] != "withheld"
    assert two["asymmetry"]["difference_deg"] is not None and two["recommendations"]
    withheld = json.loads((SNAPSHOTS / "withheld_left.json").read_text(encoding="utf-8"))
    assert withheld["legs"]["left"]["verdict"]["code"] == "withheld"
    flags = json.loads((SNAPSHOTS / "red_flags.json").read_text(encoding="utf-8"))
    assert len(flags["red_flags"]) == 3
    not_seated = json.loads((SNAPSHOTS / "not_seated.json").read_text(encoding="utf-8"))
    assert not_seated["recommendations"] is None and not_seated["red_flags"] == []
