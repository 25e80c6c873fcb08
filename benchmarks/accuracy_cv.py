"""Out-of-sample accuracy: each fitted constant refitted without the groups it is tested on.

Usage::

    python benchmarks/accuracy_cv.py --data /path/to/validation --out build/accuracy-cv \
        --markdown build/accuracy-cv.md

The pose model runs once per clip (its landmarks are cached in ``--out``); then, for each
held-out group, the constants that the data determine are fitted on the other groups only
and the held-out clips are measured with them:

* the hip joint centre's offset below the model's hip landmark (``MeasureOptions.hip_offset``),
  from the clips' true hip centres at neutral;
* how the interval's systematic SD grows with the camera's angle to the thigh
  (``clip_sd_growth``: SD = s0 × (1 + growth × angle / 20°), the angle the view correction
  estimates): the growth under which the fit clips' errors are most likely (Gaussian, each
  value with its own statistical part, s0 profiled out; 0–3 in steps of 0.1), kept only
  where the likelihood-ratio test against no growth passes at 95% (else 0);
* then s0, the systematic SD (the smallest, in 0.05° steps, whose intervals hold the truth
  in 95% of the fit clips' clean end ranges with that growth).

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

from hiprom.backends.base import PoseModel, RunningMode
from hiprom.core.calibration import VIEW_SCALE_DEG, NetworkTerms, sd_view_angle, terms_for
from hiprom.core.geometry import HIP_CENTRE_BELOW_LANDMARK, assign_sides, measure_legs, pelvis_down
from hiprom.core.landmarks import LEG_LANDMARKS, Landmarks
from hiprom.media.sources import iter_video
from hiprom.pipeline.analysis import FrameRecord, MeasureOptions, analyse
from hiprom.pipeline.measure import default_backend_factory
from hiprom.pipeline.summarise import leg_view_deg, summarise_records
from hiprom.vocabulary import SIDES

Z95 = 1.96
#: χ² with one degree of freedom, 95th percentile: a growth is kept only when twice the
#: log-likelihood it gains over none exceeds this.
LIKELIHOOD_RATIO_95 = 3.84


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
    view_deg: float = float("nan")  # the camera's estimated angle to the thigh

    @property
    def error(self) -> float | None:
        return None if self.value_deg is None else self.value_deg - self.truth_deg


def cases_for(clip: Clip, options: MeasureOptions) -> list[Case]:
    records = _records(clip, options)
    legs = summarise_records(records, resolution_wh=clip.resolution_wh, options=options).legs
    frame_legs = [r.legs for r in records]
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
            out.append(Case(clip, leg, direction, float(truth), value, ci,
                            leg_view_deg(frame_legs, leg)))
    return out


@dataclass(frozen=True)
class IntervalFit:
    """The interval's systematic term: SD = ``sd`` × (1 + ``growth`` × angle / 20°)."""

    sd: float
    growth: float

    def terms(self, now: NetworkTerms) -> NetworkTerms:
        return replace(now, clip_sd_deg=self.sd, clip_sd_growth=self.growth)


def _statistical_var(case: Case, now: NetworkTerms) -> float:
    """The value's statistical variance: its interval without the shipped systematic term."""
    assert case.ci95_deg is not None
    return max((case.ci95_deg / Z95) ** 2 - now.clip_systematic_sd(case.view_deg) ** 2, 0.0)


def _with_sd(case: Case, now: NetworkTerms, fit: IntervalFit) -> float | None:
    if case.ci95_deg is None:
        return None
    sd = fit.terms(now).clip_systematic_sd(case.view_deg)
    return Z95 * float(np.sqrt(_statistical_var(case, now) + sd ** 2))


def fit_interval(cases: list[Case], now: NetworkTerms, coverage: float = 0.95) -> IntervalFit:
    """The growth with the camera angle (most likely), then the smallest SD holding 95%."""
    usable = [c for c in cases if c.error is not None and c.ci95_deg is not None]
    if not usable:
        return IntervalFit(float("nan"), 0.0)
    err = np.array([c.error for c in usable], np.float64)
    stat = np.array([_statistical_var(c, now) for c in usable])
    views = np.array([sd_view_angle(c.view_deg) for c in usable]) / VIEW_SCALE_DEG
    sds = np.arange(0.05, 10.0, 0.05)

    def nll(growth: float) -> float:
        mult = 1.0 + growth * views
        var = stat[None, :] + (sds[:, None] * mult[None, :]) ** 2
        return float(np.min(np.sum(np.log(var) + err[None, :] ** 2 / var, axis=1)))

    growths = np.round(np.arange(0.0, 3.01, 0.1), 1)
    costs = [nll(g) for g in growths]
    growth = float(growths[int(np.argmin(costs))])
    if costs[0] - min(costs) < LIKELIHOOD_RATIO_95 / 2:  # no evidence that the SD grows
        growth = 0.0
    mult = 1.0 + growth * views
    for sd in np.round(np.arange(0.0, 10.01, 0.05), 2):
        held = np.mean(np.abs(err) <= Z95 * np.sqrt(stat + (sd * mult) ** 2))
        if held >= coverage:
            return IntervalFit(float(sd), growth)
    return IntervalFit(float("nan"), growth)


def _row(name: str, cases: list[Case], widths: list[float], held: list[bool]) -> str:
    errs = np.abs([c.error for c in cases if c.error is not None])
    missing = sum(c.error is None for c in cases)
    if errs.size == 0:
        return f"| {name} | 0 | – | – | – | – | – | {missing} |"
    return (f"| {name} | {errs.size} | {errs.mean():.2f}° | {np.percentile(errs, 95):.2f}° | "
            f"{errs.max():.2f}° | {100 * np.mean(held):.0f}% | {np.median(widths):.2f}° | "
            f"{missing} |")


def evaluate(clips: list[Clip], group_of, now: NetworkTerms,
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
        fit = fit_interval(train_cases, now)
        fits.append(f"| {group} | {len(train)} | {offset:.3f} | {fit.sd:.2f}° | "
                    f"{fit.growth:.1f} |")
        for case in (k for c in test for k in cases_for(c, options)):
            cases.append(case)
            width = _with_sd(case, now, fit)
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
    now = terms_for(model)
    head = ["| figures | n | mean abs err | p95 | max | 95% interval holds truth | "
            "median half-width | missing |", "|---|---|---|---|---|---|---|---|"]
    offset_all = fit_hip_offset(clips)
    options_all = MeasureOptions(hip_offset=offset_all, model=model)
    all_cases = [k for c in clips if c.clean for k in cases_for(c, options_all)]
    fit_all = fit_interval(all_cases, now)
    widths_all = [w for c in all_cases if (w := _with_sd(c, now, fit_all)) is not None
                  and c.error is not None]
    held_all = [abs(c.error) <= w for c in all_cases
                if c.error is not None and (w := _with_sd(c, now, fit_all)) is not None]
    lines = [f"Pose network: {model.value}. {len(clips)} clips "
             f"({sum(c.clean for c in clips)} clean), "
             f"{len({c.body for c in clips})} bodies, {len({c.setup for c in clips})} camera "
             "setups; pose model run once per clip.", "", *head,
             _row(f"in-sample (fitted on all: offset {offset_all:.3f}, SD {fit_all.sd:.2f}°, "
                  f"growth {fit_all.growth:.1f} per 20°)", all_cases, widths_all, held_all)]
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
        cases, widths, held, fits = evaluate(clips, group_of, now, model)
        lines.append(_row(f"leave one {name} out", cases, widths, held))
        fold_lines[name] = fits
    lines += extra
    lines += ["", "By the camera's estimated angle to the thigh (in-sample fit):", "",
              "| angle | values | RMS error | 95% interval holds truth | median half-width |",
              "|---|---|---|---|---|"]
    for lo, hi in ((0, 10), (10, 20), (20, 30), (30, 91)):
        band = [c for c in all_cases if c.error is not None and c.ci95_deg is not None
                and lo <= sd_view_angle(c.view_deg) < hi]
        if band:
            w = [_with_sd(c, now, fit_all) or 0.0 for c in band]
            e = np.array([c.error for c in band], np.float64)
            lines.append(f"| {lo}–{hi if hi < 91 else ''}° | {len(band)} | "
                         f"{np.sqrt(np.mean(e ** 2)):.2f}° | "
                         f"{100 * np.mean(np.abs(e) <= np.array(w)):.0f}% | "
                         f"{np.median(w):.2f}° |")
    for name, fits in fold_lines.items():
        lines += ["", f"Fits with one {name} left out:", "",
                  "| left out | clips fitted | hip offset | systematic SD | growth per 20° |",
                  "|---|---|---|---|---|",
                  *fits]
    emit("\n".join(lines), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
