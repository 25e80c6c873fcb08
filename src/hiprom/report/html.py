"""A self-contained HTML report for one result (and optionally a person's history).

:func:`build_report` is pure: dicts, arrays and bytes in, one HTML string out (inline CSS,
inline SVG, PNG plots as base64 data URIs, no external fetches). :func:`load_report_inputs`
does the file reading: ``<stem>.json``, the ``<stem>.csv`` beside it, and the annotated
``<stem>.keyframe.png`` (or, for a photo, ``<stem>.annotated.png``) when present.

Convention:
    Degrees; + is internal rotation (IR), external rotation (ER) shows as negative in the
    angle trace; sides are the person's anatomical sides.
"""

from __future__ import annotations

import base64
import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from hiprom._version import __version__
from hiprom.errors import InputError, printable
from hiprom.plan.assessment import DISCLAIMER, TARGET_HIGH_DEG, TARGET_LOW_DEG
from hiprom.plan.interpret import leg_inputs, result_compensations
from hiprom.plan.references import REFERENCES, ReferenceKind
from hiprom.plan.routines import DAYS, Exercise, Plan, Recommendation, build_plan
from hiprom.report.diagrams import (
    VIEWS,
    AngleSeries,
    build_angle_plot_png,
    build_exercise_svg,
    build_history_plot_png,
    build_norm_band_svg,
)
from hiprom.report.history import (
    HistoryEntry,
    changes_since_last,
    load_history,
    people_with_test,
    read_result,
)
from hiprom.results.files import input_key
from hiprom.vocabulary import Side

__all__ = [
    "FLAG_EXPLANATIONS",
    "AngleSeries",
    "ReportInputs",
    "build_angle_plot_png",
    "build_history_plot_png",
    "build_report",
    "load_report_inputs",
    "read_angle_csv",
]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

FLAG_EXPLANATIONS: dict[str, str] = {
    "no_neutral": "No still, shins-vertical start was found, so the angles are taken from the "
    "line square to the hips instead of from your own neutral. Start the next test with both "
    "shins vertical and still for a second.",
    "no_hold_found": "The leg moved but never stayed still at its end range for a full second, "
    "so no end-range value could be taken. Hold each end position still for 1–2 seconds.",
    "short_hold": "An end-range hold was shorter than the test asks for, so its value rests on "
    "few frames. Hold a little longer next time.",
    "pelvis_roll": "The pelvis tipped sideways during a hold. A lifting buttock usually means "
    "the hip went past its real end range, so such reps are left out when a clean one "
    "exists. Keep both sit bones on the chair.",
    "trunk_lean": "The upper body leaned sideways during a hold, which shifts the hips. Sit "
    "tall and still.",
    "pivot_rejected": "The knee point the camera found sat in a different place at the start "
    "than during the movement (long or loose trousers, low contrast), so the angle was read "
    "from the knee as seen in each frame, which is less exact: the range shown is wider. Wear "
    "shorts or clothes that contrast with the seat.",
    "steep_view": "The camera looked at this thigh from well above, below or to the side, "
    "which makes the angle less certain, so the range shown is wider. Put the camera at knee "
    "height, straight in front of the person.",
    "knee_drift": "The knee seems to have moved sideways during a hold; moving the thigh "
    "changes the rotation reading. Keep the knee still, in line with the hip.",
    "low_visibility": "The pose model was unsure where the knee or ankle was. Use good light, a "
    "plain background and shorts or tight leggings, and keep both feet in view.",
    "labels_swapped": "The pose model mixed up left and right in some frames; the tool "
    "corrected it. Check the key frame to confirm the sides.",
    "few_frames": "Too few frames could be measured for a reliable value. Film longer, from "
    "closer, or in better light.",
    "truncated": "The video file ended early or is damaged; only part of it was analysed.",
    "decode_gap": "Part of the video was damaged and could not be decoded; it was skipped and "
    "the rest measured. A hold inside the damaged part is missing: re-record if one is.",
    "crowded": "More than one person was in view. Keep only the person being tested in frame.",
}
"""Plain-language meaning of each quality flag (vocabulary of docs/RESULTS.md)."""


@dataclass(frozen=True)
class ReportInputs:
    """Everything :func:`build_report` needs, as read from disk."""

    result: dict[str, Any]
    series: AngleSeries | None = None
    keyframe_png: bytes | None = None
    history: tuple[HistoryEntry, ...] = ()
    person: str | None = None
    measured_at: datetime | None = None


# ---------------------------------------------------------------------------- reading
#: Largest per-frame CSV read (an hour at 60 fps is about 25 MB).
MAX_CSV_BYTES = 64 * 1024 * 1024
#: Per column, the range a per-frame value may take. Frame angles may pass ±90° (a frame
#: where the landmarks failed is kept in the CSV and left out by the protocol), never ±360°.
_CSV_LIMITS = {"timestamp_s": (0.0, 7 * 86400.0), "left_rotation_deg": (-360.0, 360.0),
               "right_rotation_deg": (-360.0, 360.0)}


def _cell(value: str | None, where: str, column: str = "") -> float:
    """Parse one CSV cell within its column's range; empty means NaN."""
    if value is None or value.strip() == "":
        return math.nan
    low, high = _CSV_LIMITS.get(column, (-math.inf, math.inf))
    try:
        number = float(value) if len(value) <= 40 else math.nan
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and low <= number <= high):
        shown = repr(value) if len(value) <= 40 else repr(value[:37]) + "..."
        raise InputError(f"{where}: {column or 'cell'} must be a number from {low:g} to "
                         f"{high:g}, got {shown}; re-create the CSV with hiprom measure.")
    return number


def read_angle_csv(path: str | Path) -> AngleSeries:
    """Read ``timestamp_s`` and the per-leg rotation columns of a result CSV.

    Raises:
        InputError: If the file is missing, lacks the columns, or holds a non-number.

    """
    target = Path(path)
    if not target.is_file():
        raise InputError(f"Angle CSV {target} not found; keep it beside the result JSON.")
    if target.stat().st_size > MAX_CSV_BYTES:
        raise InputError(f"Angle CSV {target} is larger than {MAX_CSV_BYTES} bytes; pass the "
                         "<stem>.csv written by hiprom measure.")
    with target.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        need = {"timestamp_s", "left_rotation_deg", "right_rotation_deg"}
        if not need <= set(reader.fieldnames or ()):
            raise InputError(f"{target} lacks the columns {', '.join(sorted(need))}; pass the "
                             "<stem>.csv written by hiprom measure.")
        try:
            rows = [[_cell(r[c], f"{target} line {i}", c) for c in
                     ("timestamp_s", "left_rotation_deg", "right_rotation_deg")]
                    for i, r in enumerate(reader, start=2)]
        except (UnicodeDecodeError, csv.Error) as err:
            raise InputError(f"{target} is not a readable CSV ({err}); pass the <stem>.csv "
                             "written by hiprom measure.") from err
    data = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return AngleSeries(data[:, 0], {Side.LEFT: data[:, 1], Side.RIGHT: data[:, 2]})


def _keyframe_for(json_path: Path) -> bytes | None:
    """Return the annotated key frame PNG beside ``json_path``, if a valid one exists."""
    for suffix in (".keyframe.png", ".annotated.png"):
        candidate = json_path.with_name(json_path.stem + suffix)
        if candidate.is_file():
            data = candidate.read_bytes()
            if data.startswith(_PNG_MAGIC):
                return data
    return None


def load_report_inputs(
    result_path: str | Path | None = None,
    *,
    person: str | None = None,
    db_path: str | Path | None = None,
) -> ReportInputs:
    """Read a result file and its companions, a person's history, or both.

    With only ``person``, the person's latest saved test is reported (its CSV and key frame
    are used if the saved JSON path still has them).

    Raises:
        InputError: If neither is given, a file is unreadable, or the person is unknown.

    """
    if result_path is None and person is None:
        raise InputError("Nothing to report; pass a result JSON or --person NAME.")
    result = read_result(result_path) if result_path is not None else None
    if result is not None and person is not None:
        _check_owner(Path(str(result_path)), result, person, db_path)
    history = load_history(person, db_path=db_path) if person is not None else ()
    if result is None and not history:
        raise InputError(f"Person {person!r} has no saved tests yet; measure first.")
    json_path = Path(result_path) if result_path is not None else (
        Path(history[-1].json_path) if history[-1].json_path else None)
    if result is None:
        result = history[-1].result
    same = [e for e in history if _same_test(e.result, result)]
    series = None
    if json_path is not None and json_path.with_suffix(".csv").is_file():
        series = read_angle_csv(json_path.with_suffix(".csv"))
    keyframe = _keyframe_for(json_path) if json_path is not None else None
    return ReportInputs(result, series, keyframe, tuple(history), person,
                        same[-1].measured_at if same else None)


def _check_owner(json_path: Path, result: Mapping[str, Any], person: str,
                 db_path: str | Path | None) -> None:
    """Refuse to put ``person``'s name and history on a test saved as someone else's.

    A name left in HIPROM_PERSON would otherwise head another patient's handover report.
    A result in nobody's history may be reported for anyone the user names.
    """
    owners = people_with_test(result, db_path=db_path)
    if owners and person.strip().casefold() not in {o.casefold() for o in owners}:
        whose = " and ".join(repr(o) for o in owners)
        raise InputError(f"{printable(json_path)} is a test in the history of {whose}, not of "
                         f"{person!r}; pass --person {owners[0]!r}, or report it without a "
                         "person (HIPROM_PERSON= hiprom report … if that variable is set)")


def _same_test(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Return whether two results come from the same input (the history's own key)."""
    return input_key(a) == input_key(b)


def _img(png: bytes, alt: str) -> str:
    """Return an <img> with ``png`` as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


# ---------------------------------------------------------------------------- sections
def _deg(value: float | None, ci: float | None = None) -> str:
    """Format an angle, with its interval when given."""
    if value is None:
        return "—"
    return f"{value:.1f}°" + ("" if ci is None else f" ±{ci:.1f}°")


def _reference_html(source: str) -> str:
    """One reference: the full citation and its links for a notes key, else the plain text."""
    ref = REFERENCES.get(source)
    if ref is None:
        return escape(source)
    anchors = [f'<a href="{escape(u)}">{escape(u)}</a>' for u in ref.links]
    # On paper the first link (the DOI, where there is one) is enough to find the source.
    links = anchors[0] if anchors else ""
    if len(anchors) > 1:
        links += '<span class="more-links"> · ' + " · ".join(anchors[1:]) + "</span>"
    label = "" if ref.kind is ReferenceKind.PRIMARY else f" <em>({ref.kind.value})</em>"
    return f"{escape(ref.citation)}{label}" + (f" {links}" if links else "")


class _Refs:
    """Numbers each distinct source once, in order of first citation."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def cite(self, sources: Sequence[str]) -> str:
        """Return superscript citation links for ``sources``."""
        nums = [self.numbers.setdefault(s, len(self.numbers) + 1) for s in sources]
        links = ", ".join(f'<a href="#ref-{n}">{n}</a>' for n in dict.fromkeys(nums))
        return f'<sup class="cite">[{links}]</sup>' if nums else ""

    def html(self) -> str:
        """Return the numbered source list."""
        items = "".join(f'<li id="ref-{n}">{_reference_html(s)}</li>'
                        for s, n in self.numbers.items())
        return f'<section id="sources"><h2>Sources</h2><ol class="refs">{items}</ol></section>'


def _when(result: Mapping[str, Any], when: datetime | None) -> str:
    """The test's date: the saved time, else the result's own ``measured_at``."""
    if when is not None:
        return f"{when:%Y-%m-%d %H:%M} UTC"
    stamp = str(result.get("measured_at") or "")
    try:
        return f"{datetime.fromisoformat(stamp.replace('Z', '+00:00')):%Y-%m-%d %H:%M} UTC"
    except ValueError:
        return ""


def _header(result: Mapping[str, Any], person: str | None, when: datetime | None,
            clinician: str | None = None, clinic: str | None = None) -> str:
    """Title, who/when/where, and the disclaimer banner."""
    src = result.get("source") or {}
    date = _when(result, when)
    who = [("Person", person), ("Test date", date), ("Clinician", clinician), ("Clinic", clinic)]
    facts = "".join(f"<div><dt>{k}</dt><dd>{escape(v)}</dd></div>" for k, v in who if v)
    meta = [f"Input: {Path(str(src.get('path') or '—')).name} ({src.get('kind', '?')})",
            f"Model: {(result.get('model') or {}).get('name', '?')}",
            f"hiprom {result.get('hiprom_version', '?')}"]
    spans = "".join(f"<span>{escape(m)}</span>" for m in meta)
    return (f"<header><h1>Seated hip internal rotation</h1><dl class=\"who\">{facts}</dl>"
            f"<p class=\"meta\">{spans}</p>"
            f'<div class="banner">{escape(result.get("disclaimer") or DISCLAIMER)}</div></header>')


def _plain_summary(result: Mapping[str, Any], plan: Plan | None) -> str:
    """The result in two or three plain sentences, before any number table."""
    protocol = result.get("protocol") or {}
    sentences = []
    if protocol.get("valid") is False:
        sentences.append("This was not measured as the seated hip test: "
                         f"{protocol.get('reason') or 'the picture did not show it'}.")
    for side in Side:
        leg = result["legs"][side.value]
        ir, ci = leg.get("internal_rotation_deg"), leg.get("internal_rotation_ci95_deg")
        if protocol.get("valid") is False:
            continue
        if leg.get("tested") is False:
            sentences.append(f"Your {side.value} leg was resting, not tested.")
            continue
        if ir is None:
            er = leg.get("external_rotation_deg")
            sentences.append(f"Your {side.value} hip was not measured." if er is None else
                             f"Your {side.value} hip was measured turning out only (ER "
                             f"{er:.0f}°); its internal rotation, which this test rates, "
                             "was not measured.")
            continue
        band = ((leg.get("verdict") or {}).get("band") or {}).get("label") or "not rated"
        within = "" if ci is None else f", give or take {ci:.0f}°"
        sentences.append(f"Your {side.value} hip turns in {ir:.0f}°{within}: {band} "
                         f"(the usual range is {TARGET_LOW_DEG:.0f}–{TARGET_HIGH_DEG:.0f}°).")
    if protocol.get("valid") is not False and protocol.get("note"):
        sentences.append(f"Note: {protocol['note']}.")   # e.g. which leg a photo tested
    if plan is not None:
        sentences.append(plan.asymmetry.sentence)
    advice = [str(a) for a in protocol.get("advice") or []]
    tips = ("" if not advice else '<p>For the next test:</p><ul class="plain">'
            + "".join(f"<li>{escape(a)}</li>" for a in advice) + "</ul>")
    return ('<section id="summary"><h2>In short</h2><p class="lead">'
            + " ".join(escape(s) for s in sentences if s) + "</p>" + tips + "</section>")


GLOSSARY: tuple[tuple[str, str], ...] = (
    ("IR", "internal rotation: the thigh turns inward, so the foot swings out, away from the "
           "other foot."),
    ("ER", "external rotation: the thigh turns outward, so the foot swings in, across the "
           "other leg; shown as a positive number of degrees."),
    ("95% interval", "the ± range around a value that holds the true angle 95 times in 100 "
                     "for this method."),
    ("MDC95", "minimal detectable change: the smallest difference between two tests that is "
              "larger than measurement error."),
    ("Borderline", "the value lies within its interval of a band edge, so it could belong to "
                   "the next band."),
)
"""One line per term the report uses."""


def _glossary() -> str:
    """The glossary section."""
    items = "".join(f"<div><dt>{escape(t)}</dt><dd>{escape(d)}</dd></div>" for t, d in GLOSSARY)
    return ('<section id="glossary"><h2>Words used here</h2>'
            f'<dl class="glossary">{items}</dl></section>')


def _band_word(leg: Mapping[str, Any]) -> str:
    """The words on a leg card's pill: its band, or why it has none."""
    band = ((leg.get("verdict") or {}).get("band") or {}).get("label")
    if band:
        return str(band)
    if leg.get("tested") is False:   # as the summary above says it
        return "not tested"
    if leg.get("internal_rotation_deg") is not None:
        return "not rated"   # measured, but withheld (a compensated rep)
    return "IR not measured" if leg.get("external_rotation_deg") is not None else "not measured"


def _leg_card(side: Side, leg: Mapping[str, Any]) -> str:
    """One leg's number, verdict and extras."""
    verdict = leg.get("verdict") or {}
    ir = leg.get("internal_rotation_deg")
    code = str(verdict.get("code") or "not_measured")
    band = _band_word(leg)
    pills = f'<span class="pill {"ok" if code == "typical" else "bad"}">{escape(band)}</span>'
    if verdict.get("borderline"):
        pills += '<span class="pill plain">borderline</span>'
    er = leg.get("external_rotation_deg")
    total = "" if er is None or ir is None else f"<span>IR + ER {ir + er:.1f}°</span>"
    big = "—" if ir is None else f"{ir:.1f}°"
    ci = leg.get("internal_rotation_ci95_deg")
    sentence = ("This leg was not swung out in the test." if leg.get("tested") is False
                else str(verdict.get("sentence") or ""))
    return (f'<div class="card leg"><h3>{side.value.capitalize()} hip</h3>'
            f'<div class="big">{big} <span class="ci">{"" if ci is None else f"±{ci:.1f}° (95%)"}'
            f'</span></div>{pills}<div class="kv"><span>ER {_deg(er)}</span>{total}</div>'
            f'<p>{escape(sentence)}</p></div>')


def _chart_row(leg: Mapping[str, Any]) -> tuple[float, float, str] | str | None:
    """A leg's row of the norm chart: its value, a note, or None (not measured)."""
    if leg.get("tested") is False:
        return "not tested"
    ir = leg.get("internal_rotation_deg")
    if ir is None:
        return None
    return (ir, leg.get("internal_rotation_ci95_deg") or 0.0,
            str((leg.get("verdict") or {}).get("code", "")))


def _summary(result: Mapping[str, Any], plan: Plan | None) -> str:
    """Leg cards, the band chart, asymmetry and total rotation."""
    legs = result["legs"]
    chart = build_norm_band_svg({s.value.capitalize(): _chart_row(legs[s.value]) for s in Side})
    # The plan's asymmetry when there is a plan, else the one the result file stored.
    stored = plan.asymmetry.to_dict() if plan else (result.get("asymmetry") or {})
    asym = str(stored.get("sentence") or "")
    real = bool(plan and plan.asymmetry.exceeds_error)
    pill = ("not computed" if stored.get("difference_deg") is None
            else "beyond measurement error" if real else "within measurement error")
    html = ('<section id="result"><h2>Result against the norm</h2><div class="cards">'
            + "".join(_leg_card(s, legs[s.value]) for s in Side) + "</div>"
            + f'<div class="chart">{chart}</div><div class="card"><h3>Left–right difference '
            f'<span class="pill {"bad" if real else "plain"}">{pill}</span></h3>'
            f"<p>{escape(asym)}</p></div>")
    if plan and (plan.total_rotation.left_deg or plan.total_rotation.right_deg):
        html += f'<p class="muted">{escape(plan.total_rotation.note)}</p>'
    return html + "</section>"


def _red_flags(plan: Plan | None, refs: _Refs) -> str:
    """Return the flags raised by the numbers, with sources."""
    if not plan or not plan.red_flags:
        return ""
    items = "".join(f'<div class="flag"><h3>{escape(f.why)}</h3><p>{escape(f.flag.rule)}'
                    f"{refs.cite(f.flag.sources)}</p></div>" for f in plan.red_flags)
    return f'<section id="red-flags"><h2>Red flags raised by your numbers</h2>{items}</section>'


def _trace(series: AngleSeries | None, result: Mapping[str, Any], keyframe: bytes | None) -> str:
    """Return the angle-over-time plot and the key frame side by side, or notes on absence."""
    out = '<section id="trace"><h2>Angle over time and key frame</h2><div class="pair">'
    if series is None or series.timestamp_s.size == 0:
        out += '<p class="muted">The angle trace is not available (no CSV beside the result).</p>'
    else:
        out += (f"<figure>{_img(build_angle_plot_png(series, result), 'hip rotation over time')}"
                "<figcaption>Hip rotation per frame; shaded spans and thick bars are the held "
                "end-range reps used for the result; the green band is the 35–45° norm."
                "</figcaption></figure>")
    if keyframe is not None:
        out += (f'<figure class="keyframe">{_img(keyframe, "key frame")}'
                "<figcaption>The frame of the largest held rotation, with the measured "
                "angles drawn on it.</figcaption></figure>")
    else:
        out += '<p class="muted">No annotated key frame was found beside the result.</p>'
    return out + "</div></section>"


def _seconds(value: object) -> str:
    return f"{value:.1f}\u00a0s" if isinstance(value, int | float) else "?"


def _movement_size(flag: str, movement: Mapping[str, Any]) -> str | None:
    """How much moved for a compensation flag, in words (None when not recorded)."""
    value = movement.get({"pelvis_roll": "pelvis_roll_deg", "trunk_lean": "trunk_lean_deg",
                          "knee_drift": "knee_drift"}.get(flag, ""))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if flag == "pelvis_roll":
        return f"the hip line turned {abs(value):.1f}°"
    if flag == "trunk_lean":
        return f"the trunk leaned {abs(value):.1f}°"
    side = "outward" if value > 0 else "inward"
    return f"the knee moved {abs(value) * 100:.0f}% of a shank length {side}"


#: ``no_neutral`` for a photo, which has no start to take a neutral from.
PHOTO_NO_NEUTRAL = ("A photo has no still, shins-vertical start, so its angle is taken from "
                    "the line square to the hips, and its interval is wider for it. A video "
                    "of the whole test, starting with both shins vertical, gives a closer value.")


def _quality(result: Mapping[str, Any]) -> str:
    """Every quality flag in plain words, with where it was raised.

    A resting leg's flags (no hold, no neutral) describe a rest, not a problem: left out.
    """
    where: dict[str, list[str]] = {}
    for flag in result.get("quality") or ():
        where.setdefault(str(flag), []).append("whole input")
    for side in Side:
        leg = result["legs"][side.value]
        if leg.get("tested") is False:
            continue
        for flag in leg.get("quality") or ():
            holds = [f"{'IR' if rep.get('direction') == 'internal' else 'ER'} hold at "
                     f"{_seconds(rep.get('start_s'))}, {size}"
                     for rep in leg.get("reps") or () if str(flag) in (rep.get("quality") or ())
                     and (size := _movement_size(str(flag), rep.get("movement") or {}))]
            where.setdefault(str(flag), []).append(
                f"{side.value} leg" + (f" ({'; '.join(holds)})" if holds else ""))
    if not where:
        return ('<section id="quality"><h2>Measurement quality</h2><p>No quality problems were '
                "flagged.</p></section>")
    photo = (result.get("source") or {}).get("kind") == "still"
    words = {**FLAG_EXPLANATIONS, **({"no_neutral": PHOTO_NO_NEUTRAL} if photo else {})}
    rows = "".join(f"<tr><td><code>{escape(f)}</code></td><td>{escape(', '.join(w))}</td><td>"
                   f"{escape(words.get(f, 'No plain-language explanation yet.'))}"
                   "</td></tr>" for f, w in where.items())
    return ('<section id="quality"><h2>Measurement quality</h2><table><tr><th>Flag</th>'
            f"<th>Where</th><th>What it means</th></tr>{rows}</table></section>")


def _exercise(rec: Recommendation, refs: _Refs, caution_marks: Mapping[str, str],
              shared_why: frozenset[str] = frozenset()) -> str:
    """One exercise: diagram, dose, steps, cues, why; its cautions by their mark.

    A reason given for several exercises is said once above them (``_shared_whys``).
    """
    ex = rec.exercise
    doses = "".join(f"<div>{escape(s.text)}</div>" for s in rec.sides)
    steps = "".join(f"<li>{escape(s)}</li>" for s in ex.instructions)
    cues = "".join(f'<div class="cue">{escape(c)}</div>' for c in rec.cues)
    note = f'<p class="note">{escape(ex.note)}</p>' if ex.note else ""
    marks = ", ".join(sorted(caution_marks[c.text] for c in ex.cautions))
    return (f'<article class="exercise"><figure>{build_exercise_svg(ex.id)}<figcaption>'
            f"{escape(VIEWS[ex.id])}</figcaption></figure><div><h3>{escape(ex.name)}"
            f'<span class="kind {ex.kind.value}">{ex.kind.value}</span></h3>'
            f'<div class="dose">{doses}<div class="src">Article dose: {escape(ex.dose.text)}'
            f"{refs.cite((ex.dose.source,))}</div></div><ol>{steps}</ol>{cues}{note}"
            + ("" if rec.why in shared_why
               else f'<p class="why"><strong>Why:</strong> {escape(rec.why)}</p>')
            + (f'<p class="caution-ref">Cautions: {marks}</p>' if marks else "")
            + "</div></article>")


def _shared_whys(plan: Plan) -> tuple[str, frozenset[str]]:
    """Each reason that several exercises share, once, with the exercises it is for.

    A limited leg gives every stretch the same reason; said in each card it filled a third
    of the printed routine.
    """
    users: dict[str, list[str]] = {}
    for rec in plan.recommendations:
        users.setdefault(rec.why, []).append(rec.exercise.name)
    shared = {why: names for why, names in users.items() if why and len(names) > 1}
    if not shared:
        return "", frozenset()
    items = "".join(f"<li><strong>{escape(', '.join(names))}:</strong> {escape(why)}</li>"
                    for why, names in shared.items())
    return f'<ul class="plain why-shared">{items}</ul>', frozenset(shared)


def _cautions(plan: Plan, refs: _Refs) -> tuple[str, dict[str, str]]:
    """Every caution of the routine once, marked (a), (b), ..., with the exercises it covers."""
    users: dict[str, list[str]] = {}
    sources: dict[str, Sequence[str]] = {}
    for rec in plan.recommendations:
        for caution in rec.exercise.cautions:
            users.setdefault(caution.text, []).append(rec.exercise.name)
            sources[caution.text] = caution.sources
    marks = {text: f"({chr(ord('a') + k)})" for k, text in enumerate(users)}
    everyone = len(plan.recommendations)
    which = {t: "all exercises" if len(names) == everyone else ", ".join(names)
             for t, names in users.items()}
    items = "".join(f"<li><strong>{marks[t]}</strong> {escape(t)}{refs.cite(sources[t])} "
                    f'<span class="muted">({escape(which[t])})</span></li>' for t in users)
    return f'<h3>Cautions</h3><ul class="plain cautions">{items}</ul>', marks


def _day_cell(exercises: Sequence[Exercise]) -> str:
    """One weekday of the schedule table."""
    if not exercises:
        return '<td class="rest">rest</td>'
    return "<td>" + "".join(f'<span class="{e.kind.value}">{escape(e.name)}</span>'
                            for e in exercises) + "</td>"


def _week_lines(days: Sequence[Sequence[Exercise]]) -> str:
    """The schedule on paper: one line per distinct day ("Mon, Wed, Fri: …"), in week order."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for day, exercises in zip(DAYS, days, strict=True):
        groups.setdefault(tuple(e.name for e in exercises), []).append(day)
    lines = "".join(f"<li><strong>{', '.join(names)}:</strong> "
                    f"{escape(' · '.join(key)) if key else 'rest'}</li>"
                    for key, names in groups.items())
    return f'<ul class="plain week-lines print-only">{lines}</ul>'


def _plan(plan: Plan | None, refs: _Refs) -> str:
    """Return the routine, its weekly schedule and notes."""
    if plan is None:
        return ('<section id="plan"><h2>Your routine</h2><p>No internal rotation was measured, '
                "so there is no plan. Re-test: swing each foot outward and hold it still for a "
                "second or two, with both legs in view.</p></section>")
    kinds = {r.exercise.id: r.exercise for r in plan.recommendations}
    days = [[kinds[i] for i in d.exercise_ids] for d in plan.schedule]
    cells = "".join(_day_cell(exercises) for exercises in days)
    basis = "".join(f"<li>{escape(a.text)}{refs.cite(a.sources)}</li>" for a in plan.schedule_basis)
    notes = "".join(f"<li>{escape(n)}</li>" for n in plan.notes)
    cautions, marks = _cautions(plan, refs)
    whys, shared = _shared_whys(plan)
    return ('<section id="plan"><h2>Your routine</h2><p>Mobility first, then strength. Doses are '
            f'per side unless stated.</p>{whys}<div class="exercises">'
            + "".join(_exercise(r, refs, marks, shared) for r in plan.recommendations) + "</div>"
            + cautions + '<h3>Weekly schedule</h3><table class="week"><tr>'
            + "".join(f"<th>{d}</th>" for d in DAYS) + f"</tr><tr>{cells}</tr></table>"
            + _week_lines(days)
            + f'<ul class="plain small">{basis}{notes}</ul></section>')


def _safety(plan: Plan | None, refs: _Refs) -> str:
    """Return the before-test safety screen with sources."""
    from hiprom.plan.assessment import safety_screen

    flags = plan.safety_screen if plan else safety_screen()
    items = "".join(f"<li><strong>{escape(f.situation)}</strong> {escape(f.rule)}"
                    f"{refs.cite(f.sources)}</li>" for f in flags)
    return ('<section id="safety"><h2>Before you exercise: stop or check with a clinician '
            f'first</h2><ul class="plain safety">{items}</ul></section>')


def _flags_text(entry: HistoryEntry) -> str:
    """Return both legs' quality flags of one test, or a dash."""
    flags = dict.fromkeys(entry.leg_quality(Side.LEFT) + entry.leg_quality(Side.RIGHT))
    return ", ".join(flags) or "—"


def _history(entries: Sequence[HistoryEntry], person: str | None) -> str:
    """Return the trend table, plot and change since the last test."""
    if not entries:
        return ""
    rows = "".join(
        f"<tr><td>{e.measured_at:%Y-%m-%d %H:%M}</td>"
        + "".join(f'<td class="num">{_deg(e.ir_deg[s], e.ci95_deg[s])}</td>' for s in Side)
        + f"<td>{escape(_flags_text(e))}</td></tr>" for e in entries)
    # On paper the chart carries the tests (a long table would push the report past its
    # three pages); the table of every test stays on screen.
    more = ('<p class="print-only muted">Each test\'s values and flags: the HTML report or '
            "<code>hiprom history</code>.</p>" if len(entries) > 1 else "")
    changes = "".join(f'<div class="change {"real" if c.real else "noise"}">{escape(c.sentence)}'
                      "</div>" for c in changes_since_last(entries).values() if c is not None)
    if not changes:
        changes = "<p class=\"muted\">One test so far: re-test in 2–4 weeks to see a trend.</p>"
    return (f'<section id="history"><h2>Progress of {escape(person or "this person")}</h2>'
            f'<div class="history"><figure>'
            f"{_img(build_history_plot_png(entries, person=person), 'IR per test')}"
            "<figcaption>IR per test with its 95% interval; a hollow marker is left out of the "
            "trend (flagged or excluded).</figcaption></figure><div>"
            f"<h3>Change since the last test</h3>{changes}{more}</div></div>"
            f'<table class="{"all-tests" if len(entries) > 1 else ""}"><tr><th>Test (UTC)</th>'
            '<th class="num">Left IR</th><th class="num">Right IR</th><th>Flags</th></tr>'
            f"{rows}</table></section>")


def build_report(
    result: Mapping[str, Any],
    *,
    series: AngleSeries | None = None,
    keyframe_png: bytes | None = None,
    history: Sequence[HistoryEntry] = (),
    person: str | None = None,
    measured_at: datetime | None = None,
    clinician: str | None = None,
    clinic: str | None = None,
) -> str:
    """Build the self-contained HTML report for one result.

    Args:
        result: A validated result dict (docs/RESULTS.md).
        series: The per-frame angles from ``<stem>.csv``; the trace is omitted when None.
        keyframe_png: The annotated key frame as PNG bytes, or None.
        history: The person's saved tests, oldest first; adds the trend section.
        person: The person's name for the header and the trend section.
        measured_at: When the test was done, for the header (default: the result's own).
        clinician: Who tested, for the header.
        clinic: Where, for the header.

    Returns:
        The HTML document as a string.

    """
    left, right = leg_inputs(result)
    plan = None if left is None and right is None else build_plan(
        left, right, compensations=result_compensations(result))
    refs = _Refs()
    body = "".join((
        _header(result, person, measured_at, clinician, clinic), _plain_summary(result, plan),
        _summary(result, plan), _red_flags(plan, refs), _safety(plan, refs),
        _plan(plan, refs), _trace(series, result, keyframe_png), _quality(result),
        _history(history, person), _glossary(), refs.html(),
        f"<footer><p>Made with hiprom {escape(__version__)}: it screens and educates, it does "
        "not diagnose (see the note at the top). Angles in degrees; + = internal rotation; "
        "left and right are the person's own sides.</p></footer>"))
    page = resources.files("hiprom.report").joinpath("templates/report.html").read_text("utf-8")
    css = resources.files("hiprom.report").joinpath("templates/report.css").read_text("utf-8")
    title = f"hiprom report{f' — {person}' if person else ''}"
    return Template(page).substitute(title=escape(title), css=css, body=body,
                                     version=escape(__version__))
