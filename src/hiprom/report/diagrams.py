"""The report's figures: exercise schematics and the norm-band chart (SVG), plots (PNG).

Every figure is a plain SVG string with no external references, so it can be pasted into a
self-contained HTML page. Stick figures are schematic: grey is the body, orange the leg that
works, dashed orange where it moves to, arrows show the movement.

Convention:
    SVG user units, origin top-left, y down. Angles in degrees, + = internal rotation.
    Plots use matplotlib's Agg canvas on a bare ``Figure`` (no pyplot state), imported inside
    the functions that need it.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from hiprom.plan.assessment import TARGET_HIGH_DEG, TARGET_LOW_DEG
from hiprom.vocabulary import Side

if TYPE_CHECKING:
    from hiprom.report.history import HistoryEntry

__all__ = [
    "BAND_COLOURS",
    "VIEWS",
    "AngleSeries",
    "build_angle_plot_png",
    "build_exercise_svg",
    "build_history_plot_png",
    "build_norm_band_svg",
    "exercise_ids",
]

_BODY, _WORK, _FLOOR, _INK = "#475569", "#d9480f", "#cbd5e1", "#1e293b"
_W, _H = 240, 170
Point = tuple[float, float]

BAND_COLOURS: dict[str, tuple[str, str]] = {
    "markedly_limited": ("#f6d5d8", "#b42335"),
    "limited": ("#fbe0c8", "#c05621"),
    "mildly_limited": ("#fbefc0", "#8a6d00"),
    "typical": ("#d2efda", "#1b7a3d"),
    "above_norm": ("#d7e3f4", "#2553a0"),
}
"""(fill, ink) colours per verdict code."""


# ---------------------------------------------------------------------------- primitives
def _limb(a: Point, b: Point, *, colour: str = _BODY, width: float = 7.0,
          dashed: bool = False) -> str:
    """Return a thick round-capped segment."""
    dash = ' stroke-dasharray="6 6" opacity="0.75"' if dashed else ""
    return (f'<line x1="{a[0]:.1f}" y1="{a[1]:.1f}" x2="{b[0]:.1f}" y2="{b[1]:.1f}" '
            f'stroke="{colour}" stroke-width="{width}" stroke-linecap="round"{dash}/>')


def _chain(points: list[Point], **kwargs: object) -> str:
    """Return segments joining consecutive points."""
    return "".join(_limb(a, b, **kwargs) for a, b in zip(points, points[1:], strict=False))  # type: ignore[arg-type]


def _head(c: Point, r: float = 11.0) -> str:
    """Return a filled head circle."""
    return f'<circle cx="{c[0]:.1f}" cy="{c[1]:.1f}" r="{r}" fill="{_BODY}"/>'


def _joint(c: Point, colour: str = _WORK) -> str:
    """Return a small ring marking a joint that matters."""
    return (f'<circle cx="{c[0]:.1f}" cy="{c[1]:.1f}" r="5" fill="#fff" stroke="{colour}" '
            'stroke-width="2.5"/>')


def _arrow(d: str, prefix: str) -> str:
    """Return a movement arrow along SVG path ``d``."""
    return (f'<path d="{d}" fill="none" stroke="{_INK}" stroke-width="2" '
            f'marker-end="url(#{prefix}-head)"/>')


def _text(p: Point, text: str, anchor: str = "start", size: int = 11) -> str:
    """Return a label."""
    return (f'<text x="{p[0]:.1f}" y="{p[1]:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{_INK}" font-family="system-ui, sans-serif">{html.escape(text)}</text>')


def _floor(y: float) -> str:
    """Return the floor line."""
    return _limb((8, y), (_W - 8, y), colour=_FLOOR, width=3)


def _rotate(centre: Point, p: Point, deg: float) -> Point:
    """Rotate ``p`` about ``centre`` by ``deg`` (screen clockwise, y down)."""
    a = math.radians(deg)
    dx, dy = p[0] - centre[0], p[1] - centre[1]
    return (centre[0] + dx * math.cos(a) - dy * math.sin(a),
            centre[1] + dx * math.sin(a) + dy * math.cos(a))


def _svg(prefix: str, title: str, body: str) -> str:
    """Wrap ``body`` in a titled SVG with its own arrow-head marker."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" role="img" '
            f'class="exercise-diagram" aria-labelledby="{prefix}-title">'
            f'<title id="{prefix}-title">{html.escape(title)}</title>'
            f'<defs><marker id="{prefix}-head" viewBox="0 0 10 10" refX="8" refY="5" '
            'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{_INK}"/></marker></defs>'
            f'<rect width="{_W}" height="{_H}" fill="#f8fafc" rx="8"/>{body}</svg>')


# ---------------------------------------------------------------------------- exercises
def _ninety_ninety(p: str) -> str:
    """90/90 stretch from above: front leg bent in front, back leg bent behind."""
    hip_r, hip_l = (136.0, 104.0), (104.0, 104.0)
    front_knee, front_foot = (170.0, 59.0), (125.0, 25.0)
    back_knee, back_foot = (59.0, 70.0), (25.0, 115.0)
    body = (_chain([hip_r, front_knee, front_foot])
            + _chain([hip_l, back_knee, back_foot], colour=_WORK)
            + _limb(hip_l, hip_r, width=9)
            + '<ellipse cx="120" cy="96" rx="31" ry="12" fill="#94a3b8"/>' + _head((120, 95))
            + _joint(hip_l) + _arrow("M150,118 Q122,136 92,120", p)
            + _text((180, 50), "front leg") + _text((10, 26), "back leg:")
            + _text((10, 39), "its hip is stretched")
            + _text((120, 158), "turn the chest toward the back ankle", "middle"))
    return _svg(p, "90/90 stretch", body)


def _cross_leg(p: str) -> str:
    """Supine figure-4 from the side: ankle resting on the opposite bent knee."""
    hip, knee, foot = (118.0, 132.0), (152.0, 90.0), (180.0, 138.0)
    x_knee, x_ankle = (124.0, 99.0), (160.0, 86.0)
    body = (_floor(142) + _head((36, 127)) + _limb((50, 133), hip, width=9)
            + _limb((60, 134), (96, 137)) + _chain([hip, knee, foot])
            + _chain([hip, x_knee, x_ankle], colour=_WORK) + _joint(x_ankle)
            + _arrow("M104,70 Q98,84 112,98", p)
            + _text((232, 60), "ankle rests on", "end")
            + _text((232, 73), "the other knee", "end")
            + _text((12, 28), "the crossed leg's own weight") + _text((12, 41), "eases the hip;")
            + _text((12, 54), "do not press"))
    return _svg(p, "Seated cross-leg stretch", body)


def _frog(p: str) -> str:
    """Frog stretch from above: knees wide, shins parallel, hips easing back."""
    hips = ((110.0, 96.0), (130.0, 96.0))
    knees, feet = ((62.0, 104.0), (178.0, 104.0)), ((62.0, 140.0), (178.0, 140.0))
    body = (_limb((120, 50), (120, 96), width=11) + _limb((100, 50), (140, 50), width=9)
            + _head((120, 32)) + _limb((100, 50), (96, 68)) + _limb((140, 50), (144, 68)))
    for hip, knee, foot in zip(hips, knees, feet, strict=True):
        body += _limb(hip, knee, colour=_WORK) + _limb(knee, foot) + _joint(knee)
    body += (_limb(*hips, width=9) + _arrow("M120,108 L120,138", p)
             + _text((120, 160), "ease the hips back", "middle") + _text((8, 20), "knees wide,")
             + _text((8, 33), "ankles in line") + _text((8, 46), "with the knees"))
    return _svg(p, "Frog stretch", body)


def _seated_lift(p: str) -> str:
    """Seated IR lift seen along the back thigh: the back foot lifts, the knee stays down."""
    knee, foot = (118.0, 134.0), (190.0, 134.0)
    lifted = _rotate(knee, foot, -32)
    body = (_floor(142) + _limb((112, 132), (112, 66), width=11) + _head((110, 48))
            + _limb((112, 76), (88, 104)) + _limb((112, 134), (62, 136))
            + _limb(knee, foot, colour=_WORK) + _limb(knee, lifted, colour=_WORK, dashed=True)
            + _joint(knee) + _arrow(f"M{foot[0] + 4:.0f},{foot[1] - 8:.0f} "
                                    f"Q{foot[0] + 10:.0f},{lifted[1] + 14:.0f} "
                                    f"{lifted[0] + 10:.0f},{lifted[1] + 2:.0f}", p)
            + _text((140, 70), "foot lifts: the hip") + _text((140, 83), "turns inward")
            + _text((70, 162), "knee stays on the floor"))
    return _svg(p, "Seated internal rotation lift", body)


def _side_lying(p: str, *, band: bool) -> str:
    """Reverse clamshell seen from the front: knees together, top foot lifts."""
    knee_b, knee_t = (126.0, 131.0), (126.0, 116.0)
    foot_b, foot_t = (196.0, 133.0), (196.0, 119.0)
    lifted = _rotate(knee_t, foot_t, -30)
    body = (_floor(142) + _head((26, 120)) + _limb((40, 124), (96, 124), width=11)
            + _limb((96, 116), (96, 134), width=11) + _limb((52, 124), (70, 138))
            + _chain([(96, 134), knee_b, foot_b]) + _limb((96, 118), knee_t, colour=_WORK)
            + _limb(knee_t, foot_t, colour=_WORK)
            + _limb(knee_t, lifted, colour=_WORK, dashed=True) + _joint(knee_t))
    if band:
        body += (f'<path d="M{foot_b[0] - 5},{foot_b[1] + 4} L{lifted[0] - 5:.1f},'
                 f'{lifted[1] - 3:.1f} L{lifted[0] + 5:.1f},{lifted[1] - 3:.1f} '
                 f'L{foot_b[0] + 5},{foot_b[1] + 4} Z" stroke="#2563eb" stroke-width="3" '
                 'stroke-linejoin="round" fill="none"/>'
                 + _text((232, 160), "mini band round the ankles", "end"))
    body += (_arrow(f"M{foot_t[0] + 8:.0f},{foot_t[1] - 6:.0f} Q{foot_t[0] + 14:.0f},"
                    f"{lifted[1] + 10:.0f} {lifted[0] + 12:.0f},{lifted[1]:.0f}", p)
             + _text((8, 40), "knees stay together;") + _text((8, 53), "top foot lifts (top hip")
             + _text((8, 66), "turns inward), lower slowly"))
    return _svg(p, "Band-resisted internal rotation" if band else "Reverse clamshell", body)


_DRAWINGS: dict[str, Callable[[str], str]] = {
    "ninety_ninety_stretch": _ninety_ninety,
    "seated_cross_leg_stretch": _cross_leg,
    "frog_stretch": _frog,
    "seated_ir_lift": _seated_lift,
    "reverse_clamshell": lambda p: _side_lying(p, band=False),
    "band_resisted_ir": lambda p: _side_lying(p, band=True),
}


VIEWS: dict[str, str] = {
    "ninety_ninety_stretch": "Sitting on the floor, seen from above.",
    "seated_cross_leg_stretch": "Lying on the back, seen from the side.",
    "frog_stretch": "On hands and knees, seen from above.",
    "seated_ir_lift": "In the 90/90 sit, seen from the side of the back knee.",
    "reverse_clamshell": "Lying on the side, hips and knees bent, seen from the front.",
    "band_resisted_ir": "As the reverse clamshell, with a mini band round both ankles.",
}
"""One line per diagram saying the body position and the point of view."""


def exercise_ids() -> tuple[str, ...]:
    """Return the exercise ids that have a diagram."""
    return tuple(_DRAWINGS)


def build_exercise_svg(exercise_id: str) -> str:
    """Return the inline SVG diagram of one catalogue exercise.

    Raises:
        KeyError: If there is no diagram for ``exercise_id``.

    """
    return _DRAWINGS[exercise_id](f"dg-{exercise_id}")


# ---------------------------------------------------------------------------- norm band
_BANDS = (("markedly_limited", None, 20.0, "under 20°"), ("limited", 20.0, 30.0, "20–30°"),
          ("mildly_limited", 30.0, 35.0, "30–35°"), ("typical", 35.0, 45.0, "35–45° norm"),
          ("above_norm", 45.0, None, "over 45°"))


def _clamp(value: float, low: float, high: float) -> float:
    """``value`` limited to [low, high]; NaN becomes ``low``."""
    return low if math.isnan(value) else min(high, max(low, value))


_CHART_WIDTH = 760.0
_LABEL_EM = 0.62
"""A generous average advance of a bold 13-unit glyph, in font sizes (digits, ° and ±)."""


def build_norm_band_svg(legs: Mapping[str, tuple[float, float, str] | str | None]) -> str:
    """Return a chart of each leg's IR with its 95% interval over the derived bands.

    Args:
        legs: Per row label (e.g. ``"Left"``) the ``(ir_deg, ci95_deg, verdict_code)``; or
            a short note shown in its place (e.g. ``"not tested"``); or None when that leg
            was not measured.

    Returns:
        An inline SVG, 760 units wide.

    """
    # Clamp to what a hip can do (readers validate; this keeps the chart bounded whatever
    # it is given: the scale and its ticks never span more than -135..135°).
    legs = {name: leg if leg is None or isinstance(leg, str) else (
                _clamp(leg[0], -90.0, 90.0), _clamp(leg[1], 0.0, 45.0), leg[2])
            for name, leg in legs.items()}
    values = [v for leg in legs.values() if isinstance(leg, tuple)
              for v in (leg[0] - leg[1], leg[0] + leg[1])]
    lo = min([0.0, *values]) // 10 * 10
    hi = max([60.0, *values])
    hi = math.ceil(hi / 10) * 10
    left, width, row_h, top = 70.0, 660.0, 44.0, 30.0
    height = top + row_h * len(legs) + 42

    def x(deg: float) -> float:
        return left + (deg - lo) / (hi - lo) * width

    parts = []
    for code, a, b, label in _BANDS:
        x0, x1 = x(lo if a is None else max(a, lo)), x(hi if b is None else min(b, hi))
        fill, ink = BAND_COLOURS[code]
        parts.append(f'<rect x="{x0:.1f}" y="{top - 6}" width="{x1 - x0:.1f}" '
                     f'height="{row_h * len(legs) + 6}" fill="{fill}"/>')
        parts.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{top - 12}" font-size="11" '
                     f'text-anchor="middle" fill="{ink}">{html.escape(label)}</text>')
    for deg in range(int(lo), int(hi) + 1, 10):
        parts.append(f'<text x="{x(deg):.1f}" y="{height - 20}" font-size="11" '
                     f'text-anchor="middle" fill="#475569">{deg}°</text>'
                     f'<line x1="{x(deg):.1f}" x2="{x(deg):.1f}" y1="{top + row_h * len(legs)}"'
                     f' y2="{top + row_h * len(legs) + 5}" stroke="#475569"/>')
    for i, (name, leg) in enumerate(legs.items()):
        y = top + row_h * i + row_h / 2
        parts.append(f'<text x="{left - 10}" y="{y + 4:.1f}" font-size="13" font-weight="600" '
                     f'text-anchor="end" fill="{_INK}">{html.escape(name)}</text>')
        parts.append(_marker(leg, y, x))
    parts.append(f'<text x="{left + width / 2}" y="{height - 4}" font-size="11" '
                 'text-anchor="middle" fill="#475569">seated hip internal rotation (degrees); '
                 'bar = 95% interval</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {_CHART_WIDTH:.0f} {height:.0f}" '
            'role="img" class="band-chart" aria-label="IR per leg against the norm bands" '
            'font-family="system-ui, sans-serif">' + "".join(parts) + "</svg>")


def _marker(leg: tuple[float, float, str] | str | None, y: float,
            x: Callable[[float], float]) -> str:
    """Return one leg's point, interval and value label, or a note in their place."""
    if leg is None or isinstance(leg, str):
        return (f'<text x="{x(0) + 8:.1f}" y="{y + 4:.1f}" font-size="12" font-style="italic" '
                f'fill="#64748b">{html.escape(leg or "not measured")}</text>')
    ir, ci, code = leg
    ink = BAND_COLOURS.get(code, ("", _INK))[1]
    a, b, c = x(ir - ci), x(ir + ci), x(ir)
    label = f"{ir:.1f}° ±{ci:.1f}°"
    # Right of the interval, unless that would run past the chart's edge: then left of it.
    fits = b + 10 + len(label) * 13 * _LABEL_EM <= _CHART_WIDTH
    text_at = (f'x="{b + 10:.1f}"' if fits else f'x="{a - 10:.1f}" text-anchor="end"')
    return (f'<line x1="{a:.1f}" x2="{b:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{ink}" '
            f'stroke-width="3"/><line x1="{a:.1f}" x2="{a:.1f}" y1="{y - 7:.1f}" '
            f'y2="{y + 7:.1f}" stroke="{ink}" stroke-width="2"/><line x1="{b:.1f}" '
            f'x2="{b:.1f}" y1="{y - 7:.1f}" y2="{y + 7:.1f}" stroke="{ink}" stroke-width="2"/>'
            f'<circle cx="{c:.1f}" cy="{y:.1f}" r="7" fill="{ink}" stroke="#fff" '
            f'stroke-width="2"/><text {text_at} y="{y + 4:.1f}" font-size="13" '
            f'font-weight="700" fill="{ink}">{label}</text>')


# ---------------------------------------------------------------------------- plots (PNG)
_COLOURS = {Side.LEFT: "#2563eb", Side.RIGHT: "#c2410c"}


@dataclass(frozen=True)
class AngleSeries:
    """The per-frame hip rotation of one result (from ``<stem>.csv``).

    Attributes:
        timestamp_s: ``(n,)`` frame times in seconds.
        rotation_deg: Per side ``(n,)`` rotation in degrees, + internal; NaN = not measured.

    """

    timestamp_s: npt.NDArray[np.float64]
    rotation_deg: dict[Side, npt.NDArray[np.float64]]


def _png(fig: Any) -> bytes:
    """Render a matplotlib figure to PNG bytes with the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return buffer.getvalue()


def _figure(width_in: float, height_in: float) -> tuple[Any, Any]:
    """Return a new (figure, axes) without touching pyplot's global state."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    ax.axhspan(TARGET_LOW_DEG, TARGET_HIGH_DEG, color="#1b7a3d", alpha=0.12, lw=0,
               label="norm 35–45°")
    ax.grid(True, color="#e2e8f0", lw=0.8)
    ax.set_axisbelow(True)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    return fig, ax


def build_angle_plot_png(series: AngleSeries, result: Mapping[str, Any]) -> bytes:
    """Plot both legs' rotation over time with the held (used) reps marked.

    Args:
        series: The per-frame angles.
        result: The result dict; its ``legs.<side>.reps`` give the holds.

    Returns:
        PNG bytes, 1500 × 540 px.

    """
    fig, ax = _figure(10, 3.6)
    ax.axhline(0, color="#94a3b8", lw=1)
    for side in Side:
        colour = _COLOURS[side]
        ax.plot(series.timestamp_s, series.rotation_deg[side], color=colour, lw=1.6,
                label=f"{side.value} hip")
        for rep in result["legs"][side.value].get("reps") or ():
            _mark_rep(ax, rep, side, colour)
    ax.margins(x=0.01, y=0.14)                    # room for the rep labels
    ax.set_xlabel("time (s)")
    ax.set_ylabel("rotation (°)  + internal / − external")
    fig.legend(loc="outside upper center", frameon=False, ncol=3, fontsize=9)
    return _png(fig)


def _mark_rep(ax: Any, rep: Mapping[str, Any], side: Side, colour: str) -> None:
    """Shade one held rep and label its value."""
    start, end, value = rep.get("start_s"), rep.get("end_s"), rep.get("value_deg")
    if start is None or end is None or value is None or rep.get("used") is False:
        return
    external = rep.get("direction") == "external"
    level = -value if external else value
    ax.axvspan(start, end, color=colour, alpha=0.10, lw=0)
    ax.hlines(level, start, end, color=colour, lw=3.5)
    label = f"{side.value[0].upper()} {'ER' if external else 'IR'} {value:.1f}°"
    ax.annotate(label, ((start + end) / 2, level), xytext=(0, -14 if external else 8),
                textcoords="offset points", ha="center", fontsize=8, color=colour)


def build_history_plot_png(entries: Sequence[HistoryEntry], *, person: str | None = None) -> bytes:
    """Plot each leg's IR per test with its 95% interval, oldest to newest.

    Tests that count for trends are filled dots joined by a line; a test left out (excluded,
    not a valid seated test, leg not tested, compensated or withheld) is a hollow marker.

    Returns:
        PNG bytes.

    """
    fig, ax = _figure(5.5, 2.6)   # legible at half a printed page's width too
    for side in Side:
        points = [(e.measured_at, e.ir_deg[side], e.ci95_deg[side] or 0.0, e.counts(side))
                  for e in entries if e.ir_deg[side] is not None]
        good = [p for p in points if p[3]]
        if good:
            when, ir, ci, _ = zip(*good, strict=True)
            ax.errorbar(when, ir, yerr=ci, color=_COLOURS[side], marker="o", capsize=4,
                        lw=1.6, label=f"{side.value} IR")
        bad = [p for p in points if not p[3]]
        if bad:
            when, ir, ci, _ = zip(*bad, strict=True)
            ax.errorbar(when, ir, yerr=ci, color=_COLOURS[side], marker="o", mfc="white",
                        capsize=4, lw=0, elinewidth=1, ls="none",
                        label=f"{side.value} IR, not in trend")
    ax.set_ylabel("internal rotation (°)")
    if entries:
        first, last = entries[0].measured_at, entries[-1].measured_at
        who = f"{person}: " if person else ""
        span = (f"{first:%Y-%m-%d}" if f"{first:%Y-%m-%d}" == f"{last:%Y-%m-%d}"
                else f"{first:%Y-%m-%d} to {last:%Y-%m-%d}")
        ax.set_title(f"{who}seated hip IR, {span}", fontsize=10, loc="left")
    # Up to five entries, two of them long: three columns would run past a half-page figure.
    n_entries = len(ax.get_legend_handles_labels()[0])
    fig.legend(loc="outside upper center", frameon=False, ncol=n_entries if n_entries <= 3 else 2,
               fontsize=8)
    # Dates as a person reads them at any span (days apart, or minutes on one day); the
    # default formatter wrote "29:18.000000" for tests seconds apart.
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    moments = sorted({e.measured_at for e in entries})
    if len(moments) > 1:
        locator = AutoDateLocator(maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    elif moments:   # one moment has no span to divide: a week around it, its date on the axis
        from datetime import timedelta

        from matplotlib.dates import DateFormatter

        ax.set_xlim(moments[0] - timedelta(days=3), moments[0] + timedelta(days=3))
        ax.set_xticks([moments[0]])
        ax.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
    return _png(fig)
