"""What may be said about a measurement: verdicts, asymmetry, the routine, red flags.

The one place that decides it. A measurement is data (values, intervals, quality flags,
which legs were tested, whether the input was the seated test); :func:`interpret` turns it
into what the result files, the report, the app and the live guide say:

* a leg is *reported* (gets a value and a verdict) only in a valid seated test and when it
  was tested;
* a reported leg's verdict is *withheld*, with the reason and what to do, when its value
  rests on compensated reps (pelvis roll, trunk lean, knee drift);
* only reported, measured, not withheld legs feed the asymmetry, the routine and the red
  flags, so an asymmetry needs two such legs and a red flag a valid test of a tested leg.

:func:`leg_inputs` and :func:`result_compensations` read the same back from a result file
(docs/RESULTS.md), for routines and reports made from saved results.

Pure: numbers in, frozen dataclasses out; no I/O. Degrees; + is internal rotation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hiprom.plan.assessment import (
    DEFAULT_CI95_DEG,
    Asymmetry,
    LegInput,
    TriggeredFlag,
    Verdict,
    asymmetry,
    verdict_for,
)
from hiprom.plan.routines import Plan, build_plan
from hiprom.vocabulary import SIDES, Side

__all__ = [
    "COMPENSATIONS",
    "Interpretation",
    "compensations",
    "LegReading",
    "MeasuredLeg",
    "interpret",
    "leg_inputs",
    "result_compensations",
    "withheld_reason",
]

#: The quality flags that make a value unreliable (a compensated rep), in the order named.
COMPENSATIONS = ("pelvis_roll", "trunk_lean", "knee_drift")
_WORDS = {"pelvis_roll": "the pelvis lifted", "trunk_lean": "the trunk leaned",
          "knee_drift": "the knee drifted sideways"}
_CUES = {"pelvis_roll": "keep both sit bones down", "trunk_lean": "sit tall and still",
         "knee_drift": "keep the knee still over its start point"}


class MeasuredLeg(Protocol):
    """One leg's measured values, as :class:`hiprom.core.protocol.LegResult` holds them."""

    @property
    def internal_rotation_deg(self) -> float | None:
        """End-range IR in degrees, or None."""

    @property
    def internal_rotation_ci95_deg(self) -> float | None:
        """Its 95% half-width in degrees, or None."""

    @property
    def external_rotation_deg(self) -> float | None:
        """End-range ER as a positive magnitude in degrees, or None."""

    @property
    def quality(self) -> tuple[str, ...]:
        """The leg's quality flags."""


def withheld_reason(leg: MeasuredLeg) -> str | None:
    """Why a verdict on ``leg`` is withheld (its value rests on compensated reps), or None."""
    flags = [f for f in COMPENSATIONS if f in leg.quality]
    if not flags or leg.internal_rotation_deg is None:
        return None
    return (f"The value is unreliable: {' and '.join(_WORDS[f] for f in flags)} during every "
            f"rep. Repeat the test and {'; '.join(_CUES[f] for f in flags)}.")


@dataclass(frozen=True)
class LegReading:
    """What may be said about one leg.

    Attributes:
        reported: the leg gets its values and a verdict (valid seated test, leg tested).
        verdict: the band verdict; None when not reported or withheld.
        withheld: why the verdict is withheld, or None.
        leg_input: the leg as the asymmetry, routine and red flags read it; None when it
            must not feed them (not reported, not measured, or withheld).

    """

    reported: bool
    verdict: Verdict | None
    withheld: str | None
    leg_input: LegInput | None

    def verdict_dict(self) -> dict[str, Any] | None:
        """The leg's ``verdict`` block of the result JSON (None for an unreported leg)."""
        if self.withheld is not None:
            return {"code": "withheld", "reason": self.withheld, "sentence": self.withheld,
                    "band": None, "borderline": False}
        return None if self.verdict is None else self.verdict.to_dict()


@dataclass(frozen=True)
class Interpretation:
    """What may be said about a measurement.

    Attributes:
        legs: per anatomical side.
        asymmetry: the left–right IR difference (informative only with two leg inputs).
        plan: the routine, or None when no leg may feed it.

    """

    legs: dict[str, LegReading]
    asymmetry: Asymmetry
    plan: Plan | None

    @property
    def asymmetry_deg(self) -> float | None:
        """Left minus right IR in degrees, when both legs feed the asymmetry."""
        left, right = self.legs["left"].leg_input, self.legs["right"].leg_input
        return None if left is None or right is None else left.ir_deg - right.ir_deg

    @property
    def red_flags(self) -> tuple[TriggeredFlag, ...]:
        """The red flags the measured numbers raise (none without a routine)."""
        return () if self.plan is None else self.plan.red_flags


#: Decimals of an angle in the result files (``hiprom.results.measurement.json_number``;
#: the plan layer may not import the results layer, tests/test_layers.py).
STORED_DECIMALS = 2


def _reading(leg: MeasuredLeg, reported: bool) -> LegReading:
    if not reported:
        return LegReading(False, None, None, None)
    withheld = withheld_reason(leg)
    # Judged on the values the result file stores (2 decimals), so that its sentences and
    # every display of the number round the same way (30.7458 stored as 30.75 is "30.8°"
    # in the table; a sentence from 30.7458 said "30.7°").
    ir, ci, er = (None if v is None else round(v, STORED_DECIMALS)
                  for v in (leg.internal_rotation_deg, leg.internal_rotation_ci95_deg,
                            leg.external_rotation_deg))
    if withheld is not None:
        return LegReading(True, None, withheld, None)
    verdict = verdict_for(ir, **({} if ci is None else {"ci95_deg": ci}))
    leg_input = None if ir is None else LegInput(
        ir_deg=ir, er_deg=er, **({} if ci is None else {"ci95_deg": ci}))
    return LegReading(True, verdict, None, leg_input)


def compensations(legs: Mapping[str, MeasuredLeg]) -> tuple[str, ...]:
    """The compensation flags seen on any leg, in :data:`COMPENSATIONS` order."""
    seen = {f for leg in legs.values() for f in leg.quality}
    return tuple(f for f in COMPENSATIONS if f in seen)


def interpret(legs: Mapping[str, MeasuredLeg], *, tested: Mapping[str, bool],
              valid: bool) -> Interpretation:
    """Decide what may be said about a measurement.

    Args:
        legs: the measured legs per anatomical side ("left", "right").
        tested: per side, whether the leg was tested (a missing side counts as tested).
        valid: whether the input passed the seated-test check.

    Returns:
        Per-leg readings, the asymmetry and the routine (see the module docstring).

    """
    readings = {side.value: _reading(legs[side], valid and tested.get(side, True))
                for side in SIDES}
    left, right = readings["left"].leg_input, readings["right"].leg_input
    asym = asymmetry(None if left is None else left.ir_deg,
                     None if right is None else right.ir_deg)
    plan = None
    if left is not None or right is not None:
        plan = build_plan(left, right, compensations=compensations(legs))
    return Interpretation(readings, asym, plan)


def _result_leg(result: Mapping[str, Any], side: Side) -> Mapping[str, Any]:
    leg: Mapping[str, Any] = result["legs"][side.value]
    return leg


def leg_inputs(result: Mapping[str, Any]) -> tuple[LegInput | None, LegInput | None]:
    """Return (left, right) of a validated result file as the routine engine reads them.

    None for a leg without a verdict to act on: unmeasured, not tested, withheld, or in a
    result that is not a valid seated test.
    """
    out: list[LegInput | None] = []
    protocol = result.get("protocol")
    valid = not isinstance(protocol, Mapping) or protocol.get("valid") is not False
    for side in Side:
        leg = _result_leg(result, side)
        ir = leg.get("internal_rotation_deg")
        verdict = v if isinstance(v := leg.get("verdict"), Mapping) else {}
        if (ir is None or not valid or leg.get("tested") is False
                or verdict.get("code") == "withheld"):
            out.append(None)
            continue
        ci = leg.get("internal_rotation_ci95_deg")
        out.append(LegInput(ir, leg.get("external_rotation_deg"),
                            DEFAULT_CI95_DEG if ci is None else ci))
    return out[0], out[1]


def result_compensations(result: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the compensation flags seen on either leg of a result file."""
    seen = {str(f) for side in Side for f in _result_leg(result, side).get("quality") or ()}
    return tuple(c for c in COMPENSATIONS if c in seen)
