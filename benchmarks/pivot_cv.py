"""Out-of-sample pivot check: the allowed gap between the pivot and direct readings, per network.

Usage::

    python benchmarks/pivot_cv.py --data /path/to/validation --data /path/to/validation2 \
        --split fit --out build/accuracy-cv-full --model full --markdown build/pivot-cv-full.md

A clip leg is measured about its neutral knee (the pivot) unless that reading strays from
the leg's own knee→ankle reading by more than ``base + 0.1° × |angle|`` while it moves
(:func:`hiprom.core.pivot.pivot_disagreement`); then its own, sliding knee is used. The
base is fitted per pose network (``hiprom.core.calibration.PIVOT_GAP_BASE_BY_MODEL``): each
clean end range is measured both ways, and the base is the smallest (in 0.5° steps) whose
choice of reading gives the least mean absolute error. Groups: leave one body out and leave
one camera setup out, each group measured with the base fitted without it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from _output import emit
from accuracy_cv import cases_for
from flags_cv import _clips, fit_arguments

from hiprom.backends.base import PoseModel
from hiprom.pipeline.analysis import MeasureOptions

GRID = np.arange(0.0, 40.5, 0.5)
NEVER = 1e9  # a base no gap reaches: the pivot is always kept


@dataclass(frozen=True)
class EndRange:
    """One clean end range measured about the pivot and from the leg's own knee."""

    body: str
    setup: str
    excess: float              # gap beyond 0.1°/° (the base it needs to be kept); NaN: kept
    pivot_err: float | None
    direct_err: float | None

    def error(self, base: float) -> float:
        kept = not (np.isfinite(self.excess) and self.excess > base)
        e = self.pivot_err if kept else self.direct_err
        return abs(e) if e is not None else float("nan")


def end_ranges(clip, options: MeasureOptions) -> list[EndRange]:
    """Each clean end range of the clip read both ways, with the base its pivot needs."""
    pivot = cases_for(clip, replace(options, pivot_gap=NEVER))
    direct = cases_for(clip, replace(options, pivot=False))
    return [EndRange(clip.body, clip.setup, _needed_base(clip, options, p), p.error, d.error)
            for p, d in zip(pivot, direct, strict=True)]


def _needed_base(clip, options: MeasureOptions, forced) -> float:
    """The smallest base at which this leg's pivot is kept (NaN when it always is), found by
    bisection on whether the measured value is still the pivot's (measured as a user would,
    so the benchmark does not depend on how the check is computed)."""
    def kept(base: float) -> bool:
        case = next(c for c in cases_for(clip, replace(options, pivot_gap=base))
                    if c.leg == forced.leg and c.direction == forced.direction)
        return case.value_deg == forced.value_deg
    if kept(0.0):
        return float("nan")
    lo, hi = 0.0, 64.0
    if not kept(hi):
        return hi
    while hi - lo > 0.05:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if kept(mid) else (mid, hi)
    return hi


def fit_base(rows: Sequence[EndRange]) -> tuple[float, float]:
    """The smallest base of :data:`GRID` with the least mean absolute error, and that error."""
    scores = [(round(float(np.nanmean([r.error(b) for r in rows])), 9), float(b)) for b in GRID]
    best = min(s for s, _ in scores)
    return min(b for s, b in scores if s <= best), best


def _line(name: str, errors: list[float], bases: Sequence[float]) -> str:
    e = np.array(errors, float)
    e = e[np.isfinite(e)]
    span = (f"{min(bases):.1f}–{max(bases):.1f}°" if len(set(bases)) > 1
            else "–" if abs(bases[0]) >= NEVER or bases[0] < 0 else f"{bases[0]:.1f}°")
    return (f"| {name} | {span} | {e.size} | {e.mean():.2f}° | {np.percentile(e, 95):.2f}° | "
            f"{e.max():.2f}° |")


def main(argv: list[str] | None = None) -> int:
    args = fit_arguments(__doc__).parse_args(argv)
    model = PoseModel(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    options = MeasureOptions(model=model)
    clips = [c for c in _clips(args.data, args.split, args.out, model) if c.clean]
    if len(clips) < 2:
        print(f"need at least two clean clips with truth in {args.data}", file=sys.stderr)
        return 2
    rows = [r for c in clips for r in end_ranges(c, options)]
    base, _ = fit_base(rows)
    shipped = options.pivot_gap_base_deg
    lines = [f"Pose network: {model.value}. {len(clips)} clean clips, {len(rows)} end ranges; "
             f"shipped base {shipped:.1f}°.", "",
             "| pivot check | base | n | mean abs err | p95 | max |",
             "|---|---|---|---|---|---|",
             _line("shipped base", [r.error(shipped) for r in rows], [shipped]),
             _line("always (no check)", [r.error(NEVER) for r in rows], [NEVER]),
             _line("never (own knee)", [r.error(-1.0) for r in rows], [-1.0]),
             _line("in-sample fit", [r.error(base) for r in rows], [base])]
    for name, key in (("body", "body"), ("camera setup", "setup")):
        errors: list[float] = []
        bases: list[float] = []
        for group in sorted({getattr(r, key) for r in rows}):
            b, _ = fit_base([r for r in rows if getattr(r, key) != group])
            bases.append(b)
            errors += [r.error(b) for r in rows if getattr(r, key) == group]
        lines.append(_line(f"leave one {name} out", errors, bases))
    rejected = sum(np.isfinite(r.excess) and r.excess > base for r in rows)
    lines += ["", f"Fitted base {base:.1f}°: the pivot is rejected on {rejected} of {len(rows)} "
              "clean end ranges."]
    emit("\n".join(lines), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
