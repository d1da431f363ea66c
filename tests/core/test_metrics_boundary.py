"""Boundary IoU: hand-computed answers, a brute-force definition, the authors' reference code."""

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import cdist

from napari_segtools import metrics as M
from napari_segtools.core.metrics import boundary
from napari_segtools.core.metrics.boundary import boundary_band, boundary_iou


def brute_band(mask, spacing, band_mm):
    """The definition, voxel by voxel: every distance from a voxel centre to every background
    voxel centre (a one-voxel background border stands for the outside), plus the face rim."""
    padded = np.pad(mask, 1)
    scale = np.asarray(spacing if spacing is not None else (1.0,) * mask.ndim)
    inside, outside = np.argwhere(padded) * scale, np.argwhere(~padded) * scale
    band = np.zeros_like(padded)
    if len(inside):
        near = cdist(inside, outside).min(axis=1) <= band_mm * (1 + 1e-9)
        band[tuple(np.argwhere(padded)[near].T)] = True
    for axis in range(mask.ndim):
        for step in (1, -1):
            band |= padded & ~np.roll(padded, step, axis=axis)  # a face neighbour is outside
    return band[(slice(1, -1),) * mask.ndim]


def brute_iou(ref, pred, spacing, band_mm):
    a, b = brute_band(ref, spacing, band_mm), brute_band(pred, spacing, band_mm)
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else float("nan")


def random_masks(rng, shape):
    field = ndimage.gaussian_filter(rng.random(shape), 1.2)
    return field > np.quantile(field, rng.uniform(0.4, 0.8))


def test_square_shifted_by_one_pixel_by_hand():
    a = np.zeros((10, 10), bool)
    a[2:8, 2:8] = True
    b = np.roll(a, 1, axis=1)
    # 1-pixel rims of 20 pixels each; only the top and bottom rows overlap, by 5 pixels each:
    # 10 shared of 30 in the union
    assert boundary_iou(a, b, spacing=(1.0, 1.0), band_mm=1.0) == pytest.approx(1 / 3)
    assert M.jaccard(a, b) == pytest.approx(30 / 42)
    # a band as wide as the square: every pixel, so Boundary IoU is the mask IoU
    assert boundary_iou(a, b, spacing=(1.0, 1.0), band_mm=3.0) == pytest.approx(30 / 42)


def test_a_band_wider_than_the_image_is_the_whole_mask():
    a = np.zeros((10, 10), bool)
    a[2:8, 2:8] = True
    b = np.roll(a, 1, axis=1)
    assert boundary_iou(a, b, spacing=(1.0, 1.0), band_mm=1e12) == pytest.approx(30 / 42)
    cube = np.zeros((6, 6, 6), bool)
    cube[1:5, 1:5, 1:5] = True
    # extreme anisotropy: neighbourhood counts that would overflow int64
    np.testing.assert_array_equal(boundary_band(cube, (1e-6, 1e6, 1.0), 1e9), cube)


def test_anisotropic_cube_by_hand():
    ref = np.zeros((8, 8, 8), bool)
    ref[2:6, 2:6, 2:6] = True
    pred = np.roll(ref, 1, axis=2)
    spacing = (2.0, 1.0, 1.0)
    # d = 1 mm: in-plane the 1-voxel rim; along z (2 mm) the rim rule keeps the top and bottom
    # faces. Each band: 64 - 2x2x2 interior = 56 voxels. Shared: the 48 voxels of both cubes
    # minus the 12 interior to either: 36, so 36 / (56 + 56 - 36) = 9 / 19.
    assert boundary_iou(ref, pred, spacing=spacing, band_mm=1.0) == pytest.approx(9 / 19)
    # d = 2 mm reaches the middle of the 4-voxel-wide cube in-plane: the bands are the masks
    assert boundary_iou(ref, pred, spacing=spacing, band_mm=2.0) == pytest.approx(48 / 80)
    assert np.count_nonzero(boundary_band(ref, spacing, 1.0)) == 56
    # 0.5 mm is below every voxel edge: the band is the face rim alone, the same 56 voxels
    np.testing.assert_array_equal(boundary_band(ref, spacing, 0.5), boundary_band(ref, spacing, 1))


@pytest.mark.parametrize("ndim", [2, 3])
def test_equals_the_brute_force_definition(ndim):
    rng = np.random.default_rng(ndim)
    shape = (13, 11) if ndim == 2 else (6, 9, 8)
    for trial in range(4):
        ref, pred = random_masks(rng, shape), random_masks(rng, shape)
        spacing = tuple(rng.uniform(0.5, 2.5, ndim)) if trial else None
        for band_mm in (0.4, 1.0, 1.7, 3.1):
            expected = brute_iou(ref, pred, spacing, band_mm)
            got = boundary_iou(ref, pred, spacing=spacing, band_mm=band_mm)
            assert got == pytest.approx(expected, abs=1e-12), (trial, band_mm)


def test_distance_transform_path_equals_the_shift_path(monkeypatch):
    rng = np.random.default_rng(7)
    cases = [(random_masks(rng, (9, 12, 10)), (2.5, 0.6, 0.9), d) for d in (0.5, 1.2, 2.6)]
    fast = [boundary_band(m, s, d) for m, s, d in cases]
    monkeypatch.setattr(boundary, "_MAX_SHIFTS", 0)  # every band by the distance transform
    for (mask, spacing, band_mm), shifted in zip(cases, fast, strict=True):
        np.testing.assert_array_equal(boundary_band(mask, spacing, band_mm), shifted)
        np.testing.assert_array_equal(shifted, brute_band(mask, spacing, band_mm))


def mask_to_boundary(mask, iterations):
    """Cheng et al.'s ``mask_to_boundary`` (boundary_iou_api): pad with background, erode
    with a 3x3 square ``iterations`` times (cv2.erode leaves the outer border alone)."""
    padded = np.pad(mask, 1)
    eroded = ndimage.binary_erosion(
        padded, structure=np.ones((3, 3)), iterations=iterations, border_value=1
    )
    return mask & ~eroded[1:-1, 1:-1]


@pytest.mark.parametrize("iterations", [1, 2])
def test_equals_the_authors_reference_code_in_2d(iterations):
    # k erosions by a 3x3 square = chessboard distance <= k, which for k = 1, 2 selects the
    # same pixel offsets as the Euclidean distance <= k sqrt(2)
    rng = np.random.default_rng(iterations)
    for _ in range(5):
        ref, pred = random_masks(rng, (24, 20)), random_masks(rng, (24, 20))
        a, b = mask_to_boundary(ref, iterations), mask_to_boundary(pred, iterations)
        reference = np.count_nonzero(a & b) / np.count_nonzero(a | b)
        got = boundary_iou(ref, pred, spacing=None, band_mm=iterations * np.sqrt(2))
        assert got == pytest.approx(reference, abs=1e-12)


def test_empty_masks_and_arguments():
    a = np.zeros((6, 6), bool)
    a[1:4, 1:4] = True
    empty = np.zeros_like(a)
    assert boundary_iou(a, empty, spacing=None) == 0.0  # one band is empty: defined, 0
    assert np.isnan(boundary_iou(empty, empty, spacing=None))
    assert np.isnan(boundary_iou(empty, empty, spacing=None, empty="worst"))
    with pytest.raises(ValueError, match="`band_mm` must be > 0"):
        boundary_iou(a, a, spacing=None, band_mm=0)
    with pytest.raises(TypeError, match="spacing"):
        boundary_iou(a, a)  # spacing is a required keyword
    with pytest.raises(ValueError, match="`reference` has shape"):
        boundary_iou(a, a[:5], spacing=None)


def test_evaluate_column_follows_the_band_and_the_crop():
    ref = np.zeros((10, 24, 22), np.uint8)
    ref[2:8, 3:12, 4:13] = 1
    ref[3:7, 15:21, 14:20] = 2
    pred = np.roll(ref, 1, axis=2)
    pred[4, 16, 15] = 0  # a small hole
    spacing = (2.5, 0.8, 0.8)
    for band_mm in (1.0, 2.0):
        report = M.evaluate(ref, pred, spacing=spacing, boundary_band_mm=band_mm, cldice=False)
        assert report.settings["boundary_band_mm"] == band_mm
        for label in (1, 2):
            expected = boundary_iou(ref == label, pred == label, spacing=spacing, band_mm=band_mm)
            assert report.per_label[label]["boundary_iou"] == pytest.approx(expected, abs=1e-12)
            assert expected == pytest.approx(
                brute_iou(ref == label, pred == label, spacing, band_mm), abs=1e-12
            )
    assert report.units["boundary_iou"] == ""
    # a boundary error weighs more in the band than in the whole mask
    assert report.per_label[1]["boundary_iou"] < report.per_label[1]["iou"]
    with pytest.raises(ValueError, match="`boundary_band_mm` must be > 0"):
        M.evaluate(ref, pred, spacing=spacing, boundary_band_mm=-1)
