"""Pitfall warnings: each detector fires on the case it teaches, and not on a clean case."""

import numpy as np
import pytest
from scipy import ndimage

from napari_segtools import metrics as M


def disc(shape=(40, 40), center=(20, 20), radius=10):
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


def pitfalls(ref, pred, spacing=(1.0, 1.0), **kw):
    report = M.evaluate(ref, pred, spacing=spacing, cldice=False, **kw)
    for w in report.warnings:
        assert w.severity in ("info", "warning", "critical")
        assert w.message.endswith(".") and w.look_at
    return {w.pitfall: w for w in report.warnings}


def test_clean_large_structure_has_no_warning():
    assert pitfalls(disc(), disc()) == {}


def test_holes_in_prediction():
    pred = disc() & ~disc(radius=3)
    found = pitfalls(disc(), pred)
    assert "holes" in found and "prediction" in found["holes"].message
    assert found["holes"].label == 1


def test_misalignment():
    found = pitfalls(disc(radius=8), disc(center=(20, 25), radius=8))
    assert "misalignment" in found
    assert "misalignment" not in pitfalls(disc(radius=8), disc(center=(20, 21), radius=8))


def test_small_structure():
    ref = np.zeros((10, 10), bool)
    ref[4:6, 4:6] = True
    assert "small_structure" in pitfalls(ref, ref)
    assert "small_structure" not in pitfalls(disc(), disc())


@pytest.mark.parametrize("direction", ["over", "under"])
def test_systematic_bias(direction):
    ref = disc(radius=8)
    pred = ndimage.binary_dilation(ref) if direction == "over" else ndimage.binary_erosion(ref)
    found = pitfalls(ref, pred)
    assert f"{direction}_segmentation" in found
    assert f"{'under' if direction == 'over' else 'over'}_segmentation" not in found


def test_component_count():
    pred = disc().copy()
    pred[1:4, 1:4] = True  # a spurious blob
    found = pitfalls(disc(), pred)
    assert "spurious" in found["component_count"].message


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
