"""File-system problems that are the user's end in one line saying what to do, not in
"internal error ... please report it" or a traceback; and no half-written file is left
under a final name.

Tests run as root, where a chmod'ed folder is still writable, so "no permission", "read-only
disk" and "disk full" are raised where the writer would meet them; "--out is a file" is real.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import hiprom.cli.main
import hiprom.live.session
import hiprom.media.sinks
import hiprom.pipeline.measure
from builders import NEAR_BODY, landmarks, seated_xy
from hiprom.backends import FakeBackend
from hiprom.batch.run import Job, score_job
from hiprom.batch.store import ResultStore
from hiprom.cli.main import app
from hiprom.errors import describe_os_error

runner = CliRunner()
FINAL_SUFFIXES = (".json", ".csv", ".keyframe.png")


@pytest.fixture
def photo(tmp_path, monkeypatch) -> Path:
    """A photo that ``hiprom measure`` measures with a fake pose model (no MediaPipe)."""
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), np.full((480, 640, 3), 90, np.uint8))
    real = hiprom.pipeline.measure.measure_path

    def measure_path(p, *, options=None, progress=None):
        return real(p, options=options, backend_factory=lambda mode: FakeBackend(
            [landmarks(seated_xy(30.0, 20.0, NEAR_BODY))]))

    monkeypatch.setattr(hiprom.pipeline.measure, "measure_path", measure_path)
    return path


def _one_error_line(result) -> str:
    """The run's single ``error:`` line; checks exit 1 without a traceback or bug report."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    return errors[0]


def _final_names(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(FINAL_SUFFIXES)
                  and not p.name.startswith("."))


def test_the_fake_measurement_writes_all_three_files(tmp_path, photo):
    result = runner.invoke(app, ["measure", str(photo), "--out", str(tmp_path / "o"),
                                 "--no-history", "-q"])
    assert result.exit_code == 0, result.output
    assert _final_names(tmp_path / "o") == ["photo.csv", "photo.json", "photo.keyframe.png"]


@pytest.mark.reliability(case='`--out` of measure names a file',
                         outcome='exit 1, one line: which part is a file, move it away')
def test_measure_out_is_a_file(tmp_path, photo):
    (tmp_path / "results").write_text("not a folder")
    line = _one_error_line(runner.invoke(app, ["measure", str(photo), "--out",
                                               str(tmp_path / "results"), "--no-history"]))
    assert "results is a file where a folder is needed" in line
    assert "move the file away" in line


@pytest.mark.reliability(case="`hiprom measure a.png b.png --out X` where X is a file, or lies "
                              "below a file",
                         outcome="exit 1, one line about --out before anything is measured "
                                 "(was: each input measured, then the same line once per input)")
@pytest.mark.parametrize(("out", "words"), [
    ("results", " is a file where a folder is needed; pick a folder path or move the file away"),
    ("results/today", ": part of this path is a file, not a folder; pick a folder path"),
])
def test_measure_out_that_cannot_be_a_folder_is_one_line_for_all_inputs(tmp_path, photo,
                                                                        monkeypatch, out, words):
    (tmp_path / "results").write_text("not a folder")
    second = tmp_path / "second.png"
    second.write_bytes(photo.read_bytes())
    measured = []
    fake = hiprom.pipeline.measure.measure_path

    def measure_path(path, **kwargs):
        measured.append(path)
        return fake(path, **kwargs)

    monkeypatch.setattr(hiprom.pipeline.measure, "measure_path", measure_path)
    result = runner.invoke(app, ["measure", str(photo), str(second), "--out",
                                 str(tmp_path / out), "--no-history"])
    line = _one_error_line(result)
    assert line.startswith(f"error: --out {tmp_path / out}{words}"), line
    assert measured == []                      # refused before the first input is measured
    assert len(result.output.splitlines()) == 1, result.output
    assert (tmp_path / "results").read_text() == "not a folder"


@pytest.mark.reliability(case="`hiprom measure a.png -o result.json` (a new path named like a "
                              "file)", outcome="exit 1, one line: --out takes a folder; no "
                              "folder named result.json is made (was: silently made)")
@pytest.mark.parametrize("out", ["result.json", "Report.HTML", "clip.mp4"])
def test_measure_out_named_like_a_file_is_refused_not_made_a_folder(tmp_path, photo, out):
    result = runner.invoke(app, ["measure", str(photo), "-o", str(tmp_path / out),
                                 "--no-history"])
    line = _one_error_line(result)
    assert line == (f"error: --out {tmp_path / out} looks like a file name, but --out takes a "
                    "folder for the result files; pick a folder path, e.g. --out results"), line
    assert result.exit_code == 1 and not (tmp_path / out).exists()
    # an existing folder of that name is still used, and a dotted folder name is fine
    (tmp_path / out).mkdir()
    for folder in (tmp_path / out, tmp_path / "session.2026"):
        done = runner.invoke(app, ["measure", str(photo), "-o", str(folder), "--no-history"])
        assert done.exit_code == 0, done.output
        assert folder.is_dir() and any(folder.iterdir())


@pytest.mark.reliability(case="`hiprom measure a.png b.png --out X` where X (or the folder it "
                              "would be made in) may not be written to, or is on a read-only "
                              "disk", outcome="exit 1, one line about --out before anything is "
                              "measured (was: each input measured, then the same line once "
                              "per input)")
@pytest.mark.parametrize(("read_only", "words"), [
    (False, ": permission denied; pick a location you may write to, or fix its permissions"),
    (True, " is on a read-only file system; pick a location on a writable disk"),
])
@pytest.mark.parametrize("exists", [True, False], ids=["existing", "new"])
def test_measure_out_that_cannot_be_written_is_one_line_for_all_inputs(
        tmp_path, photo, monkeypatch, read_only, words, exists):
    locked = tmp_path / "locked"
    locked.mkdir()
    out = locked if exists else locked / "new"
    real_access, real_statvfs = os.access, os.statvfs

    def access(path, mode, **kwargs):  # root may write anywhere: the locked folder is not
        if Path(path) == locked and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)

    class _Flags:
        def __init__(self, stat):
            self.f_flag = stat.f_flag | (os.ST_RDONLY if read_only else 0)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(os, "statvfs", lambda path: _Flags(real_statvfs(path)))
    measured = []
    monkeypatch.setattr(hiprom.pipeline.measure, "measure_path",
                        lambda path, **kwargs: measured.append(path))
    second = tmp_path / "second.png"
    second.write_bytes(photo.read_bytes())
    result = runner.invoke(app, ["measure", str(photo), str(second), "--out", str(out),
                                 "--no-history"])
    line = _one_error_line(result)
    assert line == f"error: --out {locked}{words}", line
    assert measured == [] and len(result.output.splitlines()) == 1, result.output
    assert not (locked / "new").exists()


def test_measure_out_below_a_file(tmp_path, photo):
    (tmp_path / "results").write_text("not a folder")
    line = _one_error_line(runner.invoke(app, ["measure", str(photo), "--out",
                                               str(tmp_path / "results" / "today"),
                                               "--no-history"]))
    assert "part of this path is a file, not a folder" in line


@pytest.mark.reliability(case='output folder without write permission or on a read-only disk',
                         outcome='exit 1, one line naming the folder and what to do; no file '
                         'under a final name')
@pytest.mark.parametrize(("code", "words"), [
    (errno.EACCES, "permission denied; pick a location you may write to"),
    (errno.EPERM, "operation not permitted"),
    (errno.EROFS, "is on a read-only file system; pick a location on a writable disk"),
])
def test_measure_out_not_writable(tmp_path, photo, monkeypatch, code, words):
    out = tmp_path / "o"

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own keyword
        raise OSError(code, errno.errorcode[code], str(dir))

    monkeypatch.setattr(hiprom.media.sinks.tempfile, "mkstemp", mkstemp)
    line = _one_error_line(runner.invoke(app, ["measure", str(photo), "--out", str(out),
                                               "--no-history"]))
    assert f"{out}" in line and words in line
    assert _final_names(out) == []


@pytest.mark.reliability(case='full disk or exhausted disk quota while measure writes',
                         outcome='exit 1, one line; not even a temporary file is left')
@pytest.mark.parametrize(("code", "words"), [
    (errno.ENOSPC, "no space left on the disk of"),
    (errno.EDQUOT, "disk quota exceeded at"),
])
def test_measure_disk_full_leaves_no_file_under_a_final_name(tmp_path, photo, monkeypatch,
                                                             code, words):
    out = tmp_path / "o"

    def fsync(fd):  # write() of a full disk carries no file name; fsync is where it shows
        raise OSError(code, errno.errorcode[code])

    monkeypatch.setattr(hiprom.media.sinks.os, "fsync", fsync)
    line = _one_error_line(runner.invoke(app, ["measure", str(photo), "--out", str(out),
                                               "--no-history"]))
    assert f"{words} {out}; free some space" in line
    assert list(out.iterdir()) == []  # not even the temporary file is left


@pytest.mark.reliability(case='disk full at the key frame, after the JSON and CSV are written',
                         outcome="exit 1, one line; none of the measurement's files appears "
                         "(all or nothing)")
def test_full_disk_at_the_key_frame_leaves_none_of_the_files(tmp_path, photo, monkeypatch):
    out = tmp_path / "o"

    def write_image(path, image, **_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("hiprom.media.outputs.write_image", write_image)
    line = _one_error_line(runner.invoke(app, ["measure", str(photo), "--out", str(out),
                                               "--no-history"]))
    assert "no space left on the disk of" in line
    # The measurement's files are one set: the JSON and CSV, already complete, are not left
    # behind without their key frame, and no temporary file remains.
    assert _final_names(out) == []
    assert not out.exists() or list(out.iterdir()) == []


def test_a_bug_is_still_an_internal_error(tmp_path, photo, monkeypatch):
    def write_outputs(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr("hiprom.media.outputs.write_outputs", write_outputs)
    result = runner.invoke(app, ["measure", str(photo), "--out", str(tmp_path / "o"),
                                 "--no-history"])
    assert result.exit_code == 1
    assert "internal error (OSError: [Errno 5] Input/output error); please report it" in (
        result.output)


@pytest.mark.reliability(case='`--out` of batch names a file',
                         outcome='exit 1, one line')
def test_batch_out_is_a_file(tmp_path, photo):
    (tmp_path / "scores").write_text("not a folder")
    line = _one_error_line(runner.invoke(app, ["batch", str(photo), "--out",
                                               str(tmp_path / "scores"), "-q"]))
    assert "scores is a file where a folder is needed" in line


@pytest.mark.reliability(case='the batch store meets a full disk',
                         outcome='exit 1, one line: free some space')
def test_batch_store_on_a_full_disk(tmp_path, photo, monkeypatch):
    def begin_run(self, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ResultStore, "begin_run", begin_run)
    out = tmp_path / "scores"
    line = _one_error_line(runner.invoke(app, ["batch", str(photo), "--out", str(out), "-q"]))
    assert f"no space left on the disk of {out}; free some space" in line


@pytest.mark.reliability(case='one batch input meets a full disk',
                         outcome='that input fails with a plain reason, not an internal error')
def test_batch_input_that_meets_a_full_disk_fails_with_a_plain_reason(tmp_path, monkeypatch):
    def measure_path(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hiprom.pipeline.measure, "measure_path", measure_path)
    job = Job(str(tmp_path / "clip.mp4"), "0" * 64, str(tmp_path / "videos" / "clip"))
    outcome = score_job(job)
    assert not outcome.ok and outcome.error_type == "OSError"
    assert outcome.error_message == (f"no space left on the disk of {job.out_dir}; free some "
                                     "space or pick a location on another disk")


@pytest.mark.reliability(case='`--out` of live names a file',
                         outcome='exit 1, one line')
def test_live_out_is_a_file(tmp_path, monkeypatch):
    (tmp_path / "live").write_text("not a folder")

    def run_live(options):
        options.out_dir.mkdir(parents=True, exist_ok=True)

    monkeypatch.setattr(hiprom.live.session, "run_live", run_live)
    line = _one_error_line(runner.invoke(app, ["live", "--out", str(tmp_path / "live"),
                                               "--headless", "--no-history"]))
    assert "live is a file where a folder is needed" in line


def test_report_out_below_a_file(tmp_path, photo):
    runner.invoke(app, ["measure", str(photo), "--out", str(tmp_path / "o"), "--no-history"])
    (tmp_path / "x").write_text("a file")
    line = _one_error_line(runner.invoke(app, ["report", str(tmp_path / "o" / "photo.json"),
                                               "--out", str(tmp_path / "x" / "r.html")]))
    assert f"{tmp_path / 'x'} is a file where a folder is needed" in line


def test_routines_without_a_measured_leg_names_no_function(tmp_path, photo, monkeypatch):
    runner.invoke(app, ["measure", str(photo), "--out", str(tmp_path / "o"), "--no-history"])
    path = tmp_path / "o" / "photo.json"
    result = json.loads(path.read_text())
    for side in ("left", "right"):
        result["legs"][side].update(internal_rotation_deg=None, internal_rotation_ci95_deg=None,
                                    external_rotation_deg=None)
    path.write_text(json.dumps(result))
    line = _one_error_line(runner.invoke(app, ["routines", str(path)]))
    assert "Neither leg was measured" in line and "build_plan" not in line


def test_main_turns_an_uncaught_user_file_error_into_one_line(monkeypatch, capsys):
    def app_raising(code):
        def run():
            raise OSError(code, errno.errorcode[code], "/data/out")
        return run

    monkeypatch.setattr(hiprom.cli.main, "app", app_raising(errno.EROFS))
    with pytest.raises(SystemExit) as exit_info:
        hiprom.cli.main.main()
    assert exit_info.value.code == 1
    assert "/data/out is on a read-only file system" in capsys.readouterr().err
    monkeypatch.setattr(hiprom.cli.main, "app", app_raising(errno.EIO))
    with pytest.raises(OSError):  # not the user's: the traceback is the bug report
        hiprom.cli.main.main()


def test_only_the_users_errnos_are_described():
    assert describe_os_error(OSError(errno.EIO, "Input/output error"), "out") is None
    assert describe_os_error(OSError(errno.ENOENT, "No such file", "a/b")) == (
        "a/b does not exist; check the path")


@pytest.mark.reliability(case="`hiprom measure good.png locked.png` where the user may not "
                              "read locked.png (chmod 000, another user's file)",
                         outcome="exit 1, one line: permission denied, ask for read access; "
                                 "good.png is still measured (was: usage error, exit 2, "
                                 "nothing measured)")
@pytest.mark.parametrize("kind", ["photo", "video"])
def test_measure_input_without_read_permission(tmp_path, photo, monkeypatch, kind):
    # Tests run as root, who may read anything, so os.access and open() answer as they do
    # for a clinic user without read permission.
    import os

    target = tmp_path / ("locked.png" if kind == "photo" else "locked.mp4")
    target.write_bytes(photo.read_bytes() if kind == "photo"
                       else b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: (
        False if Path(p) == target and mode & os.R_OK else real_access(p, mode, **kw)))
    real_open = Path.open

    def refuse(self, *args, **kwargs):
        if self == target:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    line = _one_error_line(runner.invoke(app, ["measure", str(photo), str(target), "--out",
                                               str(tmp_path / "o"), "--no-history"]))
    assert "permission denied" in line and "read access" in line, line
    assert "write" not in line and "not a video" not in line, line
    assert _final_names(tmp_path / "o") == ["photo.csv", "photo.json", "photo.keyframe.png"]


@pytest.mark.reliability(case="`hiprom measure a/clip.png b/clip.png b/CLIP.jpg` (inputs whose "
                              "names differ only by folder, case or ending)",
                         outcome="each gets its own files (clip, clip-2, CLIP-3); none "
                                 "overwrites another's (was: the last one's files replaced "
                                 "the others')")
def test_measure_inputs_with_the_same_stem_keep_their_own_files(tmp_path, photo):
    inputs = [tmp_path / "a" / "clip.png", tmp_path / "b" / "clip.png",
              tmp_path / "b" / "CLIP.jpg"]
    for path in inputs:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(photo.read_bytes())
    out = tmp_path / "o"
    result = runner.invoke(app, ["measure", *map(str, inputs), "--out", str(out),
                                 "--no-history", "-q"])
    assert result.exit_code == 0, result.output
    stems = ["clip", "clip-2", "CLIP-3"]
    assert _final_names(out) == sorted(f"{s}{x}" for s in stems for x in FINAL_SUFFIXES)
    for stem, path in zip(stems, inputs, strict=True):
        source = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))["source"]
        assert Path(source["path"]) == path
    # The same file named twice is measured once.
    again = runner.invoke(app, ["measure", str(inputs[0]), str(inputs[0]), "--out",
                                str(tmp_path / "o2"), "--no-history", "-q"])
    assert again.exit_code == 0, again.output
    assert _final_names(tmp_path / "o2") == sorted(f"clip{x}" for x in FINAL_SUFFIXES)
