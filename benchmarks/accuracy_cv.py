"""Out-of-sample accuracy: each fitted constant refitted without the groups it is tested on.

Usage::

    python benchmarks/accuracy_cv.py --data /path/to/validation --out build/accuracy-cv \
        --markdown build/accuracy-cv.md

The pose model runs once per clip (its landmarks are cached in ``--out``); then, for each
held-out group, the constants that the data determine are fitted on the other groups only
and the held-out clips are measured with them:

* the hip joint centre's offset below the model's hip landmark (``MeasureOptions.hip_offset``),
  from the clips' true hip centres at neutral;
* the systematic SD of the 95% interval (the smallest SD whose intervals hold the truth in
  95% of the fit clips' clean end ranges).

Groups: leave one body out (``subject.id`` of the truth) and leave one camera setup out
(``camera.setup``). The tables give, side by side, the in-sample figures (fitted on all
clips, tested on the same clips) and the out-of-group ones, with the interval's coverage
and median half-width. Compensation clips are left out of the error figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from _output import emit
from accuracy import calibrate_systematic  # same rule as the in-sample benchmark

from hiprom.backends.base import PoseModel, RunningMode
from hiprom.core.calibration import terms_for
from hiprom.core.geometry import HIP_CENTRE_BELOW_LANDMARK, assign_sides, measure_legs, pelvis_down
from hiprom.core.landmarks import LEG_LANDMARKS, Landmarks
from hiprom.media.sources import iter_video
from hiprom.pipeline.analysis import FrameRecord, MeasureOptions, analyse
from hiprom.pipeline.measure import default_backend_factory
from hiprom.pipeline.summarise import summarise_records
from hiprom.vocabulary import SIDES

Z95 = 1.96


@dataclass(frozen=True)
class Clip:
    """One rendered clip: its truth and the pose model's landmarks of the subject."""

    stem: str
    truth: dict
    t: np.ndarray          # (n,) s
    xy: np.ndarray         # (n, 33, 2) px, NaN where nobody
    vis: np.ndarray        # (n, 33)
    resolution_wh: tuple[int, int]

    @property
    def body(self) -> str:
        return str(self.truth["subject"]["id"])

    @property
    def setup(self) -> str:
        return str(self.truth["camera"]["setup"])

    @property
    def clean(self) -> bool:
        return not (self.truth.get("compensation") or {}).get("type")


def _landmarks_of(path: Path, truth: dict, cache: Path,
                  model: PoseModel = PoseModel.FULL) -> Clip:
    """Run the model once (VIDEO mode, as ``hiprom measure``) and cache the subject's points.

    ``cache`` holds one network's landmarks: use a folder per ``model``.
    """
    stem = path.stem
    file = cache / f"{stem}.landmarks.npz"
    if not file.exists():
        frames = iter_video(path)
        with default_backend_factory(RunningMode.VIDEO, model=model) as backend:
            analysis = analyse(frames, backend, options=MeasureOptions(model=model))
        n = len(analysis.records)
        xy = np.full((n, 33, 2), np.nan)
        vis = np.zeros((n, 33))
        for i, r in enumerate(analysis.records):
            if r.xy is not None:
                xy[i], vis[i] = r.xy, r.visibility
        t = np.array([r.timestamp_s for r in analysis.records])
        np.savez_compressed(file, t=t, xy=xy, vis=vis, wh=np.array(analysis.resolution_wh))
    data = np.load(file)
    return Clip(stem, truth, data["t"], data["xy"], data["vis"], tuple(int(v) for v in data["wh"]))


def _records(clip: Clip, options: MeasureOptions) -> list[FrameRecord]:
    out = []
    for i in range(len(clip.t)):
        legs = None
        if np.isfinite(clip.xy[i]).all():
            lm = Landmarks(clip.xy[i][None].astype(np.float32),
                           clip.vis[i][None].astype(np.float32), clip.resolution_wh)
            legs = measure_legs(lm, correct_view=options.correct_view,
                                min_visibility=options.min_visibility,
                                hip_offset=options.hip_centre_offset)
        out.append(FrameRecord(i, float(clip.t[i]), 1, legs))
    return out


def hip_offsets(clip: Clip) -> list[float]:
    """True hip centre below the model's hip line at neutral, in image shank lengths, per frame."""
    first_hold = min((h["start_s"] for h in clip.truth["holds"]), default=np.inf)
    values = []
    for i, frame in enumerate(clip.truth["frames"]):
        if frame["timestamp_s"] >= first_hold - 0.3 or i >= len(clip.t):
            break
        if any(abs(v) > 0.5 for v in frame["rotation_deg"].values()):
            continue
        xy = clip.xy[i]
        if not np.isfinite(xy).all():
            continue
        labels = ("right", "left") if bool(assign_sides(xy)) else ("left", "right")
        hip_l, knee_l, ankle_l = (xy[j] for j in LEG_LANDMARKS[labels[0]])
        hip_r, knee_r, ankle_r = (xy[j] for j in LEG_LANDMARKS[labels[1]])
        shank = np.mean([np.hypot(*(ankle_l - knee_l)), np.hypot(*(ankle_r - knee_r))])
        true = frame["joints_2d_px"]
        true_mid = (np.array(true["left_hip"]) + np.array(true["right_hip"])) / 2
        down = pelvis_down(hip_l, hip_r)
        values.append(float((true_mid - (hip_l + hip_r) / 2) @ down / shank))
    return values


def neutral_readings(clips: list[Clip], options: MeasureOptions) -> list[float]:
    """Per clean clip leg, the median absolute angle read while the leg is truly at neutral.

    What a leg without a neutral hold costs: its values are absolute angles, so this error
    enters them (``hiprom.core.calibration.NO_NEUTRAL_SD_BY_MODEL`` is its RMS).
    """
    out = []
    for clip in (c for c in clips if c.clean):
        records = _records(clip, options)
        for side in SIDES:
            read = [r.legs.leg(side).rotation_deg
                    for r, frame in zip(records, clip.truth["frames"], strict=False)
                    if r.legs is not None and abs(frame["rotation_deg"][side]) < 0.5]
            read = [v for v in read if np.isfinite(v)]
            if len(read) >= 5:
                out.append(float(np.median(read)))
    return out


def fit_hip_offset(clips: list[Clip]) -> float:
    values = [v for c in clips if c.clean for v in hip_offsets(c)]
    return float(np.median(values)) if values else HIP_CENTRE_BELOW_LANDMARK


@dataclass(frozen=True)
class Case:
    clip: Clip
    leg: str
    direction: str
    truth_deg: float
    value_deg: float | None
    ci95_deg: float | None

    @property
    def error(self) -> float | None:
        return None if self.value_deg is None else self.value_deg - self.truth_deg


def cases_for(clip: Clip, options: MeasureOptions) -> list[Case]:
    legs = summarise_records(_records(clip, options), resolution_wh=clip.resolution_wh,
                             options=options).legs
    out = []
    for leg in SIDES:
        for direction in ("internal", "external"):
            key = f"{direction}_rotation_deg"
            truth = clip.truth["end_range"][leg].get(key)
            if truth is None:
                continue
            result = legs[leg]
            value = getattr(result, key)
            ci = getattr(result, key.replace("_deg", "_ci95_deg"))
            out.append(Case(clip, leg, direction, float(truth), value, ci))
    return out


def _with_sd(case: Case, current_sd: float, sd: float) -> float | None:
    if case.ci95_deg is None:
        return None
    stat = max((case.ci95_deg / Z95) ** 2 - current_sd ** 2, 0.0)
    return Z95 * float(np.sqrt(stat + sd ** 2))


def _row(name: str, cases: list[Case], widths: list[float], held: list[bool]) -> str:
    errs = np.abs([c.error for c in cases if c.error is not None])
    missing = sum(c.error is None for c in cases)
    if errs.size == 0:
        return f"| {name} | 0 | – | – | – | – | – | {missing} |"
    return (f"| {name} | {errs.size} | {errs.mean():.2f}° | {np.percentile(errs, 95):.2f}° | "
            f"{errs.max():.2f}° | {100 * np.mean(held):.0f}% | {np.median(widths):.2f}° | "
            f"{missing} |")


def evaluate(clips: list[Clip], group_of, current_sd: float,
             model: PoseModel = PoseModel.FULL) -> tuple[list[Case], list[float], list[bool],
                                                        list[str]]:
    """Leave each group out: fit on the rest, measure the held-out clips with the fit."""
    cases, widths, held, fits = [], [], [], []
    for group in sorted({group_of(c) for c in clips}):
        train = [c for c in clips if group_of(c) != group]
        test = [c for c in clips if group_of(c) == group and c.clean]
        offset = fit_hip_offset(train)
        options = MeasureOptions(hip_offset=offset, model=model)
        train_cases = [k for c in train if c.clean for k in cases_for(c, options)]
        sd = calibrate_systematic(train_cases, current_sd)
        fits.append(f"| {group} | {len(train)} | {offset:.3f} | {sd:.2f}° |")
        for case in (k for c in test for k in cases_for(c, options)):
            cases.append(case)
            width = _with_sd(case, current_sd, sd)
            if case.error is not None and width is not None:
                widths.append(width)
                held.append(abs(case.error) <= width)
    return cases, widths, held, fits


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, action="append", required=True,
                    help="folder of clips + *.truth.json (repeatable)")
    ap.add_argument("--split", choices=["fit", "holdout"], default=None,
                    help="v2 sets: only the items of this split (fit: never the held-out part)")
    ap.add_argument("--out", type=Path, default=Path("build/accuracy-cv"))
    ap.add_argument("--markdown", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N clips (quick)")
    ap.add_argument("--model", choices=[m.value for m in PoseModel], default=PoseModel.FULL.value,
                    help="the pose network whose constants are fitted (--out caches its points)")
    args = ap.parse_args(argv)
    model = PoseModel(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    truths = sorted(p for folder in args.data for p in folder.glob("*.truth.json"))
    clips = []
    for path in truths:
        truth = json.loads(path.read_text())
        if truth["kind"] != "clip" or not (path.parent / truth["media"]).exists():
            continue
        if args.split is not None and truth.get("split", "fit") != args.split:
            continue
        clips.append(_landmarks_of(path.parent / truth["media"], truth, args.out, model))
        if args.limit and len(clips) >= args.limit:
            break
    if len(clips) < 2:
        print(f"need at least two clips with truth in {args.data}", file=sys.stderr)
        return 2
    sd_now = terms_for(model).clip_sd_deg
    head = ["| figures | n | mean abs err | p95 | max | 95% interval holds truth | "
            "median half-width | missing |", "|---|---|---|---|---|---|---|---|"]
    offset_all = fit_hip_offset(clips)
    options_all = MeasureOptions(hip_offset=offset_all, model=model)
    all_cases = [k for c in clips if c.clean for k in cases_for(c, options_all)]
    sd_all = calibrate_systematic(all_cases, sd_now)
    widths_all = [w for c in all_cases if (w := _with_sd(c, sd_now, sd_all)) is not None
                  and c.error is not None]
    held_all = [abs(c.error) <= _with_sd(c, sd_now, sd_all) for c in all_cases
                if c.error is not None and c.ci95_deg is not None]
    lines = [f"Pose network: {model.value}. {len(clips)} clips "
             f"({sum(c.clean for c in clips)} clean), "
             f"{len({c.body for c in clips})} bodies, {len({c.setup for c in clips})} camera "
             "setups; pose model run once per clip.", "", *head,
             _row(f"in-sample (fitted on all: offset {offset_all:.3f}, SD {sd_all:.2f}°)",
                  all_cases, widths_all, held_all)]
    extra: list[str] = []
    at_neutral = np.array(neutral_readings(clips, options_all))
    if at_neutral.size > 1:
        extra += ["", f"Angle read at a true neutral ({at_neutral.size} clean clip legs): "
                  f"{at_neutral.mean():+.2f} ± {at_neutral.std(ddof=1):.2f}° (mean ± SD), "
                  f"RMS {np.sqrt(np.mean(at_neutral ** 2)):.2f}°: what a leg without a "
                  "neutral adds to its interval."]
    direct = np.array([k.error for c in clips if c.clean
                       for k in cases_for(c, replace(options_all, pivot=False))
                       if k.error is not None])
    if direct.size > 1:
        extra += ["", f"Read without the neutral-knee pivot ({direct.size} clean values): "
                  f"{direct.mean():+.2f}° on average, RMS {np.sqrt(np.mean(direct ** 2)):.2f}°: "
                  "what a leg whose pivot was rejected adds to its interval."]
    fold_lines: dict[str, list[str]] = defaultdict(list)
    for name, group_of in (("body", lambda c: c.body), ("camera setup", lambda c: c.setup)):
        cases, widths, held, fits = evaluate(clips, group_of, sd_now, model)
        lines.append(_row(f"leave one {name} out", cases, widths, held))
        fold_lines[name] = fits
    lines += extra
    for name, fits in fold_lines.items():
        lines += ["", f"Fits with one {name} left out:", "",
                  "| left out | clips fitted | hip offset | systematic SD |", "|---|---|---|---|",
                  *fits]
    emit("\n".join(lines), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
