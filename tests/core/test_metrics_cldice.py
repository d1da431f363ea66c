"""clDice and its skeletons: voxel for voxel scikit-image's skeletonize, hand-computed values."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import euler_number
from skimage.morphology import skeletonize

from napari_segtools import metrics as M
from napari_segtools.core.metrics import _skeleton, topology
from napari_segtools.core.metrics._skeleton import _IN_PLANE, _bit, _lee_tests, skeleton
from napari_segtools.core.pitfall_gallery import pitfall_cases


@pytest.fixture(autouse=True)
def _thin_every_size_here(monkeypatch):
    """Send every 3-D box to our thinning (small ones go to scikit-image by default)."""
    monkeypatch.setattr(_skeleton, "_SMALL_VOXELS", 0)


def smooth_mask(rng, shape):
    """A smooth random mask: anisotropic, with concavities, holes, several components."""
    field = ndimage.gaussian_filter(rng.random(shape), rng.uniform(0.5, 3, len(shape)))
    return field > np.quantile(field, rng.uniform(0.3, 0.8))


def random_masks(seed, count, ndim, max_side=24):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield smooth_mask(rng, tuple(int(n) for n in rng.integers(1, max_side, ndim)))


def assert_same_skeleton(mask, **kw):
    expected = skeletonize(mask)
    np.testing.assert_array_equal(skeleton(mask, **kw), expected, err_msg=str(mask.shape))


@pytest.mark.parametrize("ndim", [2, 3])
def test_skeleton_equals_skimage_on_random_masks(ndim):
    for mask in random_masks(ndim, 40, ndim):  # 3-D: shapes from 1 to 23 voxels per axis
        assert_same_skeleton(mask)


def test_skeleton_equals_skimage_on_thick_shapes():
    # thick shapes thin over many passes, where re-checked candidates get kept (the
    # sequential re-check); a shell and a torus add a cavity and a tunnel
    zz, yy, xx = np.mgrid[:36, :40, :44]
    r = np.sqrt((zz - 17.5) ** 2 + (yy - 20) ** 2 / 1.4 + (xx - 21) ** 2)
    ring = np.sqrt((np.hypot(yy - 20, xx - 22) - 12) ** 2 + (zz - 18) ** 2)
    blob = ndimage.gaussian_filter(np.random.default_rng(5).random((36, 40, 44)), 4) > 0.5
    for mask in (r < 15, (r < 15) & (r > 11), ring < 5, blob):
        assert_same_skeleton(mask)


def test_skeleton_equals_skimage_on_the_gallery_shapes():
    for case in pitfall_cases():
        for image in (case.reference, case.prediction):
            for label in np.unique(image)[1:]:
                mask = image == label
                assert_same_skeleton(mask)  # 2-D: Zhang
                assert_same_skeleton(np.stack([mask] * 3))  # 3-D: Lee, thin in z
                assert_same_skeleton(mask[None])  # 3-D, one plane: Lee in 4 directions


def test_a_crop_of_one_plane_keeps_the_whole_image_directions(monkeypatch):
    mask = smooth_mask(np.random.default_rng(3), (20, 24))
    volume = np.zeros((5, *mask.shape), bool)
    volume[2] = mask
    full = skeletonize(volume)
    crop = volume[2:3]
    assert not np.array_equal(skeletonize(crop), full[2:3])  # the flag matters here
    for small in (0, 1 << 16):  # our thinning, then scikit-image's for small boxes
        monkeypatch.setattr(_skeleton, "_SMALL_VOXELS", small)
        np.testing.assert_array_equal(skeleton(crop, single_slice=False), full[2:3])
        np.testing.assert_array_equal(skeleton(crop), skeletonize(crop))


def test_lee_tests_against_independent_counts():
    rng = np.random.default_rng(0)
    cubes = rng.random((1500, 3, 3, 3)) < rng.uniform(0.1, 0.9, (1500, 1, 1, 1))
    cubes[:, 1, 1, 1] = True
    words = [
        sum(cubes[:, p, 1 + dr, 1 + dc].astype(np.intp) << _bit(dr, dc) for dr, dc in _IN_PLANE)
        for p in range(3)
    ]
    euler, neighbours, components = _lee_tests(*words)
    for cube, e, n, c in zip(cubes, euler, neighbours, components, strict=True):
        rest = cube.copy()
        rest[1, 1, 1] = False
        assert n == rest.sum()
        assert c == ndimage.label(rest, np.ones((3, 3, 3)))[1]
        change = euler_number(np.pad(cube, 1), 3) - euler_number(np.pad(rest, 1), 3)
        assert (e == 0) == (change == 0)


def test_cldice_hand_computed_values():
    line = np.zeros((5, 30), bool)
    line[2, 3:23] = True
    broken = line.copy()
    broken[2, 10:14] = False
    # 1-pixel lines are their own skeletons: Tprec = 16/16, Tsens = 16/20 -> 2*0.8/1.8
    assert M.cldice(line, broken) == pytest.approx(8 / 9)
    assert M.cldice(line[None], broken[None]) == pytest.approx(8 / 9)
    tube = np.zeros((7, 7, 30), bool)
    tube[2:5, 2:5, 3:23] = True
    centre = np.zeros_like(tube)
    centre[3, 3, 3:23] = True
    # Lee thins the 3x3 tube to its centre row without the end voxels (columns 4..21)
    np.testing.assert_array_equal(
        skeleton(tube), centre & (np.arange(30) >= 4) & (np.arange(30) <= 21)
    )
    assert M.cldice(tube, centre) == 1.0
    gap = centre.copy()
    gap[3, 3, 10:14] = False
    # Tprec = 1 (both pieces inside the tube), Tsens = 14/18 -> 2*(7/9)/(16/9) = 7/8
    assert M.cldice(tube, gap) == pytest.approx(7 / 8)


def test_cldice_empty_and_erased_masks():
    empty = np.zeros((6, 6, 6), bool)
    cube = empty.copy()
    cube[1:3, 1:3, 1:3] = True  # thinning erases a 2x2x2 cube: its skeleton is empty
    assert not skeleton(cube).any() and not skeletonize(cube).any()
    assert np.isnan(M.cldice(empty, empty)) and np.isnan(M.cldice(empty, empty, empty="worst"))
    assert np.isnan(M.cldice(cube, empty))
    assert M.cldice(cube, empty, empty="worst") == 0.0
    assert np.isnan(M.cldice(cube, cube))


def test_evaluate_gives_the_clDice_of_the_whole_image_for_a_one_plane_label():
    rng = np.random.default_rng(7)
    mask, other = smooth_mask(rng, (20, 22)), smooth_mask(rng, (20, 22))
    ref = np.zeros((4, *mask.shape), np.uint8)
    pred = np.zeros((4, *mask.shape), np.uint8)
    ref[2], pred[2] = mask, mask | other
    value = M.evaluate(ref, pred, spacing=None).per_label[1]["cldice"]
    assert value == M.cldice(ref, pred)
    assert value != M.cldice(ref[2:3], pred[2:3])  # the crop alone would thin differently


def test_threaded_thinning_gives_the_same_value(monkeypatch):
    rng = np.random.default_rng(11)
    ref, pred = smooth_mask(rng, (20, 24, 22)), smooth_mask(rng, (20, 24, 22))
    expected = topology.cldice_of_masks(ref, pred)
    monkeypatch.setattr(topology, "_THREADED_VOXELS", 0)
    assert topology.cldice_of_masks(ref, pred) == expected
