from contextlib import nullcontext as does_not_raise

import numpy as np
import pytest

from hiprom.core.landmarks import EDGES, LEG_EDGES, N_LANDMARKS, LandmarkName, Landmarks
from hiprom.errors import InputError


@pytest.mark.parametrize(
    ("xy_shape", "vis_shape", "expectation"),
    [
        ((1, 33, 2), (1, 33), does_not_raise()),  # one person
        ((0, 33, 2), (0, 33), does_not_raise()),  # nobody
        ((3, 33, 2), (3, 33), does_not_raise()),  # a crowd
        ((33, 2), (33,), pytest.raises(InputError, match=r"shape \(n, 33, 2\), got \(33, 2\)")),
        ((1, 17, 2), (1, 17), pytest.raises(InputError, match="got \\(1, 17, 2\\)")),
        ((1, 33, 2), (2, 33), pytest.raises(InputError, match="visibility must have shape")),
    ],
)
def test_landmarks_shapes(xy_shape, vis_shape, expectation):
    with expectation:
        lm = Landmarks(np.zeros(xy_shape), np.zeros(vis_shape), (640, 480))
        assert lm.n_persons == xy_shape[0]
        assert lm.xy.dtype == np.float32


def test_landmark_names_follow_blazepose_indices():
    assert len(LandmarkName) == N_LANDMARKS
    assert LandmarkName.LEFT_KNEE == 25 and LandmarkName.RIGHT_ANKLE == 28
    assert all(a != b for a, b in EDGES)
    assert set(LEG_EDGES) <= set(EDGES)


def test_flip_mirrors_x_and_keeps_labels():
    xy = np.zeros((1, 33, 2), np.float32)
    xy[0, LandmarkName.LEFT_KNEE] = (500, 200)
    lm = Landmarks(xy, np.ones((1, 33)), (640, 480))
    flipped = lm.flipped_horizontally()
    assert flipped.xy[0, LandmarkName.LEFT_KNEE].tolist() == [140, 200]
    assert lm.xy[0, LandmarkName.LEFT_KNEE].tolist() == [500, 200]  # input untouched
    assert np.allclose(flipped.flipped_horizontally().xy, lm.xy)


def test_person_slices_one_person():
    xy = np.arange(2 * 33 * 2, dtype=np.float32).reshape(2, 33, 2)
    lm = Landmarks(xy, np.ones((2, 33)), (640, 480))
    assert lm.person(1).n_persons == 1
    assert np.array_equal(lm.person(1).xy[0], xy[1])
