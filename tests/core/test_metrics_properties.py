"""Hypothesis property tests: bounds, identities, symmetry and padding invariance."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from napari_segtools import metrics as M
from napari_segtools.core.metrics.boundary import boundary_iou
from napari_segtools.core.metrics.overlap import matthews_correlation

SYMMETRIC = (
    "dice",
    "iou",
    "f1",
    "hd",
    "hd95",
    "assd",
    "masd",
    "nsd",
    "center_distance",
    "volume_similarity",
    "binary_accuracy",
    "mcc",
    "boundary_iou",
)


@st.composite
def mask_pairs(draw):
    ndim = draw(st.sampled_from([2, 3]))
    shape = tuple(draw(st.lists(st.integers(2, 7), min_size=ndim, max_size=ndim)))
    ref = draw(arrays(bool, shape))
    pred = draw(arrays(bool, shape))
    spacing = tuple(draw(st.lists(st.floats(0.25, 4.0), min_size=ndim, max_size=ndim)))
    surface = draw(st.sampled_from(["voxel", "surfel"]))
    return ref, pred, spacing, surface


def run(ref, pred, spacing, surface, **kw):
    return M.evaluate(ref, pred, spacing=spacing, labels=[1], surface=surface, cldice=False, **kw)


@settings(max_examples=60, deadline=None)
@given(mask_pairs())
def test_bounds_and_identities(case):
    ref, pred, spacing, surface = case
    v = run(ref, pred, spacing, surface).per_label[1]
    if ref.any() or pred.any():
        assert 0 <= v["dice"] <= 1 and v["dice"] == v["f1"]
        assert v["iou"] <= v["dice"] + 1e-12
        assert v["fbeta"] == pytest.approx(v["dice"])
        assert 0 <= v["nsd"] <= 1
        assert 0 <= v["boundary_iou"] <= 1
        assert -1 <= v["mcc"] <= 1 or np.isnan(v["mcc"])
    if ref.any() and pred.any():
        assert v["hd"] >= v["hd95"] >= 0
        assert v["hd"] >= v["assd"] >= 0 and v["hd"] >= v["masd"] >= 0
    assert v["tp"] + v["fp"] + v["fn"] + v["tn"] == ref.size


@settings(max_examples=60, deadline=None)
@given(mask_pairs())
def test_symmetric_metrics_are_symmetric(case):
    ref, pred, spacing, surface = case
    a = run(ref, pred, spacing, surface).per_label[1]
    b = run(pred, ref, spacing, surface).per_label[1]
    for name in SYMMETRIC:
        assert a[name] == pytest.approx(b[name], abs=1e-9, nan_ok=True), name
    assert a["precision"] == pytest.approx(b["recall"], nan_ok=True)


@settings(max_examples=40, deadline=None)
@given(mask_pairs(), st.integers(1, 3))
def test_invariant_to_zero_padding(case, pad):
    ref, pred, spacing, surface = case
    a = run(ref, pred, spacing, surface, empty="nan").per_label[1]
    b = run(np.pad(ref, pad), np.pad(pred, pad), spacing, surface, empty="nan").per_label[1]
    for name in M.METRIC_NAMES:
        if name not in ("tn", "binary_accuracy", "specificity", "mcc"):
            assert a[name] == pytest.approx(b[name], abs=1e-9, nan_ok=True), name


@settings(max_examples=30, deadline=None)
@given(mask_pairs())
def test_plain_functions_agree_with_report(case):
    ref, pred, spacing, surface = case
    v = run(ref, pred, spacing, surface, nsd_tolerance_mm=1.0).per_label[1]
    kw = {"spacing": spacing, "surface": surface}
    assert M.hausdorff_distance(ref, pred, **kw, percentile=95) == pytest.approx(
        v["hd95"], nan_ok=True
    )
    assert M.normalized_surface_distance(ref, pred, **kw, tolerance_mm=1.0) == pytest.approx(
        v["nsd"], nan_ok=True
    )
    assert M.jaccard(ref, pred) == pytest.approx(v["iou"], nan_ok=True)
    assert matthews_correlation(ref, pred) == pytest.approx(v["mcc"], nan_ok=True)
    assert boundary_iou(ref, pred, spacing=spacing, band_mm=1.0) == pytest.approx(
        v["boundary_iou"], nan_ok=True
    )
