#!/usr/bin/env python3
"""Sanity check of rendered media against their truth with MediaPipe Pose.

    python synth/check_mediapipe.py DIR_OR_TRUTH_JSON...
                                    [--model models/pose_landmarker_full.task]
                                    [--overlay OUTDIR] [--every N]

For every <stem>.truth.json: runs the PoseLandmarker on (a subsample of) the frames, reports the
detection rate and the pixel distance between MediaPipe landmarks 23-28 (hips, knees, ankles)
and the projected true joint centres, and the mean |shank-angle| error of a naive 2-D estimate.
With --overlay, writes PNGs with truth (green circles) and MediaPipe (red crosses) drawn.
MediaPipe's hip landmark is not the anatomical hip-joint centre, so hip offsets of a few
centimetres are expected; knees and ankles should agree closely.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

MP_IDX = {
    "left_hip": 23,
    "right_hip": 24,
    "left_knee": 25,
    "right_knee": 26,
    "left_ankle": 27,
    "right_ankle": 28,
}


def load_frames(truth_path: Path, every: int):
    import cv2

    T = json.loads(truth_path.read_text())
    media = truth_path.parent / T["media"]
    out = []
    if T["kind"] == "still":
        out.append((0, cv2.imread(str(media))))
    else:
        cap = cv2.VideoCapture(str(media))
        i = 0
        while True:
            ok, im = cap.read()
            if not ok:
                break
            if i % every == 0:
                out.append((i, im))
            i += 1
    return T, out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+")
    ap.add_argument(
        "--model",
        default=str(Path(__file__).resolve().parents[1] / "models" / "pose_landmarker_full.task"),
    )
    ap.add_argument("--overlay")
    ap.add_argument("--every", type=int, default=5)
    a = ap.parse_args(argv)
    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions
    from mediapipe.tasks.python.vision import PoseLandmarker, PoseLandmarkerOptions, RunningMode

    truths = []
    for p in a.paths:
        p = Path(p)
        truths += sorted(p.glob("*.truth.json")) if p.is_dir() else [p]
    ov = Path(a.overlay) if a.overlay else None
    if ov:
        ov.mkdir(parents=True, exist_ok=True)
    summary = []
    for tp in truths:
        T, frames = load_frames(tp, a.every)
        opts = PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=a.model),
            running_mode=RunningMode.IMAGE,
            num_poses=1,
            min_pose_detection_confidence=0.5,
        )
        det = 0
        errs = {k: [] for k in MP_IDX}
        ang_err = []
        with PoseLandmarker.create_from_options(opts) as lm:
            for fi, im in frames:
                H, W = im.shape[:2]
                res = lm.detect(
                    mp.Image(
                        image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(im, cv2.COLOR_BGR2RGB)
                    )
                )
                fr = T["frames"][fi]
                if res.pose_landmarks:
                    det += 1
                    L = res.pose_landmarks[0]
                    pred = {k: np.array([L[i].x * W, L[i].y * H]) for k, i in MP_IDX.items()}
                    for k in MP_IDX:
                        err = np.linalg.norm(pred[k] - np.array(fr["joints_2d_px"][k]))
                        errs[k].append(float(err))
                    for s in ("left", "right"):
                        kx, ky = pred[f"{s}_knee"]
                        ax_, ay = pred[f"{s}_ankle"]
                        # + = ankle to image right; unmirrored: left IR -> image right
                        ang = math.degrees(math.atan2(ax_ - kx, ay - ky))
                        est = ang if s == "left" else -ang
                        ang_err.append(abs(est - fr["rotation_deg"][s]))
                else:
                    pred = None
                if ov and (fi % (a.every * 6) == 0 or T["kind"] == "still"):
                    img = im.copy()
                    for xy in fr["joints_2d_px"].values():
                        cv2.circle(
                            img,
                            (int(round(xy[0] - 0.5)), int(round(xy[1] - 0.5))),
                            6,
                            (0, 255, 0),
                            2,
                        )
                    if pred:
                        for xy in pred.values():
                            x, y = int(round(xy[0] - 0.5)), int(round(xy[1] - 0.5))
                            cv2.drawMarker(img, (x, y), (0, 0, 255), cv2.MARKER_CROSS, 12, 2)
                    rot = fr["rotation_deg"]
                    cv2.putText(
                        img,
                        f"L {rot['left']:.1f}  R {rot['right']:.1f}",
                        (8, 20),
                        cv2.FONT_HERSHEY_SIMPLEX,
                        0.6,
                        (255, 255, 255),
                        2,
                    )
                    stem = tp.name.replace(".truth.json", "")
                    cv2.imwrite(str(ov / f"{stem}_f{fi:04d}.png"), img)
        row = {
            "stem": tp.name.replace(".truth.json", ""),
            "frames_checked": len(frames),
            "detected": det,
            "median_px_err": {
                k: (round(float(np.median(v)), 1) if v else None) for k, v in errs.items()
            },
            "naive_2d_shank_angle_mae_deg": (
                round(float(np.mean(ang_err)), 2) if ang_err else None
            ),
        }
        summary.append(row)
        print(json.dumps(row), flush=True)
    return 0 if all(r["detected"] == r["frames_checked"] for r in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
