"""Throughput: `hiprom batch` on N workers against a plain per-frame loop, same videos, one run.

Usage::

    python benchmarks/throughput.py                                 # the samples, at 720p
    python benchmarks/throughput.py --protocol-length 3 --mirror    # 6 whole-test recordings
    python benchmarks/throughput.py --videos a.mp4 b.mp4 --workers 2 --strides 3
    python benchmarks/throughput.py --markdown out/throughput.md

The *plain loop* is what a straightforward tool does, in one process: OpenCV reads a
frame, MediaPipe PoseLandmarker runs on it in IMAGE mode (every frame independent), and
the knee→ankle angle from image vertical is computed. The *batch* arms are `run_batch`
(what `hiprom batch` calls) with `--workers` processes, VIDEO-mode tracking, the full
protocol and the per-video JSON/CSV/key frame written: by default (adaptive sampling,
:mod:`hiprom.pipeline.sampling`), with `--every-frame`, and at any `--strides`. Every arm
runs on the same files, the arms interleaved within each repeat so that a change in the
machine's load hits all of them; the table gives medians over the repeats. Throughput is
source frames per wall-clock second, start-up (spawning workers, imports, loading the
model) included; CPU s is the CPU time the arm used (the plain loop's process, or the
batch's driver and its worker processes), which the load of a shared machine changes
far less than wall time. Held end-range angles of every arm are compared with `--every-frame`:
an arm is acceptable only if every held IR/ER stays within 0.5°.

The default inputs are the rendered seated samples in samples/, upscaled and padded to
1280×720 at 30 fps so the numbers speak for 720p footage.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from _output import emit

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE_DEG = 0.5


def machine() -> str:
    """CPU model and core count from ``lscpu`` (platform module as a fallback)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        model = fields.get("Model name", "").strip()
        cpus = fields.get("CPU(s)", "").strip()
        virt = fields.get("Hypervisor vendor", "").strip()
        return f"{model}, {cpus} CPUs" + (f" ({virt} VM)" if virt else "")
    except (OSError, subprocess.CalledProcessError):
        return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"


_LOADS: list[float] = []


def load_avg() -> str:
    """The 1-minute load average sampled during the run: median (min–max)."""
    if not _LOADS:
        return "n/a"
    return (f"{statistics.median(_LOADS):.1f} (range {min(_LOADS):.1f}–{max(_LOADS):.1f}) "
            f"on {os.cpu_count()} CPUs")


def sample_load() -> None:
    try:
        _LOADS.append(os.getloadavg()[0])
    except OSError:
        pass


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


def cpu_s() -> float:
    """CPU seconds of this process and of its finished children (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def plain_loop(videos: list[Path]) -> tuple[int, float, float]:
    """Read → PoseLandmarker IMAGE mode → shank angle; returns (frames, seconds, CPU s)."""
    from hiprom.backends.base import RunningMode
    from hiprom.backends.mediapipe import MediaPipeBackend

    frames, t0, c0 = 0, time.perf_counter(), cpu_s()
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
    return frames, time.perf_counter() - t0, cpu_s() - c0


#: The ``--models`` name of full with ``--second-network`` (MoveNet's knees and ankles too).
SECOND_NETWORK = "full+movenet"


def arm_options(arm: str, model: str | None):  # noqa: ANN201 - MeasureOptions
    """``MeasureOptions`` of an arm: ``adaptive`` (default), ``every-frame``, ``stride N``."""
    from hiprom.backends.base import PoseModel
    from hiprom.pipeline.analysis import MeasureOptions

    extra: dict[str, object] = {}
    if model == SECOND_NETWORK:
        extra["second_network"] = True
    elif model is not None:
        extra["model"] = PoseModel(model)
    if arm == "every-frame":
        return MeasureOptions(every_frame=True, **extra)
    if arm.startswith("stride"):
        return MeasureOptions(stride=int(arm.split()[-1]), **extra)
    return MeasureOptions(**extra)


def batch_run(videos: list[Path], out: Path, *, workers: int, arm: str, model: str | None
              ) -> tuple[float, float, dict[tuple[str, str, str], float], list[float]]:
    """Run the batch on fresh storage.

    Returns (seconds, CPU seconds of the driver and its workers, held angles by
    video/leg/direction, fraction of frames analysed per video).
    """
    from hiprom.batch.run import BatchConfig, run_batch

    config = BatchConfig(sources=tuple(str(v) for v in videos), out_dir=out, workers=workers,
                         options=arm_options(arm, model))
    t0, c0 = time.perf_counter(), cpu_s()
    report = run_batch(config)
    seconds, cpu = time.perf_counter() - t0, cpu_s() - c0
    if report.failures:
        print(f"warning: failures in arm {arm}: {report.failures}", file=sys.stderr)
    held, fractions = {}, []
    for item in report.results:
        result = item.result or {}
        fraction = (result.get("source") or {}).get("frames_analysed_fraction")
        if fraction is not None:
            fractions.append(float(fraction))
        for leg, data in (result.get("legs") or {}).items():
            for direction in ("internal", "external"):
                value = data.get(f"{direction}_rotation_deg")
                if value is not None:
                    held[(Path(item.input.path).name, leg, direction)] = float(value)
    shutil.rmtree(out, ignore_errors=True)
    return seconds, cpu, held, fractions


def main() -> None:
    from hiprom.pipeline.analysis import MeasureOptions

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", nargs="*", type=Path, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--strides", nargs="*", type=int, default=[],
                    help="also time these fixed strides")
    ap.add_argument("--models", nargs="*", default=None,
                    help="pose models to time (needs MeasureOptions.model); default: the "
                         "bundled one")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each arm; medians reported")
    ap.add_argument("--markdown", type=Path, default=None)
    ap.add_argument("--title", default=None, help="heading line of the markdown table")
    ap.add_argument("--protocol-length", type=int, default=1, metavar="N",
                    help="play each sample N times back to back (3 = a whole test, 3 reps a side)")
    ap.add_argument("--mirror", action="store_true",
                    help="add a mirrored copy of each sample (twice the videos)")
    args = ap.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    models: list[str | None] = [None]
    if args.models:
        if "model" not in MeasureOptions.__dataclass_fields__:
            ap.error("--models needs MeasureOptions.model, which this hiprom does not have")
        models = list(args.models)
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

    arms = [(arm, model) for model in models
            for arm in ("every-frame", "adaptive", *(f"stride {s}" for s in args.strides))]
    plain_s: list[float] = []
    plain_cpu: list[float] = []
    batch_s: dict[tuple[str, str | None], list[float]] = {a: [] for a in arms}
    batch_cpu: dict[tuple[str, str | None], list[float]] = {a: [] for a in arms}
    held: dict[tuple[str, str | None], dict] = {}
    fractions: dict[tuple[str, str | None], list[float]] = {}
    n_plain = 0
    for r in range(args.repeats):  # interleaved, so drift in machine load hits every arm
        order = arms if r % 2 == 0 else arms[::-1]
        if r % 2 == 0:
            n_plain, seconds, cpu = plain_loop(videos)
            plain_s.append(seconds)
            plain_cpu.append(cpu)
        for arm in order:
            seconds, cpu, held[arm], fractions[arm] = batch_run(
                videos, work / f"out-{r}", workers=args.workers, arm=arm[0], model=arm[1])
            batch_s[arm].append(seconds)
            batch_cpu[arm].append(cpu)
            sample_load()
        if r % 2 == 1:
            n_plain, seconds, cpu = plain_loop(videos)
            plain_s.append(seconds)
            plain_cpu.append(cpu)
        print(f"repeat {r + 1}/{args.repeats}: plain {plain_s[-1]:.1f} s, "
              + ", ".join(f"{a[0]}{'/' + a[1] if a[1] else ''} {batch_s[a][-1]:.1f} s"
                          for a in arms), file=sys.stderr, flush=True)
    assert n_plain == frames, (n_plain, frames)
    shutil.rmtree(work, ignore_errors=True)

    plain_wall = statistics.median(plain_s)
    plain_fps = frames / plain_wall
    lines = [
        f"Machine: {machine()}, Python {platform.python_version()}; {len(videos)} videos, "
        f"{frames} frames, {footage_s:.1f} s of footage; {args.workers} workers; medians of "
        f"{args.repeats} interleaved runs. Load average over the run: {load_avg()}.",
        "",
        "| arm | model | wall s | frames/s | × plain loop | × real time | CPU s | "
        "frames analysed | held angles vs every frame |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
        f"| plain loop (IMAGE mode, 1 process) | full | {plain_wall:.1f} | {plain_fps:.1f} | "
        f"1.00 | {footage_s / plain_wall:.2f} | {statistics.median(plain_cpu):.1f} | "
        "100 % | – |",
    ]
    for arm in arms:
        wall = statistics.median(batch_s[arm])
        reference = held[("every-frame", arm[1])]
        diffs = [abs(held[arm][k] - v) for k, v in reference.items() if k in held[arm]]
        missing = len(reference) - len(diffs)
        agree = "reference" if arm[0] == "every-frame" else (
            (f"max \\|Δ\\| {max(diffs):.2f}° over {len(diffs)} values" if diffs else "none")
            + (f", {missing} missing" if missing else "")
            + (" ✓" if diffs and max(diffs) <= TOLERANCE_DEG and not missing else " ✗"))
        fraction = statistics.median(fractions[arm]) if fractions[arm] else float("nan")
        name = {"every-frame": "`--every-frame`", "adaptive": "**default (adaptive)**"}.get(
            arm[0], f"`--{arm[0].replace(' ', ' ')}`")
        lines.append(f"| hiprom batch, {args.workers} workers, {name} | {arm[1] or 'full'} | "
                     f"{wall:.1f} | {frames / wall:.1f} | {frames / wall / plain_fps:.2f} | "
                     f"{footage_s / wall:.2f} | {statistics.median(batch_cpu[arm]):.1f} | "
                     f"{100 * fraction:.0f} % | {agree} |")
    text = "\n".join(([f"**{args.title}**", ""] if args.title else []) + lines)
    emit(text, args.markdown)


if __name__ == "__main__":
    main()
