"""Interpret seated hip internal rotation (IR): norm bands, asymmetry, total rotation, red flags.

Pure: numbers in, frozen dataclasses out; no I/O.

Scope:
    The bands are for **seated active hip IR in adults** (hip and knee at 90°, the shank swung
    laterally), measured as hiprom measures it. They are *derived tool bands*, not published
    cut-offs (clinical-notes §2 "Suggested tool bands"): built from the ~33° ± 8.5° seated data
    of young men and the 30–45° spread of published norms. Passive, prone or supine values are
    not comparable with them.

Convention:
    Degrees everywhere; + is internal rotation. A band's lower edge is inclusive and its upper
    edge exclusive, except that 45.0° still counts as typical: 34.9° is mildly limited, 35.0° is
    typical, 45.0° is typical and 45.1° is above the norm.

The bands and the per-leg verdict live in :mod:`hiprom.plan.bands` and are re-exported here.

Examples:
    >>> verdict_for(32.0, ci95_deg=0.0).code.value
    'mildly_limited'
    >>> asymmetry(40.0, 28.0, mdc95_deg=5.0).restricted_side.value
    'right'

"""

from __future__ import annotations

from dataclasses import dataclass

from hiprom.plan.bands import (
    BANDS as BANDS,
)
from hiprom.plan.bands import (
    DEFAULT_CI95_DEG,
    DEFAULT_MDC95_DEG,
    MARKED_ASYMMETRY_DEG,
    REFER_BELOW_DEG,
    TAK_NOTE,
    TAK_TOTAL_ROTATION_DEG,
    TARGET_HIGH_DEG,
    TARGET_LOW_DEG,
    Band,
    BandCode,
    Verdict,
    band_for,
    check_angle,
    check_error,
    verdict_for,
)
from hiprom.plan.bands import (
    LIMITED_LOW_DEG as LIMITED_LOW_DEG,
)
from hiprom.plan.bands import (
    MILD_LOW_DEG as MILD_LOW_DEG,
)
from hiprom.plan.bands import (
    RESTRICTED_CODES as RESTRICTED_CODES,
)
from hiprom.plan.catalogue import (
    ANTEVERSION_PATTERN,
    IR_ABOVE_NORM,
    IR_BELOW_15,
    RED_FLAGS,
    TAK_2017_REF,
    RedFlag,
)
from hiprom.vocabulary import Side

__all__ = [
    "DEFAULT_CI95_DEG",
    "DEFAULT_MDC95_DEG",
    "DISCLAIMER",
    "MARKED_ASYMMETRY_DEG",
    "TARGET_HIGH_DEG",
    "TARGET_LOW_DEG",
    "Asymmetry",
    "Band",
    "BandCode",
    "LegInput",
    "RedFlag",
    "Side",
    "TotalRotation",
    "TriggeredFlag",
    "Verdict",
    "asymmetry",
    "band_for",
    "red_flags_for",
    "safety_screen",
    "total_rotation",
    "verdict_for",
]

DISCLAIMER = (
    "hiprom screens and educates; it does not diagnose. Its angles are camera estimates with "
    "measurement error. If you have hip pain, have had hip surgery, or any safety item applies "
    "to you, see a clinician before you test or train."
)


@dataclass(frozen=True)
class LegInput:
    """One leg's measured result, as the plan and the red-flag rules read it.

    Attributes:
        ir_deg: Seated active IR in degrees (+ = internal rotation).
        er_deg: Seated active ER in degrees as a positive magnitude, or None if not measured.
        ci95_deg: Half-width of this reading's 95% interval in degrees.

    Raises:
        InputError: If an angle is not finite or outside ±90°, or the interval is negative.

    """

    ir_deg: float
    er_deg: float | None = None
    ci95_deg: float = DEFAULT_CI95_DEG

    def __post_init__(self) -> None:
        check_angle(self.ir_deg, "ir_deg")
        if self.er_deg is not None:
            check_angle(self.er_deg, "er_deg")
        check_error(self.ci95_deg, "ci95_deg")


@dataclass(frozen=True)
class Asymmetry:
    """Left–right IR difference judged against the method's measurement error.

    Attributes:
        left_ir_deg: Left IR in degrees, or None.
        right_ir_deg: Right IR in degrees, or None.
        difference_deg: ``|left − right|`` in degrees, or None if a side is missing.
        restricted_side: The side with less IR, or None if equal or a side is missing.
        exceeds_error: True when the difference is larger than ``mdc95_deg``.
        marked: True when it also reaches ``marked_deg``.
        mdc95_deg: The MDC95 used.
        sentence: One plain sentence for people.

    """

    left_ir_deg: float | None
    right_ir_deg: float | None
    difference_deg: float | None
    restricted_side: Side | None
    exceeds_error: bool
    marked: bool
    mdc95_deg: float
    sentence: str

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        side = None if self.restricted_side is None else self.restricted_side.value
        return {
            "left_ir_deg": self.left_ir_deg,
            "right_ir_deg": self.right_ir_deg,
            # |left − right| of two 2-decimal values: round off the float subtraction's dust
            "difference_deg": (None if self.difference_deg is None
                               else round(self.difference_deg, 2)),
            "restricted_side": side,
            "exceeds_error": self.exceeds_error,
            "marked": self.marked,
            "mdc95_deg": self.mdc95_deg,
            "sentence": self.sentence,
        }


_NO_THRESHOLD = ("No validated threshold for a meaningful left–right difference exists, so a "
                 "difference counts only when it is larger than the tool's measurement error "
                 "(MDC95 {mdc:.1f}°).")


def asymmetry(
    left_ir_deg: float | None,
    right_ir_deg: float | None,
    *,
    mdc95_deg: float = DEFAULT_MDC95_DEG,
    marked_deg: float = MARKED_ASYMMETRY_DEG,
) -> Asymmetry:
    """Judge the left–right IR difference against the method's MDC95.

    No validated threshold for a meaningful left–right difference was found (clinical-notes
    §2). The rule used is the notes' defensible one: a difference is real only when it exceeds
    the method's MDC95. The difference of two readings with error SEM each has an SD of
    √2·SEM, so its 95% limit is 1.96·√2·SEM, i.e. exactly the MDC95. Differences of at least
    ``marked_deg`` (notes: "flag ≥ 8–10°") that also exceed the error are flagged as marked.

    Args:
        left_ir_deg: Left IR in degrees, or None.
        right_ir_deg: Right IR in degrees, or None.
        mdc95_deg: The method's MDC95 in degrees (default: the tool target, 5°).
        marked_deg: Size in degrees from which a real difference is called marked.

    Returns:
        The asymmetry; with a missing side only the sentence is informative.

    Raises:
        InputError: If an angle or an error value is invalid.

    """
    mdc = check_error(mdc95_deg, "mdc95_deg")
    marked_at = check_error(marked_deg, "marked_deg")
    if left_ir_deg is None or right_ir_deg is None:
        reported = [side for side, ir in ((Side.LEFT, left_ir_deg), (Side.RIGHT, right_ir_deg))
                    if ir is not None]
        why = (f"only the {reported[0].value} hip's internal rotation is reported" if reported
               else "neither hip's internal rotation is reported")
        return Asymmetry(left_ir_deg, right_ir_deg, None, None, False, False, mdc,
                         f"Left–right difference not computed: {why}.")
    left = check_angle(left_ir_deg, "left_ir_deg")
    right = check_angle(right_ir_deg, "right_ir_deg")
    diff = abs(left - right)
    side = None if left == right else (Side.LEFT if left < right else Side.RIGHT)
    exceeds = diff > mdc
    marked = exceeds and diff >= marked_at
    return Asymmetry(left, right, diff, side, exceeds, marked, mdc,
                     _asymmetry_sentence(diff, side, exceeds, marked, mdc))


def _asymmetry_sentence(
    diff: float, side: Side | None, exceeds: bool, marked: bool, mdc: float
) -> str:
    """Word an asymmetry result."""
    if side is None:
        head = "Left and right IR are equal."
    elif exceeds:
        size = "a marked" if marked else "a"
        head = (f"The {side.value} side has {diff:.1f}° less IR, {size} difference beyond the "
                "measurement error.")
    else:
        head = (f"The {side.value} side has {diff:.1f}° less IR, within the measurement error, "
                "so treat the sides as alike.")
    return f"{head} {_NO_THRESHOLD.format(mdc=mdc)}"


@dataclass(frozen=True)
class TotalRotation:
    """Total rotation (IR + ER) per hip, with the Tak 2017 context.

    Attributes:
        left_deg: Left IR + ER in degrees, or None if either was not measured.
        right_deg: Right IR + ER in degrees, or None.
        both_below_85: True/False when both hips have a total, else None. Context only.
        note: The Tak 2017 context, worded without an injury-prediction claim.
        source: The review's reference key in clinical-notes.md.

    """

    left_deg: float | None
    right_deg: float | None
    both_below_85: bool | None
    note: str
    source: str

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {"left_deg": self.left_deg, "right_deg": self.right_deg,
                "both_below_85": self.both_below_85, "note": self.note, "source": self.source}


def _total(leg: LegInput | None) -> float | None:
    """Return IR + ER for one leg, or None if ER was not measured."""
    if leg is None or leg.er_deg is None:
        return None
    return leg.ir_deg + leg.er_deg


def total_rotation(left: LegInput | None, right: LegInput | None) -> TotalRotation:
    """Report IR + ER per hip where ER was measured, with the Tak 2017 context.

    Args:
        left: Left leg, or None.
        right: Right leg, or None.

    Returns:
        Per-hip totals; ``both_below_85`` reads the review's "total rotation of both hips
        below 85°" as both hips' totals being under 85° (see the open question in the docs).

    """
    left_total, right_total = _total(left), _total(right)
    both = None
    if left_total is not None and right_total is not None:
        both = left_total < TAK_TOTAL_ROTATION_DEG and right_total < TAK_TOTAL_ROTATION_DEG
    return TotalRotation(left_total, right_total, both, TAK_NOTE, TAK_2017_REF)


@dataclass(frozen=True)
class TriggeredFlag:
    """A red flag raised by a measured number.

    Attributes:
        flag: The rule and its sources.
        side: The leg whose numbers raised it.
        why: One sentence naming the numbers.

    """

    flag: RedFlag
    side: Side
    why: str

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {"side": self.side.value, "why": self.why, **self.flag.to_dict()}


def safety_screen() -> tuple[RedFlag, ...]:
    """Return the red flags and stop rules to show before a test (clinical-notes §6, §7.10)."""
    return tuple(f for f in RED_FLAGS if f.before_test)


def _flags_for_leg(side: Side, leg: LegInput) -> list[TriggeredFlag]:
    """Return the number-triggered flags for one leg."""
    ir = leg.ir_deg
    found = []
    if ir < REFER_BELOW_DEG:
        found.append(TriggeredFlag(IR_BELOW_15, side, f"{side.value.capitalize()} IR {ir:.1f}° "
                                   f"is under {REFER_BELOW_DEG:.0f}°."))
    if ir > TARGET_HIGH_DEG:
        found.append(TriggeredFlag(IR_ABOVE_NORM, side, f"{side.value.capitalize()} IR "
                                   f"{ir:.1f}° is above the 35–45° norm."))
        if leg.er_deg is not None and leg.er_deg < ir:
            found.append(TriggeredFlag(ANTEVERSION_PATTERN, side,
                                       f"{side.value.capitalize()} IR {ir:.1f}° is above the "
                                       f"norm and ER {leg.er_deg:.1f}° is lower than IR."))
    return found


def red_flags_for(left: LegInput | None, right: LegInput | None) -> tuple[TriggeredFlag, ...]:
    """Return the red flags raised by the measured numbers.

    Rules: IR < 15° → with hip pain, see a clinician (part of the ACR hip OA criteria);
    IR > 45° → no end-range stretching, favour strength and control; IR > 45° with ER below
    IR → possible femoral anteversion pattern (a tool rule: the notes give no number for
    "low ER").

    Args:
        left: Left leg, or None.
        right: Right leg, or None.

    Returns:
        The triggered flags, left leg first.

    """
    found: list[TriggeredFlag] = []
    for side, leg in ((Side.LEFT, left), (Side.RIGHT, right)):
        if leg is not None:
            found.extend(_flags_for_leg(side, leg))
    return tuple(found)
