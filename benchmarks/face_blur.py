"""Cost of blurring faces in exported images: time per annotated frame, with and without.

Usage::

    python benchmarks/face_blur.py                          # the sample clip (640x480)
    python benchmarks/face_blur.py --clips a.mp4 b.mp4 --reps 5

Each clip is measured once with every frame analysed (as ``--annotate`` does); then
``write_outputs(m, annotate=True)`` writes the annotated video and key frame with faces
blurred (the default) and with ``blur_faces=False`` (``--show-faces``), the two arms
interleaved within each repeat so that a change in the machine's load hits both. The
table gives the median wall time per exported frame of each arm, the difference (the
cost of blurring), and the face detector alone per frame (:class:`FaceDetector` on each
decoded frame, its tiles counted). CPU seconds of the process are given beside wall
time, with the load average, since a shared machine moves wall time more than CPU time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2

from hiprom.backends.faces import FaceDetector, tiles
from hiprom.media.outputs import write_outputs
from hiprom.pipeline.analysis import MeasureOptions
from hiprom.pipeline.measure import measure_path

ROOT = Path(__file__).resolve().parents[1]


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def time_arm(m, blur: bool) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="hiprom-faces-") as tmp:
        w0, c0 = time.perf_counter(), cpu_s()
        write_outputs(m, tmp, annotate=True, blur_faces=blur)
        return time.perf_counter() - w0, cpu_s() - c0


def detector_ms(clip: Path, n: int) -> float:
    cap = cv2.VideoCapture(str(clip))
    frames = []
    while len(frames) < n:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    with FaceDetector() as detector:
        detector(frames[0])  # warm-up
        t0 = time.perf_counter()
        for image in frames:
            detector(image)
        return (time.perf_counter() - t0) / len(frames) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="+", type=Path,
                        default=[ROOT / "samples" / "seated_ir_left_right.mp4"])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    print("| clip | size | frames | tiles | plain ms/frame | blurred ms/frame | added ms/frame "
          "(CPU) | detector alone ms/frame |")
    print("|---|---|---|---|---|---|---|---|")
    for clip in args.clips:
        m = measure_path(clip, options=MeasureOptions(every_frame=True))
        n = len(m.frame_index)
        wall: dict[bool, list[float]] = {False: [], True: []}
        cpu: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.reps):
            for blur in (False, True):
                w, c = time_arm(m, blur)
                wall[blur].append(w / n * 1000.0)
                cpu[blur].append(c / n * 1000.0)
        plain, blurred = statistics.median(wall[False]), statistics.median(wall[True])
        added_cpu = statistics.median(cpu[True]) - statistics.median(cpu[False])
        w, h = m.source.resolution_wh
        print(f"| {clip.name} | {w}x{h} | {n} | {len(tiles((w, h)))} | {plain:.1f} | "
              f"{blurred:.1f} | {blurred - plain:.1f} ({added_cpu:.1f}) | "
              f"{detector_ms(clip, min(n, 60)):.1f} |")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
