"""The SQLite results store: schema, one row per input, identity by content, exports."""

import sqlite3

import pytest

from hiprom.batch.store import (
    LEG_COLUMNS,
    SCHEMA_VERSION,
    InputRecord,
    OutcomeRecord,
    ResultStore,
    iter_leg_rows,
    settings_key,
)
from hiprom.errors import InputError, StoreError

KEY = "k1"


def result_doc(left_ir, right_ir, *, quality=(), exceeds=False):
    def leg(ir):
        return {"internal_rotation_deg": ir, "internal_rotation_ci95_deg": 1.5,
                "external_rotation_deg": None, "external_rotation_ci95_deg": None,
                "verdict": {"code": "typical", "borderline": False}, "quality": list(quality),
                "reps": [{"value_deg": ir}]}

    return {"schema": "hiprom-result/2", "hiprom_version": "9.9", "model": {"name": "m",
            "sha256": "ab"}, "source": {"n_frames": 10, "duration_s": 1.0},
            "legs": {"left": leg(left_ir), "right": leg(right_ir)},
            "asymmetry_deg": left_ir - right_ir,
            "asymmetry": {"difference_deg": abs(left_ir - right_ir), "exceeds_error": exceeds,
                          "restricted_side": "right"},
            "quality": []}


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "out" / "s.sqlite") as s:
        yield s


def test_new_store_has_the_documented_tables_and_version(store, tmp_path):
    db = sqlite3.connect(tmp_path / "out" / "s.sqlite")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "runs", "inputs", "results"} <= tables
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
        str(SCHEMA_VERSION),)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_committing_twice_keeps_one_row_per_input_and_settings(store):
    run = store.begin_run(hiprom_version="0", settings_key=KEY, settings={})
    store.record_inputs([InputRecord("/a.mp4", "h1")], run_id=run)
    store.commit_outcome(OutcomeRecord("h1", ok=False, error_type="X", error_message="bad"),
                         settings_key=KEY, run_id=run)
    store.commit_outcome(OutcomeRecord("h1", ok=True, result=result_doc(40, 30)),
                         settings_key=KEY, run_id=run)
    assert store.count_results() == 1
    assert store.statuses(KEY) == {"h1": "ok"}
    assert store.statuses("other-settings") == {}


def test_a_changed_file_points_at_its_new_hash(store):
    run = store.begin_run(hiprom_version="0", settings_key=KEY, settings={})
    store.record_inputs([InputRecord("/a.mp4", "old")], run_id=run)
    store.commit_outcome(OutcomeRecord("old", ok=True, result=result_doc(40, 30)),
                         settings_key=KEY, run_id=run)
    store.record_inputs([InputRecord("/a.mp4", "new", patient_id="P7")], run_id=run)
    (item,) = store.results(KEY)
    assert item.input.sha256 == "new" and item.input.patient_id == "P7"
    assert item.status is None, "the old content's result must not be reported for new content"


def test_results_are_filtered_by_path_and_sorted(store):
    run = store.begin_run(hiprom_version="0", settings_key=KEY, settings={})
    store.record_inputs([InputRecord("/b.mp4", "h2"), InputRecord("/a.mp4", "h1")], run_id=run)
    assert [r.input.path for r in store.results(KEY)] == ["/a.mp4", "/b.mp4"]
    assert [r.input.path for r in store.results(KEY, paths=["/b.mp4"])] == ["/b.mp4"]


def test_leg_rows_one_per_leg_with_errors_for_failures(store):
    run = store.begin_run(hiprom_version="0", settings_key=KEY, settings={})
    store.record_inputs([InputRecord("/a.mp4", "h1", patient_id="P1"),
                         InputRecord("/b.mp4", "h2")], run_id=run)
    store.commit_outcome(OutcomeRecord("h1", ok=True, result=result_doc(41.0, 28.5,
                                       quality=["short_hold"])), settings_key=KEY, run_id=run)
    store.commit_outcome(OutcomeRecord("h2", ok=False, error_type="SourceError",
                                       error_message="empty"), settings_key=KEY, run_id=run)
    rows = list(iter_leg_rows(store.results(KEY)))
    assert [(r["path"], r["leg"]) for r in rows] == [
        ("/a.mp4", "left"), ("/a.mp4", "right"), ("/b.mp4", "left"), ("/b.mp4", "right")]
    assert set(rows[0]) == set(LEG_COLUMNS)
    assert LEG_COLUMNS[:2] == ("path", "leg")
    assert rows[0]["internal_rotation_deg"] == 41.0 and rows[1]["internal_rotation_deg"] == 28.5
    assert rows[0]["patient_id"] == "P1" and rows[0]["leg_quality"] == "short_hold"
    assert rows[0]["model_name"] == "m" and rows[0]["input_sha256"] == "h1"
    assert rows[2]["status"] == "failed" and rows[2]["error"] == "SourceError: empty"
    assert rows[2]["internal_rotation_deg"] is None


def test_a_committed_result_survives_a_reopen(tmp_path):
    path = tmp_path / "s.sqlite"
    with ResultStore(path) as s:
        run = s.begin_run(hiprom_version="0", settings_key=KEY, settings={"a": 1})
        s.commit_outcome(OutcomeRecord("h1", ok=True, result=result_doc(40, 40)),
                         settings_key=KEY, run_id=run)
    with ResultStore(path) as s:
        assert s.statuses(KEY) == {"h1": "ok"}


@pytest.mark.reliability(case="batch store that is not SQLite",
                         outcome="one-line StoreError; the batch does not start")
def test_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "s.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable hiprom results store"):
        ResultStore(bad)


@pytest.mark.reliability(case="batch store from a newer hiprom",
                         outcome="one-line StoreError: upgrade hiprom")
def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    ResultStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="upgrade hiprom"):
        ResultStore(path)


def test_settings_key_ignores_key_order_but_not_values():
    assert settings_key({"a": 1, "b": 2}) == settings_key({"b": 2, "a": 1})
    assert settings_key({"a": 1}) != settings_key({"a": 2})


@pytest.mark.reliability(case="batch store edited by hand (an angle of 1e308, a stored result "
                         "nested 100,000 deep)",
                         outcome="one-line InputError naming the store, the input and the field")
@pytest.mark.parametrize(("text", "match"), [
    (None, r"legs\.left\.internal_rotation_deg must be a number from -90 to 90"),
    ("[" * 100_000, "nests 100000 levels deep"),
])
def test_an_edited_store_row_is_a_one_line_error(tmp_path, text, match):
    path = tmp_path / "s.sqlite"
    with ResultStore(path) as s:
        run = s.begin_run(hiprom_version="0", settings_key=KEY, settings={"a": 1})
        s.record_inputs([InputRecord("/v/a.mp4", "h1")], run_id=run)
        s.commit_outcome(OutcomeRecord("h1", ok=True, result=result_doc(40, 38)),
                         settings_key=KEY, run_id=run)
    db = sqlite3.connect(path)
    if text is None:
        db.execute("UPDATE results SET result_json = replace(result_json, "
                   "'\"internal_rotation_deg\": 40', '\"internal_rotation_deg\": 1e308')")
    else:
        db.execute("UPDATE results SET result_json = ?", (text,))
    db.commit()
    db.close()
    with ResultStore(path) as s, pytest.raises(InputError, match=match) as info:
        s.results(KEY)
    assert "/v/a.mp4" in str(info.value) and "\n" not in str(info.value)
