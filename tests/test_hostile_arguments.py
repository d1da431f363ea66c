"""Every public function validates every argument: a hostile value gets a clear error.

Each case replaces one argument of a valid call by a hostile value. A clear error is a
``ValueError``/``TypeError`` naming an argument in backticks; a NaN given for a number is
refused, never turned into a silent result. Foreign byte order and Fortran layout must work.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tests.hostile import assert_clear_error, hostile_cases

import napari_segtools as nst

RNG = np.random.default_rng(0)
IMAGE = RNG.random((16, 16))
MASK = IMAGE > 0.5
SEEDS = np.array([[8, 8]])
SPACING = (1.0, 0.5)
LABELS = (IMAGE * 3).astype(np.uint8)
PROBS = np.stack([IMAGE, 1 - IMAGE])
SCRIBBLES = np.zeros((16, 16), np.uint8)
SCRIBBLES[2, 2:6], SCRIBBLES[12, 8:12] = 1, 2

#: three methods x eight cases, as `napari-segtools evaluate --methods` writes them
COHORT = [
    {"method": m, "name": f"case{i}", "label": 1, "dice": d, "hd95": 10 * (1 - d)}
    for m, shift in (("a", 0.0), ("b", 0.05), ("c", 0.1))
    for i, d in enumerate(np.linspace(0.6, 0.9, 8) - shift)
]

#: name -> (function, positional arguments, keyword arguments) of a call that works
CALLS = {
    "auto_range": (nst.auto_range, (IMAGE, SEEDS), {"radius_voxels": 1, "multiplier": 2.5}),
    "auto_threshold": (
        nst.auto_threshold,
        (IMAGE,),
        {"method": "otsu", "classes": 3, "nbins": 64},
    ),
    "body_mask": (nst.body_mask, (IMAGE,), {}),
    "open_mask": (nst.open_mask, (MASK,), {"spacing": SPACING, "radius_mm": 1.0}),
    "close_mask": (nst.close_mask, (MASK,), {"spacing": SPACING, "radius_mm": 1.0}),
    "median_smooth": (nst.median_smooth, (MASK,), {"spacing": SPACING, "radius_mm": 1.0}),
    "fill_holes": (nst.fill_holes, (MASK,), {"axis": None}),
    "keep_largest_component": (nst.keep_largest_component, (MASK,), {"connectivity": 1}),
    "keep_components_touching": (
        nst.keep_components_touching,
        (MASK, SEEDS),
        {"connectivity": 1},
    ),
    "remove_small_objects": (
        nst.remove_small_objects,
        (MASK,),
        {"spacing": SPACING, "min_size_mm3": 2.0, "connectivity": 1},
    ),
    "paint_labels": (nst.paint_labels, (LABELS, MASK), {"mode": "all", "inside_label": None}),
    "threshold_mask": (nst.threshold_mask, (IMAGE,), {"lower": 0.2, "upper": 0.8}),
    "threshold_labels": (nst.threshold_labels, (IMAGE, [0.3, 0.6]), {"first_label": 1}),
    "local_threshold": (
        nst.local_threshold,
        (IMAGE,),
        {"spacing": SPACING, "block_size_mm": 5.0, "method": "gaussian", "offset": 0.0},
    ),
    "connected_threshold": (
        nst.connected_threshold,
        (IMAGE, SEEDS),
        {"lower": 0.0, "upper": 1.0, "connectivity": 1, "max_fraction": None},
    ),
    "confidence_connected": (
        nst.confidence_connected,
        (IMAGE, SEEDS),
        {
            "multiplier": 2.5,
            "iterations": 2,
            "initial_radius_voxels": 1,
            "connectivity": 1,
            "max_fraction": None,
        },
    ),
    "neighborhood_connected": (
        nst.neighborhood_connected,
        (IMAGE, SEEDS),
        {"lower": 0.0, "upper": 1.0, "radius_voxels": 1, "connectivity": 1, "max_fraction": None},
    ),
    "grow_from_seeds": (
        nst.grow_from_seeds,
        (IMAGE, [[3, 3], [12, 12]], [1, 2]),
        {"spacing": SPACING, "sigma_mm": 1.0, "connectivity": 1},
    ),
    "predictive_entropy": (nst.predictive_entropy, (PROBS,), {}),
    "evaluate": (nst.metrics.evaluate, (LABELS, np.roll(LABELS, 1, 0)), {"spacing": SPACING}),
    "make_loss": (
        nst.make_loss,
        ("tversky",),
        {"output": "sigmoid", "class_weights": None, "tversky_alpha": 0.3, "tversky_beta": 0.7},
    ),
    "boundary_iou": (
        nst.metrics.boundary_iou,
        (MASK, np.roll(MASK, 1, 0)),
        {"spacing": SPACING, "band_mm": 1.0},
    ),
    "pixel_accuracy": (nst.metrics.pixel_accuracy, (LABELS, np.roll(LABELS, 1, 0)), {}),
    "cohen_kappa": (nst.metrics.cohen_kappa, (LABELS, np.roll(LABELS, 1, 0)), {}),
    "matthews_correlation": (nst.metrics.matthews_correlation, (MASK, np.roll(MASK, 1, 0)), {}),
    "evaluate_instances": (
        nst.metrics.evaluate_instances,
        (MASK, np.roll(MASK, 1, 0)),
        {
            "spacing": SPACING,
            "matching": "assignment",
            "iou_threshold": 0.3,
            "connectivity": 1,
            "min_volume_mm3": 0.5,
            "size_bins_mm3": (1.0, 10.0),
        },
    ),
    "rater_agreement": (
        nst.metrics.rater_agreement,
        ([MASK, np.roll(MASK, 1, 0), np.roll(MASK, 1, 1)],),
        {"spacing": SPACING},
    ),
    "repeatability": (
        nst.metrics.repeatability,
        (MASK, np.roll(MASK, 1, 0)),
        {"spacing": SPACING},
    ),
    "score_against_raters": (
        nst.metrics.score_against_raters,
        (MASK, [np.roll(MASK, 1, 0), np.roll(MASK, 1, 1)]),
        {"spacing": SPACING},
    ),
    "calibration": (nst.metrics.calibration, (PROBS, MASK.astype(np.uint8)), {"bins": 10}),
    "summarize": (
        nst.metrics.summarize,
        (COHORT,),
        {"confidence": 0.9, "bootstrap_resamples": 50, "seed": 0},
    ),
    "compare_paired": (
        nst.metrics.compare_paired,
        (COHORT,),
        {"method_a": "a", "method_b": "b", "permutations": 50, "seed": 0, "alpha": 0.05},
    ),
    "rank_methods": (
        nst.metrics.rank_methods,
        (COHORT,),
        {"metric": "dice", "bootstrap_resamples": 20, "seed": 0, "alpha": 0.05},
    ),
    "segment_summary": (nst.segment_summary, (LABELS,), {"spacing": SPACING, "connectivity": 1}),
    "segment_statistics": (
        nst.segment_statistics,
        (LABELS,),
        {"spacing": SPACING, "image": IMAGE, "percentiles": (5.0, 95.0)},
    ),
    "compute_features": (
        nst.compute_features,
        (IMAGE,),
        {"spacing": SPACING, "feature_set": nst.FeatureSet(sigmas_mm=(1.0,))},
    ),
    "train_voxel_classifier": (
        nst.train_voxel_classifier,
        (IMAGE, SCRIBBLES),
        {"spacing": SPACING, "features": "basic", "n_estimators": 3, "max_depth": 3},
    ),
    # segment effects: every one takes an editable area and locked labels
    "editable_area": (
        nst.editable_area,
        (LABELS,),
        {
            "mode": "inside",
            "label": 1,
            "image": IMAGE,
            "intensity_range": (0.1, 0.9),
            "locked": [2],
        },
    ),
    "keep_largest_island": (
        nst.keep_largest_island,
        (LABELS, 1),
        {"connectivity": 1, "editable": MASK, "locked": [2]},
    ),
    "remove_small_islands": (
        nst.remove_small_islands,
        (LABELS, 1),
        {"min_size_mm3": 1.0, "spacing": SPACING, "editable": MASK, "locked": [2]},
    ),
    "split_islands": (
        nst.split_islands,
        (LABELS.astype(np.uint16), 1),
        {"min_size_mm3": 1.0, "spacing": SPACING, "editable": MASK, "locked": [2]},
    ),
    "keep_selected_island": (
        nst.keep_selected_island,
        (LABELS, 1, tuple(np.argwhere(LABELS == 1)[0])),
        {"editable": MASK, "locked": [2]},
    ),
    "logical_operation": (
        nst.logical_operation,
        (LABELS, 1, "union"),
        {"other": MASK, "editable": MASK, "locked": [2]},
    ),
    "margin": (
        nst.margin,
        (LABELS, 1),
        {"margin_mm": 1.0, "spacing": SPACING, "editable": MASK, "locked": [2]},
    ),
    "smooth": (
        nst.smooth,
        (LABELS, 1),
        {"method": "gaussian", "kernel_mm": 1.0, "spacing": SPACING, "editable": MASK},
    ),
    "smooth_joint": (
        nst.smooth_joint,
        (LABELS,),
        {"kernel_mm": 1.0, "spacing": SPACING, "editable": MASK, "locked": [2]},
    ),
    "hollow": (
        nst.hollow,
        (LABELS, 1),
        {"thickness_mm": 1.0, "spacing": SPACING, "shell": "centered", "editable": MASK},
    ),
    "fill_segment_holes": (nst.fill_segment_holes, (LABELS, 1), {"editable": MASK, "locked": [2]}),
}


@pytest.mark.parametrize(("name", "slot", "label"), list(hostile_cases(CALLS)))
def test_a_hostile_argument_gets_a_clear_error(name, slot, label):
    assert_clear_error(CALLS, name, slot, label)


@pytest.mark.parametrize(
    "name",
    sorted(n for n, (_, args, _) in CALLS.items() if any(isinstance(a, np.ndarray) for a in args)),
)
def test_foreign_byte_order_and_fortran_layout_give_the_same_result(name):
    func, args, kwargs = CALLS[name]
    odd = [
        np.asfortranarray(a.astype(a.dtype.newbyteorder(">") if a.dtype.itemsize > 1 else a.dtype))
        if isinstance(a, np.ndarray) and a.dtype != bool
        else a
        for a in args
    ]
    expected, result = func(*args, **kwargs), func(*odd, **kwargs)
    if hasattr(expected, "per_label"):
        expected, result = expected.per_label, result.per_label
    if dataclasses.is_dataclass(expected):  # a report: its fields, NaN equal to NaN
        expected, result = dataclasses.asdict(expected), dataclasses.asdict(result)
    if hasattr(expected, "predict_proba"):  # a trained classifier: what it predicts
        expected, result = expected.predict_proba(IMAGE), result.predict_proba(IMAGE)
    np.testing.assert_equal(result, expected)
