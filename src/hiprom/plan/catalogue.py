"""Data: the six exercises of the source article, the red flags and the dose anchors.

Doses are as the source article gives them. Frequency anchors, cautions and red flags come
from clinical-notes §6 and cite the notes' reference keys (``[Altman 1991]``); where the
notes mark a claim **[not retrieved]**, the marker is kept. Instructions are our own wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hiprom.errors import InputError

__all__ = [
    "EXERCISES",
    "FREQUENCY_ANCHORS",
    "RED_FLAGS",
    "SOURCE_ARTICLE",
    "Anchor",
    "Caution",
    "Compensation",
    "Dose",
    "Exercise",
    "ExerciseKind",
    "RedFlag",
    "exercise",
]

SOURCE_ARTICLE = "source article"

# Reference keys of clinical-notes.md (see hiprom.plan.references for the citations).
THA_REFS = ("Eannucci 2019",)
FAI_REFS = ("Warwick 2016", "StatPearls FAI")
ACR_REFS = ("Altman 1991",)
SCFE_REFS = ("Peck 2017",)
SYSTEMIC_REFS = ("GPonline red flags",)
HYPERMOBILITY_REFS = ("Malfait 2017", "Malek 2021")
ANTEVERSION_REFS = ("Uding 2019",)
TAK_2017_REF = "Tak 2017"
ACSM_REFS = ("ACSM 2021", "Garber 2011")
THOMAS_REF = "Thomas 2018"


@dataclass(frozen=True)
class RedFlag:
    """A red flag or stop rule with its source.

    Attributes:
        id: Stable identifier.
        situation: When it applies.
        rule: What to do.
        sources: Reference keys of clinical-notes.md (hiprom.plan.references).
        source_note: The notes' own wording when the citation is indirect, else "".
        before_test: Whether it belongs to the screen shown before a test.

    """

    id: str
    situation: str
    rule: str
    sources: tuple[str, ...]
    source_note: str = ""
    before_test: bool = True

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {"id": self.id, "situation": self.situation, "rule": self.rule,
                "sources": list(self.sources), "source_note": self.source_note}


RED_FLAGS: tuple[RedFlag, ...] = (
    RedFlag("hip_replacement_posterior",
            "Hip replacement by a posterior or posterolateral approach, within the surgeon's "
            "precaution window (classically 6–12 weeks).",
            "Do not test and do not do any of these exercises: they all turn the hip inward. "
            "Follow your surgeon's precautions.", THA_REFS),
    RedFlag("recent_surgery",
            "Recent hip arthroscopy or other hip or spine surgery.",
            "Do not test; follow your surgical rehabilitation protocol.", THA_REFS,
            "general precaution"),
    RedFlag("pain_during_test",
            "Pain during the test or an exercise, especially a pinch in the groin at end range.",
            "Stop. Do not push into a pinch; it can be a sign of hip impingement (FAI). See a "
            "clinician if it persists.", FAI_REFS),
    RedFlag("adolescent_hip_knee_pain",
            "Age about 8–15 with hip, thigh or knee pain or a limp, plus reduced IR or the thigh "
            "rolling outward when the hip bends.",
            "Urgent referral: a slipped capital femoral epiphysis must be ruled out. Do not "
            "stretch.", SCFE_REFS),
    RedFlag("systemic",
            "Fever, a hot swollen joint, inability to bear weight, recent trauma, night pain or "
            "unexplained weight loss.",
            "Seek urgent medical review (possible infection, fracture or tumour).", SYSTEMIC_REFS),
    RedFlag("hypermobility",
            "Generalised joint hypermobility (Beighton ≥ 5/9 in adults).",
            "No end-range stretching; favour strength and control. A Beighton score alone does "
            "not diagnose.", HYPERMOBILITY_REFS),
    RedFlag("ir_below_15", "Seated IR under 15°.",
            "If you also have hip pain (especially over 50 or with morning stiffness), see a "
            "clinician: this meets part of the ACR clinical criteria for hip osteoarthritis.",
            ACR_REFS, before_test=False),
    RedFlag("ir_above_norm", "Seated IR above the 35–45° norm.",
            "No extra stretching; favour strength and control.", HYPERMOBILITY_REFS,
            before_test=False),
    RedFlag("anteversion_pattern", "High IR with lower ER.",
            "May reflect femoral anteversion (bone shape), which stretching will not change. "
            "Read it as a pattern, not a deficit; no extra stretching.", ANTEVERSION_REFS,
            before_test=False),
)

IR_BELOW_15, IR_ABOVE_NORM, ANTEVERSION_PATTERN = RED_FLAGS[-3:]


class ExerciseKind(StrEnum):
    """What an exercise trains."""

    MOBILITY = "mobility"
    STRENGTH = "strength"


class Compensation(StrEnum):
    """Compensations the seated test can flag."""

    PELVIS_ROLL = "pelvis_roll"
    TRUNK_LEAN = "trunk_lean"
    KNEE_DRIFT = "knee_drift"


@dataclass(frozen=True)
class Caution:
    """A caution attached to an exercise, with its sources (reference keys of the notes)."""

    text: str
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {"text": self.text, "sources": list(self.sources)}


@dataclass(frozen=True)
class Anchor:
    """A dose or frequency statement with its sources (reference keys or "source article")."""

    text: str
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {"text": self.text, "sources": list(self.sources)}


@dataclass(frozen=True)
class Dose:
    """A dose exactly as the source article gives it; ranges are (min, max) inclusive.

    Attributes:
        text: The dose in words.
        hold_s: Hold time per stretch in seconds.
        holds_per_side: Number of holds on each side.
        reps: Repetitions (per set, when sets are given).
        sets: Number of sets.
        per_week: Sessions per week.
        source: Where the numbers come from.

    """

    text: str
    hold_s: tuple[int, int] | None = None
    holds_per_side: tuple[int, int] | None = None
    reps: tuple[int, int] | None = None
    sets: tuple[int, int] | None = None
    per_week: tuple[int, int] | None = None
    source: str = SOURCE_ARTICLE

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict; ranges become two-item lists."""
        def rng(value: tuple[int, int] | None) -> list[int] | None:
            return None if value is None else list(value)

        return {"text": self.text, "hold_s": rng(self.hold_s),
                "holds_per_side": rng(self.holds_per_side), "reps": rng(self.reps),
                "sets": rng(self.sets), "per_week": rng(self.per_week), "source": self.source}


@dataclass(frozen=True)
class Exercise:
    """One exercise of the catalogue.

    Attributes:
        id: Stable identifier.
        name: Name as the source article uses it.
        kind: Mobility or strength.
        instructions: Short steps in our own words.
        dose: The article's dose.
        cautions: When not to do it, with sources.
        cues: (compensation, cue) pairs shown when the test saw that compensation.
        bilateral: True when one set works both hips at once (no per-side dose).
        note: Where our wording departs from, or clarifies, the article.

    """

    id: str
    name: str
    kind: ExerciseKind
    instructions: tuple[str, ...]
    dose: Dose
    cautions: tuple[Caution, ...]
    cues: tuple[tuple[Compensation, str], ...] = ()
    bilateral: bool = False
    note: str = ""

    def cue_for(self, compensation: Compensation) -> str | None:
        """Return the cue for ``compensation``, or None if this exercise has none."""
        return next((cue for comp, cue in self.cues if comp is compensation), None)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (without compensation cues; the plan carries those)."""
        return {"id": self.id, "name": self.name, "kind": self.kind.value,
                "instructions": list(self.instructions), "dose": self.dose.to_dict(),
                "cautions": [c.to_dict() for c in self.cautions], "bilateral": self.bilateral,
                "note": self.note}


NO_IR_AFTER_THA = Caution(
    "Not within the precaution window after a posterior-approach hip replacement: it turns the "
    "hip inward. Follow your surgeon.", THA_REFS)
STOP_ON_PINCH = Caution("Stop if you feel a pinch in the groin or front of the hip.", FAI_REFS)
FROG_AVOID = Caution(
    "Avoid with an impingement (FAI) pinch, within hip-replacement precautions, or with joint "
    "hypermobility.", FAI_REFS + THA_REFS + HYPERMOBILITY_REFS)

_STRETCH_DOSE = Dose("Hold 30–60 s; 3–4 holds on each side.", hold_s=(30, 60),
                     holds_per_side=(3, 4))
_STRENGTH_DOSE = Dose("2–3 sets of 10–15 reps, 2–3 times per week.", reps=(10, 15),
                      sets=(2, 3), per_week=(2, 3))
_SIT_BONES = "Keep both sit bones on the floor."

EXERCISES: tuple[Exercise, ...] = (
    Exercise(
        "ninety_ninety_stretch", "90/90 stretch", ExerciseKind.MOBILITY,
        ("Sit on the floor, front and back knees each bent to about 90°.",
         "The hip being stretched is the back leg's hip.",
         "Turn your chest toward that back ankle, trunk fairly tall; hold, then switch sides."),
        _STRETCH_DOSE, (NO_IR_AFTER_THA, STOP_ON_PINCH),
        ((Compensation.PELVIS_ROLL, _SIT_BONES),
         (Compensation.TRUNK_LEAN, "Turn the chest without leaning sideways; stay tall."))),
    Exercise(
        "seated_cross_leg_stretch", "Seated cross-leg stretch", ExerciseKind.MOBILITY,
        ("Lie on your back, knees bent, feet flat.",
         "Rest one ankle across the opposite knee.",
         "Let the crossed leg's own weight ease the hip into rotation; do not press it."),
        _STRETCH_DOSE, (NO_IR_AFTER_THA, STOP_ON_PINCH),
        ((Compensation.PELVIS_ROLL, "Keep the pelvis flat on the floor; do not roll to one "
          "side."),),
        note="Done lying on the back, as the source article describes it, despite the name."),
    Exercise(
        "frog_stretch", "Frog stretch", ExerciseKind.MOBILITY,
        ("Start on hands and knees.",
         "Slide the knees apart slowly, ankles in line with the knees (knees at about 90°).",
         "Ease the hips back; breathe slowly so the inner thighs can let go."),
        Dose("Hold 30 s to 1 min; 3–4 holds.", hold_s=(30, 60), holds_per_side=(3, 4)),
        (FROG_AVOID, NO_IR_AFTER_THA, STOP_ON_PINCH),
        ((Compensation.TRUNK_LEAN, "Keep the back long and level as you shift back."),),
        bilateral=True,
        note="Works both hips at once, so it cannot favour one side."),
    Exercise(
        "seated_ir_lift", "Seated internal rotation lift", ExerciseKind.STRENGTH,
        ("Sit in the 90/90 position.",
         "Lift the back leg's foot off the floor by turning that hip inward.",
         "Knee stays down, trunk stays still; lift and lower slowly."),
        Dose("8–12 slow, controlled reps on each side.", reps=(8, 12)),
        (NO_IR_AFTER_THA, STOP_ON_PINCH),
        ((Compensation.PELVIS_ROLL, _SIT_BONES),
         (Compensation.TRUNK_LEAN, "Keep the trunk still; do not lean away to lift the foot."),
         (Compensation.KNEE_DRIFT, "Keep the knee on the floor and in place."))),
    Exercise(
        "reverse_clamshell", "Reverse clamshell", ExerciseKind.STRENGTH,
        ("Lie on your side, hips and knees bent, knees together.",
         "Keep the knees together and lift the top foot (the top hip turns inward).",
         "Lower slowly."),
        _STRENGTH_DOSE, (NO_IR_AFTER_THA, STOP_ON_PINCH),
        ((Compensation.PELVIS_ROLL, "Keep the hips stacked; do not roll backward."),
         (Compensation.KNEE_DRIFT, "Keep the knees pressed together.")),
        note=("The source article's text has the feet together and the top knee lifting, which "
              "is the standard clamshell (external rotation). We describe the reverse form that "
              "trains IR; check with the lead.")),
    Exercise(
        "band_resisted_ir", "Band-resisted internal rotation", ExerciseKind.STRENGTH,
        ("Reverse clamshell position with a mini band around both ankles.",
         "Knees stay touching; lift the top foot against the band (the top hip turns inward).",
         "Lower it slowly with control."),
        _STRENGTH_DOSE, (NO_IR_AFTER_THA, STOP_ON_PINCH),
        ((Compensation.PELVIS_ROLL, "Keep the hips stacked; do not roll backward."),
         (Compensation.KNEE_DRIFT, "Keep the knees touching.")),
        note=("The source article says to press the top foot down toward the floor; against a "
              "band round the ankles the resisted IR direction is lifting it. Check with the "
              "lead.")),
)

FREQUENCY_ANCHORS: dict[str, Anchor] = {
    "mobility": Anchor(
        "Stretch daily if you can, at least 5 days a week: ACSM advises ≥ 2–3 days a week with "
        "daily most effective; Thomas 2018 found range gains need ≥ 5 days a week.",
        ACSM_REFS + (THOMAS_REF,)),
    "strength": Anchor("Strength work 2–3 times a week on non-consecutive days.",
                       (SOURCE_ARTICLE,)),
    "retest": Anchor(
        "Re-measure every 2–4 weeks; count a change as real only if it is larger than the "
        "tool's measurement error (MDC95).", ("clinical-notes §6 routine mapping",)),
}


def exercise(exercise_id: str) -> Exercise:
    """Return the catalogue exercise with ``exercise_id``.

    Raises:
        InputError: If there is no such exercise.

    """
    for item in EXERCISES:
        if item.id == exercise_id:
            return item
    known = ", ".join(e.id for e in EXERCISES)
    raise InputError(f"Unknown exercise id {exercise_id!r}; use one of: {known}.")
