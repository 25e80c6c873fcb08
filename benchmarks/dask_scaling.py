"""Dask scale-out: `hiprom batch --scheduler` on a LocalCluster of 1 and of 2 worker processes.

Usage::

    python benchmarks/dask_scaling.py                       # 6 whole-test recordings, 720p
    python benchmarks/dask_scaling.py --workers 1 2 4 --repeats 3

The inputs are the whole-test recordings of benchmarks/throughput.py (each rendered sample
played 3 times back to back, plus a mirrored copy: 6 videos at 1280×720, 30 fps), named by
``file://`` URLs, so the workers read them through fsspec as they would read ``s3://``.
Each arm starts a fresh LocalCluster (``processes=True``, one thread per worker process)
and runs the batch against it, as `hiprom batch URL --scheduler ADDRESS` does; the
driver writes the store and every per-video file. Wall time includes starting the
cluster's workers. Arms are interleaved; the table gives medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _output import emit  # noqa: E402
from throughput import (  # noqa: E402
    ROOT,
    count_frames,
    cpu_s,
    load_avg,
    machine,
    sample_load,
    to_720p,
)


def run_once(folder_url: str, out: Path, workers: int) -> tuple[float, float]:
    """Wall and CPU seconds (driver, scheduler, nannies and workers) of one batch."""
    from distributed import LocalCluster

    from hiprom.batch.run import BatchConfig, run_batch

    t0, c0 = time.perf_counter(), cpu_s()
    with LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                      dashboard_address=None) as cluster:
        report = run_batch(BatchConfig(sources=(folder_url,), out_dir=out,
                                       scheduler=cluster.scheduler_address))
    seconds, cpu = time.perf_counter() - t0, cpu_s() - c0
    if report.failures:
        print(f"warning: failures with {workers} workers: {report.failures}", file=sys.stderr)
    shutil.rmtree(out, ignore_errors=True)
    sample_load()
    return seconds, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--markdown", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    work = Path(tempfile.mkdtemp(prefix="hiprom-dask-"))
    storage = work / "storage"
    storage.mkdir()
    videos = [to_720p(s, storage / f"{s.stem}{'_mirror' if m else ''}_720p.mp4", 3, mirror=m)
              for s in sorted((ROOT / "samples").glob("*.mp4")) for m in (False, True)]
    frames = sum(count_frames(v)[0] for v in videos)
    footage_s = sum(n / fps for n, fps in map(count_frames, videos))
    walls: dict[int, list[float]] = {n: [] for n in args.workers}
    cpus: dict[int, list[float]] = {n: [] for n in args.workers}
    for r in range(args.repeats):
        order = args.workers if r % 2 == 0 else args.workers[::-1]
        for n in order:
            wall, cpu = run_once(storage.as_uri(), work / f"out-{r}-{n}", n)
            walls[n].append(wall)
            cpus[n].append(cpu)
        print(f"repeat {r + 1}/{args.repeats}: "
              + ", ".join(f"{n} workers {walls[n][-1]:.1f} s" for n in args.workers),
              file=sys.stderr, flush=True)
    shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(walls[args.workers[0]])
    lines = [
        f"Machine: {machine()}, Python {platform.python_version()}; {len(videos)} videos, "
        f"{frames} frames, {footage_s:.1f} s of footage, file:// URLs; Dask LocalCluster "
        f"(worker processes, 1 thread each); medians of {args.repeats} interleaved runs. "
        f"Load average over the run: {load_avg()}.",
        "",
        "| Dask workers | wall s | frames/s | × real time | CPU s | speed-up vs "
        f"{args.workers[0]} worker{'s' if args.workers[0] > 1 else ''} |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n in args.workers:
        wall = statistics.median(walls[n])
        lines.append(f"| {n} | {wall:.1f} | {frames / wall:.1f} | {footage_s / wall:.2f} | "
                     f"{statistics.median(cpus[n]):.1f} | {base / wall:.2f} |")
    text = "\n".join(lines)
    emit(text, args.markdown)


if __name__ == "__main__":
    main()
