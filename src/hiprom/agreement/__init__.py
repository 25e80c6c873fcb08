"""Agreement of hiprom with a criterion measured on the same legs (``hiprom agreement``).

:func:`run_agreement` reads hiprom's results and a CSV of criterion readings (goniometer,
inclinometer, motion capture...), pairs them (:mod:`hiprom.agreement.io`) and computes what
a method-comparison study reports (:mod:`hiprom.agreement.stats`): Bland–Altman bias and
limits of agreement with their intervals and the proportional-bias check, ICC(2,1) and
ICC(3,1), SEM, MDC95 and the mean absolute difference, each with its n; with sessions or
raters, the test–retest and inter-rater reliability of hiprom and of the criterion.
:func:`write_agreement` writes ``agreement.json``, the Bland–Altman and scatter plots (PNG and
SVG) and a self-contained HTML page. The protocol is docs/VALIDATION.md.

Needs the ``validation`` extra (pingouin, statsmodels, matplotlib):
``pip install "hiprom[validation]"``.

Convention:
    Degrees; + = internal rotation; d = hiprom − reference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from hiprom.agreement.io import BY_COLUMNS, Matching, Pair, match_rows, read_reference, read_results
from hiprom.agreement.stats import (
    MIN_PAIRS,
    AgreementStats,
    Reliability,
    agreement_stats,
    reliability,
)
from hiprom.errors import InputError

__all__ = [
    "BY_COLUMNS",
    "AgreementReport",
    "GroupResult",
    "TooFewPairsError",
    "run_agreement",
    "write_agreement",
]

SCHEMA = "hiprom-agreement/1"
FILES = ("bland_altman.png", "bland_altman.svg", "scatter.png", "scatter.svg",
         "agreement.html", "agreement.json")
"""What :func:`write_agreement` writes, in writing order (the JSON last)."""


@dataclass(frozen=True)
class GroupResult:
    """The agreement within one level of the ``--by`` column.

    Attributes:
        name: The level ("phone-A", "(blank)").
        n_pairs: Pairs in the level.
        stats: The statistics, or None when there are too few pairs.
        reason: Why ``stats`` is None.

    """

    name: str
    n_pairs: int
    stats: AgreementStats | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"name": self.name, "n_pairs": self.n_pairs,
                "stats": None if self.stats is None else self.stats.to_dict(),
                "reason": self.reason}


@dataclass(frozen=True)
class AgreementReport:
    """Everything ``hiprom agreement`` reports.

    Attributes:
        results: The RESULTS path as given.
        reference: The REFERENCE path as given.
        columns: The reference CSV's columns.
        matching: The pairs and what did not pair.
        overall: The statistics over all pairs.
        reliability: Test–retest / inter-rater blocks the columns allow.
        by: The split column, or None.
        groups: One result per level of ``by``.
        created_at: UTC time of the analysis (ISO 8601).
        versions: hiprom's and the statistics libraries' versions.

    """

    results: str
    reference: str
    columns: tuple[str, ...]
    matching: Matching
    overall: AgreementStats
    reliability: tuple[Reliability, ...]
    by: str | None
    groups: tuple[GroupResult, ...]
    created_at: str
    versions: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """Return the ``agreement.json`` document."""
        return {"schema": SCHEMA, "created_at": self.created_at, "versions": self.versions,
                "convention": "degrees; + = internal rotation; d = hiprom − reference",
                "inputs": {"results": self.results, "reference": self.reference,
                           "reference_columns": list(self.columns)},
                "overall": self.overall.to_dict(),
                "reliability": [r.to_dict() for r in self.reliability],
                "by": self.by, "groups": [g.to_dict() for g in self.groups],
                "matching": self.matching.to_dict()}


def _versions() -> dict[str, str]:
    out = {}
    for name in ("hiprom", "pingouin", "statsmodels", "numpy", "matplotlib"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _stats(pairs: Sequence[Pair]) -> AgreementStats:
    return agreement_stats([p.hiprom_deg for p in pairs], [p.reference_deg for p in pairs],
                           [p.subject for p in pairs])


class TooFewPairsError(InputError):
    """Too few pairs to compare; ``details`` lists every reading that did not pair, and why.

    The message is one line; a command line prints ``details`` under it, so that nothing is
    dropped silently (it had named only the first reason).
    """

    def __init__(self, message: str, details: Sequence[str]) -> None:
        super().__init__(message)
        self.details = tuple(details)


def _check_pairs(matching: Matching) -> None:
    """Raise :class:`TooFewPairsError` when there are too few pairs to compare."""
    n = len(matching.pairs)
    if n >= MIN_PAIRS:
        return
    details = [*(f"reference line {r['line']}: {r['reason']}" for r in (
        *matching.unmatched_reference, *matching.excluded)),
        *(f"duplicated ({d['side']}): {d['reason']}" for d in matching.duplicates)]
    first = next((f"line {r['line']}: {r['reason']}" for r in (
        *matching.unmatched_reference, *matching.excluded)), None)
    counts = (f"{matching.n_reference_rows} reference rows, {matching.n_hiprom_legs} hiprom "
              f"legs; {len(matching.unmatched_reference)} unmatched, "
              f"{len(matching.excluded)} excluded, {len(matching.duplicates)} duplicated")
    hint = f"; first: {first}" if first else ""
    if n == 0:
        raise TooFewPairsError(f"No reference reading pairs with a valid hiprom value ({counts}"
                               f"{hint}); check that path or patient_id, session and leg agree.",
                               details)
    raise TooFewPairsError(f"Only {n} reference reading(s) pair with a valid hiprom value "
                           f"({counts}{hint}); agreement needs at least {MIN_PAIRS} pairs, and "
                           "a study about 30 (docs/VALIDATION.md).", details)


def _groups(pairs: Sequence[Pair], by: str, columns: Sequence[str]) -> tuple[GroupResult, ...]:
    if by not in BY_COLUMNS:
        raise InputError(f"--by {by!r} is not one of {', '.join(BY_COLUMNS)}; pick one.")
    if by not in columns:
        raise InputError(f"--by {by} needs a '{by}' column in REFERENCE (it has: "
                         f"{', '.join(columns)}); add the column or leave out --by.")
    if all(getattr(p, by) is None for p in pairs):
        raise InputError(f"--by {by}: the '{by}' column is empty in every paired row; fill it "
                         "or leave out --by.")
    levels: dict[str, list[Pair]] = defaultdict(list)
    for pair in pairs:
        levels[pair.group(by)].append(pair)
    return tuple(
        GroupResult(name, len(group), _stats(group)) if len(group) >= MIN_PAIRS
        else GroupResult(name, len(group), None, f"{len(group)} pair(s); needs {MIN_PAIRS}")
        for name, group in sorted(levels.items()))


def _reliability(pairs: Sequence[Pair]) -> tuple[Reliability, ...]:
    """The repeatability blocks the pairs' sessions and raters allow."""
    out = []
    for factor in ("session", "rater"):
        if all(getattr(p, factor) is None for p in pairs):
            continue
        other = "rater" if factor == "session" else "session"
        hiprom: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        reference: dict[tuple[str, str], list[float]] = defaultdict(list)
        for p in pairs:
            level = getattr(p, factor) or "(blank)"
            where = p.session if factor == "rater" else None
            hiprom[(f"{p.subject}|{p.leg}|{where}", level)][p.source] = p.hiprom_deg
            reference[(f"{p.subject}|{p.leg}|{getattr(p, other)}|{p.method}", level)].append(
                p.reference_deg)
        block = reliability("hiprom", factor, {k: list(v.values()) for k, v in hiprom.items()})
        if factor == "rater" and _shared_recordings(hiprom):
            block = Reliability("hiprom", factor, block.levels, None, None, None,
                                "the raters share one recording per leg, so hiprom's value "
                                "cannot differ between them")
        out += [block, reliability("reference", factor, dict(reference))]
    return tuple(out)


def _shared_recordings(cells: dict[tuple[str, str], dict[str, float]]) -> bool:
    """Whether every target's levels all point at one and the same recording."""
    sources: dict[str, set[str]] = defaultdict(set)
    for (target, _), by_source in cells.items():
        sources[target].update(by_source)
    return all(len(s) == 1 for s in sources.values())


def run_agreement(results: str | Path, reference: str | Path, *,
                  by: str | None = None) -> AgreementReport:
    """Pair hiprom's results with criterion readings and compute the agreement.

    Args:
        results: A batch ``results.csv``, a folder of result JSONs, or one result JSON.
        reference: The CSV of criterion readings (docs/VALIDATION.md).
        by: Also split by this reference column: ``camera``, ``rater`` or ``method``.

    Returns:
        The report (write it with :func:`write_agreement`).

    Raises:
        InputError: Unreadable or malformed input, fewer than 3 pairs, or a ``by`` column
            the reference lacks.
        MissingExtraError: The ``validation`` extra is not installed.

    """
    legs = read_results(results)
    rows, columns = read_reference(reference)
    matching = match_rows(legs, rows, reference_dir=Path(reference).resolve().parent)
    _check_pairs(matching)
    pairs = matching.pairs
    groups = _groups(pairs, by, columns) if by is not None else ()
    return AgreementReport(str(results), str(reference), columns, matching, _stats(pairs),
                           _reliability(pairs), by, groups,
                           datetime.now(UTC).isoformat(timespec="seconds"), _versions())


def write_agreement(report: AgreementReport, out_dir: str | Path) -> list[Path]:
    """Write the plots, the HTML page and ``agreement.json`` into ``out_dir``.

    Each file goes to a temporary name first and is renamed when complete; the JSON is
    written last.

    Returns:
        The written paths, in the order of :data:`FILES`.

    Raises:
        MissingExtraError: matplotlib is not installed.

    """
    import json

    from hiprom.agreement.io import write_atomic
    from hiprom.agreement.page import build_agreement_page
    from hiprom.agreement.plots import build_bland_altman, build_scatter, figure_bytes

    out = Path(out_dir)
    figures = {"bland_altman": build_bland_altman(report), "scatter": build_scatter(report)}
    images = {name: {fmt: figure_bytes(fig, fmt) for fmt in ("png", "svg")}
              for name, fig in figures.items()}
    written = []
    for name, formats in images.items():
        for fmt, data in formats.items():
            write_atomic(out / f"{name}.{fmt}", data)
            written.append(out / f"{name}.{fmt}")
    page = build_agreement_page(report, {k: v["png"] for k, v in images.items()})
    write_atomic(out / "agreement.html", page.encode("utf-8"))
    document = json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
    write_atomic(out / "agreement.json", (document + "\n").encode("utf-8"))
    return [*written, out / "agreement.html", out / "agreement.json"]
