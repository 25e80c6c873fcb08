"""Batch exports: ``results.csv`` (one row per input per leg) and ``summary.html``.

The summary page is one self-contained file: inline CSS, inline SVG and a few lines of
inline script that sort the table; no font, image, script or style is fetched from
anywhere, so it opens offline and leaks nothing. It links only to the per-video result
files beside it (relative links). It shows honest counts (scored, no angle found, refused,
failed), one sortable row per video, the distribution of clean IR values per leg against
the 35–45° target band, the patients whose left–right difference exceeds the method's
error, and the flagged and failed videos, with quality in words.
:func:`build_summary_html` is pure; the writers do the I/O.
"""

from __future__ import annotations

import html
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from hiprom.batch.store import LEG_COLUMNS, StoredResult, iter_leg_rows
from hiprom.media.sinks import AtomicFiles, CsvSink, atomic_path
from hiprom.plan.assessment import TARGET_HIGH_DEG, TARGET_LOW_DEG
from hiprom.vocabulary import SIDES

__all__ = [
    "RESULTS_CSV",
    "SUMMARY_HTML",
    "build_summary_html",
    "write_exports",
    "write_results_csv",
    "write_summary_html",
]

log = logging.getLogger(__name__)

RESULTS_CSV = "results.csv"
SUMMARY_HTML = "summary.html"
_BIN_DEG = 5.0

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;
max-width:1100px;color:#1d2433;background:#fff;padding:0 16px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid
#d8dce5;padding-bottom:4px}.muted{color:#5b6475}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}.card{border:1px solid #d8dce5;
border-radius:8px;padding:10px 16px;min-width:120px}.card b{display:block;font-size:24px}
.bad b{color:#b3261e}.warn b{color:#8a5a00}.ok b{color:#1b6e3a}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{text-align:left;padding:5px 8px;
border-bottom:1px solid #e6e8ee;vertical-align:top}th{background:#f4f6fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}.path{word-break:break-all}
.plots{display:flex;gap:20px;flex-wrap:wrap}figure{margin:0}figcaption{font-weight:600}
.empty{color:#5b6475;font-style:italic}
table.sortable th{cursor:pointer;white-space:nowrap}table.sortable td a{margin-right:6px}
table.sortable td.num,table.sortable td:nth-child(3){white-space:nowrap;word-break:normal}
.scroll{overflow-x:auto}
table.sortable td{overflow-wrap:anywhere}table.sortable td:nth-child(1){min-width:7em}
table.sortable td:nth-child(9),table.sortable td:nth-child(10){min-width:9em}
"""


@dataclass(frozen=True)
class _Counts:
    n_inputs: int
    n_scored: int
    n_no_value: int
    n_refused: int
    n_failed: int
    n_flagged: int
    n_asymmetric: int


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}°"


#: Quality flags in the words the summary shows.
FLAG_WORDS: dict[str, str] = {
    "no_neutral": "no still start", "no_hold_found": "no held end range",
    "short_hold": "holds too short", "pelvis_roll": "pelvis lifted", "trunk_lean": "trunk leaned",
    "knee_drift": "knee drifted", "low_visibility": "legs hard to see",
    "labels_swapped": "sides swapped (fixed)", "few_frames": "few frames measured",
    "reps_excluded": "flagged reps left out", "truncated": "file cut short",
    "crowded": "others in view", "decode_gap": "damaged stretch skipped",
    "pivot_rejected": "knee point unsteady", "steep_view": "camera off square",
}
#: A value resting on a rep with one of these is not a clean measurement.
_COMPENSATIONS = frozenset({"pelvis_roll", "trunk_lean", "knee_drift"})


def _words(flags: Sequence[str]) -> str:
    return ", ".join(FLAG_WORDS.get(f, f.replace("_", " ")) for f in flags)


def _legs(item: StoredResult) -> dict[str, dict]:
    legs = (item.result or {}).get("legs") or {}
    return {leg: legs.get(leg) or {} for leg in SIDES}


def _clean_ir(leg: dict) -> float | None:
    """A leg's IR when it is a clean value: measured, tested, no compensation, verdict given."""
    value = leg.get("internal_rotation_deg")
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if leg.get("tested") is False or (leg.get("verdict") or {}).get("code") == "withheld":
        return None
    if _COMPENSATIONS.intersection(leg.get("quality") or ()):
        return None
    return float(value)


def _valid(item: StoredResult) -> bool:
    """Not refused as not the seated test: the store's own rule (``results.csv``'s status)."""
    return not item.refused


def _ir_values(results: Sequence[StoredResult], leg: str) -> list[float]:
    """Clean IR values of ``leg`` in valid, scored results (what the histograms show).

    A recording found under several paths (identical bytes, scored for the same side) is
    one value: a copy is not a second hip.
    """
    values = []
    seen: set[tuple[str, str | None]] = set()
    for item in results:
        recording = (item.input.sha256, item.input.side_tested)
        if recording in seen:
            continue
        if item.status == "ok" and _valid(item):
            seen.add(recording)
            value = _clean_ir(_legs(item)[leg])
            # Only what a hip can do: a tampered store must not stretch the histogram's axis.
            if value is not None and abs(value) <= 90.0:
                values.append(value)
    return values


def _measured(leg: dict) -> bool:
    return any(leg.get(key) is not None
               for key in ("internal_rotation_deg", "external_rotation_deg"))


def _flags(item: StoredResult) -> list[str]:
    """Quality flags of a video in words; the resting side of a one-leg test is not a problem."""
    doc = item.result or {}
    flags = [f"input: {_words([f])}" for f in doc.get("quality") or []]
    legs = _legs(item)
    any_measured = any(_measured(data) for data in legs.values())
    for leg, data in legs.items():
        quality = data.get("quality") or []
        if data.get("tested") is False or (
                any_measured and not _measured(data) and set(quality) <= {"no_hold_found"}):
            continue
        flags += [f"{leg}: {_words([f])}" for f in quality]
    return flags


def _is_asymmetric(item: StoredResult) -> bool:
    return bool(((item.result or {}).get("asymmetry") or {}).get("exceeds_error"))


def _histogram_svg(values: Sequence[float], leg: str, *, lo: float, hi: float) -> str:
    """Inline SVG histogram of IR values with the target band shaded."""
    width, height, pad_l, pad_b, pad_t = 500, 250, 36, 34, 34
    n_bins = max(1, int(round((hi - lo) / _BIN_DEG)))
    counts = [0] * n_bins
    for v in values:
        counts[min(n_bins - 1, max(0, int((v - lo) // _BIN_DEG)))] += 1
    top = max(counts + [1])

    def x(deg: float) -> float:
        return pad_l + (deg - lo) / (hi - lo) * (width - pad_l - 20)

    def y(count: float) -> float:
        return height - pad_b - count / top * (height - pad_b - pad_t)

    parts = [f'<svg width="{width}" height="{height}" '
             f'role="img" aria-label="{leg} leg internal rotation histogram">',
             # The band reaches into the top margin, so its label never sits under a bar.
             f'<rect x="{x(TARGET_LOW_DEG):.1f}" y="2" width="'
             f'{x(TARGET_HIGH_DEG) - x(TARGET_LOW_DEG):.1f}" height="{height - pad_b - 2}" '
             'fill="#d9f2e1"/>',
             f'<text x="{(x(TARGET_LOW_DEG) + x(TARGET_HIGH_DEG)) / 2:.1f}" y="13" '
             'font-size="11" text-anchor="middle" fill="#1b6e3a">target 35–45°</text>']
    for i, count in enumerate(counts):
        if count:
            x0, x1 = x(lo + i * _BIN_DEG) + 1, x(lo + (i + 1) * _BIN_DEG) - 1
            parts.append(f'<rect x="{x0:.1f}" y="{y(count):.1f}" width="{x1 - x0:.1f}" '
                         f'height="{y(0) - y(count):.1f}" fill="#3763c4"/>'
                         f'<text x="{(x0 + x1) / 2:.1f}" y="{y(count) - 3:.1f}" font-size="11" '
                         f'text-anchor="middle">{count}</text>')
    for edge in (TARGET_LOW_DEG, TARGET_HIGH_DEG):
        parts.append(f'<line x1="{x(edge):.1f}" y1="2" x2="{x(edge):.1f}" y2="{height - pad_b}" '
                     'stroke="#1b6e3a" stroke-dasharray="4 3"/>')
    axis_y = height - pad_b
    parts.append(f'<line x1="{pad_l}" y1="{axis_y}" x2="{width - 8}" y2="{axis_y}" '
                 'stroke="#1d2433"/>')
    tick = math.ceil(lo / 10) * 10
    while tick <= hi:
        parts.append(f'<line x1="{x(tick):.1f}" y1="{axis_y}" x2="{x(tick):.1f}" '
                     f'y2="{axis_y + 4}" stroke="#1d2433"/><text x="{x(tick):.1f}" '
                     f'y="{axis_y + 17}" font-size="11" text-anchor="middle">{tick:.0f}°</text>')
        tick += 10
    parts.append(f'<text x="{width / 2}" y="{height - 2}" font-size="11" text-anchor="middle" '
                 'fill="#5b6475">internal rotation (degrees, + = internal)</text></svg>')
    return "".join(parts)


def _distribution_section(results: Sequence[StoredResult]) -> str:
    per_leg: dict[str, list[float]] = {leg: _ir_values(results, leg) for leg in SIDES}
    every = per_leg["left"] + per_leg["right"]
    lo = min([0.0] + [math.floor(v / _BIN_DEG) * _BIN_DEG for v in every])
    hi = max([70.0] + [math.ceil((v + 1e-9) / _BIN_DEG) * _BIN_DEG for v in every])
    figures = []
    for leg in SIDES:
        values = sorted(per_leg[leg])
        inside = sum(TARGET_LOW_DEG <= v <= TARGET_HIGH_DEG for v in values)
        median = values[len(values) // 2] if len(values) % 2 else (
            (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2 if values else None)
        caption = (f"{leg.capitalize()} leg: n = {len(values)}, median {_fmt(median)}, "
                   f"{inside} in the 35–45° band")
        figures.append(f"<figure><figcaption>{_esc(caption)}</figcaption>"
                       f"{_histogram_svg(values, leg, lo=lo, hi=hi)}</figure>")
    return '<h2>Internal rotation per leg</h2><div class="plots">' + "".join(figures) + "</div>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str,
           numeric: Sequence[int] = ()) -> str:
    if not rows:
        return f'<p class="empty">{_esc(empty)}</p>'
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="{"num" if i in numeric else "path" if i == 0 else ""}">{cell}</td>'
            for i, cell in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _asymmetry_rows(results: Sequence[StoredResult]) -> list[list[str]]:
    rows = []
    for item in results:
        if not _is_asymmetric(item):
            continue
        doc = item.result or {}
        asym = doc.get("asymmetry") or {}
        legs = doc.get("legs") or {}
        rows.append([_esc(item.input.path), _esc(item.input.patient_id or "–"),
                     _fmt((legs.get("left") or {}).get("internal_rotation_deg")),
                     _fmt((legs.get("right") or {}).get("internal_rotation_deg")),
                     _fmt(asym.get("difference_deg", doc.get("asymmetry_deg"))),
                     _esc(asym.get("restricted_side") or "–")])
    return rows


def _has_value(item: StoredResult) -> bool:
    return any(_measured(leg) for leg in _legs(item).values())


def _counts(results: Sequence[StoredResult]) -> _Counts:
    ok = [r for r in results if r.status == "ok"]
    valid = [r for r in ok if _valid(r)]
    scored = [r for r in valid if _has_value(r)]
    return _Counts(len(results), len(scored), len(valid) - len(scored), len(ok) - len(valid),
                   sum(r.status != "ok" for r in results), sum(bool(_flags(r)) for r in ok),
                   sum(_is_asymmetric(r) for r in scored))


_SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], rows = Array.from(body.rows);
    var up = th.dataset.dir !== "up"; th.dataset.dir = up ? "up" : "down";
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v || a.cells[col].textContent;
      var y = b.cells[col].dataset.v || b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return up ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _value_cell(leg: dict, key: str) -> str:
    value, ci = leg.get(key), leg.get(key.replace("_deg", "_ci95_deg"))
    if not isinstance(value, int | float):
        return '<td class="num" data-v="">–</td>'
    text = f"{value:.1f}°" + ("" if ci is None else f" ±{ci:.1f}°")
    return f'<td class="num" data-v="{value:.3f}">{_esc(text)}</td>'


def _verdict_words(item: StoredResult) -> str:
    if item.status != "ok":
        return "failed"
    if not _valid(item):
        reason = ((item.result or {}).get("protocol") or {}).get("reason")
        return "refused" + (f": {reason}" if reason else "")
    words = []
    for leg, data in _legs(item).items():
        if data.get("tested") is False:
            continue
        verdict = data.get("verdict") or {}
        label = (verdict.get("band") or {}).get("label") or verdict.get("code")
        if data.get("internal_rotation_deg") is None and _measured(data):
            words.append(f"{leg[0].upper()}: IR not measured")   # an ER hold only
        elif label and _measured(data):
            words.append(f"{leg[0].upper()}: {label}")
    return "; ".join(words) or "no value"


def _video_rows(results: Sequence[StoredResult],
                links: dict[str, list[tuple[str, str]]]) -> list[str]:
    rows = []
    for item in results:
        legs = _legs(item)
        files = " ".join(f'<a href="{_esc(href)}">{_esc(label)}</a>'
                         for label, href in links.get(item.input.path, ()))
        cells = [f'<td class="path">{_esc(Path(item.input.path).name)}</td>',
                 f"<td>{_esc(item.input.patient_id or '–')}</td>",
                 f"<td>{_esc(item.input.session_date or '–')}</td>",
                 f"<td>{_esc(item.input.side_tested or 'auto')}</td>"]
        for leg in SIDES:
            cells += [_value_cell(legs[leg], "internal_rotation_deg"),
                      _value_cell(legs[leg], "external_rotation_deg")]
        # a refused video's leg flags describe a picture that is not the test: its verdict
        # cell says why it was refused, and the flags would only add noise
        quality = ([item.failure] if item.status != "ok" else   # the reason, no path
                   _flags(item) if _valid(item) else ["–"])
        cells += [f"<td>{_esc(_verdict_words(item))}</td>",
                  f"<td>{_esc('; '.join(quality) or 'clean')}</td>", f"<td>{files}</td>"]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return rows


def _video_table(results: Sequence[StoredResult],
                 links: dict[str, list[tuple[str, str]]]) -> str:
    if not results:
        return '<p class="empty">No videos.</p>'
    heads = ["video", "patient", "date", "side tested", "left IR", "left ER", "right IR",
             "right ER", "verdict", "quality", "files"]
    head = "".join(f'<th title="click to sort">{_esc(h)}</th>' for h in heads)
    return (f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(_video_rows(results, links))}</tbody></table></div>')


def build_summary_html(results: Sequence[StoredResult], *, generated_at: str | None = None,
                       links: dict[str, list[tuple[str, str]]] | None = None) -> str:
    """The whole summary page as a string (pure: no I/O, no clock unless not given).

    ``links`` maps an input path to ``(label, relative href)`` pairs of its result files.
    """
    when = generated_at or datetime.now(UTC).isoformat(timespec="seconds")
    c = _counts(results)
    cards = "".join(
        f'<div class="card {cls}"><b>{n}</b>{_esc(label)}</div>'
        for cls, n, label in (("", c.n_inputs, "videos"), ("ok", c.n_scored, "scored"),
                              ("warn", c.n_no_value, "no angle found"),
                              ("bad", c.n_refused, "refused (not the seated test)"),
                              ("bad", c.n_failed, "failed"), ("warn", c.n_flagged, "flagged"),
                              ("warn", c.n_asymmetric, "asymmetric")))
    flagged = [[_esc(r.input.path), _esc(r.input.patient_id or "–"), _esc(", ".join(_flags(r)))]
               for r in results if r.status == "ok" and _flags(r)]
    failed = [[_esc(r.input.path), _esc(r.input.patient_id or "–"),
               _esc(r.failure if r.status else "not scored yet")]
              for r in results if r.status != "ok"]
    body = (
        f"<h1>hiprom batch summary</h1><p class=\"muted\">Generated {_esc(when)}. Angles in "
        "degrees, + = internal rotation, the person's anatomical left and right.</p>"
        f'<div class="cards">{cards}</div><h2>Every video</h2>'
        "<p class=\"muted\">Click a column to sort. ± is the 95% interval.</p>"
        f"{_video_table(results, links or {})}{_distribution_section(results)}"
        "<h2>Asymmetric patients</h2><p class=\"muted\">Left–right difference larger than "
        "the method's measurement error.</p>"
        + _table(["video", "patient", "left IR", "right IR", "difference", "restricted side"],
                 _asymmetry_rows(results), "No asymmetry beyond the measurement error.",
                 numeric=(2, 3, 4))
        + "<h2>Flagged videos</h2>"
        + _table(["video", "patient", "quality flags"], flagged, "No quality flags.")
        + "<h2>Failed videos</h2>"
        + _table(["video", "patient", "reason"], failed, "Every video was scored.")
    )
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>hiprom batch summary</title><style>{_CSS}</style></head>"
            f"<body>{body}<script>{_SORT_SCRIPT}</script></body></html>\n")


#: Result files linked from the summary, by label and file-name suffix.
_LINKED = (("JSON", ".json"), ("CSV", ".csv"), ("key frame", ".keyframe.png"),
           ("video", ".annotated.webm"), ("photo", ".annotated.png"))


def _links(results: Sequence[StoredResult], out_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """Relative links from ``out_dir`` to each input's result files that exist."""
    links: dict[str, list[tuple[str, str]]] = {}
    for item in results:
        if not item.output_dir:
            continue
        folder = Path(item.output_dir)
        folder = folder if folder.is_absolute() else out_dir / folder
        stem = Path(item.input.path).stem
        found = [(label, folder / f"{stem}{suffix}") for label, suffix in _LINKED]
        # Percent-encoded: a '#', '?' or '%' in a file name would otherwise cut the link.
        links[item.input.path] = [
            (label, quote(Path(os.path.relpath(path, out_dir)).as_posix()))
            for label, path in found if path.is_file()]
    return links


def write_summary_html(results: Sequence[StoredResult], out_dir: Path, *,
                       group: AtomicFiles | None = None) -> Path:
    """Write ``summary.html`` into ``out_dir`` (atomically) and return its path."""
    path = out_dir / SUMMARY_HTML
    data = build_summary_html(results, links=_links(results, out_dir)).encode("utf-8")
    if group is not None:
        group.path(path).write_bytes(data)
        return path
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_results_csv(results: Sequence[StoredResult], out_dir: Path, *,
                      group: AtomicFiles | None = None) -> Path:
    """Write ``results.csv`` (columns :data:`~hiprom.batch.store.LEG_COLUMNS`); return its path."""
    path = out_dir / RESULTS_CSV
    with CsvSink(path, LEG_COLUMNS, group=group) as sink:
        for row in iter_leg_rows(list(results)):
            sink.append(row)
    return path


def write_exports(results: Sequence[StoredResult], out_dir: Path) -> list[Path]:
    """Write ``results.csv`` and ``summary.html`` for ``results`` as a set; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with AtomicFiles() as files:
        return [write_results_csv(results, out_dir, group=files),
                write_summary_html(results, out_dir, group=files)]
