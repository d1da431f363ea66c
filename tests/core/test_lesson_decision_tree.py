"""The decision-tree lesson: a depth-1 tree on intensity learns the head CT's bone threshold."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_segtools.core.lessons.decision_tree import threshold_as_tree
from napari_segtools.core.samples import read_sample

CT = ("ct_head_invesalius", "ct_head_0051.nii.gz")
BONE = ("ct_head_invesalius", "ct_head_0051_bone_mask.nii.gz")


def spread(mask, count):
    """``count`` voxels of ``mask`` evenly spaced in memory order: a deterministic pick."""
    flat = np.flatnonzero(mask)
    return flat[np.linspace(0, flat.size - 1, count).astype(int)]


@pytest.fixture(scope="module")
def head_ct():
    ct, geometry = read_sample(*CT)
    bone = read_sample(*BONE)[0] > 0
    # 300 voxels inside the bone (away from its edge) and 300 of tissue (not air) away from it
    scribbles = np.zeros(ct.shape, np.uint8)
    soft = (ct > -200) & ~ndi.binary_dilation(bone)
    scribbles.flat[spread(soft, 300)] = 1
    scribbles.flat[spread(ndi.binary_erosion(bone), 300)] = 2
    return ct, bone, scribbles, geometry.spacing


def test_depth_one_tree_learns_the_bone_threshold(head_ct):
    ct, bone, scribbles, spacing = head_ct
    lesson = threshold_as_tree(ct, scribbles, spacing=spacing)
    assert 150 <= lesson.split_hu <= 350
    assert lesson.bright_class == 2 and lesson.bone_threshold_hu == 226.0
    # the tree's mask is exactly a threshold at its split, and close to the manual 226 HU one
    np.testing.assert_array_equal(lesson.tree_mask, ct > lesson.split_hu)
    np.testing.assert_array_equal(lesson.threshold_mask, bone)  # the shipped mask is >= 226 HU
    both = np.count_nonzero(lesson.tree_mask & bone)
    expected = 2 * both / (np.count_nonzero(lesson.tree_mask) + np.count_nonzero(bone))
    assert lesson.dice_tree_vs_threshold == pytest.approx(expected)
    assert lesson.dice_tree_vs_threshold >= 0.95
    # the split separates the scribbled intensities: soft tissue below, bone above
    assert ct[scribbles == 1].max() <= lesson.split_hu < ct[scribbles == 2].min()


def test_split_follows_the_scribbles():
    ct = np.array([[-50, 20, 40, 300, 700, 1200]] * 2, dtype=np.int16)
    marks = np.array([[1, 1, 0, 2, 2, 2], [0] * 6])
    lesson = threshold_as_tree(ct, marks, spacing=(1.0, 0.5), bone_threshold_hu=100)
    assert lesson.split_hu == pytest.approx((20 + 300) / 2)
    assert lesson.dice_tree_vs_threshold == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("marks", "message"),
    [
        (np.array([[1, 1, 0, 0]]), "exactly two classes"),
        (np.array([[1, 2, 3, 0]]), "exactly two classes"),
    ],
)
def test_bad_scribbles(marks, message):
    with pytest.raises(ValueError, match=message):
        threshold_as_tree(np.array([[0, 10, 20, 30]]), marks, spacing=(1.0, 1.0))


def test_inseparable_scribbles():
    with pytest.raises(ValueError, match="no split"):
        threshold_as_tree(np.full((1, 4), 40), np.array([[1, 2, 0, 0]]), spacing=(1.0, 1.0))


def test_shape_mismatch():
    with pytest.raises(ValueError, match="`scribbles` has shape"):
        threshold_as_tree(np.zeros((2, 4)), np.zeros((2, 3), int), spacing=(1.0, 1.0))
