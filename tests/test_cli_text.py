"""What the command line prints is what it means: no markup interpretation, no placeholders."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hiprom.cli.main import app

COMMANDS = ["measure", "batch", "live", "routines", "history", "report"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_brackets_and_no_type_placeholders(command):
    run = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert run.exit_code == 0, run.output
    assert "<bool>" not in run.output


def test_batch_help_names_the_dask_extra_with_its_brackets():
    run = CliRunner().invoke(app, ["batch", "--help"], terminal_width=200)
    assert 'pip install "hiprom[dask]"' in run.output


@pytest.mark.parametrize("name", ["a[/]b.mp4", "[bold]x[/bold].jpg", "c[/red.mp4"])
def test_a_path_with_markup_characters_is_printed_as_it_is(tmp_path, name):
    missing = tmp_path / name
    run = CliRunner().invoke(app, ["measure", str(missing), "--out", str(tmp_path / "o"),
                                   "--no-history"], terminal_width=400)
    assert run.exit_code == 1
    assert "Traceback" not in run.output
    assert name in run.output


STILL = __import__("pathlib").Path(__file__).resolve().parents[1] / "samples" / \
    "still_right_ir45_far.png"


@pytest.mark.mediapipe
def test_a_test_is_saved_to_history_only_when_a_person_is_named(tmp_path, monkeypatch):
    from hiprom.report.history import default_db_path, load_history

    monkeypatch.setenv("HIPROM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HIPROM_PERSON", raising=False)
    run = CliRunner().invoke(app, ["measure", str(STILL), "-o", str(tmp_path / "a")],
                             terminal_width=200)
    assert run.exit_code == 0, run.output
    assert "pass --person NAME" in run.output
    assert not default_db_path().exists()
    monkeypatch.setenv("HIPROM_PERSON", "Ada")
    run = CliRunner().invoke(app, ["measure", str(STILL), "-o", str(tmp_path / "b")])
    assert run.exit_code == 0, run.output
    assert "pass --person NAME" not in run.output
    assert len(load_history("Ada")) == 1
    where = CliRunner().invoke(app, ["history", "--where"])
    assert where.output.strip() == str(default_db_path())


@pytest.mark.mediapipe
@pytest.mark.reliability(case="a picture that is not the seated test, measured with --person",
                         outcome="refused in one line; its files are written for the record "
                                 "but it is not saved into the person's history (was: saved, "
                                 "then shown as their latest test)")
def test_a_refused_input_is_not_saved_into_the_history(tmp_path, monkeypatch, real_footage):
    from hiprom.report.history import default_db_path, load_history

    floor = real_footage / "01_seated_floor_knees_bent.jpg"
    monkeypatch.setenv("HIPROM_HOME", str(tmp_path / "home"))
    run = CliRunner().invoke(app, ["measure", str(floor), "-o", str(tmp_path / "a"),
                                   "--person", "Ana"], terminal_width=400)
    assert run.exit_code == 1 and "not the seated test" in run.output, run.output
    assert (tmp_path / "a" / "01_seated_floor_knees_bent.json").exists()
    assert not default_db_path().exists() or load_history("Ana") == []
    run = CliRunner().invoke(app, ["measure", str(STILL), "-o", str(tmp_path / "b"),
                                   "--person", "Ana"])
    assert run.exit_code == 0, run.output
    assert len(load_history("Ana")) == 1


CLIP = STILL.with_name("seated_ir_left_right.mp4")


@pytest.mark.mediapipe
def test_measure_shows_a_progress_bar_on_a_terminal_only(tmp_path, monkeypatch):
    import io

    from rich.console import Console

    import hiprom.cli.main as cli

    for terminal, expect in ((True, True), (False, False)):
        buffer = io.StringIO()
        monkeypatch.setattr(cli, "err_console", Console(file=buffer, force_terminal=terminal,
                                                        width=100))
        run = CliRunner().invoke(app, ["measure", str(CLIP), "-o", str(tmp_path),
                                       "--no-history"])
        assert run.exit_code == 0, run.output
        assert (CLIP.name in buffer.getvalue()) is expect


#: A folder name that makes any path below it far longer than the 80 columns rich lays out
#: for when it does not write to a terminal.
LONG_FOLDER = "a-folder-whose-name-is-long-enough-to-wrap-" * 3


@pytest.mark.reliability(case="a result table whose title or cells name a long file, stdout "
                              "piped (`hiprom measure ... | cat`, a CI log)",
                         outcome="the title and each path whole on one line (was: the title "
                                 "wrapped at the table's width, cells folded or cut with '…' "
                                 "at 80 columns)")
def test_measure_summary_keeps_a_long_name_and_paths_whole_when_piped(tmp_path,
                                                                      fake_measure):
    import cv2
    import numpy as np

    name = "ada-lovelace-seated-hip-rotation-test-right-leg-after-six-weeks-of-routine.png"
    photo = tmp_path / name
    cv2.imwrite(str(photo), np.full((480, 640, 3), 90, np.uint8))
    out = tmp_path / LONG_FOLDER
    run = CliRunner().invoke(app, ["measure", str(photo), "-o", str(out), "--no-history"])
    assert run.exit_code == 0, run.output
    lines = run.output.splitlines()
    assert name in lines[0], run.output                    # the table's title, whole
    wrote = [line for line in lines if line.startswith("wrote ")]
    assert len(wrote) == 1, run.output
    for suffix in (".json", ".csv", ".keyframe.png"):
        assert str(out / photo.with_suffix(suffix).name) in wrote[0], run.output
    assert "…" not in run.output


def test_history_table_keeps_a_long_source_name_whole_when_piped(tmp_path):
    from pathlib import Path

    from hiprom.report.history import read_result, save_result

    data = Path(__file__).parent / "data" / "results" / "seated_clip.json"
    result = read_result(data)
    name = "ada-lovelace-seated-hip-rotation-test-both-legs-after-six-weeks-of-routine.mp4"
    result["source"]["path"] = str(tmp_path / LONG_FOLDER / name)
    save_result(result, person="ada", json_path=data)
    run = CliRunner().invoke(app, ["history", "--person", "ada"])
    assert run.exit_code == 0, run.output
    assert any(name in line for line in run.output.splitlines()), run.output
