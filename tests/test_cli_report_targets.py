"""``hiprom report --out`` and ``hiprom history --plot`` must not overwrite what they read.

A clinic user who types the result's name after ``-o`` (or tab-completes the wrong file)
lost the measurement: the report was written over the JSON it was made from.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import hiprom.pipeline.measure
from builders import NEAR_BODY, landmarks, seated_xy
from hiprom.backends import FakeBackend
from hiprom.cli.main import app

runner = CliRunner()


@pytest.fixture
def result_json(tmp_path, monkeypatch):
    """A result written by ``hiprom measure`` (fake pose model) and saved for ``ada``."""
    monkeypatch.setenv("HIPROM_HOME", str(tmp_path / "home"))
    real = hiprom.pipeline.measure.measure_path

    def measure_path(p, *, options=None, progress=None):
        return real(p, options=options, backend_factory=lambda mode: FakeBackend(
            [landmarks(seated_xy(30.0, 20.0, NEAR_BODY))]))

    monkeypatch.setattr(hiprom.pipeline.measure, "measure_path", measure_path)
    photo = tmp_path / "ada.png"
    cv2.imwrite(str(photo), np.full((480, 640, 3), 90, np.uint8))
    out = tmp_path / "out"
    done = runner.invoke(app, ["measure", str(photo), "-o", str(out), "--person", "ada", "-q"])
    assert done.exit_code == 0, done.output
    return out / "ada.json"


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.mark.reliability(case="`hiprom report ada.json -o ada.json` (or -o the result's CSV or "
                              "key frame)",
                         outcome="exit 1, one line: that would overwrite it, name the report "
                                 ".html or .pdf; the file is unchanged (was: the result was "
                                 "replaced by the HTML report)")
@pytest.mark.parametrize("target", ["ada.json", "ada.csv", "ada.keyframe.png"])
def test_report_refuses_to_overwrite_its_input_or_other_data(result_json, target):
    before = {p.name: p.read_bytes() for p in result_json.parent.iterdir()}
    line = _one_error_line(runner.invoke(app, ["report", str(result_json), "-o",
                                               str(result_json.parent / target)]))
    assert "overwrite" in line and ".html" in line
    assert {p.name: p.read_bytes() for p in result_json.parent.iterdir()} == before


def test_report_may_replace_an_earlier_report(result_json):
    target = result_json.with_suffix(".html")
    target.write_text("an older report")
    done = runner.invoke(app, ["report", str(result_json), "-o", str(target)])
    assert done.exit_code == 0, done.output
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.reliability(case="`hiprom history --plot` naming an existing file that is not a "
                              "PNG (e.g. the result JSON)",
                         outcome="exit 1, one line; the file is unchanged")
def test_history_plot_refuses_to_overwrite_other_data(result_json):
    before = result_json.read_bytes()
    line = _one_error_line(runner.invoke(app, ["history", "--person", "ada", "--plot",
                                               str(result_json)]))
    assert "overwrite" in line and ".png" in line
    assert result_json.read_bytes() == before


@pytest.mark.reliability(case="a report or result file that cannot be written (read-only "
                              "folder, full disk) while it has its temporary name",
                         outcome="the line names the file the user asked for, not the "
                                 "hidden temporary one")
def test_an_os_error_on_a_temporary_file_names_the_final_file(result_json, tmp_path,
                                                              monkeypatch):
    import errno

    from hiprom.errors import describe_os_error

    assert describe_os_error(PermissionError(
        errno.EACCES, "Permission denied", "/x/.clip.ab_9cd01.part.json")) == (
        "/x/clip.json: permission denied; pick a location you may write to, or fix its "
        "permissions")
    line = _report_with_temporary_file_refused(result_json, tmp_path, monkeypatch,
                                               PermissionError, errno.EPERM)
    assert ".part" not in line and f"{tmp_path / 'r.html'}" in line, line


def _report_with_temporary_file_refused(result_json, tmp_path, monkeypatch, kind, code):
    """``hiprom report`` whose temporary file cannot be made (``kind(code)``): its line."""
    import os

    import hiprom.media.sinks as sinks

    made = []

    def refuse(*args, **kwargs):
        made.append(kwargs)
        raise kind(code, os.strerror(code), str(tmp_path / ".r.j85o9fiv.part.html"))

    monkeypatch.setattr(sinks.tempfile, "mkstemp", refuse)
    result = runner.invoke(app, ["report", str(result_json), "-o", str(tmp_path / "r.html")])
    assert made, "the report never tried to write"
    return _one_error_line(result)


@pytest.mark.reliability(case="`hiprom report ada.json -o /proc/r.html`: a folder that exists "
                              "but takes no new files",
                         outcome="exit 1, one line: the file cannot be created there, pick "
                                 "another folder (was: '/proc/r.html does not exist')")
def test_a_folder_that_takes_no_new_files_is_named_as_such(result_json, tmp_path,
                                                           monkeypatch):
    import errno

    from hiprom.errors import describe_os_error

    # Our own temporary file's ENOENT is about its folder; anyone else's is a missing path.
    assert describe_os_error(FileNotFoundError(
        errno.ENOENT, "No such file", "/proc/.r.j85o9fiv.part.html")) == (
        "/proc/r.html cannot be created: nothing can be created in /proc; pick another folder")
    assert describe_os_error(FileNotFoundError(errno.ENOENT, "No such file", "/in/clip.mp4")) == (
        "/in/clip.mp4 does not exist; check the path")

    # what creating a file in /proc does, as root
    line = _report_with_temporary_file_refused(result_json, tmp_path, monkeypatch,
                                               FileNotFoundError, errno.ENOENT)
    assert "cannot be created: nothing can be created in" in line, line
    assert "does not exist" not in line and ".part" not in line, line


@pytest.mark.reliability(case="a report or plot file name whose ending says another format "
                              "(`--format html -o r.pdf`, `--pdf -o r.html`, `-o r.txt`, "
                              "`--plot trend.jpg`)",
                         outcome="exit 1, one line naming the right ending; nothing written "
                                 "(was: a PDF in a .html file, PNG data in a .jpg)")
@pytest.mark.parametrize(("args", "name", "suggestion"), [
    (["--format", "html"], "r.pdf", "r.html"),
    (["--pdf"], "r.html", "r.pdf"),
    ([], "r.txt", "r.html"),
    ([], "report", "report.html"),
])
def test_report_refuses_a_file_ending_of_another_format(result_json, args, name, suggestion):
    target = result_json.parent / name
    line = _one_error_line(runner.invoke(app, ["report", str(result_json), *args, "-o",
                                               str(target)]))
    assert f"name it {suggestion}" in line, line
    assert not target.exists()


def test_report_takes_any_case_of_the_right_ending(result_json):
    for name, args in (("A.PDF", ["--pdf"]), ("b.HTM", [])):
        done = runner.invoke(app, ["report", str(result_json), *args, "-o",
                                   str(result_json.parent / name)])
        assert done.exit_code == 0, done.output


def test_history_plot_must_be_named_png(result_json):
    target = result_json.parent / "trend.jpg"
    line = _one_error_line(runner.invoke(app, ["history", "--person", "ada", "--plot",
                                               str(target)]))
    assert "name it trend.png" in line and not target.exists()
