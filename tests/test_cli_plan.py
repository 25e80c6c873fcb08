from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hiprom.cli.plan import register
from hiprom.report.history import load_history, read_result, save_result

DATA = Path(__file__).parent / "data" / "results"
runner = CliRunner()


def _app() -> typer.Typer:
    """The real app when cli.py has registered these commands, else one made here."""
    from hiprom.cli.main import app

    names = {c.name for c in app.registered_commands}
    if {"routines", "history", "report"} <= names:
        return app
    local = typer.Typer(pretty_exceptions_enable=False)

    @local.callback()
    def _root() -> None:
        """hiprom (test app)."""

    register(local)
    return local


APP = _app()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HIPROM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture()
def clip_dir(tmp_path: Path) -> Path:
    for name in ("seated_clip.json", "seated_clip.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    return tmp_path


def run(*args: str):
    return runner.invoke(APP, [str(a) for a in args])


def failed_with(result, text: str) -> bool:
    """Exit 1 and exactly one error line that contains ``text``."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    return result.exit_code == 1 and len(lines) == 1 and text in lines[0] and "error" in lines[0]


# ---------------------------------------------------------------- routines
def test_routines_from_angles() -> None:
    result = run("routines", "--left", "28", "--right", "41", "--compensation", "pelvis_roll")
    assert result.exit_code == 0, result.output
    assert "Left: IR 28.0°" in result.output and "Weekly schedule" in result.output
    assert "Pelvis roll was seen in your test." in result.output
    assert "Mon:" in result.output and "Sun:" in result.output


def test_routines_json_matches_the_engine() -> None:
    from hiprom.plan.routines import LegInput, build_plan

    result = run("routines", "--left", "28", "--right", "41", "--left-er", "30", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan == json.loads(json.dumps(build_plan(LegInput(28, 30), LegInput(41)).to_dict()))
    assert len(plan["schedule"]) == 7


def test_routines_from_a_result_file_uses_its_compensations() -> None:
    result = run("routines", DATA / "seated_clip.json", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["legs"]["left"]["ir_deg"] == 28.4 and plan["legs"]["left"]["ci95_deg"] == 1.6
    cues = [c for r in plan["exercises"] for c in r["cues"]]
    assert cues and all(c.startswith("Pelvis roll was seen") for c in cues)


def test_routines_one_leg_only() -> None:
    result = run("routines", DATA / "still_right.json")
    assert result.exit_code == 0, result.output
    assert "The left leg's internal rotation was not measured" in result.output
    assert "Red flag (right)" in result.output          # 12.5° is under 15°


def test_report_refuses_a_person_whose_history_does_not_hold_the_test(
        clip_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A name left in HIPROM_PERSON put "Person bob" and bob's progress chart on gus's test.
    test = clip_dir / "seated_clip.json"
    save_result(read_result(test), person="gus", json_path=test)
    save_result(read_result(test) | {"source": {**read_result(test)["source"],
                                                 "sha256": "b" * 64}}, person="bob")
    monkeypatch.setenv("HIPROM_PERSON", "bob")
    refused = run("report", test, "--out", tmp_path / "r.html")
    assert failed_with(refused, "is a test in the history of 'gus', not of 'bob'"), refused.output
    assert "--person 'gus'" in refused.output and not (tmp_path / "r.html").exists()
    assert run("report", test, "--person", "GUS", "--out", tmp_path / "g.html").exit_code == 0
    assert "Progress of GUS" in (tmp_path / "g.html").read_text()
    # Told by content: a copy elsewhere is still gus's test.
    copy = tmp_path / "copy.json"
    shutil.copy(test, copy)
    assert failed_with(run("report", copy, "--out", tmp_path / "c.html"), "of 'gus'")
    monkeypatch.delenv("HIPROM_PERSON")
    assert run("report", test, "--out", tmp_path / "n.html").exit_code == 0
    # A result in nobody's history may be reported with any person's trend.
    other = tmp_path / "elsewhere.json"
    other.write_text(json.dumps(read_result(test) | {"source": {
        **read_result(test)["source"], "sha256": "c" * 64}}))
    assert run("report", other, "--person", "bob", "--out", tmp_path / "b.html").exit_code == 0


@pytest.mark.parametrize(("args", "message"), [
    (["routines", "missing.json"], "not found"),                               # missing file
    (["routines"], "No angles given"),                                         # nothing at all
    (["routines", "--left-er", "20"], "need --left"),                          # ER without IR
    (["routines", "--left", "28", "--compensation", "wobble"], "Unknown compensation"),
    (["routines", "--left", "120"], "--left must be within ±90°"),              # implausible
    # the option the user typed is named, and no Python word ("ir_deg", "(None)")
    (["routines", "--left", "nan", "--right", "30"], "--left must be a finite number of "
                                                     "degrees, got nan; re-measure it, or "
                                                     "leave that leg out"),
    (["routines", "--left", "30", "--left-er", "200"], "--left-er must be within ±90°"),
    (["routines", "--left", "30", "--left-ci", "-1"], "--left-ci must be a finite number"),
    (["routines", str(DATA / "seated_clip.json"), "--left", "30"], "not both"),
    # ER is a positive magnitude; "-40" (ER written as a negative rotation, as the README's
    # sign convention has it) used to give a total arc of -10° without a word.
    (["routines", "--left", "30", "--left-er", "-40"], "drop the minus sign"),
    (["routines", "--right", "30", "--right-er", "-0.5"], "--right-er"),
])
def test_routines_errors(args: list[str], message: str) -> None:
    assert failed_with(run(*args), message)


def test_routines_for_a_refused_test_gives_the_refusal(tmp_path: Path) -> None:
    # It had said "Neither leg was measured ... re-run the test with the lower legs in view".
    data = read_result(DATA / "seated_clip.json")
    data["protocol"] = {"valid": False, "reason": "the knees are above the hips"}
    (tmp_path / "floor.json").write_text(json.dumps(data))
    assert failed_with(run("routines", tmp_path / "floor.json"),
                       "is not the seated test (the knees are above the hips)")


def test_routines_bad_json(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{oops")
    assert failed_with(run("routines", tmp_path / "bad.json"), "not valid JSON")


# ---------------------------------------------------------------- history
def _two_tests(clip_dir: Path, person: str = "alex", *, compensated: bool = False) -> None:
    first = read_result(clip_dir / "seated_clip.json")
    first["source"]["sha256"] = "a" * 64
    first["legs"]["left"]["internal_rotation_deg"] = 21.0
    first["legs"]["left"]["quality"] = []
    save_result(first, person=person, measured_at=datetime(2026, 3, 1, tzinfo=UTC))
    second = read_result(clip_dir / "seated_clip.json")
    if not compensated:   # a clean second test: it counts for the change
        second["legs"]["left"]["quality"] = ["reps_excluded"]
    save_result(second, person=person, measured_at=datetime(2026, 3, 29, tzinfo=UTC),
                json_path=clip_dir / "seated_clip.json")


def test_history_table_change_and_plot(clip_dir: Path, tmp_path: Path) -> None:
    _two_tests(clip_dir)
    plot = tmp_path / "plots" / "trend.png"
    result = run("history", "--person", "alex", "--plot", plot)
    assert result.exit_code == 0, result.output
    assert "2026-03-01" in result.output and "2026-03-29" in result.output
    assert "Left IR rose 7.4°" in result.output and "a real change" in result.output
    assert "Right IR did not change" in result.output and "not a real change" in result.output
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_the_history_table_keeps_every_column_on_an_80_column_terminal(clip_dir: Path
                                                                        ) -> None:
    import io

    from rich.console import Console

    from hiprom.cli.plan import _history_table
    from hiprom.report.history import load_history

    _two_tests(clip_dir)
    buffer = io.StringIO()
    Console(file=buffer, width=80, force_terminal=True, color_system=None).print(
        _history_table(load_history("alex"), "alex"))
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    for header in ("id", "kind", "left", "right", "IR", "ER", "source", "flags"):
        assert header in text, text
    assert "reps_" in text and "seated_" in text, text   # folded, not dropped


def test_a_compensated_test_is_marked_and_left_out_of_the_change(clip_dir: Path) -> None:
    _two_tests(clip_dir, compensated=True)     # the fixture's left value rests on pelvis roll
    result = run("history", "--person", "alex")
    assert result.exit_code == 0, result.output
    assert "28.4 ±1.6 *" in result.output       # shown, marked as not in trends
    assert "Left IR rose" not in result.output and "Right IR did not change" in result.output


def test_history_delete_and_exclude_by_id(clip_dir: Path) -> None:
    _two_tests(clip_dir)
    first, second = load_history("alex")
    assert run("history", "--person", "alex", "--exclude", str(second.id)).exit_code == 0
    assert load_history("alex")[1].excluded
    assert run("history", "--person", "alex", "--include", str(second.id)).exit_code == 0
    assert not load_history("alex")[1].excluded
    assert run("history", "--person", "alex", "--delete", str(first.id), "-q").exit_code == 0
    assert [e.id for e in load_history("alex")] == [second.id]
    assert failed_with(run("history", "--person", "alex", "--delete", "999"), "no test with id")


def test_history_json(clip_dir: Path) -> None:
    _two_tests(clip_dir, person="default")
    result = run("history", "--json")                # the default person
    data = json.loads(result.output)
    assert [t["left_ir_deg"] for t in data["tests"]] == [21.0, 28.4]
    left = data["change_since_last"]["left"]
    assert left["real"] is True and left["limited_by"] == "MDC95"
    # A script can manage the tests it reads: their ids, and what the trend uses.
    ids = [e.id for e in load_history("default")]
    assert [t["id"] for t in data["tests"]] == ids
    assert all(t["excluded"] is False and t["kind"] == "video" for t in data["tests"])
    assert [t["left_flags"] for t in data["tests"]] == [[], ["reps_excluded"]]
    assert run("history", "--exclude", str(ids[0]), "-q").exit_code == 0
    again = json.loads(run("history", "--json").output)["tests"]
    assert again[0]["excluded"] is True and again[0]["left_in_trend"] is False
    assert again[1]["left_in_trend"] is True


def test_history_unknown_person(clip_dir: Path) -> None:
    _two_tests(clip_dir)
    assert failed_with(run("history", "--person", "bob"), "known: alex")


def test_history_without_database() -> None:
    assert failed_with(run("history"), "no history at")


# ---------------------------------------------------------------- report
def test_report_from_a_result_file(clip_dir: Path) -> None:
    result = run("report", clip_dir / "seated_clip.json")
    assert result.exit_code == 0, result.output
    html = (clip_dir / "seated_clip.html").read_text()
    assert "data:image/png;base64," in html and "28.4°" in html


def test_report_for_a_person_with_out(clip_dir: Path, tmp_path: Path) -> None:
    _two_tests(clip_dir)
    out = tmp_path / "out" / "alex.html"
    result = run("report", "--person", "alex", "--out", out)
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert 'id="history"' in html and "Progress of alex" in html
    assert "Left IR rose 7.4°" in html
    assert len(load_history("alex")) == 2                  # reading did not change history


@pytest.mark.parametrize(("args", "message"), [
    (["report", "missing.json"], "not found"),
    (["report"], "Nothing to report"),
    (["report", "--person", "nobody"], "No saved results for person 'nobody'"),
])
def test_report_errors(args: list[str], message: str) -> None:
    assert failed_with(run(*args), message)


def test_report_bad_json(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"schema": "hiprom-result/2", "legs": 3}')
    assert failed_with(run("report", tmp_path / "bad.json"), "no 'legs' object")
