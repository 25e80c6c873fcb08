"""File names a clinic's folders really hold: bytes that are not UTF-8 (an old Windows share,
Latin-1), and control characters or ANSI escape sequences (a name made by a script).

Neither may crash hiprom, and neither may reach the terminal raw: an escape sequence in a file
name would recolour, clear or retitle the user's terminal. Names are shown with the bytes
escaped (``\\x1b``, ``\\xe9``).

The non-UTF-8 cases run hiprom in a child process: before the fix OpenCV crashed the whole
process (SIGSEGV) on such a name, which would take pytest down with it.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from hiprom.cli.main import app
from hiprom.errors import printable

runner = CliRunner()
#: An escape sequence that clears the screen, one that turns text red, and an OSC title.
HOSTILE = "x\x1b[2J\x1b[31mred\x1b]0;owned\x07\r"


def _png(path: Path) -> Path:
    ok, buf = cv2.imencode(".png", np.full((48, 64, 3), 90, np.uint8))
    assert ok
    Path(path).write_bytes(buf.tobytes())
    return path


def _run(args: list[str | bytes], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """``hiprom ARGS`` in a child process (arguments may be bytes: non-UTF-8 names)."""
    env = {**os.environ, "HIPROM_HOME": str(cwd / "home")}
    env.pop("HIPROM_PERSON", None)
    return subprocess.run([sys.executable, "-m", "hiprom.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, timeout=300, check=False)


def test_printable_escapes_control_characters_and_undecodable_bytes():
    assert printable("plain name é.mp4") == "plain name é.mp4"
    assert printable("a\x1b[31mb\n\t\x07\x7f\x9b") == "a\\x1b[31mb\\x0a\\x09\\x07\\x7f\\x9b"
    assert printable(os.fsdecode(b"caf\xe9.png")) == "caf\\xe9.png"
    assert printable("evil\u202egnp.exe") == "evil\\u202egnp.exe"   # right-to-left override
    assert printable(Path("dir") / "a\nb") == "dir/a\\x0ab"


@pytest.mark.reliability(case="`hiprom measure` on a photo and a video whose names are not "
                              "UTF-8 (Latin-1 bytes)",
                         outcome="one line each: rename the file; exit 1 (was: the process "
                                 "crashed with SIGSEGV in OpenCV)")
def test_measure_refuses_a_name_that_is_not_utf8_in_one_line(tmp_path):
    photo = _png(tmp_path / os.fsdecode(b"caf\xe9.png"))
    video = tmp_path / os.fsdecode(b"clip\xff.mp4")
    video.write_bytes(b"not a video\n")
    done = _run([b"measure", os.fsencode(photo), os.fsencode(video), b"-o", b"out"], tmp_path)
    err = done.stderr.decode("utf-8")
    assert done.returncode == 1, (done.returncode, err)
    assert "Traceback" not in err and "internal error" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 2, err
    assert "caf\\xe9.png" in lines[0] and "UTF-8" in lines[0] and "rename" in lines[0]
    assert "clip\\xff.mp4" in lines[1] and "UTF-8" in lines[1]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.reliability(case="a batch folder holding files whose names are not UTF-8",
                         outcome="each is recorded as failed (rename it); the others score; "
                                 "exit 1 (was: the batch crashed with SIGSEGV)")
def test_batch_records_names_that_are_not_utf8_and_goes_on(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / os.fsdecode(b"caf\xe9.mp4")).write_bytes(b"not a video\n")
    _png(src / os.fsdecode(b"ph\xf6to.png"))
    (src / "empty.mp4").write_bytes(b"")
    done = _run([b"batch", os.fsencode(src), b"-o", b"out", b"--workers", b"1"], tmp_path)
    err = done.stderr.decode("utf-8")
    assert done.returncode == 1, (done.returncode, err)
    assert "Traceback" not in err and "\x1b" not in err
    with (tmp_path / "out" / "results.csv").open(newline="", encoding="utf-8") as fh:
        rows = {(Path(r["path"]).name, r["leg"]): r for r in csv.DictReader(fh)}
    for name in ("caf\\xe9.mp4", "ph\\xf6to.png"):
        assert rows[(name, "left")]["status"] == "failed"
        assert "UTF-8" in rows[(name, "left")]["error"], rows[(name, "left")]
    assert "empty (0 bytes)" in rows[("empty.mp4", "left")]["error"]
    assert "caf\\xe9.mp4" in err


def test_video_writer_refuses_an_output_folder_that_is_not_utf8(tmp_path):
    # measure --annotate -o <non-UTF-8 folder> crashed the process once the clip was measured.
    script = ("import os, sys\n"
              "from hiprom.errors import SinkError\n"
              "from hiprom.media.sinks import VideoSink\n"
              "target = os.path.join(os.fsdecode(sys.argv[1]), 'clip.annotated.webm')\n"
              "try:\n"
              "    VideoSink(target, fps=10.0, resolution_wh=(32, 32))\n"
              "except SinkError as err:\n"
              "    print('refused:', err.__class__.__name__)\n")
    folder = os.fsencode(tmp_path) + b"/out\xe9"
    os.mkdir(folder)
    done = subprocess.run([sys.executable, "-c", script, folder], capture_output=True,
                          timeout=120, check=False)
    assert done.returncode == 0, (done.returncode, done.stderr.decode(errors="replace"))
    assert done.stdout.decode() == "refused: SinkError\n"
    assert os.listdir(folder) == []


@pytest.mark.reliability(case="ANSI escapes, a bell and a carriage return in file names given "
                              "to measure and report",
                         outcome="shown escaped (\\x1b...) in every line printed; nothing raw "
                                 "reaches the terminal")
def test_measure_and_report_never_print_escape_sequences_raw(tmp_path, fake_measure,
                                                             monkeypatch):
    monkeypatch.setenv("HIPROM_HOME", str(tmp_path / "home"))
    good = _png(tmp_path / f"{HOSTILE}.png")
    bad = tmp_path / f"{HOSTILE}.mp4"
    bad.write_text("not a video\n")
    out = tmp_path / f"out{HOSTILE}"
    result = runner.invoke(app, ["measure", str(good), str(bad), "-o", str(out),
                                 "--no-history"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    for raw in ("\x1b", "\x07", "\r"):
        assert raw not in result.output, repr(result.output)
    assert printable(HOSTILE) in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and printable(str(bad)) in errors[0]
    written = next(out.glob("*.json"))
    report = runner.invoke(app, ["report", str(written)])
    assert report.exit_code == 0, report.output
    assert "\x1b" not in report.output and "\r" not in report.output
    assert printable(str(written.with_suffix(".html"))) in report.output


@pytest.mark.reliability(case="ANSI escapes in the names of files that fail in a batch",
                         outcome="the failure list shows them escaped")
def test_batch_failure_list_never_prints_escape_sequences_raw(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / f"{HOSTILE}.mp4").write_text("not a video\n")
    (src / "empty.mp4").write_bytes(b"")
    result = runner.invoke(app, ["batch", str(src), "-o", str(tmp_path / "out"),
                                 "--workers", "1"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for raw in ("\x1b", "\x07", "\r"):
        assert raw not in result.output, repr(result.output)
    assert printable(HOSTILE) in result.output


@pytest.mark.reliability(case="`hiprom measure` on a text file named .mp4 and an MP4 cut short "
                              "(stderr as the user sees it)",
                         outcome="exactly one line per file on stderr: FFmpeg's and OpenCV's "
                                 "own complaints (moov atom not found, cap.cpp WARN) are kept "
                                 "off the terminal")
def test_a_video_that_cannot_open_prints_only_our_one_line(tmp_path, synth_media):
    (tmp_path / "text.mp4").write_text("not a video at all\n")
    whole = synth_media.video("whole.mp4", n_frames=10).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) // 2])   # no index: cannot open
    done = _run([b"measure", b"text.mp4", b"cut.mp4", b"-o", b"out", b"-q"], tmp_path)
    err = done.stderr.decode("utf-8")
    assert done.returncode == 1, err
    lines = err.splitlines()
    assert len(lines) == 3, err     # one per file, and "2 of 2 inputs failed"
    assert lines[0].startswith("error: Could not open text.mp4 as a video"), err
    assert lines[1].startswith("error: Could not open cut.mp4 as a video"), err
    assert lines[2] == "2 of 2 inputs failed"


@pytest.mark.reliability(case="`hiprom measure` on a clip whose middle bytes are zeroed "
                              "(stderr as the user sees it)",
                         outcome="hiprom's own lines only: FFmpeg's per-frame decoder errors "
                                 "(thousands of lines before) are kept off the terminal")
def test_a_damaged_clip_does_not_flood_the_terminal_with_decoder_errors(tmp_path, synth_media):
    data = bytearray(synth_media.video("whole.mp4", n_frames=60, resolution_wh=(160, 120))
                     .read_bytes())
    start = len(data) * 2 // 5
    data[start:start + len(data) // 5] = bytes(len(data) // 5)
    (tmp_path / "damaged.mp4").write_bytes(bytes(data))
    done = _run([b"measure", b"damaged.mp4", b"-o", b"out", b"-q"], tmp_path)
    err = done.stderr.decode("utf-8")
    assert done.returncode == 1, err
    assert "@ 0x" not in err, err[:2000]          # FFmpeg's "[mpeg4 @ 0x...] ..." lines
    assert len(err.splitlines()) <= 6, err[:2000]
    assert err.splitlines()[-1].startswith("error: damaged.mp4:"), err


def test_warnings_about_a_file_show_its_name_escaped(tmp_path, synth_media):
    # hiprom's own warnings (here: a damaged section was skipped) name the file too.
    data = bytearray(synth_media.video("whole.mp4", n_frames=60, resolution_wh=(160, 120))
                     .read_bytes())
    start = len(data) * 2 // 5
    data[start:start + len(data) // 5] = bytes(len(data) // 5)
    name = "d\x1b[31m.mp4"
    (tmp_path / name).write_bytes(bytes(data))
    done = _run([b"measure", name.encode(), b"-o", b"out", b"-q"], tmp_path)
    err = done.stderr.decode("utf-8")
    assert done.returncode == 1, err
    assert "damaged section" in err, err
    assert "\x1b" not in err, repr(err)


@pytest.mark.reliability(case="`--out` naming a folder whose name is not UTF-8 (measure "
                              "--person, batch)",
                         outcome="exit 1, one line before anything is measured: pick an "
                                 "output folder with a UTF-8 name (was: an internal error, "
                                 "and a traceback from batch)")
@pytest.mark.parametrize("command", [[b"measure", b"--person", b"ada"],
                                     [b"batch", b"--workers", b"1"]])
def test_an_output_folder_whose_name_is_not_utf8_is_refused_up_front(tmp_path, command):
    (tmp_path / "in").mkdir()
    photo = _png(tmp_path / "in" / "p.png")
    done = _run([command[0], os.fsencode(photo), b"-o", b"out\xe9", *command[1:]], tmp_path)
    err = done.stderr.decode("utf-8")
    assert done.returncode == 1, (done.returncode, err)
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "out\\xe9" in lines[0], err
    assert "UTF-8" in lines[0]
    assert not os.path.exists(tmp_path / os.fsdecode(b"out\xe9"))
