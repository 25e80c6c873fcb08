"""Drawing helpers for annotated frames: leg skeleton, shank angle, text panels, progress.

Every ``draw_*`` function returns a new image and leaves its input unchanged. Sizes scale
with the image (480p up to 4K) and text boxes are kept inside the image.

Conventions: ``image_bgr`` is ``(H, W, 3)`` uint8 BGR; points are pixels, origin top-left,
x right, y down; angles are degrees. Hershey fonts have no degree sign, so ``°`` in any text
is drawn as a small ring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from hiprom.core.landmarks import LEG_EDGES, N_LANDMARKS, LandmarkName
from hiprom.errors import InputError
from hiprom.vocabulary import MIN_VISIBILITY

__all__ = [
    "draw_angle", "draw_fps", "draw_legs", "draw_panel", "draw_progress", "rotation_label",
    "ui_scale",
]

Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]
ImageBGR = npt.NDArray[np.uint8]
Colour = tuple[int, int, int]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE: Colour = (255, 255, 255)
_BLACK: Colour = (0, 0, 0)
_PANEL_BG: Colour = (30, 24, 20)
_LEFT: Colour = (255, 170, 40)  # model's LEFT_* side: blue
_RIGHT: Colour = (40, 150, 255)  # model's RIGHT_* side: orange
_PELVIS: Colour = (230, 230, 230)
_SHANK: Colour = (60, 230, 255)  # yellow
_REFERENCE: Colour = (230, 230, 230)
_GOOD: Colour = (90, 210, 60)
_FAIR: Colour = (0, 190, 255)
_POOR: Colour = (70, 70, 235)


def ui_scale(image_bgr: ImageBGR) -> float:
    """Size factor for strokes and text: 1.0 for a 720-pixel short side, 0.67 for 480p, 3 for 4K.

    Examples:
        >>> round(ui_scale(np.zeros((480, 640, 3), np.uint8)), 2)
        0.67

    """
    return float(np.clip(min(image_bgr.shape[:2]) / 720.0, 0.35, 4.0))


def _px(point: npt.ArrayLike) -> tuple[int, int]:
    x, y = np.asarray(point, dtype=np.float64)
    return int(round(x)), int(round(y))


def _thick(scale: float, base: float) -> int:
    return max(1, int(round(base * scale)))


# --- text with a drawn degree sign ---------------------------------------------------------


def _text_size(text: str, font_scale: float, thickness: int) -> tuple[int, int, int]:
    """``(width, height above baseline, baseline)`` of ``text`` as :func:`_put_text` draws it."""
    width = 0
    for k, part in enumerate(text.split("°")):
        if part:
            width += cv2.getTextSize(part, _FONT, font_scale, thickness)[0][0]
        if k:
            width += _degree_width(font_scale, thickness)
    (_, h), base = cv2.getTextSize("0Ag", _FONT, font_scale, thickness)
    return width, h, base


def _degree_width(font_scale: float, thickness: int) -> int:
    return int(round(12 * font_scale)) + thickness


def _put_text(image: ImageBGR, text: str, org: tuple[int, int], font_scale: float,
              colour: Colour, thickness: int, *, outline: bool = True) -> None:
    """Draw ``text`` at baseline-left ``org`` in place, optionally outlined; ``°`` as a ring."""
    (_, h), _ = cv2.getTextSize("0", _FONT, font_scale, thickness)
    passes = [(colour, thickness)]
    if outline:
        passes.insert(0, (_BLACK, thickness + max(2, thickness)))
    for pass_colour, pass_thick in passes:
        x, y = org
        for k, part in enumerate(text.split("°")):
            if k:
                r = max(2, int(round(4 * font_scale)))
                cv2.circle(image, (x + r + thickness, y - h + r), r, pass_colour, pass_thick,
                           cv2.LINE_AA)
                x += _degree_width(font_scale, thickness)
            if part:
                safe = part.encode("ascii", "replace").decode("ascii")
                cv2.putText(image, safe, (x, y), _FONT, font_scale, pass_colour, pass_thick,
                            cv2.LINE_AA)
                x += cv2.getTextSize(safe, _FONT, font_scale, thickness)[0][0]


def _blend_rect(image: ImageBGR, top_left: tuple[int, int], bottom_right: tuple[int, int],
                colour: Colour, alpha: float) -> None:
    """Blend a filled rectangle into ``image`` in place, clipped to the image."""
    h, w = image.shape[:2]
    x0, y0 = max(0, top_left[0]), max(0, top_left[1])
    x1, y1 = min(w, bottom_right[0]), min(h, bottom_right[1])
    if x1 <= x0 or y1 <= y0:
        return
    roi = image[y0:y1, x0:x1].astype(np.float32)
    roi = roi * (1.0 - alpha) + np.asarray(colour, np.float32) * alpha
    image[y0:y1, x0:x1] = np.clip(roi + 0.5, 0, 255).astype(np.uint8)


def _fit_box(image: ImageBGR, x: int, y: int, box_w: int, box_h: int) -> tuple[int, int]:
    """Move a box's top-left corner so the box lies inside the image (as far as it fits)."""
    h, w = image.shape[:2]
    return int(np.clip(x, 0, max(0, w - box_w))), int(np.clip(y, 0, max(0, h - box_h)))


def _fit_lines(lines: Sequence[str], font_scale: float, thick: int,
               limit_px: float) -> tuple[list[str], float, int]:
    """Shrink the text (not below a readable size), then cut lines with ``...`` to fit."""
    min_scale = 0.35
    for _ in range(4):
        widest = max(_text_size(t, font_scale, thick)[0] for t in lines)
        if widest <= limit_px or font_scale <= min_scale:
            break
        font_scale = max(min_scale, font_scale * limit_px / widest * 0.97)
        thick = max(1, min(thick, int(round(font_scale * 2.6))))
    fitted = []
    for text in lines:
        while len(text) > 1 and _text_size(text, font_scale, thick)[0] > limit_px:
            text = text[: max(1, len(text) - 4)].rstrip(".") + "..."
            if text == "...":
                break
        fitted.append(text)
    return fitted, font_scale, thick


# --- panels ------------------------------------------------------------------------------------


def draw_panel(image_bgr: ImageBGR, lines: Sequence[str], *, corner: Corner = "top-left",
               alpha: float = 0.6, text_scale: float = 1.0) -> ImageBGR:
    """Draw a semi-transparent box of text lines in a corner; returns a new image.

    The text shrinks if the longest line would not fit in 94 % of the image width.

    Args:
        image_bgr: ``(H, W, 3)`` uint8.
        lines: text lines, top to bottom; ``°`` is drawn as a ring.
        corner: where the box goes.
        alpha: opacity of the dark box, 0..1.
        text_scale: multiplier on the automatic text size.

    """
    out = image_bgr.copy()
    if not lines:
        return out
    s = ui_scale(out) * text_scale
    font_scale, thick = 0.62 * s, _thick(s, 1.6)
    pad = int(round(12 * s))
    lines, font_scale, thick = _fit_lines(lines, font_scale, thick,
                                          0.94 * out.shape[1] - 2 * pad)
    widest = max(_text_size(t, font_scale, thick)[0] for t in lines)
    _, text_h, base = _text_size("0Ag", font_scale, thick)
    line_h = int(round((text_h + base) * 1.45))
    box_w, box_h = widest + 2 * pad, line_h * len(lines) + 2 * pad - (line_h - text_h - base)
    margin = int(round(10 * s))
    x = margin if corner.endswith("left") else out.shape[1] - margin - box_w
    y = margin if corner.startswith("top") else out.shape[0] - margin - box_h
    x, y = _fit_box(out, x, y, box_w, box_h)
    _blend_rect(out, (x, y), (x + box_w, y + box_h), _PANEL_BG, alpha)
    for k, text in enumerate(lines):
        _put_text(out, text, (x + pad, y + pad + text_h + k * line_h), font_scale, _WHITE, thick,
                  outline=False)
    return out


def draw_fps(image_bgr: ImageBGR, fps: float, *, corner: Corner = "top-right") -> ImageBGR:
    """Draw the frame rate (e.g. ``29.8 fps``) in a small panel; returns a new image."""
    text = f"{fps:.1f} fps" if math.isfinite(fps) else "-- fps"
    return draw_panel(image_bgr, [text], corner=corner, text_scale=0.8)


def draw_progress(image_bgr: ImageBGR, fraction: float, *, label: str = "") -> ImageBGR:
    """Draw a progress bar near the bottom centre (e.g. for an end-range hold).

    Args:
        image_bgr: ``(H, W, 3)`` uint8.
        fraction: progress in [0, 1]; clipped, NaN counts as 0.
        label: text above the bar, e.g. ``"Hold 2.1 / 3 s"``.

    """
    out = image_bgr.copy()
    h, w = out.shape[:2]
    s = ui_scale(out)
    frac = float(np.clip(fraction, 0.0, 1.0)) if math.isfinite(fraction) else 0.0
    bar_w, bar_h = int(0.6 * w), max(6, int(round(22 * s)))
    x0, y0 = (w - bar_w) // 2, h - int(round(28 * s)) - bar_h
    x0, y0 = _fit_box(out, x0, y0, bar_w, bar_h)
    _blend_rect(out, (x0, y0), (x0 + bar_w, y0 + bar_h), _PANEL_BG, 0.65)
    fill_w = int(round(frac * bar_w))
    if fill_w > 0:
        cv2.rectangle(out, (x0, y0), (x0 + fill_w - 1, y0 + bar_h - 1), _GOOD, cv2.FILLED)
    cv2.rectangle(out, (x0, y0), (x0 + bar_w - 1, y0 + bar_h - 1), _WHITE, _thick(s, 1.5))
    if label:
        font_scale, thick = 0.62 * s, _thick(s, 1.6)
        tw, th, base = _text_size(label, font_scale, thick)
        tx = int(np.clip((w - tw) // 2, 0, max(0, w - tw)))
        ty = max(th, y0 - int(round(10 * s)))
        # A dark backing, as the angle labels have: white letters on a light wall were faint.
        pad = int(round(6 * s))
        _blend_rect(out, (tx - pad, ty - th - pad), (tx + tw + pad, ty + base + pad),
                    _PANEL_BG, 0.65)
        _put_text(out, label, (tx, ty), font_scale, _WHITE, thick)
    return out


# --- skeleton and angle ---------------------------------------------------------------------


def _visibility_colour(visibility: float, min_visibility: float) -> Colour:
    if visibility >= max(0.8, min_visibility):
        return _GOOD
    return _FAIR if visibility >= min_visibility else _POOR


def _edge_colour(a: int, b: int) -> Colour:
    names = (LandmarkName(a).name, LandmarkName(b).name)
    if all(n.startswith("LEFT_") for n in names):
        return _LEFT
    return _RIGHT if all(n.startswith("RIGHT_") for n in names) else _PELVIS


def draw_legs(image_bgr: ImageBGR, xy: npt.ArrayLike, visibility: npt.ArrayLike, *,
              mirrored: bool = False, min_visibility: float = MIN_VISIBILITY) -> ImageBGR:
    """Draw the pelvis and leg skeleton (:data:`~hiprom.core.landmarks.LEG_EDGES`) on a copy.

    Bones are coloured by the model's side label (left blue, right orange, pelvis white) and
    drawn only when both ends reach ``min_visibility``. Joints are coloured by visibility:
    green (>= 0.8), amber (>= ``min_visibility``), red (below).

    Args:
        image_bgr: ``(H, W, 3)`` uint8.
        xy: ``(33, 2)`` landmark pixels of one person in the frame the model saw.
        visibility: ``(33,)`` visibility scores in [0, 1].
        mirrored: the image is the horizontal mirror of that frame (selfie preview), so x is
            drawn at ``W - x``.
        min_visibility: threshold below which a joint counts as not seen.

    Raises:
        InputError: if ``xy`` or ``visibility`` has the wrong shape.

    """
    pts = np.array(xy, dtype=np.float64)
    vis = np.asarray(visibility, dtype=np.float64)
    if pts.shape != (N_LANDMARKS, 2) or vis.shape != (N_LANDMARKS,):
        raise InputError(f"draw_legs needs xy ({N_LANDMARKS}, 2) and visibility ({N_LANDMARKS},), "
                         f"got {pts.shape} and {vis.shape}")
    out = image_bgr.copy()
    if mirrored:
        pts[:, 0] = out.shape[1] - pts[:, 0]
    s = ui_scale(out)
    ok = np.isfinite(pts).all(axis=1) & np.all(np.abs(pts) < 1e6, axis=1)
    for a, b in LEG_EDGES:
        if ok[a] and ok[b] and min(vis[a], vis[b]) >= min_visibility:
            pa, pb = _px(pts[a]), _px(pts[b])
            cv2.line(out, pa, pb, _BLACK, _thick(s, 7), cv2.LINE_AA)
            cv2.line(out, pa, pb, _edge_colour(a, b), _thick(s, 4), cv2.LINE_AA)
    for idx in sorted({int(i) for edge in LEG_EDGES for i in edge}):
        if ok[idx]:
            radius = max(3, int(round(7 * s)))
            cv2.circle(out, _px(pts[idx]), radius + _thick(s, 2), _BLACK, cv2.FILLED, cv2.LINE_AA)
            cv2.circle(out, _px(pts[idx]), radius, _visibility_colour(vis[idx], min_visibility),
                       cv2.FILLED, cv2.LINE_AA)
    return out


def _dashed_line(image: ImageBGR, p0: npt.NDArray[np.float64], p1: npt.NDArray[np.float64],
                 colour: Colour, thickness: int, dash_px: float) -> None:
    length = float(np.hypot(*(p1 - p0)))
    n = max(1, int(length // dash_px))
    for k in range(0, n, 2):
        a = p0 + (p1 - p0) * (k / n)
        b = p0 + (p1 - p0) * (min(k + 1, n) / n)
        cv2.line(image, _px(a), _px(b), colour, thickness, cv2.LINE_AA)


def rotation_label(side: str, rotation_deg: float) -> str:
    """The text of a leg's angle as the results give it: ``"L IR 37°"``, ``"R ER 12°"``.

    External rotation is written as a positive magnitude, as in the JSON; a value that
    rounds to 0 has no direction (``"L 0°"``), so no ``-0`` is ever shown.

    Examples:
        >>> rotation_label("right", -11.6)
        'R ER 12°'
        >>> rotation_label("left", -0.3)
        'L 0°'

    """
    tag = side[:1].upper()
    if not math.isfinite(rotation_deg):
        return f"{tag} --"
    shown = round(rotation_deg)
    if shown == 0:
        return f"{tag} 0°"
    return f"{tag} {'IR' if shown > 0 else 'ER'} {abs(shown):.0f}°"


def draw_angle(image_bgr: ImageBGR, knee_xy: npt.ArrayLike, ankle_xy: npt.ArrayLike,
               reference_down_xy: npt.ArrayLike, angle_deg: float, *,
               label: str = "", text: str | None = None,
               label_side: float = 0.0) -> ImageBGR:
    """Draw the reference vertical, the shank, the arc between them and the angle value.

    Args:
        image_bgr: ``(H, W, 3)`` uint8.
        knee_xy: ``(2,)`` knee centre, pixels.
        ankle_xy: ``(2,)`` ankle centre, pixels.
        reference_down_xy: ``(2,)`` a point below the knee on the reference vertical
            (the perpendicular to the pelvis line), pixels; only its direction is used.
        angle_deg: the value to print (the caller's measured angle); NaN prints ``--``.
        label: text before the value, e.g. ``"L IR"``.
        text: the whole label instead of ``label`` + value (see :func:`rotation_label`).
        label_side: +1 or −1 puts the label beside the middle of the shank, toward image
            +x or −x (a leg's lateral side keeps it off the pelvis and the other leg's label);
            0 puts it beyond the knee, opposite the shank.

    Returns:
        A new image; the input is unchanged. Degenerate points (NaN, zero length) draw only
        the label.

    """
    out = image_bgr.copy()
    s = ui_scale(out)
    knee, ankle, ref = (np.asarray(p, dtype=np.float64).reshape(2)
                        for p in (knee_xy, ankle_xy, reference_down_xy))
    shank, down = ankle - knee, ref - knee
    shank_len, down_len = float(np.hypot(*shank)), float(np.hypot(*down))
    if text is None:
        text = f"{label} {angle_deg:.0f}°".strip() if math.isfinite(angle_deg) else f"{label} --"
    geometry_ok = np.isfinite([*knee, *ankle, *ref]).all() and shank_len > 1 and down_len > 0
    if not geometry_ok:
        return _draw_value_box(out, text.strip(), (out.shape[1] / 2, out.shape[0] / 2), s)
    ref_end = knee + down / down_len * shank_len
    _dashed_line(out, knee, ref_end, _BLACK, _thick(s, 5), 14 * s)
    _dashed_line(out, knee, ref_end, _REFERENCE, _thick(s, 2.5), 14 * s)
    cv2.line(out, _px(knee), _px(ankle), _BLACK, _thick(s, 8), cv2.LINE_AA)
    cv2.line(out, _px(knee), _px(ankle), _SHANK, _thick(s, 5), cv2.LINE_AA)
    a0 = math.degrees(math.atan2(down[1], down[0]))
    sweep = (math.degrees(math.atan2(shank[1], shank[0])) - a0 + 180.0) % 360.0 - 180.0
    radius = max(8, int(round(max(0.35 * shank_len, 24 * s))))
    cv2.ellipse(out, _px(knee), (radius, radius), 0.0, a0, a0 + sweep, _SHANK, _thick(s, 3),
                cv2.LINE_AA)
    if label_side:
        return _draw_value_box(out, text.strip(), (0.0, 0.0), s,
                               beside=(knee + ankle) / 2.0, toward_x=label_side,
                               clear_of=(knee, ankle))
    mid = math.radians(a0 + sweep / 2.0)
    # Put the value on the far side of the knee from the shank so it never hides the lines.
    anchor = knee - np.array([math.cos(mid), math.sin(mid)]) * radius * 0.9
    return _draw_value_box(out, text.strip(), (float(anchor[0]), float(anchor[1])), s)


def _draw_value_box(image: ImageBGR, text: str, centre_xy: tuple[float, float],
                    s: float, *, beside: npt.NDArray[np.float64] | None = None,
                    toward_x: float = 0.0,
                    clear_of: tuple[npt.NDArray[np.float64], ...] = ()) -> ImageBGR:
    """Draw ``text`` large on a dark box, kept inside the image.

    Centred near ``centre_xy``; or, with ``beside``, vertically centred on that point and
    placed toward ``toward_x`` (±1) of it, clear of the ``clear_of`` points' x.
    """
    font_scale, thick = 1.05 * s, _thick(s, 2.6)
    tw, th, base = _text_size(text, font_scale, thick)
    pad = int(round(10 * s))
    box_w, box_h = tw + 2 * pad, th + base + 2 * pad
    if beside is not None:
        gap = 14 * s
        xs = [float(beside[0])] + [float(p[0]) for p in clear_of]
        edge = max(xs) + gap if toward_x > 0 else min(xs) - gap - box_w
        centre_xy = (edge + box_w / 2, float(beside[1]))
    x, y = _fit_box(image, int(centre_xy[0] - box_w / 2), int(centre_xy[1] - box_h / 2),
                    box_w, box_h)
    _blend_rect(image, (x, y), (x + box_w, y + box_h), _PANEL_BG, 0.7)
    _put_text(image, text, (x + pad, y + pad + th), font_scale, _SHANK, thick)
    return image
