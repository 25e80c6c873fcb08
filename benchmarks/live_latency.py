"""Frame latency and frame rate of the live loop, fed from a 640x480 file, side by side.

Each configuration plays the same clip through ``hiprom.live.session.run_live``:

* ``camera-like`` runs pace the file at its own frame rate and keep only the newest frame,
  as a 30 fps webcam would (frames the loop cannot keep up with are dropped);
* the ``every frame`` run feeds frames as fast as the loop takes them (the throughput bound).

Latency is per shown frame: from the moment the frame was captured (read from the file)
to the moment it was shown (``cv2.imshow`` returned; with ``--headless``, drawn). Run with a
display for real window numbers, e.g. ``xvfb-run -a python benchmarks/live_latency.py``.

Usage: ``python benchmarks/live_latency.py [--clip PATH] [--headless] [--markdown]``
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import numpy as np

from hiprom.backends.base import RunningMode
from hiprom.live.session import LiveOptions, run_live

REPO = Path(__file__).resolve().parents[1]
CONFIGS = (
    # (name, running mode, worker thread, realtime pacing)
    ("threaded, VIDEO mode, camera-like", RunningMode.VIDEO, True, True),
    ("threaded, IMAGE mode, camera-like", RunningMode.IMAGE, True, True),
    ("one thread, VIDEO mode, camera-like", RunningMode.VIDEO, False, True),
    ("threaded, VIDEO mode, every frame", RunningMode.VIDEO, True, False),
)


def machine() -> str:
    """One line describing this machine."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}"


def run_one(clip: Path, mode: RunningMode, threaded: bool, realtime: bool,
            headless: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        result = run_live(LiveOptions(source=clip, headless=headless, render=True, mode=mode,
                                      threaded=threaded, realtime=realtime, linger_s=0.0,
                                      out_dir=Path(tmp)))
    lat = np.asarray(result.latency_s[5:]) * 1000.0  # skip model warm-up frames
    return {"median_ms": float(np.median(lat)), "p95_ms": float(np.percentile(lat, 95)),
            "fps": result.fps, "shown": len(result.shown_s),
            "analysed": result.frames_analysed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=REPO / "samples" / "seated_ir_left_right.mp4")
    parser.add_argument("--headless", action="store_true", help="draw but open no window")
    args = parser.parse_args()
    headless = args.headless or not os.environ.get("DISPLAY")
    print(f"machine: {machine()}")
    print(f"clip: {args.clip.name}; window: {'no (drawn only)' if headless else 'yes'}")
    print("| configuration | median latency ms | p95 latency ms | fps shown | frames analysed |")
    print("|---|---:|---:|---:|---:|")
    for name, mode, threaded, realtime in CONFIGS:
        r = run_one(args.clip, mode, threaded, realtime, headless)
        print(f"| {name} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['fps']:.1f} | "
              f"{r['analysed']} |", flush=True)


if __name__ == "__main__":
    main()
