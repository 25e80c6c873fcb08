from __future__ import annotations

import copy
import json
import sqlite3
from contextlib import nullcontext as does_not_raise
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hiprom.errors import InputError
from hiprom.plan.assessment import Side
from hiprom.plan.interpret import leg_inputs, result_compensations
from hiprom.report.history import (
    DEFAULT_PERSON,
    changes_since_last,
    combined_ci95,
    default_db_path,
    list_people,
    load_history,
    read_result,
    save_result,
    validate_result,
)

DATA = Path(__file__).parent / "data" / "results"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture()
def clip() -> dict:
    return read_result(DATA / "seated_clip.json")


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "h" / "history.sqlite3"


def variant(result: dict, key: str, left: float | None, right: float | None,
            ci: float | None = 1.5) -> dict:
    """A copy of ``result`` as if another input (sha ``key``) had given these IR values."""
    out = copy.deepcopy(result)
    out["source"]["sha256"] = key * 64
    for side, value in (("left", left), ("right", right)):
        out["legs"][side]["internal_rotation_deg"] = value
        out["legs"][side]["internal_rotation_ci95_deg"] = None if value is None else ci
        out["legs"][side]["quality"] = []
    return out


# ---------------------------------------------------------------- reading result files
def test_read_result_fixture(clip: dict) -> None:
    left, right = leg_inputs(clip)
    assert (left.ir_deg, left.ci95_deg, left.er_deg) == (28.4, 1.6, 30.2)
    assert (right.ir_deg, right.ci95_deg, right.er_deg) == (41.2, 1.3, 36.0)
    assert result_compensations(clip) == ("pelvis_roll",)


def test_missing_leg_and_default_ci() -> None:
    result = read_result(DATA / "still_right.json")
    left, right = leg_inputs(result)
    assert left is None
    assert right is not None and right.ir_deg == 12.5
    result["legs"]["right"]["internal_rotation_ci95_deg"] = None
    assert leg_inputs(result)[1].ci95_deg == pytest.approx(5.0 / 2 ** 0.5)


@pytest.mark.parametrize(("text", "match"), [
    (None, "not found"),                                   # no file at all
    ("{not json", "not valid JSON"),                       # broken JSON
    ("[1, 2]", "must be a JSON object"),                   # JSON, but not an object
    ('{"schema": "other/1"}', "not a hiprom result"),      # wrong schema tag
    ('{"schema": "hiprom-result/2"}', "no 'legs' object"),  # legs missing
])
def test_read_result_errors(tmp_path: Path, text: str | None, match: str) -> None:
    path = tmp_path / "r.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(InputError, match=match):
        read_result(path)


@pytest.mark.parametrize(("value", "expectation"), [
    (30.0, does_not_raise()),             # a number
    (None, does_not_raise()),             # not measured
    ("30", pytest.raises(InputError)),    # a string is not an angle
    (True, pytest.raises(InputError)),    # nor is a bool
])
def test_validate_angle_types(clip: dict, value: object, expectation) -> None:
    clip["legs"]["left"]["internal_rotation_deg"] = value
    with expectation:
        validate_result(clip)


def test_default_db_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HIPROM_HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / "history.sqlite3"
    monkeypatch.delenv("HIPROM_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == tmp_path / "xdg" / "hiprom" / "history.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_db_path() == tmp_path / ".local" / "share" / "hiprom" / "history.sqlite3"


# ---------------------------------------------------------------- the database
def test_save_and_load_roundtrip_sorted_by_test_time(clip: dict, db: Path) -> None:
    later = save_result(clip, person="Alex", measured_at=T0 + timedelta(days=28), db_path=db,
                        json_path=DATA / "seated_clip.json")
    save_result(variant(clip, "b", 22.0, 39.0), person="alex", measured_at=T0, db_path=db)
    entries = load_history("ALEX", db_path=db)    # names match case-insensitively
    assert [e.measured_at for e in entries] == [T0, T0 + timedelta(days=28)]
    assert entries[-1] == later
    assert entries[-1].ir_deg == {Side.LEFT: 28.4, Side.RIGHT: 41.2}
    assert entries[-1].er_deg == {Side.LEFT: 30.2, Side.RIGHT: 36.0}
    assert entries[-1].json_path == str((DATA / "seated_clip.json").resolve())
    assert entries[-1].result == clip
    assert list_people(db_path=db) == ("Alex",)


def test_resaving_the_same_input_replaces_and_keeps_the_test_time(clip: dict, db: Path) -> None:
    save_result(clip, db_path=db, measured_at=T0)
    clip["legs"]["left"]["internal_rotation_deg"] = 29.0      # e.g. re-measured, newer hiprom
    save_result(clip, db_path=db)
    (entry,) = load_history(DEFAULT_PERSON, db_path=db)
    assert entry.ir_deg[Side.LEFT] == 29.0
    assert entry.measured_at == T0


def test_result_measured_at_field_is_used(clip: dict, db: Path) -> None:
    clip["measured_at"] = "2026-01-05T10:00:00+01:00"
    entry = save_result(clip, db_path=db)
    assert entry.measured_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_people_are_separate(clip: dict, db: Path) -> None:
    save_result(clip, person="a", db_path=db)
    save_result(clip, person="b", db_path=db)
    assert len(load_history("a", db_path=db)) == len(load_history("b", db_path=db)) == 1


def test_unknown_person_lists_known_names(clip: dict, db: Path) -> None:
    save_result(clip, person="alex", db_path=db)
    with pytest.raises(InputError, match=r"'bob' \(known: alex\)"):
        load_history("bob", db_path=db)


def test_reading_never_creates_the_database(db: Path) -> None:
    with pytest.raises(InputError, match="no history at"):
        load_history(db_path=db)
    assert not db.exists()
    assert list_people(db_path=db) == ()


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "tab\there"])
def test_bad_person_names(clip: dict, db: Path, name: str) -> None:
    with pytest.raises(InputError, match="Person name"):
        save_result(clip, person=name, db_path=db)


@pytest.mark.reliability(case="history database that is not SQLite",
                         outcome="one-line InputError: not a hiprom history database")
def test_corrupt_database_is_a_one_line_error(clip: dict, db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="not a hiprom history database"):
        save_result(clip, db_path=db)


@pytest.mark.reliability(case="history database from a newer hiprom",
                         outcome="one-line InputError: upgrade")
def test_newer_schema_is_refused(clip: dict, db: Path) -> None:
    save_result(clip, db_path=db)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(InputError, match="newer hiprom"):
        load_history(db_path=db)


def test_invalid_result_is_not_saved(clip: dict, db: Path) -> None:
    clip["schema"] = "nope"
    with pytest.raises(InputError, match="not a hiprom result"):
        save_result(clip, db_path=db)
    assert not db.exists()


def test_stored_json_is_the_full_result(clip: dict, db: Path) -> None:
    save_result(clip, db_path=db)
    with sqlite3.connect(db) as conn:
        (text,) = conn.execute("SELECT result_json FROM results").fetchone()
    conn.close()
    assert json.loads(text) == clip


# ---------------------------------------------------------------- change vs measurement error
@pytest.mark.parametrize(("before", "after", "ci", "real", "limited_by"), [
    (22.0, 28.4, 1.6, True, "MDC95"),               # 6.4 > MDC95 5 > combined 2.3
    (39.0, 41.2, 1.3, False, "MDC95"),              # 2.2 within MDC95
    (30.0, 35.0, 1.0, False, "MDC95"),              # exactly the MDC95 is not beyond it
    (35.0, 30.0, 1.0, False, "MDC95"),              # same, downward
    (30.0, 37.0, 6.0, False, "combined interval"),  # 7 > MDC95 but < combined 8.5
    (30.0, 40.0, 6.0, True, "combined interval"),   # 10 > combined 8.5 > MDC95
    (40.0, 28.0, 1.0, True, "MDC95"),               # a real loss
])
def test_change_is_judged_against_the_larger_error(
    clip: dict, before: float, after: float, ci: float, real: bool, limited_by: str
) -> None:
    entries = _entries(clip, [(before, before), (after, after)], ci)
    change = changes_since_last(entries)[Side.LEFT]
    assert change is not None
    assert change.delta_deg == pytest.approx(after - before)
    assert change.combined_ci95_deg == pytest.approx(combined_ci95(ci, ci))
    assert (change.real, change.limited_by) == (real, limited_by)
    assert ("not a real change" in change.sentence) is not real
    assert limited_by.split()[0] in change.sentence


def test_change_uses_the_last_two_tests_that_measured_the_leg(clip: dict) -> None:
    entries = _entries(clip, [(20.0, 40.0), (26.0, None), (None, 41.0)], 1.0)
    changes = changes_since_last(entries)
    assert (changes[Side.LEFT].previous_deg, changes[Side.LEFT].latest_deg) == (20.0, 26.0)
    assert (changes[Side.RIGHT].previous_deg, changes[Side.RIGHT].latest_deg) == (40.0, 41.0)


def test_one_test_has_no_change(clip: dict) -> None:
    assert changes_since_last(_entries(clip, [(30.0, 30.0)], 1.0)) == {
        Side.LEFT: None, Side.RIGHT: None}


def test_quality_flags_are_mentioned(clip: dict, db: Path) -> None:
    save_result(variant(clip, "a", 20.0, 40.0), db_path=db, measured_at=T0)
    clip["legs"]["left"]["quality"] = ["low_visibility"]
    save_result(clip, db_path=db, measured_at=T0 + timedelta(days=14))
    changes = changes_since_last(load_history(db_path=db))
    assert "low_visibility" in changes[Side.LEFT].sentence
    assert "Read with care" not in changes[Side.RIGHT].sentence


@given(st.floats(0, 20), st.floats(0, 20))
def test_combined_interval_properties(a: float, b: float) -> None:
    assert combined_ci95(a, b) == pytest.approx(combined_ci95(b, a))
    assert max(a, b) <= combined_ci95(a, b) <= a + b + 1e-9


def _entries(clip: dict, values: list[tuple[float | None, float | None]], ci: float):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "h.sqlite3"
        for i, (left, right) in enumerate(values):
            save_result(variant(clip, "abcdef"[i], left, right, ci), db_path=db,
                        measured_at=T0 + timedelta(days=14 * i))
        return load_history(db_path=db)


# ---------------------------------------------------------------- comparable tests only
def _save(clip: dict, db: Path, key: str, left: float, days: int, **changes) -> None:
    result = variant(clip, key, left, 40.0)
    for path, value in changes.items():
        target = result
        *parents, last = path.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    save_result(result, person="Alex", measured_at=T0 + timedelta(days=days), db_path=db)


def test_changes_skip_excluded_flagged_still_and_untested_tests(clip: dict, db: Path) -> None:
    from hiprom.report.history import set_excluded

    _save(clip, db, "a", 20.0, 0)
    _save(clip, db, "b", 45.0, 7, legs__left__quality=["pelvis_roll"])   # compensated
    _save(clip, db, "c", 44.0, 14, source__kind="still")                 # another kind
    _save(clip, db, "d", 43.0, 21, legs__left__tested=False)             # resting leg
    _save(clip, db, "e", 40.0, 28)
    change = changes_since_last(load_history("Alex", db_path=db))[Side.LEFT]
    assert (change.previous_deg, change.latest_deg) == (20.0, 40.0)
    latest = load_history("Alex", db_path=db)[-1]
    set_excluded("Alex", latest.id, db_path=db)
    entries = load_history("Alex", db_path=db)
    assert entries[-1].excluded and changes_since_last(entries)[Side.LEFT] is None


def test_delete_and_exclude_name_only_the_persons_own_tests(clip: dict, db: Path) -> None:
    from hiprom.report.history import delete_result, set_excluded

    _save(clip, db, "a", 20.0, 0)
    save_result(variant(clip, "z", 30.0, 30.0), person="Bea", db_path=db)
    (bea,) = load_history("Bea", db_path=db)
    with pytest.raises(InputError, match="no test with id"):
        set_excluded("Alex", bea.id, db_path=db)
    (alex,) = load_history("Alex", db_path=db)
    delete_result("Alex", alex.id, db_path=db)
    assert load_history("Alex", db_path=db) == ()
    assert len(load_history("Bea", db_path=db)) == 1


def test_a_version_1_database_is_upgraded_in_place(clip: dict, db: Path) -> None:
    save_result(clip, person="Alex", db_path=db)
    with sqlite3.connect(db) as conn:   # make it look like the file an older hiprom wrote
        conn.execute("ALTER TABLE results DROP COLUMN excluded")
        conn.execute("PRAGMA user_version = 1")
    (entry,) = load_history("Alex", db_path=db)
    assert entry.excluded is False and entry.ir_deg[Side.LEFT] == 28.4


def test_a_change_sentence_adds_up_as_shown(clip: dict) -> None:
    # 30.63 → 31.16 moves 0.53°; shown as 30.6° → 31.2° the words must say 0.6°
    change = changes_since_last(_entries(clip, [(30.63, 30.63), (31.16, 31.16)], 1.0))[Side.LEFT]
    assert change is not None
    assert "rose 0.6° (30.6° → 31.2°)" in change.sentence, change.sentence
    assert change.delta_deg == pytest.approx(0.53)


@pytest.mark.parametrize("gap", [timedelta(seconds=3), timedelta(seconds=40), timedelta(days=14)])
def test_the_history_plot_labels_its_dates_readably(clip: dict, monkeypatch, gap) -> None:
    import re

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    import hiprom.report.diagrams as diagrams

    seen: list[str] = []

    def labels(fig):
        FigureCanvasAgg(fig).draw()
        ax = fig.axes[0]
        seen.extend(t.get_text() for t in ax.get_xticklabels())
        seen.append(ax.xaxis.get_offset_text().get_text())
        return b""

    monkeypatch.setattr(diagrams, "_png", labels)
    entries = _entries(clip, [(30.6, 38.0), (31.2, 38.5)], 3.0)
    entries = [replace(entries[0], measured_at=entries[1].measured_at - gap), entries[1]]
    diagrams.build_history_plot_png(entries, person="Ana")
    assert [t for t in seen if t], seen
    # no seconds with six decimals ("29:18.000000"), no bare floats
    assert not any(re.search(r"\.\d{4,}", t) for t in seen), seen
