"""Is this the seated test? The check's limits fitted on renders, checked on held-out ones.

Usage::

    python benchmarks/protocol_check.py --data build/postures --data build/validation2 \
        --footage ../shared/footage --cache build/protocol-check.json \
        --markdown build/protocol-check.md

Every item is measured as ``hiprom measure`` would (default options); the features of the
seated-test check (:mod:`hiprom.core.posture`: thigh, knee drop, hang, hip width; medians
over the usable frames) and its verdict are cached per item, so refitting costs nothing.

Labels come from the renders' truth files: an item is the test when its ``posture`` is
``seated_test`` (or it has no posture: the validation sets are all seated tests) and its
view is valid (``valid_test_view``; side views of the test are not); ``footage`` items are
real footage of other postures, used as a check and never for fitting.

``--fit`` proposes limits from the ``fit`` split only (:func:`fit_limits`) and the tables
then show the held-out split and the footage measured with those limits beside the
bundled ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from hiprom.backends.base import PoseModel
from hiprom.core.posture import FEATURES, LIMITS, LIMITS_BY_MODEL, PostureLimits
from hiprom.errors import HipromError
from hiprom.media.sources import is_image
from hiprom.pipeline.analysis import MeasureOptions
from hiprom.pipeline.measure import measure_path

MEDIA = (".mp4", ".png", ".jpg", ".jpeg", ".mov", ".webm")


@dataclass(frozen=True)
class Item:
    """One input with its label and what the check saw."""

    name: str
    group: str             # posture class ("seated_test", "side_view", ..., "footage")
    split: str             # "fit", "holdout" or "check" (footage)
    is_test: bool
    kind: str              # "clip" or "still"
    features: dict[str, float | None]
    usable_fraction: float
    error: str | None      # refused before any value (no person, legs unseen)


def _label(path: Path) -> tuple[str, str, bool] | None:
    truth = path.with_name(path.stem + ".truth.json")
    if not truth.exists():
        return None
    doc = json.loads(truth.read_text())
    posture = doc.get("posture") or "seated_test"
    valid_view = doc.get("valid_test_view", True)
    group = posture if valid_view or posture != "seated_test" else "side_view"
    return group, str(doc.get("split") or "fit"), posture == "seated_test" and bool(valid_view)


def measure_item(path: Path, group: str, split: str, is_test: bool,
                 model: str = "full", second_network: bool = False) -> Item:
    """Run the pipeline on one file and keep the check's features."""
    kind = "still" if is_image(path) else "clip"
    try:
        m = measure_path(path, options=MeasureOptions(model=PoseModel(model),
                                                      second_network=second_network))
    except HipromError as err:
        return Item(path.name, group, split, is_test, kind, {}, 0.0, str(err))
    protocol = m.protocol.to_dict() if m.protocol is not None else {}
    features = protocol.get("features") or {}
    return Item(path.name, group, split, is_test, kind, dict(features),
                float(protocol.get("usable_fraction") or 0.0), None)


def _check_cache_settings(cache: Path, settings: dict) -> None:
    """Refuse a cache made with other settings (the features depend on them).

    The settings sit beside the cache (``<cache>.settings.json``); a cache without them
    predates the check and is taken for a plain run of the network it was made with.
    """
    side = cache.with_name(cache.name + ".settings.json")
    if side.exists():
        made = json.loads(side.read_text())
        if made != settings:
            raise SystemExit(f"{cache} was made with {made}, not {settings}: pass another "
                             "--cache")
    elif cache.exists() and settings.get("second_network"):
        raise SystemExit(f"{cache} was made without --second-network: pass another --cache")
    else:
        side.parent.mkdir(parents=True, exist_ok=True)
        side.write_text(json.dumps(settings))


def collect(data: list[Path], footage: list[Path], cache: Path | None,
            model: str = "full", second_network: bool = False) -> list[Item]:
    """Measure every labelled render and footage item (cached by name)."""
    known: dict[str, Item] = {}
    if cache is not None:
        _check_cache_settings(cache, {"model": model, "second_network": second_network})
    if cache is not None and cache.exists():
        known = {d["name"]: Item(**d) for d in json.loads(cache.read_text())}
    items: list[Item] = []
    todo: list[tuple[Path, str, str, bool]] = []
    for folder in data:
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in MEDIA and (label := _label(path)) is not None:
                todo.append((path, *label))
    for folder in footage:
        todo += [(p, "footage", "check", False) for p in sorted(folder.iterdir())
                 if p.suffix.lower() in MEDIA]
    for n, (path, group, split, is_test) in enumerate(todo, 1):
        item = known.get(path.name) or measure_item(path, group, split, is_test, model,
                                                    second_network)
        items.append(item)
        if cache is not None and path.name not in known:
            known[path.name] = item
            cache.write_text(json.dumps([asdict(i) for i in known.values()], indent=1))
        print(f"[{n}/{len(todo)}] {path.name}: {group} {_verdict(item, LIMITS_BY_MODEL[model])}",
              file=sys.stderr)
    return items


def _value(item: Item, name: str) -> float:
    v = item.features.get(name)
    return float("nan") if v is None else float(v)


def passes(item: Item, limits: PostureLimits) -> bool:
    """Whether ``limits`` take the item for the seated test (mirrors ``check_seated_test``)."""
    if item.error is not None or item.usable_fraction < limits.min_fraction:
        return False
    f = {k: _value(item, k) for k in FEATURES}
    if not all(np.isfinite(v) for v in f.values()):
        return False
    return (limits.min_hip_width <= f["hip_width"] <= limits.max_hip_width
            and f["thigh_across"] <= limits.max_thigh_across
            and f["hang"] >= limits.min_hang
            and limits.min_knee_drop <= f["knee_drop"] <= limits.max_knee_drop
            and f["thigh"] <= limits.max_thigh)


def _verdict(item: Item, limits: PostureLimits) -> str:
    if item.error is not None:
        return "refused (nothing measurable)"
    return "passed" if passes(item, limits) else "refused"


#: Each limit, the feature it bounds and its direction (+1: an upper bound).
BOUNDS = {"min_knee_drop": ("knee_drop", -1),
          "max_knee_drop": ("knee_drop", 1), "min_hang": ("hang", -1),
          "min_hip_width": ("hip_width", -1), "max_thigh_across": ("thigh_across", 1)}


#: A non-test item closer to the tests than this on every feature (in units of the tests'
#: spread of that feature) cannot be told from the test by these features; no bound is
#: pulled in to catch it (it then shows as passing).
MIN_SEPARATION = 0.25


def fit_limits(items: list[Item], bundled_limits: PostureLimits = LIMITS) -> PostureLimits:
    """Limits from the fit split: each non-test posture refused by its clearest feature.

    Per bound, ``edge`` is the most extreme value among the fit split's seated tests on the
    bound's side and ``spread`` the tests' range of that feature. Each fit-split non-test
    item is given to the bound beyond which it lies furthest, in units of ``spread`` (the
    feature that separates it most clearly from the test); an item within
    :data:`MIN_SEPARATION` on every feature is given to none. Each bound then sits in the
    middle of the gap between its edge and the nearest item it was given (the largest
    margin both ways: held-out tests reach beyond the fit's range), at least 0.05 (image
    shank lengths, or cosine) beyond the edge. A bound given nothing sits 0.15 beyond the
    edge, or at the bundled value if that is further out. ``max_thigh`` and
    ``max_hip_width`` are not fitted but kept as loose guards (see
    :class:`hiprom.core.posture.PostureLimits`).
    """
    fit = [i for i in items if i.split == "fit" and i.error is None]
    tests = [i for i in fit if i.is_test]
    edge: dict[str, float] = {}
    spread: dict[str, float] = {}
    for limit, (feature, sign) in BOUNDS.items():
        t = np.array([_value(i, feature) for i in tests])
        t = t[np.isfinite(t)]
        edge[limit] = float(t.max() if sign > 0 else t.min()) if t.size else np.nan
        spread[limit] = float(np.ptp(t)) if t.size > 1 else np.nan
    given: dict[str, list[float]] = {limit: [] for limit in BOUNDS}
    for item in (i for i in fit if not i.is_test):
        if item.usable_fraction < bundled_limits.min_fraction:
            continue
        best, best_d = None, MIN_SEPARATION
        for limit, (feature, sign) in BOUNDS.items():
            d = sign * (_value(item, feature) - edge[limit]) / spread[limit]
            if np.isfinite(d) and d >= best_d:
                best, best_d = limit, d
        if best is not None:
            given[best].append(_value(item, BOUNDS[best][0]))
    values: dict[str, float] = {}
    for limit, (_, sign) in BOUNDS.items():
        if not np.isfinite(edge[limit]):
            values[limit] = getattr(bundled_limits, limit)
        elif given[limit]:
            gap = min(abs(v - edge[limit]) for v in given[limit])
            values[limit] = edge[limit] + sign * max(0.5 * gap, 0.05)
        else:
            values[limit] = edge[limit] + sign * 0.15
            bundled = getattr(bundled_limits, limit)
            if sign * (bundled - values[limit]) > 0:
                values[limit] = bundled
    return replace(bundled_limits, **{k: round(v, 2) for k, v in values.items()})


def table(items: list[Item], limits: PostureLimits, title: str) -> str:
    """Markdown: per posture class and split, how many passed and how many were refused."""
    rows = [f"**{title}**", "", "| split | inputs | n | passed as the test | refused |",
            "|---|---|---:|---:|---:|"]
    keys = sorted({(i.split, i.group, i.is_test) for i in items},
                  key=lambda k: (k[0], not k[2], k[1]))
    for split, group, is_test in keys:
        sel = [i for i in items if (i.split, i.group, i.is_test) == (split, group, is_test)]
        ok = sum(passes(i, limits) for i in sel)
        label = group.replace("_", " ") + (" (the test)" if is_test else "")
        rows.append(f"| {split} | {label} | {len(sel)} | {ok} | {len(sel) - ok} |")
    return "\n".join(rows)


def ranges(items: list[Item]) -> str:
    """Markdown: each feature's range per posture class (all splits)."""
    rows = ["| inputs | n | " + " | ".join(FEATURES) + " |",
            "|---|---:|" + "---|" * len(FEATURES)]
    for group in sorted({i.group for i in items}):
        sel = [i for i in items if i.group == group and i.error is None]
        cells = []
        for f in FEATURES:
            v = np.array([_value(i, f) for i in sel])
            v = v[np.isfinite(v)]
            cells.append(f"{v.min():.2f} – {v.max():.2f}" if v.size else "–")
        rows.append(f"| {group.replace('_', ' ')} | {len(sel)} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, action="append", default=[],
                    help="folder of renders with *.truth.json (repeatable)")
    ap.add_argument("--footage", type=Path, action="append", default=[],
                    help="folder of real footage that is not the test (repeatable)")
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--fit", action="store_true", help="propose limits from the fit split")
    ap.add_argument("--model", choices=["full", "heavy", "lite"], default="full",
                    help="the pose network (the features depend on it; one cache per model)")
    ap.add_argument("--second-network", action="store_true",
                    help="measure with --second-network (give it its own --cache: the knees "
                         "move; a cache made otherwise is refused)")
    ap.add_argument("--markdown", type=Path, default=None)
    args = ap.parse_args(argv)
    items = collect(args.data, [f for f in args.footage if f.is_dir()], args.cache, args.model,
                    args.second_network)
    bundled = LIMITS_BY_MODEL[args.model]
    parts = [table(items, bundled, f"Bundled limits ({args.model}): " + ", ".join(
        f"{f.name} {getattr(bundled, f.name)}" for f in fields(bundled)))]
    if args.fit:
        fitted = fit_limits(items, bundled)
        parts.append(table(items, fitted, "Fitted on the fit split: " + ", ".join(
            f"{f.name} {getattr(fitted, f.name)}" for f in fields(fitted))))
    parts.append("Feature ranges (medians per input; image shank lengths, hang a cosine):\n\n"
                 + ranges(items))
    refused_early = [i for i in items if i.error is not None]
    if refused_early:
        parts.append("Refused before any value (no person, legs unseen): " + ", ".join(
            f"{i.name} ({i.group})" for i in refused_early))
    text = "\n\n".join(parts) + "\n"
    print(text)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
