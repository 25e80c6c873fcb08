"""Cost of the live guide's protocol over a 2-minute session, per frame and per refresh.

The guide reads the protocol's state from :class:`hiprom.pipeline.progress.IncrementalSummary`,
which re-runs ``summarise_records`` on a bounded window at a bounded rate. This feeds a
synthetic 2-minute session (the seated person of ``tests/builders.py``: 3 s neutral, then 24
reps of 0.5 s out, 2.5 s hold, 0.5 s back, 1.5 s rest, 0.3° landmark noise, 30 fps) through
:class:`hiprom.live.guide.Guide` in auto mode, as ``hiprom live --source`` does, and reports
the time of each ``Guide.update`` and of each refresh. The pose model is not run: its
cost is in ``benchmarks/live_latency.py``.

Usage: ``python benchmarks/live_protocol.py``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from builders import Body, frame_record, seated_xy  # noqa: E402
from hiprom.live.guide import Guide  # noqa: E402
from hiprom.live.states import GuideConfig  # noqa: E402

FPS = 30.0
BODY = Body(centre=(320.0, 220.0), knee_half_width=50.0, shank=150.0, shoulders=(60.0, 180.0))


def session(n_reps: int = 24) -> list:
    """The synthetic session's frame records."""
    rng = np.random.default_rng(1)
    pairs = [(0.0, 0.0)] * int(3 * FPS)
    for k in range(n_reps):
        deg = 35.0 if k % 2 == 0 else 30.0
        ramp = list(np.linspace(0.0, deg, int(0.5 * FPS)))
        path = ramp + [deg] * int(2.5 * FPS) + ramp[::-1] + [0.0] * int(1.5 * FPS)
        pairs += [(a, 0.0) if k % 2 == 0 else (0.0, a) for a in path]
    return [frame_record(i, seated_xy(a + rng.normal(0, 0.3), b + rng.normal(0, 0.3), BODY),
                         fps=FPS) for i, (a, b) in enumerate(pairs)]


def main() -> None:
    records = session()
    guide = Guide(GuideConfig(auto=True), resolution_wh=(640, 480))
    per_frame = []
    for record in records:
        t0 = time.perf_counter()
        guide.update(record)
        per_frame.append(time.perf_counter() - t0)
    frame_ms = np.asarray(per_frame) * 1000.0
    refresh_ms = np.asarray(guide.protocol.refresh_cost_s) * 1000.0
    print(f"session: {records[-1].timestamp_s:.0f} s, {len(records)} frames, "
          f"{len(guide.reps)} reps scored")
    print(f"refreshes: {refresh_ms.size} ({refresh_ms.size / len(guide.reps):.1f} per rep); "
          f"ms median {np.median(refresh_ms):.1f}, p95 {np.percentile(refresh_ms, 95):.1f}, "
          f"max {refresh_ms.max():.1f}")
    frames = np.asarray(guide.protocol.refresh_frames)
    print(f"frames per refresh: median {np.median(frames):.0f}, max {frames.max()} "
          f"(bound: {(guide.protocol.anchor_s + guide.protocol.window_s) * FPS:.0f})")
    print(f"Guide.update per frame: ms median {np.median(frame_ms):.2f}, "
          f"p95 {np.percentile(frame_ms, 95):.2f}, max {frame_ms.max():.1f}, "
          f"mean {frame_ms.mean():.2f}; frames with a refresh: "
          f"{100.0 * refresh_ms.size / len(records):.1f} %")


if __name__ == "__main__":
    main()
