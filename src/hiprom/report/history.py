"""Result files in, a per-person progress history out (local SQLite).

Reads the result JSON of docs/RESULTS.md (the readers live in :mod:`hiprom.results.files`
and are re-exported here), stores it per person in one SQLite file and judges the change
since the last test against the measurement error.

Where the database lives, first match wins:
    ``db_path`` argument, ``$HIPROM_HOME/history.sqlite3``,
    ``$XDG_DATA_HOME/hiprom/history.sqlite3``, ``~/.local/share/hiprom/history.sqlite3``.

Convention:
    Degrees; + is internal rotation (IR); sides are the person's anatomical sides. Times are
    stored as ISO 8601 UTC strings. A change counts as real only when it is larger than both
    the tool's MDC95 and the combined 95% interval of the two readings,
    √(ci95_previous² + ci95_latest²).

Examples:
    >>> combined_ci95(3.0, 4.0)
    5.0

"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hiprom.errors import InputError
from hiprom.plan.assessment import DEFAULT_CI95_DEG, DEFAULT_MDC95_DEG
from hiprom.results.files import (
    ANGLE_RANGE,
    INTERVAL_RANGE,
    SCHEMA,
    check_number,
    input_key,
    loads_bounded,
    measured_time,
    read_result,
    result_angles,
    result_leg,
    validate_result,
)
from hiprom.vocabulary import Side

__all__ = [
    "DEFAULT_PERSON",
    "SCHEMA",
    "HistoryEntry",
    "LegChange",
    "changes_since_last",
    "check_person",
    "combined_ci95",
    "default_db_path",
    "delete_result",
    "list_people",
    "load_history",
    "people_with_test",
    "read_result",
    "save_result",
    "set_excluded",
    "validate_result",
]

DEFAULT_PERSON = "default"
#: A leg whose value rests on a compensated rep does not enter trends.
_COMPENSATIONS = frozenset({"pelvis_roll", "trunk_lean", "knee_drift"})
_DB_NAME = "history.sqlite3"
_DB_VERSION = 2
_MAX_NAME = 64
_COLUMNS = ("left_ir_deg", "left_ir_ci95_deg", "left_er_deg",
            "right_ir_deg", "right_ir_ci95_deg", "right_er_deg")
_DDL = """
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_utc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    input_key TEXT NOT NULL,
    measured_utc TEXT NOT NULL,
    saved_utc TEXT NOT NULL,
    source_kind TEXT,
    source_path TEXT,
    json_path TEXT,
    left_ir_deg REAL, left_ir_ci95_deg REAL, left_er_deg REAL,
    right_ir_deg REAL, right_ir_ci95_deg REAL, right_er_deg REAL,
    result_json TEXT NOT NULL,
    excluded INTEGER NOT NULL DEFAULT 0,
    UNIQUE (person_id, input_key)
);
"""


def default_db_path() -> Path:
    """Return the history database path from the environment (see the module docstring)."""
    if home := os.environ.get("HIPROM_HOME"):
        return Path(home).expanduser() / _DB_NAME
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data).expanduser() / "hiprom" / _DB_NAME


# ---------------------------------------------------------------------------- the database
@dataclass(frozen=True)
class HistoryEntry:
    """One saved test of one person.

    Attributes:
        id: Row id in the database.
        person: The person's name as first saved.
        measured_at: When the test was done (UTC).
        source_kind: ``clip``, ``still`` or ``live``.
        source_path: The measured input, as the result names it.
        json_path: Where the result JSON was, if the saver said so.
        ir_deg: IR per side in degrees, None if not measured.
        ci95_deg: Half-width of the IR 95% interval per side.
        er_deg: ER per side (positive degrees), None if not measured.
        result: The full result dict.
        excluded: Left out of trends and changes (``hiprom history --exclude ID``).

    """

    id: int
    person: str
    measured_at: datetime
    source_kind: str | None
    source_path: str | None
    json_path: str | None
    ir_deg: dict[Side, float | None]
    ci95_deg: dict[Side, float | None]
    er_deg: dict[Side, float | None]
    result: dict[str, Any] = field(repr=False, compare=False)
    excluded: bool = False

    def leg_quality(self, side: Side) -> tuple[str, ...]:
        """Return the quality flags of one leg of this test."""
        return tuple(str(f) for f in result_leg(self.result, side).get("quality") or ())

    @property
    def kind(self) -> str:
        """``still`` for a photo, ``video`` for a clip or a live session (comparable)."""
        return "still" if self.source_kind == "still" else "video"

    def counts(self, side: Side) -> bool:
        """Whether this test's ``side`` enters trends and changes.

        It does when the test is included, a valid seated test, and the leg was tested,
        measured, free of compensation flags and not given a withheld verdict.
        """
        leg = result_leg(self.result, side)
        protocol = self.result.get("protocol")
        valid = not isinstance(protocol, Mapping) or protocol.get("valid") is not False
        verdict = v if isinstance(v := leg.get("verdict"), Mapping) else {}
        return (not self.excluded and valid and self.ir_deg[side] is not None
                and leg.get("tested") is not False and verdict.get("code") != "withheld"
                and not _COMPENSATIONS.intersection(self.leg_quality(side)))


def check_person(person: str) -> str:
    """Return the stripped name, or raise InputError."""
    name = person.strip() if isinstance(person, str) else ""
    if not name or len(name) > _MAX_NAME or not name.isprintable():
        text = str(person)
        shown = repr(text) if len(text) <= 40 else f"{text[:40]!r}… ({len(text)} characters)"
        raise InputError(f"Person name must be 1–{_MAX_NAME} printable characters, got "
                         f"{shown}; pass e.g. --person alex.")
    return name


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """Open the database; create the file and tables only when ``create``."""
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=10)
    else:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > _DB_VERSION:
            raise InputError(f"{path} was written by a newer hiprom (schema {version}); "
                             "upgrade hiprom or use another HIPROM_HOME.")
        if create:
            conn.executescript(_DDL)
            if version == 1:  # version 2 added the per-test exclusion
                conn.execute("ALTER TABLE results ADD COLUMN excluded INTEGER NOT NULL "
                             "DEFAULT 0")
            conn.execute(f"PRAGMA user_version = {_DB_VERSION}")
        elif version == 1:  # an older file: upgrade it in place, once
            conn.close()
            return _connect(path, create=True)
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as err:
        conn.close()
        raise InputError(f"{path} is not a hiprom history database ({err}); move it away "
                         "or set HIPROM_HOME to another folder.") from err
    except InputError:
        conn.close()
        raise
    return conn


def _now() -> datetime:
    """Return the current UTC time, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def _person_id(conn: sqlite3.Connection, name: str, *, create: bool) -> int | None:
    """Return the person's id, inserting the person when ``create``."""
    row = conn.execute("SELECT id FROM persons WHERE name = ?", (name,)).fetchone()
    if row is not None or not create:
        return None if row is None else int(row[0])
    cur = conn.execute("INSERT INTO persons (name, created_utc) VALUES (?, ?)",
                       (name, _now().isoformat()))
    return int(cur.lastrowid or 0)


def save_result(
    result: Mapping[str, Any],
    *,
    person: str = DEFAULT_PERSON,
    measured_at: datetime | None = None,
    json_path: str | Path | None = None,
    db_path: str | Path | None = None,
) -> HistoryEntry:
    """Save one result (the RESULTS.md dict) into a person's history.

    Saving the same input file again (same ``source.sha256``) replaces the earlier row and
    keeps its test time unless ``measured_at`` is given, so re-running ``measure`` does not
    invent a second test.

    Args:
        result: The result dict, as ``media.document.result_document`` returns it.
        person: Whose history; created on first save. Names match case-insensitively.
        measured_at: When the test was done; default: the result's ``measured_at`` field,
            else now.
        json_path: Where the result JSON was written, so a report can find its CSV and key
            frame later.
        db_path: Database file; default :func:`default_db_path`.

    Returns:
        The saved entry.

    Raises:
        InputError: If the result or the name is malformed, or the database is unusable.

    """
    data = validate_result(result)
    name = check_person(person)
    path = Path(db_path) if db_path is not None else default_db_path()
    key = input_key(data)
    when = measured_time(data, measured_at)
    with closing(_connect(path, create=True)) as conn, conn:
        pid = _person_id(conn, name, create=True)
        old = conn.execute("SELECT measured_utc FROM results WHERE person_id = ? AND "
                           "input_key = ?", (pid, key)).fetchone()
        stamp = (when or (datetime.fromisoformat(old[0]) if old else _now())).isoformat()
        source = src if isinstance(src := data.get("source"), Mapping) else {}
        conn.execute(
            f"INSERT INTO results (person_id, input_key, measured_utc, saved_utc, source_kind, "
            f"source_path, json_path, {', '.join(_COLUMNS)}, result_json) VALUES "
            f"({', '.join('?' * (8 + len(_COLUMNS)))}) ON CONFLICT (person_id, input_key) DO "
            "UPDATE SET measured_utc = excluded.measured_utc, saved_utc = excluded.saved_utc, "
            "source_kind = excluded.source_kind, source_path = excluded.source_path, "
            "json_path = COALESCE(excluded.json_path, json_path), "
            + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS)
            + ", result_json = excluded.result_json",
            (pid, key, stamp, _now().isoformat(), source.get("kind"), source.get("path"),
             None if json_path is None else str(Path(json_path).resolve()), *result_angles(data),
             json.dumps(data, ensure_ascii=False, default=str)))
    return next(e for e in load_history(name, db_path=path)
                if input_key(e.result) == key)


def list_people(*, db_path: str | Path | None = None) -> tuple[str, ...]:
    """Return the names with a history, sorted; empty when there is no database yet."""
    path = Path(db_path) if db_path is not None else default_db_path()
    if not path.is_file():
        return ()
    with closing(_connect(path, create=False)) as conn:
        rows = conn.execute("SELECT name FROM persons ORDER BY name COLLATE NOCASE").fetchall()
    return tuple(r[0] for r in rows)


def people_with_test(result: Mapping[str, Any], *, db_path: str | Path | None = None
                     ) -> tuple[str, ...]:
    """The people whose history holds the test ``result`` records (the same input), sorted.

    Matched by content, as :func:`save_result` keys a test, so a moved, copied or
    overwritten result file is still told apart.
    """
    path = Path(db_path) if db_path is not None else default_db_path()
    if not path.is_file():
        return ()
    with closing(_connect(path, create=False)) as conn:
        rows = conn.execute(
            "SELECT DISTINCT p.name FROM results r JOIN persons p ON p.id = r.person_id "
            "WHERE r.input_key = ? ORDER BY p.name COLLATE NOCASE",
            (input_key(result),)).fetchall()
    return tuple(r[0] for r in rows)


def _entry(row: Sequence[Any]) -> HistoryEntry:
    """Build an entry from a SELECT row (see :func:`load_history`).

    The stored result and angle columns are checked like a result file, so an edited
    database gives one clear error instead of absurd plots.
    """
    rid, person, when, kind, src, jpath, *vals, text, excluded = row
    where = f"history database row {rid}"
    result = validate_result(loads_bounded(str(text), name=where), name=where)
    for column, value in zip(_COLUMNS, vals, strict=True):
        check_number(value, f"{where}: {column}",
                     INTERVAL_RANGE if "ci95" in column else ANGLE_RANGE)
    try:
        measured = datetime.fromisoformat(when)
    except (TypeError, ValueError) as err:
        raise InputError(f"{where}: measured_utc {when!r} is not an ISO date; move the "
                         "database away or set HIPROM_HOME to another folder.") from err
    per_side = {s: vals[3 * i: 3 * i + 3] for i, s in enumerate(Side)}
    return HistoryEntry(int(rid), person, measured, kind, src, jpath,
                        {s: v[0] for s, v in per_side.items()},
                        {s: v[1] for s, v in per_side.items()},
                        {s: v[2] for s, v in per_side.items()}, result,
                        bool(excluded))


def load_history(
    person: str = DEFAULT_PERSON, *, db_path: str | Path | None = None
) -> tuple[HistoryEntry, ...]:
    """Return a person's saved tests, oldest first.

    Raises:
        InputError: If there is no database or no such person (the message lists the known
            names).

    """
    name = check_person(person)
    path = Path(db_path) if db_path is not None else default_db_path()
    known = list_people(db_path=path)
    if name.casefold() not in {k.casefold() for k in known}:
        hint = f"known: {', '.join(known)}" if known else f"no history at {path} yet"
        raise InputError(f"No saved results for person {name!r} ({hint}); save a test for "
                         "them with hiprom measure first, or pick a known name.")
    with closing(_connect(path, create=False)) as conn:
        rows = conn.execute(
            "SELECT r.id, p.name, r.measured_utc, r.source_kind, r.source_path, r.json_path, "
            f"{', '.join('r.' + c for c in _COLUMNS)}, r.result_json, r.excluded FROM results r "
            "JOIN "
            "persons p ON p.id = r.person_id WHERE p.name = ? ORDER BY r.measured_utc, r.id",
            (name,)).fetchall()
    return tuple(_entry(r) for r in rows)


def _edit_entry(person: str, entry_id: int, sql: str, db_path: str | Path | None,
                params: tuple[Any, ...] = ()) -> None:
    """Run ``sql`` (``... WHERE id = ?``) on one of ``person``'s tests, or say it is not theirs."""
    name = check_person(person)
    ids = {e.id for e in load_history(name, db_path=db_path)}
    if entry_id not in ids:
        raise InputError(f"{name!r} has no test with id {entry_id}; hiprom history --person "
                         f"{name} lists the ids ({', '.join(map(str, sorted(ids)))}).")
    path = Path(db_path) if db_path is not None else default_db_path()
    with closing(_connect(path, create=True)) as conn, conn:
        conn.execute(sql, (*params, entry_id))


def delete_result(person: str, entry_id: int, *, db_path: str | Path | None = None) -> None:
    """Delete one saved test of ``person`` for good."""
    _edit_entry(person, entry_id, "DELETE FROM results WHERE id = ?", db_path)


def set_excluded(person: str, entry_id: int, excluded: bool = True, *,
                 db_path: str | Path | None = None) -> None:
    """Keep one saved test but leave it out of trends and changes (or take it back in)."""
    _edit_entry(person, entry_id, "UPDATE results SET excluded = ? WHERE id = ?", db_path,
                (int(excluded),))


# ---------------------------------------------------------------------------- progress
def combined_ci95(previous_ci95_deg: float, latest_ci95_deg: float) -> float:
    """Return the 95% half-width of the difference of two independent readings."""
    return math.hypot(previous_ci95_deg, latest_ci95_deg)


@dataclass(frozen=True)
class LegChange:
    """The change of one leg's IR between its last two tests.

    Attributes:
        side: The leg.
        previous_deg: IR at the earlier test.
        latest_deg: IR at the latest test.
        delta_deg: ``latest − previous`` (+ = more IR).
        previous_at: Time of the earlier test.
        latest_at: Time of the latest test.
        mdc95_deg: The tool's test–retest MDC95.
        combined_ci95_deg: √(ci95² + ci95²) of the two readings.
        threshold_deg: The larger of the two; ``|delta|`` must exceed it.
        limited_by: ``"MDC95"`` or ``"combined interval"``: which threshold was larger.
        real: Whether ``|delta_deg| > threshold_deg``.
        sentence: One plain sentence for people.

    """

    side: Side
    previous_deg: float
    latest_deg: float
    delta_deg: float
    previous_at: datetime
    latest_at: datetime
    mdc95_deg: float
    combined_ci95_deg: float
    threshold_deg: float
    limited_by: str
    real: bool
    sentence: str


def _change_sentence(c: LegChange, flagged: tuple[str, ...]) -> str:
    """Word a change and say which error limit decided it."""
    move = "rose" if c.delta_deg > 0 else "fell" if c.delta_deg < 0 else "did not change"
    # the change between the two values as shown, so the words add up (30.63 → 31.16 is
    # "0.6° (30.6° → 31.2°)", not "0.5°")
    shown = abs(round(c.latest_deg, 1) - round(c.previous_deg, 1))
    head = (f"{c.side.value.capitalize()} IR {move} {shown:.1f}° "
            f"({c.previous_deg:.1f}° → {c.latest_deg:.1f}°) since "
            f"{c.previous_at.date().isoformat()}")
    mdc = f"MDC95 ({c.mdc95_deg:.1f}°)"
    comb = f"combined 95% interval (±{c.combined_ci95_deg:.1f}°)"
    if c.real:
        text = f"{head}: a real change, larger than both the tool's {mdc} and the readings' {comb}."
    elif c.limited_by == "MDC95":
        text = (f"{head}: not a real change. It is within the tool's {mdc}, the stricter limit "
                f"here (the readings' {comb} is narrower).")
    else:
        text = (f"{head}: not a real change. It is within the readings' {comb}, the stricter "
                f"limit here (wider than the tool's {mdc}): these readings were too noisy.")
    if flagged:
        text += f" Read with care: quality flags {', '.join(flagged)}."
    return text


def _ci(entry: HistoryEntry, side: Side) -> float:
    """Return one reading's 95% half-width, or the tool default when it was not stored."""
    value = entry.ci95_deg[side]
    return DEFAULT_CI95_DEG if value is None else value


def _leg_change(entries: Sequence[HistoryEntry], side: Side, mdc95_deg: float) -> LegChange | None:
    """Return the change between the last two comparable tests of ``side``.

    Comparable: both count for that leg (:meth:`HistoryEntry.counts`) and both are of the
    same kind (two videos, or two photos).
    """
    measured = [e for e in entries if e.counts(side)]
    if not measured:
        return None
    last = measured[-1]
    earlier = [e for e in measured[:-1] if e.kind == last.kind]
    if not earlier:
        return None
    prev = earlier[-1]
    before, after = float(prev.ir_deg[side] or 0.0), float(last.ir_deg[side] or 0.0)
    comb = combined_ci95(_ci(prev, side), _ci(last, side))
    threshold = max(mdc95_deg, comb)
    change = LegChange(side, before, after, after - before, prev.measured_at, last.measured_at,
                       mdc95_deg, comb, threshold,
                       "MDC95" if mdc95_deg >= comb else "combined interval",
                       abs(after - before) > threshold, "")
    flagged = tuple(dict.fromkeys(prev.leg_quality(side) + last.leg_quality(side)))
    return replace(change, sentence=_change_sentence(change, flagged))


def changes_since_last(
    entries: Sequence[HistoryEntry], *, mdc95_deg: float = DEFAULT_MDC95_DEG
) -> dict[Side, LegChange | None]:
    """Judge each leg's change between its last two tests against the measurement error.

    A change is real only when ``|Δ|`` exceeds both the tool's MDC95 (test–retest error,
    clinical-notes §3) and the combined 95% interval of the two readings' ``ci95`` values;
    :attr:`LegChange.limited_by` says which of the two was the larger (deciding) limit.

    Args:
        entries: Tests, oldest first (as :func:`load_history` returns them).
        mdc95_deg: The tool's MDC95 in degrees.

    Returns:
        Per side the change, or None when that leg has fewer than two tests.

    """
    return {side: _leg_change(entries, side, mdc95_deg) for side in Side}
