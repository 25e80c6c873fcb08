"""Agreement and reliability statistics, computed by pingouin and statsmodels.

* **Bland–Altman**: bias = mean of d = hiprom − reference with its t-interval
  (``statsmodels`` ``DescrStatsW``); 95% limits of agreement bias ± 1.96·SD(d), each with the
  approximate 95% interval ± t(n−1)·√(3·SD²/n) of Bland and Altman; proportional bias as the
  ordinary least-squares slope of d on the pair mean (``statsmodels`` ``OLS``: slope, 95%
  interval, p).
* **ICC** (``pingouin.intraclass_corr``, two-way ANOVA): ICC(2,1) = pingouin's ``ICC(A,1)``
  (two-way random, absolute agreement, single measurement) and ICC(3,1) = ``ICC(C,1)``
  (two-way mixed, consistency), each with its 95% interval.
* **SEM and MDC95**. Method agreement: SEM = SD(d)/√2 (each method's share of the
  disagreement, assuming equal error in both). Test–retest and inter-rater: SEM = √(residual
  mean square of the two-way target × level ANOVA behind the ICC) (``statsmodels`` OLS); with
  two levels this is the same SD(d)/√2. MDC95 = 1.96·√2·SEM.
* **Mean absolute difference** with the t-interval of the mean of |d| (lower end at least 0).

Every figure carries the n it rests on. Pairs from one person (two legs, several sessions)
are treated as independent, which makes the intervals somewhat too narrow when people
contribute several pairs; the report states the number of people beside the number of pairs.

Convention:
    Degrees; d = hiprom − reference, so a positive bias means hiprom reads more IR.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from hiprom.errors import HipromError

__all__ = [
    "FEW_PAIRS",
    "MIN_PAIRS",
    "AgreementStats",
    "BlandAltman",
    "Estimate",
    "Icc",
    "Reliability",
    "agreement_stats",
    "few_pairs_note",
    "icc",
    "loa_ci95_half_width_deg",
    "reliability",
]

MIN_PAIRS = 3
"""Fewest pairs (or targets) a statistic is computed on."""
FEW_PAIRS = 30
"""Below this many pairs the output says the limits are too uncertain to judge."""

Z95 = 1.96
EXTRA = 'pip install "hiprom[validation]"'
SEM_AGREEMENT = "SD of the differences / √2 (equal error in both methods)"
SEM_RELIABILITY = ("√ residual mean square of the two-way target × level ANOVA "
                   "(= SD of the differences / √2 with two levels)")


def _missing(err: ImportError) -> HipromError:
    """Return the error for a missing validation extra (named after the project's class)."""
    from hiprom.errors import MissingExtraError

    return MissingExtraError(f"hiprom agreement needs {err.name or 'a validation library'}, "
                             f"which is not installed: {EXTRA}")


@contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Silence the libraries' own deprecation chatter and degenerate-case arithmetic warnings.

    pingouin 0.7 calls ``DataFrame.dropna(inplace=True)``, which pandas ≥ 3.1 deprecates; the
    results are unaffected. Non-finite results of degenerate input are turned into None by the
    callers instead of warnings.
    """
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.filterwarnings("ignore", category=DeprecationWarning,
                                module=r"(pingouin|statsmodels)(\.|$)")
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _finite(value: object) -> float | None:
    """Return ``value`` as a float, or None when it is not a finite number."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Estimate:
    """A figure with its 95% interval and the n behind it.

    Attributes:
        value: The estimate, or None when it cannot be computed.
        ci95: (low, high) of the 95% interval, or None.
        n: How many pairs (or targets) it rests on.

    """

    value: float | None
    ci95: tuple[float, float] | None
    n: int

    @classmethod
    def of(cls, value: object, low: object = None, high: object = None, *, n: int) -> Estimate:
        """Build one from possibly non-finite numbers (non-finite becomes None)."""
        lo, hi = _finite(low), _finite(high)
        return cls(_finite(value), None if lo is None or hi is None else (lo, hi), n)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"value", "ci95": [low, high] | None, "n"}``."""
        return {"value": self.value, "ci95": None if self.ci95 is None else list(self.ci95),
                "n": self.n}


@dataclass(frozen=True)
class BlandAltman:
    """Bias, limits of agreement and the proportional-bias regression.

    Attributes:
        bias_deg: Mean of d with its t-interval.
        sd_diff_deg: SD of d (n − 1 denominator).
        loa_low_deg: bias − 1.96·SD with its approximate 95% interval.
        loa_high_deg: bias + 1.96·SD with its approximate 95% interval.
        slope: Slope of d on the pair mean (degrees per degree), with interval; None when the
            pair means do not vary.
        slope_p: Two-sided p of the slope.
        intercept_deg: Intercept of that regression.
        proportional_bias: Whether the slope differs from 0 at p < 0.05 (None if no slope).

    """

    bias_deg: Estimate
    sd_diff_deg: float
    loa_low_deg: Estimate
    loa_high_deg: Estimate
    slope: Estimate
    slope_p: float | None
    intercept_deg: float | None
    proportional_bias: bool | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"bias_deg": self.bias_deg.to_dict(), "sd_diff_deg": self.sd_diff_deg,
                "loa_low_deg": self.loa_low_deg.to_dict(),
                "loa_high_deg": self.loa_high_deg.to_dict(),
                "loa_ci_method": "Bland-Altman approximation: ± t(n−1)·√(3·SD²/n)",
                "proportional_bias": {"slope": self.slope.to_dict(), "p": self.slope_p,
                                      "intercept_deg": self.intercept_deg,
                                      "detected": self.proportional_bias,
                                      "model": "OLS of d on (hiprom + reference)/2"}}


@dataclass(frozen=True)
class Icc:
    """Intraclass correlations of single measurements (pingouin).

    Attributes:
        icc_2_1: ICC(2,1), absolute agreement (pingouin ``ICC(A,1)``).
        icc_3_1: ICC(3,1), consistency (pingouin ``ICC(C,1)``).
        n_targets: Targets with a value at every level (listwise complete).
        k: Number of levels (methods, sessions or raters).

    """

    icc_2_1: Estimate
    icc_3_1: Estimate
    n_targets: int
    k: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"icc_2_1": {**self.icc_2_1.to_dict(), "pingouin_type": "ICC(A,1)",
                            "model": "two-way random, absolute agreement, single"},
                "icc_3_1": {**self.icc_3_1.to_dict(), "pingouin_type": "ICC(C,1)",
                            "model": "two-way mixed, consistency, single"},
                "n_targets": self.n_targets, "k": self.k}


@dataclass(frozen=True)
class AgreementStats:
    """Everything computed on one set of pairs.

    Attributes:
        n_pairs: Pairs compared.
        n_subjects: Distinct people among them.
        hiprom_mean_deg: Mean of hiprom's values.
        reference_mean_deg: Mean of the reference values.
        mean_abs_diff_deg: Mean of |d| with its t-interval.
        max_abs_diff_deg: Largest |d|.
        bland_altman: Bias, limits of agreement and proportional bias.
        icc: ICC(2,1) and ICC(3,1) of hiprom and reference as two "raters".
        sem_deg: Standard error of measurement (see ``sem_method``).
        mdc95_deg: Minimal detectable change, 1.96·√2·SEM.
        sem_method: How the SEM was computed.

    """

    n_pairs: int
    n_subjects: int
    hiprom_mean_deg: float
    reference_mean_deg: float
    mean_abs_diff_deg: Estimate
    max_abs_diff_deg: float
    bland_altman: BlandAltman
    icc: Icc | None
    sem_deg: Estimate
    mdc95_deg: Estimate
    sem_method: str = SEM_AGREEMENT

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"n_pairs": self.n_pairs, "n_subjects": self.n_subjects,
                "hiprom_mean_deg": self.hiprom_mean_deg,
                "reference_mean_deg": self.reference_mean_deg,
                "mean_abs_diff_deg": self.mean_abs_diff_deg.to_dict(),
                "max_abs_diff_deg": self.max_abs_diff_deg,
                "bland_altman": self.bland_altman.to_dict(),
                "icc": None if self.icc is None else self.icc.to_dict(),
                "sem_deg": self.sem_deg.to_dict(), "mdc95_deg": self.mdc95_deg.to_dict(),
                "sem_method": self.sem_method, "mdc95_formula": "1.96·√2·SEM"}


@dataclass(frozen=True)
class Reliability:
    """Repeatability of one measure across sessions or raters.

    Attributes:
        measure: ``hiprom`` or ``reference``.
        factor: ``session`` or ``rater``.
        levels: The factor's levels seen.
        icc: The ICCs, or None when ``reason`` says why not.
        sem_deg: SEM (see :data:`SEM_RELIABILITY`).
        mdc95_deg: 1.96·√2·SEM.
        reason: Why it was not computed, or None.
        n_left_out: Targets left out (missing a level, or ambiguous).

    """

    measure: str
    factor: str
    levels: tuple[str, ...]
    icc: Icc | None
    sem_deg: Estimate | None
    mdc95_deg: Estimate | None
    reason: str | None = None
    n_left_out: int = 0

    @property
    def title(self) -> str:
        """Return e.g. "hiprom test–retest (across sessions)"."""
        kind = "test–retest" if self.factor == "session" else "inter-rater"
        return f"{self.measure} {kind} (across {self.factor}s)"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"measure": self.measure, "factor": self.factor, "title": self.title,
                "levels": list(self.levels),
                "icc": None if self.icc is None else self.icc.to_dict(),
                "sem_deg": None if self.sem_deg is None else self.sem_deg.to_dict(),
                "mdc95_deg": None if self.mdc95_deg is None else self.mdc95_deg.to_dict(),
                "sem_method": SEM_RELIABILITY, "reason": self.reason,
                "n_left_out": self.n_left_out}


# ---------------------------------------------------------------------------- statistics
def loa_ci95_half_width_deg(sd_diff_deg: float, n: int) -> float:
    """Half-width of the 95% interval of a limit of agreement (Bland–Altman approximation).

    SE(LoA) ≈ √(3·s²/n); the interval is LoA ± t(0.975, n−1)·SE.

    Examples:
        >>> round(loa_ci95_half_width_deg(3.0, 100), 2)
        1.03

    """
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1) * math.sqrt(3.0 * sd_diff_deg**2 / n))


def few_pairs_note(stats: AgreementStats) -> str:
    """Return the caution shown when fewer than :data:`FEW_PAIRS` pairs were compared."""
    half = loa_ci95_half_width_deg(stats.bland_altman.sd_diff_deg, stats.n_pairs)
    return (f"Only {stats.n_pairs} pairs: each limit of agreement is known to ±{half:.1f}° "
            f"(95% CI), too uncertain to judge; plan about {FEW_PAIRS} people or more "
            "(docs/VALIDATION.md §4).")


def icc(targets: Sequence[str], levels: Sequence[str],
        values_deg: Sequence[float] | np.ndarray) -> Icc:
    """ICC(2,1) and ICC(3,1) with 95% intervals, via ``pingouin.intraclass_corr``.

    Args:
        targets: ``(m,)`` target label of each value (a leg, a pair).
        levels: ``(m,)`` rater/session/method of each value.
        values_deg: ``(m,)`` the values, degrees.

    Returns:
        The ICCs on the targets that have a value at every level.

    Raises:
        MissingExtraError: pingouin or pandas is not installed.

    """
    try:
        import pandas as pd
        import pingouin as pg
    except ImportError as err:
        raise _missing(err) from err
    frame = pd.DataFrame({"target": list(targets), "level": list(levels),
                          "value": np.asarray(values_deg, dtype=float)})
    wide = frame.pivot_table(index="target", columns="level", values="value")
    n_complete = int(wide.dropna().shape[0])
    saved = dict(pg.options)
    with _quiet_libraries():
        pg.options["round.column.CI95"] = None  # full precision intervals
        try:
            table = pg.intraclass_corr(frame, targets="target", raters="level",
                                       ratings="value", nan_policy="omit").set_index("Type")
        finally:
            pg.options.clear()
            pg.options.update(saved)

    def _row(kind: str) -> Estimate:
        ci = table.at[kind, "CI95"]
        return Estimate.of(table.at[kind, "ICC"], ci[0], ci[1], n=n_complete)

    return Icc(_row("ICC(A,1)"), _row("ICC(C,1)"), n_complete, int(wide.shape[1]))


def _bland_altman(hiprom: np.ndarray, reference: np.ndarray) -> BlandAltman:
    try:
        import statsmodels.api as sm
        from statsmodels.stats.weightstats import DescrStatsW
    except ImportError as err:
        raise _missing(err) from err
    diff, mean = hiprom - reference, (hiprom + reference) / 2
    n = diff.size
    with _quiet_libraries():
        stats = DescrStatsW(diff, ddof=1)
        bias, sd = float(stats.mean), float(stats.std)
        half = loa_ci95_half_width_deg(sd, n)
        ci = stats.tconfint_mean(alpha=0.05)
        slope = Estimate(None, None, n)
        p = intercept = None
        if np.ptp(mean) > 0:
            fit = sm.OLS(diff, sm.add_constant(mean)).fit()
            low, high = fit.conf_int(alpha=0.05)[1]
            slope = Estimate.of(fit.params[1], low, high, n=n)
            p, intercept = _finite(fit.pvalues[1]), _finite(fit.params[0])
    loa_low, loa_high = (Estimate.of(v, v - half, v + half, n=n)
                         for v in (bias + s * Z95 * sd for s in (-1, 1)))
    return BlandAltman(Estimate.of(bias, ci[0], ci[1], n=n), sd, loa_low, loa_high,
                       slope, p, intercept, None if p is None else p < 0.05)


def _mean_abs_with_ci(abs_diff: np.ndarray) -> Estimate:
    """Mean of |d| with its t-interval, the lower end truncated at 0 (|d| is never negative)."""
    from statsmodels.stats.weightstats import DescrStatsW

    with _quiet_libraries():
        stats = DescrStatsW(abs_diff, ddof=1)
        low, high = stats.tconfint_mean(alpha=0.05)
    return Estimate.of(stats.mean, max(float(low), 0.0), high, n=abs_diff.size)


def agreement_stats(hiprom_deg: Sequence[float], reference_deg: Sequence[float],
                    subjects: Sequence[str]) -> AgreementStats:
    """Compare paired readings.

    Args:
        hiprom_deg: ``(n,)`` hiprom's IR per pair, degrees.
        reference_deg: ``(n,)`` the criterion's IR per pair, degrees.
        subjects: ``(n,)`` the person of each pair (for the count of people).

    Returns:
        Bland–Altman, ICC, SEM, MDC95 and mean absolute difference, each with its n.

    Raises:
        ValueError: Fewer than :data:`MIN_PAIRS` pairs or unequal lengths (callers check first).
        MissingExtraError: pingouin or statsmodels is not installed.

    """
    hiprom = np.asarray(hiprom_deg, dtype=float)
    reference = np.asarray(reference_deg, dtype=float)
    if hiprom.shape != reference.shape or hiprom.ndim != 1 or hiprom.size < MIN_PAIRS:
        raise ValueError(f"need two (n,) arrays with n ≥ {MIN_PAIRS}, got shapes "
                         f"{hiprom.shape} and {reference.shape}")
    n = hiprom.size
    ba = _bland_altman(hiprom, reference)
    ids = [f"pair{i}" for i in range(n)]
    both = icc(ids * 2, ["hiprom"] * n + ["reference"] * n,
               np.concatenate([hiprom, reference])) if np.ptp(
                   np.concatenate([hiprom, reference])) > 0 else None
    sem = ba.sd_diff_deg / math.sqrt(2)
    return AgreementStats(
        n, len(set(subjects)), float(hiprom.mean()), float(reference.mean()),
        _mean_abs_with_ci(np.abs(hiprom - reference)), float(np.abs(hiprom - reference).max()),
        ba, both, Estimate(sem, None, n), Estimate(Z95 * math.sqrt(2) * sem, None, n))


def _residual_sem(targets: Sequence[str], levels: Sequence[str], values: np.ndarray) -> float:
    """√ residual mean square of value ~ target + level (statsmodels OLS)."""
    try:
        import pandas as pd
        import statsmodels.formula.api as smf
    except ImportError as err:
        raise _missing(err) from err

    frame = pd.DataFrame({"target": list(targets), "level": list(levels), "value": values})
    with _quiet_libraries():
        fit = smf.ols("value ~ C(target) + C(level)", data=frame).fit()
    return math.sqrt(float(fit.mse_resid))


def reliability(measure: str, factor: str, cells: dict[tuple[str, str], list[float]]
                ) -> Reliability:
    """Repeatability of ``measure`` across the levels of ``factor``.

    Args:
        measure: ``hiprom`` or ``reference`` (for the labels).
        factor: ``session`` or ``rater``.
        cells: ``{(target, level): values}``; a cell with more than one distinct value is
            ambiguous and its target is left out.

    Returns:
        ICC(2,1), ICC(3,1), SEM and MDC95 on the targets seen at every level, or a reason.

    """
    levels = tuple(sorted({lvl for _, lvl in cells}))
    by_target: dict[str, dict[str, float]] = {}
    bad: set[str] = set()
    for (target, level), values in cells.items():
        if len(set(values)) > 1:
            bad.add(target)
        by_target.setdefault(target, {})[level] = values[0]
    complete = {t: v for t, v in by_target.items() if t not in bad and len(v) == len(levels)}
    left_out = len(by_target) - len(complete)
    if len(levels) < 2:
        return Reliability(measure, factor, levels, None, None, None,
                           f"only one {factor} level", left_out)
    if len(complete) < MIN_PAIRS:
        return Reliability(measure, factor, levels, None, None, None,
                           f"{len(complete)} target(s) seen at every {factor} level; needs "
                           f"{MIN_PAIRS}", left_out)
    rows = [(t, lvl, v) for t, vals in complete.items() for lvl, v in vals.items()]
    targets, lvls, cell_values = zip(*rows, strict=True)
    array = np.asarray(cell_values, dtype=float)
    if np.ptp(array) == 0:
        return Reliability(measure, factor, levels, None, None, None,
                           "every value is the same; ICC undefined", left_out)
    n = len(complete)
    sem = _residual_sem(targets, lvls, array)
    return Reliability(measure, factor, levels, icc(targets, lvls, array), Estimate(sem, None, n),
                       Estimate(Z95 * math.sqrt(2) * sem, None, n), None, left_out)
