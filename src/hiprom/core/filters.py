"""Robust time-series helpers for :mod:`hiprom.core.protocol` (private; pure numpy).

All series are 1-D over frames with timestamps in seconds (variable frame rate allowed);
windows are defined in seconds, never in frames, and never reach across a NaN gap.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from hiprom.errors import InputError
from hiprom.vocabulary import Z95

FloatArray = npt.NDArray[np.float64]
#: MAD → standard deviation for Gaussian data.
MAD_TO_SD = 1.4826
#: Standard error of the median over that of the mean, Gaussian data (√(π/2)).
MEDIAN_EFFICIENCY = 1.2533


def validate_series(timestamps_s: npt.ArrayLike, values: npt.ArrayLike,
                    name: str = "angle_deg") -> tuple[FloatArray, FloatArray]:
    """Check a time series and return float64 copies.

    Raises:
        InputError: shapes differ, are not 1-D, or timestamps are not finite and increasing.

    """
    t = np.array(timestamps_s, dtype=np.float64)
    x = np.array(values, dtype=np.float64)
    if t.ndim != 1 or x.shape != t.shape:
        raise InputError(
            f"timestamps_s and {name} must both have shape (n,), got {t.shape} and {x.shape}"
        )
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise InputError("timestamps_s must be finite and strictly increasing (seconds)")
    return t, x


def _run_bounds(valid: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Per sample, the [start, end) of its run of valid samples; empty for invalid ones."""
    n = valid.size
    idx = np.arange(n)
    starts = np.where(valid & ~np.r_[False, valid[:-1]], idx, -1) if n else idx
    run_lo = np.maximum.accumulate(starts) if n else idx
    ends = np.where(valid & ~np.r_[valid[1:], False], idx + 1, n + 1) if n else idx
    run_hi = np.minimum.accumulate(ends[::-1])[::-1] if n else idx
    run_lo = np.where(valid, run_lo, idx)
    run_hi = np.where(valid, run_hi, idx)
    return run_lo, run_hi


def window_matrix(t: FloatArray, x: FloatArray, half_window_s: float) -> FloatArray:
    """``(n, k)`` values of x within ±half_window_s of each sample, NaN-padded.

    Windows stop at NaN samples, so nothing is mixed across a gap.
    """
    valid = np.isfinite(x)
    run_lo, run_hi = _run_bounds(valid)
    lo = np.maximum(np.searchsorted(t, t - half_window_s, "left"), run_lo)
    hi = np.minimum(np.searchsorted(t, t + half_window_s, "right"), run_hi)
    width = int(max(1, np.max(hi - lo, initial=1)))
    idx = lo[:, None] + np.arange(width)
    inside = idx < hi[:, None]
    return np.where(inside, x[np.minimum(idx, max(x.size - 1, 0))], np.nan)


def nan_reduce(fn: Callable[..., FloatArray], values: FloatArray, axis: int = -1) -> FloatArray:
    """Apply a numpy nan-reduction, silencing only its all-NaN warning (result stays NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(values, axis=axis)


def rolling_median(t: FloatArray, x: FloatArray, half_window_s: float) -> FloatArray:
    """Centred running median over ±half_window_s seconds; NaN stays NaN."""
    if x.size == 0:
        return x.copy()
    med = nan_reduce(np.nanmedian, window_matrix(t, x, half_window_s))
    return np.where(np.isfinite(x), med, np.nan)


def hampel(t: FloatArray, x: FloatArray, *, half_window_s: float = 0.25, k: float = 3.0,
           min_sd: float = 0.5) -> FloatArray:
    """Hampel filter: samples more than k robust SDs from the local median become NaN."""
    if x.size == 0:
        return x.copy()
    win = window_matrix(t, x, half_window_s)
    med = nan_reduce(np.nanmedian, win)
    sd = MAD_TO_SD * nan_reduce(np.nanmedian, np.abs(win - med[:, None]))
    outlier = np.abs(x - med) > k * np.maximum(sd, min_sd)
    return np.where(outlier, np.nan, x)


def fill_short_gaps(t: FloatArray, x: FloatArray, max_gap_s: float) -> FloatArray:
    """Linearly interpolate NaN runs whose bracketing samples are ≤ max_gap_s apart."""
    valid = np.isfinite(x)
    if valid.sum() < 2:
        return x.copy()
    idx = np.arange(x.size)
    prev = np.maximum.accumulate(np.where(valid, idx, -1))
    nxt = np.minimum.accumulate(np.where(valid, idx, x.size)[::-1])[::-1]
    inner = ~valid & (prev >= 0) & (nxt < x.size)
    span = np.where(inner, t[np.minimum(nxt, x.size - 1)] - t[np.maximum(prev, 0)], np.inf)
    fill = inner & (span <= max_gap_s + 1e-9)
    out = x.copy()
    out[fill] = np.interp(t[fill], t[valid], x[valid])
    return out


def noise_sd(x: FloatArray) -> float:
    """Per-frame noise SD from the MAD of second differences (trend-free); NaN if < 5."""
    d2 = x[2:] - 2 * x[1:-1] + x[:-2]
    d2 = d2[np.isfinite(d2)]
    if d2.size < 5:
        return float("nan")
    return float(MAD_TO_SD * np.median(np.abs(d2 - np.median(d2))) / np.sqrt(6.0))


def lagged_sd(x: FloatArray, lag: int) -> float:
    """Robust SD of x from its differences over ``lag`` samples (MAD/√2); NaN if < 5."""
    d = x[lag:] - x[:-lag] if x.size > lag else x[:0]
    d = d[np.isfinite(d)]
    if d.size < 5:
        return float("nan")
    return float(MAD_TO_SD * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


#: Samples closer than this fraction of the regular spacing to the last kept one are thinned.
_THIN_FRACTION = 0.75
#: A series is sampled irregularly when its gaps of two or more frames hold at least this
#: share of its time (adaptive sampling); a few dropped frames do not make it so.
_IRREGULAR_SHARE = 1.0 / 3.0
#: Largest lag-1 autocorrelation of a hold's residuals between consecutive frames.
_MAX_RHO = 0.95


def frame_period(t: FloatArray) -> float:
    """The series' frame period: its shortest common gap (10th percentile), NaN if < 2.

    Examples:
        >>> round(frame_period(np.r_[0, 4, 8, 9, 10, 11, 12, 16, 20] / 30.0) * 30, 6)
        1.0

    """
    return float(np.percentile(np.diff(t), 10)) if t.size > 1 else float("nan")


def regular_subset(t: FloatArray, frame_s: float | None = None
                   ) -> tuple[npt.NDArray[np.intp], float] | None:
    """An evenly spaced subset of irregularly spaced samples and its spacing; None when even.

    Adaptively sampled clips (:mod:`hiprom.pipeline.sampling`) mix runs of consecutive
    frames with sparse stretches. Statistics that assume evenly spaced samples (the lag-1
    autocorrelation behind a hold's effective sample size, differences over a fixed lag)
    would count a run of consecutive frames as many samples and misread its correlation,
    so they are computed on the samples at the *regular* spacing — the time-weighted
    median of the gaps of two frames or more — keeping a sample when it is at least 3/4
    of that spacing after the last one kept. Evenly spaced series (every frame, a fixed stride,
    a few dropped frames) return None: they are used whole, as they always were.

    Args:
        t: ``(n,)`` increasing seconds.
        frame_s: the frame period of the whole series (:func:`frame_period`); by default
            that of ``t``.

    Examples:
        >>> regular_subset(np.arange(10) / 30.0) is None
        True
        >>> keep, spacing = regular_subset(np.r_[0, 4, 8, 9, 10, 11, 12, 16, 20] / 30.0)
        >>> keep.tolist(), round(spacing * 30, 6)
        ([0, 1, 2, 5, 7, 8], 4.0)

    """
    if t.size < 3:
        return None
    gaps = np.diff(t)
    frame = frame_period(t) if frame_s is None else frame_s
    if not frame > 0:
        return None
    long = np.rint(gaps / frame) >= 2
    if float(gaps[long].sum()) < _IRREGULAR_SHARE * float(gaps.sum()):
        return None
    # The sparse spacing: the time-weighted median of the gaps of two frames or more.
    sparse = np.sort(gaps[long])
    share = np.cumsum(sparse)
    regular = float(sparse[np.searchsorted(share, 0.5 * share[-1])])
    keep = [0]
    for i in range(1, t.size):
        if t[i] - t[keep[-1]] >= _THIN_FRACTION * regular - 1e-9:
            keep.append(i)
    return np.array(keep, dtype=np.intp), regular


def time_weights(t: FloatArray) -> FloatArray:
    """Seconds of the series each sample stands for (half of each gap beside it, ends whole).

    Examples:
        >>> time_weights(np.array([0.0, 0.1, 0.4, 0.5])).round(3).tolist()
        [0.1, 0.2, 0.2, 0.1]

    """
    if t.size < 2:
        return np.ones_like(t)
    gaps = np.diff(t)
    weights: FloatArray = np.concatenate([gaps[:1], 0.5 * (gaps[:-1] + gaps[1:]), gaps[-1:]])
    return weights


def weighted_median(values: FloatArray, weights: FloatArray) -> float:
    """The value below which half the weight lies (the mean of two values at a tie).

    Examples:
        >>> weighted_median(np.array([1.0, 2.0, 10.0]), np.array([1.0, 1.0, 5.0]))
        10.0
        >>> weighted_median(np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4))
        2.5

    """
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    half = 0.5 * cum[-1]
    k = int(np.searchsorted(cum, half))
    if np.isclose(cum[k], half, rtol=1e-9, atol=0.0) and k + 1 < v.size:
        return float(0.5 * (v[k] + v[k + 1]))
    return float(v[k])


def _lag1_rho(resid: FloatArray) -> float:
    """Lag-1 autocorrelation of residuals, bias-corrected by (1+4ρ)/n, not clipped."""
    denom = float(resid @ resid)
    rho = float(resid[1:] @ resid[:-1]) / denom if denom > 0 else 0.0
    return rho + (1 + 4 * rho) / resid.size


def _consecutive_rho(t: FloatArray, resid: FloatArray, frame_s: float) -> float:
    """Lag-1 autocorrelation over pairs of consecutive frames, bias-corrected; 0 if < 5 pairs."""
    pair = np.flatnonzero(np.rint(np.diff(t) / frame_s) == 1)
    if pair.size < 5:
        return 0.0
    a, b = resid[pair], resid[pair + 1]
    denom = 0.5 * float(a @ a + b @ b)
    rho = float(a @ b) / denom if denom > 0 else 0.0
    return float(np.clip(rho + (1 + 4 * rho) / (pair.size + 1), 0.0, 1.0))


def _incomplete_beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 ≤ x ≤ 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _incomplete_beta_fraction(a, b, x) / a
    return 1.0 - front * _incomplete_beta_fraction(b, a, 1.0 - x) / b


def student_t_quantile(p: float, dof: float) -> float:
    """The ``p`` quantile (0.5 ≤ p < 1) of Student's t with ``dof`` > 0 degrees of freedom.

    Newton's method on the upper tail, P(T > t) = I_{ν/(ν+t²)}(ν/2, 1/2) / 2, from below
    (the tail is convex there, so every step stays below the root). Plain floats: scipy's
    ``special`` module took a tenth of a second to import in every batch worker for this one
    number.

    Examples:
        >>> round(student_t_quantile(0.975, 2.0), 4)  # (2p − 1) / √(2p(1 − p))
        4.3027

    """
    if not (0.5 <= p < 1.0 and dof > 0.0):
        raise InputError(f"need 0.5 <= p < 1 and dof > 0, got p={p}, dof={dof}")
    tail = 1.0 - p
    log_norm = (math.lgamma((dof + 1.0) / 2.0) - math.lgamma(dof / 2.0)
                - 0.5 * math.log(dof * math.pi))
    t = 0.0
    for _ in range(200):
        excess = 0.5 * _incomplete_beta(dof / 2.0, 0.5, dof / (dof + t * t)) - tail
        density = math.exp(log_norm - (dof + 1.0) / 2.0 * math.log1p(t * t / dof))
        step = excess / density
        t += step
        if abs(step) <= 1e-13 * max(1.0, t):
            break
    return t


#: Fewest degrees of freedom of the Student-t inflation. Below 2 the t quantile runs off
#: (12.7 at one degree, against 4.3 at two) on an n_eff that is itself only an estimate from
#: a short, strongly correlated hold: an adaptively sampled 0.6-s neutral came out at
#: n_eff 2.0 and a 95% half-width of 8.1° where every frame gave n_eff 2.8 and 0.8°.
MIN_T_DOF = 2.0


def median_with_se(values: FloatArray, timestamps_s: FloatArray | None = None,
                   frame_s: float | None = None) -> tuple[float, float, float]:
    """Median of a held segment, its standard error, and the effective sample size.

    The SE is the median's (√(π/2)·σ/√n_eff) with σ from the MAD and n_eff from the lag-1
    autocorrelation ρ of the residuals (AR(1): n_eff = n·(1−ρ)/(1+ρ), ρ bias-corrected by
    (1+4ρ)/n). It is inflated by the Student-t quantile for n_eff − 1 degrees of freedom (at
    least :data:`MIN_T_DOF`) over Z95, so Z95·SE is a fair 95% half-width for short holds.

    Irregularly spaced samples (adaptive sampling; ``timestamps_s`` and the series'
    ``frame_s`` given, see :func:`regular_subset`) are counted at the spacing they have:
    the centre is the time-weighted median (a run of consecutive frames weighs what its
    duration weighs, as at full rate); σ and ρ come from the evenly spaced subset, whose
    ρ over m frames is taken back to one frame (ρ^(1/m)) — or, when larger, the
    correlation between the consecutive frames the hold has — clipped as at full rate, and
    n_eff is what full rate would give for the hold's duration with that correlation,
    never more than the subset's samples. So a hold does not look surer for having been
    sampled sparsely (fewer, less correlated samples), nor much less sure for runs of
    strongly correlated consecutive frames.
    """
    finite = np.isfinite(values)
    v = values[finite]
    if v.size == 0:
        return float("nan"), float("nan"), 0.0
    even = None
    if timestamps_s is not None:
        even = regular_subset(timestamps_s[finite], frame_s)
    if even is None:
        centre = float(np.median(v))
        if v.size < 3:
            return centre, float("nan"), float(v.size)
        resid = v - centre
        rho = float(np.clip(_lag1_rho(resid), 0.0, _MAX_RHO))
        n_eff = max(2.0, v.size * (1 - rho) / (1 + rho))
    else:
        assert timestamps_s is not None  # even is only set from timestamps
        t = timestamps_s[finite]
        keep, spacing = even
        centre = weighted_median(v, time_weights(t))
        if keep.size < 3:  # too short to thin: every sample, as if evenly spaced
            keep, spacing = np.arange(v.size), float(np.median(np.diff(t)))
        frame = frame_period(t) if frame_s is None else frame_s
        resid = v[keep] - centre
        frames_per_sample = max(1.0, spacing / frame)
        rho = float(np.clip(_lag1_rho(resid), 0.0, 1.0)) ** (1.0 / frames_per_sample)
        # Consecutive frames the hold has (where the sampling was dense) show the
        # frame-to-frame correlation directly; the larger estimate is kept.
        rho = min(max(rho, _consecutive_rho(t, v - centre, frame)), _MAX_RHO)
        n_frames = (t[-1] - t[0]) / frame + 1.0
        n_eff = max(2.0, min(float(keep.size), n_frames * (1 - rho) / (1 + rho)))
    sd = MAD_TO_SD * float(np.median(np.abs(resid)))
    inflate = student_t_quantile(0.975, max(n_eff - 1, MIN_T_DOF)) / Z95
    return centre, float(inflate * MEDIAN_EFFICIENCY * sd / np.sqrt(n_eff)), float(n_eff)
