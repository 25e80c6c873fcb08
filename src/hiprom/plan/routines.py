"""Build a weekly routine from per-leg seated IR results (pure, data-driven).

The exercises and their doses are data in :mod:`hiprom.plan.catalogue` (doses as the source article
gives them). The rules, per measured leg, with the verdicts of :mod:`hiprom.plan.assessment`:

* IR below 35° (mildly limited, limited, markedly limited): mobility, then strength.
* IR 35–45° (typical): strength, to keep it.
* IR above 45°: strength and control only, no extra stretching.
* The frog stretch works both hips at once, so it is given only when a leg is restricted and no
  measured leg is above the norm.
* A left–right difference beyond the method's MDC95: the lower side gets the top of the
  article's dose range (holds, sets or reps) and the other side the bottom.
* Compensations seen during the test add cues to the exercises where they matter.

Examples:
    >>> plan = build_plan(LegInput(28.0), LegInput(40.0))
    >>> [r.exercise.id for r in plan.recommendations][:2]
    ['ninety_ninety_stretch', 'seated_cross_leg_stretch']

"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

from hiprom.errors import InputError
from hiprom.plan.assessment import (
    DEFAULT_MDC95_DEG,
    DISCLAIMER,
    Asymmetry,
    BandCode,
    LegInput,
    Side,
    TotalRotation,
    TriggeredFlag,
    Verdict,
    asymmetry,
    red_flags_for,
    safety_screen,
    total_rotation,
    verdict_for,
)
from hiprom.plan.catalogue import (
    EXERCISES,
    FREQUENCY_ANCHORS,
    Anchor,
    Compensation,
    Exercise,
    ExerciseKind,
    RedFlag,
)

__all__ = [
    "DAYS",
    "EXERCISES",
    "STRENGTH_DAYS",
    "Compensation",
    "DayPlan",
    "Exercise",
    "ExerciseKind",
    "LegInput",
    "Plan",
    "Recommendation",
    "SideDose",
    "build_plan",
]

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
STRENGTH_DAYS = ("Mon", "Wed", "Fri")
_WIDTH = 80


@dataclass(frozen=True)
class SideDose:
    """The dose for one side; ranges are (min, max) inclusive and come from the article.

    Attributes:
        side: The side, or None when one set works both hips (frog stretch).
        holds_per_side: Holds (stretches), or None.
        sets: Sets (strength), or None.
        reps: Reps per set, or None.
        emphasised: True when this side gets the top of the range for asymmetry.
        text: The dose in words.

    """

    side: Side | None
    holds_per_side: tuple[int, int] | None
    sets: tuple[int, int] | None
    reps: tuple[int, int] | None
    emphasised: bool
    text: str

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        def rng(value: tuple[int, int] | None) -> list[int] | None:
            return None if value is None else list(value)

        return {"side": None if self.side is None else self.side.value,
                "holds_per_side": rng(self.holds_per_side), "sets": rng(self.sets),
                "reps": rng(self.reps), "emphasised": self.emphasised, "text": self.text}


@dataclass(frozen=True)
class Recommendation:
    """One exercise in the plan, why it is there, and the cues for seen compensations."""

    exercise: Exercise
    sides: tuple[SideDose, ...]
    why: str
    cues: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict: the catalogue entry plus sides, why and cues."""
        return {**self.exercise.to_dict(), "sides": [s.to_dict() for s in self.sides],
                "why": self.why, "cues": list(self.cues)}


@dataclass(frozen=True)
class DayPlan:
    """The exercise ids for one weekday, mobility first; empty means rest."""

    day: str
    exercise_ids: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """A routine built from both legs' results.

    Attributes:
        left: Left verdict (``not_measured`` if absent).
        right: Right verdict.
        asymmetry: Left–right difference against the MDC95.
        total_rotation: IR + ER per hip where ER was measured.
        emphasis_side: The side given the top of the dose ranges, or None.
        recommendations: Exercises in order (catalogue order: mobility, then strength).
        schedule: Seven days, Mon to Sun.
        schedule_basis: The frequency anchors with sources.
        red_flags: Flags raised by the numbers.
        safety_screen: Red flags and stop rules to show before any test or training.
        notes: Other remarks (missing legs, no stretching, re-test).
        disclaimer: Screening, not diagnosis.

    """

    left: Verdict
    right: Verdict
    asymmetry: Asymmetry
    total_rotation: TotalRotation
    emphasis_side: Side | None
    recommendations: tuple[Recommendation, ...]
    schedule: tuple[DayPlan, ...]
    schedule_basis: tuple[Anchor, ...]
    red_flags: tuple[TriggeredFlag, ...]
    safety_screen: tuple[RedFlag, ...]
    notes: tuple[str, ...]
    disclaimer: str = DISCLAIMER

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (only str, float, int, bool, None, list and dict)."""
        return {
            "disclaimer": self.disclaimer,
            "legs": {"left": self.left.to_dict(), "right": self.right.to_dict()},
            "asymmetry": self.asymmetry.to_dict(),
            "total_rotation": self.total_rotation.to_dict(),
            "emphasis_side": None if self.emphasis_side is None else self.emphasis_side.value,
            "exercises": [r.to_dict() for r in self.recommendations],
            "schedule": [{"day": d.day, "exercises": list(d.exercise_ids)}
                         for d in self.schedule],
            "schedule_basis": [a.to_dict() for a in self.schedule_basis],
            "red_flags": [f.to_dict() for f in self.red_flags],
            "safety_screen": [f.to_dict() for f in self.safety_screen],
            "notes": list(self.notes),
        }

    def format_text(self) -> str:
        """Return the plan as plain text, lines of at most 80 characters."""
        lines = ["hiprom plan", "===========", *_wrap(self.disclaimer, ""), ""]
        lines += _results_lines(self)
        lines += _recommendation_lines(self.recommendations)
        lines += _schedule_lines(self.schedule, self.schedule_basis)
        lines += _section("Stop or check first", [f"{f.situation} {f.rule}"
                                                  for f in self.safety_screen])
        lines += _section("Notes", list(self.notes))
        return "\n".join(lines).rstrip() + "\n"


def _wrap(text: str, indent: str, first: str | None = None) -> list[str]:
    """Wrap ``text`` to the plan width."""
    start = indent if first is None else first
    return textwrap.wrap(text, _WIDTH, initial_indent=start, subsequent_indent=indent,
                         break_on_hyphens=False) or [start.rstrip()]


def _section(title: str, items: list[str]) -> list[str]:
    """Return a titled bullet list, or nothing when ``items`` is empty."""
    if not items:
        return []
    out = [title, "-" * len(title)]
    for item in items:
        out += _wrap(item, "    ", "  - ")
    return out + [""]


def _results_lines(plan: Plan) -> list[str]:
    """Return the results section."""
    items = [f"Left: {plan.left.sentence}", f"Right: {plan.right.sentence}",
             f"Asymmetry: {plan.asymmetry.sentence}"]
    tr = plan.total_rotation
    if tr.left_deg is not None or tr.right_deg is not None:
        items.append(f"Total rotation (IR+ER): left {_deg(tr.left_deg)}, right "
                     f"{_deg(tr.right_deg)}. {tr.note}")
    items += [f"Red flag ({f.side.value}): {f.why} {f.flag.rule}" for f in plan.red_flags]
    return _section("Results", items)


def _deg(value: float | None) -> str:
    """Format an angle or 'not measured'."""
    return "not measured" if value is None else f"{value:.1f}°"


def _recommendation_lines(recs: tuple[Recommendation, ...]) -> list[str]:
    """Return the routine section."""
    out = ["Routine (mobility first, then strength)", "-" * 39]
    for n, rec in enumerate(recs, start=1):
        ex = rec.exercise
        out += _wrap(f"{n}. {ex.name} ({ex.kind.value})", "   ", "")
        out += _wrap("Dose: " + "; ".join(s.text for s in rec.sides), "         ", "   ")
        out += _wrap("How: " + " ".join(ex.instructions), "         ", "   ")
        out += [line for cue in rec.cues for line in _wrap("Cue: " + cue, "         ", "   ")]
        out += _wrap("Why: " + rec.why, "         ", "   ")
        out += [line for c in ex.cautions for line in _wrap("Caution: " + c.text, "         ",
                                                             "   ")]
    return out + [""]


def _schedule_lines(schedule: tuple[DayPlan, ...], basis: tuple[Anchor, ...]) -> list[str]:
    """Return the weekly schedule section."""
    names = {e.id: e.name for e in EXERCISES}
    out = ["Weekly schedule", "---------------"]
    for day in schedule:
        text = ", ".join(names[i] for i in day.exercise_ids) or "rest"
        out += _wrap(f"{day.day}: {text}", "       ", "  ")
    out += [line for a in basis for line in _wrap(a.text, "    ", "  * ")]
    return out + [""]


def _parse_compensations(compensations: Iterable[str]) -> tuple[Compensation, ...]:
    """Return the compensations as enum members, in first-seen order, without repeats."""
    known = {c.value for c in Compensation}
    found: list[Compensation] = []
    for item in compensations:
        if item not in known:
            raise InputError(f"Unknown compensation {item!r}; expected one of "
                             f"{', '.join(sorted(known))}.")
        if Compensation(item) not in found:
            found.append(Compensation(item))
    return tuple(found)


def _sides_for(ex: Exercise, verdicts: dict[Side, Verdict]) -> tuple[Side, ...]:
    """Return the sides that get ``ex``: mobility for restricted sides, strength for all."""
    if ex.kind is ExerciseKind.STRENGTH:
        return tuple(verdicts)
    restricted = tuple(s for s, v in verdicts.items() if v.restricted)
    if ex.bilateral:
        above = any(v.code is BandCode.ABOVE_NORM for v in verdicts.values())
        return () if above else restricted
    return restricted


def _pick(rng: tuple[int, int], role: str) -> tuple[int, int]:
    """Return the top, the bottom or the whole of ``rng`` for emphasis ``role``."""
    return {"top": (rng[1], rng[1]), "bottom": (rng[0], rng[0])}.get(role, rng)


def _range_text(rng: tuple[int, int]) -> str:
    """Format a range, collapsing equal ends."""
    return f"{rng[0]}" if rng[0] == rng[1] else f"{rng[0]}–{rng[1]}"


def _side_dose(ex: Exercise, side: Side | None, role: str) -> SideDose:
    """Return the dose for one side; ``role`` is 'top', 'bottom' or 'range'."""
    dose = ex.dose
    holds = sets = reps = None
    if dose.holds_per_side is not None:
        holds, reps = _pick(dose.holds_per_side, role), dose.reps
        hold_s = f"{dose.hold_s[0]}–{dose.hold_s[1]} s" if dose.hold_s else ""
        text = f"{_range_text(holds)} holds of {hold_s}"
    elif dose.sets is not None:
        sets, reps = _pick(dose.sets, role), dose.reps
        text = f"{_range_text(sets)} sets of {_range_text(reps or (0, 0))} reps"
    else:
        reps = _pick(dose.reps or (0, 0), role)
        text = f"{_range_text(reps)} slow reps"
    label = "both hips at once" if side is None else side.value
    return SideDose(side, holds, sets, reps, role == "top", f"{label}: {text}")


def _leg_phrase(side: Side, verdict: Verdict) -> str:
    """Return e.g. 'Left IR 28.0° is limited (borderline)'."""
    tail = " (borderline)" if verdict.borderline else ""
    band = verdict.band.label if verdict.band is not None else "not measured"
    return f"{side.value.capitalize()} IR {verdict.ir_deg:.1f}° is {band}{tail}"


_STRENGTH_REASON = {
    True: "strengthen after stretching so the new range is controlled",
    False: "strengthen to keep it",
}


def _strength_reason(verdict: Verdict) -> str:
    """Return why one side gets strength work."""
    if verdict.code is BandCode.ABOVE_NORM:
        return "build control with strength work, no extra stretching"
    return _STRENGTH_REASON[verdict.restricted]


def _why(ex: Exercise, sides: tuple[Side, ...], verdicts: dict[Side, Verdict],
         asym: Asymmetry, emphasis: Side | None) -> str:
    """Return the sentence that ties ``ex`` to the measured numbers."""
    if ex.kind is ExerciseKind.STRENGTH:
        parts = [f"{_leg_phrase(s, verdicts[s])}: {_strength_reason(verdicts[s])}." for s in sides]
    else:
        phrases = "; ".join(_leg_phrase(s, verdicts[s]) for s in sides)
        parts = [f"{phrases}: below the 35° target edge, so stretch first to gain range."]
        if ex.bilateral:
            parts.append("This stretch works both hips at once.")
    if emphasis in sides and not ex.bilateral and asym.difference_deg is not None:
        parts.append(f"The {emphasis.value} side is {asym.difference_deg:.1f}° lower, beyond "
                     f"the {asym.mdc95_deg:.1f}° measurement error, so it gets the top of the "
                     "dose range" + (" and the other side the bottom." if len(sides) > 1
                                     else "."))
    return " ".join(parts)


def _recommend(ex: Exercise, sides: tuple[Side, ...], verdicts: dict[Side, Verdict],
               asym: Asymmetry, emphasis: Side | None,
               compensations: tuple[Compensation, ...]) -> Recommendation:
    """Build one recommendation."""
    if ex.bilateral:
        doses: tuple[SideDose, ...] = (_side_dose(ex, None, "range"),)
    else:
        doses = tuple(_side_dose(ex, s, _role(s, emphasis)) for s in sides)
    cues = tuple(f"{c.value.replace('_', ' ').capitalize()} was seen in your test. {cue}"
                 for c in compensations if (cue := ex.cue_for(c)) is not None)
    return Recommendation(ex, doses, _why(ex, sides, verdicts, asym, emphasis), cues)


def _role(side: Side, emphasis: Side | None) -> str:
    """Return the dose role of ``side`` given the emphasised side."""
    if emphasis is None:
        return "range"
    return "top" if side is emphasis else "bottom"


def _schedule(recs: tuple[Recommendation, ...]) -> tuple[DayPlan, ...]:
    """Mobility every day, strength on Mon/Wed/Fri; mobility first within a day."""
    mobility = tuple(r.exercise.id for r in recs if r.exercise.kind is ExerciseKind.MOBILITY)
    strength = tuple(r.exercise.id for r in recs if r.exercise.kind is ExerciseKind.STRENGTH)
    return tuple(DayPlan(d, mobility + (strength if d in STRENGTH_DAYS else ()))
                 for d in DAYS)


def _notes(verdicts: dict[Side, Verdict], mdc95_deg: float) -> tuple[str, ...]:
    """Return remarks about missing legs, no-stretch legs and re-testing."""
    notes = [f"The {s.value} leg's internal rotation was not measured; this plan covers the "
             f"{(Side.RIGHT if s is Side.LEFT else Side.LEFT).value} leg only."
             for s in Side if s not in verdicts]
    notes += [f"No stretching for the {s.value} hip: its IR is above the norm."
              for s, v in verdicts.items() if v.code is BandCode.ABOVE_NORM]
    notes.append(f"{FREQUENCY_ANCHORS['retest'].text} Here: {mdc95_deg:.1f}°.")
    return tuple(notes)


def build_plan(
    left: LegInput | None,
    right: LegInput | None,
    *,
    compensations: Iterable[str] = (),
    mdc95_deg: float = DEFAULT_MDC95_DEG,
) -> Plan:
    """Build a routine from the two legs' seated IR results.

    Args:
        left: The left leg's result, or None if it was not measured.
        right: The right leg's result, or None.
        compensations: Compensation flags seen during the test: ``pelvis_roll``,
            ``trunk_lean``, ``knee_drift`` (strings or :class:`Compensation`).
        mdc95_deg: The method's MDC95 in degrees, used for the asymmetry rule.

    Returns:
        The plan; see the module docstring for the rules.

    Raises:
        InputError: If neither leg was measured, or a compensation flag is unknown.

    """
    if left is None and right is None:
        raise InputError("Neither leg was measured, so no routine can be chosen; re-run the "
                         "test with the lower legs in view, or give the angles (--left/--right).")
    comps = _parse_compensations(compensations)
    legs = {s: leg for s, leg in ((Side.LEFT, left), (Side.RIGHT, right)) if leg is not None}
    verdicts = {s: verdict_for(leg.ir_deg, ci95_deg=leg.ci95_deg) for s, leg in legs.items()}
    asym = asymmetry(None if left is None else left.ir_deg,
                     None if right is None else right.ir_deg, mdc95_deg=mdc95_deg)
    emphasis = asym.restricted_side if asym.exceeds_error else None
    recs = tuple(_recommend(ex, sides, verdicts, asym, emphasis, comps)
                 for ex in EXERCISES if (sides := _sides_for(ex, verdicts)))
    mobility = any(r.exercise.kind is ExerciseKind.MOBILITY for r in recs)
    basis = tuple(FREQUENCY_ANCHORS[k] for k in (("mobility",) if mobility else ())
                  + ("strength",))
    return Plan(
        left=verdicts.get(Side.LEFT, verdict_for(None)),
        right=verdicts.get(Side.RIGHT, verdict_for(None)),
        asymmetry=asym, total_rotation=total_rotation(left, right), emphasis_side=emphasis,
        recommendations=recs, schedule=_schedule(recs), schedule_basis=basis,
        red_flags=red_flags_for(left, right), safety_screen=safety_screen(),
        notes=_notes(verdicts, mdc95_deg),
    )
