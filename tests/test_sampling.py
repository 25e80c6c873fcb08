"""Adaptive sampling: which frames are analysed, and the protocol's statistics on them.

Synthetic pixels and a replaying backend (no model): a "shank" drawn on a textured
background moves out, holds and comes back, so the picture moves exactly where the angle
does. The real-model check against every frame is in tests/test_samples.py.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from builders import one_rep_deg
from hiprom.core import filters as flt
from hiprom.core.landmarks import LandmarkName as L
from hiprom.core.landmarks import Landmarks
from hiprom.media.frames import Frame
from hiprom.pipeline.analysis import FrameRecord, MeasureOptions
from hiprom.pipeline.measure import measure_path
from hiprom.pipeline.sampling import (
    AdaptiveFrames,
    SamplingPolicy,
    interval_step,
    leg_region,
    moved_fraction,
)

FPS = 30.0
W, H = 640, 480
KNEE = np.array([400.0, 240.0])
SHANK_PX = 150.0


def angle_at(t: float) -> float:
    """Neutral 2 s, out to 35° in 0.6 s, hold 2 s, back in 0.6 s, neutral."""
    return one_rep_deg(t, 35.0)


def ankle_at(t: float) -> np.ndarray:
    rad = math.radians(angle_at(t))
    return KNEE + SHANK_PX * np.array([math.sin(rad), math.cos(rad)])


def background() -> np.ndarray:
    rng = np.random.default_rng(3)
    return cv2.GaussianBlur(rng.integers(60, 200, (H, W, 3), dtype=np.uint8), (0, 0), 3)


def picture(t: float, base: np.ndarray) -> np.ndarray:
    image = base.copy()
    ankle = ankle_at(t)
    cv2.line(image, tuple(int(v) for v in KNEE), tuple(int(v) for v in ankle), (20, 20, 230), 18)
    cv2.circle(image, tuple(int(v) for v in ankle), 16, (240, 240, 240), -1)
    return image


def person(t: float) -> np.ndarray:
    """(33, 2) seated landmarks, femurs along the optical axis; the left shank moves."""
    xy = np.zeros((33, 2), np.float32)
    for hip, knee, ankle, x, moving in ((L.LEFT_HIP, L.LEFT_KNEE, L.LEFT_ANKLE, KNEE[0], True),
                                        (L.RIGHT_HIP, L.RIGHT_KNEE, L.RIGHT_ANKLE, 280.0, False)):
        xy[hip] = xy[knee] = (x, KNEE[1])
        xy[ankle] = ankle_at(t) if moving else (x, KNEE[1] + SHANK_PX)
    xy[[L.LEFT_HEEL, L.LEFT_FOOT_INDEX]] = xy[L.LEFT_ANKLE]
    xy[[L.RIGHT_HEEL, L.RIGHT_FOOT_INDEX]] = xy[L.RIGHT_ANKLE]
    xy[L.LEFT_SHOULDER], xy[L.RIGHT_SHOULDER] = (KNEE[0] + 10, 60), (270, 60)
    return xy


class ClockBackend:
    """A backend that knows the scene: the landmarks of the frame at ``timestamp_s``."""

    name = "clock"

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, image_rgb: np.ndarray, *, timestamp_s: float) -> Landmarks:
        self.calls.append(timestamp_s)
        return Landmarks(person(timestamp_s)[None], np.ones((1, 33)), (W, H))

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> ClockBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("sampling") / "swing.avi"
    base = background()
    # MJPG: every frame stands alone, so the still frames decode the same.
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (W, H))
    for i in range(int(6.5 * FPS)):
        writer.write(picture(i / FPS, base))
    writer.release()
    return path


def _record(index: int, t: float, angle: float) -> FrameRecord:
    # The sampler reads only the legs' rotation_deg and the landmarks.
    legs = SimpleNamespace(left=SimpleNamespace(rotation_deg=angle),
                           right=SimpleNamespace(rotation_deg=0.0))
    return FrameRecord(index, t, 1, legs, person(t), np.ones(33, np.float32))


def _select(frames: list[Frame], policy: SamplingPolicy | None = None) -> list[int]:
    """Run the sampler as the per-frame loop does: a record after each yielded frame."""
    records: list[FrameRecord] = []
    sampler = AdaptiveFrames(iter(frames), records, step=4, policy=policy)
    for frame in sampler:
        records.append(_record(frame.index, frame.timestamp_s, angle_at(frame.timestamp_s)))
    assert sampler.frames_seen == len(frames)
    assert sampler.frames_yielded == len(records)
    return [r.frame_index for r in records]


def test_still_stretches_are_sparse_and_movements_dense():
    base = background()
    frames = [Frame(i, i / FPS, picture(i / FPS, base)) for i in range(int(6.5 * FPS))]
    chosen = _select(frames)
    assert chosen == sorted(set(chosen)) and chosen[0] == 0 and chosen[-1] == len(frames) - 1
    moving = [i for i in range(1, len(frames)) if angle_at(i / FPS) != angle_at((i - 1) / FPS)]
    still = [i for i in range(len(frames)) if i not in moving]
    chosen_set = set(chosen)
    # Where nothing moves (after the first 0.25 s), about one frame in four.
    later_still = [i for i in still if i > 0.5 * FPS]
    assert sum(i in chosen_set for i in later_still) <= 0.4 * len(later_still)
    # The intervals (4 frames after the first) in which a movement starts or ends are
    # analysed whole: the edges of the holds.
    starts = [i for i in moving if i - 1 not in moving]
    ends = [i for i in moving if i + 1 not in moving]
    assert len(starts) == len(ends) == 2
    for f in starts + ends:
        k = (f - 1) // 4
        interval = set(range(4 * k + 1, 4 * k + 5))
        assert interval <= chosen_set, (f, sorted(chosen_set & interval))
    assert len(chosen) < 0.5 * len(frames)


def test_the_first_frames_are_analysed_while_the_tracker_settles():
    base = background()
    frames = [Frame(i, i / FPS, picture(0.0, base)) for i in range(60)]
    chosen = _select(frames)
    assert chosen[:5] == list(range(5))          # the intervals within 0.25 s, every frame
    assert np.all(np.diff(chosen[4:-1]) == 4)    # then one frame in four: nothing moves
    assert chosen[-1] == 59                      # and the clip's last frame


def test_a_turn_the_picture_does_not_show_makes_the_next_interval_dense():
    # The picture never changes, but the measured angle jumps between two sparse frames.
    base = background()
    frames = [Frame(i, i / FPS, picture(0.0, base)) for i in range(80)]
    records: list[FrameRecord] = []
    sampler = AdaptiveFrames(iter(frames), records, step=4)
    for frame in sampler:
        angle = 10.0 if frame.index >= 40 else 0.0
        records.append(_record(frame.index, frame.timestamp_s, angle))
    chosen = [r.frame_index for r in records]
    assert {41, 42, 43, 44} <= set(chosen) or {45, 46, 47, 48} <= set(chosen)


def test_leg_region_follows_the_landmarks_and_a_mirrored_frame():
    record = _record(0, 0.0, 0.0)
    x0, y0, x1, y1 = leg_region(record, (W, H))
    assert x0 < 280 < KNEE[0] < x1 and y0 < KNEE[1] < KNEE[1] + SHANK_PX < y1
    mx0, _, mx1, _ = leg_region(record, (W, H), mirrored=True)
    assert (mx0, mx1) == (W - x1, W - x0)
    assert leg_region(None, (W, H)) == (0, 0, W, H)


def test_moved_fraction_sees_a_moving_shank_but_not_a_brightness_change():
    base = background()
    region = (0, 0, W, H)
    a, b = picture(2.0, base), picture(2.3, base)
    assert moved_fraction(a, b, region) > SamplingPolicy().motion_fraction
    brighter = cv2.add(a, np.full_like(a, 25))
    assert moved_fraction(a, brighter, region) < SamplingPolicy().motion_fraction


def test_interval_step():
    assert interval_step(30.0, 7.5) == 4
    assert interval_step(60.0, 7.5) == 8
    assert interval_step(float("nan"), 7.5) == 1


def test_adaptive_measurement_matches_every_frame_and_says_how_much_it_analysed(clip):
    full = measure_path(clip, options=MeasureOptions(every_frame=True),
                        backend_factory=lambda mode: ClockBackend())
    adaptive = measure_path(clip, backend_factory=lambda mode: ClockBackend())
    assert full.source.sampling == "every_frame" and adaptive.source.sampling == "adaptive"
    assert full.source.frames_analysed == full.source.n_frames
    fraction = adaptive.source.frames_analysed_fraction
    assert fraction == pytest.approx(adaptive.source.frames_analysed / full.source.n_frames,
                                     abs=1e-4)
    assert fraction < 0.5
    doc = adaptive.source.to_dict()
    assert doc["frames_analysed"] == len(adaptive.frame_index)
    assert doc["frames_analysed_fraction"] == fraction
    a, b = full.legs["left"], adaptive.legs["left"]
    assert a.internal_rotation_deg == pytest.approx(35.0, abs=1.5)
    assert b.internal_rotation_deg == pytest.approx(a.internal_rotation_deg, abs=0.5)
    # Fewer, sparser frames never make the hold look surer than every frame does.
    assert b.internal_rotation_ci95_deg >= 0.95 * a.internal_rotation_ci95_deg


# ---------------------------------------------------------------- statistics on uneven frames


def test_evenly_spaced_series_keep_the_statistics_they_always_had():
    rng = np.random.default_rng(0)
    t = np.arange(90) / FPS
    x = 20 + np.convolve(rng.normal(0, 0.5, 96), np.ones(7) / 7, "valid")
    assert flt.regular_subset(t) is None
    assert flt.median_with_se(x, t, flt.frame_period(t)) == flt.median_with_se(x)
    strided = t[::3]  # a fixed stride is even too
    assert flt.regular_subset(strided) is None


def test_uneven_samples_are_weighted_by_time_and_counted_at_their_spacing():
    # A hold sampled every 4th frame, with runs of consecutive frames at both ends that
    # read 1° higher: a plain median would side with the runs.
    dense = np.r_[np.arange(0, 12), np.arange(84, 96)]
    sparse = np.arange(12, 84, 4)
    idx = np.sort(np.r_[dense, sparse])
    t = idx / FPS
    x = np.where(np.isin(idx, dense), 21.0, 20.0) + 0.01 * np.sin(idx)
    keep, spacing = flt.regular_subset(t, 1 / FPS)
    assert spacing == pytest.approx(4 / FPS)
    assert np.all(np.diff(t[keep]) >= 3 / FPS - 1e-9)
    centre, se, n_eff = flt.median_with_se(x, t, 1 / FPS)
    assert float(np.median(x)) == pytest.approx(21.0, abs=0.02)     # the runs outnumber
    assert centre == pytest.approx(20.0, abs=0.02)                   # their time does not
    assert n_eff <= keep.size


def test_sparse_samples_do_not_look_surer_than_every_frame():
    # Slowly wandering noise (correlated over many frames), seen every frame and sparsely.
    rng = np.random.default_rng(1)
    shrinks = 0
    for _ in range(40):
        noise = np.convolve(rng.normal(0, 1.0, 130), np.ones(12) / 12, "valid")[:90]
        t = np.arange(90) / FPS
        _, se_full, _ = flt.median_with_se(20 + noise)
        idx = np.r_[np.arange(0, 6), np.arange(6, 84, 4), np.arange(84, 90)]
        _, se_sparse, _ = flt.median_with_se(20 + noise[idx], t[idx], 1 / FPS)
        shrinks += se_sparse < 0.8 * se_full
    assert shrinks <= 4


def test_the_regular_spacing_is_the_sparse_one_even_when_runs_hold_half_the_time():
    # 0..8 every frame (warm-up), then every 4th frame, then a run again: as much time in
    # runs of consecutive frames as in the sparse stretch.
    idx = np.r_[np.arange(0, 9), 12, 16, np.arange(20, 25)]
    keep, spacing = flt.regular_subset(idx / FPS, 1 / FPS)
    assert spacing == pytest.approx(4 / FPS)
    assert np.all(np.diff(idx[keep]) >= 3)


def test_a_short_correlated_hold_s_interval_stays_bounded():
    # Eight strongly correlated samples: n_eff falls to its floor of 2, where a Student t
    # with one degree of freedom would multiply the half-width by 6.5; it is taken at
    # MIN_T_DOF (two) instead, as for an n_eff of 3.
    from scipy.special import stdtrit

    from hiprom.core.filters import MAD_TO_SD, MEDIAN_EFFICIENCY, MIN_T_DOF, median_with_se
    from hiprom.vocabulary import Z95

    values = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    centre, se, n_eff = median_with_se(values)
    assert n_eff == 2.0
    sd = MAD_TO_SD * float(np.median(np.abs(values - centre)))
    expected = stdtrit(MIN_T_DOF, 0.975) / Z95 * MEDIAN_EFFICIENCY * sd / np.sqrt(2.0)
    assert se == pytest.approx(expected)
    assert se < 3 * MEDIAN_EFFICIENCY * sd / np.sqrt(2.0)
