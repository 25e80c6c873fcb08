#!/usr/bin/env python3
"""Split a rendered v2 set (validation2, postures) into its fit and held-out parts.

    python synth/split.py build/validation2            # -> build/validation2-fit/, build/validation2-holdout/
    python synth/split.py build/validation2 --summary  # only print the counts

Each part is a folder of symlinks (media + truth) that benchmarks/accuracy.py can read as
--data. The split is the one written in every truth file ("split": "fit" | "holdout"), which
synth/sets_v2.py decides from the seed: 3 bodies and 2 camera setups that no fit may use.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("data", type=Path)
    ap.add_argument("--summary", action="store_true", help="print counts per split and exit")
    a = ap.parse_args(argv)
    truths = sorted(a.data.glob("*.truth.json"))
    if not truths:
        print(f"no *.truth.json in {a.data}", file=sys.stderr)
        return 2
    count = Counter()
    groups = {"fit": (set(), set()), "holdout": (set(), set())}
    for t in truths:
        T = json.loads(t.read_text())
        split = T.get("split")
        if split not in groups:
            print(f"{t.name}: no split (not a v2 set?)", file=sys.stderr)
            return 2
        count[(split, T["kind"])] += 1
        groups[split][0].add(T["group"]["body"])
        groups[split][1].add(T["group"]["camera_setup"])
        if not a.summary:
            d = a.data.parent / f"{a.data.name}-{split}"
            d.mkdir(exist_ok=True)
            for f in (t, a.data / T["media"]):
                link = d / f.name
                if not link.exists():
                    os.symlink(os.path.relpath(f.resolve(), d.resolve()), link)
    for s in ("fit", "holdout"):
        print(
            f"{s}: {count[(s, 'clip')]} clips, {count[(s, 'still')]} stills; bodies {sorted(groups[s][0])}; "
            f"camera setups {sorted(groups[s][1])}"
        )
    if groups["fit"][0] & groups["holdout"][0]:
        print(
            f"ERROR: bodies in both splits: {sorted(groups['fit'][0] & groups['holdout'][0])}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
