"""Definitions of the v2 sets: `validation2` (wider accuracy set with a held-out split) and
`postures` (the seated test and postures that are not the test, for a seated-test check).

Everything here is data: numpy `default_rng` streams seeded from --seed; no body is built and
nothing is rendered, so `define_set("validation2", seed)` is fast (the coverage tests use it).
The v1 sets (samples, validation, smoke) live in render.py and are untouched by this module.
See synth/README.md, "Sets".
"""

from __future__ import annotations

import numpy as np
import render as R

FPS = 30
V2_RENDER = {"engine": "EEVEE", "samples": 3, "subdiv": 0}  # 3 TAA samples: ~20 % faster than 4

# --------------------------------------------------------------------------- bodies
# id, gender (0 female, 1 male), MakeHuman age (0.5 = 25 y, 1.0 = 90 y), height, weight (BMI proxy),
# muscle, ethnicity mix, skin tone.  Chosen for extremes: short/tall, thin/heavy, young/old.
BODIES = [
    ("B01", 0.0, 0.50, 0.03, 0.05, 0.35, "asian", "light"),  # 25 y, short, very thin woman
    ("B02", 1.0, 0.95, 1.00, 1.00, 0.40, "african", "dark"),  # 84 y, very tall, heavy man
    ("B03", 0.0, 0.92, 0.45, 0.97, 0.30, "caucasian", "light"),  # 80 y, heavy woman
    ("B04", 1.0, 0.52, 0.97, 0.08, 0.75, "african", "brown"),  # 28 y, tall, very thin man
    ("B05", 0.0, 0.70, 0.95, 0.50, 0.50, "african", "dark"),  # 51 y, tall woman
    ("B06", 1.0, 0.58, 0.02, 0.90, 0.55, "caucasian", "medium"),  # 35 y, short, heavy man
    ("B07", 0.0, 0.60, 0.55, 0.20, 0.45, "mixed", "brown"),  # 38 y, slim woman
    ("B08", 1.0, 0.85, 0.30, 0.60, 0.35, "asian", "medium"),  # 71 y, shortish man
    ("B09", 0.0, 0.52, 0.75, 0.98, 0.60, "caucasian", "medium"),  # 28 y, tallish, heavy woman
    ("B10", 1.0, 0.68, 0.60, 0.35, 0.90, "mixed", "light"),  # 48 y, muscular man
]


def age_years(age: float) -> float:
    """MakeHuman's adult age scale: 0.5 -> 25 y, 1.0 -> 90 y."""
    return 25.0 + (age - 0.5) * 130.0


def bodies_v2(seed: int) -> list:
    rng = np.random.default_rng([seed, 10])
    out = []
    for bid, g, age, h, w, mu, eth, tone in BODIES:
        s = R.make_subject(
            rng,
            bid,
            gender=g,
            age=age,
            height=h,
            weight=w,
            muscle=mu,
            ethnicity=eth,
            skin_tone=tone,
        )
        s["sex"] = "male" if g >= 0.5 else "female"
        s["age_years"] = round(age_years(age), 1)
        out.append(s)
    return out


# --------------------------------------------------------------------------- camera setups
# nominal camera per setup id; every item jitters it a little (clipped to the promised ranges)
CAMERA_SETUPS = {
    #       distance, pitch, yaw, fov across the long side, aspect (w:h), long side px
    "C01": (2.0, 0.0, 0.0, 65.0, "4:3", 640),
    "C02": (1.5, 5.0, -10.0, 78.0, "9:16", 640),
    "C03": (3.2, 15.0, 20.0, 66.0, "16:9", 800),
    "C04": (3.95, 24.0, -5.0, 55.0, "16:9", 960),
    "C05": (2.5, -9.0, 24.0, 70.0, "9:16", 640),
    "C06": (2.1, 20.0, -24.0, 79.0, "4:3", 640),
    "C07": (3.5, -5.0, -20.0, 51.0, "9:16", 800),
    "C08": (2.2, 10.0, 12.0, 68.0, "3:4", 640),
    "C09": (2.8, 24.0, 0.0, 74.0, "16:9", 640),
    "C10": (1.7, -8.0, -15.0, 76.0, "4:3", 640),
}
RANGES = {
    "distance_m": (1.5, 4.0),
    "pitch_deg": (-10.0, 25.0),
    "yaw_deg": (-25.0, 25.0),
    "fov_long_deg": (50.0, 80.0),
}


def camera_v2(rng, setup: str) -> tuple[dict, int]:
    d, p, y, fov, aspect, res = CAMERA_SETUPS[setup]
    cs = {
        "setup": setup,
        "distance_m": float(np.clip(d + rng.uniform(-0.1, 0.1), *RANGES["distance_m"])),
        "pitch_deg": float(np.clip(p + rng.uniform(-2, 2), *RANGES["pitch_deg"])),
        "yaw_deg": float(np.clip(y + rng.uniform(-2, 2), *RANGES["yaw_deg"])),
        "roll_deg": float(rng.uniform(-3, 3)),
        "fov_long_deg": float(np.clip(fov + rng.uniform(-2, 2), *RANGES["fov_long_deg"])),
        "aspect": aspect,
    }
    aw, ah = (int(v) for v in aspect.split(":"))
    cs["orientation"] = "portrait" if ah > aw else "landscape"
    return cs, res


def holdout_ids(seed: int) -> tuple[list, list]:
    """The held-out bodies (3 of 10) and camera setups (2 of 10), decided by the seed alone."""
    rng = np.random.default_rng([seed, 11])
    b = sorted(str(BODIES[i][0]) for i in rng.choice(len(BODIES), 3, replace=False))
    c = sorted(str(k) for k in rng.choice(sorted(CAMERA_SETUPS), 2, replace=False))
    return b, c


# --------------------------------------------------------------------------- conditions
LIGHTING = ["bright_even", "dim_room", "backlit_window"]


def nuisance_v2(
    rng, lighting: str, seat: str, low_contrast: str | None = None, side_view: bool = False
) -> dict:
    n = R.make_nuisance(rng)  # walls, floors, plinth look, props, wall distance
    for k in ("key_light", "fill_ratio", "colour_temp"):
        n.pop(k)  # v1 lighting: replaced below
    n["lighting"] = lighting
    n["seat"] = seat
    u = lambda a, b: round(float(rng.uniform(a, b)), 2)  # noqa: E731
    if lighting == "bright_even":
        n["light"] = {"azimuth_deg": u(30, 45), "elevation_deg": u(30, 45), "energy_w": u(90, 150)}
        n.update(
            ambient=u(0.15, 0.3),
            exposure=u(-0.3, 0.0),
            sensor_noise_sigma=u(0.5, 1.5),
            colour_temp=str(rng.choice(["neutral", "cool"])),
        )
    elif lighting == "dim_room":
        n["light"] = {"energy_w": u(4, 10), "lamp_x_m": u(-1.0, 1.0)}
        # a phone's auto-exposure lifts a dim room part of the way, at the price of noise
        n.update(
            ambient=u(0.01, 0.03),
            exposure=u(1.0, 1.6),
            sensor_noise_sigma=u(5.0, 8.0),
            colour_temp="warm",
        )
    else:  # backlit_window
        n["light"] = {"fill_w": u(10, 40)}
        n["window"] = {
            "center_x_m": u(-0.4, 0.4),
            "center_z_m": u(1.3, 1.5),
            "width_m": u(1.4, 2.2),
            "height_m": u(1.1, 1.5),
            "emission": u(5, 10),
            "light_w": u(700, 1300),
        }
        n.update(
            ambient=u(0.08, 0.15),
            exposure=u(-1.0, -0.5),
            sensor_noise_sigma=u(1.0, 3.0),
            colour_temp=str(rng.choice(["neutral", "cool"])),
        )
    if seat == "chair":
        n["chair_colour"] = str(rng.choice(sorted(R.CHAIR_COLOURS)))
        n["table_height_m"] = u(0.45, 0.55)  # raised if the feet would touch the floor
    elif seat == "plinth":
        n["table_height_m"] = u(0.72, 0.86)
    if low_contrast:
        n.update(R.LOW_CONTRAST[low_contrast])
        if seat == "chair":
            n["chair_colour"] = low_contrast
    if side_view:  # nothing between a side camera and the person
        n["side_wall"] = False
        n["props"] = 0
    return n


def clothing_v2(rng, lower: str, feet: str, low_contrast: str | None) -> dict:
    c = {"lower": lower, "feet": feet}
    if lower == "trousers":
        c["lower_colour"] = low_contrast or str(
            rng.choice([k for k in sorted(R.TROUSER_COLOURS) if k not in R.LOW_CONTRAST])
        )
        c["hem_below_ankle_m"] = round(float(rng.uniform(0.01, 0.03)), 3)
    if feet in ("socks", "shoes"):
        c["sock_colour"] = str(rng.choice(sorted(R.SOCK_COLOURS)))
        c["sock_height_m"] = round(float(rng.uniform(0.04, 0.14)), 3)
    if feet == "shoes":
        c["shoe_colour"] = str(rng.choice(sorted(R.SHOE_COLOURS)))
    return c


def strat(rng, values: list, n: int) -> list:
    """n values cycling through `values` in shuffled rounds (balanced, order random)."""
    out = []
    while len(out) < n:
        out += [values[i] for i in rng.permutation(len(values))]
    return out[:n]


def seat_pose(rng, seat: str) -> dict:
    """Thigh slope on the seat: a high plinth lets the knees drop below the hips (+), a chair keeps
    them level or a little higher (-); the shank hangs vertically at rest (knee flexion 90 - slope)."""
    s = round(float(rng.uniform(2.0, 8.0) if seat == "plinth" else rng.uniform(-4.0, 1.0)), 2)
    if s == 0.0:
        s = 0.01
    return {"thigh_pitch": s, "knee_flex": round(90.0 - s, 2)}


IR_BANDS = [(5, 15), (15, 30), (30, 45), (45, 58)]
ER_BANDS = [(5, 20), (20, 40)]
REST_BINS = [(0, 5), (5, 10), (10, 15), (15, 20)]
TREMOR_PERIODS = [4, 5, 6]  # frames at 30 fps: 7.5, 6, 5 Hz
SPEED_DEG_S = 90.0  # ramp duration = angle / speed, clipped to 0.4-0.7 s


def clip_segments(rng, leg: str, reps: list, period: int, comp: dict | None = None) -> list:
    """Frame-exact timeline: rest, then each rep (ramp out, hold 1.2-2 s, mirrored ramp back, rest).
    Each hold is lengthened by < period frames so that the move is symmetric about a multiple of
    period/2 frames: the (symmetric, periodic) tremor then matches on the mirrored return ramp.
    ``comp``: a compensation made during every internal-rotation rep (the compensation set)."""
    segs = []
    n = int(rng.integers(12, 19))
    segs.append({"type": "rest", "dur": n / FPS})
    for j, (direction, deg) in enumerate(reps):
        rf = int(round(float(np.clip(deg / SPEED_DEG_S, 0.4, 0.7)) * FPS))
        hf = int(rng.integers(36, 55))
        while (2 * n + 2 * rf + hf) % period:
            hf += 1
        segs.append(
            R.move(
                leg,
                direction,
                deg,
                ramp=rf / FPS,
                hold=hf / FPS,
                ramp_back=rf / FPS,
                comp=comp if direction == "internal" else None,
            )
        )
        n += 2 * rf + hf
        gap = int(rng.integers(9, 16)) if j < len(reps) - 1 else 9
        segs.append({"type": "rest", "dur": gap / FPS})
        n += gap
    return segs


def tremor_spec(rng, period: int) -> dict:
    """The clip's tremor: periodic at ``period`` frames, random harmonic, amplitudes, signs."""
    return {
        "period_frames": period,
        "frequency_hz": round(FPS / period, 3),
        "harmonic": round(float(rng.uniform(0.0, 0.35)), 3),
        "tested_amp_deg": round(float(rng.uniform(0.3, 1.0)), 3),
        "resting_amp_deg": round(float(rng.uniform(0.3, 1.0)), 3),
        "tested_sign": float(rng.choice([-1.0, 1.0])),
        "resting_sign": float(rng.choice([-1.0, 1.0])),
        "model": "periodic (fundamental + 2nd harmonic), applied to the resting leg "
        "in every frame and to the tested leg during its holds",
    }


def seated_item(rng, set_name: str, kind: str, subj: dict, nuis: dict, cs: dict, res: int,
                seat: str, group: tuple[str, str], split: str, compensation) -> dict:
    """The fields every seated-test item of the v2 sets shares (draws the seat's pose)."""
    return {
        "set": set_name,
        "kind": kind,
        "subject": subj,
        "nuisance": nuis,
        "camera_spec": cs,
        "pose": seat_pose(rng, seat),
        "compensation": compensation,
        "render": dict(V2_RENDER, res_long=res),
        "group": {"body": group[0], "camera_setup": group[1]},
        "split": split,
        "posture": "seated_test",
        "valid_test_view": True,
    }


def unique_pose_count(item: dict) -> int:
    """Distinct renders an item needs (same dedup key as render_item, without building a body)."""
    if item["kind"] == "still":
        return 1
    frames, _, _ = R.build_timeline(item["segments"])
    frames, _ = R.add_resting_and_tremor(item, frames)
    return len({(round(r["left"], 5), round(r["right"], 5)) for _, r, _, _ in frames})


# --------------------------------------------------------------------------- validation2
def define_validation2(seed: int) -> list:
    bodies = {s["id"]: s for s in bodies_v2(seed)}
    hold_b, hold_c = holdout_ids(seed)
    rng = np.random.default_rng([seed, 12])
    items = []
    plan = [
        ("fit", "clip", 36),
        ("holdout", "clip", 12),
        ("fit", "still", 18),
        ("holdout", "still", 6),
    ]
    k = 0
    for split, kind, n in plan:
        bset = [b for b in sorted(bodies) if (b in hold_b) == (split == "holdout")]
        cset = [c for c in sorted(CAMERA_SETUPS) if (c in hold_c) == (split == "holdout")]
        body_seq, cam_seq = strat(rng, bset, n), strat(rng, cset, n)
        light_seq = strat(rng, LIGHTING, n)
        seat_seq = strat(rng, ["plinth", "chair"], n)
        lower_seq = strat(rng, ["trousers", "shorts"], n)
        feet_seq = strat(rng, ["barefoot", "socks", "shoes"], n)
        rest_seq = strat(rng, REST_BINS, n)
        leg_seq = strat(rng, ["left", "right"], n)
        per_seq = strat(rng, TREMOR_PERIODS, n)
        ir_seq, er_seq = strat(rng, IR_BANDS, n), strat(rng, ER_BANDS, n)
        dir_seq = strat(rng, ["internal", "external", "internal"], n)  # stills: tested direction
        n_trousers = 0
        for i in range(n):
            low = None
            if lower_seq[i] == "trousers":
                if n_trousers % 3 == 0:  # every third pair of trousers matches the seat and floor
                    low = ["beige", "black"][(n_trousers // 3) % 2]
                n_trousers += 1
            subj = dict(bodies[body_seq[i]])
            subj["clothing"] = clothing_v2(rng, lower_seq[i], feet_seq[i], low)
            nuis = nuisance_v2(rng, light_seq[i], seat_seq[i], low)
            cs, res = camera_v2(rng, cam_seq[i])
            cs["aim"] = "body"
            leg = leg_seq[i]
            other = "right" if leg == "left" else "left"
            r_rest = round(float(rng.uniform(*rest_seq[i])), 3)
            ir = round(float(rng.uniform(*ir_seq[i])), 3)
            er = round(float(rng.uniform(*er_seq[i])), 3)
            item = seated_item(rng, "validation2", kind, subj, nuis, cs, res, seat_seq[i],
                               (body_seq[i], cam_seq[i]), split, None)
            cond = {
                "lighting": light_seq[i],
                "seat": seat_seq[i],
                "lower": lower_seq[i],
                "lower_colour": subj["clothing"].get("lower_colour", subj["shorts_colour"]),
                "feet": feet_seq[i],
                "low_contrast": low is not None,
                "portrait": cs["orientation"] == "portrait",
                "resting_leg_deg": r_rest,
            }
            if kind == "clip":
                P = per_seq[i]
                reps = [("internal", ir), ("external", er)]
                if rng.random() < 0.5:
                    reps = reps[::-1]
                item["segments"] = clip_segments(rng, leg, reps, P)
                item["resting"] = {"leg": other, "rotation_deg": r_rest}
                item["tremor"] = tremor_spec(rng, P)
                item["tested"] = [leg]
                cond["tremor_hz"] = item["tremor"]["frequency_hz"]
                stem = f"v2_{k:02d}_{split}_{body_seq[i]}_{cam_seq[i]}_{leg}_in{int(round(ir)):02d}_ex{int(round(er)):02d}"
            else:
                d = dir_seq[i]
                deg = ir if d == "internal" else -er
                item["still_pose"] = {leg: deg, other: r_rest}
                item["tested"] = [leg]
                stem = f"v2_{k:02d}_{split}_{body_seq[i]}_{cam_seq[i]}_still_{leg}_{d[:2]}{int(round(abs(deg))):02d}"
            item["conditions"] = cond
            item["stem"] = stem
            items.append(item)
            k += 1
    return items


# --------------------------------------------------------------------------- compensation
COMPENSATIONS = ["pelvis_roll", "trunk_lean", "knee_drift"]
COMP_MAGNITUDE_DEG = (8.0, 14.0)  # pelvis roll, trunk lean or thigh ab/adduction at the hold


def define_compensation(seed: int, kinds: list | None = None, counts: tuple = (18, 6),
                        stream: int = 14, name: str = "compensation", prefix: str = "comp") -> list:
    """Clips whose internal-rotation hold is made with a compensation (the hip line rolling,
    the trunk leaning, the knee drifting out or in), on validation2's bodies, camera setups and
    split (the same held-out bodies and setups), for fitting and checking the rep flags out of
    group. One IR rep per clip; the other leg rests in 0-20 deg of IR with tremor.

    ``kinds`` (default: all three), ``counts`` (fit, held-out clips), ``stream`` (the seed
    stream), ``name`` and ``prefix`` make the other compensation sets (``define_knee_drift``).
    """
    bodies = {s["id"]: s for s in bodies_v2(seed)}
    hold_b, hold_c = holdout_ids(seed)
    rng = np.random.default_rng([seed, stream])
    items = []
    k = 0
    for split, n in (("fit", counts[0]), ("holdout", counts[1])):
        bset = [b for b in sorted(bodies) if (b in hold_b) == (split == "holdout")]
        cset = [c for c in sorted(CAMERA_SETUPS) if (c in hold_c) == (split == "holdout")]
        body_seq, cam_seq = strat(rng, bset, n), strat(rng, cset, n)
        comp_seq = strat(rng, kinds or COMPENSATIONS, n)
        light_seq = strat(rng, LIGHTING, n)
        seat_seq = strat(rng, ["plinth", "chair"], n)
        lower_seq = strat(rng, ["trousers", "shorts"], n)
        feet_seq = strat(rng, ["barefoot", "socks", "shoes"], n)
        rest_seq = strat(rng, REST_BINS, n)
        side_seq = strat(rng, ["left", "right"], n)
        per_seq = strat(rng, TREMOR_PERIODS, n)
        ir_seq = strat(rng, IR_BANDS[1:], n)  # 15-58 deg: a compensation goes with effort
        sign_seq = strat(rng, [1.0, -1.0], n)  # knee drift: abduction or adduction
        for i in range(n):
            subj = dict(bodies[body_seq[i]])
            subj["clothing"] = clothing_v2(rng, lower_seq[i], feet_seq[i], None)
            nuis = nuisance_v2(rng, light_seq[i], seat_seq[i])
            cs, res = camera_v2(rng, cam_seq[i])
            cs["aim"] = "body"
            kind, side = comp_seq[i], side_seq[i]
            # the trunk leans away from the tested leg (the v1 set's convention)
            leg = side if kind != "trunk_lean" else ("left" if side == "right" else "right")
            other = "right" if leg == "left" else "left"
            mag = round(float(rng.uniform(*COMP_MAGNITUDE_DEG)), 2)
            comp = {"type": kind, "side": side, "magnitude_deg_or_m": mag, "leg": leg}
            if kind == "knee_drift":
                comp["abduction_sign"] = sign_seq[i]
            r_rest = round(float(rng.uniform(*rest_seq[i])), 3)
            ir = round(float(rng.uniform(*ir_seq[i])), 3)
            P = per_seq[i]
            item = seated_item(rng, name, "clip", subj, nuis, cs, res, seat_seq[i],
                               (body_seq[i], cam_seq[i]), split, comp)
            item["segments"] = clip_segments(rng, leg, [("internal", ir)], P, comp=comp)
            item["resting"] = {"leg": other, "rotation_deg": r_rest}
            item["tremor"] = tremor_spec(rng, P)
            item["tested"] = [leg]
            item["conditions"] = {
                "lighting": light_seq[i],
                "seat": seat_seq[i],
                "lower": lower_seq[i],
                "feet": feet_seq[i],
                "portrait": cs["orientation"] == "portrait",
                "resting_leg_deg": r_rest,
                "tremor_hz": round(FPS / P, 3),
            }
            what = kind if kind != "knee_drift" else ("knee_out" if sign_seq[i] > 0 else "knee_in")
            item["stem"] = (
                f"{prefix}_{k:02d}_{split}_{body_seq[i]}_{cam_seq[i]}_{leg}_in{int(round(ir)):02d}_{what}"
            )
            items.append(item)
            k += 1
    return items


def define_knee_drift(seed: int) -> list:
    """16 more clips of the weakest flag: the knee drifting out or in (8-14 deg of thigh
    ab/adduction) during an IR hold; 12 fit, 4 held out, as the compensation set."""
    return define_compensation(seed, ["knee_drift"], (12, 4), stream=15, name="knee_drift",
                               prefix="drift")


# --------------------------------------------------------------------------- postures
POSTURES = ["seated_test", "legs_forward", "side_view", "standing", "floor_sitting"]


def define_postures(seed: int) -> list:
    bodies = bodies_v2(seed)
    hold_b, _ = holdout_ids(seed)
    rng = np.random.default_rng([seed, 13])
    u = lambda a, b: round(float(rng.uniform(a, b)), 2)  # noqa: E731
    plan = (
        [("seated_test", "clip", None)] * 4
        + [("seated_test", "still", None)] * 4
        + [("side_view", "still", None)] * 3
        + [("side_view", "clip", None)] * 3
        + [("legs_forward", "still", "seat")] * 4
        + [("legs_forward", "still", "floor")] * 2
        + [("standing", "still", None)] * 5
        + [("floor_sitting", "still", "knees_up")] * 3
        + [("floor_sitting", "still", "ninety_ninety")] * 2
    )
    n = len(plan)
    # bodies and tested legs balanced within each posture, so that both splits hold every posture
    # (about a third of each posture's items on the 3 held-out bodies)
    by_id = {b["id"]: i for i, b in enumerate(bodies)}
    fit_b = [by_id[b] for b in sorted(by_id) if b not in hold_b]
    hold_i = [by_id[b] for b in hold_b]
    body_seq, leg_seq = [0] * n, [""] * n
    for posture in POSTURES:
        idx = [k for k, (p_, _, _) in enumerate(plan) if p_ == posture]
        n_h = max(1, round(len(idx) / 3))
        chosen = strat(rng, hold_i, n_h) + strat(rng, fit_b, len(idx) - n_h)
        legs = strat(rng, ["left", "right"], len(idx))
        for j, k in enumerate(rng.permutation(idx)):
            body_seq[k], leg_seq[k] = chosen[j], legs[j]
    light_seq = strat(rng, LIGHTING, n)
    lower_seq = strat(rng, ["trousers", "shorts"], n)
    feet_seq = strat(rng, ["barefoot", "socks", "shoes"], n)
    aspect_seq = strat(rng, ["4:3", "16:9", "9:16", "3:4"], n)
    items = []
    for k, (posture, kind, variant) in enumerate(plan):
        subj = dict(bodies[body_seq[k]])
        subj["clothing"] = clothing_v2(rng, lower_seq[k], feet_seq[k], None)
        seat = {"standing": "standing", "floor_sitting": "floor"}.get(posture, "plinth")
        if posture == "legs_forward":
            seat = "floor" if variant == "floor" else str(rng.choice(["plinth", "chair"]))
        elif posture in ("seated_test", "side_view"):
            seat = str(rng.choice(["plinth", "chair"]))
        side = posture == "side_view"
        nuis = nuisance_v2(rng, light_seq[k], seat, None, side_view=side)
        if seat in ("floor", "standing"):
            nuis["background_plinth"] = bool(rng.random() < 0.5)
        # camera
        if side:
            yaw = float(
                rng.choice([-1, 1])
                * (rng.uniform(70, 90) if kind == "still" else rng.uniform(45, 65))
            )
        else:
            yaw = float(rng.uniform(-25, 25))
        dist = float(rng.uniform(2.2, 3.8) if posture == "standing" else rng.uniform(1.6, 3.5))
        aspect = aspect_seq[k]
        aw, ah = (int(v) for v in aspect.split(":"))
        low_seat = seat in ("floor", "standing")  # knees near the floor: keep the camera off it
        cs = {
            "setup": f"{posture}_random",
            "distance_m": dist,
            "pitch_deg": float(rng.uniform(-3, 22) if low_seat else rng.uniform(-8, 22)),
            "yaw_deg": yaw,
            "roll_deg": float(rng.uniform(-3, 3)),
            "fov_long_deg": float(rng.uniform(55, 78)),
            "aspect": aspect,
            "orientation": "portrait" if ah > aw else "landscape",
            "aim": "body",
        }
        leg = leg_seq[k]
        other = "right" if leg == "left" else "left"
        r_rest = u(0, 20)
        item = {
            "set": "postures",
            "kind": kind,
            "subject": subj,
            "nuisance": nuis,
            "camera_spec": cs,
            "compensation": None,
            "render": dict(V2_RENDER, res_long=640),
            "posture": posture,
            "valid_test_view": posture == "seated_test",
            "group": {"body": subj["id"], "camera_setup": cs["setup"]},
            "split": "holdout" if subj["id"] in hold_b else "fit",
        }
        tested: list = []
        if posture in ("seated_test", "side_view"):
            item["pose"] = seat_pose(rng, seat)
            if kind == "clip":
                d = str(rng.choice(["internal", "external"]))
                deg = u(15, 50) if d == "internal" else u(10, 35)
                rf = int(round(float(np.clip(deg / SPEED_DEG_S, 0.4, 0.7)) * FPS))
                item["segments"] = [
                    {"type": "rest", "dur": 15 / FPS},
                    R.move(leg, d, deg, ramp=rf / FPS, hold=1.0, ramp_back=rf / FPS),
                    {"type": "rest", "dur": 9 / FPS},
                ]
                item["resting"] = {"leg": other, "rotation_deg": r_rest}
                desc = f"{leg}_{d[:2]}{int(round(deg)):02d}"
            else:
                deg = u(-35, 50)
                item["still_pose"] = {leg: deg, other: r_rest}
                desc = f"{leg}_{'in' if deg >= 0 else 'ex'}{int(round(abs(deg))):02d}"
            tested = [leg]
        elif posture == "legs_forward":
            if variant == "floor":  # long sitting on the floor
                item["pose"] = {
                    "thigh_pitch": 0.0,
                    "knee_flex": u(0, 12),
                    "plantar": u(5, 15),
                    "trunk_pitch": u(0, 12),
                    "arm_abd": u(10, 20),
                    "elbow_flex": u(0, 15),
                    "no_make_room": True,
                }
            else:  # on the seat, knees straightened forward
                item["pose"] = {
                    "thigh_pitch": u(-3, 3) or 0.01,
                    "knee_flex": u(5, 35),
                    "plantar": u(5, 20),
                    "no_make_room": True,
                }
            item["still_pose"] = {"left": u(-5, 5), "right": u(-5, 5)}
            desc = variant
        elif posture == "standing":
            item["pose"] = {
                "legs": "rest",
                "plantar": 0.0,
                "arm_abd": u(4, 12),
                "elbow_flex": u(5, 25),
            }
            item["still_pose"] = {"left": u(-5, 10), "right": u(-5, 10)}
            desc = "arms_down"
        else:  # floor_sitting
            if variant == "knees_up":
                item["pose"] = {
                    "thigh_pitch": -u(35, 50),
                    "feet_on_floor": True,
                    "plantar": -10.0,
                    "abd_left": u(3, 15),
                    "abd_right": u(3, 15),
                    "trunk_pitch": u(-10, 5),
                    "arm_abd": u(15, 25),
                    "elbow_flex": u(0, 20),
                    "arm_fwd": -0.2,
                    "no_make_room": True,
                }
                item["still_pose"] = {"left": u(-5, 10), "right": u(-5, 10)}
            else:  # 90/90: front leg in external rotation, back leg in internal rotation
                front = leg
                back = other
                item["pose"] = {
                    "thigh_pitch": 0.0,
                    f"abd_{front}": u(20, 35),
                    f"abd_{back}": u(65, 80),
                    "knee_flex": 90.0,
                    "plantar": 10.0,
                    "arm_abd": u(15, 25),
                    "elbow_flex": u(0, 15),
                    "no_make_room": True,
                }
                item["still_pose"] = {front: -u(65, 80), back: u(60, 75)}
            desc = variant
        item["tested"] = tested
        item["conditions"] = {
            "lighting": light_seq[k],
            "seat": seat,
            "lower": lower_seq[k],
            "feet": feet_seq[k],
            "portrait": cs["orientation"] == "portrait",
        }
        item["stem"] = f"post_{k:02d}_{posture}_{kind}_{item['split']}_{subj['id']}_{desc}"
        items.append(item)
    return items


# --------------------------------------------------------------------------- coverage
def _rng(vals):
    vals = [v for v in vals if v is not None]
    return (round(min(vals), 2), round(max(vals), 2)) if vals else None


def coverage(items: list) -> dict:
    """What a v2 set covers, computed from its definition alone (no rendering)."""
    subs = {it["subject"]["id"]: it["subject"] for it in items}
    clips = [it for it in items if it["kind"] == "clip"]
    cams = [it["camera_spec"] for it in items]
    resting = [it["resting"]["rotation_deg"] for it in clips if it.get("resting")]
    tr = [it["tremor"] for it in clips if it.get("tremor")]
    cnt = lambda key: {
        v: sum(1 for it in items if it.get("conditions", {}).get(key) == v)  # noqa: E731
        for v in sorted({it.get("conditions", {}).get(key) for it in items} - {None}, key=str)
    }
    cov = {
        "items": len(items),
        "clips": len(clips),
        "stills": len(items) - len(clips),
        "bodies": len(subs),
        "sexes": sorted({s["sex"] for s in subs.values()}),
        "skin_tones": sorted({s["skin_tone"] for s in subs.values()}),
        "age_years": _rng([s["age_years"] for s in subs.values()]),
        "height_macro": _rng([s["macro"]["height"] for s in subs.values()]),
        "weight_macro": _rng([s["macro"]["weight"] for s in subs.values()]),
        "lower": cnt("lower"),
        "feet": cnt("feet"),
        "low_contrast": sum(1 for it in items if it.get("conditions", {}).get("low_contrast")),
        "lighting": cnt("lighting"),
        "seat": cnt("seat"),
        "thigh_slope_deg": _rng(
            [
                it.get("pose", {}).get("thigh_pitch")
                for it in items
                if it.get("posture", "seated_test") in ("seated_test", "side_view")
            ]
        ),
        "pitch_deg": _rng([c["pitch_deg"] for c in cams]),
        "yaw_deg": _rng([c["yaw_deg"] for c in cams]),
        "distance_m": _rng([c["distance_m"] for c in cams]),
        "fov_long_deg": _rng([c["fov_long_deg"] for c in cams]),
        "aspects": {
            a: sum(1 for c in cams if c.get("aspect") == a)
            for a in sorted({c.get("aspect") for c in cams})
        },
        "portrait": sum(1 for c in cams if c["orientation"] == "portrait"),
        "resting_leg_deg": _rng(resting),
        "resting_leg_bins": {
            f"{a}-{b}": sum(1 for r in resting if a <= r < b or (b == 20 and r == 20))
            for a, b in REST_BINS
        },
        "tremor_hz": sorted({t["frequency_hz"] for t in tr}),
        "tremor_amp_deg": _rng([t[k] for t in tr for k in ("tested_amp_deg", "resting_amp_deg")]),
        "postures": {
            p: sum(1 for it in items if it.get("posture") == p)
            for p in POSTURES
            if any(it.get("posture") == p for it in items)
        },
        "split": {s: sum(1 for it in items if it.get("split") == s) for s in ("fit", "holdout")},
        "split_bodies": {
            s: sorted({it["group"]["body"] for it in items if it.get("split") == s})
            for s in ("fit", "holdout")
        },
        "split_camera_setups": {
            s: sorted({it["group"]["camera_setup"] for it in items if it.get("split") == s})
            for s in ("fit", "holdout")
        },
        "unique_renders": sum(unique_pose_count(it) for it in items),
    }
    return cov


def coverage_markdown(items: list) -> str:
    c = coverage(items)
    return "\n".join(["| what | covered |", "|---|---|"] + [f"| {k} | {v} |" for k, v in c.items()])
