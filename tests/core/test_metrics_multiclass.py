"""Whole-map scores (pixel accuracy, Cohen's kappa), MCC, and the stated aggregation of a report.

scikit-learn is the peer: ``accuracy_score``, ``cohen_kappa_score`` and ``matthews_corrcoef`` on
the flattened maps.
"""

import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, matthews_corrcoef

from napari_segtools import metrics as M
from napari_segtools.core.metrics.overlap import cohen_kappa, matthews_correlation, pixel_accuracy


def three_labels():
    """Labels 1-3 on 10x10; 12 voxels disagree, each between a label and the background."""
    ref = np.zeros((10, 10), np.uint8)
    ref[0:4, 0:5] = 1  # 20 voxels
    ref[5:9, 0:6] = 2  # 24
    ref[2:8, 6:10] = 3  # 24
    pred = ref.copy()
    pred[0, 0:5] = 0  # label 1 misses 5 voxels
    pred[9, 0:4] = 2  # label 2 adds 4
    pred[8, 6:9] = 3  # label 3 adds 3
    return ref, pred


def test_one_vs_rest_mean_is_not_the_pixel_accuracy():
    ref, pred = three_labels()
    report = M.evaluate(ref, pred, spacing=(1.0, 1.0), cldice=False)
    # each wrong voxel is an error of one label only: 12 errors over 3 x 100 one-vs-rest voxels
    assert report.mean["binary_accuracy"] == pytest.approx(1 - 12 / 300)  # 0.96
    assert report.overall["pixel_accuracy"] == pytest.approx(0.88)
    assert report.overall["pixel_accuracy"] == accuracy_score(ref.ravel(), pred.ravel())
    assert report.overall["cohen_kappa"] == pytest.approx(
        cohen_kappa_score(ref.ravel(), pred.ravel()), abs=1e-12
    )
    assert "accuracy" not in report.mean  # no column says "accuracy" of the map
    assert pixel_accuracy(ref, pred) == report.overall["pixel_accuracy"]
    # class totals r = (32, 20, 24, 24), p = (30, 15, 28, 27): chance agreement 2580 / 100
    assert cohen_kappa(ref, pred) == pytest.approx(1 - 12 / (100 - 25.80), abs=1e-12)


@pytest.mark.parametrize(
    ("dtype", "ids"),
    [
        (bool, (0, 1)),
        (np.uint8, (0, 1, 2, 5)),
        (np.int32, (0, 3, 2**31 - 1)),  # sparse ids, counted after sorting
        (np.uint64, (0, 7, 2**64 - 1)),
    ],
)
def test_pixel_accuracy_and_kappa_equal_scikit_learn(dtype, ids):
    rng = np.random.default_rng(len(ids))
    for shape in ((17, 13), (5, 9, 7)):
        choices = np.array(ids, dtype)
        ref = rng.choice(choices, shape)
        pred = np.where(rng.random(shape) < 0.7, ref, rng.choice(choices, shape))
        # scikit-learn on the ids' ranks (it cannot hold uint64 ids above 2**63 exactly)
        flat_ref = np.searchsorted(choices, ref.ravel())
        flat_pred = np.searchsorted(choices, pred.ravel())
        assert pixel_accuracy(ref, pred) == accuracy_score(flat_ref, flat_pred)
        kappa = cohen_kappa_score(flat_ref, flat_pred)
        assert cohen_kappa(ref, pred) == pytest.approx(kappa, abs=1e-12)
        if dtype is not bool:
            report = M.evaluate(ref, pred, spacing=None, cldice=False)
            assert report.overall["cohen_kappa"] == pytest.approx(kappa, abs=1e-12)
            # a subset of labels counts the maps instead: the same whole-map numbers
            subset = M.evaluate(ref, pred, spacing=None, labels=[int(ids[1])], cldice=False)
            assert subset.overall == pytest.approx(report.overall, abs=1e-12)


def test_kappa_undefined_and_argument_errors():
    one = np.ones((4, 4), np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(cohen_kappa_score(one.ravel(), one.ravel()))
    assert np.isnan(cohen_kappa(one, one)) and pixel_accuracy(one, one) == 1.0
    assert cohen_kappa([0, 1, 0, 1], [1, 0, 1, 0]) == -1.0
    with pytest.raises(ValueError, match="`reference` has shape"):
        pixel_accuracy(one, one[:3])
    with pytest.raises(TypeError, match="`prediction` must hold integer label ids"):
        cohen_kappa(one, one * 0.5)
    with pytest.raises(ValueError, match="`reference` has negative label ids"):
        pixel_accuracy(-one.astype(np.int16), one)
    with pytest.raises(ValueError, match="`reference` is empty"):
        cohen_kappa(np.zeros(0, int), np.zeros(0, int))


def test_mcc_equals_scikit_learn_and_follows_the_empty_policy():
    rng = np.random.default_rng(3)
    for _ in range(6):
        ref, pred = rng.random((2, 9, 11)) < rng.uniform(0.2, 0.7, (2, 1, 1))
        expected = matthews_corrcoef(ref.ravel(), pred.ravel())
        assert matthews_correlation(ref, pred) == pytest.approx(expected, abs=1e-12)
    a = np.zeros((5, 5), bool)
    a[1:3, 1:4] = True
    assert matthews_correlation(a, a) == 1.0 and matthews_correlation(a, ~a) == -1.0
    empty = np.zeros_like(a)
    assert np.isnan(matthews_correlation(a, empty))  # scikit-learn says 0 here
    assert matthews_correlation(a, empty, empty="worst") == -1.0
    assert np.isnan(matthews_correlation(empty, empty, empty="worst"))
    assert np.isnan(matthews_correlation(a, np.ones_like(a)))  # a zero margin: undefined
    ref, pred = three_labels()
    nan = M.evaluate(ref, pred, spacing=None, labels=[1, 4], cldice=False)
    worst = M.evaluate(ref, pred, spacing=None, labels=[1, 4], cldice=False, empty="worst")
    assert nan.per_label[1]["mcc"] == pytest.approx(
        matthews_corrcoef(ref.ravel() == 1, pred.ravel() == 1)
    )
    assert np.isnan(nan.per_label[4]["mcc"]) and np.isnan(worst.per_label[4]["mcc"])  # both empty
    one_missing = M.evaluate(ref, pred * 0, spacing=None, labels=[1], empty="worst", cldice=False)
    assert one_missing.per_label[1]["mcc"] == -1.0


def test_pooled_beside_mean_shows_large_structures_dominating():
    ref = np.zeros((12, 12), np.uint8)
    ref[0:10, 0:10] = 1  # large: 100 voxels
    ref[11, 10:12] = 2  # small: 2 voxels
    pred = ref.copy()
    pred[0, 0:10] = 0  # the large one loses 10 voxels
    pred[11, 10:12] = 0  # the small one is missed
    report = M.evaluate(ref, pred, spacing=(1.0, 1.0), cldice=False)
    assert report.per_label[1]["dice"] == pytest.approx(180 / 190)
    assert report.mean["dice"] == pytest.approx((180 / 190 + 0) / 2)  # each label once
    # TP 90, FP 0, FN 10 + 2 summed over labels
    assert report.pooled == pytest.approx(
        {"tp": 90, "fp": 0, "fn": 12, "precision": 1.0, "recall": 90 / 102, "iou": 90 / 102,
         "dice": 180 / 192}
    )  # fmt: skip
    aggregation = report.settings["aggregation"]
    assert "unweighted" in aggregation["mean"] and "large structures" in aggregation["pooled"]
    assert (
        "background" in aggregation["overall"]
        and "evaluate_instances" in aggregation["per_component"]
    )
    nothing = M.evaluate(ref * 0, ref * 0, spacing=None)
    assert np.isnan(nothing.pooled["dice"]) and nothing.pooled["tp"] == 0
    assert nothing.overall["pixel_accuracy"] == 1.0 and np.isnan(nothing.overall["cohen_kappa"])
