"""The agreement plots: Bland–Altman and hiprom against the reference with the identity line.

Plots use matplotlib's Agg and SVG canvases on a bare ``Figure`` (no pyplot state), imported
inside the functions that need them. With ``--by``, points are coloured by group.

Convention:
    Degrees; + = internal rotation; d = hiprom − reference.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hiprom.agreement import AgreementReport
    from hiprom.agreement.io import Pair

__all__ = ["build_bland_altman", "build_scatter", "figure_bytes"]

_INK, _MUTED, _ACCENT, _WARN = "#1e293b", "#64748b", "#0f766e", "#b42335"
_PALETTE = ("#1d4ed8", "#c2410c", "#0f766e", "#7c3aed", "#b45309", "#be185d", "#0369a1",
            "#4d7c0f")


def _figure(width_in: float, height_in: float) -> tuple[Any, Any]:
    """Return a new (figure, axes) without touching pyplot's global state."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        from hiprom.agreement.stats import _missing

        raise _missing(err) from err
    fig = Figure(figsize=(width_in, height_in), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, color="#e2e8f0", lw=0.8)
    ax.set_axisbelow(True)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    return fig, ax


def figure_bytes(fig: Any, fmt: str) -> bytes:
    """Render ``fig`` as ``png`` or ``svg`` bytes (SVG reproducible: no date, fixed ids)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    buffer = io.BytesIO()
    if fmt == "png":
        FigureCanvasAgg(fig).print_png(buffer, metadata={"Software": None})
    elif fmt == "svg":
        with matplotlib.rc_context({"svg.hashsalt": "hiprom-agreement"}):
            FigureCanvasSVG(fig).print_svg(buffer, metadata={"Date": None})
    else:
        raise ValueError(f"fmt must be 'png' or 'svg', got {fmt!r}")
    return buffer.getvalue()


def _groups(report: AgreementReport) -> list[tuple[str, Sequence[Pair], str]]:
    """(label, pairs, colour) per ``--by`` level, or one group of all pairs."""
    pairs = report.matching.pairs
    if report.by is None:
        return [("pairs", pairs, _ACCENT)]
    names = sorted({p.group(report.by) for p in pairs})
    return [(f"{report.by} {name}", [p for p in pairs if p.group(report.by) == name],
             _PALETTE[i % len(_PALETTE)]) for i, name in enumerate(names)]


def _signed(value: float, digits: int) -> str:
    """Format with an explicit sign and a true minus ("−0.015")."""
    return f"{value:+.{digits}f}".replace("-", "−")


def _n_text(report: AgreementReport) -> str:
    o = report.overall
    people = "person" if o.n_subjects == 1 else "people"
    return f"n = {o.n_pairs} pairs, {o.n_subjects} {people}"


def build_bland_altman(report: AgreementReport) -> Any:
    """Bland–Altman plot: d against the pair mean, bias and limits with their 95% intervals.

    Returns:
        A matplotlib ``Figure`` (render it with :func:`figure_bytes`).

    """
    fig, ax = _figure(8, 5.2)
    ba = report.overall.bland_altman
    means = [(p.hiprom_deg + p.reference_deg) / 2 for p in report.matching.pairs]
    for label, pairs, colour in _groups(report):
        ax.scatter([(p.hiprom_deg + p.reference_deg) / 2 for p in pairs],
                   [p.diff_deg for p in pairs], s=22, color=colour, alpha=0.75, lw=0,
                   label=label, zorder=3)
    ax.axhline(0, color="#94a3b8", lw=1)
    lines = ((ba.bias_deg, "-", "bias"), (ba.loa_low_deg, "--", "−1.96 SD"),
             (ba.loa_high_deg, "--", "+1.96 SD"))
    for est, style, name in lines:
        assert est.value is not None
        ax.axhline(est.value, color=_INK, ls=style, lw=1.3)
        if est.ci95 is not None:
            ax.axhspan(*est.ci95, color=_INK, alpha=0.08, lw=0)
        ax.annotate(f"{name} {_signed(est.value, 1)}°", (1.0, est.value), xycoords=("axes fraction",
                    "data"), xytext=(-4, 3), textcoords="offset points", ha="right",
                    fontsize=8.5, color=_INK,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
    slope = ba.slope
    if slope.value is not None and ba.intercept_deg is not None:
        lo, hi = min(means), max(means)
        colour = _WARN if ba.proportional_bias else _MUTED
        p_text = "n/a" if ba.slope_p is None else f"{ba.slope_p:.3g}"
        ci = "" if slope.ci95 is None else (
            f" ({_signed(slope.ci95[0], 3)} to {_signed(slope.ci95[1], 3)})")
        ax.plot([lo, hi], [ba.intercept_deg + slope.value * lo,
                           ba.intercept_deg + slope.value * hi], color=colour, ls=":", lw=1.6,
                label=f"d on mean: slope {_signed(slope.value, 3)}{ci}, p = {p_text}")
    ax.set_xlabel("mean of hiprom and reference IR (°)")
    ax.set_ylabel("hiprom − reference (°)")
    ax.set_title(f"Bland–Altman: hiprom − reference ({_n_text(report)})", fontsize=11,
                 loc="left")
    ax.legend(loc="best", fontsize=8, frameon=False)
    return fig


def build_scatter(report: AgreementReport) -> Any:
    """Scatter of hiprom against the reference, with the identity line.

    Returns:
        A matplotlib ``Figure``.

    """
    fig, ax = _figure(6, 6)
    pairs = report.matching.pairs
    values = [v for p in pairs for v in (p.hiprom_deg, p.reference_deg)]
    pad = max(2.0, 0.05 * (max(values) - min(values)))
    lo, hi = min(values) - pad, max(values) + pad
    ax.plot([lo, hi], [lo, hi], color=_MUTED, lw=1.2, label="identity (hiprom = reference)")
    for label, group, colour in _groups(report):
        ax.scatter([p.reference_deg for p in group], [p.hiprom_deg for p in group], s=22,
                   color=colour, alpha=0.75, lw=0, label=label, zorder=3)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("reference IR (°)")
    ax.set_ylabel("hiprom IR (°)")
    ax.set_title(f"hiprom against the reference ({_n_text(report)})", fontsize=11, loc="left")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig
