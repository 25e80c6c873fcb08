"""Hold detection for :mod:`hiprom.core.protocol` (private; pure numpy).

A hold is a run of frames in which the median-smoothed angle stays inside a band whose width
adapts to the noise measured on the clip. Times are seconds, angles degrees.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hiprom.core import filters as flt
from hiprom.vocabulary import Z95

FloatArray = npt.NDArray[np.float64]
#: Still pieces at least this long and this close in time are merged into one hold.
_MERGE_S = 0.3


@dataclass(frozen=True)
class Hold:
    """A still segment of a rotation series.

    Attributes:
        start_s, end_s: timestamps of the first and last sample.
        start_index, end_index: their frame indices (inclusive).
        value_deg: robust centre (median, ramp edges trimmed), same sign as the input.
        ci95_deg: statistical 95% half-width of ``value_deg`` (autocorrelation-aware).
        n_frames: valid frames inside the hold.
        n_eff: effective number of independent frames behind ``value_deg``.

    """

    start_s: float
    end_s: float
    start_index: int
    end_index: int
    value_deg: float
    ci95_deg: float
    n_frames: int
    n_eff: float

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last sample."""
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Prepared:
    """A series made ready for hold finding: cleaned, smoothed, and its noise and tolerance."""

    t: FloatArray
    clean: FloatArray
    smooth: FloatArray
    noise_sd_deg: float
    tolerance_deg: float
    frame_s: float = float("nan")


def prepare(t: FloatArray, x: FloatArray, *, max_gap_s: float, min_tolerance_deg: float,
             tolerance_k: float, smooth_half_window_s: float) -> Prepared:
    """Clean, smooth and derive the stillness tolerance from the measured noise.

    The tolerance is tolerance_k × the SD of the *smoothed* series' fluctuation, measured
    from its differences over one smoothing window (robust to ramps, and it sees slow,
    autocorrelated jitter that frame-to-frame differences miss), clipped to
    [min_tolerance_deg, 2.5 × min_tolerance_deg].
    """
    clean = flt.fill_short_gaps(t, flt.hampel(t, x), max_gap_s)
    smooth = flt.rolling_median(t, clean, smooth_half_window_s)
    # An adaptively sampled series is measured on its evenly spaced samples, so that dense
    # runs of frames (where the legs move) do not dominate the noise estimates.
    frame_s = flt.frame_period(t)
    even = flt.regular_subset(t, frame_s)
    t_even, smooth_even, clean_even = ((t, smooth, clean) if even is None
                                       else (t[even[0]], smooth[even[0]], clean[even[0]]))
    lag = 1
    if t_even.size > 1:
        lag = max(1, round(2 * smooth_half_window_s / float(np.median(np.diff(t_even)))))
    sigma_smooth = flt.lagged_sd(smooth_even, lag)
    tol = tolerance_k * sigma_smooth if np.isfinite(sigma_smooth) else min_tolerance_deg
    tol = float(np.clip(tol, min_tolerance_deg, 2.5 * min_tolerance_deg))
    return Prepared(t, clean, smooth, flt.noise_sd(clean_even), tol, frame_s)


def _reach(y: FloatArray, band: float) -> npt.NDArray[np.intp]:
    """For each start i, the exclusive end of the longest NaN-free run with range ≤ band."""
    vals = y.tolist()
    n = len(vals)
    reach = np.zeros(n, dtype=np.intp)
    hi_q: deque[int] = deque()
    lo_q: deque[int] = deque()
    j = 0
    for i in range(n):
        if j < i:
            j = i
            hi_q.clear()
            lo_q.clear()
        while j < n and vals[j] == vals[j]:  # stops at NaN
            hi = max(vals[hi_q[0]], vals[j]) if hi_q else vals[j]
            lo = min(vals[lo_q[0]], vals[j]) if lo_q else vals[j]
            if hi - lo > band:
                break
            while hi_q and vals[hi_q[-1]] <= vals[j]:
                hi_q.pop()
            while lo_q and vals[lo_q[-1]] >= vals[j]:
                lo_q.pop()
            hi_q.append(j)
            lo_q.append(j)
            j += 1
        reach[i] = j
        for q in (hi_q, lo_q):
            if q and q[0] == i:
                q.popleft()
    return reach


def _free_part(start: int, end: int, taken: list[tuple[int, int]]) -> tuple[int, int]:
    """The longest piece of [start, end) not overlapping any taken interval."""
    pieces = [(start, end)]
    for a, b in taken:
        pieces = [p for s, e in pieces for p in ((s, min(e, a)), (max(s, b), e)) if p[1] > p[0]]
    return max(pieces, key=lambda p: p[1] - p[0], default=(start, start))


def still_segments(prep: Prepared, min_hold_s: float) -> list[tuple[int, int]]:
    """Non-overlapping [start, end) index ranges in which the person holds still.

    Longest runs with smoothed range ≤ 2·tolerance are taken first (overlaps trimmed); runs
    ≥ 0.3 s that follow each other within 0.3 s at levels within the tolerance are merged,
    so noise cannot split one hold in two. Runs shorter than ``min_hold_s`` are dropped.
    """
    t = prep.t
    reach = _reach(prep.smooth, 2 * prep.tolerance_deg)
    prev = np.r_[-1, reach[:-1]]
    starts = np.flatnonzero((reach > np.arange(reach.size)) & (reach > prev))
    cands = sorted(((t[reach[i] - 1] - t[i], int(i), int(reach[i])) for i in starts),
                   reverse=True)
    piece_s = min(min_hold_s, _MERGE_S)
    taken: list[tuple[int, int]] = []
    for duration, s, e in cands:
        if duration < piece_s:
            break
        s2, e2 = _free_part(s, e, taken)
        if e2 > s2 and t[e2 - 1] - t[s2] >= piece_s:
            taken.append((s2, e2))
    merged: list[tuple[int, int]] = []
    for s, e in sorted(taken):
        if merged and t[s] - t[merged[-1][1] - 1] <= _MERGE_S and abs(
                _level(prep, *merged[-1]) - _level(prep, s, e)) <= prep.tolerance_deg:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return [(s, e) for s, e in merged if t[e - 1] - t[s] >= min_hold_s]


def _level(prep: Prepared, start: int, end: int) -> float:
    return float(flt.nan_reduce(np.nanmedian, prep.smooth[start:end]))


def make_hold(prep: Prepared, start: int, end: int, edge_trim_s: float) -> Hold:
    """Summarise samples [start, end): median after trimming ramp edges of edge_trim_s."""
    t, x = prep.t[start:end], prep.clean[start:end]
    core = (t >= t[0] + edge_trim_s) & (t <= t[-1] - edge_trim_s) & np.isfinite(x)
    use = core if core.sum() >= 0.5 * np.isfinite(x).sum() else np.isfinite(x)
    value, se, n_eff = flt.median_with_se(x[use], t[use], prep.frame_s)
    return Hold(float(t[0]), float(t[-1]), start, end - 1, value, Z95 * se,
                int(np.isfinite(x).sum()), n_eff)
