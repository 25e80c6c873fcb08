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
    lines = path.read_text().splitlines()
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


def test_exports_refuse_a_strided_measurement(measured):
    from dataclasses import replace

    strided = replace(measured, frame_index=measured.frame_index * 2)
    with pytest.raises(InputError, match="every frame"):
        mot_text(strided)


def test_cli_export_flags(tmp_path):
    run = CliRunner().invoke(app, ["measure", str(SAMPLE), "-o", str(tmp_path), "-q",
                                   "--export", "mot", "--export", "c3d"])
    assert run.exit_code == 0, run.output
    assert (tmp_path / f"{SAMPLE.stem}.mot").is_file()
    assert (tmp_path / f"{SAMPLE.stem}.c3d").read_bytes()[1:2] == b"\x50"  # C3D key byte
    run = CliRunner().invoke(app, ["measure", str(SAMPLE), "-o", str(tmp_path), "--stride", "2",
                                   "--export", "mot"])
    assert run.exit_code == 2 and "every frame" in run.output
