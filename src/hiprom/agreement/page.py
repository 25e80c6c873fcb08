"""The agreement page: one self-contained HTML file in the style of the hiprom report.

:func:`build_agreement_page` is pure: a report and PNG bytes in, one HTML string out (the
report's template and CSS inline, plots as base64 data URIs, no script, nothing fetched).
Every string that comes from the user's files (paths, ids, raters, methods, cameras,
reasons) is HTML-escaped.

Convention:
    Degrees; + = internal rotation; d = hiprom − reference.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from hiprom.agreement.stats import (
    FEW_PAIRS,
    SEM_AGREEMENT,
    SEM_RELIABILITY,
    Estimate,
    few_pairs_note,
)

if TYPE_CHECKING:
    from hiprom.agreement import AgreementReport
    from hiprom.agreement.stats import AgreementStats, Reliability

__all__ = ["SOURCES", "build_agreement_page"]

SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Gradoz 2018": ("Gradoz MC, Bauer LE, Grindstaff TL, Bagwell JJ. Reliability of hip rotation "
                    "range of motion in supine and seated positions. J Sport Rehabil 2018 "
                    "(July).", ("https://creighton.pure.elsevier.com/en/publications/"
                                "reliability-of-hip-rotation-range-of-motion-in-supine-and-"
                                "seated-",)),
    "Krause 2015": ("Krause DA, Hollman JH, Krych AJ, Kalisvaart MM, Levy BA. Reliability of hip "
                    "internal rotation range of motion measurement using a digital "
                    "inclinometer. Knee Surg Sports Traumatol Arthrosc 2015;23(9):2562–2567.",
                    ("https://mayoclinic.pure.elsevier.com/en/publications/reliability-of-hip-"
                     "internal-rotation-range-of-motion-measurement-",)),
    "Roach 2013": ("Roach S, San Juan JG, Suprak DN, Lyda M. Concurrent validity of digital "
                   "inclinometer and universal goniometer in assessing passive hip mobility in "
                   "healthy subjects. Int J Sports Phys Ther 2013;8(5):680–688.",
                   ("https://pubmed.ncbi.nlm.nih.gov/24175147/",
                    "https://pmc.ncbi.nlm.nih.gov/articles/PMC3811733/")),
    "Poulsen 2012": ("Poulsen E, Christensen HW, Penny JØ, Overgaard S, Vach W, Hartvigsen J. "
                     "Reproducibility of range of motion and muscle strength measurements in "
                     "patients with hip osteoarthritis – an inter-rater study. BMC Musculoskelet "
                     "Disord 2012;13:242.", ("https://doi.org/10.1186/1471-2474-13-242",)),
}
"""The references the page and docs/VALIDATION.md cite: entries of the clinical notes."""

_CSS = """
.cards.small { grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); }
.card .big { font-size: 26px; font-weight: 750; line-height: 1.15; }
.card .ci, .card .n { font-size: 12.5px; color: var(--muted); }
.figs { display: grid; grid-template-columns: 1fr; gap: 18px; }
.figs figure.square { max-width: 620px; }
#pairing h3 { margin-top: 16px; }
details summary { cursor: pointer; color: var(--accent); margin: 8px 0; }
td.path { word-break: break-all; }
"""

_DISCLAIMER = ("This page compares two measurements of the same legs; it does not say which is "
               "right. Intervals treat pairs as independent: when people give several pairs "
               "(two legs, several sessions) they are somewhat too narrow.")


def _num(value: float | None, unit: str = "°", digits: int = 1, sign: bool = False) -> str:
    """Format a number with a true minus sign ("−2.8°"), or a dash for None."""
    if value is None:
        return "—"
    text = f"{value:+.{digits}f}{unit}" if sign else f"{value:.{digits}f}{unit}"
    return text.replace("-", "−")


def _ci(est: Estimate, unit: str = "°", digits: int = 1) -> str:
    if est.ci95 is None:
        return ""
    return f"95% CI {_num(est.ci95[0], unit, digits)} to {_num(est.ci95[1], unit, digits)}"


def _card(title: str, est: Estimate, unit: str = "°", digits: int = 1, sign: bool = False,
          note: str = "") -> str:
    return (f'<div class="card"><h3>{escape(title)}</h3><div class="big">'
            f"{escape(_num(est.value, unit, digits, sign))}</div>"
            f'<div class="ci">{escape(_ci(est, unit, digits))}</div>'
            f'<div class="n">n = {est.n}{escape(note)}</div></div>')


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def _table(head: Sequence[str], rows: Iterable[Sequence[object]],
           numeric: Sequence[int] = ()) -> str:
    def cell(i: int, value: object, tag: str) -> str:
        cls = ' class="num"' if i in numeric else ""
        return f"<{tag}{cls}>{escape('' if value is None else str(value))}</{tag}>"

    body = "".join("<tr>" + "".join(cell(i, v, "td") for i, v in enumerate(r)) + "</tr>"
                   for r in rows)
    return ("<table><tr>" + "".join(cell(i, h, "th") for i, h in enumerate(head)) + "</tr>"
            + body + "</table>")


def _cite(key: str) -> str:
    number = list(SOURCES).index(key) + 1
    return f'<sup class="cite"><a href="#ref-{number}">{number}</a></sup>'


# ---------------------------------------------------------------------------- sections
def _header(report: AgreementReport) -> str:
    meta = [f"Results: {Path(report.results).name}", f"Reference: {Path(report.reference).name}",
            f"Analysed: {report.created_at}", f"hiprom {report.versions.get('hiprom', '?')}"]
    spans = "".join(f"<span>{escape(m)}</span>" for m in meta)
    return (f'<header><h1>Agreement of hiprom with a criterion</h1><p class="meta">{spans}</p>'
            f'<div class="banner">{escape(_DISCLAIMER)}</div></header>')


def _key_figures(stats: AgreementStats) -> str:
    ba = stats.bland_altman
    cards = [_card("Bias (hiprom − reference)", ba.bias_deg, sign=True),
             _card("Lower limit of agreement", ba.loa_low_deg, sign=True),
             _card("Upper limit of agreement", ba.loa_high_deg, sign=True),
             _card("Mean absolute difference", stats.mean_abs_diff_deg),
             _card("SEM", stats.sem_deg, note=" · SD(d)/√2"),
             _card("MDC95", stats.mdc95_deg, note=" · 1.96·√2·SEM")]
    if stats.icc is not None:
        cards += [_card("ICC(2,1) absolute agreement", stats.icc.icc_2_1, "", 3),
                  _card("ICC(3,1) consistency", stats.icc.icc_3_1, "", 3)]
    people = f"{stats.n_subjects} {'person' if stats.n_subjects == 1 else 'people'}"
    return (f'<section id="figures"><h2>Key figures ({stats.n_pairs} pairs, {people})</h2>'
            f'<div class="cards small">{"".join(cards)}</div>'
            f"<p>{escape(_proportional_sentence(stats))}</p>{_few_pairs(stats)}</section>")


def _few_pairs(stats: AgreementStats) -> str:
    """A caution when the pairs are too few to judge the limits (docs/VALIDATION.md §4)."""
    if stats.n_pairs >= FEW_PAIRS:
        return ""
    return f'<p class="muted">{escape(few_pairs_note(stats))}</p>'


def _proportional_sentence(stats: AgreementStats) -> str:
    ba = stats.bland_altman
    if ba.slope.value is None or ba.slope_p is None:
        return "Proportional bias could not be checked (the pair means do not vary)."
    ci = "" if ba.slope.ci95 is None else (
        f" (95% CI {_num(ba.slope.ci95[0], '', 3, True)} to {_num(ba.slope.ci95[1], '', 3, True)})")
    verdict = ("differs from zero: the difference changes with the size of the angle, so one "
               "pair of limits does not describe the whole range" if ba.proportional_bias else
               "does not differ from zero at p < 0.05: no proportional bias was detected")
    return (f"Proportional bias: the regression of the differences on the pair means has slope "
            f"{_num(ba.slope.value, '°/°', 3, True)}{ci}, p = {ba.slope_p:.3g}, "
            f"n = {ba.slope.n}; it {verdict}.")


def _bars(stats: AgreementStats) -> str:
    ba = stats.bland_altman
    widest = max(abs(ba.loa_low_deg.value or 0.0), abs(ba.loa_high_deg.value or 0.0))
    rows = [
        ("MDC95", _num(stats.mdc95_deg.value),
         "goniometer, 3 testers, seated and supine IR/ER: MDC 6.1–8.6°", "Gradoz 2018"),
        ("MDC95", _num(stats.mdc95_deg.value),
         "digital inclinometer, seated active single-leg IR: MDC 5.4°", "Krause 2015"),
        ("bias", _num(ba.bias_deg.value, sign=True),
         "goniometer vs inclinometer, mean difference in IR: 4.5°", "Roach 2013"),
        ("limits of agreement", f"{_num(ba.loa_low_deg.value, sign=True)} to "
         f"{_num(ba.loa_high_deg.value, sign=True)}",
         "goniometer between orthopaedists, hip OA, IR: −28 to +12°", "Poulsen 2012"),
    ]
    body = "".join(f"<tr><td>{escape(m)}</td><td class=\"num\">{escape(v)}</td>"
                   f"<td>{escape(b)}{_cite(k)}</td></tr>" for m, v, b, k in rows)
    goals = (f"The project's own goal for agreement with a criterion (clinical notes §8, not a "
             f"published bar): bias within ±2° (here {_num(ba.bias_deg.value, sign=True)}), "
             f"95% limits within ±5° (here the wider is {widest:.1f}°) and mean absolute "
             f"difference ≤ 3° (here {_num(stats.mean_abs_diff_deg.value)}).")
    return ('<section id="bars"><h2>Against the handheld methods</h2><p class="muted">The MDC95 '
            "here is that of the difference between hiprom and the criterion on one occasion; "
            "the published ones are of one instrument read twice. Both say how large a change "
            "must be before it is more than measurement error.</p><table><tr><th>figure</th>"
            '<th class="num">this study</th><th>published figure (hip IR)</th></tr>'
            f"{body}</table><p>{escape(goals)}</p></section>")


def _plots(images: Mapping[str, bytes]) -> str:
    return ('<section id="plots"><h2>Plots</h2><div class="figs">'
            f'<figure>{_img(images["bland_altman"], "Bland–Altman plot")}<figcaption>Each point '
            "is one leg reading: hiprom − reference against their mean. Solid line: bias; dashed: "
            "95% limits of agreement; grey bands: their 95% intervals; dotted: regression of the "
            "differences on the means (proportional bias).</figcaption></figure>"
            f'<figure class="square">{_img(images["scatter"], "hiprom against the reference")}'
            "<figcaption>"
            "hiprom against the reference; on the grey line the two agree exactly."
            "</figcaption></figure></div></section>")


def _reliability(blocks: Sequence[Reliability]) -> str:
    if not blocks:
        return ('<section id="reliability"><h2>Reliability</h2><p class="muted">No session or '
                "rater column with values, so no test–retest or inter-rater figures. Record two "
                "sessions (docs/VALIDATION.md) to get hiprom's own test–retest.</p></section>")
    rows: list[tuple[object, ...]] = []
    for b in blocks:
        if b.icc is None:
            rows.append((b.title, ", ".join(b.levels), "—", "—", "—", "—", "—",
                         f"not computed: {b.reason}"))
            continue
        i2, i3 = b.icc.icc_2_1, b.icc.icc_3_1
        rows.append((b.title, ", ".join(b.levels), b.icc.n_targets,
                     f"{_num(i2.value, '', 3)} ({_ci(i2, '', 3).removeprefix('95% CI ')})",
                     f"{_num(i3.value, '', 3)} ({_ci(i3, '', 3).removeprefix('95% CI ')})",
                     _num(b.sem_deg.value if b.sem_deg else None),
                     _num(b.mdc95_deg.value if b.mdc95_deg else None),
                     f"{b.n_left_out} target(s) left out" if b.n_left_out else ""))
    return ('<section id="reliability"><h2>Reliability</h2>'
            + _table(("what", "levels", "n targets", "ICC(2,1) (95% CI)", "ICC(3,1) (95% CI)",
                      "SEM", "MDC95", "note"), rows, (2, 5, 6))
            + f'<p class="muted">SEM = {escape(SEM_RELIABILITY)}; MDC95 = 1.96·√2·SEM. A target '
            "is one leg of one person (per rater or session as the row says).</p></section>")


def _groups(report: AgreementReport) -> str:
    if report.by is None:
        return ""
    rows = []
    for g in report.groups:
        s = g.stats
        if s is None:
            rows.append((g.name, g.n_pairs, "—", "—", "—", "—", "—", g.reason))
            continue
        ba = s.bland_altman
        rows.append((g.name, g.n_pairs, f"{_num(ba.bias_deg.value, sign=True)}",
                     f"{_num(ba.loa_low_deg.value, sign=True)} to "
                     f"{_num(ba.loa_high_deg.value, sign=True)}",
                     _num(s.mean_abs_diff_deg.value), _num(s.mdc95_deg.value),
                     _num(s.icc.icc_2_1.value, "", 3) if s.icc else "—",
                     "proportional bias" if ba.proportional_bias else ""))
    return (f'<section id="groups"><h2>By {escape(report.by)}</h2>'
            + _table((report.by, "n pairs", "bias", "95% limits", "mean |d|", "MDC95",
                      "ICC(2,1)", "note"), rows, (1, 2, 4, 5, 6)) + "</section>")


def _pairing(report: AgreementReport) -> str:
    m = report.matching
    counts = (f"{m.n_reference_rows} reference rows and {m.n_hiprom_legs} hiprom legs: "
              f"{len(m.pairs)} pairs compared, {len(m.unmatched_reference)} reference rows "
              f"unmatched, {len(m.excluded)} excluded, {len(m.duplicates)} duplicated keys, "
              f"{len(m.unmatched_hiprom)} hiprom legs without a reference reading.")
    parts = [f'<section id="pairing"><h2>Pairing</h2><p>{escape(counts)}</p>']
    lists: list[tuple[str, Sequence[str], list[Sequence[Any]]]] = [
        ("Reference rows with no hiprom result", ("line", "reading", "reason"),
         [(r["line"], _who(r), r["reason"]) for r in m.unmatched_reference]),
        ("Excluded: not a valid measurement", ("line", "reading", "hiprom input", "reason"),
         [(r["line"], _who(r), r["source"], r["reason"]) for r in m.excluded]),
        ("Duplicated (none of them compared)", ("side", "key", "where", "reason"),
         [(d["side"], _key(d["key"]), ", ".join(map(str, d.get("lines") or d.get("where", ()))),
           d["reason"]) for d in m.duplicates]),
        ("hiprom legs without a reference reading", ("input", "leg", "IR", "note"),
         [(h["source"], h["leg"], _num(h["ir_deg"]), h["excluded_reason"] or "")
          for h in m.unmatched_hiprom]),
    ]
    for title, head, rows in lists:
        if rows:
            parts.append(f"<h3>{escape(title)} ({len(rows)})</h3>" + _table(head, rows))
    pair_rows = [(p.reference_line, p.subject, p.leg, p.session or "", _num(p.hiprom_deg),
                  _num(p.reference_deg), _num(p.diff_deg, sign=True), ", ".join(p.quality))
                 for p in m.pairs]
    parts.append(f"<details><summary>All {len(m.pairs)} pairs</summary>"
                 + _table(("line", "person", "leg", "session", "hiprom", "reference", "d",
                           "hiprom flags"), pair_rows, (0, 4, 5, 6)) + "</details></section>")
    return "".join(parts)


def _who(row: Mapping[str, Any]) -> str:
    who = row.get("path") or row.get("patient_id") or "?"
    session = f", session {row['session']}" if row.get("session") else ""
    rater = f", rater {row['rater']}" if row.get("rater") else ""
    return f"{who}{session}, {row.get('leg')}{rater}"


def _key(key: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in key.items() if v is not None)


def _methods(report: AgreementReport) -> str:
    v = report.versions
    items = [
        "d = hiprom − reference for each pair; bias = mean d with its t-interval; 95% limits "
        "of agreement = bias ± 1.96·SD(d), each with the approximate 95% interval "
        "± t(n−1)·√(3·SD²/n) of Bland and Altman (statsmodels DescrStatsW, scipy).",
        "Proportional bias: ordinary least-squares regression of d on the pair mean; slope with "
        "its 95% interval and p (statsmodels OLS).",
        "ICC(2,1) (two-way random, absolute agreement) and ICC(3,1) (two-way mixed, "
        "consistency), single measurements, with 95% intervals: pingouin intraclass_corr "
        "(its ICC(A,1) and ICC(C,1)).",
        f"SEM (agreement) = {SEM_AGREEMENT}; MDC95 = 1.96·√2·SEM.",
        "Mean absolute difference = mean |d| with its t-interval (lower end at least 0).",
        f"Versions: hiprom {v.get('hiprom')}, pingouin {v.get('pingouin')}, statsmodels "
        f"{v.get('statsmodels')}, numpy {v.get('numpy')}, matplotlib {v.get('matplotlib')}.",
    ]
    return ('<section id="methods"><h2>Methods</h2><ul class="plain">'
            + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul></section>")


def _sources() -> str:
    items = "".join(
        f'<li id="ref-{n}">{escape(citation)} '
        + " · ".join(f'<a href="{escape(u)}">{escape(u)}</a>' for u in links) + "</li>"
        for n, (citation, links) in enumerate(SOURCES.values(), start=1))
    return f'<section id="sources"><h2>Sources</h2><ol class="refs">{items}</ol></section>'


def build_agreement_page(report: AgreementReport, images: Mapping[str, bytes]) -> str:
    """Build the self-contained HTML page of an agreement analysis.

    Args:
        report: The analysis, from :func:`hiprom.agreement.run_agreement`.
        images: PNG bytes of ``bland_altman`` and ``scatter``.

    Returns:
        The HTML document as a string.

    """
    stats = report.overall
    body = "".join((
        _header(report), _key_figures(stats), _plots(images), _bars(stats),
        _reliability(report.reliability), _groups(report), _pairing(report), _methods(report),
        _sources(),
        f"<footer><p>{escape(_DISCLAIMER)}</p><p>Made with hiprom "
        f"{escape(report.versions.get('hiprom', '?'))}. Angles in degrees; + = internal "
        "rotation; left and right are the person's own sides. Protocol: docs/VALIDATION.md."
        "</p></footer>"))
    page = resources.files("hiprom.report.templates").joinpath("report.html").read_text("utf-8")
    css = resources.files("hiprom.report.templates").joinpath("report.css").read_text("utf-8")
    return Template(page).substitute(title="hiprom agreement", css=css + _CSS, body=body,
                                     version=escape(report.versions.get("hiprom", "?")))
