"""Adaptive sampling against every frame: held end ranges, intervals and frames analysed.

Usage::

    python benchmarks/sampling_agreement.py --data samples build/validation
    python benchmarks/sampling_agreement.py --data build/validation --markdown build/agreement.md

Every clip (``*.mp4`` in each ``--data`` folder) is measured twice with the real model, as
`hiprom measure` does: with ``--every-frame`` and by default (adaptive sampling). For each
held end range (a leg's IR or ER) it reports the difference, and both 95 % intervals;
for each clip the fraction of frames analysed and any difference in the quality flags.
The acceptance bound is 0.5° on every held value; a value found by one run and not the
other counts as a miss.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from _output import emit

TOLERANCE_DEG = 0.5


def held(m) -> dict[str, tuple[float, float]]:  # noqa: ANN001 - a Measurement
    out = {}
    for side, leg in m.legs.items():
        for direction in ("internal", "external"):
            value = getattr(leg, f"{direction}_rotation_deg")
            if value is not None:
                out[f"{side} {direction[:2].upper()}"] = (
                    value, getattr(leg, f"{direction}_rotation_ci95_deg"))
    return out


def main() -> None:
    from hiprom.pipeline.analysis import MeasureOptions
    from hiprom.pipeline.measure import measure_path

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", type=Path, required=True)
    ap.add_argument("--markdown", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    clips = [c for folder in args.data for c in sorted(folder.glob("*.mp4"))]
    rows, deltas, ratios, fractions, misses, flag_changes = [], [], [], [], [], []
    for clip in clips:
        full = measure_path(clip, options=MeasureOptions(every_frame=True))
        adaptive = measure_path(clip)
        a, b = held(full), held(adaptive)
        fraction = adaptive.source.frames_analysed_fraction
        fractions.append(fraction)
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                misses.append(f"{clip.name} {key}")
                rows.append(f"| {clip.name} | {key} | "
                            f"{'–' if key not in a else f'{a[key][0]:.2f}'} | "
                            f"{'–' if key not in b else f'{b[key][0]:.2f}'} | miss | | | "
                            f"{100 * fraction:.0f} % |")
                continue
            delta = b[key][0] - a[key][0]
            deltas.append(abs(delta))
            ratios.append(b[key][1] / a[key][1])
            rows.append(f"| {clip.name} | {key} | {a[key][0]:.2f} | {b[key][0]:.2f} | "
                        f"{delta:+.2f} | {a[key][1]:.2f} | {b[key][1]:.2f} | "
                        f"{100 * fraction:.0f} % |")
        for side in full.legs:
            qa, qb = set(full.legs[side].quality), set(adaptive.legs[side].quality)
            if qa != qb:
                flag_changes.append(f"{clip.name} {side}: {sorted(qa)} → {sorted(qb)}")
        print(rows[-1], flush=True)
    summary = [
        f"{len(clips)} clips, {len(deltas)} held values found by both runs: max |Δ| "
        f"{max(deltas):.2f}°, median {statistics.median(deltas):.2f}°, "
        f"{sum(d > TOLERANCE_DEG for d in deltas)} over {TOLERANCE_DEG}°; "
        f"{len(misses)} found by one run only"
        + (f" ({'; '.join(misses)})" if misses else "") + ".",
        f"95 % interval, adaptive over every frame: median {statistics.median(ratios):.2f}, "
        f"range {min(ratios):.2f}–{max(ratios):.2f}, {sum(r < 0.9 for r in ratios)} of "
        f"{len(ratios)} below 0.9.",
        f"Frames analysed: median {100 * statistics.median(fractions):.0f} %, range "
        f"{100 * min(fractions):.0f}–{100 * max(fractions):.0f} %.",
        "Quality flags that differ: " + ("; ".join(flag_changes) if flag_changes else "none")
        + ".",
    ]
    table = ["| clip | held value | every frame ° | adaptive ° | Δ ° | 95 % every frame | "
             "95 % adaptive | frames analysed |", "|---|---|---:|---:|---:|---:|---:|---:|",
             *rows]
    text = "\n".join(summary + [""] + table)
    emit(text, args.markdown)


if __name__ == "__main__":
    main()
