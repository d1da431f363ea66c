"""Pitfall warnings: each detector fires on the case it teaches, and not on a clean case."""

import numpy as np
import pytest
from scipy import ndimage

from napari_segtools import metrics as M


def disc(shape=(40, 40), center=(20, 20), radius=10):
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


def pitfalls(ref, pred, spacing=(1.0, 1.0), cldice=False, **kw):
    report = M.evaluate(ref, pred, spacing=spacing, cldice=cldice, **kw)
    for w in report.warnings:
        assert w.severity in ("info", "warning", "critical")
        assert w.message.endswith(".") and w.look_at
    return {w.pitfall: w for w in report.warnings}


def test_clean_large_structure_has_no_warning():
    assert pitfalls(disc(), disc()) == {}


def test_holes_in_prediction():
    pred = disc() & ~disc(radius=3)  # a 29-pixel hole in a 317-pixel disc
    found = pitfalls(disc(), pred)
    assert found["holes"].label == 1
    message = found["holes"].message
    assert "prediction has 29 enclosed hole voxels (9% of the reference's size)" in message
    # the notes' direction: the outline's distance metrics miss a hole, the volume shows it
    assert "outline do not see a hole" in message and "voxel or surfel" in message
    assert "volume" in found["holes"].look_at and "not HD or NSD" in found["holes"].look_at


def test_misalignment():
    found = pitfalls(disc(radius=8), disc(center=(20, 25), radius=8))
    assert "misalignment" in found
    assert "localisation" in found["misalignment"].look_at
    assert "HD" not in found["misalignment"].look_at  # HD shares the blind spot
    assert "misalignment" not in pitfalls(disc(radius=8), disc(center=(20, 21), radius=8))
    # a one-voxel shift of a small lesion is the grid's limit, not a misplaced structure
    lesion = np.zeros((10, 10), bool)
    lesion[4:7, 4:7] = True
    assert "misalignment" not in pitfalls(lesion, np.roll(lesion, 1, axis=1))
    assert "misalignment" in pitfalls(lesion, np.roll(lesion, 2, axis=1))


def test_small_structure():
    ref = np.zeros((10, 10), bool)
    ref[4:6, 4:6] = True
    found = pitfalls(ref, ref)
    assert "small_structure" in found
    assert "detection" in found["small_structure"].look_at
    assert "Boundary IoU" in found["small_structure"].look_at
    assert "small_structure" not in pitfalls(disc(), disc())


@pytest.mark.parametrize("direction", ["over", "under"])
def test_systematic_bias(direction):
    ref = disc(radius=8)
    pred = ndimage.binary_dilation(ref) if direction == "over" else ndimage.binary_erosion(ref)
    found = pitfalls(ref, pred)
    warning = found[f"{direction}_segmentation"]
    assert f"{'under' if direction == 'over' else 'over'}_segmentation" not in found
    lean = "favours over-segmentation" if direction == "over" else "punishes under-segmentation"
    assert lean in warning.message
    assert "F-beta with beta 0.5" in warning.look_at and "or 2" in warning.look_at


def test_component_count():
    pred = disc().copy()
    pred[1:4, 1:4] = True  # a spurious blob
    found = pitfalls(disc(), pred)
    assert "1 more: spurious objects" in found["component_count"].message
    assert "dominates" in found["component_count"].message


def _tree(full: bool):
    """A trunk 6 pixels wide with thin (2-pixel) branches; without them when not ``full``."""
    tree = np.zeros((40, 40), bool)
    tree[4:36, 17:23] = True
    if full:
        for row in (8, 14, 20, 26):
            tree[row : row + 2, 2:38] = True
    return tree


def test_thin_structure_clDice_below_dice():
    ref = _tree(True)
    found = pitfalls(ref, _tree(False), cldice=True)
    warning = found["thin_structure"]
    assert warning.label == 1 and "centreline" in warning.message and "clDice" in warning.look_at
    assert "thin_structure" not in pitfalls(ref, ref, cldice=True)
    assert "thin_structure" not in pitfalls(ref, _tree(False), cldice=True, cldice_gap=0.9)
    assert "thin_structure" not in pitfalls(ref, _tree(False))  # clDice off: NaN, no warning
    # a hole at the centre empties the centreline too (clDice 0); the holes warning explains it
    holed = disc() & ~disc(radius=4)
    values = M.evaluate(disc(), holed, spacing=(1.0, 1.0)).per_label[1]
    assert values["cldice"] == 0.0 and values["dice"] > 0.8
    found = pitfalls(disc(), holed, cldice=True)
    assert "holes" in found and "thin_structure" not in found


def test_boundary_error_on_a_large_structure_only():
    yy, xx = np.mgrid[:80, :80]
    radius = np.hypot(yy - 40, xx - 40)
    wobble = 1.5 * np.sin(12 * np.arctan2(yy - 40, xx - 40))  # the same ragged outline
    large, small = disc((80, 80), (40, 40), 30), disc((80, 80), (40, 40), 6)
    report = M.evaluate(large, radius <= 30 + wobble, spacing=(1.0, 1.0), cldice=False)
    values = report.per_label[1]
    assert values["iou"] >= 0.9 and values["boundary_iou"] < values["iou"] - 0.3
    found = pitfalls(large, radius <= 30 + wobble)
    assert found["boundary_error"].severity == "info"
    assert f"Boundary IoU only {values['boundary_iou']:.2f}" in found["boundary_error"].message
    assert "boundary_error" not in pitfalls(large, radius <= 30 + wobble, boundary_gap=0.9)
    # on a small disc Mask IoU itself drops below 0.9: no hidden boundary error to report
    assert "boundary_error" not in pitfalls(small, radius <= 6 + wobble)


def test_empty_masks_are_critical():
    empty = np.zeros((40, 40), bool)
    assert pitfalls(disc(), empty)["empty_prediction"].severity == "critical"
    assert pitfalls(empty, disc())["empty_reference"].severity == "critical"


def test_grid_warnings_and_thresholds():
    found = pitfalls(disc(), disc(), spacing=(4.0, 1.0), prediction_spacing=(2.0, 2.0))
    assert found["anisotropic_spacing"].label is None
    assert found["resolution_mismatch"].severity == "warning"
    assert pitfalls(disc(), disc(), spacing=(4.0, 1.0), anisotropy_ratio=5) == {}
    ref = disc(radius=8)
    assert "over_segmentation" not in pitfalls(ref, ndimage.binary_dilation(ref), bias_ratio=1.0)
