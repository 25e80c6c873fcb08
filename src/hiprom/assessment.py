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

Examples:
    >>> verdict_for(32.0, ci95_deg=0.0).code.value
    'mildly_limited'
    >>> asymmetry(40.0, 28.0, mdc95_deg=5.0).restricted_side.value
    'right'
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from enum import StrEnum

from hiprom._catalogue import (
    ANTEVERSION_PATTERN,
    IR_ABOVE_NORM,
    IR_BELOW_15,
    RED_FLAGS,
    TAK_2017_URL,
    RedFlag,
)
from hiprom.errors import InputError

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

TARGET_LOW_DEG = 35.0
TARGET_HIGH_DEG = 45.0
MILD_LOW_DEG = 30.0
LIMITED_LOW_DEG = 20.0
REFER_BELOW_DEG = 15.0
TAK_TOTAL_ROTATION_DEG = 85.0

DEFAULT_MDC95_DEG = 5.0
"""The tool's target test–retest MDC95 (clinical-notes §8: ≤ 5°)."""

DEFAULT_CI95_DEG = DEFAULT_MDC95_DEG / math.sqrt(2.0)
"""Half-width of one reading's 95% interval: 1.96·SEM = MDC95/√2 ≈ 3.5° (notes §3)."""

MARKED_ASYMMETRY_DEG = 8.0
"""Lower end of the notes' "flag ≥ 8–10°" for a marked left–right difference (§7 item 9)."""

_MAX_ABS_ANGLE_DEG = 90.0


class Side(StrEnum):
    """The person's anatomical side (never the image's)."""

    LEFT = "left"
    RIGHT = "right"


class BandCode(StrEnum):
    """Machine-readable verdict codes, lowest IR first."""

    MARKEDLY_LIMITED = "markedly_limited"
    LIMITED = "limited"
    MILDLY_LIMITED = "mildly_limited"
    TYPICAL = "typical"
    ABOVE_NORM = "above_norm"
    NOT_MEASURED = "not_measured"


RESTRICTED_CODES = frozenset(
    {BandCode.MARKEDLY_LIMITED, BandCode.LIMITED, BandCode.MILDLY_LIMITED}
)


@dataclass(frozen=True)
class Band:
    """One derived norm band for seated active IR.

    Attributes:
        code: Verdict code.
        label: Short human label.
        lower_deg: Lower edge in degrees (inclusive unless ``lower_inclusive`` is False), or
            None for no lower edge.
        upper_deg: Upper edge in degrees (exclusive unless ``upper_inclusive``), or None.
        upper_inclusive: Whether ``upper_deg`` itself belongs to the band.
        lower_inclusive: Whether ``lower_deg`` itself belongs to the band.
        range_text: The band as people read it.
        basis: Why the band sits where it does, per clinical-notes §2.
    """

    code: BandCode
    label: str
    lower_deg: float | None
    upper_deg: float | None
    upper_inclusive: bool
    range_text: str
    basis: str
    lower_inclusive: bool = True

    def overlaps(self, low_deg: float, high_deg: float) -> bool:
        """Return whether the closed interval [low_deg, high_deg] shares a value with the band."""
        if self.lower_deg is not None and (
            high_deg < self.lower_deg or (high_deg == self.lower_deg and not self.lower_inclusive)
        ):
            return False
        if self.upper_deg is None:
            return True
        return low_deg <= self.upper_deg if self.upper_inclusive else low_deg < self.upper_deg

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "code": self.code.value,
            "label": self.label,
            "lower_deg": self.lower_deg,
            "upper_deg": self.upper_deg,
            "lower_inclusive": self.lower_inclusive,
            "upper_inclusive": self.upper_inclusive,
            "range": self.range_text,
            "basis": self.basis,
        }


BANDS: tuple[Band, ...] = (
    Band(BandCode.MARKEDLY_LIMITED, "markedly limited", None, LIMITED_LOW_DEG, False,
         "under 20°", "common clinical cue for restricted IR in flexion; a source for a "
         "specific <20° cut-off [not retrieved]"),
    Band(BandCode.LIMITED, "limited", LIMITED_LOW_DEG, MILD_LOW_DEG, False,
         "20° to under 30°", "IR < 30° went with twice the cam-morphology prevalence in young "
         "men (Reichenbach)"),
    Band(BandCode.MILDLY_LIMITED, "mildly limited", MILD_LOW_DEG, TARGET_LOW_DEG, False,
         "30° to under 35°",
         "below the 35° target edge, within about 1 SD of young-adult means"),
    Band(BandCode.TYPICAL, "typical", TARGET_LOW_DEG, TARGET_HIGH_DEG, True,
         "35–45°", "target range: AAOS 45°, Kouyoumdjian 37.9°, Gradoz 44.5°"),
    Band(BandCode.ABOVE_NORM, "above the norm", TARGET_HIGH_DEG, None, False,
         "over 45°", "above the 35–45° target; see the hypermobility and anteversion notes",
         lower_inclusive=False),
)


def _is_number(value: object) -> bool:
    """Return whether ``value`` is a real number (numpy scalars included, bool excluded)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_angle(value: float, name: str) -> float:
    """Return ``value`` as float, or raise InputError if it is not a plausible angle."""
    if not _is_number(value) or not math.isfinite(value):
        raise InputError(f"{name} must be a finite number of degrees, got {value!r}; "
                         "re-measure or leave the leg out (None).")
    if abs(value) > _MAX_ABS_ANGLE_DEG:
        raise InputError(f"{name} must be within ±{_MAX_ABS_ANGLE_DEG:.0f}°, got {value}; "
                         "check the sign and units (degrees).")
    return float(value)


def _check_error(value: float, name: str) -> float:
    """Return ``value`` as float, or raise InputError if it is not a finite error ≥ 0."""
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise InputError(f"{name} must be a finite number of degrees ≥ 0, got {value!r}.")
    return float(value)


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
        _check_angle(self.ir_deg, "ir_deg")
        if self.er_deg is not None:
            _check_angle(self.er_deg, "er_deg")
        _check_error(self.ci95_deg, "ci95_deg")


def band_for(ir_deg: float) -> Band:
    """Return the band that contains ``ir_deg`` (see the module's edge convention)."""
    ir = _check_angle(ir_deg, "ir_deg")
    return next(b for b in BANDS if b.overlaps(ir, ir))


@dataclass(frozen=True)
class Verdict:
    """One leg's IR compared with the derived seated-active bands.

    Attributes:
        code: Band code, or ``not_measured``.
        ir_deg: The measured IR in degrees, or None.
        ci95_deg: Half-width of the 95% interval used for ``borderline``.
        band: The band, or None when not measured.
        borderline: True when the interval ``ir ± ci95`` reaches another band.
        ci_band_codes: Every band the interval touches, lowest first.
        sentence: One plain sentence for people.
    """

    code: BandCode
    ir_deg: float | None
    ci95_deg: float
    band: Band | None
    borderline: bool
    ci_band_codes: tuple[BandCode, ...]
    sentence: str

    @property
    def restricted(self) -> bool:
        """Whether IR is below the 35° target edge."""
        return self.code in RESTRICTED_CODES

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "code": self.code.value,
            "ir_deg": self.ir_deg,
            "ci95_deg": self.ci95_deg,
            "band": None if self.band is None else self.band.to_dict(),
            "borderline": self.borderline,
            "ci_band_codes": [c.value for c in self.ci_band_codes],
            "sentence": self.sentence,
        }


def _verdict_sentence(ir: float, ci: float, band: Band, touched: tuple[Band, ...]) -> str:
    """Word a verdict: the number, its band, and borderline status."""
    text = f"IR {ir:.1f}° (±{ci:.1f}°) is {band.label} ({band.range_text}"
    text += "; target 35–45°)." if band.code is not BandCode.TYPICAL else ")."
    if len(touched) > 1:
        others = " and ".join(b.label for b in touched if b is not band)
        text += f" Borderline: within its ±{ci:.1f}° interval it could also be {others}."
    return text


def verdict_for(ir_deg: float | None, *, ci95_deg: float = DEFAULT_CI95_DEG) -> Verdict:
    """Compare one leg's seated active IR with the derived bands.

    Args:
        ir_deg: Seated active IR in degrees, or None if the leg was not measured.
        ci95_deg: Half-width of the reading's 95% interval in degrees; the default is the
            tool's target MDC95/√2 ≈ 3.5°. Pass 0 to ignore measurement error.

    Returns:
        The verdict. ``borderline`` is True when ``ir_deg ± ci95_deg`` crosses a band edge.

    Raises:
        InputError: If an angle is not finite or outside ±90°, or ``ci95_deg`` is negative.

    Examples:
        >>> verdict_for(44.0, ci95_deg=2.0).borderline
        True
    """
    ci = _check_error(ci95_deg, "ci95_deg")
    if ir_deg is None:
        return Verdict(BandCode.NOT_MEASURED, None, ci, None, False, (),
                       "IR was not measured on this side.")
    band = band_for(ir_deg)
    ir = _check_angle(ir_deg, "ir_deg")
    touched = tuple(b for b in BANDS if b.overlaps(ir - ci, ir + ci))
    sentence = _verdict_sentence(ir, ci, band, touched)
    return Verdict(band.code, ir, ci, band, len(touched) > 1,
                   tuple(b.code for b in touched), sentence)


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
            "difference_deg": self.difference_deg,
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
    mdc = _check_error(mdc95_deg, "mdc95_deg")
    marked_at = _check_error(marked_deg, "marked_deg")
    if left_ir_deg is None or right_ir_deg is None:
        return Asymmetry(left_ir_deg, right_ir_deg, None, None, False, False, mdc,
                         "Left–right difference not computed: only one side was measured.")
    left = _check_angle(left_ir_deg, "left_ir_deg")
    right = _check_angle(right_ir_deg, "right_ir_deg")
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
        source: The review's URL as given in clinical-notes §2.
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


TAK_NOTE = (
    "Context, not a prediction: a 2017 review of athletes (Tak et al.) found strong evidence "
    "that total rotation of both hips below 85° at pre-season screening was a risk factor for "
    "groin pain, while IR alone was not. The same review judged screening unlikely to pick out "
    "individuals, given the small differences and poor measurement properties; its studies "
    "also used other test positions than this seated active test."
)


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
    return TotalRotation(left_total, right_total, both, TAK_NOTE, TAK_2017_URL)


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
