"""Bounded work on any result file: physical ranges, size and depth limits, and fuzzing.

Every reader of a result file (report, routines, history) goes through ``read_result``;
whatever the file holds, it either returns a valid result or raises ``InputError`` with one
line naming the field, in bounded time and memory.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hiprom.cli.main import app
from hiprom.errors import InputError
from hiprom.plan.interpret import leg_inputs
from hiprom.report.diagrams import build_norm_band_svg
from hiprom.report.history import read_result, validate_result
from hiprom.report.html import build_report, read_angle_csv

DATA = Path(__file__).parent / "data" / "results"
REAL = json.loads((DATA / "seated_clip.json").read_text())


def _write(tmp_path: Path, text: str, name: str = "r.json") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _with(path: tuple, value: object) -> dict:
    doc = copy.deepcopy(REAL)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@pytest.mark.reliability(case="tampered result: an interval of 1e308 or 1e5, an angle of 400 "
                         "digits, 100,000-deep arrays, NaN",
                         outcome="one-line InputError naming the field and its range")
@pytest.mark.parametrize(("text", "match"), [
    (json.dumps(_with(("legs", "left", "internal_rotation_ci95_deg"), 1e308)),
     r"legs\.left\.internal_rotation_ci95_deg must be a number from 0 to 45 degrees"),
    (json.dumps(_with(("legs", "left", "internal_rotation_ci95_deg"), 1e5)),
     r"internal_rotation_ci95_deg must be a number from 0 to 45"),
    (json.dumps(_with(("legs", "right", "internal_rotation_deg"), 91.0)),
     r"legs\.right\.internal_rotation_deg must be a number from -90 to 90"),
    (json.dumps(_with(("legs", "left", "reps", 0, "start_s"), -1.0)),
     r"legs\.left\.reps\[0\]\.start_s must be a number from 0 to"),
    (json.dumps(_with(("legs", "left", "reps", 0, "movement"), {"knee_drift": 1e9})),
     r"legs\.left\.reps\[0\]\.movement\.knee_drift must be a number from -100 to 100"),
    (json.dumps(_with(("legs", "left", "reps", 0, "movement"), {"pelvis_roll_deg": "6"})),
     r"reps\[0\]\.movement\.pelvis_roll_deg must be a number"),
    (json.dumps(_with(("legs", "left", "reps", 0, "movement"), [1, 2])),
     r"reps\[0\]\.movement must be an object"),
    (json.dumps(_with(("source", "n_frames"), -3)), r"source\.n_frames must be a whole number"),
    (json.dumps(_with(("source", "resolution_wh"), [0, 10])), r"resolution_wh must be"),
    (json.dumps(_with(("legs", "left", "external_rotation_deg"), "30")), r"must be a number"),
    (json.dumps(_with(("legs", "left", "tested"), "yes")), r"legs\.left\.tested must be true"),
    (json.dumps(_with(("protocol",), {"valid": True, "usable_fraction": 7.0})),
     r"protocol\.usable_fraction must be a number from 0 to 1"),
    (json.dumps(_with(("protocol",), {"valid": True, "features": {"thigh": 1e308}})),
     r"protocol\.features\.thigh must be a number"),
    (json.dumps(_with(("source", "frames_analysed"), 1.5)),
     r"source\.frames_analysed must be a whole number"),
    (json.dumps(REAL).replace('"internal_rotation_deg": 28.4',
                              '"internal_rotation_deg": ' + "9" * 400), "number literal of 400"),
    (json.dumps(REAL).replace('"internal_rotation_deg": 28.4',
                              '"internal_rotation_deg": ' + "[" * 100_000 + "]" * 100_000),
     "nests 100003 levels deep"),
    ("[" * 100_000, "nests 100000 levels deep"),
    (json.dumps(REAL).replace('"internal_rotation_deg": 28.4', '"internal_rotation_deg": NaN'),
     "NaN is not a JSON number"),
    (json.dumps(REAL).replace('"internal_rotation_deg": 28.4', '"internal_rotation_deg": 1e999'),
     "overflows"),
])
def test_out_of_range_and_oversized_results_are_one_line_errors(tmp_path, text, match):
    with pytest.raises(InputError, match=match) as info:
        read_result(_write(tmp_path, text))
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.json"
    path.write_text(" " * (5 * 1024 * 1024) + "{}")
    with pytest.raises(InputError, match="more than a result file can be"):
        read_result(path)


def test_the_real_results_pass(tmp_path):
    for name in ("seated_clip.json", "still_right.json"):
        read_result(DATA / name)


@pytest.mark.reliability(case="`hiprom report` on a result whose interval is 1e308",
                         outcome="exit 1 with one line at once (was: memory grew until killed)")
def test_report_cli_refuses_an_absurd_interval_quickly(tmp_path):
    path = _write(tmp_path, json.dumps(_with(("legs", "left", "internal_rotation_ci95_deg"),
                                             1e308)))
    t0 = time.monotonic()
    result = CliRunner().invoke(app, ["report", str(path), "--out", str(tmp_path / "r.html")])
    assert time.monotonic() - t0 < 10
    assert result.exit_code == 1
    assert "internal_rotation_ci95_deg must be a number from 0 to 45" in result.output
    assert not (tmp_path / "r.html").exists()


def test_norm_band_chart_clamps_whatever_it_is_given():
    t0 = time.monotonic()
    svg = build_norm_band_svg({"Left": (1e308, 1e308, "typical"), "Right": (-1e5, 1e5, "x")})
    assert time.monotonic() - t0 < 1 and len(svg) < 20_000
    assert svg.count("°</text>") < 40  # a bounded number of ticks


@pytest.mark.parametrize(("row", "match"), [
    ("1e308,1,2", "timestamp_s must be a number from 0"),
    ("-1,1,2", "timestamp_s must be a number from 0"),
    ("0.1,9999,2", "left_rotation_deg must be a number from -360 to 360"),
    ("0.1,1," + "9" * 400, "right_rotation_deg must be a number"),
])
def test_angle_csv_values_are_range_checked(tmp_path, row, match):
    path = _write(tmp_path, f"timestamp_s,left_rotation_deg,right_rotation_deg\n{row}\n",
                  "r.csv")
    with pytest.raises(InputError, match=match):
        read_angle_csv(path)


# --------------------------------------------------------------------------- fuzzing

JSON_SCALARS = (st.none() | st.booleans() | st.integers(-10**30, 10**30)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
JSONISH = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                       max_leaves=25)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


REAL_PATHS = _paths(REAL)


def _read_and_use(tmp_path: Path, text: str) -> None:
    """read_result either refuses with InputError or gives a result every reader handles."""
    path = _write(tmp_path, text)
    t0 = time.monotonic()
    try:
        result = read_result(path)
    except InputError as err:
        assert "\n" not in str(err)
        return
    finally:
        assert time.monotonic() - t0 < 5
    validate_result(result)
    leg_inputs(result)
    html = build_report(result)
    assert len(html) < 2_000_000


FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.mark.reliability(case="fuzzed result files: arbitrary JSON-ish documents",
                         outcome="a valid result or InputError, never another exception")
@FUZZ
@given(doc=JSONISH)
def test_fuzz_arbitrary_json(tmp_path, doc):
    _read_and_use(tmp_path, json.dumps(doc))
    _read_and_use(tmp_path, json.dumps({"schema": "hiprom-result/1", "legs": doc}))


@pytest.mark.reliability(case="fuzzed result files: a real result with one field replaced, "
                         "removed, or bytes overwritten",
                         outcome="a valid result or InputError, never another exception")
@FUZZ
@given(where=st.sampled_from(REAL_PATHS), value=JSONISH, drop=st.booleans(),
       offset=st.integers(0, 30_000), junk=st.binary(min_size=1, max_size=8))
# Found by this test: a null band label or sentence crashed the report.
@example(where=("legs", "left", "verdict", "band", "label"), value=None, drop=False, offset=0,
         junk=b"\x00")
@example(where=("asymmetry", "sentence"), value=None, drop=False, offset=0, junk=b"\x00")
# Found by this test after the port: a list as schema crashed the check of known schemas.
@example(where=("schema",), value=[], drop=False, offset=0, junk=b"\x00")
def test_fuzz_mutations_of_a_real_result(tmp_path, where, value, drop, offset, junk):
    doc = copy.deepcopy(REAL)
    node = doc
    for key in where[:-1]:
        node = node[key]
    if drop:
        del node[where[-1]]
    else:
        node[where[-1]] = value
    text = json.dumps(doc)
    _read_and_use(tmp_path, text)
    raw = bytearray(json.dumps(REAL, indent=2).encode())
    at = offset % len(raw)
    raw[at:at + len(junk)] = junk
    path = tmp_path / "bytes.json"
    path.write_bytes(bytes(raw))
    try:
        read_result(path)
    except InputError:
        pass


@pytest.mark.reliability(case="history database edited by hand (an angle of 1e308, a stored "
                         "result that is not JSON)",
                         outcome="one-line InputError naming the row and column")
@pytest.mark.parametrize(("sql", "match"), [
    ("UPDATE results SET left_ir_deg = 1e308", "row 1: left_ir_deg must be a number from -90"),
    ("UPDATE results SET right_ir_ci95_deg = -1", "right_ir_ci95_deg must be a number from 0"),
    ("UPDATE results SET result_json = '[[[['", "row 1 is not valid JSON"),
    ("UPDATE results SET measured_utc = 'yesterday'", "is not an ISO date"),
])
def test_an_edited_history_database_is_a_one_line_error(tmp_path, sql, match):
    import sqlite3

    from hiprom.report.history import load_history, save_result

    db = tmp_path / "history.sqlite3"
    save_result(REAL, person="ada", db_path=db)
    with sqlite3.connect(db) as conn:
        conn.execute(sql)
    conn.close()
    with pytest.raises(InputError, match=match):
        load_history("ada", db_path=db)
