"""Overlap metrics: the confusion counts once, every ratio derived from them.

With TP, FP, FN, TN the voxel counts of the confusion matrix (reference = truth):

- accuracy = (TP + TN) / (TP + FP + FN + TN); in a report of a multi-label map this is the
  label against everything else (the ``binary_accuracy`` column), not the map's pixel accuracy
- precision = TP / (TP + FP)
- recall (sensitivity) = TP / (TP + FN), also the intersection over reference (IoR)
- specificity = TN / (TN + FP)
- MCC (Matthews correlation) = (TP TN - FP FN) / sqrt((TP + FP)(TP + FN)(TN + FP)(TN + FN))
- F-beta = (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP); F1 = Dice = 2 TP / (2 TP + FP + FN)
- IoU (Jaccard) = TP / (TP + FP + FN)
- volume similarity = 1 - |FN - FP| / (2 TP + FP + FN) (Cardenes et al.; *not* the signed
  2 (Vp - Vr) / (Vp + Vr) that SimpleITK and seg-metrics report under that name)

A ratio with a zero denominator is undefined: NaN, or under ``empty="worst"`` the worst value
(0; -1 for MCC) when exactly one mask is empty. Overlap metrics accept masks of any dimension,
1-D label vectors included.

Over a whole label map (background and every label id as classes, not one label against the
rest), :func:`pixel_accuracy` is the fraction of voxels whose label agrees and
:func:`cohen_kappa` that agreement corrected for chance, from one count per class.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .._validate import check_beta, check_choice, check_labels, check_same_shape
from ._common import apply_empty, check_pair, empty_case


class Confusion(NamedTuple):
    """Voxel counts of the confusion matrix (reference = truth).

    Examples
    --------
    >>> c = Confusion(tp=3, fp=2, fn=1, tn=4)
    >>> c.tp + c.fn  # reference voxels
    4
    """

    tp: int
    fp: int
    fn: int
    tn: int


def counts_of(ref: np.ndarray, pred: np.ndarray, total: int | None = None) -> Confusion:
    """Count the confusion of two bool masks; ``total`` voxels (default ``ref.size``) give TN."""
    tp = int(np.count_nonzero(ref & pred))
    fp = int(np.count_nonzero(pred)) - tp
    fn = int(np.count_nonzero(ref)) - tp
    total = ref.size if total is None else total
    return Confusion(tp, fp, fn, total - tp - fp - fn)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def _fbeta(c: Confusion, beta: float) -> float:
    b2 = float(beta) ** 2
    return _ratio((1 + b2) * c.tp, (1 + b2) * c.tp + b2 * c.fn + c.fp)


def _mcc(c: Confusion, _beta: float) -> float:
    # exact integer numerator; the product of the four margins overflows int64 on large images
    den = math.prod(float(v) for v in (c.tp + c.fp, c.tp + c.fn, c.tn + c.fp, c.tn + c.fn))
    return (c.tp * c.tn - c.fp * c.fn) / math.sqrt(den) if den else float("nan")


#: Metric name -> ratio of the confusion counts (``beta`` is used by F-beta only); the report
#: calls the accuracy of one label against the rest ``binary_accuracy``.
_RATIOS: dict[str, Callable[[Confusion, float], float]] = {
    "binary_accuracy": lambda c, _: _ratio(c.tp + c.tn, c.tp + c.fp + c.fn + c.tn),
    "precision": lambda c, _: _ratio(c.tp, c.tp + c.fp),
    "recall": lambda c, _: _ratio(c.tp, c.tp + c.fn),
    "specificity": lambda c, _: _ratio(c.tn, c.tn + c.fp),
    "mcc": _mcc,
    "fbeta": _fbeta,
    "f1": lambda c, _: _fbeta(c, 1.0),
    "iou": lambda c, _: _ratio(c.tp, c.tp + c.fp + c.fn),
    "dice": lambda c, _: _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
    "volume_similarity": lambda c, _: 1.0 - _ratio(abs(c.fn - c.fp), 2 * c.tp + c.fp + c.fn),
}


#: Value of a ratio under ``empty="worst"`` when exactly one mask is empty (0 unless listed).
WORST = {"mcc": -1.0}


def overlap_ratios(c: Confusion, *, beta: float = 1.0) -> dict[str, float]:
    """Return every overlap ratio of the confusion counts ``c`` (NaN where undefined).

    Examples
    --------
    >>> overlap_ratios(Confusion(tp=1, fp=1, fn=1, tn=1))["dice"]
    0.5
    """
    return {name: ratio(c, beta) for name, ratio in _RATIOS.items()}


def _score(
    name: str,
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None,
    empty: str,
    beta: float = 1.0,
) -> float:
    """Check the inputs once and compute one ratio under the empty-mask policy."""
    check_choice(empty, "empty", ("nan", "worst"))
    ref, pred, _ = check_pair(reference, prediction, spacing, ndims=None)
    c = counts_of(ref, pred)
    case = empty_case(c.tp + c.fn, c.tp + c.fp)
    return apply_empty(_RATIOS[name](c, beta), case, empty, WORST.get(name, 0.0))


def confusion_matrix(
    reference: ArrayLike, prediction: ArrayLike, *, spacing: Sequence[float] | None = None
) -> Confusion:
    """Count true/false positives/negatives of ``prediction`` against ``reference``.

    Parameters
    ----------
    reference, prediction : ndarray of any dimension, bool or integer
        Masks (or 1-D label vectors) of the same shape; non-zero is foreground.
    spacing : sequence of float, optional
        Voxel size in mm; checked for consistency only: counts are in voxels (multiply by the
        voxel volume for mm^3).

    Returns
    -------
    Confusion
        ``(tp, fp, fn, tn)`` voxel counts.

    Raises
    ------
    ValueError
        If the shapes differ or ``spacing`` does not fit the dimensionality.

    Examples
    --------
    >>> confusion_matrix([1, 1, 0, 0], [0, 1, 1, 0])
    Confusion(tp=1, fp=1, fn=1, tn=1)
    """
    ref, pred, _ = check_pair(reference, prediction, spacing, ndims=None)
    return counts_of(ref, pred)


def accuracy(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None = None,
    empty: str = "nan",
) -> float:
    """Compute the accuracy (TP + TN) / (TP + FP + FN + TN) of ``prediction``.

    Parameters
    ----------
    reference, prediction : ndarray of any dimension, bool or integer
        Masks (or 1-D label vectors) of the same shape; non-zero is foreground.
    spacing : sequence of float, optional
        Checked for consistency only: overlap ratios do not depend on voxel size.
    empty : {"nan", "worst"}
        Undefined (0/0) value: NaN, or 0 when exactly one mask is empty.

    Returns
    -------
    float
        Value in [0, 1], or NaN when undefined.

    Examples
    --------
    >>> accuracy([1, 1, 0, 0], [0, 1, 1, 0])
    0.5
    """
    return _score("binary_accuracy", reference, prediction, spacing=spacing, empty=empty)


def precision(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None = None,
    empty: str = "nan",
) -> float:
    """Compute the precision TP / (TP + FP): the fraction of the prediction that is correct.

    Parameters
    ----------
    reference, prediction : ndarray of any dimension, bool or integer
        Masks (or 1-D label vectors) of the same shape; non-zero is foreground.
    spacing : sequence of float, optional
        Checked for consistency only: overlap ratios do not depend on voxel size.
    empty : {"nan", "worst"}
        Undefined (0/0) value: NaN, or 0 when exactly one mask is empty.

    Returns
    -------
    float
        Value in [0, 1], or NaN when undefined.

    Examples
    --------
    >>> precision([1, 1, 1, 0], [0, 1, 1, 1])
    0.6666666666666666
    """
    return _score("precision", reference, prediction, spacing=spacing, empty=empty)


def recall(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None = None,
    empty: str = "nan",
) -> float:
    """Compute the recall (sensitivity) TP / (TP + FN): the fraction of the reference found.

    This is also the intersection over reference, IoR = |R & P| / |R| (Metrics Reloaded's
    localization criterion, applied there to matched instances), so reports have no separate
    IoR column.

    Parameters
    ----------
    reference, prediction : ndarray of any dimension, bool or integer
        Masks (or 1-D label vectors) of the same shape; non-zero is foreground.
    spacing : sequence of float, optional
        Checked for consistency only: overlap ratios do not depend on voxel size.
    empty : {"nan", "worst"}
        Undefined (0/0) value: NaN, or 0 when exactly one mask is empty.

    Returns
    -------
    float
        Value in [0, 1], or NaN when undefined.

    Examples
    --------
    >>> recall([1, 1, 1, 1], [0, 1, 1, 0])
    0.5
    """
    return _score("recall", reference, prediction, spacing=spacing, empty=empty)


def specificity(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None = None,
    empty: str = "nan",
) -> float:
    """Compute the specificity TN / (TN + FP): the fraction of the background left unlabelled.

    Parameters
    ----------
    reference, prediction : ndarray of any dimension, bool or integer
        Masks (or 1-D label vectors) of the same shape; non-zero is foreground.
    spacing : sequence of float, optional
        Checked for consistency only: overlap ratios do not depend on voxel size.
    empty : {"nan", "worst"}
        Undefined (0/0) value: NaN, or 0 when exactly one mask is empty.

    Returns
    -------
    float
        Value in [0, 1], or NaN when undefined.

    Examples
    --------
    >>> specificity([1, 0, 0, 0], [1, 1, 0, 0])
    0.6666666666666666
    """
    return _score("specificity", reference, prediction, spacing=spacing, empty=empty)


def matthews_correlation(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None = None,
    empty: str = "nan",
) -> float:
    """Compute the Matthews correlation coefficient (MCC) of ``prediction``.

    ``(TP TN - FP FN) / sqrt((TP + FP)(TP + FN)(TN + FP)(TN + FN))``: the correlation of the
    two masks, 1 for a perfect match, 0 for chance, -1 for the exact complement.

    Parameters
    ----------
    reference, prediction : ndarray of any dimension, bool or integer
        Masks (or 1-D label vectors) of the same shape; non-zero is foreground.
    spacing : sequence of float, optional
        Checked for consistency only: overlap ratios do not depend on voxel size.
    empty : {"nan", "worst"}
        Undefined value (a zero margin: a mask that is empty or fills the whole image): NaN,
        or -1 when exactly one mask is empty. (scikit-learn returns 0 in these cases.)

    Returns
    -------
    float
        Value in [-1, 1], or NaN when undefined.

    Examples
    --------
    >>> matthews_correlation([1, 1, 0, 0], [0, 1, 1, 0])
    0.0
    >>> matthews_correlation([1, 1, 0, 0, 0], [1, 1, 1, 0, 0])
    0.6666666666666666
    """
    return _score("mcc", reference, prediction, spacing=spacing, empty=empty)


def fbeta_score(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    beta: float = 1.0,
    spacing: Sequence[float] | None = None,
    empty: str = "nan",
) -> float:
    """Compute the F-beta score (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP).

    Parameters
    ----------
    reference, prediction : ndarray of any dimension, bool or integer
        Masks (or 1-D label vectors) of the same shape; non-zero is foreground.
    beta : float
        Weight of recall against precision (> 1 weighs recall more, < 1 precision more).
    spacing : sequence of float, optional
        Checked for consistency only: overlap ratios do not depend on voxel size.
    empty : {"nan", "worst"}
        Undefined (0/0) value: NaN, or 0 when exactly one mask is empty.

    Returns
    -------
    float
        Value in [0, 1], or NaN when undefined.

    Raises
    ------
    ValueError
        If ``beta`` is not a positive number.

    Examples
    --------
    >>> fbeta_score([1, 1, 0, 0], [0, 1, 0, 0], beta=2.0)
    0.5555555555555556
    """
    beta = check_beta(beta)
    return _score("fbeta", reference, prediction, spacing=spacing, empty=empty, beta=beta)


def f1_score(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None = None,
    empty: str = "nan",
) -> float:
    """Compute the F1 score 2 TP / (2 TP + FP + FN), identical to :func:`dice`.

    Parameters
    ----------
    reference, prediction : ndarray of any dimension, bool or integer
        Masks (or 1-D label vectors) of the same shape; non-zero is foreground.
    spacing : sequence of float, optional
        Checked for consistency only: overlap ratios do not depend on voxel size.
    empty : {"nan", "worst"}
        Undefined (0/0) value: NaN, or 0 when exactly one mask is empty.

    Returns
    -------
    float
        Value in [0, 1], or NaN when undefined.

    Examples
    --------
    >>> f1_score([1, 1, 0, 0], [0, 1, 1, 0])
    0.5
    """
    return _score("f1", reference, prediction, spacing=spacing, empty=empty)


def jaccard(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None = None,
    empty: str = "nan",
) -> float:
    """Compute the Jaccard index (IoU) TP / (TP + FP + FN).

    Parameters
    ----------
    reference, prediction : ndarray of any dimension, bool or integer
        Masks (or 1-D label vectors) of the same shape; non-zero is foreground.
    spacing : sequence of float, optional
        Checked for consistency only: overlap ratios do not depend on voxel size.
    empty : {"nan", "worst"}
        Undefined (0/0) value: NaN, or 0 when exactly one mask is empty.

    Returns
    -------
    float
        Value in [0, 1], or NaN when undefined.

    Examples
    --------
    >>> jaccard([1, 1, 0, 0], [0, 1, 1, 0])
    0.3333333333333333
    """
    return _score("iou", reference, prediction, spacing=spacing, empty=empty)


def dice(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None = None,
    empty: str = "nan",
) -> float:
    """Compute the Dice coefficient 2 TP / (2 TP + FP + FN) of ``prediction``.

    Parameters
    ----------
    reference, prediction : ndarray of any dimension, bool or integer
        Masks (or 1-D label vectors) of the same shape; non-zero is foreground.
    spacing : sequence of float, optional
        Checked for consistency only: overlap ratios do not depend on voxel size.
    empty : {"nan", "worst"}
        Undefined (0/0) value: NaN, or 0 when exactly one mask is empty.

    Returns
    -------
    float
        Value in [0, 1], or NaN when undefined (both masks empty).

    Raises
    ------
    ValueError
        If the shapes differ, ``spacing`` does not fit, or ``empty`` is unknown.

    Examples
    --------
    >>> dice([1, 1, 0, 0], [0, 1, 1, 0])
    0.5
    >>> dice([0, 0], [0, 1], empty="worst")
    0.0
    """
    return _score("dice", reference, prediction, spacing=spacing, empty=empty)


def volume_similarity(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None = None,
    empty: str = "nan",
) -> float:
    """Compute the volume similarity 1 - |FN - FP| / (2 TP + FP + FN).

    This is Cardenes et al.'s definition, not the signed 2 (Vp - Vr) / (Vp + Vr) of SimpleITK.

    Parameters
    ----------
    reference, prediction : ndarray of any dimension, bool or integer
        Masks (or 1-D label vectors) of the same shape; non-zero is foreground.
    spacing : sequence of float, optional
        Checked for consistency only: overlap ratios do not depend on voxel size.
    empty : {"nan", "worst"}
        Undefined (0/0) value: NaN, or 0 when exactly one mask is empty.

    Returns
    -------
    float
        Value in [0, 1], or NaN when undefined.

    Examples
    --------
    >>> volume_similarity([1, 1, 0, 0], [0, 1, 1, 1])
    0.8
    """
    return _score("volume_similarity", reference, prediction, spacing=spacing, empty=empty)


#: Largest label id counted by direct indexing; above it the ids present are sorted first.
DENSE_IDS = 1 << 16
#: Voxels counted per ``np.bincount`` call: bounds the temporary index array (32 MiB).
_CHUNK = 1 << 22


def _bincount(values: np.ndarray, length: int) -> np.ndarray:
    flat = values.reshape(-1)
    counts = np.zeros(length, np.int64)
    for start in range(0, flat.size, _CHUNK):
        chunk = flat[start : start + _CHUNK].astype(np.intp, copy=False)
        counts += np.bincount(chunk, minlength=length)
    return counts


def class_totals(ref: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voxel count of every class id (background included) in ``ref`` and in ``pred``.

    The two arrays are aligned by id; ids up to :data:`DENSE_IDS` are counted directly,
    larger (sparse) ids after sorting the ids present.
    """
    top = max(int(ref.max(initial=0)), int(pred.max(initial=0)))
    if top <= DENSE_IDS:
        return _bincount(ref, top + 1), _bincount(pred, top + 1)
    (ids_ref, n_ref), (ids_pred, n_pred) = (np.unique(a, return_counts=True) for a in (ref, pred))
    ids = np.union1d(ids_ref, ids_pred)
    totals = np.zeros((2, len(ids)), np.int64)
    totals[0, np.searchsorted(ids, ids_ref)] = n_ref
    totals[1, np.searchsorted(ids, ids_pred)] = n_pred
    return totals[0], totals[1]


def agreement_scores(agree: int, ref_totals, pred_totals) -> dict[str, float]:
    """Pixel accuracy and Cohen's kappa from the agreeing voxel count and the class totals.

    ``ref_totals`` and ``pred_totals`` hold every class's voxel count (background included),
    aligned by class; kappa is NaN when chance agreement is total (one class in both maps).
    """
    ref_totals = np.asarray(ref_totals, np.int64)
    n = int(ref_totals.sum())
    # chance agreement sum_k r_k p_k / n, exact in integers before the one division
    expected = int(np.dot(ref_totals, np.asarray(pred_totals, np.int64))) / n
    disagree = n - expected
    return {
        "pixel_accuracy": agree / n,
        # scikit-learn's form: 1 - observed / expected disagreement
        "cohen_kappa": float(1 - (n - agree) / disagree) if disagree > 0 else float("nan"),
    }


def _label_map_agreement(reference: ArrayLike, prediction: ArrayLike) -> dict[str, float]:
    """Check two label maps and score them as multi-class maps."""
    ref = check_labels(reference, "reference", ndims=(max(np.ndim(reference), 1),))
    pred = check_labels(prediction, "prediction", ndims=(max(np.ndim(prediction), 1),))
    check_same_shape(ref, pred)
    if ref.size == 0:
        raise ValueError("`reference` is empty: there is no voxel to score")
    agree = int(np.count_nonzero(ref == pred))
    return agreement_scores(agree, *class_totals(ref, pred))


def pixel_accuracy(reference: ArrayLike, prediction: ArrayLike) -> float:
    """Compute the pixel accuracy of a label map: the fraction of voxels labelled correctly.

    Every voxel counts, background included: a voxel agrees when both maps give it the same
    label id. (The one-vs-rest :func:`accuracy` of each label, averaged over labels, is higher
    and is not this number.) Equal to ``sklearn.metrics.accuracy_score`` on the flattened maps.

    Parameters
    ----------
    reference, prediction : ndarray of any dimension, integer or bool
        Label maps of the same shape (0 = background, each other id one class).

    Returns
    -------
    float
        Correct voxels / all voxels, in [0, 1].

    Raises
    ------
    ValueError
        If the shapes differ, a map is empty or holds negative ids.
    TypeError
        If a map does not hold integer label ids.

    Examples
    --------
    >>> pixel_accuracy([0, 0, 1, 1, 2, 2, 2, 0], [0, 1, 1, 1, 2, 2, 0, 0])
    0.75
    """
    return _label_map_agreement(reference, prediction)["pixel_accuracy"]


def cohen_kappa(reference: ArrayLike, prediction: ArrayLike) -> float:
    """Compute Cohen's kappa of two label maps: their agreement corrected for chance.

    ``(p_o - p_e) / (1 - p_e)`` with ``p_o`` the pixel accuracy and ``p_e = sum_k r_k p_k / n^2``
    the agreement expected from the class frequencies ``r_k`` (reference) and ``p_k``
    (prediction); background is a class like every label id. Equal to
    ``sklearn.metrics.cohen_kappa_score`` on the flattened maps.

    Parameters
    ----------
    reference, prediction : ndarray of any dimension, integer or bool
        Label maps of the same shape (0 = background, each other id one class).

    Returns
    -------
    float
        Value in [-1, 1]; NaN when both maps hold one and the same class only (chance
        agreement is then total).

    Raises
    ------
    ValueError
        If the shapes differ, a map is empty or holds negative ids.
    TypeError
        If a map does not hold integer label ids.

    Examples
    --------
    >>> round(cohen_kappa([0, 0, 1, 1, 2, 2, 2, 0], [0, 1, 1, 1, 2, 2, 0, 0]), 4)
    0.6279
    """
    return _label_map_agreement(reference, prediction)["cohen_kappa"]
