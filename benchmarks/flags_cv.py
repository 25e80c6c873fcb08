"""Out-of-sample rep flags: the constants behind them refitted without the groups they flag.

Usage::

    python benchmarks/flags_cv.py --data /path/to/validation --data /path/to/validation2 \
        --split fit --out build/accuracy-cv-full --model full --markdown build/flags-cv-full.md

Three constants of the compensation flags are read off rendered clips, per pose network
(``hiprom.core.calibration.terms_for``):

* the knee landmark's steady sideways slide per degree of rotation (``knee_slide_per_deg``,
  shank lengths per degree), the through-the-origin least-squares slope of the knee's
  sideways move on the clean reps' holds;
* the knee-drift limit (``knee_drift_limit``, shank lengths), from the moves left once that
  slide is removed: of the limits that make the fewest mistakes (clean reps flagged plus
  knee-drift reps missed), the middle of the widest such span between two observed moves.
  With clean reps wholly below the drift reps that is halfway between them; one clean rep
  beyond a drift rep (the other knee swinging past it) costs one false flag rather than the
  drift it would hide;
* how much the pelvis-roll limit grows per degree of external rotation
  (``pelvis_roll_per_er_deg``): twice the largest growth of the hip line's apparent roll
  beyond the clinical 4° per degree of ER on the clean reps (the model's hip line turns with
  an inward-swinging foot although the pelvis is still).

The pelvis-roll (4°) and trunk-lean (5°) limits themselves are the clinical protocol's, not
fitted; their false flags are counted too. A leg measured from its own knee landmark (its
pivot rejected, or no neutral) is checked on the landmark's raw sideways move, slide and
all, against its own limit (``knee_drift_direct_limit``) fitted by the same rule. Each
rep's measured movements come from the result (``Rep.movement``), measured with the
network's shipped constants; the knee's raw sideways move is recovered by adding back the
shipped slide. Groups: leave one body out and
leave one camera setup out; the tables give the in-sample figures (fitted on all clips and
flagged with that fit) beside the out-of-group ones (each group flagged with the fit made
without it). Only legs measured about their neutral knee enter the knee figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _output import emit
from accuracy_cv import Clip, _landmarks_of, _records

from hiprom.backends.base import PoseModel
from hiprom.core.calibration import terms_for
from hiprom.core.protocol import CompensationLimits
from hiprom.pipeline.analysis import MeasureOptions
from hiprom.pipeline.summarise import summarise_records

PELVIS_LIMIT_DEG = CompensationLimits().pelvis_roll_deg
TRUNK_LIMIT_DEG = CompensationLimits().trunk_lean_deg
FLAGS = ("pelvis_roll", "trunk_lean", "knee_drift")


@dataclass(frozen=True)
class RepRow:
    """One long-hold rep of a tested leg with what moved during its hold."""

    stem: str
    body: str
    setup: str
    compensation: str | None  # the clip's compensation on this leg, None for a clean rep
    side: str
    value_deg: float          # + = internal, from neutral
    pivot: bool               # measured about the neutral knee
    pelvis_roll_deg: float
    trunk_lean_deg: float
    knee_raw: float           # knee's sideways move, shank lengths, + = lateral, slide kept

    @property
    def er_deg(self) -> float:
        return max(-self.value_deg, 0.0)


@dataclass(frozen=True)
class Fit:
    """The three constants fitted on a set of reps."""

    knee_slide_per_deg: float
    knee_drift_limit: float
    pelvis_roll_per_er_deg: float
    clean_knee_max: float
    drift_knee_min: float
    knee_drift_direct_limit: float

    def flags(self, row: RepRow) -> set[str]:
        out = set()
        if abs(row.pelvis_roll_deg) > PELVIS_LIMIT_DEG + self.pelvis_roll_per_er_deg * row.er_deg:
            out.add("pelvis_roll")
        if abs(row.trunk_lean_deg) > TRUNK_LIMIT_DEG:
            out.add("trunk_lean")
        if row.pivot and abs(self.knee_drift(row)) > self.knee_drift_limit:
            out.add("knee_drift")
        if not row.pivot and abs(row.knee_raw) > self.knee_drift_direct_limit:
            out.add("knee_drift")
        return out

    def knee_drift(self, row: RepRow) -> float:
        return row.knee_raw - self.knee_slide_per_deg * row.value_deg


def _tested(truth: dict) -> list[str]:
    comp = truth.get("compensation") or {}
    if comp.get("type"):
        return [comp["leg"]]
    return truth.get("tested") or [side for side, end in truth["end_range"].items()
                                   if any(v is not None for v in end.values())]


def rep_rows(clip: Clip, options: MeasureOptions, shipped_slide: float) -> list[RepRow]:
    """The long-hold reps of the clip's tested legs, measured as ``hiprom measure`` would."""
    legs = summarise_records(_records(clip, options), resolution_wh=clip.resolution_wh,
                             options=options).legs
    comp = (clip.truth.get("compensation") or {}).get("type")
    rows = []
    for side in _tested(clip.truth):
        leg = legs[side]
        pivot = not {"pivot_rejected", "no_neutral"} & set(leg.quality)
        for rep in leg.reps:
            if "short_hold" in rep.flags or not rep.movement:
                continue
            m = rep.movement
            slide = shipped_slide * rep.value_deg if pivot else 0.0
            rows.append(RepRow(clip.stem, clip.body, clip.setup, comp, side, rep.value_deg,
                               pivot, m["pelvis_roll_deg"], m["trunk_lean_deg"],
                               m["knee_drift"] + slide))
    return rows


def fit(rows: Sequence[RepRow]) -> Fit:
    """The three constants from these reps (rules in the module docstring)."""
    clean = [r for r in rows if r.compensation is None]
    knee = [r for r in clean if r.pivot and np.isfinite(r.knee_raw)]
    v = np.array([r.value_deg for r in knee])
    raw = np.array([r.knee_raw for r in knee])
    slope = float(raw @ v / (v @ v)) if v.size else 0.0
    left = np.abs(raw - slope * v)
    drift = np.array([abs(r.knee_raw - slope * r.value_deg) for r in rows
                      if r.compensation == "knee_drift" and r.pivot])
    clean_max = float(left.max()) if left.size else 0.0
    drift_min = float(drift.min()) if drift.size else float("nan")
    limit = _fewest_mistakes(left, drift) if drift.size else clean_max
    er = [(abs(r.pelvis_roll_deg) - PELVIS_LIMIT_DEG) / r.er_deg for r in clean
          if r.er_deg > 0 and np.isfinite(r.pelvis_roll_deg)]
    per_er = 2 * max([0.0, *er])
    own = np.array([abs(r.knee_raw) for r in clean if not r.pivot and np.isfinite(r.knee_raw)])
    own_drift = np.array([abs(r.knee_raw) for r in rows
                          if r.compensation == "knee_drift" and not r.pivot])
    direct = (_fewest_mistakes(own, own_drift) if own_drift.size
              else float(own.max()) if own.size else 0.0)
    # Read from the leg's own knee the move still carries the landmark's slide: its limit is
    # never below the limit about the neutral knee (few legs lose their pivot, and with one
    # or two of them the rule above can land anywhere below the drift reps).
    direct = max(direct, limit)
    return Fit(slope, limit, per_er, clean_max, drift_min, direct)


def _fewest_mistakes(clean: np.ndarray, positive: np.ndarray) -> float:
    """The middle of the widest span between observed values whose limit errs least."""
    cuts = np.unique(np.concatenate([clean, positive, [0.0]]))
    best: tuple[int, float, float] = (len(clean) + len(positive) + 1, 0.0, 0.0)
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        mistakes = int(np.sum(clean > lo) + np.sum(positive <= lo))
        if (mistakes, -(hi - lo)) < (best[0], -best[1]):
            best = (mistakes, hi - lo, (lo + hi) / 2)
    return best[2]


def _counts(rows: Sequence[RepRow], fit_of: Callable[[RepRow], Fit]) -> dict[str, object]:
    clean = [r for r in rows if r.compensation is None]
    comp = [r for r in rows if r.compensation is not None]
    false = {f: sum(f in fit_of(r).flags(r) for r in clean) for f in FLAGS}
    legs = {(r.stem, r.side) for r in clean}
    flagged_legs = {(r.stem, r.side) for r in clean if fit_of(r).flags(r)}
    found = {(r.stem, r.side, r.compensation) for r in comp
             if r.compensation in fit_of(r).flags(r)}
    comp_legs = {(r.stem, r.side, r.compensation) for r in comp}
    by_kind = {f: (sum(k == f for *_, k in found), sum(k == f for *_, k in comp_legs))
               for f in FLAGS}
    return {"clean_reps": len(clean), "false": false, "clean_legs": len(legs),
            "flagged_legs": len(flagged_legs), "comp_legs": len(comp_legs),
            "found": len(found), "by_kind": by_kind}


def _row(name: str, c: dict[str, object]) -> str:
    false, by_kind = c["false"], c["by_kind"]
    assert isinstance(false, dict) and isinstance(by_kind, dict)
    kinds = ", ".join(f"{f.split('_')[0]} {a}/{b}" for f, (a, b) in by_kind.items() if b)
    return (f"| {name} | {c['clean_reps']} | {false['pelvis_roll']} | {false['trunk_lean']} | "
            f"{false['knee_drift']} | {c['flagged_legs']} of {c['clean_legs']} | "
            f"{c['found']} of {c['comp_legs']}{f' ({kinds})' if kinds else ''} |")


def _fit_line(name: str, f: Fit) -> str:
    return (f"| {name} | {f.knee_slide_per_deg:.5f} | {f.clean_knee_max:.3f} | "
            f"{f.drift_knee_min:.3f} | {f.knee_drift_limit:.3f} | "
            f"{f.knee_drift_direct_limit:.3f} | {f.pelvis_roll_per_er_deg:.3f} |")


def fit_arguments(doc: str | None) -> argparse.ArgumentParser:
    """The arguments every fit-per-network benchmark takes: the renders, the split, the
    network and its landmark cache, and where the table goes."""
    ap = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    ap.add_argument("--data", type=Path, action="append", required=True,
                    help="folder of clips + *.truth.json to fit on (repeatable)")
    ap.add_argument("--split", choices=["fit", "holdout"], default=None,
                    help="v2 sets: only the items of this split")
    ap.add_argument("--out", type=Path, default=Path("build/accuracy-cv"),
                    help="landmark cache of this network (shared with accuracy_cv.py)")
    ap.add_argument("--markdown", type=Path, default=None)
    ap.add_argument("--model", choices=[m.value for m in PoseModel], default=PoseModel.FULL.value)
    return ap


def _clips(folders: Sequence[Path], split: str | None, cache: Path,
           model: PoseModel) -> list[Clip]:
    out = []
    for path in sorted(p for folder in folders for p in folder.glob("*.truth.json")):
        truth = json.loads(path.read_text())
        if truth["kind"] != "clip" or not (path.parent / truth["media"]).exists():
            continue
        if split is not None and truth.get("split", "fit") != split:
            continue
        out.append(_landmarks_of(path.parent / truth["media"], truth, cache, model))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = fit_arguments(__doc__)
    ap.add_argument("--check", type=Path, action="append", default=[],
                    help="folder of clips only checked with the fit on all of --data")
    ap.add_argument("--check-split", choices=["fit", "holdout"], default="holdout")
    args = ap.parse_args(argv)
    model = PoseModel(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    options = MeasureOptions(model=model)
    terms = terms_for(model)
    clips = _clips(args.data, args.split, args.out, model)
    if len(clips) < 2:
        print(f"need at least two clips with truth in {args.data}", file=sys.stderr)
        return 2
    rows = [r for c in clips for r in rep_rows(c, options, terms.knee_slide_per_deg)]
    everything = fit(rows)
    lines = [f"Pose network: {model.value}. {len(clips)} clips, {len(rows)} long-hold reps of "
             f"tested legs ({sum(r.compensation is None for r in rows)} clean). Shipped: "
             f"slide {terms.knee_slide_per_deg:.4f}/°, knee-drift limit "
             f"{terms.knee_drift_limit:.3f} (without pivot {terms.knee_drift_direct_limit:.3f}), "
             f"pelvis roll +{terms.pelvis_roll_per_er_deg:.3f}°/° ER.", "",
             "| flagged with | clean reps | false pelvis_roll | false trunk_lean | "
             "false knee_drift | clean legs with any flag | compensation legs caught |",
             "|---|---|---|---|---|---|---|",
             _row("in-sample fit", _counts(rows, lambda r: everything))]
    fits: list[str] = []
    for name, key in (("body", "body"), ("camera setup", "setup")):
        folds = {g: fit([r for r in rows if getattr(r, key) != g])
                 for g in sorted({getattr(r, key) for r in rows})}
        lines.append(_row(f"leave one {name} out", _counts(
            rows, lambda r, k=key, f=folds: f[getattr(r, k)])))
        fits += [_fit_line(f"without {name} {g}", f) for g, f in folds.items()]
    if args.check:
        held = _clips(args.check, args.check_split, args.out, model)
        held_rows = [r for c in held for r in rep_rows(c, options, terms.knee_slide_per_deg)]
        lines.append(_row(f"{args.check_split} clips ({len(held)}), fit on all",
                          _counts(held_rows, lambda r: everything)))
    lines += ["", "| fitted | knee slide per ° | clean knee max | drift knee min | "
              "knee-drift limit | without pivot | pelvis roll per ° ER |",
              "|---|---|---|---|---|---|---|",
              _fit_line("all clips", everything), *fits]
    emit("\n".join(lines), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
