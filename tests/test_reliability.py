"""Bad-input cases of the reliability probe not covered elsewhere: containers, names, loops.

Each case carries a ``reliability`` mark; docs/RELIABILITY.md is generated from the marks
(benchmarks/reliability_table.py) and tests/test_reliability_doc.py keeps it current.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import pytest

from hiprom.batch.run import BatchConfig, collect_inputs, run_batch
from hiprom.batch.store import OutcomeRecord
from hiprom.media.sources import iter_video


@pytest.mark.reliability(case="odd containers: AVI (MJPEG), MKV, MOV, M4V, WebM",
                         outcome="every frame decodes, in order")
@pytest.mark.parametrize(("name", "fourcc"), [("clip.avi", "MJPG"), ("clip.mkv", "mp4v"),
                                              ("clip.mov", "mp4v"), ("clip.m4v", "mp4v"),
                                              ("clip.webm", "VP80")])
def test_odd_containers_decode(synth_media, name, fourcc):
    path = synth_media.video(name, n_frames=12, fourcc=fourcc)
    frames = iter_video(path)
    assert [f.index for f in frames] == list(range(12))
    assert frames.truncated is False


def score_ok(job):
    """A stand-in scorer: every input measures 40° / 35°."""
    leg = {"internal_rotation_deg": 40.0, "quality": [], "reps": []}
    doc = {"schema": "hiprom-result/1", "legs": {"left": leg, "right": dict(leg)},
           "quality": []}
    return OutcomeRecord(job.sha256, ok=True, result=doc, output_dir=job.out_dir)


@pytest.mark.reliability(case="symlink loops in a scanned folder (a folder linking to its "
                         "parent, a file linking to itself, two files linking to each other)",
                         outcome="the scan ends at once; explicitly named loops fail alone "
                         "with 'cannot read'")
def test_symlink_loops_neither_hang_nor_stop_the_batch(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "good.mp4").write_bytes(b"x")
    (src / "sub" / "up").symlink_to("..", target_is_directory=True)
    (src / "self.mp4").symlink_to("self.mp4")
    (src / "a.mp4").symlink_to("b.mp4")
    (src / "b.mp4").symlink_to("a.mp4")
    t0 = time.monotonic()
    found = collect_inputs([src])
    assert time.monotonic() - t0 < 5
    assert [p.path.name for p in found] == ["good.mp4"]
    report = run_batch(BatchConfig(sources=(str(src), str(src / "self.mp4")),
                                   out_dir=tmp_path / "out", workers=1), score_fn=score_ok)
    assert report.n_scored == 1
    assert [(Path(s.input.path).name, s.error_type) for s in report.results
            if s.status != "ok"] == [("self.mp4", "SourceError")]
    assert report.failures[0][1].startswith("cannot read self.mp4")


ODD_NAMES = ["ünïcödé clip.mp4", "-starts-with-dash.mp4", "new\nline.mp4", "semi;colon,comma.mp4",
             "quote\"and'apostrophe.mp4", " leading space.mp4", "日本語.mp4"]


@pytest.mark.reliability(case="odd file names: unicode, spaces, a leading dash, a newline, "
                         "quotes, commas and semicolons",
                         outcome="scored; results.csv reads back with one row per leg")
def test_odd_file_names_are_scored_and_round_trip_through_results_csv(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i, name in enumerate(ODD_NAMES):
        (src / name).write_bytes(bytes([i]) * 10)
    out = tmp_path / "out"
    report = run_batch(BatchConfig(sources=(str(src),), out_dir=out, workers=1),
                       score_fn=score_ok)
    assert report.exit_code == 0 and report.n_scored == len(ODD_NAMES)
    with (out / "results.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(Path(r["path"]).name for r in rows if r["leg"] == "left") == sorted(ODD_NAMES)
    assert all(Path(r["output_dir"]).parent == out / "videos" for r in rows)
    assert len({r["output_dir"] for r in rows}) == len(ODD_NAMES)


@pytest.mark.reliability(case="an input path that is a folder, a FIFO or a device",
                         outcome="one-line SourceError / failed input; nothing waits on a pipe")
def test_folders_fifos_and_devices_are_refused(tmp_path):
    from hiprom.errors import SourceError
    from hiprom.pipeline.measure import measure_path

    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)  # before: measure and batch opened it and waited for a writer forever
    for path in (tmp_path, fifo, Path("/dev/null")):
        t0 = time.monotonic()
        with pytest.raises(SourceError):
            measure_path(path)
        assert time.monotonic() - t0 < 5
    report = run_batch(BatchConfig(sources=(str(fifo), "/dev/zero"), out_dir=tmp_path / "out",
                                   workers=1), score_fn=score_ok)
    assert [s.error_type for s in report.results if s.status != "ok"] == ["SourceError"] * 2
    assert all("not a regular file" in r for _, r in report.failures)
    assert not any("SourceError" in r for _, r in report.failures)   # said once, in words


@pytest.mark.reliability(case="`hiprom batch footage/ --out footage/scores` (the output folder "
                              "inside the scanned folder), run twice",
                         outcome="the batch's own key frames and videos are not taken as "
                                 "inputs; the rerun has nothing new to score")
def test_out_inside_the_scanned_folder_is_not_scanned(tmp_path):
    src = tmp_path / "footage"
    src.mkdir()
    (src / "clip.mp4").write_bytes(b"clip")
    out = src / "scores"
    # What an earlier run left there: per-video files, among them images and a video.
    done = out / "videos" / "clip-0123456789ab"
    done.mkdir(parents=True)
    (done / "clip.keyframe.png").write_bytes(b"png")
    (done / "clip.annotated.webm").write_bytes(b"webm")
    first = run_batch(BatchConfig(sources=(str(src),), out_dir=out, workers=1),
                      score_fn=score_ok)
    assert (first.n_inputs, first.n_scored, first.failures) == (1, 1, [])
    again = run_batch(BatchConfig(sources=(str(src),), out_dir=out, workers=1),
                      score_fn=score_ok)
    assert (again.n_inputs, again.n_scored, again.n_skipped, again.exit_code) == (1, 0, 1, 0)
    assert [p.path.name for p in collect_inputs([src], exclude=out)] == ["clip.mp4"]
    # A glob reaching into it, and the same folder named through a symlink, skip it too.
    (tmp_path / "link").symlink_to(src, target_is_directory=True)
    found = collect_inputs([str(src / "**" / "*.*"), tmp_path / "link"], exclude=out)
    assert [p.path.name for p in found] == ["clip.mp4"]
