"""Readers of the result JSON of docs/RESULTS.md: validation, legs, angles and identity.

:mod:`hiprom.report.history` re-exports the public names (``SCHEMA``, :func:`read_result`,
:func:`validate_result`); the CLI and the report read result files through them. What a
file's legs may feed (routine, red flags) is read by :func:`hiprom.plan.interpret.leg_inputs`.

Convention:
    Degrees; + is internal rotation (IR); sides are the person's anatomical sides.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hiprom.errors import InputError
from hiprom.vocabulary import Side

__all__ = [
    "SCHEMA",
    "angle_or_none",
    "input_key",
    "measured_time",
    "read_result",
    "result_angles",
    "result_leg",
    "validate_result",
]

SCHEMA = "hiprom-result/2"
#: Result schemas this version reads: 2 adds ``protocol`` and each leg's ``tested``.
READABLE_SCHEMAS = frozenset({"hiprom-result/1", SCHEMA})


def angle_or_none(value: object, where: str) -> float | None:
    """Return ``value`` as a float angle, or None; raise InputError for anything else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{where} must be a number of degrees or null, got {value!r}; "
                         "re-create the file with hiprom measure.")
    return float(value)


def validate_result(result: object, *, name: str = "result") -> dict[str, Any]:
    """Check that ``result`` has the RESULTS.md shape this module reads, and return it.

    Raises:
        InputError: If the schema tag, the legs or an angle is missing or malformed.

    """
    if not isinstance(result, Mapping):
        raise InputError(f"{name} must be a JSON object, got {type(result).__name__}; "
                         "pass the <stem>.json written by hiprom measure.")
    if result.get("schema") not in READABLE_SCHEMAS:
        raise InputError(f"{name} is not a hiprom result (schema {SCHEMA!r} expected, got "
                         f"{result.get('schema')!r}); pass the <stem>.json of hiprom measure.")
    legs = result.get("legs")
    if not isinstance(legs, Mapping) or not all(isinstance(legs.get(s), Mapping) for s in Side):
        raise InputError(f"{name} has no 'legs' object with 'left' and 'right'; "
                         "re-create it with hiprom measure.")
    for side in Side:
        for key in ("internal_rotation_deg", "internal_rotation_ci95_deg",
                    "external_rotation_deg"):
            angle_or_none(legs[side].get(key), f"{name}: legs.{side}.{key}")
    return dict(result)


def read_result(path: str | Path) -> dict[str, Any]:
    """Read and validate a result JSON file.

    Raises:
        InputError: If the file is missing, not JSON, or not a hiprom result.

    """
    target = Path(path)
    if not target.is_file():
        raise InputError(f"Result file {target} not found; pass the <stem>.json that "
                         "hiprom measure wrote.")
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{target} is not valid JSON ({err}); pass an unmodified "
                         "hiprom result file.") from err
    return validate_result(data, name=str(target))


def result_leg(result: Mapping[str, Any], side: Side) -> Mapping[str, Any]:
    """Return the leg object of a validated result."""
    return result["legs"][side.value]


def result_angles(result: Mapping[str, Any]) -> tuple[float | None, ...]:
    """Return IR, IR ci95 and ER of each leg, left leg first (the history's angle columns)."""
    out: list[float | None] = []
    for side in Side:
        leg = result_leg(result, side)
        out += [angle_or_none(leg.get(k), k)
                for k in ("internal_rotation_deg", "internal_rotation_ci95_deg",
                          "external_rotation_deg")]
    return tuple(out)


def _as_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive datetime is taken as local time."""
    return value.astimezone(UTC)


def measured_time(result: Mapping[str, Any], given: datetime | None) -> datetime | None:
    """Return the test time: the argument, else the result's ``measured_at``, else None."""
    if given is not None:
        return _as_utc(given)
    stamp = result.get("measured_at")
    if isinstance(stamp, str):
        try:
            return _as_utc(datetime.fromisoformat(stamp))
        except ValueError:
            return None
    return None


def input_key(result: Mapping[str, Any]) -> str:
    """Return a key that is equal for re-saves of the same test (same input file)."""
    source = src if isinstance(src := result.get("source"), Mapping) else {}
    digest = source.get("sha256")
    if isinstance(digest, str) and digest and source.get("kind") != "live":
        return f"{source.get('kind')}:{digest}"
    text = json.dumps(result, sort_keys=True, ensure_ascii=False, default=str)
    return "result:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
