"""Mask clean-up in physical units and label painting: known answers, scipy/skimage checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import morphology

from napari_segtools import (
    clean_mask,
    close_mask,
    fill_holes,
    keep_components_touching,
    keep_largest_component,
    median_smooth,
    open_mask,
    paint_labels,
    remove_small_objects,
)
from napari_segtools.core.cleanup import iter_clean_mask, iter_open_mask
from napari_segtools.core.geometry import ellipsoid_footprint

SPACING = (2.5, 0.8, 0.8)


def _blobs():
    """Three boxes of 2x3x3, 2x5x5 and 1x1x1 voxels on a 10x20x20 grid (2.5 x 0.8 x 0.8 mm)."""
    mask = np.zeros((10, 20, 20), bool)
    mask[1:3, 1:4, 1:4] = True  # 18 voxels = 28.8 mm^3
    mask[5:7, 10:15, 10:15] = True  # 50 voxels = 80 mm^3
    mask[8, 18, 18] = True  # 1 voxel = 1.6 mm^3
    return mask


def _random_mask(seed=1, shape=(12, 30, 30)):
    return ndi.gaussian_filter(np.random.default_rng(seed).random(shape), 1.5) > 0.5


def test_keep_largest_component():
    mask = _blobs()
    out = keep_largest_component(mask)
    assert out.sum() == 50 and out[5:7, 10:15, 10:15].all()
    assert mask.sum() == 69  # input untouched


def test_keep_largest_connectivity_joins_diagonals():
    mask = np.zeros((5, 5), bool)
    mask[0, 0] = mask[1, 1] = mask[2, 2] = True
    mask[4, 3:5] = True
    assert keep_largest_component(mask, connectivity=1).sum() == 2
    assert keep_largest_component(mask, connectivity=2).sum() == 3


def test_keep_largest_empty_mask():
    assert not keep_largest_component(np.zeros((4, 4, 4), bool)).any()


def test_keep_components_touching_points():
    mask = _blobs()
    out = keep_components_touching(mask, [[1, 2, 2], [8, 18, 18], [0, 0, 0]])  # last is background
    assert out.sum() == 19
    with pytest.raises(ValueError, match="outside image shape"):
        keep_components_touching(mask, [[10, 0, 0]])


def test_remove_small_objects_in_mm3():
    mask = _blobs()
    assert (
        remove_small_objects(mask, spacing=SPACING, min_size_mm3=28.8).sum() == 68
    )  # equal volume stays
    assert remove_small_objects(mask, spacing=SPACING, min_size_mm3=29.0).sum() == 50
    assert remove_small_objects(mask, spacing=SPACING, min_size_mm3=0).sum() == 69
    with pytest.raises(ValueError, match="`min_size_mm3` must be a finite distance >= 0"):
        remove_small_objects(mask, spacing=SPACING, min_size_mm3=-1)


def test_remove_small_objects_anisotropy_matters():
    mask = _blobs()
    # on a 1 mm isotropic grid the 18-voxel box is 18 mm^3 and goes
    assert remove_small_objects(mask, spacing=(1, 1, 1), min_size_mm3=20).sum() == 50


def test_fill_holes_3d_and_per_slice():
    shell = np.zeros((7, 9, 9), bool)
    shell[1:6, 1:8, 1:8] = True
    shell[2:5, 3:6, 3:6] = False  # closed cavity of 27 voxels
    np.testing.assert_array_equal(fill_holes(shell), ndi.binary_fill_holes(shell))
    assert fill_holes(shell).sum() == shell.sum() + 27
    tube = shell.copy()
    tube[:, 3:6, 3:6] = (
        False  # open at both ends along axis 0: no 3-D hole, but holes in each slice
    )
    assert fill_holes(tube).sum() == tube.sum()
    assert fill_holes(tube, axis=0).sum() == tube.sum() + 5 * 9
    assert fill_holes(tube, axis=1).sum() == tube.sum()


def test_fill_holes_axis_errors():
    with pytest.raises(ValueError, match="`axis` must index"):
        fill_holes(np.zeros((4, 4, 4), bool), axis=3)
    with pytest.raises(ValueError, match="`axis` must index"):
        fill_holes(np.zeros((4, 4), bool), axis=0)


def test_open_close_equal_skimage_with_the_mm_ball():
    mask = _random_mask()
    footprint = ellipsoid_footprint(1.7, SPACING)
    assert footprint.shape == (1, 5, 5)
    padded = np.pad(mask, [(0, 0), (4, 4), (4, 4)], mode="edge")  # our border rule: edge continued
    crop = (slice(None), slice(4, -4), slice(4, -4))
    np.testing.assert_array_equal(
        open_mask(mask, spacing=SPACING, radius_mm=1.7),
        morphology.opening(padded, footprint)[crop],
    )
    np.testing.assert_array_equal(
        close_mask(mask, spacing=SPACING, radius_mm=1.7),
        morphology.closing(padded, footprint)[crop],
    )


def test_open_removes_thin_line_and_close_bridges_gap():
    mask = np.zeros((30, 30), bool)
    mask[5:20, 5:20] = True
    mask[25, :] = True  # a 1-voxel (0.5 mm) line
    opened = open_mask(mask, spacing=(0.5, 0.5), radius_mm=1.0)
    assert not opened[25].any() and opened[12, 5:20].all() and opened[5:20, 12].all()
    assert not opened[5, 5]  # the ball rounds the corners
    gap = np.zeros((20, 20), bool)
    gap[5:15, 2:9] = gap[5:15, 10:18] = True  # a 1-voxel gap at column 9
    closed = close_mask(gap, spacing=(0.5, 0.5), radius_mm=1.0)
    assert (
        closed[6:14, 9].all() and closed.sum() == gap.sum() + 8
    )  # end rows stay notched; no growth at the border


def test_median_smooth_equals_scipy_median_and_smooths():
    mask = _random_mask(seed=3)
    footprint = ellipsoid_footprint(1.7, SPACING)
    ref = ndi.median_filter(mask.astype(np.uint8), footprint=footprint, mode="reflect").astype(
        bool
    )
    np.testing.assert_array_equal(median_smooth(mask, spacing=SPACING, radius_mm=1.7), ref)
    noisy = np.zeros((20, 20), bool)
    noisy[5:15, 5:15] = True
    noisy[2, 17] = True
    noisy[10, 10] = False
    smoothed = median_smooth(noisy, spacing=(1, 1), radius_mm=1)
    assert not smoothed[2, 17] and smoothed[10, 10]


def test_clean_mask_runs_steps_in_order_with_progress():
    mask = _blobs()
    steps = [("remove_small", {"min_size_mm3": 2}), ("keep_largest", {})]
    events = list(iter_clean_mask(mask, spacing=SPACING, steps=steps))
    assert [e.message for e in events] == ["remove small", "keep largest", "clean-up done"]
    assert clean_mask(mask, spacing=SPACING, steps=steps).sum() == 50
    np.testing.assert_array_equal(clean_mask(mask, spacing=SPACING, steps=[]), mask)
    with pytest.raises(ValueError, match="unknown clean-up step 'dilate'"):
        clean_mask(mask, spacing=SPACING, steps=[("dilate", {})])


def test_radius_must_be_non_negative_and_spacing_match():
    with pytest.raises(ValueError, match="`radius_mm` must be a finite distance >= 0"):
        open_mask(np.zeros((3, 3), bool), spacing=(1, 1), radius_mm=-1)
    with pytest.raises(ValueError, match="`spacing` has 2 values but `mask` is 3-D"):
        close_mask(np.zeros((3, 3, 3), bool), spacing=(1, 1), radius_mm=1)


def test_paint_modes():
    target = np.array([[0, 0, 2, 2, 5, 5]], np.uint8)
    source = np.array([[3, 0, 3, 0, 3, 3]], np.uint16)
    np.testing.assert_array_equal(paint_labels(target, source, mode="all"), [[3, 0, 3, 2, 3, 3]])
    np.testing.assert_array_equal(paint_labels(target, source, mode="empty"), [[3, 0, 2, 2, 5, 5]])
    np.testing.assert_array_equal(
        paint_labels(target, source, mode="inside", inside_label=5), [[0, 0, 2, 2, 3, 3]]
    )
    assert paint_labels(target, source).dtype == np.uint8
    np.testing.assert_array_equal(target, [[0, 0, 2, 2, 5, 5]])  # untouched


def test_paint_errors():
    target = np.zeros((2, 2), np.uint8)
    with pytest.raises(ValueError, match="`inside_label` is required"):
        paint_labels(target, np.ones((2, 2), int), mode="inside")
    with pytest.raises(ValueError, match="label 300 does not fit"):
        paint_labels(target, np.full((2, 2), 300))
    with pytest.raises(ValueError, match="shape"):
        paint_labels(target, np.ones((3, 2), int))
    with pytest.raises(ValueError, match="`mode` must be one of"):
        paint_labels(target, np.ones((2, 2), int), mode="overwrite")


def test_paint_replace_clears_the_old_voxels_of_each_written_label():
    target = np.array([[1, 1, 2, 0, 3, 1]], np.uint8)
    source = np.array([[0, 0, 0, 1, 1, 0]], bool)
    np.testing.assert_array_equal(
        paint_labels(target, source, mode="replace"), [[0, 0, 2, 1, 1, 0]]
    )
    two = np.array([[2, 0, 0, 0, 0, 1]])
    np.testing.assert_array_equal(paint_labels(target, two, mode="replace"), [[2, 0, 0, 0, 3, 1]])


def test_cleanup_settings_build_the_steps_in_order():
    from napari_segtools.core.cleanup import CleanupSettings

    settings = CleanupSettings(
        open_radius_mm=1.0,
        close_radius_mm=0.0,
        median_radius_mm=0.5,
        min_size_mm3=50.0,
        fill_holes=0,
        keep="touching",
    )
    points = np.array([[1, 2, 2]])
    steps = settings.steps(3, points=points)
    assert [name for name, _ in steps] == [
        "open",
        "median",
        "remove_small",
        "fill_holes",
        "keep_touching",
    ]
    assert steps[0][1] == {"radius_mm": 1.0} and steps[3][1] == {"axis": 0}
    assert steps[4][1]["points"] is points
    assert CleanupSettings(fill_holes=0).steps(2) == [("fill_holes", {"axis": None})]
    assert CleanupSettings().steps(3) == []
    mask = _blobs()
    result = clean_mask(mask, spacing=SPACING, steps=settings.steps(3, points=[[5, 12, 12]]))
    assert result.sum() > 0 and not result[1:3].any()
    with pytest.raises(ValueError, match="needs at least one point"):
        CleanupSettings(keep="touching").steps(3, points=np.empty((0, 3)))
    with pytest.raises(ValueError, match="`keep` must be one of"):
        CleanupSettings(keep="smallest")
    with pytest.raises(ValueError, match="`min_size_mm3` must be a finite distance >= 0"):
        CleanupSettings(min_size_mm3=-1.0)


@pytest.mark.parametrize(
    ("func", "args"),
    [
        (keep_largest_component, (np.ones((3, 3)), 1)),
        (keep_components_touching, (np.ones((3, 3)), [[0, 0]], 1)),
        (remove_small_objects, (np.ones((3, 3)), (1, 1), 1.0)),
        (fill_holes, (np.ones((3, 3, 3)), 0)),
        (open_mask, (np.ones((3, 3)), (1, 1), 1.0)),
        (close_mask, (np.ones((3, 3)), (1, 1), 1.0)),
        (median_smooth, (np.ones((3, 3)), (1, 1), 1.0)),
        (clean_mask, (np.ones((3, 3)), (1, 1), [])),
        (paint_labels, (np.zeros((3, 3), int), np.ones((3, 3), int), "all")),
    ],
)
def test_options_are_keyword_only(func, args):
    with pytest.raises(TypeError, match="positional argument"):
        func(*args)


# --- issue 12: interruptible morphology equals the one-step result -------------------------------


def _reference(mask, spacing, radius_mm, first, second):
    """The former one-step implementation: scipy on the edge-padded mask."""
    fp = ellipsoid_footprint(radius_mm, spacing)
    pad = [(n - 1, n - 1) for n in fp.shape]
    padded = np.pad(mask, pad, mode="edge")
    ops = {"erode": ndi.binary_erosion, "dilate": ndi.binary_dilation}
    result = ops[second](ops[first](padded, fp), fp)
    return result[tuple(slice(p, p + n) for (p, _), n in zip(pad, mask.shape, strict=True))]


def _median_reference(mask, spacing, radius_mm):
    fp = ellipsoid_footprint(radius_mm, spacing)
    counts = ndi.correlate(
        mask.view(np.uint8), fp.astype(np.uint8), output=np.uint32, mode="reflect"
    )
    return counts > np.count_nonzero(fp) // 2


@pytest.mark.parametrize("seed", range(12))
def test_chunked_morphology_equals_the_unchunked_result(seed):
    rng = np.random.default_rng(seed)
    ndim = 2 + seed % 2
    shape = tuple(int(n) for n in rng.integers(2, 14, ndim))
    mask = ndi.gaussian_filter(rng.random(shape), 1) > rng.uniform(0.3, 0.7)
    spacing = tuple(float(s) for s in rng.choice([0.5, 0.8, 1.0, 2.5], ndim))
    radius = float(rng.uniform(0.3, 5.0))
    for func, ops in ((open_mask, ("erode", "dilate")), (close_mask, ("dilate", "erode"))):
        result = func(mask, spacing=spacing, radius_mm=radius)
        np.testing.assert_array_equal(result, _reference(mask, spacing, radius, *ops))
    smooth = median_smooth(mask, spacing=spacing, radius_mm=radius)
    np.testing.assert_array_equal(smooth, _median_reference(mask, spacing, radius))


def test_a_large_opening_yields_often():
    """A 12 mm opening on 128^3 (once 17.6 s in one step) yields every fraction of a second."""
    import time

    mask = ndi.gaussian_filter(np.random.default_rng(0).random((128, 128, 128)), 3) > 0.5
    gen = iter_open_mask(mask, spacing=(1.0, 1.0, 1.0), radius_mm=12.0)
    last, gaps = time.perf_counter(), []
    for _ in range(30):
        next(gen)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    gen.close()
    assert max(gaps) < 1.0, gaps


@pytest.mark.parametrize("func", [open_mask, close_mask, median_smooth])
def test_a_ball_wider_than_the_mask_is_refused_before_allocating(func):
    with pytest.raises(ValueError, match="`radius_mm` must be at most the mask's diagonal"):
        func(np.ones((4, 4), bool), spacing=(1.0, 1.0), radius_mm=1e12)


def test_empty_mask_and_bad_points_are_clear_errors():
    with pytest.raises(ValueError, match="`mask` is empty"):
        keep_largest_component(np.zeros((0, 0), bool))
    with pytest.raises(TypeError, match="`points`"):
        keep_components_touching(np.ones((3, 3), bool), "x")
