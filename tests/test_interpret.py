"""What may be said about a measurement (plan.interpret), apart from the result JSON."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hiprom.plan.interpret import compensations, interpret, withheld_reason


@dataclass(frozen=True)
class Leg:
    internal_rotation_deg: float | None
    internal_rotation_ci95_deg: float | None = 3.0
    external_rotation_deg: float | None = None
    quality: tuple[str, ...] = ()


BOTH = {"left": True, "right": True}


def test_two_reported_legs_get_verdicts_an_asymmetry_and_a_routine() -> None:
    said = interpret({"left": Leg(40.0), "right": Leg(28.0)}, tested=BOTH, valid=True)
    assert said.legs["left"].verdict is not None and said.legs["right"].verdict is not None
    assert said.asymmetry_deg == pytest.approx(12.0)
    assert said.asymmetry.difference_deg == pytest.approx(12.0)
    assert said.plan is not None


def test_an_input_that_is_not_the_seated_test_says_nothing() -> None:
    said = interpret({"left": Leg(10.0), "right": Leg(50.0, external_rotation_deg=20.0)},
                     tested=BOTH, valid=False)
    assert not any(r.reported for r in said.legs.values())
    assert said.plan is None and said.red_flags == () and said.asymmetry_deg is None
    assert all(r.verdict_dict() is None for r in said.legs.values())


def test_red_flags_and_asymmetry_come_only_from_a_tested_leg() -> None:
    legs = {"left": Leg(10.0), "right": Leg(38.0)}
    said = interpret(legs, tested={"left": False, "right": True}, valid=True)
    assert said.red_flags == ()             # the 10° would raise one on a tested leg
    assert said.asymmetry_deg is None and said.asymmetry.difference_deg is None
    tested = interpret(legs, tested=BOTH, valid=True)
    assert [f.side.value for f in tested.red_flags] == ["left"]


def test_a_compensated_leg_is_withheld_and_feeds_nothing() -> None:
    legs = {"left": Leg(20.0, quality=("trunk_lean",)), "right": Leg(38.0)}
    said = interpret(legs, tested=BOTH, valid=True)
    left = said.legs["left"]
    assert left.reported and left.verdict is None and left.leg_input is None
    assert left.withheld == withheld_reason(legs["left"])
    assert left.verdict_dict() == {"code": "withheld", "reason": left.withheld,
                                   "sentence": left.withheld, "band": None, "borderline": False}
    assert said.asymmetry_deg is None
    assert said.plan is not None and compensations(legs) == ("trunk_lean",)


def test_a_leg_without_a_value_is_not_measured_and_not_withheld() -> None:
    leg = Leg(None, None, quality=("pelvis_roll",))
    assert withheld_reason(leg) is None
    said = interpret({"left": leg, "right": Leg(38.0)}, tested=BOTH, valid=True)
    verdict = said.legs["left"].verdict_dict()
    assert verdict is not None and verdict["code"] == "not_measured"


def test_sentences_round_the_value_the_result_file_stores() -> None:
    # 30.7458 is stored as 30.75, shown as 30.8° in the table and the report: the verdict
    # sentence must say 30.8° too (it said 30.7°, from the unrounded value)
    said = interpret({"left": Leg(30.7458, 2.9449), "right": Leg(None)}, tested=BOTH,
                     valid=True)
    verdict = said.legs["left"].verdict
    assert verdict is not None
    assert f"{round(30.7458, 2):.1f}" == "30.8"
    assert "IR 30.8° (±2.9°)" in verdict.sentence, verdict.sentence


def test_an_annotated_picture_rounds_as_the_result_file_does() -> None:
    from hiprom.media.outputs import _degrees

    assert _degrees(30.7458, 2.9449) == "30.8° +/-2.9°"
