"""The live window's picture and screen text: mirrored frame, skeleton, angle, banner.

Pure drawing on copies (no window, no thread); :mod:`hiprom.live.session` re-exports
:func:`render_view`, :func:`safety_lines` and :func:`result_lines`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from hiprom.core.geometry import LegMeasurement, pelvis_down
from hiprom.live.states import GuideState, Phase
from hiprom.live.worker import Snapshot
from hiprom.media import overlay
from hiprom.media.document import refusal
from hiprom.pipeline.analysis import FrameRecord
from hiprom.plan.assessment import safety_screen
from hiprom.vocabulary import SIDES, Side

__all__ = ["render_view", "result_lines", "safety_lines"]

_STEPS = {Phase.SAFETY: "Safety check", Phase.SETUP: "Camera setup", Phase.NEUTRAL: "Neutral",
          Phase.REPS: "Measure", Phase.RESULT: "Result"}
_BANNER_BG = (48, 38, 30)
_ALERT_BG = (0, 120, 215)
_DONE_BG = (60, 120, 40)


def _text(image: np.ndarray, lines: list[str], size: float, *, alpha: float = 0.0,
          corner: overlay.Corner = "top-left") -> np.ndarray:
    """``overlay.draw_panel`` with a text size independent of the image's own size."""
    return overlay.draw_panel(image, lines, corner=corner, alpha=alpha,
                              text_scale=size / overlay.ui_scale(image))


_ASCII = str.maketrans({"±": "+/-", "–": "-", "—": "-", "≥": ">=", "≤": "<=", "×": "x",
                        "’": "'"})


def _wrap(lines: list[str], width: int = 58) -> list[str]:
    """Wrap for the screen; Hershey fonts only draw ASCII (and ° via overlay)."""
    out: list[str] = []
    for line in lines:
        out += textwrap.wrap(line.translate(_ASCII), width, subsequent_indent="  ") or [""]
    return out


def safety_lines() -> list[str]:
    """Return the safety screen (from :func:`hiprom.plan.assessment.safety_screen`), wrapped."""
    flags = safety_screen()
    lines = ["Do not do this test if any of these applies to you:"]
    lines += [f"- {f.situation}" for f in flags if f.id != "pain_during_test"]
    pain = [f for f in flags if f.id == "pain_during_test"]
    lines += [""] + [f"If you feel pain or a pinch in the groin: {f.rule[:1].lower()}{f.rule[1:]}"
                     for f in pain]
    return _wrap(lines)


def result_lines(result: dict, saved_to: Path | None) -> list[str]:
    """Return the result screen: IR per leg, verdict, asymmetry, routine with doses, red flags."""
    reason = refusal(result)
    lines = [f"Not the seated test: {reason}", ""] if reason else []
    for side in SIDES:
        leg = result["legs"][side]
        ir, verdict = leg["internal_rotation_deg"], leg["verdict"]
        if ir is None:
            what = "not tested" if leg.get("tested") is False else "not measured"
            lines.append(f"{side.capitalize()} hip: {what}")
            continue
        band = verdict["band"]["label"] if verdict.get("band") else verdict["code"]
        used = sum(r.get("used", False) for r in leg["reps"] if r["direction"] == "internal")
        ci = leg["internal_rotation_ci95_deg"]
        lines.append(f"{side.capitalize()} hip IR {ir:.0f}° (±{ci:.0f}°): {band}, "
                     f"target 35-45°  [{used} rep{'s' * (used != 1)}]")
    asym = result.get("asymmetry") or {}
    if asym.get("difference_deg") is not None:
        restricted = asym.get("restricted_side") or "neither"
        judged = "beyond the measurement error" if asym["exceeds_error"] else "within the error"
        lines.append(f"Difference {asym['difference_deg']:.0f}° ({restricted} less), {judged}")
    plan = result.get("recommendations") or {}
    if plan.get("exercises"):
        lines += ["", "Your routine:"]
        for ex in plan["exercises"]:
            doses = "; ".join(s["text"] for s in ex["sides"]) or ex["dose"]["text"]
            lines.append(f"- {ex['name']}: {doses}")
    lines += [f"! {f['rule']}" for f in result.get("red_flags") or []]
    if saved_to is not None:
        lines += ["", f"Saved in {saved_to}"]
    return _wrap(lines, 64)


def _display_xy(xy: np.ndarray, scale: float, width: int) -> np.ndarray:
    """Unmirrored frame pixels → mirrored, scaled display pixels."""
    out = np.asarray(xy, np.float64) * scale
    out[..., 0] = width - out[..., 0]
    return out


def _draw_angle(view: np.ndarray, legs: LegMeasurement, side: Side, value: float,
                scale: float) -> np.ndarray:
    leg, w = legs.leg(side), view.shape[1]
    knee, ankle = _display_xy(leg.knee_xy, scale, w), _display_xy(leg.ankle_xy, scale, w)
    down = pelvis_down(_display_xy(legs.left.hip_xy, scale, w),
                       _display_xy(legs.right.hip_xy, scale, w))
    word = "IR" if not np.isfinite(value) or value >= 0 else "ER"
    return overlay.draw_angle(view, knee, ankle, knee + down, value,
                              label=f"{side[0].upper()} {word}")


def _angles(view: np.ndarray, record: FrameRecord, state: GuideState, scale: float) -> np.ndarray:
    legs = record.legs
    if legs is None:
        return view
    if state.phase is Phase.REPS and state.side is not None:
        view = _draw_angle(view, legs, state.side, state.rotation_deg, scale)
    return view


def _banner(width: int, height: int, state: GuideState) -> np.ndarray:
    colour = _ALERT_BG if state.alert else _DONE_BG if state.phase is Phase.RESULT else _BANNER_BG
    banner = np.empty((height, width, 3), np.uint8)
    banner[:] = colour
    top, bottom = banner[: int(0.58 * height)], banner[int(0.5 * height):]
    banner[: top.shape[0]] = _text(top, [state.headline], 1.55)
    indent = int(round(22 * (1.55 - 0.95)))
    banner[-bottom.shape[0]:, indent:] = _text(bottom[:, indent:], [state.detail], 0.95)
    return banner


def render_view(snap: Snapshot, *, fps: float, display_height: int = 600,
                screen: list[str] | None = None) -> np.ndarray:
    """Draw the window's picture: mirrored (selfie) frame, skeleton, angle, progress, instructions.

    Args:
        snap: the frame, its record (unmirrored pixels) and the guide state.
        fps: frames shown per second.
        display_height: height of the picture part, pixels (a banner is added below).
        screen: full-screen text (safety check, result) drawn over the picture, or None.

    """
    h, w = snap.frame.image_bgr.shape[:2]
    scale = display_height / h
    width = int(round(w * scale))
    view = cast(npt.NDArray[np.uint8],  # selfie view: mirrored for display only
                cv2.resize(cv2.flip(snap.frame.image_bgr, 1), (width, display_height),
                           interpolation=cv2.INTER_LINEAR))
    record, state = snap.record, snap.state
    if screen:
        view = _text(view, screen, 0.88, alpha=0.85)
    else:
        if record.xy is not None and record.visibility is not None:
            view = overlay.draw_legs(view, record.xy * scale, record.visibility, mirrored=True)
        view = _angles(view, record, state, scale)
        if state.progress is not None:
            view = overlay.draw_progress(view, state.progress, label=state.progress_label)
        step = list(Phase).index(state.phase) + 1
        tally = (f"  |  Left {state.counts['left']}/3  Right {state.counts['right']}/3"
                 if state.phase is Phase.REPS else "")
        view = _text(view, [f"Step {step} of 5: {_STEPS[state.phase]}{tally}"], 0.75,
                     alpha=0.6, corner="bottom-left" if state.progress is None else "top-left")
    view = overlay.draw_fps(view, fps)
    return np.vstack([view, _banner(width, int(0.2 * display_height), state)])
