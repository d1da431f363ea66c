"""Label fusion: majority vote, locally weighted vote, multi-label STAPLE."""

from __future__ import annotations

import numpy as np
import pytest
from tests.hostile import assert_clear_error, hostile_cases

from napari_segtools.core.fusion import local_ncc, majority_vote, staple, weighted_vote

pytest.importorskip("SimpleITK")


@pytest.fixture
def noisy_raters():
    """A 3-label truth and 5 raters that each flip 20 % of voxels to a random label."""
    rng = np.random.default_rng(0)
    truth = np.zeros((12, 16, 16), np.uint8)
    truth[2:10, 3:13, 3:13] = 3
    truth[4:8, 5:11, 5:11] = 7
    raters = [
        np.where(rng.random(truth.shape) < 0.2, rng.choice([0, 3, 7], truth.shape), truth).astype(
            np.uint8
        )
        for _ in range(5)
    ]
    return truth, raters


def test_majority_vote_hand_computed():
    maps = [np.array([[1, 0, 5]]), np.array([[1, 5, 0]]), np.array([[0, 5, 1]])]
    labels, probs = majority_vote(maps)
    np.testing.assert_array_equal(labels, [[1, 5, 0]])  # last voxel: 1 vote each -> background
    assert sorted(probs) == [1, 5]
    np.testing.assert_allclose(probs[1], [[2 / 3, 0, 1 / 3]], rtol=1e-6)
    np.testing.assert_allclose(probs[5], [[0, 2 / 3, 1 / 3]], rtol=1e-6)


def test_majority_vote_keeps_label_ids_and_sums_to_one(noisy_raters):
    truth, raters = noisy_raters
    labels, probs = majority_vote(raters)
    assert set(np.unique(labels)) == {0, 3, 7}
    background = 1 - probs[3] - probs[7]
    assert background.min() >= -1e-6
    # 5 raters each wrong on ~13 % of voxels: majority is right almost everywhere
    assert (labels == truth).mean() > 0.97
    assert all((labels == truth).mean() > (r == truth).mean() for r in raters)


def test_staple_recovers_truth_and_gives_posteriors(noisy_raters):
    truth, raters = noisy_raters
    labels, probs = staple(raters)
    assert (labels == truth).mean() > 0.97
    assert sorted(probs) == [3, 7]
    assert probs[7].dtype == np.float32
    assert probs[7][truth == 7].mean() > 0.9 and probs[7][truth == 0].mean() < 0.1
    assert (probs[3] + probs[7]).max() <= 1 + 1e-5


def test_staple_downweights_a_bad_rater():
    """Two good raters and one that marks everything: STAPLE follows the good ones."""
    truth = np.zeros((6, 10, 10), np.uint8)
    truth[1:5, 2:8, 2:8] = 1
    bad = np.ones_like(truth)
    labels, _ = staple([truth, truth, bad])
    np.testing.assert_array_equal(labels, truth)


def test_local_ncc_is_one_for_scaled_copy():
    rng = np.random.default_rng(1)
    a = rng.random((10, 12, 12))
    ncc = local_ncc(a, 3 * a + 2, spacing=(2.0, 1.0, 1.0), sigma_mm=2.0)
    np.testing.assert_allclose(ncc, 1.0, atol=1e-6)


def test_weighted_vote_trusts_the_atlas_that_matches_the_target():
    """Two atlases disagree; the one whose warped image matches the target wins locally."""
    rng = np.random.default_rng(2)
    target = rng.random((8, 20, 20))
    good_labels = np.zeros(target.shape, np.uint8)
    good_labels[:, :, :10] = 1
    bad_labels = 1 - good_labels
    labels, probs = weighted_vote(
        [bad_labels, good_labels],
        [rng.random(target.shape), target],
        target,
        spacing=(1.0, 1.0, 1.0),
    )
    np.testing.assert_array_equal(labels, good_labels)
    assert probs[1][good_labels == 1].min() > 0.9
    # with power 0 the weights are equal, so ties go to background
    flat, _ = weighted_vote(
        [bad_labels, good_labels], [target, target], target, spacing=(1.0, 1.0, 1.0), power=0
    )
    assert flat.max() == 0


def test_inputs_not_modified(noisy_raters):
    _, raters = noisy_raters
    copies = [r.copy() for r in raters]
    staple(raters)
    majority_vote(raters)
    for r, c in zip(raters, copies, strict=True):
        np.testing.assert_array_equal(r, c)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="`label_maps` is empty"):
        majority_vote([])
    with pytest.raises(
        ValueError, match=r"`label_maps\[0\]` has shape \(2, 2\) but `label_maps\[1\]`"
    ):
        majority_vote([np.zeros((2, 2), int), np.zeros((3, 3), int)])
    with pytest.raises(ValueError, match="negative label ids"):
        staple([np.full((2, 2), -1)])
    with pytest.raises(ValueError, match="`warped_images` has 1 images but `label_maps` has 2"):
        weighted_vote(
            [np.zeros((2, 2), int)] * 2, [np.zeros((2, 2))], np.zeros((2, 2)), spacing=(1, 1)
        )


def test_options_are_keyword_only():
    maps = [np.zeros((2, 2), int)] * 2
    image = np.zeros((2, 2))
    with pytest.raises(TypeError, match="positional"):
        weighted_vote(maps, [image] * 2, image, (1.0, 1.0))
    with pytest.raises(TypeError, match="positional"):
        local_ncc(image, image, (1.0, 1.0))
    with pytest.raises(TypeError, match="positional"):
        staple(maps, 10)


def test_radius_mm_is_a_deprecated_alias_of_sigma_mm():
    rng = np.random.default_rng(3)
    a, b = rng.random((6, 8, 8)), rng.random((6, 8, 8))
    new = local_ncc(a, b, spacing=(2.0, 1.0, 1.0), sigma_mm=1.5)
    with pytest.warns(FutureWarning, match="`radius_mm` is deprecated, use `sigma_mm`"):
        old = local_ncc(a, b, spacing=(2.0, 1.0, 1.0), radius_mm=1.5)
    np.testing.assert_array_equal(old, new)
    assert np.abs(new).max() > 0.1  # a real, non-trivial map
    maps = [(a > 0.5).astype(np.uint8), (b > 0.5).astype(np.uint8)]
    labels, probs = weighted_vote(maps, [a, b], a, spacing=(2.0, 1.0, 1.0), sigma_mm=1.5)
    with pytest.warns(FutureWarning, match="weighted_vote\\(\\): `radius_mm`"):
        old_labels, old_probs = weighted_vote(
            maps, [a, b], a, spacing=(2.0, 1.0, 1.0), radius_mm=1.5
        )
    np.testing.assert_array_equal(old_labels, labels)
    np.testing.assert_array_equal(old_probs[1], probs[1])
    np.testing.assert_array_equal(labels, maps[0])  # atlas 0's image is the target itself
    with pytest.raises(TypeError, match="both `radius_mm` and `sigma_mm`"):
        local_ncc(a, b, spacing=(1.0, 1.0, 1.0), radius_mm=1.0, sigma_mm=1.0)
    with pytest.raises(ValueError, match="`sigma_mm` must be > 0"):
        weighted_vote(maps, [a, b], a, spacing=(2.0, 1.0, 1.0), sigma_mm=0)


# ------------------------------------------------------------------ hostile arguments
RNG = np.random.default_rng(0)
H_IMAGE = RNG.random((16, 16))
H_MAPS = [(H_IMAGE * 3).astype(np.uint8), (H_IMAGE.T * 3).astype(np.uint8)]

#: name -> (function, positional arguments, keyword arguments) of a call that works
H_CALLS = {
    "majority_vote": (majority_vote, (H_MAPS,), {}),
    "staple": (staple, (H_MAPS,), {"max_iterations": 5}),
    "weighted_vote": (
        weighted_vote,
        (H_MAPS, [H_IMAGE, H_IMAGE.T], H_IMAGE),
        {"spacing": (1.0, 0.5), "sigma_mm": 2.0, "power": 2.0},
    ),
    "local_ncc": (local_ncc, (H_IMAGE, H_IMAGE.T), {"spacing": (1.0, 0.5), "sigma_mm": 2.0}),
}


@pytest.mark.parametrize(("name", "slot", "label"), list(hostile_cases(H_CALLS)))
def test_a_hostile_argument_gets_a_clear_error(name, slot, label):
    assert_clear_error(H_CALLS, name, slot, label)


@pytest.mark.parametrize("name", sorted(H_CALLS))
def test_foreign_byte_order_and_fortran_layout_give_the_same_result(name):
    func, args, kwargs = H_CALLS[name]

    def odd(a):
        if isinstance(a, list):
            return [odd(x) for x in a]
        if isinstance(a, np.ndarray) and a.dtype.itemsize > 1:
            return np.asfortranarray(a.astype(a.dtype.newbyteorder(">")))
        return np.asfortranarray(a) if isinstance(a, np.ndarray) else a

    expected, result = func(*args, **kwargs), func(*[odd(a) for a in args], **kwargs)
    if isinstance(expected, tuple):
        np.testing.assert_equal(result[0], expected[0])
        assert sorted(result[1]) == sorted(expected[1])
        for k in expected[1]:
            np.testing.assert_allclose(result[1][k], expected[1][k], rtol=1e-6)
    else:
        np.testing.assert_allclose(result, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fuse", ["majority", "staple", "weighted"])
def test_label_ids_up_to_2_64_are_compacted_and_kept_exactly(fuse):
    big, top = 2**63 + 5, 2**64 - 1
    truth = np.zeros((6, 8), np.uint64)
    truth[1:5, 1:4] = big
    truth[1:5, 4:7] = top
    other = truth.copy()
    other[0, 0] = top
    maps = [truth, truth, other]
    if fuse == "majority":
        labels, probs = majority_vote(maps)
    elif fuse == "staple":
        labels, probs = staple(maps)
    else:
        image = truth.astype(float) / top
        labels, probs = weighted_vote(maps, [image] * 3, image, spacing=(1.0, 1.0))
    assert labels.dtype == np.uint64
    np.testing.assert_array_equal(labels, truth)
    assert sorted(probs) == [big, top]  # Python ints: exact
    np.testing.assert_allclose(probs[top][truth == top], 1.0, rtol=1e-5)


def test_a_huge_label_id_costs_what_the_labels_present_cost():
    maps = [np.where(np.eye(64, dtype=bool), np.int64(2**62), 0) for _ in range(3)]
    labels, probs = majority_vote(maps)  # compact: 2 labels, not 2**62 score planes
    assert labels.dtype == np.int64 and sorted(probs) == [2**62]
    np.testing.assert_array_equal(labels, maps[0])


def test_a_huge_window_is_capped_at_the_image():
    a = np.arange(64.0).reshape(8, 8)
    capped = local_ncc(a, 2 * a, spacing=(1.0, 1.0), sigma_mm=1e12)  # no 10^12-voxel kernel
    np.testing.assert_array_equal(capped, local_ncc(a, 2 * a, spacing=(1.0, 1.0), sigma_mm=8.0))
