"""Capture → overlay latency of ``hiprom app`` in headless Chromium, fed by a fake camera.

Starts ``hiprom app --no-browser --port 0``, converts the clip to a 640×480 Y4M that
Chromium's fake camera plays at 30 fps, opens ``?auto=1&reps=1`` and runs the whole test
``--runs`` times (a fresh browser each time). Latency is what the page records per frame:
from the frame's capture time (``requestVideoFrameCallback`` metadata ``captureTime``, the
performance.now() clock) to the overlay having been drawn on the canvas after the server's
answer. Every frame of every run counts, the first ones included. The page also records
where the time goes: capture → grab, JPEG encoding, round trip (WebSocket + server), drawing.

Usage: ``python benchmarks/app_latency.py [--clip PATH] [--runs 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from hiprom.app.headless import Chromium, run_auto_test, start_server, stop_server, to_y4m

REPO = Path(__file__).resolve().parents[1]


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


def one_run(y4m: Path, url: str, profile: Path) -> dict:
    with Chromium(y4m, profile) as cdp:
        status = run_auto_test(cdp, url + "?auto=1&reps=1", timeout_s=120)
        status["parts"] = cdp.evaluate("hiprom.parts")
    stats = json.load(urllib.request.urlopen(url + "api/stats", timeout=10))["sessions"][-1]
    status["server"] = stats
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=REPO / "samples" / "seated_ir_left_right.mp4")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        y4m = to_y4m(args.clip, root / "clip.y4m")
        proc, url = start_server(root / "out", env={"HIPROM_HOME": str(root / "home")})
        try:
            runs = [one_run(y4m, url, root / f"profile{k}") for k in range(args.runs)]
        finally:
            stop_server(proc)
    print("| run | frames | median ms | p95 ms | max ms | server median / p95 ms | "
          "left IR | right IR |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    every, parts = [], []
    for k, r in enumerate(runs, 1):
        lat = np.asarray(r["latencies"])
        every.append(lat)
        parts += r["parts"]
        legs = r["card"]["legs"]
        s = r["server"]["server_ms"]
        print(f"| {k} | {lat.size} | {np.median(lat):.1f} | "
              f"{np.percentile(lat, 95):.1f} | {lat.max():.0f} | {s['median']:.1f} / {s['p95']:.1f}"
              f" | {legs['left']['ir_deg']:.1f} | {legs['right']['ir_deg']:.1f} |")
    lat = np.concatenate(every)
    print(f"| all | {lat.size} | {np.median(lat):.1f} | {np.percentile(lat, 95):.1f} | "
          f"{lat.max():.0f} | | | |")
    p = np.asarray(parts)
    names = ("capture → grab", "JPEG encode", "round trip", "draw")
    print("where the time goes (median / p95 ms): " + "; ".join(
        f"{n} {np.median(p[:, i]):.1f} / {np.percentile(p[:, i], 95):.1f}"
        for i, n in enumerate(names)))
    print(f"clock: {runs[0]['clock']}; load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
