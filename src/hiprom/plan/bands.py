"""The derived norm bands for seated active hip IR, and the verdict of one leg against them.

Pure: numbers in, frozen dataclasses out; no I/O. :mod:`hiprom.plan.assessment` re-exports
everything public here; see it for the scope of the bands.

Convention:
    Degrees everywhere; + is internal rotation. A band's lower edge is inclusive and its upper
    edge exclusive, except that 45.0° still counts as typical: 34.9° is mildly limited, 35.0° is
    typical, 45.0° is typical and 45.1° is above the norm.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from enum import StrEnum

from hiprom.errors import InputError

__all__ = [
    "BANDS",
    "DEFAULT_CI95_DEG",
    "DEFAULT_MDC95_DEG",
    "LIMITED_LOW_DEG",
    "MARKED_ASYMMETRY_DEG",
    "MILD_LOW_DEG",
    "REFER_BELOW_DEG",
    "RESTRICTED_CODES",
    "TARGET_HIGH_DEG",
    "TARGET_LOW_DEG",
    "TAK_NOTE",
    "TAK_TOTAL_ROTATION_DEG",
    "Band",
    "BandCode",
    "Verdict",
    "band_for",
    "check_angle",
    "check_error",
    "verdict_for",
]

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


def check_angle(value: float, name: str) -> float:
    """Return ``value`` as float, or raise InputError if it is not a plausible angle."""
    if not _is_number(value) or not math.isfinite(value):
        raise InputError(f"{name} must be a finite number of degrees, got {value!r}; "
                         "re-measure it, or leave that leg out.")
    if abs(value) > _MAX_ABS_ANGLE_DEG:
        raise InputError(f"{name} must be within ±{_MAX_ABS_ANGLE_DEG:.0f}°, got {value}; "
                         "check the sign and units (degrees).")
    return float(value)


def check_error(value: float, name: str) -> float:
    """Return ``value`` as float, or raise InputError if it is not a finite error ≥ 0."""
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise InputError(f"{name} must be a finite number of degrees ≥ 0, got {value!r}; "
                         "give the half-width of the 95% interval, e.g. 3.5.")
    return float(value)


def band_for(ir_deg: float) -> Band:
    """Return the band that contains ``ir_deg`` (see the module's edge convention)."""
    ir = check_angle(ir_deg, "ir_deg")
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
    ci = check_error(ci95_deg, "ci95_deg")
    if ir_deg is None:
        return Verdict(BandCode.NOT_MEASURED, None, ci, None, False, (),
                       "IR was not measured on this side.")
    band = band_for(ir_deg)
    ir = check_angle(ir_deg, "ir_deg")
    touched = tuple(b for b in BANDS if b.overlaps(ir - ci, ir + ci))
    sentence = _verdict_sentence(ir, ci, band, touched)
    return Verdict(band.code, ir, ci, band, len(touched) > 1,
                   tuple(b.code for b in touched), sentence)



TAK_NOTE = (
    "Context, not a prediction: a 2017 review of athletes (Tak et al.) found strong evidence "
    "that total rotation of both hips below 85° at pre-season screening was a risk factor for "
    "groin pain, while IR alone was not. The same review judged screening unlikely to pick out "
    "individuals, given the small differences and poor measurement properties; its studies "
    "also used other test positions than this seated active test."
)
