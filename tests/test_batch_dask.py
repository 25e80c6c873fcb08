"""Beyond one machine: fsspec URL inputs and the Dask engine with worker processes."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hiprom._hashing import sha256_file
from hiprom.batch.inputs import collect_inputs, fingerprint_all, read_manifest
from hiprom.batch.remote import is_url, local_copy
from hiprom.batch.run import BatchConfig, run_batch
from hiprom.batch.store import DEFAULT_STORE_NAME
from hiprom.cli.main import app

pytest.importorskip("fsspec")

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _url(path: Path) -> str:
    return path.resolve().as_uri()   # file:///...


def test_url_folders_globs_files_and_manifests_are_collected(tmp_path):
    folder = tmp_path / "footage"
    (folder / "2026").mkdir(parents=True)
    for name in ("2026/P01_a.mp4", "2026/P02_b.MOV", "notes.txt", "P03_c.mp4"):
        (folder / name).write_bytes(name.encode())
    found = collect_inputs([_url(folder)], id_pattern=r"(?P<id>P\d+)_")
    assert [i.url for i in found] == [_url(folder / n) for n in
                                      ("2026/P01_a.mp4", "2026/P02_b.MOV", "P03_c.mp4")]
    assert [i.patient_id for i in found] == ["P01", "P02", "P03"]
    assert [i.location for i in found] == [i.url for i in found]
    globbed = collect_inputs([_url(folder) + "/2026/*.mp4"])
    assert [i.url for i in globbed] == [_url(folder / "2026/P01_a.mp4")]
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,patient_id\n{_url(folder / 'P03_c.mp4')},X9\n")
    [row] = read_manifest(manifest)
    assert (row.url, row.patient_id, row.path.name) == (_url(folder / "P03_c.mp4"), "X9",
                                                       "P03_c.mp4")
    records = fingerprint_all(found)
    assert [r.path for r, _, _ in records] == [i.url for i in found]
    assert records[0][0].sha256 == sha256_file(folder / "2026/P01_a.mp4")
    assert records[0][0].size_bytes == len(b"2026/P01_a.mp4")


def test_a_missing_url_is_an_unreadable_input_not_a_crash(tmp_path):
    [record] = fingerprint_all(collect_inputs([_url(tmp_path / "gone.mp4")]))
    assert record[0].sha256.startswith("unreadable:") and "gone.mp4" in record[2]


def test_local_copy_reads_remote_objects_into_a_temporary_file():
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/clinic/P01.mp4", b"not really a video")
    with local_copy("memory://clinic/P01.mp4") as local:
        assert local.name == "P01.mp4" and local.read_bytes() == b"not really a video"
    assert not local.exists() and not local.parent.exists()
    with local_copy("/data/x.mp4") as plain:
        assert plain == Path("/data/x.mp4")
    assert is_url("memory://clinic/P01.mp4") and not is_url("/data/x.mp4")


@pytest.mark.mediapipe
@pytest.mark.slow
def test_dask_cluster_of_two_worker_processes_reads_file_urls(tmp_path):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    clips = [SAMPLES / "seated_er_pitch_yaw.mp4", SAMPLES / "seated_ir_pelvis_roll_comp.mp4"]
    if not all(c.is_file() for c in clips):
        pytest.skip("rendered samples not present")
    folder = tmp_path / "storage"
    folder.mkdir()
    for clip in clips:
        (folder / clip.name).write_bytes(clip.read_bytes())
    out = tmp_path / "out"
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None) as cluster:
        run = CliRunner().invoke(app, ["batch", _url(folder), "--out", str(out), "--quiet",
                                       "--scheduler", cluster.scheduler_address])
        assert run.exit_code == 0, run.output
        workers = set(cluster.scheduler_info["workers"])
    assert len(workers) == 2
    with sqlite3.connect(out / DEFAULT_STORE_NAME) as db:
        paths = sorted(p for (p,) in db.execute("SELECT path FROM inputs"))
        rows = db.execute("SELECT status, output_dir, output_files FROM results").fetchall()
    assert paths == sorted(_url(folder / c.name) for c in clips)
    assert [r[0] for r in rows] == ["ok", "ok"]
    for _, output_dir, files in rows:
        # written by the driver, from what the worker sent back
        assert Path(output_dir).parent == out / "videos"
        assert all(Path(f).is_file() for f in json.loads(files))
    for clip in clips:
        doc = json.loads(next(out.rglob(f"{clip.stem}.json")).read_text())
        assert doc["source"]["path"] == _url(folder / clip.name)
        assert doc["source"]["sha256"] == sha256_file(clip)
        assert doc["source"]["sampling"] == "adaptive"
    with (out / "results.csv").open() as fh:
        assert {r["path"] for r in csv.DictReader(fh)} == set(paths)


def test_url_inputs_through_a_fake_scorer_keep_their_urls(tmp_path):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "url_scoring.py").write_text(
        "import os\n"
        "from hiprom.batch.store import OutcomeRecord\n"
        "def score(job):\n"
        "    assert job.path.startswith('file://'), job.path\n"
        "    return OutcomeRecord(job.sha256, ok=False, error_type='MeasurementError',\n"
        "                         error_message='fake: ' + job.path.rsplit('/', 1)[-1])\n")
    import sys

    sys.path.insert(0, str(lib))
    try:
        import url_scoring

        folder = tmp_path / "in"
        folder.mkdir()
        (folder / "a.mp4").write_bytes(b"a")
        with LocalCluster(processes=False, n_workers=1, threads_per_worker=1,
                          dashboard_address=None) as cluster:
            report = run_batch(BatchConfig(sources=(_url(folder),), out_dir=tmp_path / "out",
                                           scheduler=cluster.scheduler_address),
                               score_fn=url_scoring.score)
    finally:
        sys.path.remove(str(lib))
    # the message is shown without the error's class (raised on purpose) or the input's name
    assert report.failures == [(_url(folder / "a.mp4"), "fake: a.mp4")]
