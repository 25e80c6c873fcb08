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


def _refuse_writing(monkeypatch, folder: Path, code: int, *, at: str = "create") -> None:
    """Make writing anywhere below ``folder`` fail with ``code``, as the kernel would.

    ``at="create"``: making a file or folder there fails (no permission, a read-only disk,
    no inode left). ``at="write"``: the file is made but its bytes are refused (a full disk,
    an exceeded quota). Tests run as root, which chmod cannot stop; the check up front must
    meet the error by writing, as the result writers would.
    """
    real_open, real_mkdir, real_write = os.open, os.mkdir, os.write
    refused_fds: set[int] = set()

    def below(path) -> bool:
        return folder in Path(os.fsdecode(path)).absolute().parents

    def refuse(path):
        raise OSError(code, os.strerror(code), os.fsdecode(path))

    def open_(path, flags, *args, **kwargs):
        if at == "create" and flags & os.O_CREAT and below(path):
            refuse(path)
        fd = real_open(path, flags, *args, **kwargs)
        if at == "write" and below(path):
            refused_fds.add(fd)
        return fd

    def mkdir(path, *args, **kwargs):
        if at == "create" and below(path):
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def write(fd, data):
        if fd in refused_fds:
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "write", write)


#: A real clip for --source (run_live is replaced where it is used; it must only exist).
CLIP = Path(__file__).resolve().parents[1] / "samples" / "seated_ir_left_right.mp4"

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
                              "would be made in) may not be written to, is on a read-only "
                              "disk, or takes no new files (`/proc`)",
                         outcome="exit 1, one line about --out before anything is measured "
                                 "(was: each input measured, then the same line once per "
                                 "input)")
@pytest.mark.parametrize(("code", "words"), [
    (errno.EACCES, ": permission denied; pick a location you may write to, or fix its "
                   "permissions"),
    (errno.EROFS, " is on a read-only file system; pick a location on a writable disk"),
    # /proc as root: the folder is there, but creating in it says ENOENT ("does not exist")
    (errno.ENOENT, ": nothing can be created in this folder; pick another folder"),
], ids=["permission", "read-only", "takes-nothing"])
@pytest.mark.parametrize("exists", [True, False], ids=["existing", "new"])
def test_measure_out_that_cannot_be_written_is_one_line_for_all_inputs(
        tmp_path, photo, monkeypatch, code, words, exists):
    locked = tmp_path / "locked"
    locked.mkdir()
    out = locked if exists else locked / "new"
    _refuse_writing(monkeypatch, locked, code)  # root may write anywhere: not in locked
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
                                               "--source", str(CLIP), "--headless",
                                               "--no-history"]))
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


# --------------------------------------------------------------------------- --out up front
#: Each command that takes an output folder, with the rest of a call that would run.
OUT_COMMANDS = {
    "measure": ["measure", "{photo}", "--no-history"],
    "batch": ["batch", "{photo}", "-q", "--workers", "1"],
    "live": ["live", "--source", str(CLIP), "--headless", "--no-history"],
    "app": ["app", "--no-browser", "-q"],
    "agreement": ["agreement", "{tmp}/results.csv", "{tmp}/reference.csv"],
}


@pytest.fixture
def started(tmp_path, fake_measure, monkeypatch) -> list[str]:
    """What batch, live, app or agreement started after accepting --out; each stops there.

    measure is the real command with the fake pose model: ``fake_measure`` lists what it
    measured.
    """
    import hiprom.agreement
    import hiprom.app.runner
    import hiprom.cli.batch

    calls: list[str] = []

    def stop(name):
        def record(*args, **kwargs):
            calls.append(name)
            raise RuntimeError(f"{name} started")
        return record

    monkeypatch.setattr(hiprom.cli.batch, "run_batch", stop("batch"))
    monkeypatch.setattr(hiprom.live.session, "run_live", stop("live"))
    monkeypatch.setattr(hiprom.app.runner, "bind", stop("app"))
    monkeypatch.setattr(hiprom.agreement, "run_agreement", stop("agreement"))
    cv2.imwrite(str(tmp_path / "photo.png"), np.full((480, 640, 3), 90, np.uint8))
    return calls


def _invoke(command: str, out: Path, tmp_path: Path):
    args = [a.format(photo=tmp_path / "photo.png", tmp=tmp_path) for a in OUT_COMMANDS[command]]
    return runner.invoke(app, [*args, "--out", str(out)])


def _only_line(result) -> str:
    """The run's one line of output: an error; nothing else was printed."""
    line = _one_error_line(result)
    assert result.output.splitlines() == [line], result.output
    return line


@pytest.mark.reliability(case="`--out somefile.txt/sub` or `--out somefile.txt` (a file where "
                              "the folder should be) for measure, batch, live, app, agreement",
                         outcome="exit 1, one line before anything is measured or started "
                                 "(agreement was: after reading and matching every input)")
@pytest.mark.parametrize("command", OUT_COMMANDS)
@pytest.mark.parametrize(("out", "words"), [
    ("somefile.txt/sub", ": part of this path is a file, not a folder; pick a folder path or "
                         "move the file away"),
    ("somefile.txt", " is a file where a folder is needed; pick a folder path or move the "
                     "file away"),
], ids=["parent-is-a-file", "is-a-file"])
def test_out_with_a_file_in_the_way_is_one_line_before_anything_starts(
        tmp_path, started, fake_measure, command, out, words):
    (tmp_path / "somefile.txt").write_text("notes")
    line = _only_line(_invoke(command, tmp_path / out, tmp_path))
    assert line == f"error: --out {tmp_path / out}{words}", line
    assert started == [] and fake_measure == []
    assert (tmp_path / "somefile.txt").read_text() == "notes"


@pytest.mark.reliability(case="`--out` where nothing may be written (no permission; tests "
                              "run as root, so the OS's refusal is simulated), existing or "
                              "still to be made, for measure, batch, live, app, agreement",
                         outcome="exit 1, one line naming the folder before anything is "
                                 "measured or started; no folder made (was: each input "
                                 "measured, then the same line once per input; agreement: "
                                 "after reading and matching every input)")
@pytest.mark.parametrize("command", OUT_COMMANDS)
@pytest.mark.parametrize("new", [False, True], ids=["existing", "to-be-made"])
def test_out_that_cannot_be_written_is_one_line_before_anything_starts(
        tmp_path, started, fake_measure, monkeypatch, command, new):
    locked = tmp_path / "locked"
    locked.mkdir()
    out = locked / "today" if new else locked
    _refuse_writing(monkeypatch, locked, errno.EACCES)
    line = _only_line(_invoke(command, out, tmp_path))
    assert line == (f"error: --out {locked}: permission denied; pick a location you may "
                    "write to, or fix its permissions"), line
    assert started == [] and fake_measure == [] and list(locked.iterdir()) == []


@pytest.mark.reliability(case="`--out` on a full disk or over its disk quota: a file can be "
                              "made but its bytes are refused (simulated)",
                         outcome="exit 1, one line: free some space or pick another disk, "
                                 "before anything is measured; nothing left behind")
@pytest.mark.parametrize(("code", "words"), [
    (errno.ENOSPC, "no space left on the disk of"),
    (errno.EDQUOT, "disk quota exceeded at"),
], ids=["full-disk", "quota"])
@pytest.mark.parametrize("new", [False, True], ids=["existing", "to-be-made"])
def test_out_on_a_full_disk_is_one_line_before_anything_is_measured(
        tmp_path, photo, fake_measure, monkeypatch, code, words, new):
    disk = tmp_path / "disk"
    disk.mkdir()
    out = disk / "today" if new else disk
    _refuse_writing(monkeypatch, disk, code, at="write")
    line = _only_line(runner.invoke(app, ["measure", str(photo), "--out", str(out),
                                          "--no-history"]))
    assert line == (f"error: {words} --out {disk}; free some space or pick a location on "
                    "another disk"), line
    assert fake_measure == [] and list(disk.iterdir()) == []


@pytest.mark.reliability(case="`--out link` or `--out link/sub` where link is a symbolic link "
                              "to a folder that does not exist (removed, an unmounted disk)",
                         outcome="exit 1, one line naming the link and where it points, "
                                 "before anything is measured (was: each input measured, "
                                 "then 'is a file where a folder is needed' for each)")
@pytest.mark.parametrize("below", [False, True], ids=["link", "below-the-link"])
def test_out_that_is_a_dangling_link_is_named_as_one(tmp_path, photo, fake_measure, below):
    link = tmp_path / "results"
    link.symlink_to(tmp_path / "unmounted" / "results")
    out = link / "today" if below else link
    line = _only_line(runner.invoke(app, ["measure", str(photo), "--out", str(out),
                                          "--no-history"]))
    assert line == (f"error: --out {link} is a link to {tmp_path / 'unmounted' / 'results'}, "
                    "which does not exist; pick a folder path or make the link's target"), line
    assert fake_measure == [] and not (tmp_path / "unmounted").exists()


def test_the_write_check_leaves_nothing_behind(tmp_path, fake_measure):
    cv2.imwrite(str(tmp_path / "photo.png"), np.full((480, 640, 3), 90, np.uint8))
    out = tmp_path / "results"
    out.mkdir()
    done = runner.invoke(app, ["measure", str(tmp_path / "photo.png"), "-o", str(out),
                               "--no-history", "-q"])
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"photo{x}" for x in FINAL_SUFFIXES)
    # A new --out is not made by the check: a run that fails for another reason (here its
    # only input is missing) leaves no empty folder, and no trace of the check.
    before = sorted(tmp_path.iterdir())
    failed = runner.invoke(app, ["measure", str(tmp_path / "missing.png"), "-o",
                                 str(tmp_path / "new"), "--no-history"])
    assert failed.exit_code == 1 and "missing.png" in failed.output, failed.output
    assert sorted(tmp_path.iterdir()) == before
    assert [p.name for p in fake_measure] == ["photo.png", "missing.png"]


DEFAULT_OUT = {"measure": "hiprom-results", "batch": "hiprom-batch", "app": "hiprom-results",
               "agreement": "hiprom-agreement"}


@pytest.mark.reliability(case="measure, batch, app or agreement without --out where their "
                              "default folder is a file",
                         outcome="exit 1, one line before anything starts, naming the folder "
                                 "as the default and --out FOLDER as the way to choose "
                                 "another (was: '--out hiprom-results ...', an --out never "
                                 "given)")
@pytest.mark.parametrize("command", DEFAULT_OUT)
def test_a_default_out_folder_is_named_as_the_default(tmp_path, started, fake_measure,
                                                      monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    default = DEFAULT_OUT[command]
    (tmp_path / default).write_text("not a folder")
    args = [a.format(photo=tmp_path / "photo.png", tmp=tmp_path) for a in OUT_COMMANDS[command]]
    line = _only_line(runner.invoke(app, args))
    assert line == (f"error: {default} is a file where a folder is needed; pick a folder path "
                    f"or move the file away; without --out the results are saved in {default}: "
                    "choose another folder with --out FOLDER"), line
    assert started == [] and fake_measure == []
    assert (tmp_path / default).read_text() == "not a folder"


@pytest.mark.reliability(case="`hiprom live` without --out where hiprom-results/ (the "
                              "default folder) cannot be made or written",
                         outcome="exit 1, one line before the test starts, naming the folder "
                                 "as the default and --out FOLDER as the way to choose "
                                 "another (not as if --out had been given)")
@pytest.mark.parametrize("why", ["file-in-the-way", "no-permission"])
def test_live_without_out_checks_the_default_folder(tmp_path, started, monkeypatch, why):
    monkeypatch.chdir(tmp_path)
    if why == "file-in-the-way":
        (tmp_path / "hiprom-results").write_text("not a folder")
        problem = ("hiprom-results is a file where a folder is needed; pick a folder path or "
                   "move the file away")
    else:
        _refuse_writing(monkeypatch, tmp_path, errno.EACCES)
        problem = (f"{tmp_path}: permission denied; pick a location you may write to, or fix "
                   "its permissions")
    before = sorted(tmp_path.iterdir())
    line = _only_line(runner.invoke(app, ["live", "--source", str(CLIP), "--headless",
                                          "--no-history"]))
    assert line == (f"error: {problem}; without --out the results are saved in "
                    "hiprom-results: choose another folder with --out FOLDER"), line
    assert "--out hiprom-results" not in line
    assert started == [] and sorted(tmp_path.iterdir()) == before
