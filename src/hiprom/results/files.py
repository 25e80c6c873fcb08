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
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hiprom.errors import InputError
from hiprom.vocabulary import Side

__all__ = [
    "ANGLE_RANGE",
    "INTERVAL_RANGE",
    "MAX_RESULT_BYTES",
    "MAX_JSON_DEPTH",
    "SCHEMA",
    "angle_or_none",
    "check_number",
    "loads_bounded",
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
_FIX = "re-create the file with hiprom measure."

#: A result file is a few tens of kB; anything far larger is not one of ours.
MAX_RESULT_BYTES = 4 * 1024 * 1024
#: Results nest about 6 levels deep; deeper input is refused before it is parsed.
MAX_JSON_DEPTH = 32
#: Longest number literal accepted (a float with 17 significant digits and an exponent fits).
_MAX_NUMBER_CHARS = 40
_MAX_ITEMS = 1000
_MAX_TEXT = 10_000

# Physical ranges of what a result holds (name: (low, high, unit)).
_ANGLE = (-90.0, 90.0, "degrees")          # a hip rotation never exceeds ±90°
_INTERVAL = (0.0, 45.0, "degrees")         # half-width of a 95% interval
_DIFFERENCE = (-180.0, 180.0, "degrees")   # difference of two angles
_SECONDS = (0.0, 7 * 86400.0, "seconds")   # a timestamp or duration: finite, >= 0
_FPS = (0.0, 1000.0, "frames per second")
_FRAMES = (0, 100_000_000, "frames")
_PIXELS = (1, 100_000, "pixels")
_FRACTION = (0.0, 1.0, "(a fraction)")
_FEATURE = (-1000.0, 1000.0, "(a ratio of lengths)")
_SHANKS = (-100.0, 100.0, "shank lengths")
ANGLE_RANGE, INTERVAL_RANGE = _ANGLE, _INTERVAL
#: A JSON string; the closing quote is optional so an unterminated one matches to the end
#: in one pass (no retries, linear time).
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?')


def angle_or_none(value: object, where: str) -> float | None:
    """Return ``value`` as a float angle, or None; raise InputError for anything else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{where} must be a number of degrees or null, got {value!r}; "
                         "re-create the file with hiprom measure.")
    return float(value)


def _number(value: object, where: str, limits: tuple[float, float, str], *,
            integer: bool = False, nullable: bool = True) -> None:
    """Raise InputError unless ``value`` is a number within ``limits`` (or None if allowed)."""
    if value is None and nullable:
        return
    low, high, unit = limits
    kind = int if integer else int | float
    if (isinstance(value, bool) or not isinstance(value, kind)
            or not (math.isfinite(value) and low <= value <= high)):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        null = " or null" if nullable else ""
        raise InputError(f"{where} must be {'a whole' if integer else 'a'} number from {low:g} "
                         f"to {high:g} {unit}{null}, got {shown}; {_FIX}")


def check_number(value: object, where: str, limits: tuple[float, float, str]) -> None:
    """Raise a one-line InputError unless ``value`` is None or a number within ``limits``."""
    _number(value, where, limits)


def _typed(value: object, where: str, kind: type | tuple[type, ...], what: str) -> None:
    if value is not None and not isinstance(value, kind):
        raise InputError(f"{where} must be {what} or null, got {type(value).__name__}; {_FIX}")
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        raise InputError(f"{where} is longer than {_MAX_TEXT} characters; {_FIX}")


def _flags(value: object, where: str) -> None:
    _typed(value, where, list, "a list of flag names")
    if isinstance(value, list) and (len(value) > _MAX_ITEMS
                                    or not all(isinstance(f, str) and len(f) <= 64 for f in value)):
        raise InputError(f"{where} must be a list of at most {_MAX_ITEMS} flag names; {_FIX}")


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    _typed(value, where, Mapping, "an object")
    return value if isinstance(value, Mapping) else {}


def _texts(value: object, where: str) -> None:
    _typed(value, where, list, "a list of text")
    if isinstance(value, list) and (len(value) > _MAX_ITEMS or not all(
            isinstance(f, str) and len(f) <= _MAX_TEXT for f in value)):
        raise InputError(f"{where} must be a list of at most {_MAX_ITEMS} texts; {_FIX}")


def _check_protocol(protocol: Mapping[str, Any], where: str) -> None:
    _typed(protocol.get("valid"), f"{where}.valid", bool, "true or false")
    for key in ("reason", "note"):
        _typed(protocol.get(key), f"{where}.{key}", str, "text")
    _texts(protocol.get("advice"), f"{where}.advice")
    _number(protocol.get("usable_fraction"), f"{where}.usable_fraction", _FRACTION)
    features = _mapping(protocol.get("features"), f"{where}.features")
    if len(features) > _MAX_ITEMS:
        raise InputError(f"{where}.features has more than {_MAX_ITEMS} entries; {_FIX}")
    for key, value in features.items():
        _number(value, f"{where}.features.{str(key)[:40]}", _FEATURE)


def _check_verdict(verdict: Mapping[str, Any], where: str) -> None:
    for key in ("code", "sentence", "reason"):
        _typed(verdict.get(key), f"{where}.{key}", str, "text")
    _typed(verdict.get("borderline"), f"{where}.borderline", bool, "true or false")
    _number(verdict.get("ir_deg"), f"{where}.ir_deg", _ANGLE)
    _number(verdict.get("ci95_deg"), f"{where}.ci95_deg", _INTERVAL)
    band = _mapping(verdict.get("band"), f"{where}.band")
    _typed(band.get("label"), f"{where}.band.label", str, "text")
    for key in ("lower_deg", "upper_deg"):
        _number(band.get(key), f"{where}.band.{key}", _ANGLE)


def _check_reps(reps: object, where: str) -> None:
    _typed(reps, where, list, "a list")
    if not isinstance(reps, list):
        return
    if len(reps) > _MAX_ITEMS:
        raise InputError(f"{where} has {len(reps)} reps, more than {_MAX_ITEMS}; {_FIX}")
    for i, rep in enumerate(reps):
        at = f"{where}[{i}]"
        if not isinstance(rep, Mapping):
            raise InputError(f"{at} must be an object, got {type(rep).__name__}; {_FIX}")
        if rep.get("direction") not in (None, "internal", "external"):
            raise InputError(f"{at}.direction must be 'internal' or 'external'; {_FIX}")
        _number(rep.get("value_deg"), f"{at}.value_deg", _ANGLE)
        _number(rep.get("ci95_deg"), f"{at}.ci95_deg", _INTERVAL)
        _number(rep.get("start_s"), f"{at}.start_s", _SECONDS)
        _number(rep.get("end_s"), f"{at}.end_s", _SECONDS)
        _flags(rep.get("quality"), f"{at}.quality")
        _typed(rep.get("used"), f"{at}.used", bool, "true or false")
        movement = _mapping(rep.get("movement"), f"{at}.movement")
        for key in ("pelvis_roll_deg", "trunk_lean_deg"):
            _number(movement.get(key), f"{at}.movement.{key}", _DIFFERENCE)
        _number(movement.get("knee_drift"), f"{at}.movement.knee_drift", _SHANKS)


def _check_leg(leg: Mapping[str, Any], where: str) -> None:
    _typed(leg.get("tested"), f"{where}.tested", bool, "true or false")
    for key in ("internal_rotation_deg", "external_rotation_deg", "neutral_deg"):
        _number(leg.get(key), f"{where}.{key}", _ANGLE)
    for key in ("internal_rotation_ci95_deg", "external_rotation_ci95_deg", "noise_sd_deg"):
        _number(leg.get(key), f"{where}.{key}", _INTERVAL)
    _check_verdict(_mapping(leg.get("verdict"), f"{where}.verdict"), f"{where}.verdict")
    _flags(leg.get("quality"), f"{where}.quality")
    _check_reps(leg.get("reps"), f"{where}.reps")


def _check_source(source: Mapping[str, Any], where: str) -> None:
    for key in ("path", "kind", "sha256", "sampling"):
        _typed(source.get(key), f"{where}.{key}", str, "text")
    for key in ("mirrored", "truncated"):
        _typed(source.get(key), f"{where}.{key}", bool, "true or false")
    _number(source.get("fps"), f"{where}.fps", _FPS)
    _number(source.get("n_frames"), f"{where}.n_frames", _FRAMES, integer=True)
    _number(source.get("frames_analysed"), f"{where}.frames_analysed", _FRAMES, integer=True)
    _number(source.get("frames_analysed_fraction"), f"{where}.frames_analysed_fraction",
            _FRACTION)
    _number(source.get("duration_s"), f"{where}.duration_s", _SECONDS)
    _number(source.get("decode_gap_s"), f"{where}.decode_gap_s", _SECONDS)
    gaps = source.get("decode_gaps")
    _typed(gaps, f"{where}.decode_gaps", list, "a list of [start_s, end_s]")
    if isinstance(gaps, list):
        if len(gaps) > _MAX_ITEMS:
            raise InputError(f"{where}.decode_gaps has more than {_MAX_ITEMS} entries; {_FIX}")
        for gap in gaps:
            if not isinstance(gap, list) or len(gap) != 2:
                raise InputError(f"{where}.decode_gaps must hold [start_s, end_s] pairs; {_FIX}")
            for value in gap:
                _number(value, f"{where}.decode_gaps", _SECONDS)
    size = source.get("resolution_wh")
    if size is not None:
        if not isinstance(size, Sequence) or isinstance(size, str) or len(size) != 2:
            raise InputError(f"{where}.resolution_wh must be [width, height]; {_FIX}")
        for value in size:
            _number(value, f"{where}.resolution_wh", _PIXELS, integer=True, nullable=False)


def validate_result(result: object, *, name: str = "result") -> dict[str, Any]:
    """Check that ``result`` has the RESULTS.md shape, every number in its physical range.

    Angles must lie within ±90°, 95% half-widths within 0–45°, times be finite and ≥ 0,
    counts whole and bounded; text fields must be text, flags lists of names.

    Raises:
        InputError: naming the first field that is missing, malformed or out of range.

    """
    if not isinstance(result, Mapping):
        raise InputError(f"{name} must be a JSON object, got {type(result).__name__}; "
                         "pass the <stem>.json written by hiprom measure.")
    schema = result.get("schema")
    if not isinstance(schema, str) or schema not in READABLE_SCHEMAS:  # a list is unhashable
        shown = repr(result.get("schema"))[:60]
        raise InputError(f"{name} is not a hiprom result (schema {SCHEMA!r} expected, got "
                         f"{shown}); pass the <stem>.json of hiprom measure.")
    legs = result.get("legs")
    if not isinstance(legs, Mapping) or not all(isinstance(legs.get(s), Mapping) for s in Side):
        raise InputError(f"{name} has no 'legs' object with 'left' and 'right'; "
                         "re-create it with hiprom measure.")
    for side in Side:
        _check_leg(legs[side], f"{name}: legs.{side}")
    _number(result.get("asymmetry_deg"), f"{name}: asymmetry_deg", _DIFFERENCE)
    asym = _mapping(result.get("asymmetry"), f"{name}: asymmetry")
    _number(asym.get("difference_deg"), f"{name}: asymmetry.difference_deg", _DIFFERENCE)
    for key in ("restricted_side", "sentence"):
        _typed(asym.get(key), f"{name}: asymmetry.{key}", str, "text")
    _check_source(_mapping(result.get("source"), f"{name}: source"), f"{name}: source")
    _check_protocol(_mapping(result.get("protocol"), f"{name}: protocol"), f"{name}: protocol")
    model = _mapping(result.get("model"), f"{name}: model")
    for key in ("name", "sha256"):
        _typed(model.get(key), f"{name}: model.{key}", str, "text")
    for key in ("hiprom_version", "measured_at", "disclaimer", "convention"):
        _typed(result.get(key), f"{name}: {key}", str, "text")
    _flags(result.get("quality"), f"{name}: quality")
    _typed(result.get("recommendations"), f"{name}: recommendations", Mapping, "an object")
    _typed(result.get("red_flags"), f"{name}: red_flags", list, "a list")
    return dict(result)


def _json_depth(text: str) -> int:
    """Deepest nesting of ``[`` and ``{`` in JSON text, strings ignored (no recursion)."""
    code = np.frombuffer(_JSON_STRING.sub("", text).encode("utf-8", "replace"), np.uint8)
    step = (np.isin(code, (ord("["), ord("{"))).astype(np.int64)
            - np.isin(code, (ord("]"), ord("}"))))
    return int(np.cumsum(step).max(initial=0))


def _bounded_number(text: str) -> int | float:
    if len(text) > _MAX_NUMBER_CHARS:
        raise ValueError(f"a number literal of {len(text)} characters")
    value = float(text) if any(c in text for c in ".eE") else int(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} overflows a number")
    return value


def _no_constant(text: str) -> float:
    raise ValueError(f"{text} is not a JSON number")


def loads_bounded(text: str, *, name: str = "result") -> Any:
    """Parse JSON text of bounded size, depth and number length, or raise InputError.

    Refuses text longer than :data:`MAX_RESULT_BYTES`, nesting deeper than
    :data:`MAX_JSON_DEPTH` (checked before parsing, so no RecursionError), number literals
    longer than 40 characters, and ``NaN``/``Infinity``.
    """
    if len(text) > MAX_RESULT_BYTES:
        raise InputError(f"{name} is {len(text)} characters, more than a result file can be "
                         f"({MAX_RESULT_BYTES}); pass the <stem>.json written by hiprom measure.")
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise InputError(f"{name} nests {depth} levels deep, more than a result file can "
                         f"({MAX_JSON_DEPTH}); pass the <stem>.json written by hiprom measure.")
    try:
        return json.loads(text, parse_int=_bounded_number, parse_float=_bounded_number,
                          parse_constant=_no_constant)
    except RecursionError as err:  # defence in depth: the depth check should stop it first
        raise InputError(f"{name} nests too deeply to be a result file; {_FIX}") from err
    except ValueError as err:  # JSONDecodeError, and the number checks above
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise InputError(f"{name} is not valid JSON ({reason}); pass an unmodified "
                         "hiprom result file.") from err


def read_result(path: str | Path) -> dict[str, Any]:
    """Read and validate a result JSON file.

    Raises:
        InputError: If the file is missing, not JSON, or not a hiprom result.

    """
    target = Path(path)
    if not target.is_file():
        raise InputError(f"Result file {target} not found; pass the <stem>.json that "
                         "hiprom measure wrote.")
    size = target.stat().st_size
    if size > MAX_RESULT_BYTES:
        raise InputError(f"{target} is {size} bytes, more than a result file can be "
                         f"({MAX_RESULT_BYTES}); pass the <stem>.json written by hiprom measure.")
    try:
        text = target.read_bytes()[:MAX_RESULT_BYTES + 1].decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{target} is not valid JSON ({err}); pass an unmodified "
                         "hiprom result file.") from err
    return validate_result(loads_bounded(text, name=str(target)), name=str(target))


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
