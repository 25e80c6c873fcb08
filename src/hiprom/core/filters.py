"""Robust time-series helpers for :mod:`hiprom.core.protocol` (private; pure numpy/scipy).

All series are 1-D over frames with timestamps in seconds (variable frame rate allowed);
windows are defined in seconds, never in frames, and never reach across a NaN gap.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy.special import stdtrit

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


def median_with_se(values: FloatArray) -> tuple[float, float, float]:
    """Median of a held segment, its standard error, and the effective sample size.

    The SE is the median's (√(π/2)·σ/√n_eff) with σ from the MAD and n_eff from the lag-1
    autocorrelation ρ of the residuals (AR(1): n_eff = n·(1−ρ)/(1+ρ), ρ bias-corrected by
    (1+4ρ)/n). It is inflated by the Student-t quantile for n_eff − 1 degrees of freedom over
    Z95, so Z95·SE is a fair 95% half-width for short holds.
    """
    v = values[np.isfinite(values)]
    if v.size == 0:
        return float("nan"), float("nan"), 0.0
    centre = float(np.median(v))
    if v.size < 3:
        return centre, float("nan"), float(v.size)
    resid = v - centre
    sd = MAD_TO_SD * float(np.median(np.abs(resid)))
    denom = float(resid @ resid)
    rho = float(resid[1:] @ resid[:-1]) / denom if denom > 0 else 0.0
    rho = float(np.clip(rho + (1 + 4 * rho) / v.size, 0.0, 0.95))
    n_eff = max(2.0, v.size * (1 - rho) / (1 + rho))
    inflate = float(stdtrit(n_eff - 1, 0.975)) / Z95
    return centre, float(inflate * MEDIAN_EFFICIENCY * sd / np.sqrt(n_eff)), float(n_eff)
