"""Batch worker start-up: paid once per worker process, and results independent of job order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hiprom.batch.engines import Job, run_local
from hiprom.cli.main import app

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

WORKER_LIB = '''
"""Importable by spawned workers: a warm-up that leaves a mark, and a job that reads it."""
import os
import time

from hiprom.batch.store import OutcomeRecord

WARMED = []


def warm():
    WARMED.append(time.monotonic())


def job(job):
    time.sleep(0.3)  # long enough that the other worker takes the next job
    return OutcomeRecord(job.sha256, ok=True, worker=f"{os.getpid()}:{len(WARMED)}")
'''


def test_workers_start_together_and_warm_up_once_each(tmp_path, monkeypatch):
    (tmp_path / "worker_lib.py").write_text(WORKER_LIB)
    monkeypatch.syspath_prepend(str(tmp_path))
    import worker_lib

    jobs = [Job(f"/v/{i}.mp4", f"{i:064d}", str(tmp_path / str(i))) for i in range(6)]
    outcomes = []
    run_local(jobs, worker_lib.job, lambda job, outcome: outcomes.append(outcome), workers=2,
              warm=worker_lib.warm)
    assert len(outcomes) == 6
    pids = {o.worker.split(":")[0] for o in outcomes}
    assert len(pids) == 2, "both workers took jobs"
    assert {o.worker.split(":")[1] for o in outcomes} == {"1"}, "each warmed up exactly once"


def _batch(sources: list[Path], out: Path) -> None:
    folder = out.parent / f"{out.name}-in"
    folder.mkdir()
    for source in sources:
        (folder / source.name).symlink_to(source)
    run = CliRunner().invoke(app, ["batch", str(folder), "--out", str(out), "--workers", "1",
                                   "--quiet"])
    assert run.exit_code == 0, run.output


@pytest.mark.mediapipe
@pytest.mark.slow
def test_a_files_result_does_not_depend_on_what_its_worker_scored_before(tmp_path):
    # One worker scores the long clip first, then the short one (longest first); another
    # run scores the short one alone, in a fresh worker. Its numbers must be identical.
    first, second = SAMPLES / "seated_ir_left_right.mp4", SAMPLES / "seated_er_pitch_yaw.mp4"
    if not (first.is_file() and second.is_file()):
        pytest.skip("rendered samples not present")
    _batch([first, second], tmp_path / "after")
    _batch([second], tmp_path / "alone")
    docs = {name: json.loads(next((tmp_path / name).rglob(f"{second.stem}.json")).read_text())
            for name in ("after", "alone")}
    assert docs["after"]["legs"] == docs["alone"]["legs"]
    csvs = {name: next((tmp_path / name).rglob(f"{second.stem}.csv")).read_text()
            for name in ("after", "alone")}
    assert csvs["after"] == csvs["alone"]
    # the key frame too: its faces blurred by the worker's kept face detectors
    keys = {name: next((tmp_path / name).rglob(f"{second.stem}.keyframe.png")).read_bytes()
            for name in ("after", "alone")}
    assert keys["after"] == keys["alone"]


def _after_preload(tmp_path, checks: str) -> None:
    """Run ``checks`` (Python lines) in a fresh interpreter right after MediaPipe's preload."""
    import subprocess
    import sys

    script = ("import sys\nfrom hiprom.backends.mediapipe import preload\npreload()\n"
              "assert 'mediapipe' in sys.modules\n" + checks)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr


@pytest.mark.mediapipe
def test_mediapipe_is_imported_without_pyplot_and_matplotlib_still_works(tmp_path):
    _after_preload(tmp_path, (
        "assert 'matplotlib.pyplot' not in sys.modules and 'matplotlib' not in sys.modules\n"
        "from matplotlib.figure import Figure\n"
        "import matplotlib.pyplot as plt\n"
        "assert hasattr(plt, 'figure') and Figure is not None\n"
    ))


@pytest.mark.mediapipe
def test_mediapipe_is_imported_without_sounddevice_and_sounddevice_still_imports(tmp_path):
    # Every batch worker imports MediaPipe; its audio tasks' sounddevice (PortAudio) is
    # kept out of that import, and blocked only while it runs.
    _after_preload(tmp_path, (
        "assert 'sounddevice' not in sys.modules, 'imported with mediapipe'\n"
        "from mediapipe.tasks.python.audio.core import audio_record\n"
        "assert audio_record.sd is None\n"
        "try:\n"
        "    import sounddevice\n"
        "except OSError:\n"
        "    pass  # found (not blocked), but this machine has no PortAudio library\n"
    ))


@pytest.mark.parametrize(("stopped", "exits"), [
    (False, [0]),  # a worker that finished: straight out, streams flushed
    (True, []),    # stopped by the driver (SIGTERM): the usual exit, with its code
])
def test_a_finished_worker_exits_without_the_interpreters_teardown(monkeypatch, stopped, exits):
    import hiprom.batch.engines as engines

    calls: list[int] = []
    flushed: list[str] = []
    monkeypatch.setattr(engines, "_STOPPED", stopped)
    monkeypatch.setattr(engines.os, "_exit", calls.append)
    monkeypatch.setattr(engines.sys.stdout, "flush", lambda: flushed.append("out"))
    monkeypatch.setattr(engines.sys.stderr, "flush", lambda: flushed.append("err"))
    engines._exit_without_teardown()
    assert calls == exits
    assert flushed == (["out", "err"] if exits else [])


def test_sigterm_marks_the_worker_as_stopped(monkeypatch):
    import signal

    import hiprom.batch.engines as engines

    monkeypatch.setattr(engines, "_STOPPED", False)
    with pytest.raises(SystemExit) as stop:
        engines._stop_on_sigterm(signal.SIGTERM, None)
    assert stop.value.code == 128 + signal.SIGTERM and engines._STOPPED
