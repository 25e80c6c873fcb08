"""All-or-nothing outputs: temporary names, sets renamed together, Ctrl-C, full disks, modes."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import hiprom.media.sinks
from hiprom.app.headless import default_sigint
from hiprom.backends import FakeBackend
from hiprom.core.landmarks import Landmarks
from hiprom.media.outputs import write_outputs
from hiprom.media.sinks import AtomicFiles, atomic_path
from hiprom.pipeline.measure import measure_path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "seated_ir_left_right.mp4"


def _person(left_deg: float) -> np.ndarray:
    """(33, 2) landmarks of a seated person; the left shank tilted ``left_deg`` outward."""
    xy = np.zeros((33, 2), np.float32)
    for hip, knee, ankle, x, lateral, deg in ((23, 25, 27, 380.0, 1.0, left_deg),
                                             (24, 26, 28, 260.0, -1.0, 0.0)):
        xy[hip] = xy[knee] = (x, 240.0)
        t = np.radians(deg)
        xy[ankle] = (x + lateral * 160 * np.sin(t), 240 + 160 * np.cos(t))
    xy[11], xy[12] = (390, 60), (250, 60)
    return xy


@pytest.fixture
def measurement(tmp_path):
    """A short clip measured with a fake pose model (no MediaPipe needed)."""
    n = 45
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (640, 480))
    for i in range(n):
        writer.write(np.full((480, 640, 3), 40 + i, np.uint8))
    writer.release()
    seq = [Landmarks(_person(min(30.0, i))[None], np.ones((1, 33)), (640, 480))
           for i in range(n)]
    return measure_path(path, backend_factory=lambda mode: FakeBackend(seq))


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.reliability(case="Ctrl-C while the annotated video is being encoded",
                         outcome="no file under a final name, temporary files removed")
def test_interrupted_annotation_leaves_nothing_under_a_final_name(measurement, tmp_path):
    out = tmp_path / "out"

    def hook(image, i):
        if i == 20:
            raise KeyboardInterrupt
        return image

    with pytest.raises(KeyboardInterrupt):
        write_outputs(measurement, out, annotate=True, frame_hook=hook)
    # Before: the JSON and CSV were in place and a 20-frame .annotated.webm was renamed
    # into place by a `finally` as if it were complete.
    assert _names(out) == []


@pytest.mark.reliability(case="disk full while writing the key frame",
                         outcome="JSON and CSV are not left without their key frame")
def test_full_disk_at_the_key_frame_keeps_none_of_the_set(measurement, tmp_path, monkeypatch):
    real = Path.write_bytes

    def write_bytes(self, data):
        if self.suffix == ".png":
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    with pytest.raises(OSError, match="No space left"):
        write_outputs(measurement, tmp_path / "out")
    assert _names(tmp_path / "out") == []
    monkeypatch.undo()
    written = write_outputs(measurement, tmp_path / "out")
    assert _names(tmp_path / "out") == sorted(p.name for p in written) == [
        "clip.csv", "clip.json", "clip.keyframe.png"]


@pytest.mark.reliability(case="a rename failing half-way through a set of outputs",
                         outcome="the files already renamed are removed: all or nothing")
def test_a_rename_failing_half_way_removes_the_files_already_renamed(tmp_path, monkeypatch):
    real = os.replace
    calls = []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(hiprom.media.sinks.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="Input/output"), AtomicFiles() as files:
        files.path(tmp_path / "a.json").write_text("{}")
        files.path(tmp_path / "b.csv").write_text("x\n")
    assert len(calls) == 2 and _names(tmp_path) == []


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_atomic_path_removes_its_temporary_file_on_any_exception(tmp_path, error):
    target = tmp_path / "report.html"
    target.write_text("old")
    with pytest.raises(error), atomic_path(target) as tmp:
        tmp.write_text("half")
        assert tmp.parent == tmp_path and tmp.suffix == ".html" and tmp.name.startswith(".")
        raise error
    assert _names(tmp_path) == ["report.html"] and target.read_text() == "old"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
@pytest.mark.reliability(case="file modes of the outputs (were 0600 and 0644 mixed)",
                         outcome="every file follows the umask (0644 under 022)")
def test_every_output_gets_the_normal_file_mode(measurement, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        written = write_outputs(measurement, tmp_path / "out", annotate=True)
    finally:
        os.umask(old)
    assert {p.suffix for p in written} == {".json", ".csv", ".png", ".webm"}
    # Before: the JSON and key frame were 0600 (mkstemp), the CSV and video 0644.
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {
        p.name: oct(mode) for p in written}


def test_cli_measure_ctrl_c_prints_one_line_and_exits_130(tmp_path, monkeypatch):
    import hiprom.pipeline.measure
    from hiprom.cli.common import INTERRUPTED
    from hiprom.cli.main import app

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hiprom.pipeline.measure, "measure_path", interrupted)
    result = CliRunner().invoke(app, ["measure", str(SAMPLE), "-o", str(tmp_path / "out")])
    assert result.exit_code == 130
    assert result.output.strip() == INTERRUPTED


def _wait_for(predicate, timeout_s: float, proc: subprocess.Popen) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _signal_measure_annotate(out: Path, sig: int, cmd: list[str], **popen) -> None:
    """Start ``cmd`` (measure --annotate), send ``sig`` once the video is being written, and
    check it ends like Ctrl-C: exit 130, the one line, nothing left in ``out``."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)
    try:
        started = _wait_for(lambda: any(p.name.endswith(".part.webm") and p.stat().st_size
                                        for p in out.glob(".*")), 120, proc)
        assert started, f"the annotated video never started: {proc.communicate()}"
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert stderr.strip() == ("interrupted; nothing partial was kept — run the same command "
                              "again to finish")
    assert _names(out) == [], "neither a final nor a temporary file may be left"


@pytest.mark.slow
@pytest.mark.mediapipe
@pytest.mark.reliability(case="SIGINT to `hiprom measure --annotate` mid-way, then a rerun",
                         outcome="exit 130, one line, no partial file; the rerun completes")
def test_sigint_during_measure_annotate_keeps_nothing_partial_and_a_rerun_finishes(tmp_path):
    out = tmp_path / "out"
    cmd = [str(Path(sys.executable).parent / "hiprom"), "measure", str(SAMPLE), "--annotate",
           "-o", str(out), "--no-history", "-q"]
    _signal_measure_annotate(out, signal.SIGINT, cmd, preexec_fn=default_sigint)
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert _names(out) == sorted(f"seated_ir_left_right.{s}" for s in
                                 ("annotated.webm", "csv", "json", "keyframe.png"))


@pytest.mark.slow
@pytest.mark.mediapipe
@pytest.mark.reliability(case="SIGTERM to `hiprom measure --annotate` mid-way (`timeout`, a "
                              "job scheduler, a closed terminal's SIGHUP)",
                         outcome="handled like Ctrl-C: exit 130, one line, and no file left, "
                                 "temporary ones included (was: killed, leaving .part files)")
def test_sigterm_during_measure_annotate_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "hiprom.cli.main", "measure", str(SAMPLE), "--annotate",
           "-o", str(out), "--no-history", "-q"]
    _signal_measure_annotate(out, signal.SIGTERM, cmd)
