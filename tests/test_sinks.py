from __future__ import annotations

import csv
import json
import math
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from hiprom.errors import InputError, SinkError
from hiprom.media.sinks import (
    CsvSink,
    JsonSink,
    VideoSink,
    to_jsonable,
    write_image,
    write_json_atomic,
)

# --- CSV -----------------------------------------------------------------------------------


def test_csv_rows_are_flushed_as_they_come_and_renamed_on_close(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "angles.csv"
    with CsvSink(out, ["frame_index", "timestamp_s", "angle_deg"]) as sink:
        sink.append({"frame_index": 0, "timestamp_s": 0.0, "angle_deg": 41.25})
        sink.append([1, 0.033, float("nan")])
        assert not out.exists()  # nothing under the final name yet
        partial = sink.part_path.read_text(encoding="utf-8").splitlines()
        assert partial == ["frame_index,timestamp_s,angle_deg", "0,0.0,41.25", "1,0.033,"]
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert rows == [{"frame_index": "0", "timestamp_s": "0.0", "angle_deg": "41.25"},
                    {"frame_index": "1", "timestamp_s": "0.033", "angle_deg": ""}]
    assert not sink.part_path.exists()


def test_csv_failed_run_leaves_no_final_file(tmp_path: Path) -> None:
    out = tmp_path / "angles.csv"
    with pytest.raises(RuntimeError), CsvSink(out, ["a"]) as sink:
        sink.append({"a": 1})
        assert sink.part_path.read_text(encoding="utf-8").splitlines() == ["a", "1"]
        raise RuntimeError("killed")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [], "the temporary file is removed too"


def test_csv_numpy_values_and_missing_cells(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    with CsvSink(out, ["a", "b", "c"]) as sink:
        sink.append({"a": np.float32(1.5), "c": np.int64(3)})
    assert out.read_text().splitlines()[1] == "1.5,,3"


@pytest.mark.parametrize(
    ("row", "match"),
    [({"zzz": 1}, "unknown columns"),  # a typo in a column name
     ([1, 2, 3], "must have 1 values")],  # wrong row length
)
def test_csv_rejects_bad_rows(tmp_path: Path, row, match) -> None:
    with CsvSink(tmp_path / "x.csv", ["a"]) as sink, pytest.raises(InputError, match=match):
        sink.append(row)


def test_csv_rejects_duplicate_columns(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unique"):
        CsvSink(tmp_path / "x.csv", ["a", "a"])


# --- JSON ----------------------------------------------------------------------------------


def test_write_json_atomic_nan_to_null_sorted_utf8(tmp_path: Path) -> None:
    out = write_json_atomic(tmp_path / "s.json", {"z": float("nan"), "a": "Hüfte 40°",
                                                  "m": np.array([1.0, np.inf])})
    text = out.read_text(encoding="utf-8")
    assert json.loads(text) == {"a": "Hüfte 40°", "m": [1.0, None], "z": None}
    assert text.index('"a"') < text.index('"m"') < text.index('"z"')
    assert "Hüfte" in text  # not \u-escaped
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temp file left


def test_write_json_atomic_keeps_old_file_when_encoding_fails(tmp_path: Path) -> None:
    out = write_json_atomic(tmp_path / "s.json", {"ok": 1})
    with pytest.raises(InputError, match="Cannot write object to JSON"):
        write_json_atomic(out, {"bad": object()})
    assert json.loads(out.read_text()) == {"ok": 1}


def test_to_jsonable_handles_dataclasses_and_to_dict() -> None:
    from dataclasses import dataclass

    @dataclass
    class Point:
        x: float
        y: float

    class HasDict:
        def to_dict(self) -> dict[str, object]:
            return {"p": Point(1.0, math.nan)}

    assert to_jsonable(HasDict()) == {"p": {"x": 1.0, "y": None}}


def test_json_sink_writes_list_on_close(tmp_path: Path) -> None:
    out = tmp_path / "frames.json"
    with JsonSink(out) as sink:
        sink.append({"i": 0, "angle_deg": float("nan")})
        sink.append({"i": 1, "angle_deg": 12.5})
        assert not out.exists()
    assert json.loads(out.read_text()) == [{"angle_deg": None, "i": 0},
                                           {"angle_deg": 12.5, "i": 1}]


# --- stills ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_write_image_roundtrip(tmp_path: Path, suffix: str) -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 30:] = (0, 200, 0)
    out = write_image(tmp_path / f"a{suffix}", image)
    back = cv2.imread(str(out))
    assert back.shape == image.shape
    assert np.abs(back.astype(int) - image).mean() < 3


def test_write_image_rejects_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="use .png or .jpg"):
        write_image(tmp_path / "a.txt", np.zeros((4, 4, 3), np.uint8))


# --- video -------------------------------------------------------------------------------------


def _frames(n: int, wh: tuple[int, int]) -> list[np.ndarray]:
    w, h = wh
    out = []
    for i in range(n):
        f = np.full((h, w, 3), 40, np.uint8)
        f[:, : (i + 1) * w // n] = (0, 0, 220)  # a red bar that grows
        out.append(f)
    return out


def _decode(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


@pytest.mark.parametrize(("name", "codec"), [("a.webm", None), ("b.webm", "vp9"), ("c.mp4", None)])
def test_video_sink_output_decodes(tmp_path: Path, name: str, codec: str | None) -> None:
    wh = (160, 96)
    frames = _frames(12, wh)
    with VideoSink(tmp_path / name, fps=12.0, resolution_wh=wh, codec=codec) as sink:
        for f in frames:
            sink.write_frame(f)
        assert not (tmp_path / name).exists()
    back = _decode(tmp_path / name)
    assert len(back) == 12
    assert back[0].shape == (96, 160, 3)
    red_fraction = [float((b[..., 2] > 150).mean()) for b in back]
    assert red_fraction == pytest.approx([(i + 1) / 12 for i in range(12)], abs=0.08)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_video_sink_mp4_warns_about_browsers(tmp_path: Path, caplog) -> None:
    with VideoSink(tmp_path / "a.mp4", fps=10, resolution_wh=(32, 32)) as sink:
        sink.write_frame(np.zeros((32, 32, 3), np.uint8))
    assert "browsers may not play" in caplog.text


def test_video_sink_rejects_wrong_frame_size(tmp_path: Path) -> None:
    with VideoSink(tmp_path / "a.webm", fps=10, resolution_wh=(32, 32)) as sink:
        with pytest.raises(InputError, match=r"must be \(32, 32, 3\) uint8"):
            sink.write_frame(np.zeros((32, 40, 3), np.uint8))
        sink.write_frame(np.zeros((32, 32, 3), np.uint8))
    assert len(_decode(tmp_path / "a.webm")) == 1


@pytest.mark.parametrize(
    ("name", "codec"),
    [("a.avi", None),  # unsupported container
     ("a.mp4", "vp9")],  # codec not allowed in that container
)
def test_video_sink_rejects_bad_name_or_codec(tmp_path: Path, name: str, codec: str | None) -> None:
    with pytest.raises(InputError, match="use a .webm name"):
        VideoSink(tmp_path / name, fps=10, resolution_wh=(32, 32), codec=codec)


@pytest.mark.reliability(case="output folder that cannot be created (a file in its way)",
                         outcome="an error, no video written")
def test_video_sink_unwritable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises((SinkError, OSError)):
        VideoSink(blocker / "a.webm", fps=10, resolution_wh=(32, 32))


def test_video_sink_failed_run_keeps_final_name_free(tmp_path: Path) -> None:
    out = tmp_path / "a.webm"
    with pytest.raises(RuntimeError), VideoSink(out, fps=10, resolution_wh=(32, 32)) as sink:
        sink.write_frame(np.zeros((32, 32, 3), np.uint8))
        raise RuntimeError("killed")
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "codec", "expected"),
    [("a.webm", None, "w=320 h=240 d=2.00"),  # default VP8 plays
     ("b.webm", "vp9", "w=320 h=240 d=2.00"),  # VP9 plays too
     ("c.mp4", None, "error=4")],  # mp4v: Chromium finds no supported stream
)
def test_browser_playback_in_chromium(tmp_path: Path, name: str, codec: str | None,
                                      expected: str, require_tool) -> None:
    chromium = require_tool("chromium", "chromium-browser")
    wh = (320, 240)
    with VideoSink(tmp_path / name, fps=15, resolution_wh=wh, codec=codec) as sink:
        for f in _frames(30, wh):
            sink.write_frame(f)
    page = tmp_path / "page.html"
    page.write_text(
        f"<html><body><video id=v src='{name}' muted preload=auto></video><pre id=o>wait</pre>"
        "<script>const v=document.getElementById('v');v.addEventListener('loadeddata',()=>{"
        "document.getElementById('o').textContent='ready='+v.readyState+' w='+v.videoWidth+"
        "' h='+v.videoHeight+' d='+v.duration.toFixed(2);});"
        "v.addEventListener('error',()=>{document.getElementById('o').textContent="
        "'error='+v.error.code;});</script></body></html>"
    )
    profile = tempfile.mkdtemp(dir=tmp_path)
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--allow-file-access-from-files", f"--user-data-dir={profile}",
           "--virtual-time-budget=5000", "--dump-dom", page.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    assert expected in dom, dom[-500:]


# --- CSV formula injection -------------------------------------------------------------------

HOSTILE = ["=cmd|' /C calc'!A0", '+HYPERLINK("http://evil.example","click")',
           "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_csv_text_neutralises_formulas(text: str) -> None:
    from hiprom.media.sinks import csv_text

    assert csv_text(text) == "'" + text
    assert csv_text("P017 left") == "P017 left" and csv_text("") == ""


def test_csv_sink_quotes_hostile_text_but_not_negative_numbers(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    with CsvSink(out, ["note", "angle_deg", "count", "flags"]) as sink:
        for text in HOSTILE:
            sink.append({"note": text, "angle_deg": -12.5, "count": np.int64(-3),
                         "flags": ["-x", "=y"]})
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["note"] for r in rows] == ["'" + t for t in HOSTILE]
    assert {r["angle_deg"] for r in rows} == {"-12.5"}, "a negative number is not a formula"
    assert {r["count"] for r in rows} == {"-3"}
    assert {r["flags"] for r in rows} == {'["-x", "=y"]'}
