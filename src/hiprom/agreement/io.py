"""Read hiprom results and criterion readings, pair them, and write files atomically.

RESULTS is a batch ``results.csv`` (docs/BATCH.md), a folder of result JSONs as
``hiprom measure`` writes them (searched recursively, so a batch output folder works too) or
one result JSON. REFERENCE is a CSV of criterion readings, one row per leg reading::

    patient_id,session,leg,reference_deg,rater,method,camera
    P017,1,left,34.5,AB,inclinometer,phone-A

or with ``path`` (the recorded video, relative to the CSV's folder or absolute) instead of, or
beside, ``patient_id``.

Pairing: a row with a ``path`` is paired with the result of that input (the same file, else
the one result whose file name is the same) and the same leg; a row with only ``patient_id``
with the result of that patient, ``session`` (compared with ``session_date`` of results.csv)
and leg. Nothing is dropped silently: rows that find no result, rows and results that appear
twice, and results that are not a valid measurement are each listed with the reason.

Convention:
    Degrees; + is internal rotation (IR); ``leg`` is the person's anatomical side.
"""

from __future__ import annotations

import csv
import math
import os
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hiprom.errors import InputError

__all__ = [
    "BY_COLUMNS",
    "HipromLeg",
    "Matching",
    "Pair",
    "ReferenceRow",
    "match_rows",
    "read_reference",
    "read_results",
    "write_atomic",
]

LEGS = ("left", "right")
BY_COLUMNS = ("camera", "rater", "method")
"""Reference columns an analysis can be split by (``--by``)."""

_LEG_NAMES = {"left": "left", "l": "left", "right": "right", "r": "right"}
_RESULTS_NEED = ("path", "leg", "internal_rotation_deg")
_OPTIONAL = ("rater", "session", "method", "camera")
_NOT_TESTED_VERDICTS = ("not_measured", "not_tested", "withheld", "verdict_withheld")
_MAX_ABS_DEG = 90.0


@dataclass(frozen=True)
class HipromLeg:
    """One leg of one hiprom result.

    Attributes:
        source: The measured input's path, as RESULTS gives it.
        leg: ``left`` or ``right``.
        ir_deg: Held end-range IR in degrees, or None.
        ir_ci95_deg: Half-width of its 95% interval, or None.
        patient_id: From the batch manifest / ``--id-pattern``, or None.
        session: ``session_date`` from the batch manifest, or None.
        quality: The leg's quality flags.
        where: Where it was read ("results.csv line 7", "clip.json").
        excluded_reason: Why it is not a valid measurement, or None when it is.
        content: The input's content hash (results.csv ``input_sha256``, a JSON's
            ``source.sha256``), or None: one recording under two paths is one reading.

    """

    source: str
    leg: str
    ir_deg: float | None
    ir_ci95_deg: float | None
    patient_id: str | None
    session: str | None
    quality: tuple[str, ...]
    where: str
    excluded_reason: str | None = None
    content: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"source": self.source, "leg": self.leg, "ir_deg": self.ir_deg,
                "patient_id": self.patient_id, "session": self.session,
                "quality": list(self.quality), "where": self.where,
                "excluded_reason": self.excluded_reason}


@dataclass(frozen=True)
class ReferenceRow:
    """One criterion reading (a row of the REFERENCE CSV).

    Attributes:
        line: The row's line number in the CSV (the header is line 1).
        leg: ``left`` or ``right``.
        reference_deg: The criterion's IR in degrees, or None for an empty cell.
        patient_id: Patient id, or None.
        path: The recorded input's path as written in the CSV, or None.
        rater: Who took the reading, or None.
        session: Session label, or None.
        method: Criterion instrument (goniometer, inclinometer...), or None.
        camera: Camera label, or None.

    """

    line: int
    leg: str
    reference_deg: float | None
    patient_id: str | None = None
    path: str | None = None
    rater: str | None = None
    session: str | None = None
    method: str | None = None
    camera: str | None = None

    def label(self) -> str:
        """Return a short human label: the path or the patient, session and leg."""
        who = self.path or self.patient_id or "?"
        session = f" session {self.session}" if self.session else ""
        return f"{who}{session} {self.leg}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"line": self.line, "patient_id": self.patient_id, "path": self.path,
                "session": self.session, "leg": self.leg, "reference_deg": self.reference_deg,
                "rater": self.rater, "method": self.method, "camera": self.camera}


@dataclass(frozen=True)
class Pair:
    """One compared reading: hiprom's IR and the criterion's for the same leg and session.

    Attributes:
        subject: The person (reference ``patient_id``, else the result's, else the input path).
        leg: ``left`` or ``right``.
        session: The session label, or None.
        hiprom_deg: hiprom's held end-range IR in degrees.
        reference_deg: The criterion's IR in degrees.
        source: The measured input's path.
        reference_line: The reference CSV line.
        rater: Reference rater, or None.
        method: Reference method, or None.
        camera: Reference camera label, or None.
        quality: hiprom's quality flags on that leg.
        hiprom_ci95_deg: Half-width of hiprom's 95% interval, or None.

    """

    subject: str
    leg: str
    session: str | None
    hiprom_deg: float
    reference_deg: float
    source: str
    reference_line: int
    rater: str | None = None
    method: str | None = None
    camera: str | None = None
    quality: tuple[str, ...] = ()
    hiprom_ci95_deg: float | None = None

    @property
    def diff_deg(self) -> float:
        """The difference hiprom − reference, degrees."""
        return self.hiprom_deg - self.reference_deg

    def group(self, by: str) -> str:
        """Return this pair's value of the ``by`` column ("(blank)" when empty)."""
        return getattr(self, by) or "(blank)"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"subject": self.subject, "leg": self.leg, "session": self.session,
                "hiprom_deg": self.hiprom_deg, "reference_deg": self.reference_deg,
                "diff_deg": round(self.diff_deg, 6), "source": self.source,
                "reference_line": self.reference_line, "rater": self.rater,
                "method": self.method, "camera": self.camera, "quality": list(self.quality),
                "hiprom_ci95_deg": self.hiprom_ci95_deg}


@dataclass(frozen=True)
class Matching:
    """The outcome of pairing: the pairs and everything that did not pair, with reasons.

    Attributes:
        pairs: The compared readings, in reference-file order.
        unmatched_reference: Reference rows that found no hiprom result (row + ``reason``).
        unmatched_hiprom: hiprom legs no reference row asked for (leg + ``excluded_reason``).
        duplicates: Keys seen more than once, on either side; none of them is compared.
        excluded: Reference rows whose hiprom leg (or own cell) is not a valid measurement.
        n_reference_rows: Rows read from the reference CSV.
        n_hiprom_legs: Legs read from RESULTS (two per input).

    """

    pairs: tuple[Pair, ...]
    unmatched_reference: tuple[dict[str, Any], ...]
    unmatched_hiprom: tuple[dict[str, Any], ...]
    duplicates: tuple[dict[str, Any], ...]
    excluded: tuple[dict[str, Any], ...]
    n_reference_rows: int
    n_hiprom_legs: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (counts and every list)."""
        return {"n_reference_rows": self.n_reference_rows, "n_hiprom_legs": self.n_hiprom_legs,
                "n_pairs": len(self.pairs), "pairs": [p.to_dict() for p in self.pairs],
                "unmatched_reference": list(self.unmatched_reference),
                "unmatched_hiprom": list(self.unmatched_hiprom),
                "duplicates": list(self.duplicates), "excluded": list(self.excluded)}


# ---------------------------------------------------------------------------- reading
def _text(value: object) -> str | None:
    """Return a stripped cell, or None for an empty one."""
    text = "" if value is None else str(value).strip()
    return text or None


def _number(value: str | None, where: str, column: str) -> float | None:
    """Parse a degrees cell; empty is None, anything else non-numeric is an InputError."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        hint = " (use a decimal point, not a comma)" if "," in value else ""
        raise InputError(f"{where}: {column} {value!r} is not a number{hint}; write degrees as "
                         "a plain number such as 32.5.") from None
    if not math.isfinite(number) or abs(number) > _MAX_ABS_DEG:
        raise InputError(f"{where}: {column} {value!r} is not an IR angle between −90 and 90°; "
                         "correct the cell.")
    return number


def _leg(value: str | None, where: str) -> str:
    leg = _LEG_NAMES.get((value or "").lower())
    if leg is None:
        raise InputError(f"{where}: leg {value!r} is not left or right; write left or right "
                         "(the person's own side).")
    return leg


def _dict_rows(path: Path, what: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """Return the header and the non-blank rows (with line numbers) of a CSV file."""
    if not path.is_file():
        raise InputError(f"{what} {path} not found; check the path.")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in reader.fieldnames or ()]
            reader.fieldnames = header
            rows = [(reader.line_num, row) for row in reader
                    if any(_text(v) for k, v in row.items() if k is not None)]
    except UnicodeDecodeError:
        raise InputError(f"{what} {path} is not a UTF-8 text CSV; export it as CSV "
                         "(UTF-8).") from None
    except csv.Error as err:
        raise InputError(f"{what} {path} is not a readable CSV ({err}); export it again as "
                         "CSV.") from None
    if not header:
        raise InputError(f"{what} {path} is empty; it needs a header row and one row per "
                         "reading.")
    if not rows:
        raise InputError(f"{what} {path} has a header but no rows; add one row per reading.")
    return header, rows


def read_reference(path: str | Path) -> tuple[tuple[ReferenceRow, ...], tuple[str, ...]]:
    """Read the criterion readings.

    Args:
        path: The REFERENCE CSV (columns in the module docstring).

    Returns:
        The rows and the column names present.

    Raises:
        InputError: Missing file or columns, an empty file, a bad leg or a non-numeric angle.

    """
    target = Path(path)
    header, rows = _dict_rows(target, "REFERENCE")
    missing = [c for c in ("leg", "reference_deg") if c not in header]
    if "patient_id" not in header and "path" not in header:
        missing.append("patient_id or path")
    if missing:
        raise InputError(f"REFERENCE {target} lacks the column(s) {', '.join(missing)} (has: "
                         f"{', '.join(header) or 'none'}); add them (see docs/VALIDATION.md).")
    out = []
    for line, row in rows:
        where = f"REFERENCE {target.name} line {line}"
        cells = {k: _text(row.get(k)) for k in ("patient_id", "path", *_OPTIONAL)}
        if cells["patient_id"] is None and cells["path"] is None:
            raise InputError(f"{where}: neither patient_id nor path is filled; fill one so "
                             "the reading can be paired.")
        out.append(ReferenceRow(line, _leg(_text(row.get("leg")), where),
                                _number(_text(row.get("reference_deg")), where, "reference_deg"),
                                **cells))
    return tuple(out), tuple(header)


def _results_csv(path: Path) -> list[HipromLeg]:
    header, rows = _dict_rows(path, "RESULTS")
    missing = [c for c in _RESULTS_NEED if c not in header]
    if missing:
        raise InputError(f"RESULTS {path} is not a hiprom batch results.csv (lacks "
                         f"{', '.join(missing)}); pass the results.csv of hiprom batch or a "
                         "folder of result JSONs.")
    from hiprom.media.sinks import from_csv_text

    legs = []
    for line, row in rows:
        where = f"{path.name} line {line}"
        source = _text(row.get("path"))
        if source is None:
            raise InputError(f"RESULTS {where}: empty path; use the results.csv as hiprom "
                             "batch wrote it.")
        leg = _leg(_text(row.get("leg")), f"RESULTS {where}")
        ir = _number(_text(row.get("internal_rotation_deg")), f"RESULTS {where}",
                     "internal_rotation_deg")
        ci = _number(_text(row.get("internal_rotation_ci95_deg")), f"RESULTS {where}",
                     "internal_rotation_ci95_deg")
        quality = tuple(q for q in (_text(row.get("leg_quality")) or "").split(";") if q)
        status = _text(row.get("status")) or "ok"
        reason = _csv_exclusion(status, row, leg, ir)
        # results.csv quotes text a spreadsheet would run ("'=1+1"); pair on the text itself.
        patient, session = (_text(from_csv_text(row.get(k) or ""))
                            for k in ("patient_id", "session_date"))
        legs.append(HipromLeg(source, leg, ir, ci, patient, session, quality, where, reason,
                              _text(row.get("input_sha256"))))
    return legs


def _csv_exclusion(status: str, row: Mapping[str, Any], leg: str, ir: float | None
                   ) -> str | None:
    """Return why a results.csv leg is not a valid measurement, or None."""
    if status != "ok":
        error = _text(row.get("error"))
        return f"input {status}" + (f" ({error})" if error else "")
    return _leg_exclusion(ir, _text(row.get("verdict")), _text(row.get("side_tested")), leg,
                          _text(row.get("leg_quality")))


def _leg_exclusion(ir: float | None, verdict: str | None, side_tested: str | None, leg: str,
                   quality: str | None) -> str | None:
    """Return why a leg is not a valid measurement (no value, not tested, withheld), or None."""
    tested = _LEG_NAMES.get((side_tested or "").lower())
    if tested is not None and tested != leg:
        return f"not the tested side (side_tested = {side_tested})"
    if verdict in _NOT_TESTED_VERDICTS and ir is not None:
        return f"verdict {verdict}"
    if ir is None:
        return "no IR value" + (f" (quality: {quality.replace(';', ', ')})" if quality else "")
    return None


def _results_json(files: Iterable[Path]) -> list[HipromLeg]:
    from hiprom.results.files import MAX_RESULT_BYTES, loads_bounded, validate_result

    legs = []
    for file in files:
        try:  # bounded: size, nesting depth and number length (hiprom.results.files)
            if file.stat().st_size > MAX_RESULT_BYTES:
                continue  # far larger than a result file: not one
            data = loads_bounded(file.read_text(encoding="utf-8"), name=str(file))
        except (InputError, UnicodeDecodeError):
            continue  # not a result file (the folder may hold other JSON)
        if not isinstance(data, dict) or not str(data.get("schema", "")).startswith(
                "hiprom-result/"):
            continue
        result = validate_result(data, name=str(file))
        source = str((result.get("source") or {}).get("path") or file)
        for leg in LEGS:
            entry = result["legs"][leg]
            ir = entry.get("internal_rotation_deg")
            quality = tuple(str(q) for q in entry.get("quality") or ())
            reason = _leg_exclusion(ir, (entry.get("verdict") or {}).get("code"), None, leg,
                                    ";".join(quality))
            digest = (result.get("source") or {}).get("sha256")
            legs.append(HipromLeg(source, leg, ir, entry.get("internal_rotation_ci95_deg"),
                                  None, None, quality, file.name, reason,
                                  str(digest) if digest else None))
    return legs


def read_results(path: str | Path) -> tuple[HipromLeg, ...]:
    """Read hiprom's per-leg values from a results.csv, a folder of result JSONs, or one JSON.

    Raises:
        InputError: The path is missing, holds no hiprom result, or is malformed.

    """
    target = Path(path)
    if target.is_dir():
        legs = _results_json(sorted(target.rglob("*.json")))
        if not legs:
            raise InputError(f"RESULTS folder {target} holds no hiprom result JSON; run "
                             "hiprom measure or hiprom batch into it first.")
        return tuple(legs)
    if not target.is_file():
        raise InputError(f"RESULTS {target} not found; pass a batch results.csv or a folder "
                         "of result JSONs.")
    if target.suffix.lower() == ".json":
        legs = _results_json([target])
        if not legs:
            raise InputError(f"RESULTS {target} is not a hiprom result JSON; pass the <stem>.json "
                             "of hiprom measure.")
        return tuple(legs)
    return tuple(_results_csv(target))


# ---------------------------------------------------------------------------- pairing
def _norm(path: str, base: Path) -> str:
    """Return ``path`` as an absolute, normalised string (relative to ``base``)."""
    raw = Path(path).expanduser()
    return os.path.normpath(raw if raw.is_absolute() else base / raw)


class _Index:
    """hiprom legs by input path, by file name and by (patient, leg)."""

    def __init__(self, legs: Sequence[HipromLeg], duplicated: set[tuple[str, str]]) -> None:
        self.by_path: dict[tuple[str, str], HipromLeg] = {}
        self.by_name: dict[tuple[str, str], list[HipromLeg]] = defaultdict(list)
        self.by_patient: dict[tuple[str, str], list[HipromLeg]] = defaultdict(list)
        self.duplicated = duplicated
        for leg in legs:
            key = (_norm(leg.source, Path.cwd()), leg.leg)
            self.by_path[key] = leg
            self.by_name[(Path(leg.source).name, leg.leg)].append(leg)
            if leg.patient_id:
                self.by_patient[(leg.patient_id, leg.leg)].append(leg)

    def by_reference_path(self, row: ReferenceRow, base: Path) -> tuple[HipromLeg | None, str]:
        """Return the leg a row with a path points at, or None and why not."""
        assert row.path is not None
        for key in ((_norm(row.path, base), row.leg), (_norm(row.path, Path.cwd()), row.leg)):
            if key in self.duplicated:
                return None, "its hiprom result appears more than once (see duplicates)"
            if key in self.by_path:
                return self.by_path[key], ""
        named = self.by_name.get((Path(row.path).name, row.leg), [])
        if len(named) == 1:
            if (_norm(named[0].source, Path.cwd()), row.leg) in self.duplicated:
                return None, "its hiprom result appears more than once (see duplicates)"
            return named[0], ""
        if named:
            return None, (f"{len(named)} results share the file name {Path(row.path).name}; "
                          "give the full path")
        return None, f"no hiprom result for {row.path} ({row.leg} leg)"

    def by_reference_id(self, row: ReferenceRow) -> tuple[list[HipromLeg], str]:
        """Return the legs a row with only a patient id points at, and why when not one."""
        assert row.patient_id is not None
        if not self.by_patient:
            return [], ("RESULTS carry no patient_id (result JSONs have none); pair by a path "
                        "column, or score with hiprom batch and a manifest or --id-pattern")
        found = self.by_patient.get((row.patient_id, row.leg), [])
        if not found:
            return [], f"no hiprom result for patient {row.patient_id} ({row.leg} leg)"
        if row.session is not None:
            same = [h for h in found if h.session == row.session]
            if not same and all(h.session is None for h in found):
                same = found  # the results carry no session: the reference's label applies
            if not same:
                have = ", ".join(sorted({h.session or "(none)" for h in found}))
                return [], (f"no hiprom result for patient {row.patient_id} session "
                            f"{row.session} ({row.leg} leg); results have session_date: {have}")
            found = same
        if any((_norm(h.source, Path.cwd()), h.leg) in self.duplicated for h in found):
            return [], "its hiprom result appears more than once (see duplicates)"
        return found, ""


def _duplicate_results(legs: Sequence[HipromLeg]) -> tuple[set[tuple[str, str]], list[dict]]:
    groups: dict[tuple[str, str], list[HipromLeg]] = defaultdict(list)
    for leg in legs:
        groups[(_norm(leg.source, Path.cwd()), leg.leg)].append(leg)
    dups = {k: v for k, v in groups.items() if len(v) > 1}
    listed = [{"side": "results", "key": {"path": v[0].source, "leg": v[0].leg},
               "where": [h.where for h in v],
               "reason": "the same input and leg appear more than once in RESULTS; none is used"}
              for v in dups.values()]
    # One recording under several paths (a copy, a second export) is one reading, not two:
    # paired twice it would narrow every interval as if it were independent.
    by_content: dict[tuple[str, str], list[HipromLeg]] = defaultdict(list)
    for leg in legs:
        if leg.content:
            by_content[(leg.content, leg.leg)].append(leg)
    for (content, side), same in by_content.items():
        paths = sorted({_norm(h.source, Path.cwd()) for h in same})
        if len(paths) < 2:
            continue
        for path in paths:
            dups[(path, side)] = same
        listed.append({"side": "results", "key": {"content": content[:12], "leg": side},
                       "where": [h.where for h in same],
                       "reason": f"one recording (identical bytes) under {len(paths)} paths in "
                                 "RESULTS; none is used"})
    return set(dups), listed


def _reference_key(row: ReferenceRow, base: Path) -> tuple[str | None, ...]:
    target = _norm(row.path, base) if row.path else f"id:{row.patient_id}"
    return (target, row.session, row.leg, row.rater, row.method)


def _duplicate_reference(rows: Sequence[ReferenceRow], base: Path
                         ) -> tuple[set[int], list[dict]]:
    groups: dict[tuple[str | None, ...], list[ReferenceRow]] = defaultdict(list)
    for row in rows:
        groups[_reference_key(row, base)].append(row)
    lines: set[int] = set()
    listed = []
    for group in groups.values():
        if len(group) > 1:
            lines.update(r.line for r in group)
            listed.append({"side": "reference", "key": {
                "patient_id": group[0].patient_id, "path": group[0].path,
                "session": group[0].session, "leg": group[0].leg, "rater": group[0].rater,
                "method": group[0].method}, "lines": [r.line for r in group],
                "values_deg": [r.reference_deg for r in group],
                "reason": "the same leg, session, rater and method appear more than once in "
                          "REFERENCE; none is used (add a session or rater column to tell them "
                          "apart)"})
    return lines, listed


def _pair(row: ReferenceRow, leg: HipromLeg) -> Pair:
    assert leg.ir_deg is not None and row.reference_deg is not None
    subject = row.patient_id or leg.patient_id or leg.source
    return Pair(subject, row.leg, row.session or leg.session, leg.ir_deg, row.reference_deg,
                leg.source, row.line, row.rater, row.method, row.camera, leg.quality,
                leg.ir_ci95_deg)


def match_rows(hiprom: Sequence[HipromLeg], reference: Sequence[ReferenceRow], *,
               reference_dir: Path) -> Matching:
    """Pair criterion readings with hiprom legs (rules in the module docstring).

    Args:
        hiprom: hiprom's legs, from :func:`read_results`.
        reference: The criterion rows, from :func:`read_reference`.
        reference_dir: The folder relative reference paths are relative to.

    Returns:
        The pairs and everything that did not pair, each with its reason.

    """
    dup_keys, dups = _duplicate_results(hiprom)
    dup_lines, ref_dups = _duplicate_reference(reference, reference_dir)
    index = _Index(hiprom, dup_keys)
    pairs, unmatched, excluded = [], [], []
    used: set[int] = set()  # ids of the hiprom legs already paired
    for row in reference:
        if row.line in dup_lines:
            continue
        if row.path is not None:
            found, reason = index.by_reference_path(row, reference_dir)
            legs = [found] if found is not None else []
        else:
            legs, reason = index.by_reference_id(row)
            if len(legs) > 1:
                dups.append({"side": "results", "key": {"patient_id": row.patient_id,
                             "session": row.session, "leg": row.leg},
                             "where": [h.where for h in legs], "reference_lines": [row.line],
                             "reason": "several inputs have this patient, session and leg; "
                                       "pair by path or add a session column"})
                used.update(id(h) for h in legs)
                continue
        if not legs:
            unmatched.append({**row.to_dict(), "reason": reason})
            continue
        leg = legs[0]
        used.add(id(leg))
        why = ("reference_deg is empty" if row.reference_deg is None else leg.excluded_reason)
        if why is not None:
            excluded.append({**row.to_dict(), "source": leg.source, "reason": why})
            continue
        pairs.append(_pair(row, leg))
    dup_ids = {id(h) for h in hiprom if (_norm(h.source, Path.cwd()), h.leg) in dup_keys}
    left_over = tuple({**h.to_dict(), "valid": h.excluded_reason is None}
                      for h in hiprom if id(h) not in used and id(h) not in dup_ids)
    return Matching(tuple(pairs), tuple(unmatched), left_over, tuple(dups + ref_dups),
                    tuple(excluded), len(reference), len(hiprom))


# ---------------------------------------------------------------------------- writing
def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

    A reader never sees a half-written file; a failed write leaves no temporary behind. The
    temporary name is unique per call, so two runs into one folder do not collide.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        with part.open("xb") as handle:
            handle.write(data)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
