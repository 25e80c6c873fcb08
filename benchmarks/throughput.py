"""Throughput: `hiprom batch` on N cores against a plain per-frame loop, same videos, one run.

Usage::

    python benchmarks/throughput.py                       # samples/*.mp4 scaled to 720p
    python benchmarks/throughput.py --protocol-length 3 --mirror   # 6 whole-test recordings
    python benchmarks/throughput.py --videos a.mp4 b.mp4 --workers 2 --strides 3
    python benchmarks/throughput.py --markdown out/throughput.md

The *plain loop* is what a straightforward tool does, in one process: OpenCV reads a
frame, MediaPipe PoseLandmarker runs on it in IMAGE mode (every frame independent), and
the knee→ankle angle from image vertical is computed. The *batch* is `run_batch` (what
`hiprom batch` calls) with `--workers` processes, VIDEO-mode tracking, the full protocol,
and the per-video JSON/CSV written, at full rate, with `--fast` and at any `--strides`.
Throughput is source frames per wall-clock second, start-up (spawning workers, loading
the model) included. Held end-range angles of every arm are compared with full rate: an
arm is acceptable only if every held IR/ER stays within 0.5°.

The default inputs are the rendered seated samples in samples/, upscaled and padded to
1280×720 at 30 fps so the numbers speak for 720p footage.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE_DEG = 0.5


def _frames(src: Path, repeats: int):  # noqa: ANN202 - iterator of BGR frames
    for _ in range(repeats):
        cap = cv2.VideoCapture(str(src))
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield frame
        cap.release()


def to_720p(src: Path, dst: Path, repeats: int = 1, mirror: bool = False) -> Path:
    """Scale ``src`` to fit 1280×720 (aspect kept, padded), 30 fps, mp4v.

    With ``repeats`` > 1 the clip is played that many times back to back, which turns a
    one-rep sample into a recording of the whole protocol (3 reps per side). ``mirror``
    flips it left-right: another valid test video (the sides swap).
    """
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    cap.release()
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*"mp4v"), fps, (1280, 720))
    for frame in _frames(src, repeats):
        frame = np.ascontiguousarray(frame[:, ::-1]) if mirror else frame
        h, w = frame.shape[:2]
        scale = min(1280 / w, 720 / h)
        resized = cv2.resize(frame, (round(w * scale), round(h * scale)),
                             interpolation=cv2.INTER_LINEAR)
        canvas = np.zeros((720, 1280, 3), np.uint8)
        y0, x0 = (720 - resized.shape[0]) // 2, (1280 - resized.shape[1]) // 2
        canvas[y0:y0 + resized.shape[0], x0:x0 + resized.shape[1]] = resized
        writer.write(canvas)
    writer.release()
    return dst


def count_frames(path: Path) -> tuple[int, float]:
    cap = cv2.VideoCapture(str(path))
    n, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS) or 30.0
    cap.release()
    return n, fps


def plain_loop(videos: list[Path]) -> tuple[int, float]:
    """Read → PoseLandmarker IMAGE mode → shank angle; returns (frames, seconds)."""
    from hiprom.backends.base import RunningMode
    from hiprom.backends.mediapipe import MediaPipeBackend

    frames, t0 = 0, time.perf_counter()
    for path in videos:
        with MediaPipeBackend(mode=RunningMode.IMAGE, num_poses=1) as backend:
            cap = cv2.VideoCapture(str(path))
            while True:
                ok, image_bgr = cap.read()
                if not ok:
                    break
                lm = backend(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB), timestamp_s=0.0)
                if lm.n_persons:
                    knee, ankle = lm.xy[0, 25], lm.xy[0, 27]
                    math.degrees(math.atan2(ankle[0] - knee[0], ankle[1] - knee[1]))
                frames += 1
            cap.release()
    return frames, time.perf_counter() - t0


def batch_run(videos: list[Path], out: Path, *, workers: int, arm: str
              ) -> tuple[float, dict[tuple[str, str, str], float]]:
    """Run the batch on fresh storage; returns (seconds, held angles by video/leg/direction).

    ``arm`` is ``full`` (every frame), ``fast`` (``--fast``) or ``stride N``.
    """
    from hiprom.batch.run import BatchConfig, run_batch
    from hiprom.pipeline.analysis import FAST_MAX_FPS, MeasureOptions

    options = {"full": MeasureOptions(), "fast": MeasureOptions(max_fps=FAST_MAX_FPS)}.get(
        arm) or MeasureOptions(stride=int(arm.split()[-1]))
    config = BatchConfig(sources=tuple(str(v) for v in videos), out_dir=out, workers=workers,
                         options=options)
    t0 = time.perf_counter()
    report = run_batch(config)
    seconds = time.perf_counter() - t0
    if report.failures:
        print(f"warning: failures in arm {arm}: {report.failures}", file=sys.stderr)
    held = {}
    for item in report.results:
        for leg, data in ((item.result or {}).get("legs") or {}).items():
            for direction in ("internal", "external"):
                value = data.get(f"{direction}_rotation_deg")
                if value is not None:
                    held[(Path(item.input.path).name, leg, direction)] = float(value)
    return seconds, held


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", nargs="*", type=Path, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--strides", nargs="*", type=int, default=[],
                    help="also time these fixed strides (besides full rate and --fast)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each arm; medians reported")
    ap.add_argument("--markdown", type=Path, default=None)
    ap.add_argument("--protocol-length", type=int, default=1, metavar="N",
                    help="play each sample N times back to back (3 = a whole test, 3 reps a side)")
    ap.add_argument("--mirror", action="store_true",
                    help="add a mirrored copy of each sample (twice the videos)")
    args = ap.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    work = Path(tempfile.mkdtemp(prefix="hiprom-throughput-"))
    if args.videos:
        videos = args.videos
    else:
        sources = sorted((ROOT / "samples").glob("*.mp4"))
        videos = [to_720p(s, work / f"{s.stem}{'_mirror' if m else ''}_720p.mp4",
                          args.protocol_length, mirror=m)
                  for s in sources for m in ((False, True) if args.mirror else (False,))]
    frames = sum(count_frames(v)[0] for v in videos)
    footage_s = sum(n / fps for n, fps in map(count_frames, videos))

    arms = ["full", "fast", *(f"stride {s}" for s in args.strides)]
    plain_s, batch_s, held = [], {a: [] for a in arms}, {}
    for r in range(args.repeats):  # interleaved, so drift in machine load hits every arm
        n_plain, seconds = plain_loop(videos)
        plain_s.append(seconds)
        for k, arm in enumerate(arms):
            seconds, held[arm] = batch_run(videos, work / f"out-{r}-{k}",
                                           workers=args.workers, arm=arm)
            batch_s[arm].append(seconds)
    assert n_plain == frames, (n_plain, frames)

    plain_fps = frames / statistics.median(plain_s)
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {len(videos)} videos, {frames} frames, "
        f"{footage_s:.1f} s of footage at {count_frames(videos[0])} (frames, fps) first; "
        f"median of {args.repeats} interleaved runs.",
        "",
        "| arm | wall s (median) | frames/s | × plain loop | × real time "
        "| held angles vs full rate |",
        "|---|---|---|---|---|---|",
        f"| plain loop (IMAGE mode, 1 process) | {statistics.median(plain_s):.1f} | "
        f"{plain_fps:.1f} | 1.00 | {footage_s / statistics.median(plain_s):.2f} | – |",
    ]
    for arm in arms:
        wall = statistics.median(batch_s[arm])
        diffs = [abs(held[arm][k] - v) for k, v in held["full"].items() if k in held[arm]]
        missing = len(held["full"]) - len(diffs)
        agree = (f"max |Δ| {max(diffs):.2f}° over {len(diffs)} values"
                 + (f", {missing} missing" if missing else "")
                 + (" ✓" if diffs and max(diffs) <= TOLERANCE_DEG and not missing else " ✗")
                 ) if arm != "full" else "reference"
        name = {"full": "every frame", "fast": "--fast"}.get(arm, arm)
        lines.append(f"| hiprom batch, {args.workers} workers, {name} | {wall:.1f} | "
                     f"{frames / wall:.1f} | {frames / wall / plain_fps:.2f} | "
                     f"{footage_s / wall:.2f} | {agree} |")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
