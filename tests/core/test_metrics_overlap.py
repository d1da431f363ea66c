"""Overlap metrics: hand-computed confusion counts and ratios, empty-mask policy, input errors."""

import numpy as np
import pytest

from napari_segtools import metrics as M

# reference 6 voxels, prediction 5 voxels: TP 4, FP 1, FN 2, TN 9 on a 4x4 grid
REF = np.array([[1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]], bool)
PRED = np.array([[0, 1, 1, 0], [0, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]], bool)


def test_confusion_counts():
    assert M.confusion_matrix(REF, PRED) == (4, 1, 2, 9)
    assert M.confusion_matrix(REF, PRED).tp == 4


@pytest.mark.parametrize(
    "func, expected",
    [
        (M.accuracy, 13 / 16),
        (M.precision, 4 / 5),
        (M.recall, 4 / 6),
        (M.specificity, 9 / 10),
        (M.dice, 8 / 11),
        (M.f1_score, 8 / 11),
        (M.jaccard, 4 / 7),
        (M.volume_similarity, 1 - 1 / 11),
    ],
)
def test_ratios_known_answers(func, expected):
    assert func(REF, PRED) == pytest.approx(expected, abs=1e-12)


def test_fbeta_weighs_recall():
    # (1 + 4) * 4 / (5 * 4 + 4 * 2 + 1) = 20 / 29
    assert M.fbeta_score(REF, PRED, beta=2) == pytest.approx(20 / 29)
    assert M.fbeta_score(REF, PRED, beta=1) == pytest.approx(M.dice(REF, PRED))


def test_volume_similarity_is_not_the_signed_variant():
    ref = np.zeros((10, 10), bool)
    ref[:4, :5] = True  # 20 voxels
    pred = np.zeros_like(ref)
    pred[5:, :6] = True  # 30 voxels, disjoint: FN 20, FP 30
    assert M.volume_similarity(ref, pred) == pytest.approx(1 - 10 / 50)
    assert M.volume_similarity(ref, pred) != pytest.approx(2 * (30 - 20) / 50)


def test_label_images_count_any_nonzero_as_foreground():
    assert M.dice(REF.astype(np.uint8) * 3, PRED.astype(np.int32) * 7) == pytest.approx(8 / 11)


def test_empty_prediction_nan_and_worst():
    empty = np.zeros_like(REF)
    assert M.dice(REF, empty) == 0.0  # defined: 0 / 6
    assert np.isnan(M.precision(REF, empty))  # 0 / 0
    assert M.precision(REF, empty, empty="worst") == 0.0


def test_both_empty_stays_nan_under_worst():
    empty = np.zeros((3, 3), bool)
    assert np.isnan(M.dice(empty, empty))
    assert np.isnan(M.dice(empty, empty, empty="worst"))
    assert M.specificity(empty, empty) == 1.0


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="`reference` has shape"):
        M.dice(np.zeros((3, 3)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="`spacing` has 3 values"):
        M.dice(REF, PRED, spacing=(1, 1, 1))
    with pytest.raises(ValueError, match="`empty` must be one of"):
        M.dice(REF, PRED, empty="zero")
    with pytest.raises(ValueError, match="`beta` must be a positive"):
        M.fbeta_score(REF, PRED, beta=0)
    with pytest.raises(TypeError, match="`prediction` must hold integer label ids"):
        M.dice(REF, PRED * 0.5)
    with pytest.raises(ValueError, match="`reference` must be 1-D"):
        M.dice(np.int64(1), np.int64(1))
    with pytest.raises(ValueError, match="`reference` has shape"):
        M.dice(np.zeros(5), np.zeros((5, 1)))


def test_inputs_are_not_modified_and_fortran_order_works():
    ref, pred = np.asfortranarray(REF), PRED.copy()
    M.evaluate(ref, pred, spacing=(1, 1))
    np.testing.assert_array_equal(pred, PRED)
    assert M.dice(ref, pred) == pytest.approx(8 / 11)


# 1-D label vectors, as the MetricsReloaded test suite feeds them:
# ref  1 1 1 1 0 0 0 0 0 0
# pred 0 1 1 1 1 1 0 0 0 0  -> TP 3, FP 2, FN 1, TN 4
REF_1D = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
PRED_1D = np.array([0, 1, 1, 1, 1, 1, 0, 0, 0, 0])


@pytest.mark.parametrize(
    "func, expected",
    [
        (M.accuracy, 7 / 10),
        (M.precision, 3 / 5),
        (M.recall, 3 / 4),
        (M.specificity, 4 / 6),
        (M.dice, 6 / 9),
        (M.f1_score, 6 / 9),
        (M.jaccard, 3 / 6),
        (M.volume_similarity, 1 - 1 / 9),
    ],
)
def test_1d_label_vectors_known_answers(func, expected):
    assert func(REF_1D, PRED_1D) == pytest.approx(expected, abs=1e-12)
    assert func(REF_1D, PRED_1D, spacing=(0.5,)) == pytest.approx(expected, abs=1e-12)


def test_1d_confusion_and_fbeta():
    assert M.confusion_matrix(REF_1D, PRED_1D) == (3, 2, 1, 4)
    # (1 + 4) * 3 / (5 * 3 + 4 * 1 + 2) = 15 / 21
    assert M.fbeta_score(REF_1D, PRED_1D, beta=2) == pytest.approx(15 / 21)


def test_4d_masks_are_overlap_too():
    ref = np.zeros((2, 3, 4, 5), bool)
    ref[0, :2] = True  # 40 voxels
    pred = np.zeros_like(ref)
    pred[0, 1:] = True  # 40 voxels, 20 shared
    assert M.dice(ref, pred) == pytest.approx(0.5)


def test_surface_metrics_stay_2d_3d_with_a_clear_error():
    with pytest.raises(ValueError, match="`reference` must be 2-D or 3-D; got a 1-D"):
        M.hausdorff_distance(REF_1D, PRED_1D, spacing=None)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        M.evaluate(REF_1D, PRED_1D, spacing=None)


OVERLAP = [
    M.accuracy,
    M.precision,
    M.recall,
    M.specificity,
    M.dice,
    M.f1_score,
    M.jaccard,
    M.volume_similarity,
    M.fbeta_score,
    M.confusion_matrix,
]


@pytest.mark.parametrize("func", OVERLAP, ids=lambda f: f.__name__)
def test_overlap_metrics_are_real_functions_with_keyword_only_options(func):
    assert func.__name__ != "metric" and func.__doc__ and "Examples" in func.__doc__
    assert func.__module__ == "napari_segtools.core.metrics.overlap"
    with pytest.raises(TypeError, match="positional"):
        func(REF, PRED, (1.0, 1.0))
    with pytest.raises(TypeError, match=f"{func.__name__}\\(\\) got an unexpected keyword.*bogus"):
        func(REF, PRED, bogus=1)
