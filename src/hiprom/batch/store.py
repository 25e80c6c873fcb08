"""The batch results store: one SQLite file in the output folder.

Only the process that drives a batch opens the store; workers (local processes or Dask
workers) compute and hand their outcome back. Every finished input is written in one
transaction, so a run killed at any moment leaves each input either fully recorded or
absent, and a re-run scores exactly what is missing.

Identity is the content: an input is keyed by the sha256 of its bytes together with a
*settings key* (a hash of everything that changes the numbers or the outputs), so a
renamed file is not scored twice, an edited file is scored again, and changing the
measuring options re-scores everything under the new settings. The schema is documented
in ``docs/BATCH.md``; :data:`SCHEMA_VERSION` is stored in the ``meta`` table.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from hiprom.errors import HipromError, StoreError
from hiprom.vocabulary import SIDES

__all__ = [
    "DEFAULT_STORE_NAME",
    "SCHEMA_VERSION",
    "InputRecord",
    "LEG_COLUMNS",
    "OutcomeRecord",
    "ResultStore",
    "StoredResult",
    "iter_leg_rows",
    "settings_key",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: File name of the store inside the output folder.
DEFAULT_STORE_NAME = "hiprom-batch.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id         INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at     TEXT NOT NULL,
    finished_at    TEXT,
    hiprom_version TEXT NOT NULL,
    settings_key   TEXT NOT NULL,
    settings_json  TEXT NOT NULL,
    n_inputs       INTEGER,
    n_scored       INTEGER,
    n_skipped      INTEGER,
    n_failed       INTEGER
);
CREATE TABLE IF NOT EXISTS inputs (
    path          TEXT PRIMARY KEY,
    input_sha256  TEXT NOT NULL,
    size_bytes    INTEGER,
    mtime_ns      INTEGER,
    patient_id    TEXT,
    session_date  TEXT,
    side_tested   TEXT,
    notes         TEXT,
    last_run_id   INTEGER REFERENCES runs(run_id)
);
CREATE TABLE IF NOT EXISTS results (
    input_sha256   TEXT NOT NULL,
    settings_key   TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error_type     TEXT,
    error_message  TEXT,
    result_json    TEXT,
    output_dir     TEXT,
    output_files   TEXT NOT NULL DEFAULT '[]',
    hiprom_version TEXT,
    model_name     TEXT,
    model_sha256   TEXT,
    n_frames       INTEGER,
    duration_s     REAL,
    compute_s      REAL,
    worker         TEXT,
    run_id         INTEGER REFERENCES runs(run_id),
    finished_at    TEXT NOT NULL,
    PRIMARY KEY (input_sha256, settings_key)
);
CREATE INDEX IF NOT EXISTS inputs_by_hash ON inputs (input_sha256);
"""


@dataclass(frozen=True)
class InputRecord:
    """One input file as the batch found it.

    Attributes:
        path: absolute path of the file.
        sha256: hex sha256 of its bytes (or ``unreadable:<path>`` when it could not be read).
        size_bytes: size when hashed, or None.
        mtime_ns: modification time when hashed, or None.
        patient_id, session_date, side_tested, notes: identifiers from a manifest or the
            file name; None when not given.

    """

    path: str
    sha256: str
    size_bytes: int | None = None
    mtime_ns: int | None = None
    patient_id: str | None = None
    session_date: str | None = None
    side_tested: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class OutcomeRecord:
    """What scoring one input produced, ready to commit.

    Attributes:
        sha256: content hash of the input.
        ok: True when a measurement was produced.
        result: the ``hiprom-result/1`` document (RESULTS.md) when ``ok``.
        error_type: exception class name when not ``ok``.
        error_message: the one-line reason when not ``ok``.
        output_dir: folder holding the per-video files, or None.
        output_files: the files written for this input.
        n_frames: frames analysed (0 when unknown).
        compute_s: wall time spent scoring, seconds.
        worker: ``host:pid`` of the process that scored it.

    """

    sha256: str
    ok: bool
    result: Mapping[str, Any] | None = None
    error_type: str | None = None
    error_message: str | None = None
    output_dir: str | None = None
    output_files: tuple[str, ...] = ()
    n_frames: int = 0
    compute_s: float = 0.0
    worker: str = ""


@dataclass(frozen=True)
class StoredResult:
    """An input joined with its result under one settings key (None when not scored)."""

    input: InputRecord
    status: str | None
    result: dict[str, Any] | None
    error_type: str | None
    error_message: str | None
    output_dir: str | None
    finished_at: str | None

    @property
    def refused(self) -> bool:
        """Scored, but not the seated test: kept with its reason and no values."""
        protocol = (self.result or {}).get("protocol") or {}
        return self.status == "ok" and protocol.get("valid") is False

    @property
    def failure(self) -> str:
        """Why the input failed, in one line for a person.

        The message without the input's path in front or inside (the path is shown beside
        it; inside, its file name stays), and the error's type only for a crash or a bug,
        not for an error the tool raises on purpose (bad input, nothing measurable).
        """
        text = (self.error_message or "").strip()
        head, sep, rest = text.partition(": ")
        name = Path(self.input.path.rstrip("/")).name
        if sep and rest and (head == self.input.path or (name and head.endswith(name))):
            text = rest
        local = self.input.path.removeprefix("file://")
        if name and len(local) > len(name):
            text = text.replace(local, name)
        if self.error_type and self.error_type not in _EXPECTED_ERRORS:
            text = f"{self.error_type}: {text}"
        return text or "failed, no reason recorded"


def _subclass_names(cls: type) -> set[str]:
    names = {cls.__name__}
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        names |= _subclass_names(sub)
    return names


#: Errors raised on purpose, whose message alone says what was wrong and what to do.
_EXPECTED_ERRORS = frozenset(_subclass_names(HipromError))


def settings_key(settings: Mapping[str, Any]) -> str:
    """Short stable hash of the settings that change results (sorted-key JSON, sha256)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ResultStore:
    """SQLite results store; a context manager that closes the connection.

    Args:
        path: the database file; created with its folder when missing.

    Raises:
        StoreError: the file is not a SQLite database or has a newer schema.

    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            # WAL: readers (e.g. a progress monitor) never block the writer; FULL sync makes
            # every committed result survive a crash of the process or the machine.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as err:
            raise StoreError(
                f"{self.path} is not a usable hiprom results store ({err}); "
                "choose another --out folder or delete the file"
            ) from err

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {row[0]}, newer than this hiprom "
                f"understands ({SCHEMA_VERSION}); upgrade hiprom"
            )

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def begin_run(self, *, hiprom_version: str, settings_key: str,
                  settings: Mapping[str, Any]) -> int:
        """Record the start of a run and return its id."""
        cur = self._db.execute(
            "INSERT INTO runs (started_at, hiprom_version, settings_key, settings_json) "
            "VALUES (?, ?, ?, ?)",
            (_now(), hiprom_version, settings_key, json.dumps(settings, sort_keys=True)),
        )
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, *, n_inputs: int, n_scored: int, n_skipped: int,
                   n_failed: int) -> None:
        """Record the end of a run with its counts."""
        self._db.execute(
            "UPDATE runs SET finished_at=?, n_inputs=?, n_scored=?, n_skipped=?, n_failed=? "
            "WHERE run_id=?",
            (_now(), n_inputs, n_scored, n_skipped, n_failed, run_id),
        )

    def record_inputs(self, inputs: list[InputRecord], *, run_id: int) -> None:
        """Insert or update the inputs of a run (path → current hash and identifiers)."""
        rows = [(i.path, i.sha256, i.size_bytes, i.mtime_ns, i.patient_id, i.session_date,
                 i.side_tested, i.notes, run_id) for i in inputs]
        with self._transaction():
            self._db.executemany(
                "INSERT INTO inputs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE "
                "SET input_sha256=excluded.input_sha256, size_bytes=excluded.size_bytes, "
                "mtime_ns=excluded.mtime_ns, patient_id=excluded.patient_id, "
                "session_date=excluded.session_date, side_tested=excluded.side_tested, "
                "notes=excluded.notes, last_run_id=excluded.last_run_id",
                rows,
            )

    def statuses(self, settings_key: str) -> dict[str, str]:
        """``{sha256: 'ok' | 'failed'}`` of every input already scored under these settings."""
        cur = self._db.execute(
            "SELECT input_sha256, status FROM results WHERE settings_key=?", (settings_key,)
        )
        return dict(cur.fetchall())

    def commit_outcome(self, outcome: OutcomeRecord, *, settings_key: str, run_id: int) -> None:
        """Write one input's outcome in a single transaction (replacing an older one)."""
        result = outcome.result or {}
        model = result.get("model") or {}
        source = result.get("source") or {}
        row = (
            outcome.sha256, settings_key, "ok" if outcome.ok else "failed",
            outcome.error_type, outcome.error_message,
            json.dumps(result, sort_keys=True, allow_nan=False) if outcome.ok else None,
            outcome.output_dir, json.dumps(list(outcome.output_files)),
            result.get("hiprom_version"), model.get("name"), model.get("sha256"),
            outcome.n_frames, source.get("duration_s"), outcome.compute_s, outcome.worker,
            run_id, _now(),
        )
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO results VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

    def results(self, settings_key: str, *, paths: list[str] | None = None
                ) -> list[StoredResult]:
        """Every recorded input (or those in ``paths``) with its result under ``settings_key``.

        Inputs are ordered by path; an input not yet scored has ``status`` None.
        """
        cur = self._db.execute(
            "SELECT i.path, i.input_sha256, i.size_bytes, i.mtime_ns, i.patient_id, "
            "i.session_date, i.side_tested, i.notes, r.status, r.result_json, r.error_type, "
            "r.error_message, r.output_dir, r.finished_at FROM inputs i LEFT JOIN results r "
            "ON r.input_sha256 = i.input_sha256 AND r.settings_key = ? ORDER BY i.path",
            (settings_key,),
        )
        wanted = None if paths is None else set(paths)
        out = []
        for row in cur.fetchall():
            if wanted is not None and row[0] not in wanted:
                continue
            out.append(StoredResult(
                input=InputRecord(*row[:8]), status=row[8],
                result=self._stored_result(row[9], row[0]), error_type=row[10],
                error_message=row[11], output_dir=row[12], finished_at=row[13],
            ))
        return out

    def _stored_result(self, text: object, path: str) -> dict[str, Any] | None:
        """A stored result, checked like a result file (bounded parse, physical ranges)."""
        if not text:
            return None
        from hiprom.results.files import loads_bounded, validate_result

        where = f"results store {self.path}, the result of {path}"
        return validate_result(loads_bounded(str(text), name=where), name=where)

    def count_results(self, settings_key: str | None = None) -> int:
        """Number of result rows (under one settings key, or all)."""
        if settings_key is None:
            return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
        return int(self._db.execute(
            "SELECT COUNT(*) FROM results WHERE settings_key=?", (settings_key,)
        ).fetchone()[0])

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> None:
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                     tb: TracebackType | None) -> None:
            self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")

    def _transaction(self) -> ResultStore._Tx:
        return ResultStore._Tx(self._db)


def iter_leg_rows(stored: list[StoredResult]) -> Iterator[dict[str, Any]]:
    """Flatten stored results into ``results.csv`` rows: one per input per leg.

    A failed or unscored input still gets its two rows, with ``status`` and ``error`` set
    and the measurement cells empty, so the table lists every input.
    """
    for item in stored:
        doc = item.result or {}
        legs = doc.get("legs") or {}
        asym = doc.get("asymmetry") or {}
        model = doc.get("model") or {}
        protocol = doc.get("protocol") or {}
        for leg in SIDES:
            data = legs.get(leg) or {}
            verdict = data.get("verdict") or {}
            yield {
                "path": item.input.path,
                "leg": leg,
                "patient_id": item.input.patient_id,
                "session_date": item.input.session_date,
                "side_tested": item.input.side_tested,
                "notes": item.input.notes,
                "status": "refused" if item.refused else item.status or "pending",
                "protocol_valid": protocol.get("valid") if item.result else None,
                "protocol_reason": protocol.get("reason"),
                "tested": data.get("tested") if item.result else None,
                "internal_rotation_deg": data.get("internal_rotation_deg"),
                "internal_rotation_ci95_deg": data.get("internal_rotation_ci95_deg"),
                "external_rotation_deg": data.get("external_rotation_deg"),
                "external_rotation_ci95_deg": data.get("external_rotation_ci95_deg"),
                "verdict": verdict.get("code"),
                "borderline": verdict.get("borderline"),
                "asymmetry_deg": doc.get("asymmetry_deg"),
                "restricted_side": asym.get("restricted_side"),
                "asymmetry_exceeds_error": asym.get("exceeds_error"),
                "leg_quality": ";".join(data.get("quality") or []),
                "input_quality": ";".join(doc.get("quality") or []),
                "n_reps": len(data.get("reps") or []) if item.result else None,
                "hiprom_version": doc.get("hiprom_version"),
                "model_name": model.get("name"),
                "model_sha256": model.get("sha256"),
                "input_sha256": item.input.sha256,
                "error": None if item.status != "failed" else
                f"{item.error_type}: {item.error_message}",
                "output_dir": item.output_dir,
                "scored_at": item.finished_at,
            }


#: Column order of ``results.csv``.
LEG_COLUMNS: tuple[str, ...] = (
    "path", "leg", "patient_id", "session_date", "side_tested", "notes", "status",
    "protocol_valid", "protocol_reason", "tested", "internal_rotation_deg",
    "internal_rotation_ci95_deg", "external_rotation_deg", "external_rotation_ci95_deg",
    "verdict", "borderline", "asymmetry_deg", "restricted_side",
    "asymmetry_exceeds_error", "leg_quality", "input_quality", "n_reps", "hiprom_version",
    "model_name", "model_sha256", "input_sha256", "error", "output_dir", "scored_at",
)
