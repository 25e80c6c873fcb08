"""What the page shows after a test: the result card, the history and the report.

Pure functions over the result dict of docs/RESULTS.md (``result_document(m)``), plus the
thin file and database readers the server's routes call (``hiprom.report.html`` builds the HTML,
``hiprom.report.history`` keeps the person's tests). No measuring here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hiprom.media.document import refusal
from hiprom.plan.assessment import DISCLAIMER, safety_screen

__all__ = ["config_payload", "history_payload", "history_png", "report_html", "result_card",
           "save_to_history"]


def _round(value: Any, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def config_payload(*, person: str, out_dir: Path, edges: list[list[int]]) -> dict[str, Any]:
    """What the page needs before a test: the safety screen, the person, the skeleton."""
    from hiprom._version import __version__

    flags = safety_screen()
    return {
        "version": __version__,
        "person": person,
        "out_dir": str(out_dir),
        "disclaimer": DISCLAIMER,
        "safety": [{"id": f.id, "situation": f.situation, "rule": f.rule,
                    "stop_rule": f.id == "pain_during_test"} for f in flags],
        "edges": edges,
    }


def _leg(leg: Mapping[str, Any]) -> dict[str, Any]:
    from hiprom.report.html import FLAG_EXPLANATIONS

    verdict = leg.get("verdict") or {}
    used = sum(bool(r.get("used")) for r in leg.get("reps") or ()
               if r.get("direction") == "internal")
    return {
        "ir_deg": _round(leg.get("internal_rotation_deg")),
        "ci95_deg": _round(leg.get("internal_rotation_ci95_deg")),
        "er_deg": _round(leg.get("external_rotation_deg")),
        "code": verdict.get("code", "not_measured"),
        "band": (verdict.get("band") or {}).get("label") or (
            "not measured" if leg.get("internal_rotation_deg") is None else "not rated"),
        "sentence": verdict.get("sentence", ""),
        "reps_used": used,
        "tested": leg.get("tested") is not False,  # a resting leg: no value, no advice on it
        "quality": [{"flag": f, "text": FLAG_EXPLANATIONS.get(f, f)}
                    for f in leg.get("quality") or ()] if leg.get("tested") is not False else [],
    }


def _exercise(ex: Mapping[str, Any]) -> dict[str, Any]:
    doses = "; ".join(s["text"] for s in ex.get("sides") or ()) or ex["dose"]["text"]
    return {"id": ex["id"], "name": ex["name"], "kind": ex.get("kind", ""), "dose": doses,
            "why": ex.get("why", ""), "instructions": list(ex.get("instructions") or ()),
            "cautions": [c["text"] for c in ex.get("cautions") or ()],
            "diagram": f"/diagrams/{ex['id']}.svg"}


#: Whole-test flags as the app words them (a live test has no file that could end early).
_TEST_FLAGS = {"truncated": "The test was finished before all reps were done; what was "
               "measured up to then is saved."}


def _test_flag(flag: str) -> str:
    from hiprom.report.html import FLAG_EXPLANATIONS

    return _TEST_FLAGS.get(flag) or FLAG_EXPLANATIONS.get(flag, flag)


def result_card(result: Mapping[str, Any], *, session_id: str, person: str,
                written: list[Path], in_history: bool) -> dict[str, Any]:
    """The result card: values with intervals, verdicts, the routine and where it is saved."""
    plan = result.get("recommendations") or {}
    return {
        "refused": refusal(result),
        "legs": {side: _leg(result["legs"][side]) for side in ("left", "right")},
        "asymmetry": (result.get("asymmetry") or {}).get("sentence", ""),
        "quality": [_test_flag(str(f)) for f in result.get("quality") or ()],
        "exercises": [_exercise(ex) for ex in plan.get("exercises") or ()],
        "notes": list(plan.get("notes") or ()),
        "red_flags": [{"why": f.get("why", ""), "rule": f.get("rule", "")}
                      for f in result.get("red_flags") or ()],
        "disclaimer": result.get("disclaimer") or DISCLAIMER,
        "files": [p.name for p in written],
        "out_dir": str(written[0].parent) if written else "",
        "person": person,
        "in_history": in_history,
        "report_url": f"/api/sessions/{session_id}/report.html",
        "report_pdf_url": f"/api/sessions/{session_id}/report.pdf",
        "history_url": f"/api/history/{quote(person, safe='')}" if in_history else None,
    }


def save_to_history(result: Mapping[str, Any], *, person: str, json_path: Path) -> None:
    """Save the result into the person's history (``hiprom history``)."""
    from hiprom.report.history import save_result

    save_result(result, person=person, json_path=json_path)


def report_html(json_path: Path, *, person: str | None) -> str:
    """The self-contained HTML report of ``hiprom report`` for a saved result."""
    from hiprom.report.html import build_report, load_report_inputs

    inputs = load_report_inputs(json_path, person=person)
    return build_report(inputs.result, series=inputs.series, keyframe_png=inputs.keyframe_png,
                        history=inputs.history, person=person, measured_at=inputs.measured_at)


def history_payload(person: str) -> dict[str, Any]:
    """The person's tests (oldest first) and the change since the last one, in words."""
    from hiprom.plan.assessment import Side
    from hiprom.report.history import changes_since_last, load_history

    entries = load_history(person)
    changes = changes_since_last(entries) if entries else {}
    return {
        "person": person,
        "tests": [{"measured_at": e.measured_at.isoformat(), "kind": e.source_kind,
                   **{s.value: {"ir_deg": _round(e.ir_deg[s]), "ci95_deg": _round(e.ci95_deg[s])}
                      for s in Side}} for e in entries],
        "changes": [c.sentence for c in changes.values() if c is not None],
        "plot_url": f"/api/history/{quote(person, safe='')}/plot.png" if entries else None,
    }


def history_png(person: str) -> bytes | None:
    """The history chart of ``hiprom history --plot``, or None without any test."""
    from hiprom.report.history import load_history
    from hiprom.report.html import build_history_plot_png

    entries = load_history(person)
    return build_history_plot_png(entries) if entries else None
