"""Overlap metrics: the confusion counts once, every ratio derived from them.

With TP, FP, FN, TN the voxel counts of the confusion matrix (reference = truth):

- accuracy = (TP + TN) / (TP + FP + FN + TN)
- precision = TP / (TP + FP)
- recall (sensitivity) = TP / (TP + FN)
- specificity = TN / (TN + FP)
- F-beta = (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP); F1 = Dice = 2 TP / (2 TP + FP + FN)
- IoU (Jaccard) = TP / (TP + FP + FN)
- volume similarity = 1 - |FN - FP| / (2 TP + FP + FN) (Cardenes et al.; *not* the signed
  2 (Vp - Vr) / (Vp + Vr) that SimpleITK and seg-metrics report under that name)

A ratio with a zero denominator is undefined: NaN, or under ``empty="worst"`` 0 when exactly one
mask is empty. Overlap metrics accept masks of any dimension, 1-D label vectors included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .._validate import check_beta, check_choice
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


#: Metric name -> ratio of the confusion counts (``beta`` is used by F-beta only).
_RATIOS: dict[str, Callable[[Confusion, float], float]] = {
    "accuracy": lambda c, _: _ratio(c.tp + c.tn, c.tp + c.fp + c.fn + c.tn),
    "precision": lambda c, _: _ratio(c.tp, c.tp + c.fp),
    "recall": lambda c, _: _ratio(c.tp, c.tp + c.fn),
    "specificity": lambda c, _: _ratio(c.tn, c.tn + c.fp),
    "fbeta": _fbeta,
    "f1": lambda c, _: _fbeta(c, 1.0),
    "iou": lambda c, _: _ratio(c.tp, c.tp + c.fp + c.fn),
    "dice": lambda c, _: _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
    "volume_similarity": lambda c, _: 1.0 - _ratio(abs(c.fn - c.fp), 2 * c.tp + c.fp + c.fn),
}


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
    return apply_empty(_RATIOS[name](c, beta), case, empty, 0.0)


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
    return _score("accuracy", reference, prediction, spacing=spacing, empty=empty)


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
