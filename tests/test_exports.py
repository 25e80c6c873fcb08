"""Research exports: an OpenSim .mot and a C3D that read back to the measured angles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hiprom.cli.main import app
from hiprom.errors import InputError
from hiprom.media.exports import C3D_POINTS, ExportFormat, mot_text, write_exports
from hiprom.pipeline.analysis import MeasureOptions
from hiprom.pipeline.measure import measure_path

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "seated_ir_left_right.mp4"
pytestmark = [pytest.mark.mediapipe,
              pytest.mark.skipif(not SAMPLE.is_file(), reason="rendered sample not present")]


@pytest.fixture(scope="module")
def measured():
    # Exports need every frame (the CLI's --export implies --every-frame).
    return measure_path(SAMPLE, options=MeasureOptions(every_frame=True))


def _read_mot(path: Path) -> tuple[dict[str, str], list[str], np.ndarray]:
    return _read_mot_text(path.read_text())


def _read_mot_text(text: str) -> tuple[dict[str, str], list[str], np.ndarray]:
    lines = text.splitlines()
    end = lines.index("endheader")
    header = dict(line.split("=", 1) for line in lines[1:end] if "=" in line)
    columns = lines[end + 1].split("\t")
    rows = np.array([[float(v) for v in line.split("\t")] for line in lines[end + 2:]])
    return {"name": lines[0], **header}, columns, rows


def test_mot_has_a_valid_opensim_header_and_the_measured_angles(measured, tmp_path):
    (path,) = write_exports(measured, tmp_path, (ExportFormat.MOT,))
    header, columns, rows = _read_mot(path)
    assert header["name"] == SAMPLE.stem and header["inDegrees"] == "yes"
    assert int(header["nRows"]) == rows.shape[0] == len(measured.timestamps_s)
    assert int(header["nColumns"]) == rows.shape[1] == len(columns) == 3
    assert columns == ["time", "hip_rotation_l", "hip_rotation_r"]
    assert rows[0, 0] == 0.0 and np.all(np.diff(rows[:, 0]) > 0)
    for k, side in enumerate(("left", "right"), start=1):
        np.testing.assert_allclose(rows[:, k], measured.rotation_deg[side], atol=1e-5)
    assert np.nanmax(rows[:, 1]) > 30.0          # the left leg's IR hold is in the file


@pytest.mark.filterwarnings("ignore:No analog data:UserWarning")
def test_c3d_reads_back_points_angles_and_rate(measured, tmp_path):
    c3d = pytest.importorskip("c3d")
    (path,) = write_exports(measured, tmp_path, (ExportFormat.C3D,))
    with path.open("rb") as handle:
        reader = c3d.Reader(handle)
        assert reader.point_rate == pytest.approx(measured.source.fps)
        assert [str(x).strip() for x in reader.point_labels] == list(C3D_POINTS)
        frames = [points for _, points, _ in reader.read_frames()]
    assert len(frames) == len(measured.timestamps_s)
    angles = np.array([[f[6, 0] if f[6, 3] >= 0 else np.nan,
                        f[7, 0] if f[7, 3] >= 0 else np.nan] for f in frames])
    np.testing.assert_allclose(angles[:, 0], measured.rotation_deg["left"], atol=1e-3)
    knees_x = np.array([f[1, 0] for f in frames])
    assert np.all(knees_x[np.isfinite(knees_x)] > 0)


@pytest.mark.filterwarnings("ignore:No analog data")   # the file has none, on purpose
def test_c3d_gaps_read_as_gaps_not_as_the_last_value(measured, tmp_path):
    # The c3d writer reuses its frame buffer: an invalid point kept the previous frame's
    # coordinates, so a reader that ignores residuals drew a flat line through the gap.
    from dataclasses import replace

    c3d = pytest.importorskip("c3d")
    rotation = {k: v.copy() for k, v in measured.rotation_deg.items()}
    rotation["left"][50:60] = np.nan
    (path,) = write_exports(replace(measured, rotation_deg=rotation), tmp_path,
                            (ExportFormat.C3D,))
    with path.open("rb") as handle:
        frames = [points for _, points, _ in c3d.Reader(handle).read_frames()]
    gap = np.array([f[6] for f in frames[50:60]])
    assert np.all(gap[:, 3] < 0) and np.all(gap[:, :3] == 0.0), gap[:3]
    assert frames[49][6][3] >= 0 and frames[49][6][0] == pytest.approx(rotation["left"][49],
                                                                       abs=1e-3)


def test_c3d_refuses_a_strided_measurement_and_mot_keeps_its_times(measured):
    from dataclasses import replace

    from hiprom.media.exports import c3d_bytes

    strided = replace(measured, frame_index=measured.frame_index * 2)
    with pytest.raises(InputError, match="every frame"):
        c3d_bytes(strided)
    _, _, rows = _read_mot_text(mot_text(strided))
    np.testing.assert_allclose(rows[:, 0], measured.timestamps_s, atol=1e-6)


def _gapped(measured, damaged: bool):
    """``measured`` with frames 60-75 lost: to a damaged section (frame numbers and the
    decoder's gap record skip them) or to a variable frame rate (numbered on, times jump)."""
    from dataclasses import replace

    keep = np.r_[0:60, 76:len(measured.timestamps_s)]
    return replace(measured, timestamps_s=measured.timestamps_s[keep],
                   frame_index=measured.frame_index[keep] if damaged else np.arange(keep.size),
                   source=replace(measured.source,
                                  decode_gaps=((1.97, 2.53),) if damaged else ()),
                   rotation_deg={k: v[keep] for k, v in measured.rotation_deg.items()},
                   landmarks_xy=measured.landmarks_xy[keep])


@pytest.mark.reliability(case="`--export c3d` of a clip whose frames are not evenly spaced "
                              "(variable frame rate, dropped frames, a damaged section)",
                         outcome="one line: no .c3d written, use the .mot, which keeps each "
                                 "frame's time; JSON, CSV and .mot written; exit 1 (was: a "
                                 "C3D at the average rate, frames up to 0.4 s early)")
@pytest.mark.parametrize("damaged", [True, False], ids=["damaged", "variable-rate"])
def test_c3d_refuses_uneven_frames_and_the_rest_is_written(measured, tmp_path, monkeypatch,
                                                           damaged):
    import hiprom.pipeline.measure

    gapped = _gapped(measured, damaged)
    monkeypatch.setattr(hiprom.pipeline.measure, "measure_path", lambda *a, **k: gapped)
    run = CliRunner().invoke(app, ["measure", str(SAMPLE), "-o", str(tmp_path), "-q",
                                   "--export", "mot", "--export", "c3d", "--no-history"])
    assert run.exit_code == 1, run.output
    [line] = run.output.strip().splitlines()
    assert "no .c3d written" in line and ".mot export keeps each frame's own time" in line
    assert not (tmp_path / f"{SAMPLE.stem}.c3d").exists()
    assert (tmp_path / f"{SAMPLE.stem}.json").is_file()
    _, _, rows = _read_mot(tmp_path / f"{SAMPLE.stem}.mot")
    np.testing.assert_allclose(rows[:, 0], gapped.timestamps_s, atol=1e-6)


@pytest.mark.reliability(case="`--export mot` of an input refused as not the seated test",
                         outcome="no .mot or .c3d (the JSON keeps the refusal); the line "
                                 "says nothing was exported (was: angles of a standing person "
                                 "exported as hip rotation)")
def test_a_refused_input_is_not_exported(measured, tmp_path, monkeypatch):
    from dataclasses import replace

    import hiprom.pipeline.measure
    from hiprom.core.posture import PostureCheck

    refused = replace(measured, protocol=PostureCheck(valid=False, reason="not seated",
                                                      features={}, usable_fraction=1.0))
    monkeypatch.setattr(hiprom.pipeline.measure, "measure_path", lambda *a, **k: refused)
    run = CliRunner().invoke(app, ["measure", str(SAMPLE), "-o", str(tmp_path), "-q",
                                   "--export", "mot", "--no-history"])
    assert run.exit_code == 1, run.output
    assert "not the seated test" in run.output and "nothing exported" in run.output
    assert not (tmp_path / f"{SAMPLE.stem}.mot").exists()
    assert (tmp_path / f"{SAMPLE.stem}.json").is_file()


def test_cli_export_flags(tmp_path):
    run = CliRunner().invoke(app, ["measure", str(SAMPLE), "-o", str(tmp_path), "-q",
                                   "--export", "mot", "--export", "c3d"])
    assert run.exit_code == 0, run.output
    assert (tmp_path / f"{SAMPLE.stem}.mot").is_file()
    assert (tmp_path / f"{SAMPLE.stem}.c3d").read_bytes()[1:2] == b"\x50"  # C3D key byte
    run = CliRunner().invoke(app, ["measure", str(SAMPLE), "-o", str(tmp_path), "--stride", "2",
                                   "--export", "mot"])
    assert run.exit_code == 2 and "every frame" in run.output


@pytest.mark.reliability(case="`hiprom measure` into a folder holding files named like the "
                              "input's results that this run does not write (an earlier run's "
                              "`clip.mot`, or a lab's own `trial01.c3d`)",
                         outcome="kept as they are and named in a note, even with --quiet: "
                                 "they may not match the new result (was: left silently)")
def test_files_named_like_results_that_this_run_does_not_write_are_kept_and_named(
        measured, tmp_path, monkeypatch):
    import hiprom.pipeline.measure

    monkeypatch.setattr(hiprom.pipeline.measure, "measure_path", lambda *a, **k: measured)
    first = CliRunner().invoke(app, ["measure", str(SAMPLE), "-o", str(tmp_path),
                                     "--export", "mot", "--no-history"])
    assert first.exit_code == 0, first.output
    mot = (tmp_path / f"{SAMPLE.stem}.mot").read_text()
    lab = tmp_path / f"{SAMPLE.stem}.c3d"        # another tool's file of the same name
    lab.write_bytes(b"vicon")
    again = CliRunner().invoke(app, ["measure", str(SAMPLE), "-o", str(tmp_path),
                                     "--no-history", "-q"])
    assert again.exit_code == 0, again.output
    assert lab.read_bytes() == b"vicon" and (tmp_path / f"{SAMPLE.stem}.mot").read_text() == mot
    said = " ".join(again.output.split())
    for name in (f"{SAMPLE.stem}.mot", f"{SAMPLE.stem}.c3d"):
        assert f"{name} was not written by this run and was left as it is" in said, said
