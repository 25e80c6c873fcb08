"""`hiprom measure` from the command line: exit codes, one-line errors, nothing lost."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from hiprom.cli.main import app

runner = CliRunner()
SAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "samples"


@pytest.mark.mediapipe
@pytest.mark.reliability(case="`hiprom measure` on a good photo with empty, text and missing files",
                         outcome="one line per bad file, the photo still measured, exit 1, no "
                                 "traceback")
def test_good_and_bad_inputs_together(tmp_path, real_footage):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    good = SAMPLES / "still_right_ir45_far.png"
    floor = real_footage / "01_seated_floor_knees_bent.jpg"     # not the seated test
    out = tmp_path / "out"
    result = runner.invoke(app, ["measure", str(empty), str(good), str(text), str(floor),
                                 str(tmp_path / "missing.mov"), "--out", str(out), "--no-history"])
    assert result.exit_code == 1
    # The good photo was still measured and written.
    saved = json.loads((out / "still_right_ir45_far.json").read_text())
    assert saved["legs"]["right"]["internal_rotation_deg"] is not None
    # The floor-sitting photo is written for the record, refused, with no value or verdict.
    refused = json.loads((out / "01_seated_floor_knees_bent.json").read_text())
    assert refused["protocol"]["valid"] is False and refused["protocol"]["reason"]
    assert all(leg["internal_rotation_deg"] is None and leg["verdict"] is None
               for leg in refused["legs"].values())
    assert not refused["red_flags"] and refused["recommendations"] is None
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 4
    assert any("not the seated test" in e and "floor" in e for e in errors)
    assert "Traceback" not in result.output
    assert any("missing.mov" in e and "does not exist" in e for e in errors)
    assert any("empty.mp4" in e for e in errors)


def test_version_and_help():
    assert runner.invoke(app, ["--version"]).exit_code == 0
    result = runner.invoke(app, ["measure", "--help"])
    assert result.exit_code == 0 and "--annotate" in result.output


@pytest.mark.parametrize(("flags", "every_frame", "stride"), [
    ([], False, 1),                     # adaptive sampling by default
    (["--every-frame"], True, 1),
    (["--annotate"], True, 1),          # an annotated video shows every frame
    (["--stride", "3"], False, 3),
    (["--fast"], False, 1),             # retired: a note, then the default
])
def test_sampling_flags_set_the_options(tmp_path, monkeypatch, flags, every_frame, stride):
    import hiprom.pipeline.measure
    from hiprom.errors import MeasurementError

    seen = []

    def fake_measure(path, *, options, progress=None):
        seen.append(options)
        raise MeasurementError(f"{path}: stop here")

    monkeypatch.setattr(hiprom.pipeline.measure, "measure_path", fake_measure)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    result = runner.invoke(app, ["measure", str(clip), "--no-history", *flags])
    assert result.exit_code == 1 and "stop here" in result.output
    [options] = seen
    assert (options.every_frame, options.stride, options.max_fps) == (every_frame, stride, None)
    assert options.adaptive is (not every_frame and stride == 1)
    assert ("--fast is retired" in result.output) is ("--fast" in flags)


def test_every_frame_and_stride_conflict(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    result = runner.invoke(app, ["measure", str(clip), "--every-frame", "--stride", "2"])
    assert result.exit_code == 2 and "--stride" in result.output


def _damaged_clip(synth_media):
    data = bytearray(synth_media.video("whole.mp4", n_frames=60, resolution_wh=(160, 120))
                     .read_bytes())
    start = len(data) * 2 // 5
    data[start:start + len(data) // 5] = bytes(len(data) // 5)
    path = synth_media.folder / "damaged.mp4"
    path.write_bytes(bytes(data))
    return path


def _cut_clip(synth_media):
    whole = synth_media.video("whole.avi", n_frames=60, fourcc="MJPG").read_bytes()
    path = synth_media.folder / "cut.avi"
    path.write_bytes(whole[: len(whole) // 2])
    return path


def _huge_photo(synth_media):
    path = synth_media.folder / "huge.png"
    cv2.imwrite(str(path), np.full((300, 9000, 3), 90, np.uint8))
    return path


@pytest.mark.reliability(case="`hiprom measure` (with or without --annotate) on a clip with a "
                              "damaged middle, a clip cut short, or an oversized photo",
                         outcome="its warning is printed once (was: once per read of the file: "
                                 "twice with --annotate, and twice for the photo)")
@pytest.mark.parametrize("annotate", [False, True], ids=["key-frame", "annotate"])
@pytest.mark.parametrize(("make", "warning", "annotated"), [
    (_damaged_clip, "a damaged section from", "damaged.annotated.webm"),
    (_cut_clip, "looks truncated", "cut.annotated.webm"),
    (_huge_photo, "analysed at 8192x273", "huge.annotated.png"),
], ids=["damaged", "cut-short", "oversized-photo"])
def test_what_is_wrong_with_an_input_is_said_once(tmp_path, synth_media, fake_measure, caplog,
                                                  make, warning, annotated, annotate):
    # The key frame and the annotated video or photo read the input again after it was
    # measured; only the measuring read reports the damage (was: once per read).
    path = make(synth_media)
    out = tmp_path / "out"
    with caplog.at_level("WARNING"):
        runner.invoke(app, ["measure", str(path), "--out", str(out), "--no-history", "-q",
                            *(["--annotate"] if annotate else [])])
    assert (out / f"{path.stem}.keyframe.png").is_file()      # the input was read again
    assert (out / annotated).is_file() is annotate
    said = [r.getMessage() for r in caplog.records if warning in r.getMessage()]
    assert len(said) == 1, said
    assert path.name in said[0]


@pytest.mark.reliability(case="a warning logged when stderr is gone (a closed pipe)",
                         outcome="the warning is dropped without a traceback; the run goes on")
def test_a_warning_to_a_closed_stderr_is_dropped_quietly(monkeypatch, capsys):
    import logging

    import hiprom.cli.main as cli_main

    def closed(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli_main.err_console, "print", closed)
    handler = cli_main._LineHandler()
    record = logging.LogRecord("hiprom", logging.WARNING, __file__, 1, "clip looks truncated",
                               None, None)
    handler.handle(record)          # raised BrokenPipeError before
    assert capsys.readouterr().err == ""


@pytest.mark.reliability(case="a warning naming a long path, stderr not a terminal (a log, CI)",
                         outcome="one line with the whole path (was: broken over four lines "
                                 "at 80 columns)")
def test_a_warning_is_one_line_when_stderr_is_not_a_terminal(tmp_path, synth_media):
    folder = tmp_path / ("a_folder_name_long_enough_to_push_a_warning_past_eighty_columns_" * 2)
    folder.mkdir()
    clip = _cut_clip(synth_media).replace(folder / "cut.avi")
    env = {**os.environ, "HIPROM_HOME": str(tmp_path / "home"), "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-m", "hiprom.cli.main", "measure", str(clip),
                           "--out", str(tmp_path / "out"), "--no-history", "-q"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 1, done.stderr   # the synthetic frames show nobody
    lines = done.stderr.splitlines()
    [warning] = [ln for ln in lines if "looks truncated" in ln]
    [error] = [ln for ln in lines if "no person found" in ln]
    assert warning.startswith("warning: ") and str(clip) in warning
    assert error.startswith("error: ") and str(clip) in error


@pytest.mark.mediapipe
def test_an_annotated_photo_s_panel_gives_the_photo_s_value():
    from hiprom.media.outputs import _summary_lines
    from hiprom.pipeline.analysis import MeasureOptions
    from hiprom.pipeline.measure import measure_path

    m = measure_path(SAMPLES / "still_right_ir45_far.png", options=MeasureOptions())
    right = m.legs["right"]
    assert right.internal_rotation_deg is not None
    lines = _summary_lines(m, 0)
    # the panel says what the terminal, the JSON and the report say (it read "held IR --")
    assert (f"Right: IR {right.internal_rotation_deg:.1f}° "
            f"+/-{right.internal_rotation_ci95_deg:.1f}°") in lines, lines
    assert not any("held" in line for line in lines)
