"""The result JSON (docs/RESULTS.md, schema hiprom-result/2): data joined with what it means.

A :class:`~hiprom.results.measurement.Measurement` is what was measured; the
interpretation (:func:`hiprom.plan.interpret.interpret`) decides what may be said about it.
:func:`result_document` joins the two into the file's object, in the contract's key order;
every writer of result JSON (``measure``, ``batch``, the app, the live guide) goes through
it. Pure: no file I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hiprom._version import __version__
from hiprom.plan.assessment import DISCLAIMER
from hiprom.plan.interpret import Interpretation, LegReading, interpret
from hiprom.results.files import SCHEMA
from hiprom.results.measurement import CONVENTION, Measurement, json_number, rep_dict
from hiprom.vocabulary import SIDES

__all__ = ["interpret_measurement", "refusal", "result_document"]


def interpret_measurement(m: Measurement) -> Interpretation:
    """What may be said about ``m``: its legs, tested sides and seated-test check read."""
    return interpret(m.legs, tested=m.tested, valid=m.valid)


def _leg_dict(m: Measurement, side: str, reading: LegReading) -> dict[str, Any]:
    """One leg's block: values only where the leg is reported, the verdict, reps, flags."""
    leg = m.legs[side]
    shown = reading.reported
    return {
        "tested": m.tested.get(side, True),
        "internal_rotation_deg": json_number(leg.internal_rotation_deg) if shown else None,
        "internal_rotation_ci95_deg": (json_number(leg.internal_rotation_ci95_deg) if shown
                                       else None),
        "external_rotation_deg": json_number(leg.external_rotation_deg) if shown else None,
        "external_rotation_ci95_deg": (json_number(leg.external_rotation_ci95_deg) if shown
                                       else None),
        "neutral_deg": json_number(leg.neutral_deg),
        "noise_sd_deg": json_number(leg.noise_sd_deg),
        "verdict": reading.verdict_dict(),
        "quality": list(leg.quality),
        "reps": [rep_dict(r) for r in leg.reps],
    }


def result_document(m: Measurement, said: Interpretation | None = None) -> dict[str, Any]:
    """The result JSON object of ``m`` (docs/RESULTS.md).

    Args:
        m: the measurement.
        said: its interpretation; computed by :func:`interpret_measurement` when None.

    """
    said = interpret_measurement(m) if said is None else said
    plan = None if said.plan is None else said.plan.to_dict()
    return {
        "schema": SCHEMA,
        "hiprom_version": __version__,
        "model": dict(m.model),
        "measured_at": m.measured_at,
        "source": m.source.to_dict(),
        "faces_blurred": m.faces_blurred,
        "convention": CONVENTION,
        "protocol": m.protocol_dict(),
        "legs": {side: _leg_dict(m, side, said.legs[side]) for side in SIDES},
        "asymmetry_deg": json_number(said.asymmetry_deg),
        "asymmetry": said.asymmetry.to_dict(),
        "quality": list(m.quality),
        "recommendations": plan,
        "red_flags": [] if plan is None else plan["red_flags"],
        "disclaimer": DISCLAIMER,
        **m.extra,
    }


def refusal(result: Mapping[str, Any]) -> str | None:
    """Why the result is not the seated test (no leg scored), or None when it is.

    The seated-test check (docs/RESULTS.md ``protocol``) refuses a standing person, a side
    view or floor sitting; ``hiprom measure`` then says so and fails, and so says every
    screen that shows the result (the app's card, the live window).
    """
    protocol = result.get("protocol") or {}
    if protocol.get("valid") is not False:  # true, or no verdict recorded: not a refusal
        return None
    return str(protocol.get("reason") or "the picture does not look like the seated test")
